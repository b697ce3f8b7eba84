//! RGN_ALLOCATE, faults, user copies, RGN_FREE, RGN_SET_* (ABI §4.3).

use super::*;

#[test]
fn smoke_allocate_write_read() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    alloc(&mut m, s, 0x1000, 0x2000, K_WRITABLE);
    m.write_user(s, 0x1ff0, b"hello, world!!").unwrap();
    let mut out = [0u8; 14];
    m.read_user(s, 0x1ff0, &mut out).unwrap();
    assert_eq!(&out, b"hello, world!!");
    match m.resolve_fault(s, 0x1000, Access::Write) {
        FaultOutcome::Resolved(flush) => assert!(flush.covers(s, 0x1000)),
        other => panic!("write to a writable region: {other:?}"),
    }
    assert_ne!(leaf(&m, s, 0x1000).0, 0);
    assert_eq!(
        m.resolve_fault(s, 0x3000, Access::Read),
        FaultOutcome::Violation
    );
    m.check_invariants().unwrap();
    m.destroy_space(s);
    m.check_invariants().unwrap();
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
}

#[test]
fn allocate_rejects_bad_arguments_in_abi_order() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    let inval = Err(MmError::InvalidArgument);
    assert_eq!(try_alloc(&mut m, s, 0x1000, PAGE, K_NOACCESS), inval);
    assert_eq!(try_alloc(&mut m, s, 0x1000, PAGE, K_FREEALL), inval);
    assert_eq!(
        try_alloc(&mut m, s, 0x1000, PAGE, K_INHERITCOPY | K_INHERITSHARE),
        inval
    );
    assert_eq!(try_alloc(&mut m, s, 0x1000, 0, K_WRITABLE), inval);
    assert_eq!(try_alloc(&mut m, s, 0x1800, PAGE, K_WRITABLE), inval);
    assert_eq!(try_alloc(&mut m, s, 0, PAGE, K_WRITABLE), inval, "page 0");
    assert_eq!(try_alloc(&mut m, s, USER_LIMIT - PAGE, 2 * PAGE, 0), inval);
    assert_eq!(try_alloc(&mut m, s, USER_LIMIT, PAGE, 0), inval);
    assert_eq!(
        try_alloc(&mut m, s, 0x1000, u64::MAX, 0),
        inval,
        "size wraps"
    );
    assert_eq!(m.region_count(s), 0);
    m.check_invariants().unwrap();
}

#[test]
fn allocate_rounds_size_stores_options_and_opaques() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    let start = try_alloc(
        &mut m,
        s,
        0x4000,
        5000,
        K_WRITABLE | K_FILLZERO | K_INHERITSHARE,
    )
    .unwrap();
    assert_eq!(start, 0x4000);
    let st = m.stat(s, USER_BASE, USER_LIMIT - USER_BASE);
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].startAddr, st[0].size), (0x4000, 2 * PAGE));
    assert_eq!(
        st[0].options,
        K_WRITABLE | K_INHERITSHARE,
        "K_FILLZERO is not an attribute"
    );
    assert_eq!((st[0].opaque1, st[0].opaque2, st[0].resident), (11, 22, 0));
    assert_eq!(m.memstat().committed_frames, 2 + 3, "pages and tables");
    assert_eq!(try_alloc(&mut m, s, 0x5000, PAGE, 0), Err(MmError::Overlap));
    assert_eq!(
        try_alloc(&mut m, s, 0x3000, 2 * PAGE, 0),
        Err(MmError::Overlap)
    );
    assert_eq!(
        try_alloc(&mut m, s, 0x3000, PAGE, 0),
        Ok(0x3000),
        "touching is not overlapping"
    );
    m.check_invariants().unwrap();
}

