//! RGN_DUP (ChorusOS): error order and semantics, copies of copies, and
//! the kernel heap under repeated copies of fragmented memory.

use super::harness::{desc, World, DATA, KERNEL_ADDR, OK, S};
use abi::errors::*;
use abi::layout::{PAGE_SIZE, USER_LIMIT};
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{JinueBuffer, MCloneArgs};
use std::vec;

#[test]
fn rgn_dup_error_order_and_semantics() {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    let child = w.cap_of(10, S);
    let mut wrong_key = child;
    wrong_key.key.head ^= 0x8000_0000;
    w.put(S + 16, &wrong_key);
    let mut gone = child;
    gone.ui.head = actor_ui_head(999);
    w.put(S + 32, &gone);
    let (good, bad_key, unknown) = (S, S + 16, S + 32);
    // 1. EFAULT beats everything (either pointer).
    assert_eq!(w.c(K_SYS_RGN_DUP, unknown, KERNEL_ADDR, 77), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_RGN_DUP, 0, bad_key, 77), Err(K_EFAULT));
    // 2. inconsistent (or K_SVACTOR) beats unreachable and flags.
    assert_eq!(w.c(K_SYS_RGN_DUP, unknown, bad_key, 77), Err(K_EINVAL));
    assert_eq!(w.c(K_SYS_RGN_DUP, K_SVACTOR, unknown, 77), Err(K_EINVAL));
    // 3. unreachable beats flags.
    assert_eq!(w.c(K_SYS_RGN_DUP, good, unknown, 77), Err(K_EUNKNOWN));
    // 4. flags beat overlap.
    assert_eq!(w.c(K_SYS_RGN_DUP, K_MYACTOR, K_MYACTOR, 77), Err(K_EINVAL));
    assert_eq!(
        w.c(
            K_SYS_RGN_DUP,
            good,
            K_MYACTOR,
            K_INHERITCOPY | K_INHERITSHARE
        ),
        Err(K_EINVAL)
    );
    // 5. a non-empty target.
    assert_eq!(w.c(K_SYS_RGN_DUP, K_MYACTOR, good, 0), Err(K_EOVERLAP));
    // Success: flags 0 follows each region's inherit bit; a copy is a snapshot.
    let r = S + 0x100;
    w.put(r, &desc(0x100_0000, PAGE_SIZE, K_WRITABLE | K_INHERITSHARE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(0x200_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.poke(DATA + 0x4000, b"before");
    assert_eq!(w.c(K_SYS_RGN_DUP, good, K_MYACTOR, 0), Ok(0));
    w.poke(DATA + 0x4000, b"after!");
    assert_eq!(w.c(K_SYS_RGN_DUP, good, K_MYACTOR, 0), Err(K_EOVERLAP));
    w.put(r, &desc(0, USER_LIMIT, 0));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 0,
        },
    );
    assert_eq!(
        w.c(K_SYS_RGN_STAT, good, r, S + 0x200),
        Ok(4),
        "text, data, shared, stack"
    );
    let child_space =
        w.k.processes
            .get(w.k.actors[&(child.ui.head & UI_STAMP_MASK)].0)
            .unwrap()
            .space;
    let mut b = [0u8; 6];
    w.k.mem
        .read_user(child_space, DATA + 0x4000, &mut b)
        .unwrap();
    assert_eq!(&b, b"before");
}

