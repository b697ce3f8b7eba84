//! MCLONE (ABI §3.1), RGN_DUP (§4.4), physical memory, unknown spaces.

use super::*;

#[test]
fn mclone_shares_memory_both_ways_including_untouched_pages() {
    let (mut m, a, b) = two_spaces(4, K_INHERITCOPY);
    write(&mut m, a, 0x10000, 1);
    m.clone_range_raw(
        a,
        b,
        0x10000,
        0x40000,
        4 * PAGE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    )
    .unwrap();
    m.check_invariants().unwrap();
    assert_eq!(read(&mut m, b, 0x40000), 1);
    write(&mut m, b, 0x40000, 2);
    assert_eq!(read(&mut m, a, 0x10000), 2);
    // Untouched page, first touched through either side.
    write(&mut m, b, 0x41000, 3);
    assert_eq!(read(&mut m, a, 0x11000), 3);
    assert_eq!(read(&mut m, a, 0x12000), 0);
    write(&mut m, a, 0x12000, 4);
    assert_eq!(read(&mut m, b, 0x42000), 4);
    let st = m.stat(b, 0, USER_LIMIT);
    assert_eq!(
        (st[0].startAddr, st[0].size, st[0].options),
        (0x40000, 4 * PAGE, K_WRITABLE | K_INHERITCOPY)
    );
    assert_eq!(m.memstat().user_frames, 3, "no data copied");
}

#[test]
fn mclone_keeps_boundaries_inherit_and_makes_holes() {
    let mut m = memory(256);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, PAGE, K_WRITABLE | K_INHERITSHARE).unwrap();
    try_alloc(&mut m, a, 0x12000, 2 * PAGE, K_WRITABLE).unwrap();
    try_alloc(&mut m, b, 0x20000, 8 * PAGE, K_WRITABLE).unwrap();
    for i in 0..8 {
        write(&mut m, b, 0x20000 + i * PAGE, 9);
    }
    let user_before = m.memstat().user_frames;
    let flush = m
        .clone_range_raw(a, b, 0x10000, 0x21000, 4 * PAGE, JINUE_PROT_EXEC)
        .unwrap();
    assert!(flush.covers(b, 0x21000) && flush.covers(b, 0x24000) && !flush.covers(b, 0x25000));
    let st: Vec<_> = m
        .stat(b, 0, USER_LIMIT)
        .iter()
        .map(|r| (r.startAddr, r.size, r.options))
        .collect();
    assert_eq!(
        st,
        [
            (0x20000, PAGE, K_WRITABLE),
            (0x21000, PAGE, K_EXECUTABLE | K_INHERITSHARE),
            (0x23000, 2 * PAGE, K_EXECUTABLE),
            (0x25000, 3 * PAGE, K_WRITABLE),
        ]
    );
    assert_eq!(
        m.resolve_fault(b, 0x22000, Access::Read),
        FaultOutcome::Violation,
        "a hole"
    );
    assert_eq!(
        m.memstat().user_frames,
        user_before - 4,
        "replaced memory released"
    );
    m.clone_range_raw(a, b, 0x10000, 0x30000, PAGE, JINUE_PROT_NONE)
        .unwrap();
    assert_eq!(
        m.stat(b, 0x30000, PAGE)[0].options,
        K_NOACCESS | K_INHERITSHARE
    );
    assert_eq!(
        m.resolve_fault(b, 0x30000, Access::Read),
        FaultOutcome::Violation
    );
    m.check_invariants().unwrap();
}

#[test]
fn mclone_errors_and_zero_length() {
    let (mut m, a, b) = two_spaces(4, 0);
    let before = baseline(&m);
    let inval = Err(MmError::InvalidArgument);
    assert_eq!(m.clone_range_raw(a, b, 0x10001, 0x40000, PAGE, 1), inval);
    assert_eq!(m.clone_range_raw(a, b, 0x10000, 0x40000, 100, 1), inval);
    assert_eq!(m.clone_range_raw(a, b, 0x10000, 0x40000, PAGE, 8), inval);
    assert_eq!(
        m.clone_range_raw(a, b, 0x10000, 0, PAGE, 1),
        inval,
        "page 0"
    );
    assert_eq!(
        m.clone_range_raw(a, b, 0x10000, USER_LIMIT - PAGE, 2 * PAGE, 1),
        inval
    );
    assert_eq!(
        m.clone_range_raw(a, b, 0x10000, 0x40000, 0, 1),
        Ok(Flush::new())
    );
    assert_eq!(baseline(&m), before);
    assert_eq!(m.region_count(b), 0);
}