#[test]
fn allocate_anywhere_takes_the_lowest_gap() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x1000, PAGE, 0).unwrap();
    try_alloc(&mut m, s, 0x3000, PAGE, 0).unwrap();
    assert_eq!(try_alloc(&mut m, s, 0xdead, PAGE, K_ANYWHERE), Ok(0x2000));
    assert_eq!(try_alloc(&mut m, s, 0, 2 * PAGE, K_ANYWHERE), Ok(0x4000));
    assert_eq!(
        try_alloc(&mut m, s, 0, USER_LIMIT, K_ANYWHERE),
        Err(MmError::NoMemory),
        "no free range that large"
    );
    m.check_invariants().unwrap();
}

#[test]
fn allocate_never_overcommits() {
    let mut m = memory(40);
    let s = m.create_space().unwrap();
    let before = baseline(&m);
    // 39 frames left: one leaf table + PD + PDPT = 3, so 36 pages fit.
    assert_eq!(
        try_alloc(&mut m, s, 0x1000, 37 * PAGE, K_WRITABLE),
        Err(MmError::NoMemory)
    );
    assert_eq!(baseline(&m), before, "a failed allocate changes nothing");
    try_alloc(&mut m, s, 0x1000, 36 * PAGE, K_WRITABLE).unwrap();
    assert_eq!(
        m.memstat().committed_frames,
        39,
        "36 pages and 3 tables promised"
    );
    assert_eq!(
        m.memstat().table_frames,
        1,
        "tables are created on first use"
    );
    assert_eq!(
        try_alloc(&mut m, s, 0x100000, PAGE, 0),
        Err(MmError::NoMemory)
    );
    assert_eq!(m.create_space(), Err(MmError::NoMemory));
    // Every promised page can be touched.
    for i in 0..36 {
        write(&mut m, s, 0x1000 + i * PAGE, i as u8 + 1);
    }
    let st = m.memstat();
    assert_eq!(
        (st.free_frames, st.committed_frames, st.user_frames),
        (0, 0, 36)
    );
    for i in 0..36 {
        assert_eq!(read(&mut m, s, 0x1000 + i * PAGE), i as u8 + 1);
    }
}

#[test]
fn demand_zero_and_resident() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x10000, 4 * PAGE, K_WRITABLE).unwrap();
    assert_eq!(read(&mut m, s, 0x10000 + 5), 0);
    write(&mut m, s, 0x12000, 7);
    let st = m.stat(s, 0x10000, 4 * PAGE);
    assert_eq!(st[0].resident, 2);
    let part = m.stat(s, 0x12000, PAGE);
    assert_eq!(
        (part[0].startAddr, part[0].size, part[0].resident),
        (0x12000, PAGE, 1)
    );
    assert_eq!(m.memstat().user_frames, 2);
    assert_eq!(m.memstat().committed_frames, 2);
}

#[test]
fn faults_check_region_and_protection() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x1000, PAGE, 0).unwrap();
    try_alloc(&mut m, s, 0x2000, PAGE, K_WRITABLE).unwrap();
    try_alloc(&mut m, s, 0x3000, PAGE, K_EXECUTABLE).unwrap();
    assert_eq!(
        m.resolve_fault(s, 0x5000, Access::Read),
        FaultOutcome::Violation
    );
    assert_eq!(
        m.resolve_fault(s, 0x1000, Access::Write),
        FaultOutcome::Violation
    );
    assert_eq!(
        m.resolve_fault(s, 0x1000, Access::Execute),
        FaultOutcome::Violation
    );
    assert_eq!(
        m.resolve_fault(s, 0x2000, Access::Execute),
        FaultOutcome::Violation
    );
    assert_eq!(
        m.resolve_fault(s, 0x3000, Access::Write),
        FaultOutcome::Violation
    );
    resolved(m.resolve_fault(s, 0x1fff, Access::Read));
    resolved(m.resolve_fault(s, 0x2000, Access::Write));
    resolved(m.resolve_fault(s, 0x3000, Access::Execute));
    let (pte, _) = leaf(&m, s, 0x1000);
    assert_eq!(pte & 0b111, 0b101, "present, user, read-only");
    assert_ne!(pte & (1 << 63), 0, "no-execute");
    let (pte, pde_writable) = leaf(&m, s, 0x2000);
    assert!(pte & 2 != 0 && pde_writable);
    assert_eq!(leaf(&m, s, 0x3000).0 & (1 << 63), 0);
    m.set_protect_raw(s, 0x2000, PAGE, K_NOACCESS).unwrap();
    assert_eq!(
        m.resolve_fault(s, 0x2000, Access::Read),
        FaultOutcome::Violation
    );
    m.check_invariants().unwrap();
}

