//! The x86_64 4-level page-table format (Intel SDM vol. 3A §4.5) written against `PhysMem`.
//!
//! Leaf entries are 4 KiB PTEs. Intermediate entries are always present,
//! writable and user (the leaf decides), except for one deliberate use of the
//! PDE's R/W bit: a *lazily write-protected* leaf table has R/W clear in its
//! PDE (SDM §4.6: write access needs R/W set at every level), which
//! write-protects its 512 pages with one store; the first write fault in that
//! 2 MiB span pushes the protection down into the PTEs and sets R/W again.

mod promises;
mod shared;
mod translate;
mod walk;

pub(crate) use shared::SharedTables;
pub(crate) use translate::{mapped_chunks, Mapped};
pub(crate) use walk::{TableBooks, Walk};

use crate::{PhysAddr, PhysMem, VirtAddr};

pub(crate) const PTE_PRESENT: u64 = 1 << 0;
pub(crate) const PTE_WRITABLE: u64 = 1 << 1;
pub(crate) const PTE_USER: u64 = 1 << 2;
/// Page size bit of a PDE/PDPTE (a 2 MiB / 1 GiB leaf; SDM §4.5.4).
pub(crate) const PTE_HUGE: u64 = 1 << 7;
/// PWT and PCD (Intel SDM vol. 3 §4.9.2): with the boot PAT, both set
/// select UC, uncacheable (device memory).
pub(crate) const PTE_UNCACHED: u64 = (1 << 3) | (1 << 4);
pub(crate) const PTE_NO_EXECUTE: u64 = 1 << 63;
/// Physical-address bits 12..51 of an entry.
pub(crate) const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Flags of every intermediate entry mm writes.
const TABLE_ENTRY_FLAGS: u64 = PTE_PRESENT | PTE_WRITABLE | PTE_USER;

pub(crate) const ENTRIES_PER_TABLE: u64 = 512;
/// Bytes mapped by one leaf table (one PDE).
pub(crate) const PT_SPAN_BYTES: u64 = 1 << 21;
/// Bytes mapped by one page directory (one PDPTE).
pub(crate) const PD_SPAN_BYTES: u64 = 1 << 30;
/// Bytes mapped by one PDPT (one PML4E).
pub(crate) const PDPT_SPAN_BYTES: u64 = 1 << 39;
/// First PML4 index of the kernel half.
pub(crate) const KERNEL_HALF_FIRST: u64 = 256;

pub(super) const SHIFT_PML4: u32 = 39;
pub(super) const SHIFT_PDPT: u32 = 30;
pub(super) const SHIFT_PD: u32 = 21;
pub(super) const SHIFT_PT: u32 = 12;

#[inline]
pub(super) fn entry_paddr(table: PhysAddr, vaddr: VirtAddr, shift: u32) -> PhysAddr {
    table + 8 * ((vaddr >> shift) & (ENTRIES_PER_TABLE - 1))
}

/// A leaf PTE mapping `paddr` for user mode.
#[inline]
pub(crate) fn leaf_entry(paddr: PhysAddr, writable: bool, executable: bool) -> u64 {
    let mut entry = paddr | PTE_PRESENT | PTE_USER;
    if writable {
        entry |= PTE_WRITABLE;
    }
    if !executable {
        entry |= PTE_NO_EXECUTE;
    }
    entry
}

/// The table an intermediate entry points to, if present.
#[inline]
pub(super) fn next_table<P: PhysMem>(
    phys: &P,
    table: PhysAddr,
    vaddr: VirtAddr,
    shift: u32,
) -> Option<PhysAddr> {
    let entry = phys.read_u64(entry_paddr(table, vaddr, shift));
    (entry & PTE_PRESENT != 0 && entry & PTE_HUGE == 0).then_some(entry & PTE_ADDR_MASK)
}

/// The page directory covering `vaddr`, if present.
#[inline]
pub(crate) fn find_pd<P: PhysMem>(phys: &P, root: PhysAddr, vaddr: VirtAddr) -> Option<PhysAddr> {
    let pdpt = next_table(phys, root, vaddr, SHIFT_PML4)?;
    next_table(phys, pdpt, vaddr, SHIFT_PDPT)
}

/// The PDE's address and value for the leaf table covering `vaddr`, if present.
#[inline]
pub(crate) fn find_pde<P: PhysMem>(
    phys: &P,
    root: PhysAddr,
    vaddr: VirtAddr,
) -> Option<(PhysAddr, u64)> {
    let (slot, pde) = find_pde_slot(phys, root, vaddr)?;
    (pde & PTE_PRESENT != 0 && pde & PTE_HUGE == 0).then_some((slot, pde))
}