#[test]
fn mclone_is_all_or_nothing_on_no_memory() {
    let mut m = memory(12);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 2 * PAGE, K_WRITABLE).unwrap();
    write(&mut m, a, 0x10000, 1);
    try_alloc(&mut m, b, 0x10000, PAGE, K_WRITABLE).unwrap();
    // 12 - 2 PML4 - 3 + 2 (a) - 3 + 1 (b) = 1 frame left; a far clone needs 3 tables.
    let before = baseline(&m);
    assert_eq!(
        m.clone_range_raw(a, b, 0x10000, 0x4000_0000_0000, 2 * PAGE, JINUE_PROT_READ),
        Err(MmError::NoMemory)
    );
    assert_eq!(baseline(&m), before);
    assert_eq!(m.region_count(b), 1);
    m.check_invariants().unwrap();
}

#[test]
fn mclone_overlapping_in_one_space_reads_source_first() {
    let mut m = memory(128);
    let a = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 4 * PAGE, K_WRITABLE).unwrap();
    for i in 0..4 {
        write(&mut m, a, 0x10000 + i * PAGE, 10 + i as u8);
    }
    m.clone_range_raw(
        a,
        a,
        0x10000,
        0x12000,
        4 * PAGE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    )
    .unwrap();
    m.check_invariants().unwrap();
    let got: Vec<u8> = (0..6)
        .map(|i| read(&mut m, a, 0x10000 + i * PAGE))
        .collect();
    assert_eq!(got, [10, 11, 10, 11, 12, 13]);
    write(&mut m, a, 0x12000, 50);
    assert_eq!(
        read(&mut m, a, 0x10000),
        50,
        "pages 0 and 2 are the same memory"
    );
    m.free_all(a);
    assert_eq!(m.memstat().user_frames, 0);
    m.check_invariants().unwrap();
}

#[test]
fn dup_checks_flags_and_empty_target() {
    let (mut m, a, b) = two_spaces(2, 0);
    assert_eq!(m.dup_raw(b, a, K_WRITABLE), Err(MmError::InvalidArgument));
    assert_eq!(
        m.dup_raw(b, a, K_INHERITCOPY | K_INHERITSHARE),
        Err(MmError::InvalidArgument)
    );
    assert_eq!(
        m.dup_raw(a, b, 0),
        Err(MmError::Overlap),
        "target not empty"
    );
    assert_eq!(m.dup_raw(a, a, K_INHERITCOPY), Err(MmError::Overlap));
    let c = m.create_space().unwrap();
    assert_eq!(m.dup_raw(c, c, 0), Ok(Flush::new()));
    // flags 0: a region with no inherit bit is not duplicated.
    m.dup_raw(b, a, 0).unwrap();
    assert_eq!(m.region_count(b), 0);
}

#[test]
fn dup_copy_is_a_snapshot_and_share_is_shared() {
    let mut m = memory(256);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 2 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    try_alloc(&mut m, a, 0x20000, 2 * PAGE, K_WRITABLE | K_INHERITSHARE).unwrap();
    try_alloc(&mut m, a, 0x30000, PAGE, K_WRITABLE).unwrap();
    write(&mut m, a, 0x10000, 1);
    write(&mut m, a, 0x20000, 2);
    let flush = m.dup_raw(b, a, 0).unwrap();
    assert!(
        flush.covers(a, 0x10000),
        "write-protecting the source needs a flush"
    );
    m.check_invariants().unwrap();
    let st: Vec<_> = m
        .stat(b, 0, USER_LIMIT)
        .iter()
        .map(|r| (r.startAddr, r.options, r.opaque2, r.resident))
        .collect();
    assert_eq!(
        st,
        [
            (0x10000, K_WRITABLE | K_INHERITCOPY, 22, 1),
            (0x20000, K_WRITABLE | K_INHERITSHARE, 22, 1)
        ]
    );
    assert_eq!(read(&mut m, b, 0x10000), 1);
    write(&mut m, a, 0x10000, 3);
    write(&mut m, a, 0x11000, 4);
    assert_eq!(
        read(&mut m, b, 0x10000),
        1,
        "source writes invisible to the copy"
    );
    assert_eq!(read(&mut m, b, 0x11000), 0);
    write(&mut m, b, 0x10000, 5);
    assert_eq!(
        read(&mut m, a, 0x10000),
        3,
        "copy writes invisible to the source"
    );
    write(&mut m, b, 0x21000, 6);
    assert_eq!(read(&mut m, a, 0x21000), 6, "shared region");
    write(&mut m, a, 0x20000, 7);
    assert_eq!(read(&mut m, b, 0x20000), 7);
    let empty_b = m.destroy_space(b);
    assert!(!empty_b.is_empty());
    m.check_invariants().unwrap();
    assert_eq!(
        m.object_count(),
        3,
        "the snapshot merged back into the source"
    );
    assert_eq!(read(&mut m, a, 0x10000), 3);
}