#[test]
fn user_copies_are_checked_and_all_or_nothing() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x1000, PAGE, K_WRITABLE).unwrap();
    try_alloc(&mut m, s, 0x2000, PAGE, 0).unwrap();
    let before = baseline(&m);
    assert_eq!(
        m.write_user(s, 0xff0, &[1; 32]),
        Err(MmError::BadAddress),
        "page 0"
    );
    assert_eq!(
        m.write_user(s, 0x1ff0, &[1; 32]),
        Err(MmError::BadAddress),
        "read-only tail"
    );
    assert_eq!(
        m.write_user(s, 0x2ff0, &[1; 32]),
        Err(MmError::BadAddress),
        "hole"
    );
    assert_eq!(
        m.write_user(s, USER_LIMIT - 8, &[1; 16]),
        Err(MmError::BadAddress)
    );
    assert_eq!(
        m.read_user(s, u64::MAX - 3, &mut [0; 8]),
        Err(MmError::BadAddress)
    );
    assert_eq!(baseline(&m), before, "a failed copy touches nothing");
    assert_eq!(read(&mut m, s, 0x1ff0), 0);
    let mut out = [9u8; 32];
    m.read_user(s, 0x1ff0, &mut out).unwrap();
    assert_eq!(out, [0; 32], "reads across two regions");
    assert_eq!(m.write_user(s, 0x1000, &[]), Ok(Flush::new()));
    m.set_protect_raw(s, 0x1000, PAGE, K_NOACCESS).unwrap();
    assert_eq!(m.read_user(s, 0x1000, &mut out), Err(MmError::BadAddress));
}

#[test]
fn free_cuts_regions_and_returns_everything() {
    let mut m = memory(128);
    let s = m.create_space().unwrap();
    let empty = baseline(&m);
    try_alloc(&mut m, s, 0x10000, 8 * PAGE, K_WRITABLE).unwrap();
    for i in 0..8 {
        write(&mut m, s, 0x10000 + i * PAGE, 1);
    }
    assert_eq!(m.free_raw(s, 0x10001, PAGE), Err(MmError::InvalidArgument));
    assert_eq!(m.free_raw(s, 0, PAGE), Err(MmError::InvalidArgument));
    let flush = m.free_raw(s, 0x12000, 2 * PAGE - 100).unwrap();
    assert!(flush.covers(s, 0x12000) && flush.covers(s, 0x13000) && !flush.covers(s, 0x14000));
    let regions: Vec<_> = m
        .stat(s, 0, USER_LIMIT)
        .iter()
        .map(|r| (r.startAddr, r.size))
        .collect();
    assert_eq!(regions, [(0x10000, 2 * PAGE), (0x14000, 4 * PAGE)]);
    assert_eq!(
        m.resolve_fault(s, 0x12000, Access::Read),
        FaultOutcome::Violation
    );
    assert_eq!(m.memstat().user_frames, 6);
    m.check_invariants().unwrap();
    m.free_raw(s, 0x1000, 0x100000).unwrap();
    assert_eq!(m.region_count(s), 0);
    assert_eq!(
        baseline(&m),
        empty,
        "frames, tables and commitment back to baseline"
    );
    m.check_invariants().unwrap();
    assert_eq!(
        m.free_raw(s, 0x1000, 0),
        Ok(Flush::new()),
        "an empty range is fine"
    );
}

