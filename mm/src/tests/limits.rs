//! region and object limits, RGN_STAT chunks, long copy chains and their bounds.

use super::*;

#[test]
fn region_limit_refuses_every_kind_of_growth_and_changes_nothing() {
    let mut m = memory(256);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 8 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    try_alloc(&mut m, a, 0x20000, 8 * PAGE, K_WRITABLE).unwrap();
    write(&mut m, a, 0x10000, 7);
    m.set_region_limit(2);
    assert_eq!(m.region_limit(), 2);
    assert_eq!(m.region_total(), 2);
    let before = snapshot(&m, &[a, b]);
    let check = |m: &Memory<SimPhys>, what: &str| {
        assert_eq!(snapshot(m, &[a, b]), before, "{what} changed something");
        m.check_invariants().unwrap();
    };
    assert_eq!(
        try_alloc(&mut m, b, 0x10000, PAGE, K_WRITABLE),
        Err(MmError::NoMemory)
    );
    check(&m, "RGN_ALLOCATE");
    assert_eq!(
        m.map_physical_raw(b, 0x10000, 0, 1, K_WRITABLE),
        Err(MmError::NoMemory)
    );
    check(&m, "map_physical");
    // A hole in the middle of a region makes two of one.
    assert_eq!(
        m.free_raw(a, 0x12000, PAGE).map(|_| ()),
        Err(MmError::NoMemory)
    );
    check(&m, "RGN_FREE (hole)");
    for cut in [(0x12000, PAGE), (0x10000, PAGE), (0x17000, 2 * PAGE)] {
        assert_eq!(
            m.set_protect_raw(a, cut.0, cut.1, 0).map(|_| ()),
            Err(MmError::NoMemory)
        );
        check(&m, "RGN_SET_PROTECT (cut)");
        assert_eq!(
            m.set_inherit_raw(a, cut.0, cut.1, K_INHERITSHARE),
            Err(MmError::NoMemory)
        );
        check(&m, "RGN_SET_INHERIT (cut)");
    }
    assert_eq!(
        m.clone_range_raw(a, b, 0x10000, 0x10000, PAGE, JINUE_PROT_READ)
            .map(|_| ()),
        Err(MmError::NoMemory)
    );
    check(&m, "MCLONE into another space");
    assert_eq!(
        m.clone_range_raw(a, a, 0x10000, 0x40000, 0x18000, JINUE_PROT_READ)
            .map(|_| ()),
        Err(MmError::NoMemory)
    );
    check(&m, "MCLONE within the space");
    assert_eq!(m.dup_raw(b, a, 0).map(|_| ()), Err(MmError::NoMemory));
    check(&m, "RGN_DUP");
    assert_eq!(
        m.dup_raw(b, a, K_INHERITSHARE).map(|_| ()),
        Err(MmError::NoMemory)
    );
    check(&m, "RGN_DUP share");

    // What does not add regions still works at the limit.
    m.set_protect_raw(a, 0x10000, 8 * PAGE, 0).unwrap();
    m.set_inherit_raw(a, 0x10000, 0x18000, K_INHERITSHARE)
        .unwrap();
    assert_eq!(read(&mut m, a, 0x10000), 7);
    // MCLONE replacing one region by one.
    m.clone_range_raw(a, a, 0x10000, 0x20000, 8 * PAGE, JINUE_PROT_READ)
        .unwrap();
    assert_eq!(m.region_total(), 2);
    // Freeing at an edge keeps the count; a freed region makes room.
    m.free_raw(a, 0x10000, PAGE).unwrap();
    m.free_raw(a, 0x27000, PAGE).unwrap();
    assert_eq!(m.region_total(), 2);
    m.free_raw(a, 0x20000, 7 * PAGE).unwrap();
    assert_eq!(m.region_total(), 1);
    m.set_protect_raw(a, 0x12000, PAGE, K_WRITABLE).unwrap_err();
    m.set_inherit_raw(a, 0x11000, PAGE, 0).unwrap();
    assert_eq!(m.region_total(), 2);
    m.check_invariants().unwrap();
    // Raising the limit lets everything through again.
    m.set_region_limit(usize::MAX);
    m.dup_raw(b, a, K_INHERITCOPY).unwrap();
    assert_eq!(m.region_total(), 4);
    m.destroy_space(a);
    m.destroy_space(b);
    assert_eq!(m.region_total(), 0);
    m.check_invariants().unwrap();
}

