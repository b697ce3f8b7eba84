//! Unit tests of segment caches (ABI §4.5): pull-in faults, sharing, dirty tracking, snapshots, write-back and release.

use crate::sim::SimPhys;
use crate::{Access, FaultOutcome, Memory, MmError, SpaceId, PAGE_SIZE};
use abi::args::Allocation;
use abi::args::DupMode;
use abi::region::{K_INHERITCOPY, K_INHERITSHARE, K_WRITABLE};
use abi::types::KnRgnDesc;

fn memory(nframes: usize) -> Memory<SimPhys> {
    let (phys, ranges) = SimPhys::new(nframes);
    Memory::new(phys, &ranges, &[0; 256])
}

fn req(start: u64, npages: u64, options: u64) -> Allocation {
    Allocation::decode(&KnRgnDesc {
        startAddr: start,
        size: npages * PAGE_SIZE,
        options,
        ..KnRgnDesc::default()
    })
    .unwrap()
}

fn page(byte: u8) -> [u8; 4096] {
    [byte; 4096]
}

fn counters(m: &Memory<SimPhys>) -> (u64, u64, u64) {
    let s = m.memstat();
    (s.user_frames, s.table_frames, s.committed_frames)
}

/// Faults `vaddr`; answers a pull-in with `byte` filling the page.
fn touch(m: &mut Memory<SimPhys>, s: SpaceId, vaddr: u64, access: Access, byte: u8) -> bool {
    match m.resolve_fault(s, vaddr, access) {
        FaultOutcome::PullIn { segment, page: idx } => {
            assert!(m.segment_fill(segment, idx, &page(byte)));
            assert!(matches!(
                m.resolve_fault(s, vaddr, access),
                FaultOutcome::Resolved(_)
            ));
            true
        }
        FaultOutcome::Resolved(_) => false,
        FaultOutcome::Violation => panic!("violation at {vaddr:#x}"),
    }
}

#[test]
fn first_touch_pulls_in_only_the_touched_page_and_reservation_covers_it() {
    let mut m = memory(64);
    let base = counters(&m);
    let s = m.create_space().unwrap();
    let (start, seg) = m
        .segment_map(s, &req(0x10000, 4, K_WRITABLE), None, 10)
        .unwrap();
    assert_eq!(start, 0x10000);
    // 4 pages promised plus the tables.
    assert!(counters(&m).2 >= 4);
    assert!(touch(&mut m, s, 0x11000, Access::Read, 7));
    assert_eq!(m.segment_resident(seg), 1);
    assert!(m.segment_has_page(seg, 11));
    assert!(!m.segment_has_page(seg, 10));
    let mut b = [0u8; 4];
    m.read_user(s, 0x11000, &mut b).unwrap();
    assert_eq!(b, [7; 4]);
    // A kernel copy over a page not yet in the cache is refused, not zero-filled.
    assert_eq!(m.read_user(s, 0x10000, &mut b), Err(MmError::BadAddress));
    m.check_invariants().unwrap();
    // Reading did not dirty; writing does.
    assert!(m.segment_dirty_runs(seg, 16).is_empty());
    assert!(!touch(&mut m, s, 0x11000, Access::Write, 0));
    assert_eq!(m.segment_dirty_runs(seg, 16), [(11, 12)]);
    m.destroy_space(s);
    assert_eq!(m.take_unmapped_segments(), [seg]);
    // Held after the last region: the written page stays until release.
    assert_eq!(m.memstat().user_frames, 1);
    let mut out = page(0);
    m.segment_read(seg, 11, &mut out);
    assert_eq!(out[0], 7);
    assert!(m.segment_drop(seg));
    m.check_invariants().unwrap();
    assert_eq!(counters(&m), base);
}

#[test]
fn two_spaces_share_one_cache_and_see_each_others_writes() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    let (_, seg) = m
        .segment_map(a, &req(0x10000, 2, K_WRITABLE), None, 0)
        .unwrap();
    let (_, seg2) = m
        .segment_map(b, &req(0x40000, 2, K_WRITABLE), Some(seg), 0)
        .unwrap();
    assert_eq!(seg, seg2);
    assert!(touch(&mut m, a, 0x10000, Access::Write, 1));
    m.write_user(a, 0x10000, b"hi").unwrap();
    // No second pull-in for b: the cache has the page.
    assert!(!touch(&mut m, b, 0x40000, Access::Read, 9));
    let mut out = [0u8; 2];
    m.read_user(b, 0x40000, &mut out).unwrap();
    assert_eq!(&out, b"hi");
    m.check_invariants().unwrap();
    m.destroy_space(a);
    assert!(m.take_unmapped_segments().is_empty());
    m.destroy_space(b);
    assert_eq!(m.take_unmapped_segments(), [seg]);
    assert!(m.segment_drop(seg));
    m.check_invariants().unwrap();
}

