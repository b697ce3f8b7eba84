//! Descriptors, capabilities and object limits.

use super::harness::{desc, World, KERNEL_ADDR, OK, S, TEXT};
use crate::MAX_PROCESSES;
use abi::errors::*;
use abi::layout::PAGE_SIZE;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{KnCap, MintArgs};
use std::boxed::Box;

#[test]
fn descriptor_rules() {
    let mut w = World::boot();
    for bad in [1024, u64::MAX, 1 << 31, (-5i64) as u64] {
        assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, bad, 0, 0), Err(JINUE_EBADF));
        assert_eq!(w.j(JINUE_SYS_CLOSE, bad, 0, 0), Err(JINUE_EBADF));
    }
    assert_eq!(
        w.j(JINUE_SYS_CREATE_PROCESS, 1, 0, 0),
        Err(JINUE_EBADF),
        "in use"
    );
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 1023, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CLOSE, 500, 0, 0), Err(JINUE_EBADF), "free");

    // DUP: owner descriptors refuse; target needs OPEN; destination must be free.
    assert_eq!(
        w.j(JINUE_SYS_DUP, 0, 1023, 7),
        Err(JINUE_EBADF),
        "owner source"
    );
    assert_eq!(
        w.j(JINUE_SYS_DUP, 0, 1, 1),
        Err(JINUE_EBADF),
        "destination in use"
    );
    assert_eq!(w.j(JINUE_SYS_DUP, 0, 1, 1024), Err(JINUE_EBADF));
    assert_eq!(w.j(JINUE_SYS_DUP, 0, 0, 7), OK);
    assert_eq!(w.j(JINUE_SYS_DUP, 1023, 1, 3), OK, "into the child");
    assert_eq!(
        w.j(JINUE_SYS_DUP, 1, 0, 8),
        Err(JINUE_EBADF),
        "target not a process"
    );

    // MINT: owner only; perms non-empty and of the type; target needs OPEN.
    let mint = |process: i32, fd: i32, perms: i32| MintArgs {
        process,
        fd,
        perms,
        _pad: 0,
        cookie: 99,
    };
    w.put(S, &mint(0, 20, JINUE_PERM_MAP as i32));
    assert_eq!(w.j(JINUE_SYS_MINT, 0, S, 0), Err(JINUE_EPERM), "not owner");
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, KERNEL_ADDR, 0), Err(JINUE_EINVAL));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), OK);
    w.put(S, &mint(0, 21, 0));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), Err(JINUE_EINVAL), "empty");
    w.put(S, &mint(0, 21, JINUE_PERM_START as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EINVAL),
        "thread perm"
    );
    w.put(S, &mint(0, 20, JINUE_PERM_OPEN as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EBADF),
        "fd in use"
    );
    w.put(S, &mint(-1, 21, JINUE_PERM_OPEN as i32));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), Err(JINUE_EBADF));
    w.put(S, &mint(20, 21, JINUE_PERM_OPEN as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EPERM),
        "target lacks OPEN"
    );
    // The minted descriptor (MAP only) is no owner and cannot give OPEN.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 20, 0, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 20, S, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 30, 20, 0), Err(JINUE_EPERM));

    // DESTROY: the descriptors stay, naming a dead object (EIO), until closed.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 1023, 0, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 1023, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 20, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_DESTROY, 1023, 0, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 30, 1023, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_DUP, 1023, 0, 5), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CLOSE, 1023, 0, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 1023, S, 0), Err(JINUE_EBADF));
    assert_eq!(w.j(JINUE_SYS_CLOSE, 20, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_DESTROY, 1, 0, 0),
        Err(JINUE_EPERM),
        "thread, not owner"
    );
}

#[test]
fn capabilities() {
    let mut w = World::boot_with("init", Some(0x1234_5678_9abc_def0));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, S, 0, 0), Ok(0));
    let me: KnCap = w.get(S);
    assert_eq!(me.ui.head >> 27, 1, "actor type");
    assert_eq!(me.ui.tail, 1, "site");
    assert_eq!(w.c(K_SYS_ACTOR_SELF, TEXT, 0, 0), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, 0, 0, 0), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, KERNEL_ADDR, 0, 0), Err(K_EFAULT));
    assert_eq!(w.cap_of(0, S + 16), me);

    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    let child = w.cap_of(10, S + 32);
    assert_eq!(
        child.ui.head & UI_STAMP_MASK,
        (me.ui.head & UI_STAMP_MASK) + 1
    );
    assert_ne!(child.key, me.key);

    w.put(S + 0x100, &desc(0x80_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, S + 32, S + 0x100, 0), Ok(0));
    let mut bad = child;
    bad.key.tail ^= 1;
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EINVAL),
        "wrong key"
    );
    let mut bad = child;
    bad.ui.head = (2 << 27) | (child.ui.head & UI_STAMP_MASK);
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EINVAL),
        "wrong type"
    );
    let mut bad = child;
    bad.ui.tail = 2;
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EUNKNOWN),
        "other site"
    );
    let mut bad = child;
    bad.ui.head = actor_ui_head(4000);
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EUNKNOWN),
        "never existed"
    );
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_SVACTOR, S + 0x100, 0),
        Err(K_EINVAL)
    );
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, 0, S + 0x100, 0), Err(K_EFAULT));

    // Deleting the actor: the capability becomes unreachable, the stamp is not reused.
    assert_eq!(w.c(K_SYS_ACTOR_DELETE, S + 32, 0, 0), Ok(0));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 32, S + 0x100, 0),
        Err(K_EUNKNOWN)
    );
    assert_eq!(w.c(K_SYS_ACTOR_DELETE, S + 32, 0, 0), Err(K_EUNKNOWN));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let next = w.cap_of(11, S + 64);
    assert_eq!(
        next.ui.head & UI_STAMP_MASK,
        (child.ui.head & UI_STAMP_MASK) + 1
    );
}

#[test]
fn keys_without_hardware_randomness_differ() {
    let mut w = World::boot_with("init", None);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let a = w.cap_of(10, S);
    let b = w.cap_of(11, S + 16);
    assert_ne!(a.key, b.key);
    assert_ne!(a.key, abi::types::KnKey::default());
}

#[test]
fn object_limits() {
    let mut w = World::boot();
    let mut created = 0;
    for fd in 10..(10 + MAX_PROCESSES as u64 + 5) {
        match w.j(JINUE_SYS_CREATE_PROCESS, fd, 0, 0) {
            Ok(_) => created += 1,
            Err(e) => {
                assert_eq!(e, JINUE_EAGAIN);
                break;
            }
        }
    }
    assert_eq!(created + 1, MAX_PROCESSES);
    let mut threads = 0;
    for fd in 200..(200 + crate::MAX_THREADS as u64 + 5) {
        match w.j(JINUE_SYS_CREATE_THREAD, fd, 0, 0) {
            Ok(_) => threads += 1,
            Err(e) => {
                assert_eq!(e, JINUE_ENOMEM);
                break;
            }
        }
    }
    assert_eq!(threads + 1, crate::MAX_THREADS);
    let _: Box<u8> = Box::new(0);
}
