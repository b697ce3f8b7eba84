//! The page-table context: one space's tables with the accounting a change of them touches.

use super::promises::TablePromises;
use super::shared::SharedTables;
use super::{
    entry_paddr, find_pd, find_pde, find_pde_slot, for_each_span, is_huge, next_table, pte_paddr,
    table_is_empty, KERNEL_HALF_FIRST, PDPT_SPAN_BYTES, PD_SPAN_BYTES, PTE_ADDR_MASK,
    PTE_NO_EXECUTE, PTE_PRESENT, PTE_USER, PTE_WRITABLE, PT_SPAN_BYTES, SHIFT_PD, SHIFT_PDPT,
    SHIFT_PML4, TABLE_ENTRY_FLAGS,
};
use crate::frames::FramePool;
use crate::{PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use abi::args::Prot;

/// What a `Memory` keeps about page tables besides the tables themselves:
/// which leaf tables are shared, and the table promises of every space.
#[derive(Debug, Default)]
pub(crate) struct TableBooks {
    pub(crate) shared: SharedTables,
    pub(crate) promises: TablePromises,
}

/// A walk of the page tables of `space` (PML4 `root`) that owns everything
/// a change of them has to account: physical memory, the frame pool, the
/// shared-table holders and the table promises. Every table it creates is
/// taken from a promise of `space` (the pool's side at once, the ledger's
/// when the walk ends: [`Walk::settle`], the one place a walk's use of
/// promises reaches the ledger), and every promise it frees is given back
/// through [`TablePromises`]: no caller settles anything.
pub(crate) struct Walk<'a, P: PhysMem> {
    phys: &'a mut P,
    frames: &'a mut FramePool,
    books: &'a mut TableBooks,
    space: SpaceId,
    root: PhysAddr,
    /// Promises of `space` this walk turned into tables, not yet debited.
    used: u64,
}

impl<P: PhysMem> Drop for Walk<'_, P> {
    fn drop(&mut self) {
        self.settle();
    }
}

impl<'a, P: PhysMem> Walk<'a, P> {
    #[inline]
    pub(crate) fn new(
        phys: &'a mut P,
        frames: &'a mut FramePool,
        books: &'a mut TableBooks,
        space: SpaceId,
        root: PhysAddr,
    ) -> Self {
        Walk {
            phys,
            frames,
            books,
            space,
            root,
            used: 0,
        }
    }

    /// Debits the promises this walk used from `space`'s account.
    #[inline]
    fn settle(&mut self) {
        if self.used > 0 {
            self.books.promises.debit(self.space, self.used);
            self.used = 0;
        }
    }

    /// A promised frame of `space`, taken as a new page table.
    #[inline]
    fn take_table(&mut self) -> PhysAddr {
        self.used += 1;
        self.frames.alloc_table_reserved()
    }

    /// The table an intermediate entry points to, created (zeroed, from a
    /// promise) if absent.
    #[inline]
    fn ensure_next(&mut self, table: PhysAddr, vaddr: VirtAddr, shift: u32) -> PhysAddr {
        let slot = entry_paddr(table, vaddr, shift);
        let entry = self.phys.read_u64(slot);
        if entry & PTE_PRESENT != 0 {
            return entry & PTE_ADDR_MASK;
        }
        let new = self.take_table();
        self.phys.zero_frame(new);
        self.phys.write_u64(slot, new | TABLE_ENTRY_FLAGS);
        new
    }

    /// The page directory for `vaddr`, created with its PDPT if absent.
    #[inline]
    fn ensure_pd(&mut self, vaddr: VirtAddr) -> PhysAddr {
        let pdpt = self.ensure_next(self.root, vaddr, SHIFT_PML4);
        self.ensure_next(pdpt, vaddr, SHIFT_PDPT)
    }

    /// This space stops referencing the shared leaf table `pt`; a holder
    /// left alone owns its table again and gives its spare promise back.
    #[inline]
    fn leave_shared(&mut self, pt: PhysAddr) {
        if let Some(alone) = self.books.shared.drop_holder(pt, self.space) {
            self.books.promises.give_back(self.frames, alone, 1);
        }
    }

