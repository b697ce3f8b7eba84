//! Unit tests of `Memory` over `SimPhys`: every rule of ABI §3.1, §4.3, §4.4, §5 and every error.
//!
//! Shared helpers here; the tests by area in `regions.rs`, `segments.rs`, `sharing.rs`,
//! `tables.rs` and `limits.rs`.

use crate::sim::SimPhys;
use crate::{Access, FaultOutcome, Memory, SpaceId};
use crate::{Flush, MmError, PhysMem};
use abi::layout::{USER_BASE, USER_LIMIT};
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_NONE, JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::K_WRITABLE;
use abi::region::{
    K_ANYWHERE, K_EXECUTABLE, K_FILLZERO, K_FREEALL, K_INHERITCOPY, K_INHERITSHARE, K_NOACCESS,
};
use abi::types::KnRgnDesc;
use alloc::vec;
use alloc::vec::Vec;

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
        other => panic!("unexpected {other:?}"),
    }
}

/// Two spaces with a writable region at 0x10000 of `npages` in `a`.
fn two_spaces(npages: u64, options: u64) -> (Memory<SimPhys>, SpaceId, SpaceId) {
    let mut m = memory(1024);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    try_alloc(&mut m, a, 0x10000, npages * PAGE, K_WRITABLE | options).unwrap();
    (m, a, b)
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

mod limits;
mod regions;
mod segments;
mod sharing;
mod tables;
