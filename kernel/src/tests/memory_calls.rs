//! The Ferrite memory calls: regions (RGN_ALLOCATE, RGN_FREE, RGN_INIT,
//! RGN_STAT, ...), MCLONE's error order, and the region limit.

use super::harness::{desc, World, DATA, DATA_LEN, KERNEL_ADDR, OK, S, TEXT};
use abi::errors::*;
use abi::layout::{PAGE_SIZE, USER_LIMIT};
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{JinueBuffer, KnRgnDesc, KnRgnStat, MCloneArgs, MintArgs};
use std::vec;

#[test]
fn region_calls() {
    let mut w = World::boot();
    let r = S + 0x100;
    let base = 0x100_0000;
    w.put(r, &desc(base + 1, PAGE_SIZE, K_WRITABLE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "misaligned"
    );
    w.put(r, &desc(base, 0, K_WRITABLE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "size 0"
    );
    w.put(r, &desc(base, PAGE_SIZE, K_NOACCESS));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "option"
    );
    w.put(r, &desc(base, PAGE_SIZE, K_INHERITCOPY | K_INHERITSHARE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "two inherit bits"
    );
    w.put(r, &desc(DATA, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Err(K_EOVERLAP));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, KERNEL_ADDR, 0),
        Err(K_EFAULT)
    );
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, TEXT, 0),
        Err(K_EINVAL),
        "text holds garbage options"
    );

    let m0 = w.memstat();
    w.put(
        r,
        &desc(base, 3 * PAGE_SIZE - 5, K_WRITABLE | K_INHERITSHARE),
    );
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.poke(base + 10, b"x");
    assert_eq!(w.peek(base + 10, 1), b"x");
    // K_ANYWHERE writes the chosen address back; a read-only descriptor is refused first.
    w.put(r, &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    let got: KnRgnDesc = w.get(r);
    assert!(got.startAddr >= 0x1000 && got.startAddr.is_multiple_of(PAGE_SIZE));
    // A read-only descriptor with K_ANYWHERE: K_EFAULT, and nothing allocated.
    let ro = 0x300_0000;
    w.put(r, &desc(ro, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.put(ro, &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE));
    w.put(r, &desc(ro, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Ok(0));
    let regions = w.k.mem.region_count(w.space());
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, ro, 0), Err(K_EFAULT));
    assert_eq!(w.k.mem.region_count(w.space()), regions);
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(got.startAddr, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));

    // STAT: count all, write what fits.
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 47,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(1));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 48,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(1));
    let st: KnRgnStat = w.get(S + 0x300);
    assert_eq!(
        (st.startAddr, st.size, st.options),
        (base, 3 * PAGE_SIZE, K_WRITABLE | K_INHERITSHARE)
    );
    assert_eq!(st.resident, 1);
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: TEXT,
            size: 48,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Err(K_EFAULT));

    // SET_PROTECT / SET_INHERIT cut at the range edges; bad bits are refused.
    w.put(r, &desc(base + PAGE_SIZE, PAGE_SIZE, K_NOACCESS));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(base + PAGE_SIZE, PAGE_SIZE, K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Err(K_EINVAL));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(base, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Err(K_EINVAL));
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    assert_eq!(
        w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200),
        Err(K_EFAULT),
        "buffer still read-only"
    );
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 48 * 4,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(3));
    let mid: KnRgnStat = w.get(S + 0x300 + 48);
    assert_eq!(
        (mid.startAddr, mid.options),
        (base + PAGE_SIZE, K_NOACCESS | K_INHERITCOPY)
    );

    // FREE: options must be 0 or K_FREEALL.
    w.put(r, &desc(base, 3 * PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Err(K_EINVAL));
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    let m1 = w.memstat();
    assert_eq!(
        (m1.user_frames, m1.committed_frames),
        (m0.user_frames, m0.committed_frames)
    );
}