#[test]
fn region_limit_stops_mclone_doubling() {
    // The fuzz finding: MCLONE of [s, s+n) onto [s+n, s+2n) doubles the
    // regions at the cost of a few page tables.
    let mut m = memory(4096);
    let a = m.create_space().unwrap();
    let start = 0x1_0000_0000u64;
    try_alloc(&mut m, a, start, PAGE, K_WRITABLE).unwrap();
    let base = baseline(&m);
    m.set_region_limit(1000);
    let mut n = 1u64;
    let last = loop {
        let before = snapshot(&m, &[a]);
        match m.clone_range_raw(a, a, start, start + n * PAGE, n * PAGE, JINUE_PROT_READ) {
            Ok(_) => n *= 2,
            Err(e) => {
                assert_eq!(snapshot(&m, &[a]), before);
                break e;
            }
        }
    };
    assert_eq!(last, MmError::NoMemory);
    assert_eq!(n, 512);
    assert_eq!(m.region_total(), 512);
    m.check_invariants().unwrap();
    m.free_raw(a, start + PAGE, (n - 1) * PAGE).unwrap();
    assert_eq!(baseline(&m), base);
    m.destroy_space(a);
    assert_eq!(m.region_total(), 0);
    m.check_invariants().unwrap();
}

#[test]
fn stat_of_an_empty_range_is_empty_and_chunks_resume() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x10000, 4 * PAGE, K_WRITABLE).unwrap();
    m.set_inherit_raw(s, 0x11000, PAGE, K_INHERITSHARE).unwrap();
    m.set_inherit_raw(s, 0x13000, PAGE, K_INHERITSHARE).unwrap();
    // ABI §4.3: regions inside the range; an empty range holds none, even
    // at an unaligned address inside a region.
    for start in [0x10000, 0x10001, 0x11fff, 0x12800] {
        assert!(m.stat(s, start, 0).is_empty(), "{start:#x}");
        assert_eq!(m.stat_count_raw(s, start, 0), 0);
        assert!(m.stat_first_raw(s, start, 0, 10).is_empty());
    }
    // A non-empty unaligned range still counts the pages it touches.
    assert_eq!(m.stat(s, 0x10001, 1).len(), 1);
    assert_eq!(m.stat(s, 0x10fff, 2).len(), 2);
    // Chunks resumed from the end of the last entry give the whole list.
    let all = m.stat(s, 0x10800, 4 * PAGE);
    assert_eq!(all.len(), 4);
    assert_eq!(m.stat_count_raw(s, 0x10800, 4 * PAGE), 4);
    let end = 0x10800 + 4 * PAGE;
    let mut got = Vec::new();
    let mut at = 0x10800;
    loop {
        let part = m.stat_first_raw(s, at, end - at, 1);
        let Some(last) = part.last() else { break };
        at = last.startAddr + last.size;
        got.extend(part);
    }
    assert_eq!(got, all);
}