    /// Replaces the shared leaf table in PDE `slot` (value `pde`) by a
    /// private copy made from this space's promise.
    fn make_private(&mut self, slot: PhysAddr, pde: u64) -> PhysAddr {
        let pt = pde & PTE_ADDR_MASK;
        let copy = self.take_table();
        self.phys.copy_frame(copy, pt);
        self.phys.write_u64(slot, copy | (pde & !PTE_ADDR_MASK));
        self.leave_shared(pt);
        copy
    }

    /// Unhooks the shared leaf table `pt` from PDE `slot`.
    fn detach_shared(&mut self, slot: PhysAddr, pt: PhysAddr) {
        self.phys.write_u64(slot, 0);
        self.leave_shared(pt);
    }

    /// The leaf table for `vaddr`, private to this space and ready to be
    /// written: created with its missing parents from promised frames, or, if
    /// shared, copied (the first write in a shared span, as On-Demand-Fork
    /// does). A 2 MiB leaf in the way is dropped (mappings are a cache);
    /// returns whether one was.
    fn ensure_leaf_table(&mut self, vaddr: VirtAddr) -> (PhysAddr, bool) {
        let (_, pt, demoted) = self.ensure_leaf_table_slot(vaddr);
        (pt, demoted)
    }

    /// [`Self::ensure_leaf_table`], also returning the PDE's address:
    /// (PDE slot, leaf table, whether a 2 MiB leaf was dropped).
    fn ensure_leaf_table_slot(&mut self, vaddr: VirtAddr) -> (PhysAddr, PhysAddr, bool) {
        let pd = self.ensure_pd(vaddr);
        let slot = entry_paddr(pd, vaddr, SHIFT_PD);
        let pde = self.phys.read_u64(slot);
        let demoted = is_huge(pde);
        if demoted {
            self.phys.write_u64(slot, 0);
        }
        let pt = self.ensure_next(pd, vaddr, SHIFT_PD);
        if !self.books.shared.is_shared(pt) {
            return (slot, pt, demoted);
        }
        let pde = self.phys.read_u64(slot);
        (slot, self.make_private(slot, pde), demoted)
    }

    /// Maps page `vaddr` to `paddr` with a 4 KiB leaf. A writable entry in a
    /// lazily write-protected table first pushes the protection down into
    /// the other entries, then sets R/W in the PDE again. Returns whether a
    /// 2 MiB leaf was dropped on the way (its whole span must be flushed).
    pub(crate) fn map_page(
        &mut self,
        vaddr: VirtAddr,
        paddr: PhysAddr,
        writable: bool,
        executable: bool,
        cache_bits: u64,
    ) -> bool {
        let (pde_paddr, pt, demoted) = self.ensure_leaf_table_slot(vaddr);
        let entry = super::leaf_entry(paddr, writable, executable) | cache_bits;
        let phys = &mut *self.phys;
        let pde = phys.read_u64(pde_paddr);
        if entry & PTE_WRITABLE != 0 && pde & PTE_WRITABLE == 0 {
            for i in 0..super::ENTRIES_PER_TABLE {
                let slot = pt + 8 * i;
                let e = phys.read_u64(slot);
                if e & PTE_WRITABLE != 0 {
                    phys.write_u64(slot, e & !PTE_WRITABLE);
                }
            }
            phys.write_u64(pde_paddr, pde | PTE_WRITABLE);
        }
        phys.write_u64(pte_paddr(pt, vaddr), entry);
        demoted
    }

    /// Maps the 2 MiB span containing `vaddr` with one PDE leaf `entry` (made
    /// with [`super::huge_entry`]) unless a leaf table already exists there;
    /// creates missing parents from promised frames. Returns whether it mapped.
    pub(crate) fn map_huge(&mut self, vaddr: VirtAddr, entry: u64) -> bool {
        let pd = self.ensure_pd(vaddr);
        let slot = entry_paddr(pd, vaddr, SHIFT_PD);
        let old = self.phys.read_u64(slot);
        if old & PTE_PRESENT != 0 && !is_huge(old) {
            return false;
        }
        self.phys.write_u64(slot, entry);
        true
    }