#[test]
fn mclone_error_order() {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    // 11: a MAP-less copy of 10; 12: a thread.
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 11,
            perms: JINUE_PERM_OPEN as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 10, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 12, 0, 0), OK);
    let a = S + 0x100;
    let args = |src: u64, dst: u64, len: u64, prot: i32| MCloneArgs {
        src_addr: src,
        dest_addr: dst,
        length: len,
        prot,
        _pad: 0,
    };
    let good = args(
        DATA,
        0x80_0000,
        2 * PAGE_SIZE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    );
    let mc = |w: &mut World, src: u64, dst: u64, a: MCloneArgs| {
        w.put(S + 0x100, &a);
        w.j(JINUE_SYS_MCLONE, src, dst, S + 0x100)
    };
    // 1. descriptor values, before the structure is even read.
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 1024, 10, KERNEL_ADDR),
        Err(JINUE_EBADF)
    );
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 0, u64::MAX, KERNEL_ADDR),
        Err(JINUE_EBADF)
    );
    // 2. the structure.
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 500, 501, KERNEL_ADDR),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 500, 501, 0x20_0000),
        Err(JINUE_EINVAL)
    );
    // 3. alignment, before prot and descriptors.
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA + 1, 0x80_0000, 0, 99)),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA, 0x80_0000, 5, 0)),
        Err(JINUE_EINVAL)
    );
    // 4. prot.
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA, 0x80_0000, 0, 8)),
        Err(JINUE_EINVAL)
    );
    // 5. ranges in the kernel, before descriptor contents.
    assert_eq!(
        mc(&mut w, 500, 501, args(0, 0x80_0000, PAGE_SIZE, 1)),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(
            &mut w,
            500,
            501,
            args(DATA, USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE, 1)
        ),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(
            &mut w,
            500,
            501,
            args(u64::MAX - 0xfff, DATA, 2 * PAGE_SIZE, 1)
        ),
        Err(JINUE_EINVAL)
    );
    // 6. source: free, not a process.
    assert_eq!(mc(&mut w, 500, 501, good), Err(JINUE_EBADF));
    assert_eq!(mc(&mut w, 12, 501, good), Err(JINUE_EBADF));
    // 7. destination.
    assert_eq!(mc(&mut w, 0, 501, good), Err(JINUE_EBADF));
    assert_eq!(mc(&mut w, 0, 1, good), Err(JINUE_EBADF));
    // 8. MAP on the destination only.
    assert_eq!(mc(&mut w, 0, 11, good), Err(JINUE_EPERM));
    assert_eq!(mc(&mut w, 11, 10, good), OK);
    // Dead processes are EIO (6 before 7 before 8).
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 20, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 20, 0, 0), OK);
    assert_eq!(mc(&mut w, 20, 501, good), Err(JINUE_EIO));
    assert_eq!(mc(&mut w, 0, 20, good), Err(JINUE_EIO));
    // length 0 succeeds; same process and overlapping ranges are allowed.
    assert_eq!(mc(&mut w, 0, 0, args(DATA, 0x90_0000, 0, 0)), OK);
    w.poke(DATA + 0x3000, b"shared");
    assert_eq!(
        mc(&mut w, 0, 0, args(DATA + 0x3000, 0x90_0000, PAGE_SIZE, 3)),
        OK
    );
    assert_eq!(w.peek(0x90_0000, 6), b"shared");
    w.poke(0x90_0000, b"SHARED");
    assert_eq!(w.peek(DATA + 0x3000, 6), b"SHARED");
    let _ = a;
}