#[test]
fn object_limit_refuses_new_objects_and_changes_nothing() {
    let mut m = memory(256);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    let c = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 8 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    write(&mut m, a, 0x10000, 7);
    // Two regions of the same object: the copy snapshots it once.
    m.set_inherit_raw(a, 0x14000, PAGE, K_INHERITCOPY).unwrap();
    assert_eq!(m.object_total(), 1);
    m.set_object_limit(3);
    assert_eq!(m.object_limit(), 3);
    let before = snapshot(&m, &[a, b, c]);
    // The copy of 3 regions of one object with frames: 1 snapshot + 3 copies.
    assert_eq!(m.dup_raw(b, a, 0).map(|_| ()), Err(MmError::NoMemory));
    assert_eq!(snapshot(&m, &[a, b, c]), before);
    m.check_invariants().unwrap();
    // Sharing makes no object; MCLONE neither.
    m.dup_raw(b, a, K_INHERITSHARE).unwrap();
    m.clone_range_raw(a, c, 0x10000, 0x40000, 8 * PAGE, JINUE_PROT_READ)
        .unwrap();
    assert_eq!(m.object_total(), 1);
    m.set_object_limit(5);
    m.free_all(b);
    m.dup_raw(b, a, 0).unwrap();
    assert_eq!(m.object_total(), 5);
    assert_eq!(read(&mut m, b, 0x10000), 7);
    let before = snapshot(&m, &[a, b, c]);
    assert_eq!(
        try_alloc(&mut m, c, 0x80000, PAGE, K_WRITABLE),
        Err(MmError::NoMemory)
    );
    assert_eq!(
        m.map_physical_raw(c, 0x80000, 0, 1, K_WRITABLE),
        Err(MmError::NoMemory)
    );
    assert_eq!(snapshot(&m, &[a, b, c]), before);
    m.check_invariants().unwrap();
    for s in [a, b, c] {
        m.destroy_space(s);
    }
    assert_eq!((m.object_total(), m.region_total()), (0, 0));
    m.check_invariants().unwrap();
}

/// Thousands of successive private copies of an object written between
/// copies (snapshot levels capped at `MAX_CHAIN_DEPTH`, eager copies beyond)
/// are all released on a small stack, every counter back to its baseline.
#[test]
fn many_successive_copies_release_on_a_small_stack() {
    extern crate std;
    const COPIES: usize = 3000;
    let worker = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut m = memory(4 * COPIES + 4096);
            m.set_object_limit(4 * COPIES);
            m.set_region_limit(4 * COPIES);
            let base = m.memstat();
            let a = m.create_space().expect("space");
            let start = alloc(
                &mut m,
                a,
                0x10_0000,
                2 * PAGE,
                K_WRITABLE | abi::region::K_INHERITCOPY,
            );
            let mut copies = alloc::vec::Vec::new();
            for _ in 0..COPIES {
                // The source's own page makes every copy freeze a new level.
                m.write_user(a, start + PAGE, &[7]).expect("write page 1");
                let b = m.create_space().expect("space");
                m.dup_raw(b, a, abi::region::K_INHERITCOPY).expect("dup");
                // The copy keeps page 0 only, so page 1 of every snapshot
                // level is referenced by the level below alone.
                m.free_raw(b, start + PAGE, PAGE).expect("free page 1");
                copies.push(b);
            }
            // Releasing the source drops its page 1, then each copy its own.
            m.destroy_space(a);
            m.check_invariants().expect("invariants");
            for b in copies {
                m.destroy_space(b);
            }
            m.check_invariants().expect("invariants");
            let end = m.memstat();
            assert_eq!(
                (end.user_frames, end.table_frames, end.committed_frames),
                (base.user_frames, base.table_frames, base.committed_frames)
            );
            assert_eq!(m.object_count(), 0);
        })
        .expect("spawn");
    worker.join().expect("copies released on a 64 KiB stack");
}

