//! Regions: RGN_ALLOCATE, `map_physical`, RGN_FREE, RGN_SET_PROTECT, RGN_SET_INHERIT (ABI §4.3).

use super::Memory;
use crate::flush::Flush;
use crate::pagetable::{self, Walk};
use crate::space::{Region, Space};
use crate::{MmError, PhysAddr, PhysMem, SpaceId, VirtAddr};
use abi::args::{Allocation, Inherit, Placement, Prot, RegionOptions, UserRange};
use abi::layout::is_page_aligned;
use alloc::vec::Vec;

impl<P: PhysMem> Memory<P> {
    /// RGN_ALLOCATE (ABI §4.3): a new region of zero-filled memory; returns
    /// its start address. Commits the region's pages and the page tables its
    /// range needs.
    ///
    /// # Errors
    /// `Overlap`, `NoMemory` as ABI §4.3 says; `InvalidArgument` for an
    /// unknown space.
    pub fn allocate(&mut self, space: SpaceId, req: &Allocation) -> Result<VirtAddr, MmError> {
        let len = req.npages * crate::PAGE_SIZE;
        let sp = self.space(space)?;
        let start = match req.place {
            Placement::Anywhere => sp.find_gap(len).ok_or(MmError::NoMemory)?,
            Placement::At(start) if sp.any_in(start, start + len) => return Err(MmError::Overlap),
            Placement::At(start) => start,
        };
        let tables = pagetable::tables_needed(&[(start, start + len)], |a, b| sp.any_in(a, b));
        self.check_frames(req.npages.checked_add(tables).ok_or(MmError::NoMemory)?)?;
        self.check_region_room(1)?;
        self.check_object_room(1)?;
        let region = Region {
            npages: req.npages,
            prot: req.options.prot,
            inherit: req.options.inherit,
            opaque1: req.opaque1,
            opaque2: req.opaque2,
            obj: self.objects.new_anon(),
            obj_off: 0,
        };
        self.add_new_region(space, start, region, tables);
        Ok(start)
    }

    /// Maps physical memory at `paddr` (device memory) as a new region over
    /// the free `range`: [`Memory::mmap`] (cached) for a range that must
    /// hold no region, with `Overlap` instead of replacing. The memory is
    /// never given to the pool and stays shared under every kind of
    /// duplication (ABI §4.4 rule 4). The system call MMAP goes through
    /// `mmap` itself; this is for the kernel's own mappings of device
    /// memory, and today only tests call it.
    ///
    /// # Errors
    /// `InvalidArgument` (empty range, misaligned `paddr`, unknown space),
    /// `Overlap`, `NoMemory`.
    pub fn map_physical(
        &mut self,
        space: SpaceId,
        range: UserRange,
        paddr: PhysAddr,
        options: RegionOptions,
    ) -> Result<(), MmError> {
        if range.is_empty() {
            return Err(MmError::InvalidArgument);
        }
        if self.space(space)?.any_in(range.start(), range.end()) {
            return Err(MmError::Overlap);
        }
        let flush = self.mmap(space, range, paddr, options, false)?;
        debug_assert!(flush.is_empty(), "the range held no mapping");
        Ok(())
    }

    /// MMAP (ABI §3.3), after the kernel checked the call: `range` then
    /// maps physical memory from `paddr` as one region with `options`
    /// (`uncached`: caching disabled), replacing whatever the range mapped
    /// before, as MCLONE does. All or nothing. Commits only page tables;
    /// the memory counts in no MEMSTAT counter.
    ///
    /// # Errors
    /// `NoMemory` (page tables, regions, objects); `InvalidArgument` for a
    /// misaligned `paddr` or an unknown space. Nothing changed then.
    pub fn mmap(
        &mut self,
        space: SpaceId,
        range: UserRange,
        paddr: PhysAddr,
        options: RegionOptions,
        uncached: bool,
    ) -> Result<Flush, MmError> {
        let mut flush = Flush::new();
        if !is_page_aligned(paddr) {
            return Err(MmError::InvalidArgument);
        }
        let sp = self.space(space)?;
        if range.is_empty() {
            return Ok(flush);
        }
        let (start, end) = (range.start(), range.end());
        let tables = pagetable::tables_needed(&[(start, end)], |a, b| sp.any_in(a, b));
        self.check_frames(tables)?;
        self.check_growth(Self::cut_growth(sp, start, end, true).saturating_add(1))?;
        self.check_object_room(1)?;
        // Nothing fails from here on.
        let removed = self.remove_range(space, start, end, &mut flush);
        let region = Region {
            npages: range.npages(),
            prot: options.prot,
            inherit: options.inherit,
            opaque1: 0,
            opaque2: 0,
            obj: self.objects.new_phys(paddr, uncached),
            obj_off: 0,
        };
        self.add_new_region(space, start, region, tables);
        self.release_tables(space, &removed);
        Ok(flush)
    }