/// MCLONE doubling (the fuzz finding), the region limit's errors, and
/// RGN_STAT over more regions than its bounded kernel buffer holds.
#[test]
fn region_limit_and_long_region_stat() {
    let mut w = World::boot();
    let mc = |w: &mut World, src: u64, dst: u64, len: u64| {
        let a = MCloneArgs {
            src_addr: src,
            dest_addr: dst,
            length: len,
            prot: JINUE_PROT_READ,
            _pad: 0,
        };
        w.put(S + 0x100, &a);
        w.j(JINUE_SYS_MCLONE, 0, 0, S + 0x100)
    };
    let base = 0x1000_0000;
    let r = S + 0x200;
    w.put(r, &desc(base, PAGE_SIZE, K_WRITABLE));
    assert!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0).is_ok());
    let mut n = 1;
    while n < 512 {
        assert_eq!(mc(&mut w, base, base + n * PAGE_SIZE, n * PAGE_SIZE), OK);
        n *= 2;
    }

    // RGN_STAT of 512 regions: more than one part of the kernel's buffer.
    let buf = DATA + 0x4000;
    let stat = |w: &mut World, start: u64, size: u64, addr: u64, entries: u64| {
        w.put(r, &desc(start, size, 0));
        w.put(
            S + 0x300,
            &JinueBuffer {
                addr,
                size: 48 * entries,
            },
        );
        w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x300)
    };
    let poison = vec![0xa5u8; 512 * 48];
    w.poke(buf, &poison);
    assert_eq!(stat(&mut w, base, 512 * PAGE_SIZE, buf, 300), Ok(512));
    for i in 0..300 {
        let st: KnRgnStat = w.get(buf + 48 * i);
        assert_eq!((st.startAddr, st.size), (base + i * PAGE_SIZE, PAGE_SIZE));
    }
    assert_eq!(
        w.peek(buf + 300 * 48, 48),
        vec![0xa5u8; 48],
        "only what fits"
    );
    assert_eq!(
        stat(&mut w, base + 0x10, 600 * PAGE_SIZE, buf, 512),
        Ok(512)
    );
    for i in [0, 255, 256, 257, 511] {
        let st: KnRgnStat = w.get(buf + 48 * i);
        assert_eq!((st.startAddr, st.size), (base + i * PAGE_SIZE, PAGE_SIZE));
    }
    // A buffer whose end is not writable: K_EFAULT and nothing written.
    w.poke(buf, &poison);
    let late = DATA + DATA_LEN - 48 * 100;
    w.poke(late, &[0xa5; 48]);
    assert_eq!(
        stat(&mut w, base, 512 * PAGE_SIZE, late, 512),
        Err(K_EFAULT)
    );
    assert_eq!(w.peek(late, 48), vec![0xa5u8; 48]);
    // An empty range holds no region, even at an unaligned address inside one.
    assert_eq!(stat(&mut w, base + 0x10, 0, buf, 512), Ok(0));
    assert_eq!(w.peek(buf, 48), vec![0xa5u8; 48]);

    // At the region limit: the documented out-of-memory errors, nothing changed.
    let regions = w.k.mem.region_total();
    w.k.mem.set_region_limit(regions + 100);
    assert_eq!(
        mc(&mut w, base, base + 512 * PAGE_SIZE, 512 * PAGE_SIZE),
        Err(JINUE_ENOMEM)
    );
    assert_eq!(w.k.mem.region_total(), regions);
    w.k.mem.set_region_limit(regions);
    w.put(r, &desc(0x2000_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Err(K_ENOMEM));
    w.put(r, &desc(DATA + PAGE_SIZE, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.k.mem.region_total(), regions);
    // Freeing whole regions makes room again.
    w.put(r, &desc(base, 256 * PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    assert_eq!(w.k.mem.region_total(), regions - 256);
    assert_eq!(
        mc(&mut w, base + 256 * PAGE_SIZE, base, 256 * PAGE_SIZE),
        OK
    );
    assert_eq!(w.k.mem.region_total(), regions);
    w.k.mem.check_invariants().unwrap();
}

/// RGN_STAT and MEMSTAT check the whole output buffer they are given before
/// anything else (ABI §1.2), even when they would write nothing into it:
/// RGN_STAT answers `K_EFAULT`, MEMSTAT `JINUE_EINVAL`, and nothing is
/// written. An empty buffer is never refused.
#[test]
fn output_buffers_are_checked_whole_first() {
    let mut w = World::boot();
    let r = S + 0x100;
    let b = S + 0x200;
    let empty_range = desc(DATA, 0, 0);
    let one_region = desc(DATA, PAGE_SIZE, 0);
    let stat = |w: &mut World, range: &KnRgnDesc, addr: u64, size: u64| {
        w.put(r, range);
        w.put(b, &JinueBuffer { addr, size });
        w.c(K_SYS_RGN_STAT, K_MYACTOR, r, b)
    };
    // Nothing to write (empty range), but a bad buffer all the same.
    assert_eq!(stat(&mut w, &empty_range, KERNEL_ADDR, 48), Err(K_EFAULT));
    assert_eq!(stat(&mut w, &empty_range, 0, 48), Err(K_EFAULT), "NULL");
    assert_eq!(
        stat(&mut w, &empty_range, TEXT, 48),
        Err(K_EFAULT),
        "read-only"
    );
    assert_eq!(
        stat(&mut w, &one_region, S + 0x300, u64::MAX),
        Err(K_EFAULT)
    );
    // The first entry would fit in writable memory, the rest of the buffer is unmapped.
    let edge = DATA + DATA_LEN - 48;
    w.poke(edge, &[0xaa; 48]);
    assert_eq!(stat(&mut w, &one_region, edge, 96), Err(K_EFAULT));
    assert_eq!(w.peek(edge, 48), [0xaa; 48], "nothing written");
    // Pointers are checked before the capability is resolved.
    w.put(r, &one_region);
    w.put(b, &JinueBuffer { addr: 0, size: 48 });
    assert_eq!(w.c(K_SYS_RGN_STAT, K_SVACTOR, r, b), Err(K_EFAULT));
    // An empty buffer is never accessed, so never refused; a good one works.
    assert_eq!(stat(&mut w, &one_region, 0, 0), Ok(1));
    assert_eq!(stat(&mut w, &empty_range, S + 0x300, 48), Ok(0));
    assert_eq!(stat(&mut w, &one_region, S + 0x300, 4 * 48), Ok(1));

    // MEMSTAT: the whole [addr, addr + size), not only its first 48 bytes.
    assert_eq!(w.j(FERRITE_SYS_MEMSTAT, edge, 96, 0), Err(JINUE_EINVAL));
    assert_eq!(w.peek(edge, 48), [0xaa; 48], "nothing written");
    assert_eq!(
        w.j(FERRITE_SYS_MEMSTAT, S, u64::MAX, 0),
        Err(JINUE_EINVAL),
        "the end wraps"
    );
    assert_eq!(w.j(FERRITE_SYS_MEMSTAT, KERNEL_ADDR, 0, 0), OK);
    assert_eq!(
        w.j(FERRITE_SYS_MEMSTAT, S, 4096, 0),
        OK,
        "larger than 48 bytes"
    );
}