/// The user test `rgndup::copies_of_copies`, on the host: a private copy of
/// a copy, both actors destroyed, every frame comes back.
#[test]
fn copies_of_copies_return_every_frame() {
    let mut w = World::boot();
    w.memstat();
    let base = w.memstat();
    let a = 0x100_0000;
    w.put(S + 0x100, &desc(a, PAGE_SIZE, K_WRITABLE | K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, S + 0x100, 0), Ok(0));
    w.poke(a, &[1]);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let (p1, p2) = (S + 0x200, S + 0x210);
    w.cap_of(10, p1);
    w.cap_of(11, p2);
    assert_eq!(w.c(K_SYS_RGN_DUP, p1, K_MYACTOR, 0), Ok(0));
    let clone_in = |w: &mut World, from: u64, at: u64| {
        w.put(
            S + 0x300,
            &MCloneArgs {
                src_addr: a,
                dest_addr: at,
                length: PAGE_SIZE,
                prot: 3,
                _pad: 0,
            },
        );
        assert_eq!(w.j(JINUE_SYS_MCLONE, from, 0, S + 0x300), OK);
    };
    let free = |w: &mut World, at: u64| {
        w.put(S + 0x100, &desc(at, PAGE_SIZE, 0));
        assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, S + 0x100, 0), Ok(0));
    };
    let (w1, w2) = (0x200_0000, 0x300_0000);
    clone_in(&mut w, 10, w1);
    w.poke(w1, &[2]);
    assert_eq!(w.c(K_SYS_RGN_DUP, p2, p1, 0), Ok(0));
    clone_in(&mut w, 11, w2);
    assert_eq!(
        (w.peek(a, 1), w.peek(w1, 1), w.peek(w2, 1)),
        (vec![1], vec![2], vec![2])
    );
    w.poke(w1, &[3]);
    w.poke(a, &[4]);
    assert_eq!(w.peek(w2, 1), [2]);
    w.poke(w2, &[5]);
    assert_eq!((w.peek(a, 1), w.peek(w1, 1)), (vec![4], vec![3]));
    free(&mut w, w1);
    free(&mut w, w2);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    clone_in(&mut w, 11, w2);
    assert_eq!(w.peek(w2, 1), [5]);
    free(&mut w, w2);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 11, 0, 0), OK);
    free(&mut w, a);
    let end = w.memstat();
    assert_eq!(
        (end.user_frames, end.table_frames, end.committed_frames),
        (base.user_frames, base.table_frames, base.committed_frames)
    );
}

/// The heap-exhaustion attack on snapshot chains, through system calls: a
/// region cut into N pieces, then, again and again, a write and an RGN_DUP
/// (flags 0: only the first piece inherits) whose copy MCLONE keeps alive in
/// a third process. Each copy used to add one frozen level repeating the N
/// reference intervals (N × ~40 bytes of kernel heap per call, without
/// bound); chains are now capped, so the intervals stay near 3N.
#[test]
fn repeated_copies_of_fragmented_memory_keep_kernel_heap_bounded() {
    const N: u64 = 300;
    const LEVELS: u64 = 40;
    let mut w = World::boot();
    let r = 0x1000_0000;
    let d = S + 0x100;
    // Nothing of init inherits, but the first piece of the region.
    let base = abi::layout::USER_BASE;
    w.put(d, &desc(base, USER_LIMIT - base, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, d, 0), Ok(0));
    w.put(d, &desc(r, 2 * N * PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, d, 0), Ok(0));
    for i in 0..N {
        w.put(d, &desc(r + (2 * i + 1) * PAGE_SIZE, PAGE_SIZE, 0));
        assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, d, 0), Ok(0));
    }
    w.put(d, &desc(r, PAGE_SIZE, K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, d, 0), Ok(0));
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let cap = S + 0x200;
    w.cap_of(10, cap);
    let before = w.k.mem.reference_intervals();
    for level in 0..LEVELS {
        w.poke(r, &[level as u8]);
        assert_eq!(w.c(K_SYS_RGN_DUP, cap, K_MYACTOR, 0), Ok(0));
        w.put(
            S + 0x300,
            &MCloneArgs {
                src_addr: r,
                dest_addr: 0x2000_0000 + level * PAGE_SIZE,
                length: PAGE_SIZE,
                prot: JINUE_PROT_READ,
                _pad: 0,
            },
        );
        assert_eq!(w.j(JINUE_SYS_MCLONE, 10, 11, S + 0x300), OK);
        w.put(d, &desc(0, 0, K_FREEALL));
        assert_eq!(w.c(K_SYS_RGN_FREE, cap, d, 0), Ok(0));
        let now = w.k.mem.reference_intervals();
        assert!(
            now <= before + 3 * N as usize + 8 * (level as usize + 1),
            "level {level}: {now} reference intervals (from {before})"
        );
    }
    w.k.mem.check_invariants().unwrap();
    w.assert_teardown_restores_baseline();
}