#[test]
fn init_is_a_snapshot_and_dup_shares_or_copies() {
    let mut m = memory(128);
    let base = counters(&m);
    let a = m.create_space().unwrap();
    let (_, seg) = m
        .segment_map(a, &req(0x10000, 2, K_WRITABLE | K_INHERITSHARE), None, 0)
        .unwrap();
    assert!(touch(&mut m, a, 0x10000, Access::Write, 1));
    assert!(touch(&mut m, a, 0x11000, Access::Read, 2));
    // RGN_INIT: window held, all pages in, then the snapshot.
    let seg_again = m.segment_hold(Some(seg), 0, 2).unwrap();
    assert_eq!(seg_again, seg);
    assert!(m.segment_missing(seg, 0, 2, 16).is_empty());
    let b = m.create_space().unwrap();
    let (start, flush) = m
        .segment_init(b, &req(0x20000, 2, K_WRITABLE), seg, 0)
        .unwrap();
    assert!(
        flush.covers(a, 0x10000),
        "the segment's mappings are write-protected"
    );
    assert_eq!(start, 0x20000);
    m.write_user(a, 0x10000, b"A").unwrap();
    m.write_user(b, 0x21000, b"B").unwrap();
    let mut out = [0u8; 1];
    m.read_user(b, 0x20000, &mut out).unwrap();
    assert_eq!(
        out,
        [1],
        "the copy does not see later writes to the segment"
    );
    m.read_user(a, 0x11000, &mut out).unwrap();
    assert_eq!(out, [2], "the segment does not see writes to the copy");
    // Both pages written in the segment count for write-back; page 1 was not.
    assert_eq!(m.segment_dirty_runs(seg, 16), [(0, 1)]);
    // RGN_DUP share maps the same cache.
    let c = m.create_space().unwrap();
    m.dup(c, a, DupMode::from_flags(K_INHERITSHARE).unwrap())
        .unwrap();
    m.read_user(c, 0x10000, &mut out).unwrap();
    assert_eq!(out, [b'A']);
    let d = m.create_space().unwrap();
    m.dup(d, a, DupMode::from_flags(K_INHERITCOPY).unwrap())
        .unwrap();
    m.write_user(a, 0x10000, b"Z").unwrap();
    m.read_user(d, 0x10000, &mut out).unwrap();
    assert_eq!(out, [b'A'], "a copied segment region is a snapshot");
    m.read_user(c, 0x10000, &mut out).unwrap();
    assert_eq!(out, [b'Z']);
    m.check_invariants().unwrap();
    for s in [a, b, c, d] {
        m.destroy_space(s);
    }
    assert_eq!(m.take_unmapped_segments(), [seg]);
    let mut data = page(0);
    m.segment_read(seg, 0, &mut data);
    assert_eq!(data[0], b'Z');
    assert!(m.segment_drop(seg));
    m.check_invariants().unwrap();
    assert_eq!(counters(&m), base);
}

#[test]
fn push_out_cleans_and_remap_before_release_keeps_the_data() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let (_, seg) = m
        .segment_map(a, &req(0x10000, 3, K_WRITABLE), None, 5)
        .unwrap();
    for (i, v) in [(0, 1u8), (2, 3)] {
        touch(&mut m, a, 0x10000 + i * PAGE_SIZE, Access::Write, v);
    }
    assert_eq!(m.segment_dirty_runs(seg, 16), [(5, 6), (7, 8)]);
    let flush = m.segment_clean(seg, 5, 6);
    assert!(
        flush.covers(a, 0x10000),
        "a cleaned page loses write access"
    );
    assert_eq!(m.segment_dirty_runs(seg, 16), [(7, 8)]);
    m.free(a, abi::args::UserRange::pages(0x10000, 3).unwrap())
        .unwrap();
    assert_eq!(m.take_unmapped_segments(), [seg]);
    // Mapped again before the release: same cache, the data is there.
    let (_, again) = m
        .segment_map(a, &req(0x30000, 3, K_WRITABLE), Some(seg), 5)
        .unwrap();
    assert_eq!(again, seg);
    assert!(!m.segment_drop(seg), "a mapped cache is not dropped");
    let mut out = [0u8; 1];
    m.read_user(a, 0x32000, &mut out).unwrap();
    assert_eq!(out, [3]);
    m.check_invariants().unwrap();
    m.destroy_space(a);
    assert!(m.segment_drop(seg));
    m.check_invariants().unwrap();
}

