//! The demo `cargo xtask run` boots: start-up state, fork with shared and copy-on-write memory, spawn via MCLONE, a key-value server over IPC, a file server mapper.
#![no_std]
#![no_main]

use abi::init::*;
use abi::layout::PAGE_SIZE;
use abi::memstat::MemStat;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{fork, println, Child, Fork, Startup};

ferrite_rt::entry!(main);

#[path = "../kv_demo.rs"]
mod kv_demo;

#[path = "../file_demo.rs"]
mod file_demo;

const WORKERS: u64 = 3;
/// Pages of the region every worker gets a private (copy-on-write) copy of.
const PRIVATE_PAGES: u64 = 64;
/// argv[1] of the spawned instance.
const SPAWNED: &[u8] = b"--spawned";

fn main(start: &Startup) -> i32 {
    if start.arg(1) == Some(SPAWNED) {
        return spawned(start);
    }
    println!("=== Ferrite demo ===");
    show_start(start);
    let base = memstat();
    show_memstat("at start", &base);
    match workers() {
        Ok(()) => {}
        Err(e) => println!("workers failed: {e}"),
    }
    match spawn_copy() {
        Ok(()) => {}
        Err(e) => println!("spawn failed: {e}"),
    }
    if let Err(e) = kv_demo::key_value_demo() {
        println!("key-value demo failed: {e}");
    }
    if let Err(e) = file_demo::file_server_demo() {
        println!("file server demo failed: {e}");
    }
    let end = memstat();
    show_memstat("at the end", &end);
    let back = end.user_frames == base.user_frames
        && end.table_frames == base.table_frames
        && end.committed_frames == base.committed_frames;
    println!(
        "user/table/committed frames back to where they started: {}",
        if back { "yes" } else { "no" }
    );
    println!("=== demo done, powering off ===");
    i32::from(!back)
}

fn memstat() -> MemStat {
    api::memstat().unwrap_or_default()
}

fn show_memstat(when: &str, m: &MemStat) {
    println!(
        "MEMSTAT {when}: {} of {} frames free; user {}, page tables {}, committed {}",
        m.free_frames, m.total_frames, m.user_frames, m.table_frames, m.committed_frames
    );
}

fn show_start(start: &Startup) {
    println!("argc = {}", start.argc());
    for (i, a) in start.args().enumerate() {
        println!("  argv[{i}] = {}", core::str::from_utf8(a).unwrap_or("?"));
    }
    for (ty, v) in start.auxv() {
        let name = match ty {
            AT_PHDR => "AT_PHDR",
            AT_PHENT => "AT_PHENT",
            AT_PHNUM => "AT_PHNUM",
            AT_PAGESZ => "AT_PAGESZ",
            AT_ENTRY => "AT_ENTRY",
            JINUE_AT_STACKBASE => "JINUE_AT_STACKBASE",
            JINUE_AT_HOWSYSCALL => "JINUE_AT_HOWSYSCALL",
            _ => "?",
        };
        println!("  auxv {name:<20} = {v:#x}");
    }
}

/// A region of the own process that is freed on drop.
struct Region(u64, u64);

impl Region {
    fn new(npages: u64, options: u64) -> Result<Region, ferrite_rt::Error> {
        let mut d = rgn(0, npages * PAGE_SIZE, options | K_ANYWHERE);
        api::rgn_allocate(Actor::Me, &mut d)?;
        Ok(Region(d.startAddr, d.size))
    }

    fn word(&self, i: u64) -> *mut u64 {
        (self.0 + i * 8) as *mut u64
    }

    fn get(&self, i: u64) -> u64 {
        // SAFETY: `i` indexes inside the region, which is mapped readable
        // while `self` lives; other processes may write it (volatile).
        unsafe { self.word(i).read_volatile() }
    }