#[test]
fn free_all_and_destroy_release_tables() {
    let mut m = memory(128);
    let empty = baseline(&m);
    let s = m.create_space().unwrap();
    assert_eq!(m.memstat().table_frames, 1, "the PML4");
    try_alloc(&mut m, s, 0x1000, PAGE, K_WRITABLE).unwrap();
    try_alloc(&mut m, s, 0x7f00_0000_0000, PAGE, K_WRITABLE).unwrap();
    assert_eq!(
        m.memstat().committed_frames,
        2 + 6,
        "two pages, two sets of 3 tables"
    );
    write(&mut m, s, 0x7f00_0000_0000, 3);
    assert_eq!(m.memstat().table_frames, 4);
    assert_eq!(m.memstat().committed_frames, 1 + 3);
    let flush = m.free_all(s);
    assert!(flush.covers(s, 0x1000) && flush.covers(s, 0x7f00_0000_0000));
    assert_eq!(m.memstat().table_frames, 1);
    assert_eq!(m.memstat().committed_frames, 0);
    m.check_invariants().unwrap();
    m.destroy_space(s);
    assert_eq!(baseline(&m), empty);
}

#[test]
fn kernel_half_is_installed_and_never_touched() {
    let (phys, ranges) = SimPhys::new(64);
    let mut half = [0u64; 256];
    for (i, e) in half.iter_mut().enumerate() {
        *e = 0x7000_0000 + i as u64 * 0x1000 + 3;
    }
    let mut m = Memory::new(phys, &ranges, &half);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x1000, PAGE, K_WRITABLE).unwrap();
    write(&mut m, s, 0x1000, 1);
    m.free_all(s);
    let root = m.root(s);
    for (i, &e) in half.iter().enumerate() {
        assert_eq!(m.phys().read_u64(root + 8 * (256 + i as u64)), e);
    }
}

#[test]
fn set_protect_and_inherit_cut_and_validate() {
    let mut m = memory(64);
    let s = m.create_space().unwrap();
    try_alloc(&mut m, s, 0x1000, 4 * PAGE, K_WRITABLE).unwrap();
    write(&mut m, s, 0x2000, 5);
    assert_eq!(
        m.set_protect_raw(s, 0x1000, PAGE, K_INHERITCOPY),
        Err(MmError::InvalidArgument)
    );
    assert_eq!(
        m.set_protect_raw(s, 0x1001, PAGE, 0),
        Err(MmError::InvalidArgument)
    );
    assert_eq!(
        m.set_inherit_raw(s, 0x1000, PAGE, K_WRITABLE),
        Err(MmError::InvalidArgument)
    );
    assert_eq!(
        m.set_inherit_raw(s, 0x1000, PAGE, K_INHERITCOPY | K_INHERITSHARE),
        Err(MmError::InvalidArgument)
    );
    let flush = m.set_protect_raw(s, 0x2000, PAGE, 0).unwrap();
    assert!(flush.covers(s, 0x2000), "lowering unmaps at once");
    assert_eq!(
        m.resolve_fault(s, 0x2000, Access::Write),
        FaultOutcome::Violation
    );
    assert_eq!(read(&mut m, s, 0x2000), 5);
    m.set_inherit_raw(s, 0x3000, 0x10000, K_INHERITSHARE)
        .unwrap();
    let st: Vec<_> = m
        .stat(s, 0, USER_LIMIT)
        .iter()
        .map(|r| (r.startAddr, r.options, r.opaque1))
        .collect();
    assert_eq!(
        st,
        [
            (0x1000, K_WRITABLE, 11),
            (0x2000, 0, 11),
            (0x3000, K_WRITABLE | K_INHERITSHARE, 11)
        ]
    );
    m.set_protect_raw(s, 0x2000, PAGE, K_WRITABLE | K_EXECUTABLE)
        .unwrap();
    resolved(m.resolve_fault(s, 0x2000, Access::Execute));
    write(&mut m, s, 0x2000, 6);
    m.check_invariants().unwrap();
}
