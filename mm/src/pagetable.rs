//! The x86_64 4-level page-table format (Intel SDM vol. 3A §4.5) written against `PhysMem`.
//!
//! Leaf entries are 4 KiB PTEs. Intermediate entries are always present,
//! writable and user (the leaf decides), except for one deliberate use of the
//! PDE's R/W bit: a *lazily write-protected* leaf table has R/W clear in its
//! PDE (SDM §4.6: write access needs R/W set at every level), which
//! write-protects its 512 pages with one store; the first write fault in that
//! 2 MiB span pushes the protection down into the PTEs and sets R/W again.

use crate::frames::FramePool;
use crate::{PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Leaf tables that several address spaces reference (On-Demand-Fork): a
/// private copy hands the child the parent's leaf table itself, R/W cleared
/// in both PDEs, and whoever first has to change an entry in the span takes
/// a copy of the table.
///
/// Accounting: each holder of a shared table keeps its promise of a table
/// for that span, so taking a copy can never fail. When a table is left with
/// one holder it becomes that holder's own again at once, and the holder's
/// spare promise goes back to the pool: counters return to their baselines
/// as soon as the other holders are gone.
#[derive(Debug, Default)]
pub(crate) struct SharedTables {
    /// Leaf-table frame → the spaces whose PDEs point to it (two or more).
    holders: BTreeMap<PhysAddr, Holders>,
}

/// The holders of one shared table: two inline (the common fork case
/// allocates nothing), any further ones in `more`.
#[derive(Debug)]
struct Holders {
    pair: [SpaceId; 2],
    more: Vec<SpaceId>,
}

impl Holders {
    fn iter(&self) -> impl Iterator<Item = SpaceId> + '_ {
        self.pair.iter().chain(self.more.iter()).copied()
    }
}

impl SharedTables {
    pub(crate) fn is_shared(&self, pt: PhysAddr) -> bool {
        self.holders.contains_key(&pt)
    }

    /// Every shared table with its holders.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (PhysAddr, Vec<SpaceId>)> + '_ {
        self.holders.iter().map(|(&pt, h)| (pt, h.iter().collect()))
    }

    /// `space`, whose PDE now points to `pt` too, shares it with `owner`
    /// (its only holder so far) or with the holders it already has.
    fn add_holder(&mut self, pt: PhysAddr, owner: SpaceId, space: SpaceId) {
        match self.holders.get_mut(&pt) {
            Some(h) => h.more.push(space),
            None => {
                self.holders.insert(
                    pt,
                    Holders {
                        pair: [owner, space],
                        more: Vec::new(),
                    },
                );
            }
        }
    }

    /// `space` stops referencing the shared table `pt`; a holder left alone
    /// is recorded in `budget.released` (its table is its own again).
    fn drop_holder(&mut self, pt: PhysAddr, space: SpaceId, budget: &mut Promises) {
        let h = self.holders.get_mut(&pt).expect("shared table");
        if let Some(i) = h.more.iter().position(|&s| s == space) {
            h.more.swap_remove(i);
            return;
        }
        let i = h
            .pair
            .iter()
            .position(|&s| s == space)
            .expect("holder of a shared table");
        match h.more.pop() {
            Some(next) => h.pair[i] = next,
            None => {
                budget.released.push(h.pair[1 - i]);
                self.holders.remove(&pt);
            }
        }
    }
}

/// What page-table work did to the table promises of spaces: `used` of the
/// working space's promises became tables, and each space in `released`
/// has one promise to give back (a shared table became its own).
#[derive(Debug)]
pub(crate) struct Promises {
    pub(crate) space: SpaceId,
    pub(crate) used: u64,
    pub(crate) released: Vec<SpaceId>,
}

impl Promises {
    pub(crate) fn new(space: SpaceId) -> Self {
        Promises {
            space,
            used: 0,
            released: Vec::new(),
        }
    }
}

/// Replaces the shared leaf table `pt` in PDE `slot` (value `pde`) of
/// `budget.space` by a private copy, made from that space's promise.
fn make_private<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    slot: PhysAddr,
    pde: u64,
    budget: &mut Promises,
) -> PhysAddr {
    let pt = pde & PTE_ADDR_MASK;
    let copy = frames.alloc_table_reserved();
    budget.used += 1;
    phys.copy_frame(copy, pt);
    phys.write_u64(slot, copy | (pde & !PTE_ADDR_MASK));
    shared.drop_holder(pt, budget.space, budget);
    copy
}

