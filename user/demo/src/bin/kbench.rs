//! In-kernel benchmark: the real MCLONE, RGN_DUP, copy-on-write faults, fork and DESTROY, timed with RDTSC.
//!
//! `cargo xtask bench` boots this program as init (release kernel and
//! program, kernel log at `error`) under QEMU with `-icount shift=0`. There
//! the guest TSC advances by one per executed instruction (QEMU's virtual
//! clock: one virtual nanosecond per instruction), so every figure is a
//! deterministic instruction count of the whole path, user and kernel: the
//! system-call entry and exit, the kernel's work, the page faults. They are
//! not host nanoseconds and cannot be compared with Linux or with the host
//! benchmark; they compare Ferrite's own paths with each other and across
//! commits.
//!
//! `kbench [reps=R] N...` measures, for each size N (pages), R times each
//! (default 5 repetitions, sizes 1024 and 16384):
//!
//! - `mclone`: MCLONE of the N resident pages of the measured region into a
//!   process just made by CREATE_PROCESS (its owner descriptor has MAP);
//! - `mclone_free`: RGN_FREE of that range in the other process (through its
//!   ACTOR_CAP capability);
//! - `dup_share`: RGN_DUP with `K_INHERITSHARE` of this process into a fresh
//!   one;
//! - `dup_copy`: RGN_DUP with `K_INHERITCOPY` of this process into a fresh one;
//! - `cow_fault`: after `dup_copy`, the first write to every page of the
//!   measured region in this process (the source), the whole loop; its
//!   `per_page_ns` is the cost of one write fault;
//! - `teardown`: DESTROY of that target, which by then alone holds the N
//!   pages of the snapshot (N resident private pages, their page tables);
//! - `fork`: the runtime's `fork()` (RGN_DUP with flags 0, so the region,
//!   which carries `K_INHERITCOPY`, is copied) in the parent, from the call
//!   until it returns; the child exits at once;
//! - `first_touch`: the first write to every page of a fresh N-page region
//!   (RGN_ALLOCATE, untimed), the whole loop: N demand-zero faults.
//!
//! Before the sizes, once: `null_syscall` (YIELD_THREAD with no other thread
//! ready, the cheapest call, which returns at once; the median over batches
//! of 1000 calls, per call) and `fork` at `pages=0` (a tiny process: only the
//! program's own small regions).
//!
//! Before the sizes, the mapper cases (ABI §4.5), with a mapper process
//! forked off that serves every page as a pattern (`ferrite_rt::mapper::run`):
//! `pull_in_fault` (pages=256), the first read of every page of a fresh
//! mapper-backed region, the whole loop (each fault parks the thread, the
//! kernel sends MP_PULL_IN, the mapper fills its buffer and REPLYs, the
//! kernel copies the page in during the REPLY, the thread retries); and
//! `dup_segment` for each size N that fits, RGN_DUP with `K_INHERITCOPY`
//! of this process while it maps N resident mapper-backed pages (no pull-in:
//! a snapshot like `dup_copy`). The argument `mapper=off` skips them.
//!
//! Before the sizes, two IPC cases (ABI §3.2), independent of N:
//! `ipc_rtt_0b` and `ipc_rtt_64b`, one round trip between two processes on
//! one CPU: the client's SEND (0 or 64 bytes) → the server's RECEIVE
//! returns → its REPLY (as many bytes) → the client's SEND returns; the
//! server loops on RECEIVE. Medians over repetitions of [`IPC_ROUND_TRIPS`]
//! round trips each (after as many untimed ones), per round trip.
//!
//! The source is this program's own space: the measured region (N pages,
//! all written before timing starts) plus the program's few small regions
//! (text, data, stack), which the program reports once. After every case the
//! target is gone and MEMSTAT's user, page-table and committed frame counts
//! must be back where they were before the case; otherwise the program stops
//! with a `LEAK` line and status 1.
//!
//! Output: one line per case and size,
//! `KBENCH case=<name> pages=<n> guest_ns=<median> per_page_ns=<median/n>`,
//! lines starting with `kbench:` for notes (and for a size skipped because
//! the guest has too little memory: a size needs about 3 frames per page, the
//! region and a private copy's worst-case promise), then POWEROFF with 0 (1 on
//! any failure).
#![no_std]
#![no_main]

