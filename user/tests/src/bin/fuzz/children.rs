//! Case `children`: children that fuzz recklessly, with faulting threads.

use super::arch_faults::{do_fault, int_n, FAULTS};
use super::fuzzer::{Fuzzer, R_BAD, R_BAD_ARGS, R_BAD_WHY, R_CALLS, R_CAPS, R_DONE, R_NCAPS, WHY};
use super::layout::{read_cap, PG};
use super::rng::Rng;
use super::stream_lock::StreamLock;
use super::support::{alive, seeds, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, Actor};
use ferrite_rt::{fork_with, println, Fork};
use ferrite_tests::*;

const CHILD_SEEDS: [u64; 10] = [
    0xc41d_0001,
    0xc41d_0002,
    0xc41d_0003,
    0xc41d_0004,
    0xc41d_0005,
    0xc41d_0006,
    0xc41d_0007,
    0xc41d_0008,
    0xc41d_0009,
    0xc41d_000a,
];

const CHILD_CALLS: u64 = 4000;

/// Where the child's second stream reports, inside the shared page.
const HELPER_REPORT: u64 = 2048;

/// Set by the parent once the report page is shared with the child.
const R_GO: u64 = 104;

/// The child's two fuzzing streams take turns, so that neither closes or
/// replaces a process descriptor the other just created before its
/// capability is published (each child starts with the parent's untouched
/// copy of the lock).
static STREAMS: StreamLock = StreamLock::new();

/// The body of a forked child: faulting threads, a second fuzzing thread,
/// then random calls that end up hurting the child itself.
fn child_body(seed: u64, report: u64) -> ! {
    // With fork flags K_INHERITCOPY the page is a private copy until the
    // parent MCLONEs the shared one over it.
    while peek(report + R_GO) == 0 {
        api::yield_thread();
    }
    let mut rng = Rng(seed ^ 0xdead_beef);
    let mut f = Fuzzer::new(seed, false, report);
    if f.map().is_err() {
        poke(report + R_DONE, 2);
        api::exit_thread();
    }
    for _ in 0..3 {
        let k = rng.below(FAULTS.len() as u64) as usize;
        let v = rng.below(256);
        let _ = ferrite_rt::thread::spawn(move || {
            if v.is_multiple_of(2) {
                do_fault(k);
            } else if v != 0x80 {
                int_n(v);
            }
        });
    }
    let _ = ferrite_rt::thread::spawn(move || {
        let mut h = Fuzzer::new(seed ^ 0x1234, false, report + HELPER_REPORT);
        h.lock = Some(&STREAMS);
        h.run(CHILD_CALLS / 4);
    });
    // Careful first, then reckless: the child may free or protect its own memory.
    f.lock = Some(&STREAMS);
    f.run(CHILD_CALLS / 2);
    poke(report + R_DONE, 1);
    // Any reckless call may end the process: the helper waits from now on,
    // never between creating a process and publishing it.
    core::mem::forget(STREAMS.take());
    f.lock = None;
    f.reckless = true;
    f.run(CHILD_CALLS / 2);
    poke(report + R_DONE, 3);
    api::exit_thread()
}

/// Checks one stream's report in the shared page and deletes the processes it made.
fn read_report(c: &mut Case, seed: u64, rep: u64) -> u64 {
    let calls = peek(rep + R_CALLS);
    let bad = peek(rep + R_BAD);
    if bad != 0 {
        let w = |k: u64| peek(rep + R_BAD_ARGS + 8 * k);
        c.fail(
            file!(),
            line!(),
            format_args!(
                "child seed {seed:#x}: {bad} bad returns; first: call {:#x}({:#x}, {:#x}, {:#x}) -> ({:#x}, {:#x}, {:#x}, {:#x}) {}",
                w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7),
                WHY[(peek(rep + R_BAD_WHY) as usize).min(WHY.len() - 1)]
            ),
        );
    }
    let n = peek(rep + R_NCAPS).min(64);
    for k in 0..n {
        let cap = read_cap(rep + R_CAPS + 16 * k);
        let _ = api::actor_delete(Actor::Cap(&cap));
    }
    calls
}

pub(super) fn children(c: &mut Case) {
    touch_deep();
    let base = usage();
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
    let Ok(shared) = shared else {
        return c.fail(
            file!(),
            line!(),
            format_args!("shared page: {:?}", shared.err()),
        );
    };
    let rep = shared.addr();
    let mut ran = 0;
    for (i, seed) in seeds(&CHILD_SEEDS).enumerate() {
        for w in 0..(PG / 8) {
            poke(rep + 8 * w, 0);
        }
        let flags = if i % 2 == 0 { 0 } else { K_INHERITCOPY };
        match fork_with(flags) {
            Ok(Fork::Child) => child_body(seed, rep),
            Ok(Fork::Parent(child)) => {
                ran += 1;
                if flags == K_INHERITCOPY {
                    let r = api::mclone_range(
                        ferrite_rt::thread::SELF,
                        child.process,
                        rep,
                        rep,
                        PG,
                        JINUE_PROT_READ | JINUE_PROT_WRITE,
                    );
                    check_eq!(
                        c,
                        r,
                        Ok(()),
                        "MCLONE of the report page into the running child"
                    );
                }
                poke(rep + R_GO, 1);
                let r = api::await_thread(child.thread);
                check!(
                    c,
                    matches!(r, Ok(0) | Ok(1)),
                    "child {seed:#x}: AWAIT_THREAD {:?}",
                    r
                );
                let d = api::destroy(child.process);
                check!(
                    c,
                    d.is_ok() || d == Err(JinueError::Io),
                    "child {seed:#x}: DESTROY {:?}",
                    d
                );
                child.release();
                let calls = read_report(c, seed, rep);
                let helper = read_report(c, seed ^ 0x1234, rep + HELPER_REPORT);
                println!(
                    "    fuzz::children: seed {seed:#x} (fork flags {flags:#x}): {calls} + {helper} calls, stage {}",
                    peek(rep + R_DONE)
                );
                check!(c, calls > 0, "child {seed:#x} made no call");
            }
            // Out of memory on a small machine is the documented answer,
            // not a failure (the leak checks still apply).
            Err(ferrite_rt::Error::Chorus(ChorusError::NoMem))
            | Err(ferrite_rt::Error::Jinue(JinueError::Again))
            | Err(ferrite_rt::Error::Jinue(JinueError::NoMem)) => {
                println!("    fuzz::children: seed {seed:#x}: fork refused for lack of memory");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    }
    drop(shared);
    check!(c, ran > 0, "no child could be forked");
    alive(c);
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline after the children died"
    );
}