    /// Inserts `region`, the whole of a new object, at `start` and promises
    /// `tables` tables to `space` (everything was checked).
    fn add_new_region(&mut self, space: SpaceId, start: VirtAddr, region: Region, tables: u64) {
        let obj = region.obj;
        self.objects
            .add_ref(&mut self.frames, obj, 0, region.npages);
        self.objects.get_mut(obj).map_count = 1;
        self.tables.promises.make(&mut self.frames, space, tables);
        self.region_total += 1;
        let sp = self.spaces.get_mut(&space).expect("space");
        sp.regions.insert(start, region);
    }

    /// Net regions added by cutting `space` at `start` and `end` and then
    /// removing every region inside `[start, end)` (`remove` = true), or by
    /// the cuts alone (`remove` = false): what RGN_FREE, RGN_SET_* and MCLONE
    /// (before its new regions) do to the region count. Negative if fewer.
    pub(super) fn cut_growth(sp: &Space, start: VirtAddr, end: VirtAddr, remove: bool) -> isize {
        let splits = [start, end]
            .iter()
            .filter(|&&v| sp.find(v).is_some_and(|(s, _)| s != v))
            .count() as isize;
        if !remove {
            return splits;
        }
        // After the cuts, each region intersecting the range left one piece
        // inside it, and those pieces go.
        splits - sp.regions_in(start, end).count() as isize
    }

    /// Splits the region of `space` strictly containing `vaddr`.
    fn cut(&mut self, space: SpaceId, vaddr: VirtAddr) {
        let sp = self.spaces.get_mut(&space).expect("space");
        if let Some(obj) = sp.split_at(vaddr) {
            self.region_total += 1;
            self.objects.get_mut(obj).map_count += 1;
        }
    }

    /// Cuts `space` at both edges of `[start, end)` and returns the starts
    /// of the regions now inside it.
    fn cut_range(&mut self, space: SpaceId, start: VirtAddr, end: VirtAddr) -> Vec<VirtAddr> {
        self.cut(space, start);
        self.cut(space, end);
        self.spaces[&space].starts_in(start, end)
    }

    /// The starts of the regions inside `range` once `space` is cut at its
    /// edges (RGN_SET_*: nothing for an empty range).
    ///
    /// # Errors
    /// `NoMemory` if the cuts would pass the region limit (nothing is cut
    /// then); `InvalidArgument` for an unknown space.
    fn regions_cut_to(
        &mut self,
        space: SpaceId,
        range: UserRange,
    ) -> Result<Vec<VirtAddr>, MmError> {
        let (start, end) = (range.start(), range.end());
        let sp = self.space(space)?;
        if range.is_empty() {
            return Ok(Vec::new());
        }
        self.check_growth(Self::cut_growth(sp, start, end, false))?;
        Ok(self.cut_range(space, start, end))
    }

    /// Gives up the tables (or their promises) of the spans of `ranges` (the
    /// sorted ranges of removed regions) that no region of `space` uses any more.
    pub(super) fn release_tables(&mut self, space: SpaceId, ranges: &[(VirtAddr, VirtAddr)]) {
        let sp = &self.spaces[&space];
        let mut walk = Walk::new(
            &mut self.phys,
            &mut self.frames,
            &mut self.tables,
            space,
            sp.root,
        );
        walk.release_tables(ranges, |a, b| sp.any_in(a, b));
    }