#[test]
fn private_copy_of_shared_memory_is_a_snapshot_and_sharing_survives() {
    // a and c share an object through MCLONE; b gets a private copy from a.
    let mut m = memory(256);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    let c = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 3 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    write(&mut m, a, 0x10000, 1);
    m.clone_range_raw(a, c, 0x10000, 0x50000, 3 * PAGE, JINUE_PROT_WRITE)
        .unwrap();
    assert_eq!(read(&mut m, c, 0x50000), 1, "c maps the page now");
    let flush = m.dup_raw(b, a, 0).unwrap();
    assert!(
        flush.covers(c, 0x50000),
        "every mapping of the object is write-protected"
    );
    m.check_invariants().unwrap();
    write(&mut m, c, 0x50000, 2);
    assert_eq!(
        read(&mut m, a, 0x10000),
        2,
        "a and c still share after a COW break"
    );
    assert_eq!(read(&mut m, b, 0x10000), 1, "b keeps the snapshot");
    write(&mut m, c, 0x51000, 3);
    assert_eq!(
        read(&mut m, a, 0x11000),
        3,
        "first touch after the copy is shared"
    );
    assert_eq!(read(&mut m, b, 0x11000), 0);
    write(&mut m, b, 0x12000, 4);
    assert_eq!(read(&mut m, a, 0x12000), 0);
    assert_eq!(read(&mut m, c, 0x52000), 0);
    // A private copy in a, cloned to another space, stays shared through COW.
    let d = m.create_space().unwrap();
    m.clone_range_raw(b, d, 0x10000, 0x10000, 3 * PAGE, JINUE_PROT_WRITE)
        .unwrap();
    write(&mut m, d, 0x10000, 8);
    assert_eq!(read(&mut m, b, 0x10000), 8);
    assert_eq!(read(&mut m, a, 0x10000), 2);
    for s in [a, b, c, d] {
        m.destroy_space(s);
        m.check_invariants().unwrap();
    }
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
}

#[test]
fn dup_share_and_copy_flags_override_inherit_bits() {
    let (mut m, a, b) = two_spaces(2, 0);
    write(&mut m, a, 0x10000, 1);
    m.dup_raw(b, a, K_INHERITSHARE).unwrap();
    write(&mut m, b, 0x10000, 2);
    assert_eq!(read(&mut m, a, 0x10000), 2);
    let c = m.create_space().unwrap();
    m.dup_raw(c, a, K_INHERITCOPY).unwrap();
    write(&mut m, c, 0x10000, 3);
    assert_eq!(read(&mut m, a, 0x10000), 2);
    assert_eq!(read(&mut m, b, 0x10000), 2);
    write(&mut m, b, 0x10000, 4);
    assert_eq!(read(&mut m, c, 0x10000), 3);
    m.check_invariants().unwrap();
}

#[test]
fn dup_is_all_or_nothing_on_no_memory() {
    let mut m = memory(24);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 8 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    for i in 0..8 {
        write(&mut m, a, 0x10000 + i * PAGE, 1);
    }
    // 24 - 2 - 3 - 8 = 11 left; a copy promises 8 + 8 and 3 tables.
    let before = baseline(&m);
    assert_eq!(m.dup_raw(b, a, 0), Err(MmError::NoMemory));
    assert_eq!(baseline(&m), before);
    assert_eq!(m.region_count(b), 0);
    m.check_invariants().unwrap();
    // Sharing needs only tables.
    m.dup_raw(b, a, K_INHERITSHARE).unwrap();
    m.check_invariants().unwrap();
}