/// Unhooks the shared leaf table `pt` from PDE `slot` of `budget.space`.
fn detach_shared<P: PhysMem>(
    phys: &mut P,
    shared: &mut SharedTables,
    slot: PhysAddr,
    pt: PhysAddr,
    budget: &mut Promises,
) {
    phys.write_u64(slot, 0);
    shared.drop_holder(pt, budget.space, budget);
}

pub(crate) const PTE_PRESENT: u64 = 1 << 0;
pub(crate) const PTE_WRITABLE: u64 = 1 << 1;
pub(crate) const PTE_USER: u64 = 1 << 2;
/// Page size bit of a PDE/PDPTE (a 2 MiB / 1 GiB leaf; SDM §4.5.4).
pub(crate) const PTE_HUGE: u64 = 1 << 7;
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

const SHIFT_PML4: u32 = 39;
const SHIFT_PDPT: u32 = 30;
const SHIFT_PD: u32 = 21;
const SHIFT_PT: u32 = 12;

fn entry_paddr(table: PhysAddr, vaddr: VirtAddr, shift: u32) -> PhysAddr {
    table + 8 * ((vaddr >> shift) & (ENTRIES_PER_TABLE - 1))
}

/// A leaf PTE mapping `paddr` for user mode.
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
fn next_table<P: PhysMem>(
    phys: &P,
    table: PhysAddr,
    vaddr: VirtAddr,
    shift: u32,
) -> Option<PhysAddr> {
    let entry = phys.read_u64(entry_paddr(table, vaddr, shift));
    (entry & PTE_PRESENT != 0 && entry & PTE_HUGE == 0).then_some(entry & PTE_ADDR_MASK)
}

/// The page directory covering `vaddr`, if present.
pub(crate) fn find_pd<P: PhysMem>(phys: &P, root: PhysAddr, vaddr: VirtAddr) -> Option<PhysAddr> {
    let pdpt = next_table(phys, root, vaddr, SHIFT_PML4)?;
    next_table(phys, pdpt, vaddr, SHIFT_PDPT)
}

/// The PDE's address and value for the leaf table covering `vaddr`, if present.
pub(crate) fn find_pde<P: PhysMem>(
    phys: &P,
    root: PhysAddr,
    vaddr: VirtAddr,
) -> Option<(PhysAddr, u64)> {
    let pd = find_pd(phys, root, vaddr)?;
    let pde_paddr = entry_paddr(pd, vaddr, SHIFT_PD);
    let pde = phys.read_u64(pde_paddr);
    (pde & PTE_PRESENT != 0 && pde & PTE_HUGE == 0).then_some((pde_paddr, pde))
}

/// The PDE slot covering `vaddr` and its value (empty, a leaf table, or a
/// 2 MiB leaf), if the page directory exists.
fn find_pde_slot<P: PhysMem>(phys: &P, root: PhysAddr, vaddr: VirtAddr) -> Option<(PhysAddr, u64)> {
    let pd = find_pd(phys, root, vaddr)?;
    let slot = entry_paddr(pd, vaddr, SHIFT_PD);
    Some((slot, phys.read_u64(slot)))
}

fn is_huge(entry: u64) -> bool {
    entry & (PTE_PRESENT | PTE_HUGE) == PTE_PRESENT | PTE_HUGE
}

/// Calls `f(slot, entry)` for every 2 MiB leaf (PDE with PS set; SDM
/// §4.5.4) mapping some of `[start, end)`.
fn for_each_huge<P: PhysMem>(
    phys: &mut P,
    root: PhysAddr,
    start: VirtAddr,
    end: VirtAddr,
    mut f: impl FnMut(&mut P, PhysAddr, u64),
) {
    for_each_span(&[(start, end)], PT_SPAN_BYTES, |span| {
        if let Some((slot, entry)) = find_pde_slot(phys, root, span) {
            if is_huge(entry) {
                f(phys, slot, entry);
            }
        }
    });
}

