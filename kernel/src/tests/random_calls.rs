//! Fuzzer: random system calls, faults and timer ticks from whatever thread
//! runs.

use super::fake::{PowerOff, Rebooted};
use super::harness::{desc, World, DATA, KERNEL_ADDR, S, TEXT};
use crate::{Trap, MAX_PROCESSES};
use abi::layout::PAGE_SIZE;
use abi::region::*;
use abi::types::{JinueBuffer, MCloneArgs, MintArgs};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Random system calls (and faults, timer ticks) from whatever thread runs:
/// the core must never panic — only power off, when init ends or every
/// thread is parked — and its object counts must stay within the limits.
#[test]
fn random_calls_never_break_the_core() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const FUNCTIONS: [u64; 27] = [
        2, 3, 4, 5, 6, 12, 14, 15, 16, 17, 18, 19, 20, 21, 64, 65, 66, 67, 68, 69, 70, 72, 96, 97,
        98, 0, 4096,
    ];
    let mut total_steps = 0u32;
    for _run in 0..40 {
        let mut w = World::boot_with("fuzz", Some(next()));
        // Prepare some plausible argument structures in the scratch page.
        w.put(
            S,
            &desc(0x100_0000, 3 * PAGE_SIZE, K_WRITABLE | K_INHERITSHARE),
        );
        w.put(
            S + 0x40,
            &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE | K_INHERITCOPY),
        );
        w.put(
            S + 0x80,
            &JinueBuffer {
                addr: S + 0x400,
                size: 48 * 4,
            },
        );
        w.put(
            S + 0xc0,
            &MCloneArgs {
                src_addr: DATA,
                dest_addr: 0x200_0000,
                length: 2 * PAGE_SIZE,
                prot: 3,
                _pad: 0,
            },
        );
        w.put(S + 0x140, &desc(0x100_0000, PAGE_SIZE, 0));
        w.put(S + 0x180, &desc(0x100_0000, 2 * PAGE_SIZE, K_INHERITCOPY));
        w.put(S + 0x1c0, &desc(0x100_1000, PAGE_SIZE, K_NOACCESS));
        w.put(
            S + 0x100,
            &MintArgs {
                process: 0,
                fd: 30,
                perms: 0x18,
                _pad: 0,
                cookie: 1,
            },
        );
        let values = |r: u64| -> u64 {
            match r % 12 {
                0 => r % 8,
                1 => 10 + r % 6,
                2 => 1023 + r % 3,
                3 => S + (r % 6) * 0x40,
                4 => K_MYACTOR,
                5 => S + 0x200 + (r % 4) * 16,
                6 => KERNEL_ADDR,
                7 => TEXT,
                8 => u64::MAX - r % 3,
                9 => r,
                10 => K_INHERITCOPY,
                _ => 0,
            }
        };
        // Arguments that usually make sense for `f`, so that calls succeed
        // often enough to build up processes, threads and regions.
        let plausible = |f: u64, r: u64, q: u64| -> (u64, u64, u64) {
            let fd = 10 + r % 6;
            let other = if q.is_multiple_of(3) { 0 } else { 10 + q % 6 };
            let cap = if q.is_multiple_of(4) {
                K_MYACTOR
            } else {
                S + 0x200 + (r % 4) * 16
            };
            match f {
                3 => ('I' as u64, S + 0x300, r % 16),
                4 => (fd, other, 0),
                14 => (fd, 0, 0),
                15 => (other, fd, S + 0xc0),
                16 => (fd, other, 20 + q % 10),
                17 => (10 + r % 20, 0, 0),
                18 | 21 => (fd, 0, 0),
                19 => (fd, S + 0x100, 0),
                20 => (fd, TEXT, S + 0x800),
                64 => (cap, S + (q % 2) * 0x40, 0),
                65 => (cap, S + 0x140 - (q % 2) * 0x140, 0),
                67 => (cap, S + 0x180, 0),
                68 => (cap, S + 0x1c0, 0),
                66 => (cap, S, S + 0x80),
                69 => (
                    cap,
                    if r.is_multiple_of(2) {
                        K_MYACTOR
                    } else {
                        S + 0x200 + (q % 4) * 16
                    },
                    [0, K_INHERITCOPY, K_INHERITSHARE][(q % 3) as usize],
                ),
                70 | 72 => (cap, 0, 0),
                96 => (S + 0x600, 48, 0),
                98 => (fd, S + 0x200 + (q % 4) * 16, 0),
                _ => (r, q, 0),
            }
        };
        let mut steps = 0u32;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..1500 {
                steps += 1;
                let r = next();
                match r % 20 {
                    0 => {
                        w.trap(Trap::Timer);
                    }
                    1 if !w.k.caller().is_some_and(|c| w.k.is_init(c.process)) => {
                        let vector = [0u8, 6, 13, 14][(r >> 8) as usize % 4];
                        w.trap(Trap::Exception {
                            vector,
                            error_code: (r >> 16) & 0x1f,
                            fault_addr: values(r >> 24),
                        });
                    }
                    1 => {}
                    _ => {
                        let f = FUNCTIONS[(r >> 8) as usize % FUNCTIONS.len()];
                        // Init must not end the run too early: no EXIT from it.
                        let init_thread = w.k.caller().is_some_and(|c| w.k.is_init(c.process));
                        if init_thread && (f == 12 || f == 72 || f == 97 || f == 2) {
                            continue;
                        }
                        let (a1, a2, a3) = plausible(f, next(), next());
                        let wild = next();
                        w.ctx.rax = f;
                        w.ctx.rdi = if wild.is_multiple_of(5) {
                            values(next())
                        } else {
                            a1
                        };
                        w.ctx.rsi = if wild.is_multiple_of(7) {
                            values(next())
                        } else {
                            a2
                        };
                        w.ctx.rdx = if wild.is_multiple_of(11) {
                            values(next())
                        } else {
                            a3
                        };
                        w.trap(Trap::Syscall {
                            via_interrupt: r & 1 == 0,
                        });
                    }
                }
                assert!(w.k.process_count() <= MAX_PROCESSES);
                assert!(w.k.thread_count() <= crate::MAX_THREADS);
                assert!(w.k.sched.current.is_some(), "a thread always runs");
            }
        }));
        total_steps += steps;
        if let Err(payload) = outcome {
            if payload.downcast_ref::<PowerOff>().is_none()
                && payload.downcast_ref::<Rebooted>().is_none()
            {
                std::panic::resume_unwind(payload);
            }
        }
        w.assert_teardown_restores_baseline();
    }
    assert!(
        total_steps > 40 * 500,
        "runs end too early: {total_steps} steps"
    );
}