#[test]
fn copy_on_write_faults_never_fail_after_dup() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 8 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    for i in 0..8 {
        write(&mut m, a, 0x10000 + i * PAGE, i as u8);
    }
    m.dup_raw(b, a, 0).unwrap();
    for i in 0..8 {
        write(&mut m, a, 0x10000 + i * PAGE, 100 + i as u8);
        write(&mut m, b, 0x10000 + i * PAGE, 200 + i as u8);
    }
    for i in 0..8 {
        assert_eq!(read(&mut m, a, 0x10000 + i * PAGE), 100 + i as u8);
        assert_eq!(read(&mut m, b, 0x10000 + i * PAGE), 200 + i as u8);
    }
    // The second writer took the snapshot's frame: 16 frames, no more.
    assert_eq!(m.memstat().user_frames, 16);
    m.destroy_space(b);
    m.destroy_space(a);
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
}

#[test]
fn lazy_pde_write_protection_is_pushed_down_on_first_write() {
    let mut m = memory(2048);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x20_0000, 512 * PAGE, K_WRITABLE).unwrap();
    write(&mut m, a, 0x20_0000, 1);
    write(&mut m, a, 0x20_1000, 2);
    m.dup_raw(b, a, K_INHERITCOPY).unwrap();
    assert!(!leaf(&m, a, 0x20_0000).1, "PDE R/W cleared");
    assert_ne!(leaf(&m, a, 0x20_1000).0 & 2, 0, "PTE untouched");
    write(&mut m, a, 0x20_0000, 3);
    assert!(leaf(&m, a, 0x20_0000).1);
    assert_eq!(
        leaf(&m, a, 0x20_1000).0 & 2,
        0,
        "protection pushed into the PTE"
    );
    assert_eq!(read(&mut m, b, 0x20_1000), 2);
    write(&mut m, a, 0x20_1000, 4);
    assert_eq!(read(&mut m, b, 0x20_1000), 2);
}

#[test]
fn physical_memory_is_shared_even_under_copy() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    let device = crate::sim::SIM_BASE + 60 * PAGE;
    assert_eq!(
        m.map_physical_raw(a, 0x1001, device, 1, 0),
        Err(MmError::InvalidArgument)
    );
    m.map_physical_raw(a, 0x10000, device, 2, K_WRITABLE | K_INHERITCOPY)
        .unwrap();
    assert_eq!(
        m.map_physical_raw(a, 0x11000, device, 1, 0),
        Err(MmError::Overlap)
    );
    write(&mut m, a, 0x10000, 1);
    assert_eq!(m.phys().read_u64(device) & 0xff, 1);
    m.dup_raw(b, a, 0).unwrap();
    write(&mut m, b, 0x11000, 2);
    assert_eq!(read(&mut m, a, 0x11000), 2);
    assert_eq!(m.stat(b, 0, USER_LIMIT)[0].resident, 2);
    assert_eq!(
        m.memstat().user_frames,
        0,
        "device memory is not pool memory"
    );
    m.check_invariants().unwrap();
    m.destroy_space(a);
    m.destroy_space(b);
    assert_eq!(m.memstat().table_frames, 0);
}

#[test]
fn repeated_forks_keep_chains_short_and_memory_bounded() {
    let mut m = memory(512);
    let a = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, 4 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    for round in 0..20u8 {
        write(&mut m, a, 0x10000, round);
        let child = m.create_space().unwrap();
        m.dup_raw(child, a, 0).unwrap();
        write(&mut m, child, 0x11000, round);
        assert_eq!(read(&mut m, child, 0x10000), round);
        m.destroy_space(child);
        m.check_invariants().unwrap();
        assert_eq!(m.object_count(), 1);
    }
    assert_eq!(m.memstat().user_frames, 1);
}

#[test]
fn unknown_spaces_are_rejected() {
    let mut m = memory(16);
    let a = m.create_space().unwrap();
    m.destroy_space(a);
    assert_eq!(m.free_raw(a, 0x1000, PAGE), Err(MmError::InvalidArgument));
    assert_eq!(
        try_alloc(&mut m, a, 0x1000, PAGE, 0),
        Err(MmError::InvalidArgument)
    );
    assert_eq!(
        m.resolve_fault(a, 0x1000, Access::Read),
        FaultOutcome::Violation
    );
    assert_eq!(m.read_user(a, 0x1000, &mut [0]), Err(MmError::BadAddress));
    assert!(m.stat(a, 0, USER_LIMIT).is_empty());
    assert_eq!(m.region_count(a), 0);
    assert!(m.destroy_space(a).is_empty());
    let v = vec![0u8; 1];
    assert_eq!(m.write_user(a, 0x1000, &v), Err(MmError::BadAddress));
}