/// Maps the 2 MiB span containing `vaddr` with one PDE leaf `entry` (made
/// with [`huge_entry`]) unless a leaf table already exists there; creates
/// missing parents from promised frames. Returns whether it mapped.
pub(crate) fn set_huge<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    root: PhysAddr,
    vaddr: VirtAddr,
    entry: u64,
    budget: &mut Promises,
) -> bool {
    let pdpt = ensure_next(phys, frames, root, vaddr, SHIFT_PML4, budget);
    let pd = ensure_next(phys, frames, pdpt, vaddr, SHIFT_PDPT, budget);
    let slot = entry_paddr(pd, vaddr, SHIFT_PD);
    let old = phys.read_u64(slot);
    if old & PTE_PRESENT != 0 && !is_huge(old) {
        return false;
    }
    phys.write_u64(slot, entry);
    true
}

/// A 2 MiB PDE leaf mapping the 2 MiB-aligned `paddr` for user mode.
pub(crate) fn huge_entry(paddr: PhysAddr, writable: bool, executable: bool) -> u64 {
    leaf_entry(paddr, writable, executable) | PTE_HUGE
}

/// Address of the PTE for `vaddr` in leaf table `pt`.
pub(crate) fn pte_paddr(pt: PhysAddr, vaddr: VirtAddr) -> PhysAddr {
    entry_paddr(pt, vaddr, SHIFT_PT)
}