    fn set(&self, i: u64, v: u64) {
        // SAFETY: as in `get`, and the region is writable.
        unsafe { self.word(i).write_volatile(v) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = api::rgn_free(Actor::Me, &rgn(self.0, self.1, 0));
    }
}

const WORDS_PER_PAGE: u64 = PAGE_SIZE / 8;

/// Forks workers that share one region and get private copies of another.
fn workers() -> Result<(), ferrite_rt::Error> {
    println!("--- fork: {WORKERS} workers, one K_INHERITSHARE region, one K_INHERITCOPY region of {PRIVATE_PAGES} pages ---");
    let shared = Region::new(1, K_WRITABLE | K_INHERITSHARE)?;
    let private = Region::new(PRIVATE_PAGES, K_WRITABLE | K_INHERITCOPY)?;
    for p in 0..PRIVATE_PAGES {
        private.set(p * WORDS_PER_PAGE, p);
    }
    let before = memstat();
    show_memstat("before fork", &before);
    let mut children = [None::<Child>; WORKERS as usize];
    for w in 0..WORKERS {
        match fork()? {
            Fork::Child => worker(w, &shared, &private),
            Fork::Parent(child) => children[w as usize] = Some(child),
        }
    }
    // Slot layout in the shared page, per worker w: [8w] = 1 when done,
    // [8w+1] pages written, [8w+2] user_frames delta, [8w+3] sum of its copy.
    while (0..WORKERS).any(|w| shared.get(8 * w) == 0) {
        api::yield_thread();
    }
    let during = memstat();
    show_memstat("with every worker alive", &during);
    for w in 0..WORKERS {
        println!(
            "worker {w}: wrote {} of {PRIVATE_PAGES} private pages, its user_frames grew by {} -> copy-on-write copied only those; its sum {}",
            shared.get(8 * w + 1),
            shared.get(8 * w + 2),
            shared.get(8 * w + 3)
        );
    }
    let sum: u64 = (0..PRIVATE_PAGES)
        .map(|p| private.get(p * WORDS_PER_PAGE))
        .sum();
    println!(
        "parent: its own copy is untouched, sum {sum} (0 + 1 + ... + {})",
        PRIVATE_PAGES - 1
    );
    shared.set(63, 1); // let the workers go
    for child in children.into_iter().flatten() {
        let how = child.wait()?;
        println!("worker thread ended: AWAIT_THREAD = {how}");
    }
    drop(private);
    drop(shared);
    show_memstat("after the workers", &memstat());
    Ok(())
}

/// One worker: write `w + 1` pages of the private copy, measure, report, wait.
fn worker(w: u64, shared: &Region, private: &Region) -> ! {
    let pages = w + 1;
    let m0 = memstat();
    for p in 0..pages {
        private.set(p * WORDS_PER_PAGE, 1000 * (w + 1) + p);
    }
    let m1 = memstat();
    let sum: u64 = (0..PRIVATE_PAGES)
        .map(|p| private.get(p * WORDS_PER_PAGE))
        .sum();
    shared.set(8 * w + 1, pages);
    shared.set(8 * w + 2, m1.user_frames - m0.user_frames);
    shared.set(8 * w + 3, sum);
    shared.set(8 * w, 1);
    while shared.get(63) == 0 {
        api::yield_thread();
    }
    api::exit_thread()
}

/// Spawns another instance of this program through the MCLONE loader.
fn spawn_copy() -> Result<(), ferrite_rt::Error> {
    println!("--- spawn: a new process from this program's ELF image, loaded with MCLONE ---");
    let (image, len) = ferrite_rt::spawn::self_image()?;
    let child = ferrite_rt::spawn(
        &image.bytes()[..len],
        &[b"demo", SPAWNED, b"collatz", b"27"],
    )?;
    drop(image);
    let how = child.wait()?;
    println!("spawned instance ended: AWAIT_THREAD = {how}");
    Ok(())
}

/// The spawned instance: shows what it was given and does a little work.
fn spawned(start: &Startup) -> i32 {
    println!("spawned instance here; my argv:");
    for (i, a) in start.args().enumerate() {
        println!("  argv[{i}] = {}", core::str::from_utf8(a).unwrap_or("?"));
    }
    let n: u64 = start
        .arg(3)
        .and_then(|a| core::str::from_utf8(a).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(27);
    let (mut x, mut steps, mut peak) = (n, 0u64, n);
    while x != 1 {
        x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
        peak = peak.max(x);
        steps += 1;
    }
    println!("collatz({n}): {steps} steps, peak {peak}");
    let mut regions = [abi::types::KnRgnStat::default(); 8];
    let all = rgn(
        abi::layout::USER_BASE,
        abi::layout::USER_LIMIT - abi::layout::USER_BASE,
        0,
    );
    if let Ok(count) = api::rgn_stat(Actor::Me, &all, &mut regions) {
        println!("my regions ({count}), as MCLONE made them:");
        for r in regions.iter().take(count as usize) {
            println!(
                "  {:#014x} {:>7} bytes options {:#x}",
                r.startAddr, r.size, r.options
            );
        }
    }
    0
}
