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
    m.allocate(space, &desc).expect("allocate")
}

/// The leaf entry of `vaddr` and whether its PDE grants writes.
fn leaf(m: &Memory<SimPhys>, space: SpaceId, vaddr: u64) -> (u64, bool) {
    crate::pagetable::read_leaf(&m.phys, m.root(space), vaddr)
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