    /// Calls `f(phys, slot, entry)` for every 2 MiB leaf (PDE with PS set;
    /// SDM §4.5.4) mapping some of `[start, end)`; returns whether any did.
    #[inline]
    fn for_each_huge(
        &mut self,
        start: VirtAddr,
        end: VirtAddr,
        mut f: impl FnMut(&mut P, PhysAddr, u64),
    ) -> bool {
        let mut any = false;
        let (phys, root) = (&mut *self.phys, self.root);
        for_each_span(&[(start, end)], PT_SPAN_BYTES, |span| {
            if let Some((slot, entry)) = find_pde_slot(phys, root, span) {
                if is_huge(entry) {
                    f(phys, slot, entry);
                    any = true;
                }
            }
        });
        any
    }

    /// Calls `f(walk, lo, hi, pt, (pde_paddr, pde))` for every leaf table
    /// covering some of `[start, end)`, with `[lo, hi)` the part it covers.
    #[inline]
    fn for_each_leaf_table(
        &mut self,
        start: VirtAddr,
        end: VirtAddr,
        mut f: impl FnMut(&mut Self, VirtAddr, VirtAddr, PhysAddr, (PhysAddr, u64)),
    ) {
        let mut vaddr = start;
        while vaddr < end {
            let span_end = ((vaddr & !(PT_SPAN_BYTES - 1)) + PT_SPAN_BYTES).min(end);
            if let Some((pde_paddr, pde)) = find_pde(self.phys, self.root, vaddr) {
                f(self, vaddr, span_end, pde & PTE_ADDR_MASK, (pde_paddr, pde));
            }
            vaddr = span_end;
        }
    }

    /// Clears every leaf entry in `[start, end)` (a shared leaf table with an
    /// entry to clear is first replaced by a private copy); returns the range
    /// whose translations may now be stale (widened to whole 2 MiB spans
    /// where a 2 MiB leaf was cleared), or `None` if nothing was mapped.
    pub(crate) fn clear_leaves(
        &mut self,
        start: VirtAddr,
        end: VirtAddr,
    ) -> Option<(VirtAddr, VirtAddr)> {
        let huge = self.for_each_huge(start, end, |phys, slot, _| phys.write_u64(slot, 0));
        self.for_each_leaf_table(start, end, |walk, lo, hi, pt, (slot, pde)| {
            if walk.books.shared.is_shared(pt) && has_entry(walk.phys, pt, lo, hi) {
                walk.make_private(slot, pde);
            }
        });
        let mut any = false;
        self.for_each_leaf_table(start, end, |walk, lo, hi, pt, _| {
            any |= clear_entries(walk.phys, pt, lo, hi);
        });
        if huge {
            Some(widen_to_spans(start, end))
        } else {
            any.then_some((start, end))
        }
    }

    /// Write-protects every leaf entry of `[start, end)`: whole leaf tables
    /// lazily through their PDE, partial ones entry by entry (a shared one is
    /// first replaced by a private copy). Returns the range to flush
    /// (widened to whole 2 MiB spans where a 2 MiB leaf was protected).
    pub(crate) fn write_protect(&mut self, start: VirtAddr, end: VirtAddr) -> (VirtAddr, VirtAddr) {
        let widened = self.for_each_huge(start, end, |phys, slot, entry| {
            phys.write_u64(slot, entry & !PTE_WRITABLE);
        });
        self.for_each_leaf_table(start, end, |walk, lo, hi, pt, (pde_paddr, pde)| {
            if hi - lo == PT_SPAN_BYTES {
                if pde & PTE_WRITABLE != 0 {
                    walk.phys.write_u64(pde_paddr, pde & !PTE_WRITABLE);
                }
                return;
            }
            let pt = if walk.books.shared.is_shared(pt) {
                walk.make_private(pde_paddr, pde)
            } else {
                pt
            };
            protect_entries(walk.phys, pt, lo, hi);
        });
        if widened {
            widen_to_spans(start, end)
        } else {
            (start, end)
        }
    }

