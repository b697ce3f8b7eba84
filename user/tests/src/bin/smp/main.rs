//! `smp`: the multiprocessor promises of ABI §9 under stress, with threads of one process on every CPU, and IPC between CPUs (`ipc.rs`).
//!
//! Writers store a sequence number into a shared region and then publish it
//! in a progress word that never faults; a thread is killed by its first
//! store that the new protection refuses. So once a call that removes or
//! lowers access has returned, each writer may publish at most the one
//! number whose store completed before the return: any more would be a
//! store through a stale translation on another CPU. Every case is bounded
//! (a fixed number of rounds, waits with a spin limit), and MEMSTAT must be
//! back at its baseline after each.
#![no_std]
#![no_main]

use abi::init::JINUE_AT_NCPU;
use abi::layout::PAGE_SIZE;
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_NOACCESS, K_WRITABLE};
use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::thread::{self, JoinHandle, SELF};
use ferrite_rt::Startup;
use ferrite_tests::*;

ferrite_rt::entry!(main);

mod ipc;

const PG: u64 = PAGE_SIZE;
const RW: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE;
/// Pages of the region the writers share.
const PAGES: u64 = 4;
/// Most writer threads (each has its own slot and progress word).
const MAX_WRITERS: usize = 8;
/// Rounds of every stress case.
const ROUNDS: u32 = 3;
/// Published stores every writer makes before the main thread acts.
const WARM_UP: u64 = 200;
/// Spin limit of every wait (with yields): about a few seconds under TCG.
const WAIT_SPINS: u64 = 2_000_000;
/// Descriptor of the child process of the snapshot case.
const CHILD: u64 = 20;

/// The words writers and the main thread share, in a region of their own
/// that no case changes: a stop flag and each writer's progress.
struct Control {
    page: Region,
}

impl Control {
    fn new() -> Control {
        Control {
            page: Region::anywhere(1, K_WRITABLE).expect("control page"),
        }
    }

    fn word(&self, i: usize) -> &'static AtomicU64 {
        // SAFETY: the control page is mapped writable for the whole case,
        // holds only these aligned words, and is freed only after every
        // writer was joined.
        unsafe { &*((self.page.addr() + 8 * i as u64) as *const AtomicU64) }
    }

    fn stop(&self) -> &'static AtomicU64 {
        self.word(0)
    }

    fn progress(&self, w: usize) -> &'static AtomicU64 {
        self.word(1 + w)
    }

    fn reset(&self) {
        for i in 0..=MAX_WRITERS {
            self.word(i).store(0, Ordering::SeqCst);
        }
    }
}

/// Writer `w`'s slot in a region at `base`: its own word, writers spread over the pages.
fn slot(base: u64, w: usize) -> u64 {
    base + (w as u64 % PAGES) * PG + 8 * w as u64
}

/// Stores 1, 2, 3... into its slot of `base`, publishing each after the
/// store, until told to stop (or killed by a store the region refuses).
fn start_writer(
    base: u64,
    stop: &'static AtomicU64,
    progress: &'static AtomicU64,
    w: usize,
) -> Option<JoinHandle> {
    thread::spawn(move || {
        let at = slot(base, w);
        let mut seq = 0;
        while stop.load(Ordering::SeqCst) == 0 {
            seq += 1;
            poke(at, seq);
            progress.store(seq, Ordering::SeqCst);
        }
    })
    .ok()
}

/// Waits (yielding) until `done` holds; false after the spin limit.
fn wait_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..WAIT_SPINS {
        if done() {
            return true;
        }
        api::yield_thread();
    }
    done()
}

/// How many writers: one per CPU (at least two, so one CPU also interleaves them).
fn writers(ncpu: u64) -> usize {
    (ncpu as usize).clamp(2, MAX_WRITERS)
}

