//! Unit tests of `Memory` over `SimPhys`: every rule of ABI §3.1, §4.3, §4.4, §5 and every error.

use crate::sim::SimPhys;
use crate::{Access, FaultOutcome, Memory, SpaceId};
use abi::region::K_WRITABLE;
use abi::types::KnRgnDesc;

fn memory(nframes: usize) -> Memory<SimPhys> {
    let (phys, ranges) = SimPhys::new(nframes);
    Memory::new(phys, &ranges, &[0; 256])
}

fn alloc(m: &mut Memory<SimPhys>, space: SpaceId, start: u64, size: u64, options: u64) -> u64 {
    let desc = KnRgnDesc {
        startAddr: start,
        size,
        options,
        ..Default::default()
    };
    m.allocate_raw(space, &desc).expect("allocate")
}

/// The leaf entry of `vaddr` and whether its PDE grants writes.
fn leaf(m: &Memory<SimPhys>, space: SpaceId, vaddr: u64) -> (u64, bool) {
    crate::pagetable::read_leaf(&m.phys, m.root(space), vaddr)
}

impl Memory<SimPhys> {
    fn object_count(&self) -> usize {
        self.objects.iter().count()
    }
}

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
        FaultOutcome::Violation => panic!("write to a writable region"),
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

use crate::{Flush, MmError, PhysMem};
use abi::layout::{USER_BASE, USER_LIMIT};
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_NONE, JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{
    K_ANYWHERE, K_EXECUTABLE, K_FILLZERO, K_FREEALL, K_INHERITCOPY, K_INHERITSHARE, K_NOACCESS,
};
use alloc::vec;
use alloc::vec::Vec;

const PAGE: u64 = 4096;

fn try_alloc(
    m: &mut Memory<SimPhys>,
    space: SpaceId,
    start: u64,
    size: u64,
    options: u64,
) -> Result<u64, MmError> {
    let desc = KnRgnDesc {
        startAddr: start,
        size,
        options,
        opaque1: 11,
        opaque2: 22,
        ..Default::default()
    };
    m.allocate_raw(space, &desc)
}

fn write(m: &mut Memory<SimPhys>, space: SpaceId, vaddr: u64, byte: u8) {
    m.write_user(space, vaddr, &[byte]).expect("write_user");
    m.check_invariants().unwrap();
}

fn read(m: &mut Memory<SimPhys>, space: SpaceId, vaddr: u64) -> u8 {
    let mut b = [0u8];
    m.read_user(space, vaddr, &mut b).expect("read_user");
    b[0]
}

fn baseline(m: &Memory<SimPhys>) -> (u64, u64, u64, u64) {
    let st = m.memstat();
    (
        st.free_frames,
        st.user_frames,
        st.table_frames,
        st.committed_frames,
    )
}

fn resolved(outcome: FaultOutcome) -> Flush {
    match outcome {
        FaultOutcome::Resolved(flush) => flush,
        FaultOutcome::Violation => panic!("unexpected violation"),
    }
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

/// Two spaces with a writable region at 0x10000 of `npages` in `a`.
fn two_spaces(npages: u64, options: u64) -> (Memory<SimPhys>, SpaceId, SpaceId) {
    let mut m = memory(1024);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, npages * PAGE, K_WRITABLE | options).unwrap();
    (m, a, b)
}

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

/// Region protection bits for an MCLONE `prot`, as the model expects them.
pub(crate) fn prot_options(prot: i32) -> u64 {
    match (
        prot & JINUE_PROT_WRITE != 0,
        prot & JINUE_PROT_EXEC != 0,
        prot == JINUE_PROT_NONE,
    ) {
        (_, _, true) => K_NOACCESS,
        (w, x, false) => (if w { K_WRITABLE } else { 0 }) | (if x { K_EXECUTABLE } else { 0 }),
    }
}

