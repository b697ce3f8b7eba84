//! Processes (actors): lifecycle and memory baseline, self-deletion, and
//! awaiters of destroyed processes.

use super::harness::{World, OK, S, TEXT};
use crate::{Next, Trap};
use abi::errors::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::MintArgs;

#[test]
fn process_lifecycle_and_memory_baseline() {
    let mut w = World::boot();
    // The first MEMSTAT touches its buffer's page; measure after that.
    w.memstat();
    let base = w.memstat();
    let procs = w.k.process_count();
    w.spawn(10, 11);
    assert_eq!(w.k.process_count(), procs + 1);
    // The child's only thread exits: the child is destroyed.
    w.yield_now();
    assert_eq!(w.ctx.rip, TEXT);
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.k.process_count(), procs);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(0));
    // A child that never ran a thread stays alive until destroyed.
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 12, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 13, 12, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 12, S, 0), OK);
    // Destroying a process with a parked thread and a running one.
    w.spawn(14, 15);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 14, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 15, 0, 0),
        Ok(1),
        "stopped by the destruction"
    );
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 13, TEXT, S), OK);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 12, 0, 0), OK);
    for fd in 10..16 {
        assert_eq!(w.j(JINUE_SYS_CLOSE, fd, 0, 0), OK);
    }
    assert_eq!(w.k.process_count(), procs);
    assert_eq!(w.k.thread_count(), 1);
    let end = w.memstat();
    assert_eq!(
        (end.user_frames, end.table_frames, end.committed_frames),
        (base.user_frames, base.table_frames, base.committed_frames)
    );
}

#[test]
fn actor_delete_self_does_not_return() {
    let mut w = World::boot();
    w.spawn(10, 11);
    w.yield_now();
    let child = w.current_number();
    w.ctx.rax = K_SYS_ACTOR_DELETE;
    w.ctx.rdi = K_MYACTOR;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), child);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(1));
}

#[test]
fn destroying_the_awaited_process_wakes_the_awaiter_with_1() {
    let mut w = World::boot();
    let main = w.current_number();
    w.spawn(10, 11);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), OK);
    // Main awaits the child's thread; the child runs first, then thread 5.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 11;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), main);
    w.yield_now();
    // Thread 5 of init runs: it destroys the child; main wakes with 1.
    assert_eq!(w.ctx.rip, TEXT);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.current_number(), main);
    assert_eq!((w.ctx.rax, w.ctx.rdi), (1, 0), "AWAIT returned 1");
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Err(JINUE_ESRCH));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Ok(0));
}

#[test]
fn a_killed_awaiter_releases_its_target() {
    let mut w = World::boot();
    w.spawn(10, 11);
    // Thread 12 of init; the child gets an AWAIT descriptor to it in slot 0.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 12, 0, 0), OK);
    w.put(
        S,
        &MintArgs {
            process: 10,
            fd: 0,
            perms: JINUE_PERM_AWAIT as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 12, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 12, TEXT, S), OK);
    // The child's thread runs and parks awaiting thread 12.
    w.yield_now();
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 0;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    // Thread 12 runs; then main destroys the child, killing the parked awaiter.
    assert_eq!(w.ctx.rip, TEXT);
    w.yield_now();
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(1));
    // Thread 12 can be awaited again: its awaiter is gone.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 12;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!((w.ctx.rax, w.ctx.rdi), (0, 0), "main's AWAIT returned 0");
}