/// Starts the writers on `base` and waits until each published `WARM_UP` stores.
fn start_writers(
    c: &mut Case,
    ctl: &Control,
    base: u64,
    n: usize,
) -> [Option<JoinHandle>; MAX_WRITERS] {
    ctl.reset();
    let mut handles: [Option<JoinHandle>; MAX_WRITERS] = Default::default();
    for (w, h) in handles.iter_mut().enumerate().take(n) {
        *h = start_writer(base, ctl.stop(), ctl.progress(w), w);
        check!(c, h.is_some(), "writer {} not started", w);
    }
    let warm = wait_until(|| (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) >= WARM_UP));
    check!(c, warm, "the writers did not get going");
    handles
}

/// Joins every writer; returns how many a fault killed.
fn join_all(handles: [Option<JoinHandle>; MAX_WRITERS]) -> usize {
    handles
        .into_iter()
        .flatten()
        .map(|h| h.join().unwrap_or(0))
        .filter(|&r| r == 1)
        .count()
}

/// The change under test, made while the writers run.
#[derive(Clone, Copy, PartialEq)]
enum Lowering {
    ReadOnly,
    NoAccess,
    Free,
}

/// Writers on every CPU, then `how` on their region: after the call
/// returns, each writer publishes at most one more number and then dies.
fn lowering_under_writers(c: &mut Case, ncpu: u64, how: Lowering) {
    let n = writers(ncpu);
    let before = usage();
    let ctl = Control::new();
    for round in 0..ROUNDS {
        let region = Region::anywhere(PAGES, K_WRITABLE).expect("region");
        let base = region.addr();
        let handles = start_writers(c, &ctl, base, n);
        let r = match how {
            Lowering::ReadOnly => api::rgn_set_protect(Actor::Me, &rgn(base, PAGES * PG, 0)),
            Lowering::NoAccess => {
                api::rgn_set_protect(Actor::Me, &rgn(base, PAGES * PG, K_NOACCESS))
            }
            Lowering::Free => api::rgn_free(Actor::Me, &rgn(base, PAGES * PG, 0)),
        };
        check_eq!(c, r, Ok(()), "round {}", round);
        let at_return: [u64; MAX_WRITERS] =
            core::array::from_fn(|w| ctl.progress(w).load(Ordering::SeqCst));
        let killed = join_all(handles);
        check_eq!(
            c,
            killed,
            n,
            "round {}: writers killed by the new protection",
            round
        );
        for (w, &seen) in at_return.iter().enumerate().take(n) {
            let last = ctl.progress(w).load(Ordering::SeqCst);
            check!(
                c,
                last <= seen + 1,
                "round {}: writer {} published {} stores after the call returned (at return {}, last {})",
                round,
                w,
                last - seen,
                seen,
                last
            );
            if how == Lowering::ReadOnly {
                check_eq!(
                    c,
                    peek(slot(base, w)),
                    last,
                    "round {}: writer {}'s last store",
                    round,
                    w
                );
            }
        }
        if how == Lowering::Free {
            region.forget();
        }
    }
    drop(ctl);
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// Writers on every CPU while MCLONE replaces their region with other
/// memory: the old memory (kept visible through an alias) never changes
/// after the call returns; the new memory gets every later store.
fn mclone_replace_under_writers(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let before = usage();
    let ctl = Control::new();
    for round in 0..ROUNDS {
        let region = Region::anywhere(PAGES, K_WRITABLE).expect("region");
        let fresh = Region::anywhere(PAGES, K_WRITABLE).expect("fresh");
        let alias = hole_of(PAGES);
        check_eq!(
            c,
            api::mclone_range(SELF, SELF, region.addr(), alias, PAGES * PG, RW),
            Ok(())
        );
        let handles = start_writers(c, &ctl, region.addr(), n);
        let r = api::mclone_range(SELF, SELF, fresh.addr(), region.addr(), PAGES * PG, RW);
        check_eq!(
            c,
            r,
            Ok(()),
            "round {}: MCLONE over the writers' region",
            round
        );
        let old: [u64; MAX_WRITERS] = core::array::from_fn(|w| peek(slot(alias, w)));
        let after: [u64; MAX_WRITERS] =
            core::array::from_fn(|w| ctl.progress(w).load(Ordering::SeqCst));
        let moved_on = wait_until(|| {
            (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) >= after[w] + WARM_UP)
        });
        check!(c, moved_on, "round {}: the writers stopped", round);
        ctl.stop().store(1, Ordering::SeqCst);
        check_eq!(
            c,
            join_all(handles),
            0,
            "round {}: no writer may fault",
            round
        );
        for (w, &old_value) in old.iter().enumerate().take(n) {
            check_eq!(
                c,
                peek(slot(alias, w)),
                old_value,
                "round {}: writer {} stored into the replaced memory",
                round,
                w
            );
            let last = ctl.progress(w).load(Ordering::SeqCst);
            check_eq!(
                c,
                peek(slot(fresh.addr(), w)),
                last,
                "round {}: writer {}'s last store in the new memory",
                round,
                w
            );
        }
        let _ = api::rgn_free(Actor::Me, &rgn(alias, PAGES * PG, 0));
    }
    drop(ctl);
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// Every thread touches every page of an untouched region at once (its own
/// word in each page): one frame per page, no store lost.
fn first_touch_all_cpus(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let before = usage();
    let ctl = Control::new();
    const TOUCH_PAGES: u64 = 32;
    for round in 0..ROUNDS {
        let region = Region::anywhere(TOUCH_PAGES, K_WRITABLE).expect("region");
        ctl.reset();
        let go = ctl.stop();
        let base = region.addr();
        let handles: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|w| {
            if w >= n {
                return None;
            }
            let ready = ctl.progress(w);
            thread::spawn(move || {
                ready.store(1, Ordering::SeqCst);
                while go.load(Ordering::SeqCst) == 0 {
                    core::hint::spin_loop();
                }
                for p in 0..TOUCH_PAGES {
                    // Threads start at different pages, so several hit each page at once.
                    let page = (p + w as u64 * 3) % TOUCH_PAGES;
                    poke(base + page * PG + 8 * w as u64, page * 100 + w as u64 + 1);
                }
                ready.store(2, Ordering::SeqCst);
            })
            .ok()
        });
        let all_ready = wait_until(|| (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) == 1));
        check!(c, all_ready, "round {}: threads not ready", round);
        let start_usage = usage();
        go.store(1, Ordering::SeqCst);
        let all_done = wait_until(|| (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) == 2));
        check!(c, all_done, "round {}: threads did not finish", round);
        // Before the joins free the threads' stacks.
        let grew = usage().user_frames - start_usage.user_frames;
        check_eq!(c, join_all(handles), 0, "round {}", round);
        for p in 0..TOUCH_PAGES {
            for w in 0..n {
                check_eq!(
                    c,
                    peek(base + p * PG + 8 * w as u64),
                    p * 100 + w as u64 + 1,
                    "round {}: page {} word {}",
                    round,
                    p,
                    w
                );
            }
        }
        check_eq!(c, grew, TOUCH_PAGES, "round {}: one frame per page", round);
    }
    drop(ctl);
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// A copy-on-write copy of a filled region is taken (RGN_DUP into a child),
/// then every thread writes into every page at once: every store kept (a
/// page copied twice would lose one), the rest of each page and the child's
/// copy intact, no frame leaked.
fn cow_faults_all_cpus(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let before = usage();
    let ctl = Control::new();
    const COW_PAGES: u64 = 16;
    for round in 0..ROUNDS {
        let region =
            Region::anywhere(COW_PAGES, K_WRITABLE | abi::region::K_INHERITCOPY).expect("region");
        let base = region.addr();
        for p in 0..COW_PAGES {
            for i in 0..PG / 8 {
                poke(base + p * PG + 8 * i, 0xC0DE_0000 + p * 1000 + i);
            }
        }
        let Some(cap) = new_child() else {
            check!(c, false, "no child process");
            return;
        };
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, 0),
            Ok(()),
            "round {}",
            round
        );
        ctl.reset();
        let go = ctl.stop();
        let handles: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|w| {
            if w >= n {
                return None;
            }
            thread::spawn(move || {
                while go.load(Ordering::SeqCst) == 0 {
                    core::hint::spin_loop();
                }
                for p in 0..COW_PAGES {
                    let page = (p + w as u64 * 5) % COW_PAGES;
                    poke(base + page * PG + 8 * w as u64, page * 100 + w as u64 + 1);
                }
            })
            .ok()
        });
        go.store(1, Ordering::SeqCst);
        check_eq!(c, join_all(handles), 0, "round {}", round);
        let mut wrong = 0;
        for p in 0..COW_PAGES {
            for i in 0..PG / 8 {
                let want = if (i as usize) < n {
                    p * 100 + i + 1
                } else {
                    0xC0DE_0000 + p * 1000 + i
                };
                if peek(base + p * PG + 8 * i) != want {
                    wrong += 1;
                }
            }
        }
        check_eq!(
            c,
            wrong,
            0,
            "round {}: words wrong after the copy-on-write faults",
            round
        );
        let child_copy = clone_from_child(base, COW_PAGES);
        let intact = (0..COW_PAGES).all(|p| {
            (0..PG / 8).all(|i| peek(child_copy + p * PG + 8 * i) == 0xC0DE_0000 + p * 1000 + i)
        });
        check!(c, intact, "round {}: the child's copy changed", round);
        let _ = api::rgn_free(Actor::Me, &rgn(child_copy, COW_PAGES * PG, 0));
        end_child();
    }
    drop(ctl);
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// RGN_DUP snapshots taken while writers run: in each, every writer's
/// first word is its second or one ahead of it (stores in program order,
/// the first word written first), and a snapshot never changes afterwards.
fn dup_snapshot_consistent_cut(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let before = usage();
    let ctl = Control::new();
    for round in 0..ROUNDS {
        let region =
            Region::anywhere(PAGES, K_WRITABLE | abi::region::K_INHERITCOPY).expect("region");
        let base = region.addr();
        ctl.reset();
        let stop = ctl.stop();
        let handles: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|w| {
            if w >= n {
                return None;
            }
            let progress = ctl.progress(w);
            thread::spawn(move || {
                // First word on page w % PAGES, second on the next page.
                let first = base + (w as u64 % PAGES) * PG + 8 * w as u64;
                let second = base + ((w as u64 + 1) % PAGES) * PG + 8 * (MAX_WRITERS + w) as u64;
                let mut seq = 0;
                while stop.load(Ordering::SeqCst) == 0 {
                    seq += 1;
                    poke(first, seq);
                    poke(second, seq);
                    progress.store(seq, Ordering::SeqCst);
                }
            })
            .ok()
        });
        let warm = wait_until(|| (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) >= WARM_UP));
        check!(c, warm, "round {}: writers did not start", round);
        let Some(cap) = new_child() else {
            check!(c, false, "no child process");
            return;
        };
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, 0),
            Ok(()),
            "round {}",
            round
        );
        let snap = clone_from_child(base, PAGES);
        let read = |w: usize| {
            let first = snap + (w as u64 % PAGES) * PG + 8 * w as u64;
            let second = snap + ((w as u64 + 1) % PAGES) * PG + 8 * (MAX_WRITERS + w) as u64;
            (peek(first), peek(second))
        };
        let cut: [(u64, u64); MAX_WRITERS] =
            core::array::from_fn(|w| if w < n { read(w) } else { (0, 0) });
        for (w, &(a, b)) in cut.iter().enumerate().take(n) {
            check!(
                c,
                a == b || a == b + 1,
                "round {}: writer {}: snapshot has first {} second {}",
                round,
                w,
                a,
                b
            );
        }
        let moved_on = wait_until(|| {
            (0..n).all(|w| ctl.progress(w).load(Ordering::SeqCst) >= cut[w].0 + WARM_UP)
        });
        check!(c, moved_on, "round {}: the writers stopped", round);
        for (w, &pair) in cut.iter().enumerate().take(n) {
            check_eq!(
                c,
                read(w),
                pair,
                "round {}: writer {}: the snapshot changed",
                round,
                w
            );
        }
        stop.store(1, Ordering::SeqCst);
        check_eq!(c, join_all(handles), 0, "round {}", round);
        let _ = api::rgn_free(Actor::Me, &rgn(snap, PAGES * PG, 0));
        end_child();
    }
    drop(ctl);
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// A forked child runs writers on every CPU; the parent destroys it while
/// they run. MEMSTAT is back at its baseline each time.
fn destroy_while_running(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let before = usage();
    for round in 0..ROUNDS {
        let shared =
            Region::anywhere(1, K_WRITABLE | abi::region::K_INHERITSHARE).expect("shared page");
        let progress = shared.addr();
        match ferrite_rt::fork::fork() {
            Ok(ferrite_rt::fork::Fork::Child) => {
                let private = Region::anywhere(PAGES, K_WRITABLE).expect("child region");
                let base = private.addr();
                for w in 1..n {
                    let _ = thread::spawn(move || loop {
                        poke(slot(base, w), peek(slot(base, w)) + 1);
                        // SAFETY: the shared page stays mapped while the child lives.
                        unsafe { &*((progress + 8 * w as u64) as *const AtomicU64) }
                            .fetch_add(1, Ordering::SeqCst);
                    });
                }
                loop {
                    poke(slot(base, 0), peek(slot(base, 0)) + 1);
                    // SAFETY: as above.
                    unsafe { &*(progress as *const AtomicU64) }.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(ferrite_rt::fork::Fork::Parent(child)) => {
                let word = |w: usize| {
                    // SAFETY: the shared page is mapped for the whole round.
                    unsafe { &*((progress + 8 * w as u64) as *const AtomicU64) }
                        .load(Ordering::SeqCst)
                };
                let running = wait_until(|| (0..n).all(|w| word(w) >= WARM_UP));
                check!(
                    c,
                    running,
                    "round {}: the child's threads did not run",
                    round
                );
                check_eq!(c, api::destroy(child.process), Ok(()), "round {}", round);
                let at_return: [u64; MAX_WRITERS] = core::array::from_fn(word);
                // No thread of the destroyed child runs anywhere any more.
                for _ in 0..200 {
                    api::yield_thread();
                }
                for (w, &seen) in at_return.iter().enumerate().take(n) {
                    check_eq!(
                        c,
                        word(w),
                        seen,
                        "round {}: thread {} of the destroyed child still ran",
                        round,
                        w
                    );
                }
                child.release();
            }
            Err(e) => {
                check!(c, false, "fork: {:?}", e);
                return;
            }
        }
    }
    check_eq!(c, usage(), before, "MEMSTAT back at its baseline");
}

/// A new empty process at `CHILD` and its capability.
fn new_child() -> Option<abi::types::KnCap> {
    api::create_process(CHILD).ok()?;
    api::actor_cap(CHILD).ok()
}

fn end_child() {
    let _ = api::destroy(CHILD);
    let _ = api::close(CHILD);
}

/// Maps the child's `npages` at `va` into the own process; returns where.
fn clone_from_child(va: u64, npages: u64) -> u64 {
    let at = hole_of(npages);
    let r = api::mclone_range(CHILD, SELF, va, at, npages * PG, JINUE_PROT_READ);
    assert!(r.is_ok(), "MCLONE from the child: {r:?}");
    at
}

/// Loads `sel` into `es` and `gs`.
fn load_selectors(sel: u16) {
    // SAFETY: `sel` is null or the user data selector, loadable in ring 3;
    // in 64-bit mode `es` and `gs` selectors only set bases this program
    // does not use (it keeps its TLS in `fs`).
    unsafe {
        core::arch::asm!("mov es, {0:x}", "mov gs, {0:x}", in(reg) sel, options(nostack, preserves_flags))
    };
}

fn selectors() -> (u16, u16) {
    let (es, gs): (u16, u16);
    // SAFETY: reading segment registers has no effect.
    unsafe {
        core::arch::asm!("mov {0:x}, es", "mov {1:x}, gs", out(reg) es, out(reg) gs, options(nomem, nostack, preserves_flags))
    };
    (es, gs)
}

/// User data segment selector, RPL 3 (GDT entry 3).
const USER_DATA_SELECTOR: u16 = 0x1B;

/// Each thread keeps its own `es`/`gs` across yields, preemption and
/// system calls; a value one thread loads is never seen by another (ABI §1).
fn selectors_per_thread(c: &mut Case, ncpu: u64) {
    let n = writers(ncpu);
    let ctl = Control::new();
    ctl.reset();
    let stop = ctl.stop();
    let handles: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|w| {
        if w >= n {
            return None;
        }
        let bad = ctl.progress(w);
        thread::spawn(move || {
            // Even threads load the user data selector, odd ones keep null.
            let mine = if w % 2 == 0 { USER_DATA_SELECTOR } else { 0 };
            load_selectors(mine);
            let mut rounds = 0u64;
            while stop.load(Ordering::SeqCst) == 0 || rounds < 2000 {
                rounds += 1;
                if rounds.is_multiple_of(16) {
                    api::yield_thread();
                }
                if selectors() != (mine, mine) {
                    bad.fetch_add(1, Ordering::SeqCst);
                    load_selectors(mine);
                }
            }
        })
        .ok()
    });
    for _ in 0..500 {
        api::yield_thread();
    }
    stop.store(1, Ordering::SeqCst);
    check_eq!(c, join_all(handles), 0);
    for w in 0..n {
        check_eq!(
            c,
            ctl.progress(w).load(Ordering::SeqCst),
            0,
            "thread {} saw a selector it did not load",
            w
        );
    }
    check_eq!(c, selectors(), (0, 0), "the main thread's own selectors");
}

/// Threads of one process increment one shared counter on every CPU: no increment is lost.
fn shared_counter_all_cpus(c: &mut Case, ncpu: u64) {
    const INCREMENTS: u64 = 20_000;
    let n = writers(ncpu);
    let ctl = Control::new();
    ctl.reset();
    let counter = ctl.stop();
    let handles: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|w| {
        (w < n)
            .then(|| {
                thread::spawn(move || {
                    for _ in 0..INCREMENTS {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .ok()
            })
            .flatten()
    });
    check_eq!(c, join_all(handles), 0);
    check_eq!(c, counter.load(Ordering::SeqCst), INCREMENTS * n as u64);
}

fn main(start: &Startup) -> i32 {
    let ncpu = start.aux(JINUE_AT_NCPU).unwrap_or(0);
    let mut s = Suite::new("smp");
    s.case("ncpu_in_auxv", |c| {
        check!(c, (1..=64).contains(&ncpu), "JINUE_AT_NCPU = {}", ncpu);
    });
    s.isolated("shared_counter_all_cpus", |c| {
        shared_counter_all_cpus(c, ncpu)
    });
    s.isolated("selectors_per_thread", |c| selectors_per_thread(c, ncpu));
    s.isolated("read_only_under_writers", |c| {
        lowering_under_writers(c, ncpu, Lowering::ReadOnly)
    });
    s.isolated("noaccess_under_writers", |c| {
        lowering_under_writers(c, ncpu, Lowering::NoAccess)
    });
    s.isolated("free_under_writers", |c| {
        lowering_under_writers(c, ncpu, Lowering::Free)
    });
    s.isolated("mclone_replace_under_writers", |c| {
        mclone_replace_under_writers(c, ncpu)
    });
    s.isolated("first_touch_all_cpus", |c| first_touch_all_cpus(c, ncpu));
    s.isolated("cow_faults_all_cpus", |c| cow_faults_all_cpus(c, ncpu));
    s.isolated("dup_snapshot_consistent_cut", |c| {
        dup_snapshot_consistent_cut(c, ncpu)
    });
    s.isolated("destroy_while_running", |c| destroy_while_running(c, ncpu));
    s.isolated("ipc_between_cpus", |c| ipc::ipc_between_cpus(c, ncpu));
    s.finish()
}