use abi::init::INIT_SELF_DESCRIPTOR;
use abi::layout::{PAGE_SIZE, USER_BASE, USER_LIMIT};
use abi::memstat::MemStat;
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_INHERITCOPY, K_INHERITSHARE, K_WRITABLE};
use abi::types::KnRgnStat;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::clock::cycles;
use ferrite_rt::{fork, println, Fork, Startup};

ferrite_rt::entry!(main);

#[path = "../kbench_ipc.rs"]
mod kbench_ipc;
use kbench_ipc::bench_ipc;

#[path = "../kbench_mapper.rs"]
mod kbench_mapper;
use kbench_mapper::bench_mapper;

/// Where the measured region lives: 2 MiB-aligned, as in the host benchmark.
const REGION: u64 = 0x4000_0000;
/// The largest region the program accepts (1 GiB, up to `2 * REGION`).
const MAX_PAGES: u64 = REGION / PAGE_SIZE;
/// Where `first_touch` maps its fresh region (after the largest measured one).
const TOUCH_REGION: u64 = 2 * REGION;
/// Calls per sample of `null_syscall`.
const NULL_CALLS: u64 = 1000;
/// Descriptor number of the target process (below the runtime's own range).
const TARGET: u64 = 16;
const DEFAULT_REPS: usize = 5;
const MAX_REPS: usize = 15;
const DEFAULT_SIZES: [u64; 2] = [1024, 16384];
const MAX_SIZES: usize = 8;

/// Why a run stopped (the message was printed where it happened).
struct Stop;

type Run<T> = Result<T, Stop>;

/// Unwraps a call's result, printing what failed.
fn ok<T, E: Into<ferrite_rt::Error>>(what: &str, npages: u64, r: Result<T, E>) -> Run<T> {
    r.map_err(|e| {
        println!("kbench: FAILED {what} (pages={npages}): {}", e.into());
        Stop
    })
}

fn memstat() -> Run<MemStat> {
    ok("MEMSTAT", 0, api::memstat())
}

/// Checks that the user, page-table and committed frames are back at `base`.
fn check_baseline(base: &MemStat, case: &str, npages: u64, rep: usize) -> Run<()> {
    let now = memstat()?;
    if (now.user_frames, now.table_frames, now.committed_frames)
        == (base.user_frames, base.table_frames, base.committed_frames)
    {
        return Ok(());
    }
    println!(
        "kbench: LEAK after case={case} pages={npages} rep={rep}: MEMSTAT not back at baseline:"
    );
    println!(
        "kbench: user frames {} -> {}, table frames {} -> {}, committed {} -> {}",
        base.user_frames,
        now.user_frames,
        base.table_frames,
        now.table_frames,
        base.committed_frames,
        now.committed_frames
    );
    Err(Stop)
}

/// Writes the first word of every page of the measured region.
fn write_pages(npages: u64, value: u64) {
    write_pages_at(REGION, npages, value);
}

/// Writes the first word of every page of `npages` pages from `base`.
fn write_pages_at(base: u64, npages: u64, value: u64) {
    for p in 0..npages {
        let word = (base + p * PAGE_SIZE) as *mut u64;
        // SAFETY: the page lies in the measured region or the `first_touch`
        // one, mapped writable while the size runs; the program touches them
        // through raw pointers only.
        unsafe { word.write_volatile(value + p) }
    }
}