/// The leaf entry for `vaddr` (0 if none) and whether the PDE grants
/// writes; a 2 MiB leaf is shown as the 4 KiB entry it amounts to.
#[cfg(test)]
pub(crate) fn read_leaf<P: PhysMem>(phys: &P, root: PhysAddr, vaddr: VirtAddr) -> (u64, bool) {
    if let Some((_, pde)) = find_pde_slot(phys, root, vaddr) {
        if is_huge(pde) {
            let page = (pde & PTE_ADDR_MASK) + (vaddr & (PT_SPAN_BYTES - 1) & !(PAGE_SIZE - 1));
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
fn for_each_span(ranges: &[(VirtAddr, VirtAddr)], span_bytes: u64, mut f: impl FnMut(VirtAddr)) {
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

/// The table an intermediate entry points to, allocated (zeroed) if absent.
fn ensure_next<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    table: PhysAddr,
    vaddr: VirtAddr,
    shift: u32,
    budget: &mut Promises,
) -> PhysAddr {
    let slot = entry_paddr(table, vaddr, shift);
    let entry = phys.read_u64(slot);
    if entry & PTE_PRESENT != 0 {
        return entry & PTE_ADDR_MASK;
    }
    let new = frames.alloc_table_reserved();
    budget.used += 1;
    phys.zero_frame(new);
    phys.write_u64(slot, new | TABLE_ENTRY_FLAGS);
    new
}

/// The leaf table for `vaddr`, private to this space and ready to be
/// written: created with its missing parents from promised frames, or, if
/// shared, copied (the first write in a shared span, as On-Demand-Fork
/// does). `budget` records the promises used and released. A 2 MiB leaf in
/// the way is dropped (mappings are a cache) and `demoted` set.
pub(crate) fn ensure_leaf_table<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    root: PhysAddr,
    vaddr: VirtAddr,
    budget: &mut Promises,
    demoted: &mut bool,
) -> PhysAddr {
    let pdpt = ensure_next(phys, frames, root, vaddr, SHIFT_PML4, budget);
    let pd = ensure_next(phys, frames, pdpt, vaddr, SHIFT_PDPT, budget);
    let slot = entry_paddr(pd, vaddr, SHIFT_PD);
    let pde = phys.read_u64(slot);
    if is_huge(pde) {
        phys.write_u64(slot, 0);
        *demoted = true;
    }
    let pt = ensure_next(phys, frames, pd, vaddr, SHIFT_PD, budget);
    if !shared.is_shared(pt) {
        return pt;
    }
    let pde = phys.read_u64(slot);
    make_private(phys, frames, shared, slot, pde, budget)
}

/// Makes the source's leaf table for the 2 MiB span at `span` the target's
/// too (R/W cleared in both PDEs). The target's directory and PDPT are
/// created from its promises (recorded in `budget`, whose space is the
/// target). Returns whether
/// the table was private until now (then the source must promise a table),
/// or `None` if the source has no leaf table there (any more).
#[allow(clippy::too_many_arguments)]
pub(crate) fn share_leaf_table<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    src: SpaceId,
    src_root: PhysAddr,
    dst_root: PhysAddr,
    span: VirtAddr,
    budget: &mut Promises,
) -> Option<bool> {
    let (src_slot, src_pde) = find_pde(phys, src_root, span)?;
    let pt = src_pde & PTE_ADDR_MASK;
    let was_private = !shared.is_shared(pt);
    let pdpt = ensure_next(phys, frames, dst_root, span, SHIFT_PML4, budget);
    let pd = ensure_next(phys, frames, pdpt, span, SHIFT_PDPT, budget);
    phys.write_u64(src_slot, src_pde & !PTE_WRITABLE);
    phys.write_u64(entry_paddr(pd, span, SHIFT_PD), src_pde & !PTE_WRITABLE);
    shared.add_holder(pt, src, budget.space);
    Some(was_private)
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

/// Gives up the tables of the spans touching the sorted, disjoint `ranges`
/// (all of them in use until now) for which `in_use(span_start, span_end)`
/// is false: every leaf table first, then directories, then PDPTs. A present
/// table is freed (its entries must be clear); an absent one was only
/// promised, and the count of such promises is returned.
pub(crate) fn release_tables<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    root: PhysAddr,
    ranges: &[(VirtAddr, VirtAddr)],
    in_use: impl Fn(VirtAddr, VirtAddr) -> bool,
    budget: &mut Promises,
) -> u64 {
    let mut promised = 0;
    for (span_bytes, shift) in [
        (PT_SPAN_BYTES, SHIFT_PD),
        (PD_SPAN_BYTES, SHIFT_PDPT),
        (PDPT_SPAN_BYTES, SHIFT_PML4),
    ] {
        for_each_span(ranges, span_bytes, |span| {
            if in_use(span, span + span_bytes) {
                return;
            }
            let parent = match shift {
                SHIFT_PD => find_pd(phys, root, span),
                SHIFT_PDPT => next_table(phys, root, span, SHIFT_PML4),
                _ => Some(root),
            };
            let Some(parent) = parent else {
                promised += 1;
                return;
            };
            let slot = entry_paddr(parent, span, shift);
            let entry = phys.read_u64(slot);
            if is_huge(entry) {
                // A 2 MiB leaf stands where the promised leaf table would.
                phys.write_u64(slot, 0);
                promised += 1;
            } else if shift == SHIFT_PD
                && entry & PTE_PRESENT != 0
                && shared.is_shared(entry & PTE_ADDR_MASK)
            {
                detach_shared(phys, shared, slot, entry & PTE_ADDR_MASK, budget);
                promised += 1;
            } else if entry & PTE_PRESENT != 0 {
                debug_assert!(table_is_empty(phys, entry & PTE_ADDR_MASK));
                phys.write_u64(slot, 0);
                frames.free_table(entry & PTE_ADDR_MASK);
            } else {
                promised += 1;
            }
        });
    }
    promised
}

fn table_is_empty<P: PhysMem>(phys: &P, table: PhysAddr) -> bool {
    (0..ENTRIES_PER_TABLE).all(|i| phys.read_u64(table + 8 * i) == 0)
}

/// Frees every table of the user half (entries 0..256 of the PML4), without
/// looking at leaf entries, and clears those PML4 entries.
pub(crate) fn free_user_tables<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    root: PhysAddr,
    budget: &mut Promises,
) {
    for i4 in 0..KERNEL_HALF_FIRST {
        let e4 = phys.read_u64(root + 8 * i4);
        if e4 & PTE_PRESENT == 0 {
            continue;
        }
        let pdpt = e4 & PTE_ADDR_MASK;
        for i3 in 0..ENTRIES_PER_TABLE {
            let e3 = phys.read_u64(pdpt + 8 * i3);
            if e3 & PTE_PRESENT == 0 {
                continue;
            }
            let pd = e3 & PTE_ADDR_MASK;
            for i2 in 0..ENTRIES_PER_TABLE {
                let e2 = phys.read_u64(pd + 8 * i2);
                if e2 & PTE_PRESENT != 0 && !is_huge(e2) {
                    let pt = e2 & PTE_ADDR_MASK;
                    if shared.is_shared(pt) {
                        detach_shared(phys, shared, pd + 8 * i2, pt, budget);
                    } else {
                        frames.free_table(pt);
                    }
                }
            }
            frames.free_table(pd);
        }
        frames.free_table(pdpt);
        phys.write_u64(root + 8 * i4, 0);
    }
}