#[test]
fn aligned_physical_memory_is_mapped_with_2mib_entries() {
    let (phys, _) = SimPhys::new(1600);
    // The pool gets the first 64 frames; frames 512..1536 (2 MiB-aligned
    // physical addresses) are device memory.
    let base = crate::sim::SIM_BASE;
    let mut m = Memory::new(phys, &[(base, base + 64 * PAGE)], &[0; 256]);
    let device = 0x40_0000;
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    m.map_physical_raw(a, 0x20_0000, device, 1024, K_WRITABLE | K_INHERITSHARE)
        .unwrap();
    let flush = resolved(m.resolve_fault(a, 0x20_5000, Access::Write));
    assert!(flush.covers(a, 0x20_0000) && flush.covers(a, 0x3f_f000));
    let (pde_view, _) = leaf(&m, a, 0x20_5000);
    assert_eq!(pde_view & crate::pagetable::PTE_ADDR_MASK, device + 0x5000);
    assert_eq!(
        m.memstat().table_frames,
        2 + 2,
        "two PML4s, a PDPT and a PD, no leaf table"
    );
    write(&mut m, a, 0x3f_f000, 9);
    assert_eq!(m.phys().read_u64(device + 0x1f_f000) & 0xff, 9);
    m.dup_raw(b, a, 0).unwrap();
    assert_eq!(read(&mut m, b, 0x3f_f000), 9);
    // Cutting the region leaves the big entry to be demoted on the next fault.
    m.set_inherit_raw(a, 0x30_0000, PAGE, 0).unwrap();
    let flush = m.set_protect_raw(a, 0x30_0000, PAGE, 0).unwrap();
    assert!(flush.covers(a, 0x20_0000), "the 2 MiB entry is gone");
    resolved(m.resolve_fault(a, 0x20_0000, Access::Read));
    assert_eq!(leaf(&m, a, 0x20_0000).0 & crate::pagetable::PTE_HUGE, 0);
    assert_eq!(
        m.resolve_fault(a, 0x30_0000, Access::Write),
        FaultOutcome::Violation
    );
    m.check_invariants().unwrap();
    m.destroy_space(a);
    m.destroy_space(b);
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
}