/// RGN_STAT's resident count after many copies of written memory (snapshot
/// levels up to the cap, eager copies beyond): equal to a lookup per page,
/// at every window alignment, though computed a chunk at a time.
#[test]
fn resident_count_under_a_deep_chain() {
    const DEPTH: u64 = 600;
    const NPAGES: u64 = 3 * 512 + 100;
    let mut m = memory((4 * DEPTH + 2 * NPAGES + 4096) as usize);
    let a = m.create_space().expect("space");
    let start = alloc(
        &mut m,
        a,
        0x40_0000 - 37 * PAGE,
        NPAGES * PAGE,
        K_WRITABLE | abi::region::K_INHERITCOPY,
    );
    let mut copies = alloc::vec::Vec::new();
    for level in 0..DEPTH {
        // A page written at this level (scattered over the region, some
        // twice), frozen into a new snapshot by the copy below.
        let page = (level * 97) % NPAGES;
        m.write_user(a, start + page * PAGE, &[level as u8])
            .expect("write");
        let b = m.create_space().expect("space");
        m.dup_raw(b, a, abi::region::K_INHERITCOPY).expect("dup");
        // The copy keeps its first page only, which holds every level.
        m.free_raw(b, start + PAGE, (NPAGES - 1) * PAGE)
            .expect("free");
        copies.push(b);
    }
    let (_, region) = m.spaces[&a].find(start).expect("region");
    let obj = region.obj;
    let per_page = |from: u64, to: u64| {
        (from..to)
            .filter(|&i| m.objects.lookup(obj, i).is_some())
            .count() as u64
    };
    for (from, to) in [
        (0, NPAGES),
        (1, NPAGES - 1),
        (511, 513),
        (512, 1024),
        (97, 98),
        (1000, 1001),
    ] {
        assert_eq!(
            m.objects.resident_npages(obj, from, to),
            per_page(from, to),
            "[{from}, {to})"
        );
    }
    let st = m.stat(a, start, NPAGES * PAGE);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].resident, per_page(0, NPAGES));
    assert_eq!(m.stat_count_raw(a, start, NPAGES * PAGE), 1);
    m.check_invariants().expect("invariants");
}

/// Reference intervals cannot pile up through a snapshot chain. A region cut
/// into N pieces (holes between them) gives its object N intervals, and each
/// frozen level above repeats them: a source copied again and again after a
/// write made one more level per copy (one region and two objects each),
/// N more intervals of kernel heap per level without bound. Chains now stop
/// at `MAX_CHAIN_DEPTH`; deeper copies take the written pages eagerly.
#[test]
fn fragmented_memory_copied_repeatedly_keeps_reference_counts_bounded() {
    const { assert!(crate::object::MAX_CHAIN_DEPTH <= 3, "the bound below") };
    const N: u64 = 300;
    const LEVELS: u64 = 60;
    let mut m = memory(4096);
    let base_stat = m.memstat();
    let a = m.create_space().expect("space");
    let base = 0x100_0000;
    alloc(&mut m, a, base, 2 * N * PAGE, K_WRITABLE);
    for i in 0..N {
        m.free_raw(a, base + (2 * i + 1) * PAGE, PAGE)
            .expect("hole");
    }
    m.set_inherit_raw(a, base, PAGE, abi::region::K_INHERITCOPY)
        .expect("inherit");
    let holder = m.create_space().expect("space");
    let intervals = |m: &Memory<SimPhys>| -> usize {
        m.objects
            .iter()
            .map(|(_, o)| o.refs.intervals().count())
            .sum()
    };
    for level in 0..LEVELS {
        // A write, then a copy of the first piece kept alive by `holder`.
        m.write_user(a, base, &[level as u8]).expect("write");
        let b = m.create_space().expect("space");
        m.dup_raw(b, a, 0).expect("dup");
        m.clone_range_raw(b, holder, base, 0x1000_0000 + level * PAGE, PAGE, 1)
            .expect("keep the copy");
        m.destroy_space(b);
        m.check_invariants().expect("invariants");
        // The object and at most MAX_CHAIN_DEPTH frozen levels repeat the
        // N pieces (3N); without the cap it grew by N per level.
        let bound = 4 * N as usize + 4 * (level as usize + 1);
        assert!(
            intervals(&m) <= bound,
            "level {level}: {} intervals (bound {bound})",
            intervals(&m)
        );
    }
    // Every copy still reads the value written just before it.
    for level in 0..LEVELS {
        let mut byte = [0u8];
        m.read_user(holder, 0x1000_0000 + level * PAGE, &mut byte)
            .expect("read");
        assert_eq!(byte[0], level as u8);
    }
    m.destroy_space(a);
    m.destroy_space(holder);
    m.check_invariants().expect("invariants");
    let end = m.memstat();
    assert_eq!(
        (end.user_frames, end.table_frames, end.committed_frames),
        (
            base_stat.user_frames,
            base_stat.table_frames,
            base_stat.committed_frames
        )
    );
    assert_eq!(m.object_count(), 0);
}
