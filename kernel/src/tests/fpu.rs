//! The core's side of the lazy x87/SSE state (`Platform::save_fpu`,
//! `Platform::load_fpu`), on the fake CPU of [`super::fake::FakeFpu`]: each
//! thread finds its own registers after every switch (yield, preemption,
//! AWAIT, another process), and a trap that resumes the same thread loads
//! nothing.

use super::harness::{World, OK, S, TEXT};
use crate::{Next, Trap};
use abi::layout::JINUE_STACK_BASE;
use abi::numbers::*;

/// A byte of the FXSAVE image inside xmm0 (Intel SDM vol. 1 table 10-2).
const XMM0_BYTE: usize = 160;
/// The fresh image's x87 control word and MXCSR (`UserContext::fresh`).
const FRESH_FCW: [u8; 2] = [0x7F, 0x03];
const FRESH_MXCSR: [u8; 4] = [0x80, 0x1F, 0, 0];

/// "User code" of the current thread writes `value` into its xmm0.
fn write_xmm0(w: &mut World, value: u8) {
    w.plat.fpu.regs[XMM0_BYTE] = value;
}

fn xmm0(w: &World) -> u8 {
    w.plat.fpu.regs[XMM0_BYTE]
}

fn is_fresh(w: &World) -> bool {
    let r = &w.plat.fpu.regs;
    r[0..2] == FRESH_FCW && r[24..28] == FRESH_MXCSR && r[XMM0_BYTE] == 0
}

#[test]
fn a_trap_that_resumes_the_same_thread_loads_nothing() {
    let mut w = World::boot();
    assert_eq!(w.plat.fpu.restores, 1, "the first thread's image, once");
    write_xmm0(&mut w, 0xAA);
    w.memstat();
    w.yield_now(); // nothing else is ready
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!(w.plat.fpu.restores, 1);
    assert_eq!(xmm0(&w), 0xAA);
}

#[test]
fn each_thread_gets_its_own_state_back_after_every_switch() {
    let mut w = World::boot();
    let main = w.current_number();
    write_xmm0(&mut w, 0xAA);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S + 0x800), OK);
    // Yield: the new thread starts with a fresh state, not main's.
    w.yield_now();
    let second = w.current_number();
    assert_ne!(second, main);
    assert!(is_fresh(&w));
    write_xmm0(&mut w, 0xBB);
    // Preemption: back to main with its value.
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!((w.current_number(), xmm0(&w)), (main, 0xAA));
    w.yield_now();
    assert_eq!((w.current_number(), xmm0(&w)), (second, 0xBB));
    w.yield_now();
    assert_eq!((w.current_number(), xmm0(&w)), (main, 0xAA));
    // AWAIT parks main; the other thread runs, changes its value, exits.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 5;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!((w.current_number(), xmm0(&w)), (second, 0xBB));
    write_xmm0(&mut w, 0xCC);
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!((w.current_number(), xmm0(&w)), (main, 0xAA));
    assert_eq!(w.ctx.rax, 0, "AWAIT_THREAD returned 0");
}

#[test]
fn a_thread_of_another_process_gets_its_own_state() {
    let mut w = World::boot();
    let main = w.current_number();
    write_xmm0(&mut w, 0x5A);
    w.spawn(3, 4);
    w.yield_now();
    assert_ne!(w.current_number(), main);
    assert_eq!(w.ctx.rsp, JINUE_STACK_BASE - 64);
    assert!(is_fresh(&w));
    write_xmm0(&mut w, 0xA5);
    w.yield_now();
    assert_eq!((w.current_number(), xmm0(&w)), (main, 0x5A));
    w.yield_now();
    assert_eq!(xmm0(&w), 0xA5);
}