/// A fresh target process: its owner descriptor `TARGET` and its capability.
fn create_target(npages: u64) -> Run<abi::types::KnCap> {
    ok("CREATE_PROCESS", npages, api::create_process(TARGET))?;
    ok("ACTOR_CAP", npages, api::actor_cap(TARGET))
}

/// DESTROY of the target, timed, then CLOSE of its descriptor.
fn destroy_target(npages: u64) -> Run<u64> {
    let t0 = cycles();
    let r = api::destroy(TARGET);
    let t1 = cycles();
    ok("DESTROY", npages, r)?;
    ok("CLOSE", npages, api::close(TARGET))?;
    Ok(t1 - t0)
}

/// The samples of one size, per case.
struct Samples {
    names: [&'static str; CASES],
    ns: [[u64; MAX_REPS]; CASES],
}

const CASES: usize = 8;
const MCLONE: usize = 0;
const MCLONE_FREE: usize = 1;
const DUP_SHARE: usize = 2;
const DUP_COPY: usize = 3;
const COW_FAULT: usize = 4;
const TEARDOWN: usize = 5;
const FORK: usize = 6;
const FIRST_TOUCH: usize = 7;

/// `first_touch`: the first write to every page of a fresh region, timed.
fn first_touch(npages: u64, value: u64) -> Run<u64> {
    let mut desc = rgn(TOUCH_REGION, npages * PAGE_SIZE, K_WRITABLE);
    ok(
        "RGN_ALLOCATE (first_touch)",
        npages,
        api::rgn_allocate(Actor::Me, &mut desc),
    )?;
    let t0 = cycles();
    write_pages_at(TOUCH_REGION, npages, value);
    let t1 = cycles();
    ok(
        "RGN_FREE (first_touch)",
        npages,
        api::rgn_free(Actor::Me, &rgn(TOUCH_REGION, desc.size, 0)),
    )?;
    Ok(t1 - t0)
}

/// One repetition of every case but `fork`.
fn one_rep(npages: u64, rep: usize, base: &MemStat, s: &mut Samples) -> Run<()> {
    let len = npages * PAGE_SIZE;

    s.ns[FIRST_TOUCH][rep] = first_touch(npages, (rep as u64 + 7) << 32)?;
    check_baseline(base, "first_touch", npages, rep)?;

    // mclone, then RGN_FREE of the clone in the other process.
    let cap = create_target(npages)?;
    let t0 = cycles();
    let r = api::mclone_range(
        INIT_SELF_DESCRIPTOR,
        TARGET,
        REGION,
        REGION,
        len,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    );
    let t1 = cycles();
    ok("MCLONE", npages, r)?;
    let r = api::rgn_free(Actor::Cap(&cap), &rgn(REGION, len, 0));
    let t2 = cycles();
    ok("RGN_FREE", npages, r)?;
    s.ns[MCLONE][rep] = t1 - t0;
    s.ns[MCLONE_FREE][rep] = t2 - t1;
    destroy_target(npages)?;
    check_baseline(base, "mclone", npages, rep)?;

    // dup_share.
    let cap = create_target(npages)?;
    let t0 = cycles();
    let r = api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITSHARE);
    let t1 = cycles();
    ok("RGN_DUP K_INHERITSHARE", npages, r)?;
    s.ns[DUP_SHARE][rep] = t1 - t0;
    destroy_target(npages)?;
    check_baseline(base, "dup_share", npages, rep)?;

    // dup_copy, the source's copy-on-write faults, DESTROY of the snapshot.
    let cap = create_target(npages)?;
    let t0 = cycles();
    let r = api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY);
    let t1 = cycles();
    ok("RGN_DUP K_INHERITCOPY", npages, r)?;
    s.ns[DUP_COPY][rep] = t1 - t0;
    let t0 = cycles();
    write_pages(npages, (rep as u64 + 2) << 32);
    let t1 = cycles();
    s.ns[COW_FAULT][rep] = t1 - t0;
    s.ns[TEARDOWN][rep] = destroy_target(npages)?;
    check_baseline(base, "dup_copy/cow_fault/teardown", npages, rep)?;
    Ok(())
}