/// Calls `f(vaddr, pte_paddr)` for every page of `[start, end)` that has a
/// leaf table, a leaf table at a time; `f` also gets the PDE (address, value).
fn for_each_leaf_slot<P: PhysMem>(
    phys: &mut P,
    root: PhysAddr,
    start: VirtAddr,
    end: VirtAddr,
    mut f: impl FnMut(&mut P, VirtAddr, VirtAddr, PhysAddr, (PhysAddr, u64)),
) {
    let mut vaddr = start;
    while vaddr < end {
        let span_end = ((vaddr & !(PT_SPAN_BYTES - 1)) + PT_SPAN_BYTES).min(end);
        if let Some((pde_paddr, pde)) = find_pde(phys, root, vaddr) {
            f(phys, vaddr, span_end, pde & PTE_ADDR_MASK, (pde_paddr, pde));
        }
        vaddr = span_end;
    }
}

/// Clears every leaf entry in `[start, end)` of `budget.space` (a shared
/// leaf table with an entry to clear is first replaced by a private copy);
/// returns the range whose translations may now be stale (widened to whole
/// 2 MiB spans where a 2 MiB leaf was cleared), or `None` if nothing was
/// mapped.
pub(crate) fn clear_leaves<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    root: PhysAddr,
    start: VirtAddr,
    end: VirtAddr,
    budget: &mut Promises,
) -> Option<(VirtAddr, VirtAddr)> {
    let mut any = false;
    let mut huge = false;
    for_each_huge(phys, root, start, end, |phys, slot, _| {
        phys.write_u64(slot, 0);
        huge = true;
    });
    for_each_leaf_slot(phys, root, start, end, |phys, lo, hi, pt, (slot, pde)| {
        if shared.is_shared(pt) && has_entry(phys, pt, lo, hi) {
            make_private(phys, frames, shared, slot, pde, budget);
        }
    });
    for_each_leaf_slot(phys, root, start, end, |phys, lo, hi, pt, _| {
        let mut v = lo;
        while v < hi {
            let slot = pte_paddr(pt, v);
            if phys.read_u64(slot) != 0 {
                phys.write_u64(slot, 0);
                any = true;
            }
            v += PAGE_SIZE;
        }
    });
    if huge {
        let span_end = (end - 1) | (PT_SPAN_BYTES - 1);
        Some((start & !(PT_SPAN_BYTES - 1), span_end.saturating_add(1)))
    } else {
        any.then_some((start, end))
    }
}

/// Whether leaf table `pt` has a present entry for a page of `[lo, hi)`.
fn has_entry<P: PhysMem>(phys: &P, pt: PhysAddr, lo: VirtAddr, hi: VirtAddr) -> bool {
    (lo..hi)
        .step_by(PAGE_SIZE as usize)
        .any(|v| phys.read_u64(pte_paddr(pt, v)) != 0)
}