    /// Copies the present leaf entries of `npages` pages from `src_start` in
    /// the space of PML4 `src_root` to `dst_start` here, with rights `prot`:
    /// writable only where the source entry was effectively writable and
    /// `prot` allows writes; executable iff `prot` says so. Works a run of
    /// leaf entries at a time; creates tables here only where the source has
    /// a leaf table.
    pub(crate) fn copy_leaves_from(
        &mut self,
        src_root: PhysAddr,
        src_start: VirtAddr,
        dst_start: VirtAddr,
        npages: u64,
        prot: Prot,
    ) {
        let keep = if prot.write_bit() { PTE_WRITABLE } else { 0 };
        // Every copied entry is `(entry & kept) | set`, both worked out
        // before the per-page loop.
        let set = PTE_PRESENT | PTE_USER | if prot.exec_bit() { 0 } else { PTE_NO_EXECUTE };
        let mut done = 0;
        while done < npages {
            let src = src_start + done * PAGE_SIZE;
            let dst = dst_start + done * PAGE_SIZE;
            let src_left = (PT_SPAN_BYTES - (src & (PT_SPAN_BYTES - 1))) / PAGE_SIZE;
            let dst_left = (PT_SPAN_BYTES - (dst & (PT_SPAN_BYTES - 1))) / PAGE_SIZE;
            let run = src_left.min(dst_left).min(npages - done);
            if let Some((_, src_pde)) = find_pde(self.phys, src_root, src) {
                let (dst_pt, _) = self.ensure_leaf_table(dst);
                let writable = if src_pde & PTE_WRITABLE != 0 { keep } else { 0 };
                let kept = PTE_ADDR_MASK | writable | super::PTE_UNCACHED;
                let src_slot = pte_paddr(src_pde & PTE_ADDR_MASK, src);
                let dst_slot = pte_paddr(dst_pt, dst);
                self.phys.map_u64s(dst_slot, src_slot, run, |entry| {
                    (entry & PTE_PRESENT != 0).then_some((entry & kept) | set)
                });
            }
            done += run;
        }
    }

    /// Makes the leaf table of space `src` (PML4 `src_root`) for the 2 MiB
    /// span at `span` this space's too, R/W cleared in both PDEs; this
    /// space's directory and PDPT are created from its promises. Returns
    /// whether the table was private until now (then `src` must promise a
    /// table), or `None` if `src` has no leaf table there (any more).
    pub(crate) fn share_leaf_table_of(
        &mut self,
        src: SpaceId,
        src_root: PhysAddr,
        span: VirtAddr,
    ) -> Option<bool> {
        let (src_slot, src_pde) = find_pde(self.phys, src_root, span)?;
        let pt = src_pde & PTE_ADDR_MASK;
        let was_private = !self.books.shared.is_shared(pt);
        let pd = self.ensure_pd(span);
        self.phys.write_u64(src_slot, src_pde & !PTE_WRITABLE);
        self.phys
            .write_u64(entry_paddr(pd, span, SHIFT_PD), src_pde & !PTE_WRITABLE);
        self.books.shared.add_holder(pt, src, self.space);
        Some(was_private)
    }

