//! Threads: lifecycle and AWAIT, page faults, the timer's round robin and
//! address-space switches.

use super::harness::{World, DATA, OK, S, TEXT};
use crate::{Next, Trap};
use abi::errors::*;
use abi::layout::USER_LIMIT;
use abi::numbers::*;
use abi::perms::*;
use abi::types::MintArgs;
use std::vec::Vec;

#[test]
fn thread_lifecycle_and_await() {
    let mut w = World::boot();
    let main = w.current_number();
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0),
        Err(JINUE_EBADF),
        "in use"
    );
    assert_eq!(
        w.j(JINUE_SYS_CREATE_THREAD, 6, 1, 0),
        Err(JINUE_EBADF),
        "not a process"
    );
    assert_eq!(
        w.j(JINUE_SYS_DESTROY, 5, 0, 0),
        Err(JINUE_EBADF),
        "a thread is not destroyed"
    );
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0),
        Err(JINUE_ESRCH),
        "never started"
    );
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 0, 0, 0),
        Err(JINUE_EBADF),
        "a process"
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, USER_LIMIT, S),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, TEXT, USER_LIMIT),
        Err(JINUE_EINVAL)
    );
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 9, TEXT, S), Err(JINUE_EBADF));
    // A minted AWAIT-only copy lacks START.
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 6,
            perms: JINUE_PERM_AWAIT as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 5, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 6, TEXT, S), Err(JINUE_EPERM));
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 7,
            perms: JINUE_PERM_START as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 5, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 7, 0, 0), Err(JINUE_EPERM));

    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT + 1, S + 0x800), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), Err(JINUE_EBUSY));
    // Main awaits: it parks and the new thread runs with a fresh context.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 5;
    w.ctx.rbx = 0xb0b;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: true
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), main);
    assert_eq!(
        (w.ctx.rip, w.ctx.rsp, w.ctx.rbx, w.ctx.rax),
        (TEXT + 1, S + 0x800, 0, 0)
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Err(JINUE_EDEADLK));
    // Exit: main wakes with 0 and its own registers.
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.current_number(), main);
    assert_eq!((w.ctx.rax, w.ctx.rdi, w.ctx.rbx), (0, 0, 0xb0b));
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0),
        Err(JINUE_ESRCH),
        "already awaited"
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, TEXT, S),
        Err(JINUE_EBUSY),
        "threads run once"
    );

    // A thread that ends before the await: AWAIT returns at once; a fault gives 1.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 8, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 8, TEXT, S), OK);
    w.yield_now();
    assert_eq!(w.ctx.rip, TEXT);
    let n = w.current_number();
    w.ctx.rip = 0x1234;
    let next = w.trap(Trap::Exception {
        vector: 13,
        error_code: 0,
        fault_addr: 0,
    });
    assert_eq!(next, Next::RunUser);
    assert_eq!(w.current_number(), main);
    let line = w.plat.lines.last().unwrap().clone();
    assert!(
        line.contains("[init]") && line.contains(&std::format!("thread {n}")),
        "{line}"
    );
    assert!(
        line.contains("#GP") && line.contains("rip 0x1234"),
        "{line}"
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 8, 0, 0), Ok(1));
    // Closing the last descriptors frees the thread objects.
    let before = w.k.thread_count();
    for fd in [5, 6, 7, 8] {
        assert_eq!(w.j(JINUE_SYS_CLOSE, fd, 0, 0), OK);
    }
    assert_eq!(w.k.thread_count(), before - 2);
}

#[test]
fn page_faults_resolve_or_kill() {
    let mut w = World::boot();
    // A write to untouched .bss is demand paging: resolved, the thread resumes.
    let next = w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE,
        fault_addr: DATA + 0x8000,
    });
    assert_eq!(next, Next::RunUser);
    assert_eq!(w.j(JINUE_SYS_YIELD_THREAD, 0, 0, 0), OK, "still running");
    // A second thread faults on an unmapped address: only it dies.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), OK);
    w.yield_now();
    w.ctx.rip = TEXT + 2;
    let next = w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE,
        fault_addr: 0x20_0000,
    });
    assert_eq!(next, Next::RunUser);
    let line = w.plat.lines.last().unwrap().clone();
    assert!(
        line.contains("#PF") && line.contains("0x200000") && line.contains("rip 0x400002"),
        "{line}"
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Ok(1));
    // Writing the text is a protection violation.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 6, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 6, TEXT, S), OK);
    w.yield_now();
    w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE | crate::fault::PF_PRESENT,
        fault_addr: TEXT,
    });
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 6, 0, 0), Ok(1));
}

#[test]
fn timer_round_robin() {
    let mut w = World::boot();
    let main = w.current_number();
    for fd in [5, 6] {
        assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, fd, 0, 0), OK);
        assert_eq!(w.j(JINUE_SYS_START_THREAD, fd, TEXT, S), OK);
    }
    w.ctx.r9 = 9;
    let mut seen = Vec::new();
    for _ in 0..6 {
        assert_eq!(w.trap(Trap::Timer), Next::RunUser);
        seen.push(w.current_number());
    }
    assert_eq!(seen[0..3], seen[3..6]);
    assert_eq!(seen[2], main);
    assert_eq!(w.ctx.r9, 9, "main's registers come back");
    assert!(seen[0] != seen[1] && seen[0] != main && seen[1] != main);
}

#[test]
fn switching_threads_switches_address_spaces() {
    let mut w = World::boot();
    let init_root = w.plat.active;
    assert_eq!(init_root, w.k.mem.root(w.space()));
    w.spawn(10, 11);
    w.yield_now();
    let child_root = w.plat.active;
    assert_ne!(child_root, init_root);
    assert_eq!(child_root, w.k.mem.root(w.space()));
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!(w.plat.active, init_root);
    // Destroying the process that runs next never leaves its root loaded.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!(w.plat.active, init_root);
}