/// Write-protects every leaf entry of `[start, end)` of `budget.space`:
/// whole leaf tables lazily through their PDE, partial ones entry by entry
/// (a shared one is first replaced by a private copy). Returns the range to
/// flush (widened to whole 2 MiB spans where a 2 MiB leaf was protected).
pub(crate) fn write_protect<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    root: PhysAddr,
    start: VirtAddr,
    end: VirtAddr,
    budget: &mut Promises,
) -> (VirtAddr, VirtAddr) {
    let mut widened = false;
    for_each_huge(phys, root, start, end, |phys, slot, entry| {
        phys.write_u64(slot, entry & !PTE_WRITABLE);
        widened = true;
    });
    for_each_leaf_slot(
        phys,
        root,
        start,
        end,
        |phys, lo, hi, pt, (pde_paddr, pde)| {
            let pt = if hi - lo != PT_SPAN_BYTES && shared.is_shared(pt) {
                make_private(phys, frames, shared, pde_paddr, pde, budget)
            } else {
                pt
            };
            if hi - lo == PT_SPAN_BYTES {
                if pde & PTE_WRITABLE != 0 {
                    phys.write_u64(pde_paddr, pde & !PTE_WRITABLE);
                }
                return;
            }
            let mut v = lo;
            while v < hi {
                let slot = pte_paddr(pt, v);
                let entry = phys.read_u64(slot);
                if entry & PTE_WRITABLE != 0 {
                    phys.write_u64(slot, entry & !PTE_WRITABLE);
                }
                v += PAGE_SIZE;
            }
        },
    );
    if widened {
        let span_end = (end - 1) | (PT_SPAN_BYTES - 1);
        (start & !(PT_SPAN_BYTES - 1), span_end.saturating_add(1))
    } else {
        (start, end)
    }
}

/// Writes the leaf entry of `vaddr` (its leaf table exists). A writable entry
/// in a lazily write-protected table first pushes the protection down into
/// the other entries, then sets R/W in the PDE again.
pub(crate) fn set_leaf<P: PhysMem>(phys: &mut P, root: PhysAddr, vaddr: VirtAddr, entry: u64) {
    let (pde_paddr, pde) = find_pde(phys, root, vaddr).expect("leaf table of a region");
    let pt = pde & PTE_ADDR_MASK;
    if entry & PTE_WRITABLE != 0 && pde & PTE_WRITABLE == 0 {
        for i in 0..ENTRIES_PER_TABLE {
            let slot = pt + 8 * i;
            let e = phys.read_u64(slot);
            if e & PTE_WRITABLE != 0 {
                phys.write_u64(slot, e & !PTE_WRITABLE);
            }
        }
        phys.write_u64(pde_paddr, pde | PTE_WRITABLE);
    }
    phys.write_u64(pte_paddr(pt, vaddr), entry);
}

/// Copies the present leaf entries of `npages` pages from `src_start` in
/// `src_root` to `dst_start` in `dst_root`, with the destination's rights:
/// writable only where the source entry was effectively writable and
/// `writable` is set; executable iff `executable`. Works a run of leaf
/// entries at a time; creates destination tables (from promised frames,
/// counted in `allocated`) only where the source has a leaf table.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_leaves<P: PhysMem>(
    phys: &mut P,
    frames: &mut FramePool,
    shared: &mut SharedTables,
    budget: &mut Promises,
    src_root: PhysAddr,
    src_start: VirtAddr,
    dst_root: PhysAddr,
    dst_start: VirtAddr,
    npages: u64,
    writable: bool,
    executable: bool,
) {
    let keep = if writable { PTE_WRITABLE } else { 0 };
    let nx = if executable { 0 } else { PTE_NO_EXECUTE };
    let mut done = 0;
    while done < npages {
        let src = src_start + done * PAGE_SIZE;
        let dst = dst_start + done * PAGE_SIZE;
        let src_left = (PT_SPAN_BYTES - (src & (PT_SPAN_BYTES - 1))) / PAGE_SIZE;
        let dst_left = (PT_SPAN_BYTES - (dst & (PT_SPAN_BYTES - 1))) / PAGE_SIZE;
        let run = src_left.min(dst_left).min(npages - done);
        if let Some((_, src_pde)) = find_pde(phys, src_root, src) {
            let dst_pt = ensure_leaf_table(phys, frames, shared, dst_root, dst, budget, &mut false);
            let keep_run = if src_pde & PTE_WRITABLE != 0 { keep } else { 0 };
            let src_slot = pte_paddr(src_pde & PTE_ADDR_MASK, src);
            let dst_slot = pte_paddr(dst_pt, dst);
            for i in 0..run {
                let entry = phys.read_u64(src_slot + 8 * i);
                if entry & PTE_PRESENT != 0 {
                    let new =
                        (entry & PTE_ADDR_MASK) | PTE_PRESENT | PTE_USER | (entry & keep_run) | nx;
                    phys.write_u64(dst_slot + 8 * i, new);
                }
            }
        }
        done += run;
    }
}
