//! Fuzzer: every system call with arguments at the edges of the ranges the
//! kernel checks.

use super::fake::{PowerOff, Rebooted};
use super::harness::{desc, World, DATA, S, TEXT};
use crate::Trap;
use abi::args::{Allocation, UserRange};
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE, USER_LIMIT};
use abi::numbers::*;
use abi::region::*;
use abi::types::{JinueBuffer, KnRgnDesc, MCloneArgs, MintArgs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec::Vec;

/// Values at the edges of every range the kernel checks: page 0, user base,
/// table spans, the stack, the canonical boundary, the kernel half, u64 and
/// i32 limits, each with its neighbours.
fn edge_values() -> Vec<u64> {
    let mut v = Vec::new();
    let anchors = [
        0u64,
        PAGE_SIZE,
        TEXT,
        DATA,
        S,
        0x20_0000,
        1 << 30,
        1 << 39,
        JINUE_STACK_BASE - JINUE_STACK_SIZE,
        JINUE_STACK_BASE,
        USER_LIMIT - (1 << 21),
        USER_LIMIT - PAGE_SIZE,
        USER_LIMIT,
        0x7fff_ffff,
        0xffff_ffff,
        1 << 63,
        0xffff_8000_0000_0000,
        u64::MAX - PAGE_SIZE + 1,
    ];
    for a in anchors {
        for d in [0u64, 1, PAGE_SIZE - 1, PAGE_SIZE] {
            v.push(a.wrapping_add(d));
            v.push(a.wrapping_sub(d));
        }
    }
    v.push(u64::MAX);
    v.push(48 * 3);
    v.sort_unstable();
    v.dedup();
    v
}

/// Every system call with argument registers and structure fields drawn
/// from [`edge_values`] (and plausible ones), from the init process and from
/// a second process, interleaved with faults at edge addresses: the core
/// never panics (only powers off), and everything comes back at teardown.
#[test]
fn edge_values_never_panic_the_core() {
    struct Rng {
        seed: u64,
        edges: Vec<u64>,
        /// Only plausible values (so that calls succeed and build up state).
        tame: bool,
    }
    impl Rng {
        fn next(&mut self) -> u64 {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            self.seed
        }
        /// An edge value, a few pages around a plausible address, or now
        /// and then any value.
        fn edge(&mut self) -> u64 {
            const NEAR: [u64; 6] = [
                0x100_0000,
                0x300_0000,
                (1 << 39) - 2 * PAGE_SIZE,
                USER_LIMIT - 4 * PAGE_SIZE,
                DATA,
                0,
            ];
            let x = self.next();
            let kind = if self.tame { 4 + x % 4 } else { x % 8 };
            match kind {
                0 => x >> 3,
                1..=3 => self.edges[(x >> 8) as usize % self.edges.len()],
                _ => {
                    let base = NEAR[(x >> 8) as usize % NEAR.len()];
                    let pages = (x >> 16) % 6;
                    let odd = if self.tame {
                        0
                    } else {
                        [0, 0, 1, PAGE_SIZE - 1][(x >> 24) as usize % 4]
                    };
                    base + pages * PAGE_SIZE + odd
                }
            }
        }
    }
    let mut g = Rng {
        seed: 0x2545_f491_4f6c_dd1d,
        edges: edge_values(),
        tame: false,
    };
    const FUNCTIONS: [u64; 21] = [
        3, 4, 6, 14, 15, 16, 17, 18, 19, 20, 21, 64, 65, 66, 67, 68, 69, 70, 96, 98, 5,
    ];
    let options = [
        0,
        K_WRITABLE,
        K_WRITABLE | K_ANYWHERE,
        K_ANYWHERE,
        K_NOACCESS,
        K_EXECUTABLE | K_INHERITCOPY,
        K_INHERITSHARE,
        K_FREEALL,
        u64::MAX,
    ];
    for run in 0..24 {
        let mut w = World::boot_with("edges", Some(g.next()));
        // A child process with a copy of init's memory and a thread, so that
        // MCLONE, DUP and capabilities have a second party.
        w.spawn(10, 11);
        w.cap_of(10, S + 0x200);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..1500 {
                let r = g.next();
                g.tame = !r.is_multiple_of(3);
                // Structures at S (region descriptor), S + 0x40 (buffer),
                // S + 0x80 (MCLONE), S + 0xc0 (MINT).
                let d = KnRgnDesc {
                    startAddr: g.edge(),
                    size: g.edge(),
                    options: options
                        [(r >> 40) as usize % (options.len() - 2 * usize::from(g.tame))],
                    endAddr: g.edge(),
                    opaque1: g.edge(),
                    opaque2: g.edge(),
                };
                let buffer = JinueBuffer {
                    addr: g.edge(),
                    size: g.edge(),
                };
                let mclone = MCloneArgs {
                    src_addr: g.edge() & !(PAGE_SIZE - 1),
                    dest_addr: g.edge() & !(PAGE_SIZE - 1),
                    length: g.edge() & !(PAGE_SIZE - 1),
                    prot: g.edge() as i32,
                    _pad: g.edge() as u32,
                };
                let mint = MintArgs {
                    process: g.edge() as i32,
                    fd: g.edge() as i32,
                    perms: g.edge() as i32,
                    _pad: 0,
                    cookie: g.edge(),
                };
                // The caller may have freed or protected its scratch page
                // (K_FREEALL, say): give it a new one, as a program would.
                if let Some(c) = w.k.caller() {
                    if w.k.mem.check_user_writable(c.space, S, 0x300).is_err() {
                        let page = UserRange::rounded(S, PAGE_SIZE).expect("scratch page");
                        let _ = w.k.mem.free(c.space, page);
                        let scratch = Allocation::decode(&desc(S, PAGE_SIZE, K_WRITABLE));
                        let _ = w.k.mem.allocate(c.space, &scratch.expect("scratch page"));
                        let _ = w.j(FERRITE_SYS_ACTOR_CAP, 10, S + 0x200, 0);
                    }
                    if w.k.mem.check_user_writable(c.space, S, 0x300).is_ok() {
                        w.put(S, &d);
                        w.put(S + 0x40, &buffer);
                        w.put(S + 0x80, &mclone);
                        w.put(S + 0xc0, &mint);
                    }
                }
                match r % 16 {
                    0 => {
                        w.trap(Trap::Timer);
                    }
                    1 => {
                        let vector = [0u8, 6, 13, 14, 14, 14][(r >> 8) as usize % 6];
                        let error_code = (r >> 16) & 0x1f;
                        let fault_addr = g.edge();
                        let init = w.k.caller().is_some_and(|c| w.k.is_init(c.process));
                        // Faults in init only where they resolve (init's end ends the run).
                        if !init || (vector == 14 && (DATA..S).contains(&fault_addr)) {
                            w.trap(Trap::Exception {
                                vector,
                                error_code,
                                fault_addr,
                            });
                        }
                    }
                    _ => {
                        let f = FUNCTIONS[(r >> 8) as usize % FUNCTIONS.len()];
                        let tame = g.tame;
                        let pick = |x: u64, plausible: u64, edge: u64| {
                            if !tame && x.is_multiple_of(3) {
                                edge
                            } else {
                                plausible
                            }
                        };
                        let cap = [K_MYACTOR, S + 0x200, S][(r >> 20) as usize % 3];
                        let (a1, a2, a3) = match f {
                            3 => ('E' as u64, g.edge(), g.edge()),
                            6 => (g.edge(), g.edge(), 0),
                            15 => ((r >> 24) % 2 * 10, (r >> 25) % 2 * 10, S + 0x80),
                            16 => (10, 1, g.edge()),
                            19 => (10, S + 0xc0, 0),
                            20 => (11, g.edge(), g.edge()),
                            64..=68 => (cap, S, S + 0x40),
                            69 => (S + 0x200, cap, g.edge()),
                            96 => (g.edge(), g.edge(), 0),
                            _ if tame => (r >> 24 & 15, r >> 28 & 15, r >> 32 & 15),
                            _ => (g.edge(), g.edge(), g.edge()),
                        };
                        let (a1, a2, a3) = (
                            pick(g.next(), a1, g.edge()),
                            pick(g.next(), a2, g.edge()),
                            pick(g.next(), a3, g.edge()),
                        );
                        w.ctx.rax = f;
                        w.ctx.rdi = a1;
                        w.ctx.rsi = a2;
                        w.ctx.rdx = a3;
                        w.trap(Trap::Syscall {
                            via_interrupt: r & 1 == 0,
                        });
                    }
                }
                w.k.mem.check_invariants().unwrap();
            }
        }));
        if let Err(payload) = outcome {
            if payload.downcast_ref::<PowerOff>().is_none()
                && payload.downcast_ref::<Rebooted>().is_none()
            {
                std::eprintln!("run {run}");
                std::panic::resume_unwind(payload);
            }
        }
        w.assert_teardown_restores_baseline();
    }
}
