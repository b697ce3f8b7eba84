//! 2 MiB mappings and leaf tables shared by private copies (doc/memory.md §5).

use super::*;

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