/// The PDE slot covering `vaddr` and its value (empty, a leaf table, or a
/// 2 MiB leaf), if the page directory exists.
#[inline]
pub(super) fn find_pde_slot<P: PhysMem>(
    phys: &P,
    root: PhysAddr,
    vaddr: VirtAddr,
) -> Option<(PhysAddr, u64)> {
    let pd = find_pd(phys, root, vaddr)?;
    let slot = entry_paddr(pd, vaddr, SHIFT_PD);
    Some((slot, phys.read_u64(slot)))
}

#[inline]
pub(super) fn is_huge(entry: u64) -> bool {
    entry & (PTE_PRESENT | PTE_HUGE) == PTE_PRESENT | PTE_HUGE
}

/// A 2 MiB PDE leaf mapping the 2 MiB-aligned `paddr` for user mode.
#[inline]
pub(crate) fn huge_entry(paddr: PhysAddr, writable: bool, executable: bool) -> u64 {
    leaf_entry(paddr, writable, executable) | PTE_HUGE
}

/// Address of the PTE for `vaddr` in leaf table `pt`.
#[inline]
pub(crate) fn pte_paddr(pt: PhysAddr, vaddr: VirtAddr) -> PhysAddr {
    entry_paddr(pt, vaddr, SHIFT_PT)
}

/// The leaf entry for `vaddr` (0 if none) and whether the PDE grants
/// writes; a 2 MiB leaf is shown as the 4 KiB entry it amounts to.
#[cfg(test)]
pub(crate) fn read_leaf<P: PhysMem>(phys: &P, root: PhysAddr, vaddr: VirtAddr) -> (u64, bool) {
    if let Some((_, pde)) = find_pde_slot(phys, root, vaddr) {
        if is_huge(pde) {
            let page =
                (pde & PTE_ADDR_MASK) + (vaddr & (PT_SPAN_BYTES - 1) & !(crate::PAGE_SIZE - 1));
            return ((pde & !PTE_ADDR_MASK & !PTE_HUGE) | page, true);
        }
    }
    match find_pde(phys, root, vaddr) {
        Some((_, pde)) => (
            phys.read_u64(pte_paddr(pde & PTE_ADDR_MASK, vaddr)),
            pde & PTE_WRITABLE != 0,
        ),
        None => (0, false),
    }
}

/// Spans of `span_bytes` (aligned) that intersect the sorted, disjoint
/// `ranges`, each reported once, in order.
#[inline]
pub(super) fn for_each_span(
    ranges: &[(VirtAddr, VirtAddr)],
    span_bytes: u64,
    mut f: impl FnMut(VirtAddr),
) {
    let mut last: Option<VirtAddr> = None;
    for &(start, end) in ranges {
        let mut span = start & !(span_bytes - 1);
        while span < end {
            if last != Some(span) {
                f(span);
                last = Some(span);
            }
            span += span_bytes;
        }
    }
}

/// How many tables (PDPTs, PDs, leaf tables) the sorted, disjoint user
/// `ranges` need beyond those of the spans `covered(span_start, span_end)`
/// already says are in use (each such span has its table or a promise of one).
pub(crate) fn tables_needed(
    ranges: &[(VirtAddr, VirtAddr)],
    covered: impl Fn(VirtAddr, VirtAddr) -> bool,
) -> u64 {
    let mut npages = 0;
    for span_bytes in [PDPT_SPAN_BYTES, PD_SPAN_BYTES, PT_SPAN_BYTES] {
        for_each_span(ranges, span_bytes, |span| {
            if !covered(span, span + span_bytes) {
                npages += 1;
            }
        });
    }
    npages
}

/// Whether the source's leaf table for the span at `span` exists and is
/// private (sharing it would need one more promise from the source).
pub(crate) fn leaf_table_state<P: PhysMem>(
    phys: &P,
    shared: &SharedTables,
    root: PhysAddr,
    span: VirtAddr,
) -> Option<bool> {
    let (_, pde) = find_pde(phys, root, span)?;
    Some(!shared.is_shared(pde & PTE_ADDR_MASK))
}

pub(super) fn table_is_empty<P: PhysMem>(phys: &P, table: PhysAddr) -> bool {
    (0..ENTRIES_PER_TABLE).all(|i| phys.read_u64(table + 8 * i) == 0)
}
