//! `model`: random sequences of RGN_ALLOCATE, RGN_FREE, writes, MCLONE and RGN_DUP over three processes, checked against a model of shared and copied memory.
//!
//! The model is `ferrite_tests::memory_model` (ABI §3.1 and §4.4), the one
//! `fuzz::memory_model` uses too.
#![no_std]
#![no_main]

use abi::layout::PAGE_SIZE;
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::*;
use abi::types::KnCap;
use core::sync::atomic::{AtomicBool, Ordering};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::thread::SELF;
use ferrite_rt::{println, Startup};
use ferrite_tests::memory_model::MemoryModel;
use ferrite_tests::*;

ferrite_rt::entry!(main);

const PG: u64 = PAGE_SIZE;
const RW: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE;
/// The window every process's modelled pages live in.
const WINDOW: u64 = 0x30_0000_0000;
const PAGES: usize = 8;
/// A page of the own process used to look into the others.
const SCRATCH: u64 = 0x38_0000_0000;
/// Descriptors of processes 1 and 2 (process 0 is the caller, descriptor 0).
const DESC: [u64; 3] = [SELF, 10, 11];
const MAX_OBJECTS: usize = 4096;
const STEPS: u32 = 400;

struct Model {
    /// Which object each page of each process's window refers to, and the
    /// objects' values.
    mem: MemoryModel<[u64; MAX_OBJECTS], 3, PAGES>,
    caps: [KnCap; 3],
    rng: u64,
}

impl Model {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn actor(&self, p: usize) -> Actor<'_> {
        if p == 0 {
            Actor::Me
        } else {
            Actor::Cap(&self.caps[p])
        }
    }
}

fn va(page: usize) -> u64 {
    WINDOW + page as u64 * PG
}

/// Runs `f` on the address of process `p`'s page (its own, or SCRATCH
/// after an MCLONE from `p`).
fn through<T>(p: usize, page: usize, f: impl FnOnce(u64) -> T) -> Result<T, &'static str> {
    if p == 0 {
        return Ok(f(va(page)));
    }
    api::mclone_range(DESC[p], SELF, va(page), SCRATCH, PG, RW)
        .map_err(|_| "MCLONE into the scratch page failed")?;
    let r = f(SCRATCH);
    let _ = api::rgn_free(Actor::Me, &rgn(SCRATCH, PG, 0));
    Ok(r)
}

/// Set by `cargo xtask run --init <model ELF> trace`: print every operation.
static TRACE: AtomicBool = AtomicBool::new(false);

fn main(start: &Startup) -> i32 {
    TRACE.store(start.arg(1) == Some(b"trace".as_slice()), Ordering::Relaxed);
    let mut s = Suite::new("model");
    both_mechanisms(&mut s, cases);
    s.finish()
}

fn cases(s: &mut Suite) {
    for (name, seed) in [
        ("random_sequence_1", 0x0123_4567_89ab_cdefu64),
        ("random_sequence_2", 0xfeed_5eed_0000_0001),
        ("random_sequence_3", 0x5eed_0000_dead_beef),
        ("random_sequence_4", 0x9e37_79b9_7f4a_7c15),
    ] {
        s.isolated(name, move |c| run(c, seed));
    }
}

fn run(c: &mut Case, seed: u64) {
    touch_stack();
    let base = usage();
    let mut m = Model {
        mem: MemoryModel::new([0; MAX_OBJECTS]),
        caps: [KnCap::default(); 3],
        rng: seed,
    };
    let mut ready = true;
    for (p, &d) in DESC.iter().enumerate().skip(1) {
        let ok = api::create_process(d).is_ok();
        match api::actor_cap(d) {
            Ok(cap) if ok => m.caps[p] = cap,
            _ => {
                c.fail(file!(), line!(), format_args!("CREATE_PROCESS / ACTOR_CAP"));
                ready = false;
            }
        }
    }
    if ready {
        steps(c, &mut m, seed);
    }
    for &d in &DESC[1..] {
        let _ = api::destroy(d);
        let _ = api::close(d);
    }
    let _ = api::rgn_free(Actor::Me, &rgn(WINDOW, PAGES as u64 * PG, 0));
    check_eq!(
        c,
        usage(),
        base,
        "seed {:#x}: MEMSTAT back to baseline",
        seed
    );
}