#[test]
fn private_copy_hands_leaf_tables_to_the_child_until_the_first_write() {
    let mut m = memory(4096);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    // 512 resident pages filling the leaf table of [2 MiB, 4 MiB).
    try_alloc(&mut m, a, 0x20_0000, 512 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    for i in 0..512 {
        write(&mut m, a, 0x20_0000 + i * PAGE, i as u8);
    }
    let tables_before = m.memstat().table_frames;
    m.dup_raw(b, a, 0).unwrap();
    m.check_invariants().unwrap();
    // The child maps the parent's leaf table read-only: reads need no fault.
    let (pte, pde_writable) = leaf(&m, b, 0x20_3000);
    assert!(pte & 1 != 0 && !pde_writable);
    assert_eq!(leaf(&m, a, 0x20_3000).0 & !0xfff, pte & !0xfff);
    assert_eq!(
        m.memstat().table_frames,
        tables_before + 2,
        "the child's PDPT and PD; the leaf table is shared"
    );
    // The child's first write copies the table, then the page.
    write(&mut m, b, 0x20_3000, 200);
    assert_eq!(m.memstat().table_frames, tables_before + 3);
    assert_ne!(leaf(&m, a, 0x20_0000).0, 0, "the parent keeps its table");
    assert_eq!(read(&mut m, a, 0x20_3000), 3);
    assert_eq!(read(&mut m, b, 0x20_4000), 4);
    // The parent is now alone with the original: no second copy.
    write(&mut m, a, 0x20_5000, 100);
    assert_eq!(m.memstat().table_frames, tables_before + 3);
    assert_eq!(read(&mut m, b, 0x20_5000), 5);
    m.destroy_space(a);
    m.check_invariants().unwrap();
    assert_eq!(read(&mut m, b, 0x20_5000), 5);
    m.destroy_space(b);
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
}

#[test]
fn shared_leaf_tables_survive_unmapping_in_either_space() {
    let mut m = memory(4096);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    let c = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x20_0000, 512 * PAGE, K_WRITABLE | K_INHERITCOPY).unwrap();
    write(&mut m, a, 0x20_0000, 1);
    write(&mut m, a, 0x20_1000, 2);
    m.dup_raw(b, a, 0).unwrap();
    m.dup_raw(c, a, 0).unwrap();
    m.check_invariants().unwrap();
    let flush = m.set_protect_raw(b, 0x20_0000, PAGE, 0).unwrap();
    assert!(flush.covers(b, 0x20_0000) && !flush.covers(b, 0x20_1000));
    assert_ne!(
        leaf(&m, b, 0x20_1000).0,
        0,
        "b took its own copy of the table"
    );
    assert_eq!(read(&mut m, c, 0x20_1000), 2);
    m.free_raw(a, 0x20_0000, PAGE).unwrap();
    m.check_invariants().unwrap();
    assert_eq!(read(&mut m, b, 0x20_0000), 1);
    assert_eq!(read(&mut m, c, 0x20_0000), 1);
    for s in [a, b, c] {
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
fn counters_return_to_baseline_after_a_child_with_shared_tables_dies() {
    let mut m = memory(4096);
    let a = m.create_space().unwrap();
    try_alloc(
        &mut m,
        a,
        0x20_0000,
        1024 * PAGE,
        K_WRITABLE | K_INHERITCOPY,
    )
    .unwrap();
    for i in 0..1024 {
        write(&mut m, a, 0x20_0000 + i * PAGE, 1);
    }
    let base = baseline(&m);
    for round in 0..3 {
        let child = m.create_space().unwrap();
        m.dup_raw(child, a, 0).unwrap();
        // Both sides change entries of the shared tables in different ways.
        m.set_protect_raw(a, 0x20_0000 + round * PAGE, PAGE, 0)
            .unwrap();
        m.set_protect_raw(a, 0x20_0000 + round * PAGE, PAGE, K_WRITABLE)
            .unwrap();
        write(&mut m, child, 0x40_0000, 2);
        m.free_raw(child, 0x20_0000, PAGE).unwrap();
        m.check_invariants().unwrap();
        m.destroy_space(child);
        m.check_invariants().unwrap();
        // The parent's own faults restore its mappings; counters must match.
        for i in 0..1024 {
            resolved(m.resolve_fault(a, 0x20_0000 + i * PAGE, Access::Write));
        }
        assert_eq!(baseline(&m), base, "round {round}");
    }
}

// ---------------------------------------------------------------------------
// The region limit (`Memory::set_region_limit`).

/// Everything a refused operation must leave as it was: frame counters,
/// region total, object count and every space's regions.
type Snapshot = (
    (u64, u64, u64, u64),
    usize,
    usize,
    Vec<Vec<abi::types::KnRgnStat>>,
);

fn snapshot(m: &Memory<SimPhys>, spaces: &[SpaceId]) -> Snapshot {
    (
        baseline(m),
        m.region_total(),
        m.object_count(),
        spaces
            .iter()
            .map(|&s| m.stat(s, USER_BASE, USER_LIMIT - USER_BASE))
            .collect(),
    )
}

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

/// A snapshot chain as deep as the object limit allows is released without
/// recursion: the release cascades down every level on a stack far smaller
/// than the chain is deep (a recursive release would overflow it).
#[test]
fn deep_snapshot_chain_releases_without_recursion() {
    extern crate std;
    const DEPTH: usize = 3000;
    let worker = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut m = memory(4 * DEPTH + 4096);
            m.set_object_limit(4 * DEPTH);
            m.set_region_limit(4 * DEPTH);
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
            for _ in 0..DEPTH {
                // The source's own page makes every copy freeze a new level.
                m.write_user(a, start + PAGE, &[7]).expect("write page 1");
                let b = m.create_space().expect("space");
                m.dup_raw(b, a, abi::region::K_INHERITCOPY).expect("dup");
                // The copy keeps page 0 only, so page 1 of every snapshot
                // level is referenced by the level below alone.
                m.free_raw(b, start + PAGE, PAGE).expect("free page 1");
                copies.push(b);
            }
            // Releasing the source drops page 1 through all DEPTH levels.
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
    worker
        .join()
        .expect("deep chain released on a 64 KiB stack");
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