    /// Gives up the tables of the spans touching the sorted, disjoint
    /// `ranges` (all of them in use until now) for which `in_use(span_start,
    /// span_end)` is false: every leaf table first, then directories, then
    /// PDPTs. A present table is freed (its entries must be clear); an
    /// absent one was only promised, and its promise goes back.
    pub(crate) fn release_tables(
        &mut self,
        ranges: &[(VirtAddr, VirtAddr)],
        in_use: impl Fn(VirtAddr, VirtAddr) -> bool,
    ) {
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
                    SHIFT_PD => find_pd(self.phys, self.root, span),
                    SHIFT_PDPT => next_table(self.phys, self.root, span, SHIFT_PML4),
                    _ => Some(self.root),
                };
                let Some(parent) = parent else {
                    promised += 1;
                    return;
                };
                let slot = entry_paddr(parent, span, shift);
                let entry = self.phys.read_u64(slot);
                let table = entry & PTE_ADDR_MASK;
                if is_huge(entry) {
                    // A 2 MiB leaf stands where the promised leaf table would.
                    self.phys.write_u64(slot, 0);
                    promised += 1;
                } else if shift == SHIFT_PD
                    && entry & PTE_PRESENT != 0
                    && self.books.shared.is_shared(table)
                {
                    self.detach_shared(slot, table);
                    promised += 1;
                } else if entry & PTE_PRESENT != 0 {
                    debug_assert!(table_is_empty(self.phys, table));
                    self.phys.write_u64(slot, 0);
                    self.frames.free_table(table);
                } else {
                    promised += 1;
                }
            });
        }
        self.books
            .promises
            .give_back(self.frames, self.space, promised);
    }

    /// Frees every table of the user half (entries 0..256 of the PML4),
    /// without looking at leaf entries, clears those PML4 entries and gives
    /// back every promise of the space: what is left when no region is.
    pub(crate) fn free_user_tables(&mut self) {
        for i4 in 0..KERNEL_HALF_FIRST {
            let e4 = self.phys.read_u64(self.root + 8 * i4);
            if e4 & PTE_PRESENT == 0 {
                continue;
            }
            let pdpt = e4 & PTE_ADDR_MASK;
            for i3 in 0..super::ENTRIES_PER_TABLE {
                let e3 = self.phys.read_u64(pdpt + 8 * i3);
                if e3 & PTE_PRESENT == 0 {
                    continue;
                }
                let pd = e3 & PTE_ADDR_MASK;
                for i2 in 0..super::ENTRIES_PER_TABLE {
                    let e2 = self.phys.read_u64(pd + 8 * i2);
                    if e2 & PTE_PRESENT != 0 && !is_huge(e2) {
                        let pt = e2 & PTE_ADDR_MASK;
                        if self.books.shared.is_shared(pt) {
                            self.detach_shared(pd + 8 * i2, pt);
                        } else {
                            self.frames.free_table(pt);
                        }
                    }
                }
                self.frames.free_table(pd);
            }
            self.frames.free_table(pdpt);
            self.phys.write_u64(self.root + 8 * i4, 0);
        }
        self.settle();
        let left = self.books.promises.of(self.space);
        self.books.promises.give_back(self.frames, self.space, left);
    }
}

/// `[start, end)` widened to whole 2 MiB spans.
fn widen_to_spans(start: VirtAddr, end: VirtAddr) -> (VirtAddr, VirtAddr) {
    let span_end = (end - 1) | (PT_SPAN_BYTES - 1);
    (start & !(PT_SPAN_BYTES - 1), span_end.saturating_add(1))
}

/// Clears the entries of leaf table `pt` for the pages of `[lo, hi)`;
/// returns whether one was present. Out of line: the per-page loop keeps
/// its few values in registers.
#[inline(never)]
fn clear_entries<P: PhysMem>(phys: &mut P, pt: PhysAddr, lo: VirtAddr, hi: VirtAddr) -> bool {
    let mut any = false;
    let mut v = lo;
    while v < hi {
        let slot = pte_paddr(pt, v);
        if phys.read_u64(slot) != 0 {
            phys.write_u64(slot, 0);
            any = true;
        }
        v += PAGE_SIZE;
    }
    any
}

/// Clears R/W in the entries of leaf table `pt` for the pages of `[lo, hi)`.
#[inline(never)]
fn protect_entries<P: PhysMem>(phys: &mut P, pt: PhysAddr, lo: VirtAddr, hi: VirtAddr) {
    let mut v = lo;
    while v < hi {
        let slot = pte_paddr(pt, v);
        let entry = phys.read_u64(slot);
        if entry & PTE_WRITABLE != 0 {
            phys.write_u64(slot, entry & !PTE_WRITABLE);
        }
        v += PAGE_SIZE;
    }
}

/// Whether leaf table `pt` has a present entry for a page of `[lo, hi)`.
fn has_entry<P: PhysMem>(phys: &P, pt: PhysAddr, lo: VirtAddr, hi: VirtAddr) -> bool {
    (lo..hi)
        .step_by(PAGE_SIZE as usize)
        .any(|v| phys.read_u64(pte_paddr(pt, v)) != 0)
}