/// The random operations, checked against the model every 10 steps; stops at
/// the first difference (the model and the kernel have parted ways).
fn steps(c: &mut Case, m: &mut Model, seed: u64) {
    // Calls made per kind: allocate, free, write, mclone, rgndup.
    let mut done = [0u32; 5];
    for step in 0..STEPS {
        let op = m.below(100);
        let p = m.below(3) as usize;
        let pg = m.below(PAGES as u64) as usize;
        let (what, err): (&str, Option<&str>) = if op < 20 {
            // RGN_ALLOCATE one page where the model has a hole.
            if m.mem.page(p, pg).is_some() {
                continue;
            }
            trace(format_args!("{step}: RGN_ALLOCATE process {p} page {pg}"));
            let r = api::rgn_allocate(m.actor(p), &mut rgn(va(pg), PG, K_WRITABLE));
            m.mem.allocate(p, pg, 1, 0);
            ("allocate", r.err().map(|e| e.name()))
        } else if op < 30 {
            let n = 1 + m.below(3) as usize;
            let n = n.min(PAGES - pg);
            trace(format_args!(
                "{step}: RGN_FREE process {p} pages {pg}..{}",
                pg + n
            ));
            let r = api::rgn_free(m.actor(p), &rgn(va(pg), n as u64 * PG, 0));
            m.mem.free(p, pg, n);
            ("free", r.err().map(|e| e.name()))
        } else if op < 60 {
            let Some(page) = m.mem.page(p, pg) else {
                continue;
            };
            let v = m.next();
            trace(format_args!("{step}: write process {p} page {pg}"));
            let r = through(p, pg, |a| poke(a, v));
            m.mem.write(page, v);
            ("write", r.err())
        } else if op < 85 {
            let q = m.below(3) as usize;
            let dp = m.below(PAGES as u64) as usize;
            let n = (1 + m.below(3) as usize).min(PAGES - pg).min(PAGES - dp);
            trace(format_args!(
                "{step}: MCLONE process {p} pages {pg}..{} -> process {q} page {dp}",
                pg + n
            ));
            let r = api::mclone_range(DESC[p], DESC[q], va(pg), va(dp), n as u64 * PG, RW);
            m.mem.mclone(p, pg, q, dp, n);
            ("mclone", r.err().map(|e| e.name()))
        } else {
            // Rebuild process 1 or 2 from another one with RGN_DUP.
            let q = 1 + m.below(2) as usize;
            let src = if p == q { 0 } else { p };
            let copy = m.below(2) == 0;
            trace(format_args!(
                "{step}: recreate process {q} by RGN_DUP from process {src}, copy={copy}"
            ));
            let _ = api::destroy(DESC[q]);
            let _ = api::close(DESC[q]);
            let made = api::create_process(DESC[q]).is_ok();
            let cap = api::actor_cap(DESC[q]);
            let flags = if copy { K_INHERITCOPY } else { K_INHERITSHARE };
            let r = match cap {
                Ok(cap) if made => {
                    m.caps[q] = cap;
                    api::rgn_dup(Actor::Cap(&m.caps[q]), m.actor(src), flags)
                        .err()
                        .map(|e| e.name())
                }
                _ => Some("CREATE_PROCESS / ACTOR_CAP"),
            };
            m.mem.dup(q, src, flags);
            (if copy { "rgndup copy" } else { "rgndup share" }, r)
        };
        let kind = match what {
            "allocate" => 0,
            "free" => 1,
            "write" => 2,
            "mclone" => 3,
            _ => 4,
        };
        done[kind] += 1;
        if let Some(e) = err {
            return c.fail(
                file!(),
                line!(),
                format_args!("seed {seed:#x} step {step}: {what} in process {p}: {e}"),
            );
        }
        if m.mem.full() {
            break;
        }
        if step % 10 == 9 || step == STEPS - 1 {
            if let Err(why) = verify(m) {
                return c.fail(
                    file!(),
                    line!(),
                    format_args!("seed {seed:#x} after step {step} ({what}): {why}"),
                );
            }
        }
    }
    println!(
        "    seed {seed:#x}: {} allocate, {} free, {} write, {} mclone, {} rgndup, {} memory objects",
        done[0],
        done[1],
        done[2],
        done[3],
        done[4],
        m.mem.objects()
    );
}

/// Compares every page of every window with the model.
fn verify(m: &Model) -> Result<(), &'static str> {
    for p in 0..3 {
        for pg in 0..PAGES {
            let (n, _) = stat(m.actor(p), va(pg), PG);
            match m.mem.page(p, pg) {
                None if n != Ok(0) => return Err("a page the model says is a hole is mapped"),
                None => {}
                Some(_) if n != Ok(1) => return Err("a page the model says is mapped is a hole"),
                Some(page) => {
                    let got = through(p, pg, peek)?;
                    if got != m.mem.value(page) {
                        return Err("a page holds another value than its memory object");
                    }
                }
            }
        }
    }
    Ok(())
}

fn trace(args: core::fmt::Arguments) {
    if TRACE.load(Ordering::Relaxed) {
        println!("    {args}");
    }
}