/// One fork: parent-side time until `fork` returns; the child exits at once.
fn one_fork(npages: u64, rep: usize, base: &MemStat, s: &mut Samples) -> Run<()> {
    s.ns[FORK][rep] = timed_fork(npages)?;
    check_baseline(base, "fork", npages, rep)
}

/// The parent-side time of one `fork`, after the child has exited.
fn timed_fork(npages: u64) -> Run<u64> {
    let t0 = cycles();
    let r = fork();
    let t1 = cycles();
    match ok("fork", npages, r)? {
        Fork::Child => api::exit_thread(),
        Fork::Parent(child) => {
            let how = ok("AWAIT_THREAD", npages, child.wait())?;
            if how != 0 {
                println!("kbench: FAILED fork (pages={npages}): the child was killed ({how})");
                return Err(Stop);
            }
        }
    }
    Ok(t1 - t0)
}

/// `null_syscall` and `fork` of the tiny process (`pages=0`), once.
fn bench_small(reps: usize) -> Run<()> {
    let mut ns = [0u64; MAX_REPS];
    for n in ns.iter_mut().take(reps) {
        let t0 = cycles();
        for _ in 0..NULL_CALLS {
            api::yield_thread();
        }
        *n = (cycles() - t0) / NULL_CALLS;
    }
    let m = median(&mut ns[..reps]);
    println!("KBENCH case=null_syscall pages=0 guest_ns={m} per_page_ns=0.00");
    let base = memstat()?;
    for n in ns.iter_mut().take(reps) {
        *n = timed_fork(0)?;
        check_baseline(&base, "fork", 0, 0)?;
    }
    let m = median(&mut ns[..reps]);
    println!("KBENCH case=fork pages=0 guest_ns={m} per_page_ns=0.00");
    Ok(())
}

/// The median of `samples` (sorts them).
fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Frames one size needs: the region, then for a private copy one promise per
/// page of the copy and one per frame the source owned (doc/memory.md, "What
/// each operation commits"), plus page tables and slack. (`first_touch`'s
/// N pages are back before the copy is made.)
fn frames_needed(npages: u64) -> u64 {
    3 * npages + 3 * npages.div_ceil(512) + 1024
}

/// Every case for one size (skipped, with the reason, if the guest is too small).
fn bench_size(npages: u64, reps: usize) -> Run<()> {
    let start = memstat()?;
    let available = start.free_frames - start.committed_frames;
    if available < frames_needed(npages) {
        println!(
            "kbench: skipped pages={npages}: needs about {} free frames, the guest has {available} (boot with more memory)",
            frames_needed(npages)
        );
        return Ok(());
    }
    let mut desc = rgn(REGION, npages * PAGE_SIZE, K_WRITABLE | K_INHERITCOPY);
    ok(
        "RGN_ALLOCATE",
        npages,
        api::rgn_allocate(Actor::Me, &mut desc),
    )?;
    write_pages(npages, 1 << 32);
    let result = (|| {
        let base = memstat()?;
        let mut s = Samples {
            names: [
                "mclone",
                "mclone_free",
                "dup_share",
                "dup_copy",
                "cow_fault",
                "teardown",
                "fork",
                "first_touch",
            ],
            ns: [[0; MAX_REPS]; CASES],
        };
        for rep in 0..reps {
            one_rep(npages, rep, &base, &mut s)?;
        }
        for rep in 0..reps {
            one_fork(npages, rep, &base, &mut s)?;
        }
        for (name, ns) in s.names.iter().zip(s.ns.iter_mut()) {
            let m = median(&mut ns[..reps]);
            // Two decimals without floating point.
            let hundredths = m * 100 / npages;
            println!(
                "KBENCH case={name} pages={npages} guest_ns={m} per_page_ns={}.{:02}",
                hundredths / 100,
                hundredths % 100
            );
        }
        Ok(())
    })();
    ok(
        "RGN_FREE of the measured region",
        npages,
        api::rgn_free(Actor::Me, &rgn(REGION, desc.size, 0)),
    )?;
    result?;
    check_baseline(&start, "the whole size", npages, 0)
}