#[test]
fn no_overcommit_for_segment_windows() {
    let mut m = memory(16);
    let s = m.create_space().unwrap();
    assert_eq!(
        m.segment_map(s, &req(0x10000, 64, 0), None, 0).map(|_| ()),
        Err(MmError::NoMemory)
    );
    assert_eq!(m.object_total(), 0);
    let (_, seg) = m.segment_map(s, &req(0x10000, 4, 0), None, 0).unwrap();
    let before = counters(&m);
    // The same window again costs no page: the cache already holds it.
    m.segment_map(s, &req(0x20000, 4, 0), Some(seg), 0).unwrap();
    assert_eq!(counters(&m).2 - before.2, 0);
    assert_eq!(
        m.segment_map(s, &req(0x10000, 1, 0), Some(seg), 0)
            .map(|_| ()),
        Err(MmError::Overlap)
    );
    m.check_invariants().unwrap();
    m.destroy_space(s);
    assert!(m.segment_drop(seg));
    m.check_invariants().unwrap();
}

#[test]
fn range_calls_share_or_snapshot_a_source_range() {
    let mut m = memory(128);
    let base = counters(&m);
    let a = m.create_space().unwrap();
    let b = m.create_space().unwrap();
    m.allocate(a, &req(0x10000, 2, K_WRITABLE)).unwrap();
    m.allocate(a, &req(0x12000, 2, K_WRITABLE | K_INHERITSHARE))
        .unwrap();
    m.write_user(a, 0x11000, b"one").unwrap();
    m.write_user(a, 0x12000, b"two").unwrap();
    // Holes and overlap are refused, nothing changes.
    assert_eq!(
        m.range_call_check(b, &req(0x40000, 4, 0), a, 0x20000, false, 16),
        Err(MmError::InvalidArgument)
    );
    m.allocate(b, &req(0x40000, 1, 0)).unwrap();
    assert_eq!(
        m.range_call(b, &req(0x40000, 2, 0), a, 0x11000, false)
            .map(|_| ()),
        Err(MmError::Overlap)
    );
    // Share: one target region per source piece, options from the request.
    let (at, _) = m
        .range_call(b, &req(0x50000, 2, K_WRITABLE), a, 0x11000, false)
        .unwrap();
    assert_eq!(at, 0x50000);
    assert_eq!(m.region_count(b), 3);
    m.write_user(b, 0x51000, b"TWO").unwrap();
    let mut out = [0u8; 3];
    m.read_user(a, 0x12000, &mut out).unwrap();
    assert_eq!(&out, b"TWO", "shared: the source sees the target's write");
    // Copy: a snapshot.
    let (cp, _) = m
        .range_call(b, &req(0x60000, 2, K_WRITABLE), a, 0x11000, true)
        .unwrap();
    m.write_user(a, 0x11000, b"ONE").unwrap();
    m.read_user(b, cp, &mut out).unwrap();
    assert_eq!(&out, b"one", "copied: later writes are not seen");
    m.check_invariants().unwrap();
    // A copy of a segment range needs its pages in the cache first.
    let (_, seg) = m.segment_map(a, &req(0x80000, 2, 0), None, 0).unwrap();
    assert_eq!(
        m.range_call_check(b, &req(0x70000, 2, 0), a, 0x80000, true, 16),
        Ok(alloc::vec![(seg, 0, 2)])
    );
    assert_eq!(
        m.range_call(b, &req(0x70000, 2, 0), a, 0x80000, true)
            .map(|_| ()),
        Err(MmError::InvalidArgument)
    );
    assert!(m.segment_fill(seg, 0, &page(1)));
    assert!(m.segment_fill(seg, 1, &page(2)));
    let (c2, _) = m
        .range_call(b, &req(0x70000, 2, 0), a, 0x80000, true)
        .unwrap();
    m.read_user(b, c2 + PAGE_SIZE, &mut out).unwrap();
    assert_eq!(out, [2; 3]);
    m.check_invariants().unwrap();
    m.destroy_space(a);
    m.destroy_space(b);
    for s in m.take_unmapped_segments() {
        assert!(m.segment_drop(s));
    }
    m.check_invariants().unwrap();
    assert_eq!(counters(&m), base);
}
