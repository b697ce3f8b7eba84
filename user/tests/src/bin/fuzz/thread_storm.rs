//! Case `thread_storm`: as many threads as the kernel allows, all running at once.

use super::arch_faults::do_fault;
use super::exhaustion::thread_room;
use super::rng::Rng;
use super::support::touch_deep;
use abi::errors::{ChorusError, JinueError};
use ferrite_rt::api;
use ferrite_rt::println;
use ferrite_tests::*;

/// Spawns threads until the kernel refuses (thread bound or memory), each
/// yielding a while and then exiting, faulting or calling EXIT_THREAD from
/// deep in its stack; joins them all (0 or 1 as each did), twice; nothing
/// leaks.
pub(super) fn thread_storm(c: &mut Case) {
    touch_deep();
    let base = usage();
    let room = thread_room();
    for round in 0..2u64 {
        let mut rng = Rng(0x5702_0000 + round);
        let mut handles: [Option<(ferrite_rt::thread::JoinHandle, u64)>; 256] =
            [const { None }; 256];
        let mut n = 0;
        while n < handles.len() {
            let kind = rng.below(3);
            let spins = rng.below(50);
            let h = ferrite_rt::thread::spawn(move || {
                for _ in 0..spins {
                    api::yield_thread();
                }
                match kind {
                    0 => {}
                    1 => do_fault(0),
                    _ => api::exit_thread(),
                }
            });
            match h {
                Ok(h) => {
                    handles[n] = Some((h, u64::from(kind == 1)));
                    n += 1;
                }
                Err(e) => {
                    check!(
                        c,
                        matches!(
                            e,
                            ferrite_rt::Error::Jinue(JinueError::NoMem)
                                | ferrite_rt::Error::Chorus(ChorusError::NoMem)
                                | ferrite_rt::Error::NoDescriptor
                        ),
                        "spawn refused with {:?}",
                        e
                    );
                    break;
                }
            }
        }
        println!("    fuzz::thread_storm: round {round}: {n} threads");
        check!(c, n > 16, "only {} threads", n);
        for slot in handles.iter_mut().take(n) {
            if let Some((h, want)) = slot.take() {
                let r = h.join();
                check_eq!(c, r.ok(), Some(want), "join");
            }
        }
    }
    check_eq!(c, thread_room(), room, "thread room after the storm");
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