    /// Removes every region inside `[start, end)` of `space` (cutting at the
    /// edges), unmaps it and drops its references; returns the removed
    /// ranges, whose tables the caller releases once the space has its final
    /// regions.
    pub(super) fn remove_range(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        end: VirtAddr,
        flush: &mut Flush,
    ) -> Vec<(VirtAddr, VirtAddr)> {
        let starts = self.cut_range(space, start, end);
        let sp = self.spaces.get_mut(&space).expect("space");
        let mut removed = Vec::with_capacity(starts.len());
        for s in starts {
            let region = sp.regions.remove(&s).expect("region");
            removed.push((s, region));
        }
        self.region_total -= removed.len();
        for &(s, region) in &removed {
            let e = s + region.len_bytes();
            if let Some((a, b)) = self.walk(space).clear_leaves(s, e) {
                flush.add(space, a, b);
            }
            self.unmap_region(&region);
        }
        removed
            .iter()
            .map(|&(s, region)| (s, s + region.len_bytes()))
            .collect()
    }

    /// A removed region's object loses the region and its references.
    fn unmap_region(&mut self, region: &Region) {
        let obj = self.objects.get_mut(region.obj);
        obj.map_count -= 1;
        if obj.map_count == 0 && obj.segment.is_some() {
            self.unmapped_segments.push(region.obj);
        }
        self.objects.drop_ref(
            &mut self.frames,
            region.obj,
            region.obj_off,
            region.obj_off + region.npages,
        );
    }

    /// RGN_FREE of `range`: regions are cut at the edges, holes are fine.
    ///
    /// # Errors
    /// `NoMemory` if the cuts would pass the region limit; `InvalidArgument`
    /// for an unknown space.
    pub fn free(&mut self, space: SpaceId, range: UserRange) -> Result<Flush, MmError> {
        let (start, end) = (range.start(), range.end());
        let sp = self.space(space)?;
        let mut flush = Flush::new();
        if range.is_empty() {
            return Ok(flush);
        }
        self.check_growth(Self::cut_growth(sp, start, end, true))?;
        let removed = self.remove_range(space, start, end, &mut flush);
        self.release_tables(space, &removed);
        Ok(flush)
    }

    /// RGN_FREE with `K_FREEALL`: every region of the space, and every page
    /// table below its PML4.
    pub fn free_all(&mut self, space: SpaceId) -> Flush {
        let mut flush = Flush::new();
        let Some(sp) = self.spaces.get_mut(&space) else {
            return flush;
        };
        let regions = core::mem::take(&mut sp.regions);
        self.region_total -= regions.len();
        self.walk(space).free_user_tables();
        for (s, region) in regions {
            flush.add(space, s, s + region.len_bytes());
            self.unmap_region(&region);
        }
        flush
    }

    /// RGN_SET_PROTECT: `prot` applied to every region in the range. Changed
    /// regions are unmapped (faults map them again with the new rights), so
    /// lowering takes effect once the flush is done.
    ///
    /// # Errors
    /// `NoMemory` if the cuts would pass the region limit; `InvalidArgument`
    /// for an unknown space.
    pub fn set_protect(
        &mut self,
        space: SpaceId,
        range: UserRange,
        prot: Prot,
    ) -> Result<Flush, MmError> {
        let mut flush = Flush::new();
        for s in self.regions_cut_to(space, range)? {
            let sp = self.spaces.get_mut(&space).expect("space");
            let region = sp.regions.get_mut(&s).expect("region");
            if region.prot != prot {
                region.prot = prot;
                let e = s + region.len_bytes();
                if let Some((a, b)) = self.walk(space).clear_leaves(s, e) {
                    flush.add(space, a, b);
                }
            }
        }
        Ok(flush)
    }

    /// RGN_SET_INHERIT: `inherit` applied to every region in the range.
    ///
    /// # Errors
    /// `NoMemory` if the cuts would pass the region limit; `InvalidArgument`
    /// for an unknown space.
    pub fn set_inherit(
        &mut self,
        space: SpaceId,
        range: UserRange,
        inherit: Inherit,
    ) -> Result<(), MmError> {
        for s in self.regions_cut_to(space, range)? {
            let sp = self.spaces.get_mut(&space).expect("space");
            sp.regions.get_mut(&s).expect("region").inherit = inherit;
        }
        Ok(())
    }
}