/// The program's own regions (besides the measured one): count and resident pages.
fn own_regions() -> (u64, u64) {
    let mut stats = [KnRgnStat::default(); 16];
    let all = rgn(USER_BASE, USER_LIMIT - USER_BASE, 0);
    match api::rgn_stat(Actor::Me, &all, &mut stats) {
        Ok(count) => {
            let shown = (count as usize).min(stats.len());
            let resident = stats[..shown].iter().map(|r| r.resident).sum();
            (count, resident)
        }
        Err(_) => (0, 0),
    }
}

/// Iterations of the calibration loop (two instructions each).
const CALIBRATION_ITERATIONS: u64 = 1_000_000;

/// Executes exactly `2 * n` instructions (`dec` and `jnz`, `n` times; `n > 0`).
fn counted_loop(n: u64) {
    // SAFETY: only a register is changed; no memory, no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

fn parse_u64(arg: &[u8]) -> Option<u64> {
    core::str::from_utf8(arg).ok()?.parse().ok()
}

fn main(start: &Startup) -> i32 {
    let mut reps = DEFAULT_REPS;
    let mut sizes = [0u64; MAX_SIZES];
    let mut nsizes = 0;
    let mut mapper = true;
    for arg in start.args().skip(1) {
        if arg == b"mapper=off" {
            mapper = false;
        } else if let Some(r) = arg.strip_prefix(b"reps=") {
            match parse_u64(r) {
                Some(r) if (1..=MAX_REPS as u64).contains(&r) => reps = r as usize,
                _ => {
                    println!("kbench: reps must be 1..={MAX_REPS}");
                    return 2;
                }
            }
        } else {
            match parse_u64(arg) {
                Some(n) if (1..=MAX_PAGES).contains(&n) && nsizes < MAX_SIZES => {
                    sizes[nsizes] = n;
                    nsizes += 1;
                }
                _ => {
                    println!(
                        "kbench: usage: kbench [reps=1..{MAX_REPS}] [mapper=off] PAGES... (at most {MAX_SIZES} sizes, each 1..={MAX_PAGES})"
                    );
                    return 2;
                }
            }
        }
    }
    if nsizes == 0 {
        sizes[..DEFAULT_SIZES.len()].copy_from_slice(&DEFAULT_SIZES);
        nsizes = DEFAULT_SIZES.len();
    }
    let (regions, resident) = own_regions();
    let m = api::memstat().unwrap_or_default();
    println!(
        "kbench: {} frames of RAM; {reps} repetitions, medians",
        m.total_frames
    );
    println!("kbench: the source space also holds the program's {regions} own regions ({resident} resident pages)");
    let overhead = {
        let mut ns = [0u64; MAX_REPS];
        for n in ns.iter_mut().take(reps) {
            let t0 = cycles();
            *n = cycles() - t0;
        }
        median(&mut ns[..reps])
    };
    println!("kbench: timer: RDTSC back to back reads {overhead} apart (included in every figure)");
    let t0 = cycles();
    counted_loop(CALIBRATION_ITERATIONS);
    let loop_ticks = cycles() - t0;
    println!(
        "kbench: calibration: a loop of {} instructions read {loop_ticks} ticks",
        2 * CALIBRATION_ITERATIONS
    );
    if bench_small(reps).is_err()
        || bench_ipc(reps).is_err()
        || (mapper && bench_mapper(reps, &sizes[..nsizes]).is_err())
    {
        return 1;
    }
    for &npages in &sizes[..nsizes] {
        if bench_size(npages, reps).is_err() {
            return 1;
        }
    }
    0
}
