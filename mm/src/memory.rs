//! `Memory`: the operations of ABI §3.1, §4.3, §4.4, §5 and §7 over spaces, objects and page tables.
//!
//! Every operation first checks its arguments and counts what it will need
//! (page tables, promised frames) against the pool, and only then changes
//! anything; past that point nothing can fail, so a failure changes nothing.

use crate::flush::Flush;
use crate::frames::FramePool;
use crate::object::{Kind, ObjId, Objects};
use crate::pagetable::{self, Promises, KERNEL_HALF_FIRST};
use crate::space::{Region, Space};
use crate::{Access, FaultOutcome, MmError, PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use abi::layout::{is_page_aligned, is_user_range};
use abi::memstat::MemStat;
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_MASK, JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{
    has_at_most_one_inherit_bit, K_ANYWHERE, K_EXECUTABLE, K_INHERITCOPY, K_INHERITSHARE,
    K_INHERIT_MASK, K_NOACCESS, K_PROT_MASK, K_WRITABLE, RGN_ALLOCATE_OPTIONS,
};
use abi::types::{KnRgnDesc, KnRgnStat};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// The frame pool, the memory objects and the address spaces.
pub struct Memory<P: PhysMem> {
    pub(crate) phys: P,
    pub(crate) frames: FramePool,
    pub(crate) shared_tables: pagetable::SharedTables,
    pub(crate) objects: Objects,
    pub(crate) spaces: BTreeMap<SpaceId, Space>,
    next_space: u64,
    kernel_half: [u64; 256],
    /// Regions of every space together (kept equal to the sum of
    /// `Space::regions.len()`; checked by `check_invariants`).
    pub(crate) region_total: usize,
    /// Most regions all spaces may hold together ([`Memory::set_region_limit`]).
    region_limit: usize,
    /// Most live memory objects ([`Memory::set_object_limit`]).
    object_limit: usize,
}

impl<P: PhysMem> core::fmt::Debug for Memory<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memory")
            .field("memstat", &self.memstat())
            .field("spaces", &self.spaces.len())
            .finish()
    }
}

/// `options & K_PROT_MASK` rights for a user access.
fn allows(prot: u64, access: Access) -> bool {
    if prot & K_NOACCESS != 0 {
        return false;
    }
    match access {
        Access::Read => true,
        Access::Write => prot & K_WRITABLE != 0,
        Access::Execute => prot & K_EXECUTABLE != 0,
    }
}

/// Rounds `size` up to whole pages, `None` on overflow.
fn round_up_to_page(size: u64) -> Option<u64> {
    Some(size.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// The user range `[start, start + size)` (size rounded up to pages) of
/// RGN_FREE / RGN_SET_*: `InvalidArgument` if misaligned or outside user space.
fn user_range(start: VirtAddr, size: u64) -> Result<(VirtAddr, VirtAddr), MmError> {
    let len = round_up_to_page(size).ok_or(MmError::InvalidArgument)?;
    if !is_page_aligned(start) || !is_user_range(start, len) {
        return Err(MmError::InvalidArgument);
    }
    Ok((start, start + len))
}

/// Region protection bits for an MCLONE `prot` (ABI §3.1 rule 4, §6.3).
fn prot_to_options(prot: i32) -> u64 {
    if prot & (JINUE_PROT_READ | JINUE_PROT_WRITE | JINUE_PROT_EXEC) == 0 {
        return K_NOACCESS;
    }
    let mut options = 0;
    if prot & JINUE_PROT_WRITE != 0 {
        options |= K_WRITABLE;
    }
    if prot & JINUE_PROT_EXEC != 0 {
        options |= K_EXECUTABLE;
    }
    options
}

/// One source region (or part) of an MCLONE, read before anything changes.
#[derive(Clone, Copy)]
struct Piece {
    dst_start: VirtAddr,
    src_start: VirtAddr,
    region: Region,
}

impl<P: PhysMem> Memory<P> {
    /// `free_ranges`: page-aligned physical `[start, end)` ranges mm owns.
    /// `kernel_half`: PML4 entries 256..512 that every address space shares.
    pub fn new(phys: P, free_ranges: &[(PhysAddr, PhysAddr)], kernel_half: &[u64; 256]) -> Self {
        Memory {
            phys,
            frames: FramePool::new(free_ranges),
            shared_tables: pagetable::SharedTables::default(),
            objects: Objects::default(),
            spaces: BTreeMap::new(),
            next_space: 1,
            kernel_half: *kernel_half,
            region_total: 0,
            region_limit: usize::MAX,
            object_limit: usize::MAX,
        }
    }

    /// Caps the regions of all spaces together at `limit` (no cap until
    /// called). Every operation that would end with more regions than the
    /// limit (a new region, a cut in the middle of one, MCLONE, RGN_DUP)
    /// fails with `NoMemory` and changes nothing; operations that do not add
    /// regions are never refused. The kernel sets it at boot from its heap
    /// size, so that region bookkeeping cannot exhaust the heap. A limit
    /// below the current total only refuses growth.
    pub fn set_region_limit(&mut self, limit: usize) {
        self.region_limit = limit;
    }

    /// The limit of [`Memory::set_region_limit`] (`usize::MAX` if never set).
    pub fn region_limit(&self) -> usize {
        self.region_limit
    }

    /// Regions of all spaces together.
    pub fn region_total(&self) -> usize {
        self.region_total
    }

    /// Caps the live memory objects at `limit` (no cap until called), as
    /// [`Memory::set_region_limit`] caps regions: RGN_ALLOCATE and
    /// `map_physical` make one object, a private copy of RGN_DUP up to two
    /// (the copy and, the first time an object with frames is copied, its
    /// frozen snapshot); an operation that could pass the limit fails with
    /// `NoMemory` and changes nothing. Objects cost far more kernel heap
    /// than regions (MCLONE and shared copies add regions, not objects).
    pub fn set_object_limit(&mut self, limit: usize) {
        self.object_limit = limit;
    }

    /// The limit of [`Memory::set_object_limit`] (`usize::MAX` if never set).
    pub fn object_limit(&self) -> usize {
        self.object_limit
    }

    /// Live memory objects (region-backing objects and frozen snapshots).
    pub fn object_total(&self) -> usize {
        self.objects.live()
    }

    /// Reference-count intervals of all objects together: kernel heap that
    /// no limit caps directly, bounded by the regions and objects because
    /// snapshot chains are at most `MAX_CHAIN_DEPTH` deep (for tests).
    pub fn reference_intervals(&self) -> usize {
        self.objects.iter().map(|(_, o)| o.refs.len()).sum()
    }

    /// `NoMemory` unless `added` more objects fit under the limit.
    fn check_object_room(&self, added: usize) -> Result<(), MmError> {
        match self.objects.live().checked_add(added) {
            Some(n) if n <= self.object_limit => Ok(()),
            _ => Err(MmError::NoMemory),
        }
    }

    /// `NoMemory` unless `added` more regions (net) fit under the limit.
    fn check_region_room(&self, added: usize) -> Result<(), MmError> {
        match self.region_total.checked_add(added) {
            Some(n) if n <= self.region_limit => Ok(()),
            _ => Err(MmError::NoMemory),
        }
    }

    /// Net regions added by cutting `space` at `start` and `end` and then
    /// removing every region inside `[start, end)` (`remove` = true), or by
    /// the cuts alone (`remove` = false): what RGN_FREE, RGN_SET_* and MCLONE
    /// (before its new regions) do to the region count. Negative if fewer.
    fn cut_growth(sp: &Space, start: VirtAddr, end: VirtAddr, remove: bool) -> isize {
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

    /// `NoMemory` unless a net growth of `growth` regions fits.
    fn check_growth(&self, growth: isize) -> Result<(), MmError> {
        if growth > 0 {
            self.check_region_room(growth as usize)
        } else {
            Ok(())
        }
    }

    pub fn phys(&self) -> &P {
        &self.phys
    }

    pub fn phys_mut(&mut self) -> &mut P {
        &mut self.phys
    }

    /// The counters of MEMSTAT (ABI §7).
    pub fn memstat(&self) -> MemStat {
        MemStat {
            page_size: PAGE_SIZE,
            total_frames: self.frames.total_npages(),
            free_frames: self.frames.free_npages(),
            user_frames: self.frames.user_npages(),
            table_frames: self.frames.table_npages(),
            committed_frames: self.frames.committed_npages(),
        }
    }

    fn space(&self, id: SpaceId) -> Result<&Space, MmError> {
        self.spaces.get(&id).ok_or(MmError::InvalidArgument)
    }

    /// A new, empty address space: a PML4 whose upper half is `kernel_half`.
    ///
    /// # Errors
    /// `NoMemory` if no frame is available for the PML4.
    pub fn create_space(&mut self) -> Result<SpaceId, MmError> {
        if self.frames.available_npages() < 1 {
            return Err(MmError::NoMemory);
        }
        let root = self.frames.alloc_table();
        self.phys.zero_frame(root);
        for (i, &entry) in self.kernel_half.iter().enumerate() {
            self.phys
                .write_u64(root + 8 * (KERNEL_HALF_FIRST + i as u64), entry);
        }
        let id = SpaceId(self.next_space);
        self.next_space += 1;
        self.spaces.insert(
            id,
            Space {
                root,
                regions: BTreeMap::new(),
                reserved_tables: 0,
            },
        );
        Ok(id)
    }

    /// Releases every region, page table and commitment of the space, then
    /// the space itself. An unknown space is ignored.
    pub fn destroy_space(&mut self, space: SpaceId) -> Flush {
        if !self.spaces.contains_key(&space) {
            return Flush::new();
        }
        let flush = self.free_all(space);
        let sp = self.spaces.remove(&space).expect("space");
        self.frames.free_table(sp.root);
        flush
    }

    /// Physical address of the space's PML4 (for CR3).
    ///
    /// # Panics
    /// If the space does not exist.
    pub fn root(&self, space: SpaceId) -> PhysAddr {
        self.spaces[&space].root
    }

    /// Number of regions of the space (0 for an unknown space).
    pub fn region_count(&self, space: SpaceId) -> usize {
        self.spaces.get(&space).map_or(0, |sp| sp.regions.len())
    }

    /// RGN_ALLOCATE (ABI §4.3): `desc.startAddr/size/options/opaque1/opaque2`
    /// as the user gave them; returns the start address. Commits the region's
    /// pages and the page tables its range needs.
    ///
    /// # Errors
    /// `InvalidArgument`, `Overlap`, `NoMemory` as ABI §4.3 says.
    pub fn allocate(&mut self, space: SpaceId, desc: &KnRgnDesc) -> Result<VirtAddr, MmError> {
        let options = desc.options;
        if options & !RGN_ALLOCATE_OPTIONS != 0 || !has_at_most_one_inherit_bit(options) {
            return Err(MmError::InvalidArgument);
        }
        if desc.size == 0 {
            return Err(MmError::InvalidArgument);
        }
        let len = round_up_to_page(desc.size).ok_or(MmError::InvalidArgument)?;
        let sp = self.space(space)?;
        let start = if options & K_ANYWHERE != 0 {
            sp.find_gap(len).ok_or(MmError::NoMemory)?
        } else {
            if !is_page_aligned(desc.startAddr) || !is_user_range(desc.startAddr, len) {
                return Err(MmError::InvalidArgument);
            }
            if sp.any_in(desc.startAddr, desc.startAddr + len) {
                return Err(MmError::Overlap);
            }
            desc.startAddr
        };
        let end = start + len;
        let npages = len / PAGE_SIZE;
        let tables = pagetable::tables_needed(&[(start, end)], |a, b| sp.any_in(a, b));
        if npages.checked_add(tables).ok_or(MmError::NoMemory)? > self.frames.available_npages() {
            return Err(MmError::NoMemory);
        }
        self.check_region_room(1)?;
        self.check_object_room(1)?;
        let obj = self.objects.new_anon();
        self.objects.add_ref(&mut self.frames, obj, 0, npages);
        self.objects.get_mut(obj).map_count = 1;
        self.reserve_tables(space, tables);
        self.region_total += 1;
        self.spaces.get_mut(&space).expect("space").regions.insert(
            start,
            Region {
                npages,
                prot: options & (K_WRITABLE | K_EXECUTABLE),
                inherit: options & K_INHERIT_MASK,
                opaque1: desc.opaque1,
                opaque2: desc.opaque2,
                obj,
                obj_off: 0,
            },
        );
        Ok(start)
    }

    /// Maps `npages` of physical memory at `paddr` (device memory, a boot
    /// module) as a new region at `vaddr` with `options` (protection and
    /// inherit bits). The memory is never given to the pool and stays shared
    /// under every kind of duplication (ABI §4.4 rule 4). Commits only page
    /// tables. Not part of the system-call ABI: the kernel's own use.
    ///
    /// # Errors
    /// `InvalidArgument` (misaligned, empty, outside user space, bad options),
    /// `Overlap`, `NoMemory`.
    pub fn map_physical(
        &mut self,
        space: SpaceId,
        vaddr: VirtAddr,
        paddr: PhysAddr,
        npages: u64,
        options: u64,
    ) -> Result<(), MmError> {
        if options & !(K_PROT_MASK | K_INHERIT_MASK) != 0
            || !has_at_most_one_inherit_bit(options)
            || npages == 0
            || !is_page_aligned(vaddr)
            || !is_page_aligned(paddr)
        {
            return Err(MmError::InvalidArgument);
        }
        let len = npages
            .checked_mul(PAGE_SIZE)
            .ok_or(MmError::InvalidArgument)?;
        if !is_user_range(vaddr, len) {
            return Err(MmError::InvalidArgument);
        }
        let sp = self.space(space)?;
        if sp.any_in(vaddr, vaddr + len) {
            return Err(MmError::Overlap);
        }
        let tables = pagetable::tables_needed(&[(vaddr, vaddr + len)], |a, b| sp.any_in(a, b));
        if tables > self.frames.available_npages() {
            return Err(MmError::NoMemory);
        }
        self.check_region_room(1)?;
        self.check_object_room(1)?;
        let obj = self.objects.new_phys(paddr);
        self.objects.add_ref(&mut self.frames, obj, 0, npages);
        self.objects.get_mut(obj).map_count = 1;
        self.reserve_tables(space, tables);
        self.region_total += 1;
        self.spaces.get_mut(&space).expect("space").regions.insert(
            vaddr,
            Region {
                npages,
                prot: options & K_PROT_MASK,
                inherit: options & K_INHERIT_MASK,
                opaque1: 0,
                opaque2: 0,
                obj,
                obj_off: 0,
            },
        );
        Ok(())
    }

    /// Splits the region of `space` strictly containing `vaddr`.
    fn cut(&mut self, space: SpaceId, vaddr: VirtAddr) {
        let sp = self.spaces.get_mut(&space).expect("space");
        if let Some(obj) = sp.split_at(vaddr) {
            self.region_total += 1;
            self.objects.get_mut(obj).map_count += 1;
        }
    }

    /// Promises `npages` table frames to `space` (the caller checked the pool).
    fn reserve_tables(&mut self, space: SpaceId, npages: u64) {
        self.frames.reserve(npages);
        self.spaces.get_mut(&space).expect("space").reserved_tables += npages;
    }

    /// Applies what page-table work did to table promises: the working
    /// space's used promises became tables; each released space gives one
    /// back (a shared table became its own).
    fn settle(&mut self, budget: Promises) {
        self.spaces
            .get_mut(&budget.space)
            .expect("space")
            .reserved_tables -= budget.used;
        for space in budget.released {
            self.spaces.get_mut(&space).expect("space").reserved_tables -= 1;
            self.frames.unreserve(1);
        }
    }

    /// Gives up the tables (or their promises) of the spans of `ranges` (the
    /// sorted ranges of removed regions) that no region of `space` uses any more.
    fn release_tables(&mut self, space: SpaceId, ranges: &[(VirtAddr, VirtAddr)]) {
        let mut budget = Promises::new(space);
        let sp = self.spaces.get_mut(&space).expect("space");
        let regions = &sp.regions;
        let promised = pagetable::release_tables(
            &mut self.phys,
            &mut self.frames,
            &mut self.shared_tables,
            sp.root,
            ranges,
            |a, b| {
                regions
                    .range(..b)
                    .next_back()
                    .is_some_and(|(&s, r)| s + r.len_bytes() > a)
            },
            &mut budget,
        );
        sp.reserved_tables -= promised;
        self.frames.unreserve(promised);
        self.settle(budget);
    }

    /// Removes every region inside `[start, end)` of `space` (cutting at the
    /// edges), unmaps it and drops its references; returns the removed
    /// ranges, whose tables the caller releases once the space has its final
    /// regions.
    fn remove_range(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        end: VirtAddr,
        flush: &mut Flush,
    ) -> Vec<(VirtAddr, VirtAddr)> {
        self.cut(space, start);
        self.cut(space, end);
        let sp = self.spaces.get_mut(&space).expect("space");
        let root = sp.root;
        let starts = sp.starts_in(start, end);
        let mut removed = Vec::with_capacity(starts.len());
        for s in starts {
            let region = sp.regions.remove(&s).expect("region");
            removed.push((s, region));
        }
        self.region_total -= removed.len();
        for &(s, region) in &removed {
            let e = s + region.len_bytes();
            let mut budget = Promises::new(space);
            if let Some((a, b)) = pagetable::clear_leaves(
                &mut self.phys,
                &mut self.frames,
                &mut self.shared_tables,
                root,
                s,
                e,
                &mut budget,
            ) {
                flush.add(space, a, b);
            }
            self.settle(budget);
            self.objects.get_mut(region.obj).map_count -= 1;
            self.objects.drop_ref(
                &mut self.frames,
                region.obj,
                region.obj_off,
                region.obj_off + region.npages,
            );
        }
        removed
            .iter()
            .map(|&(s, region)| (s, s + region.len_bytes()))
            .collect()
    }

    /// RGN_FREE of `[start, start + size)` (size rounded up): regions are cut
    /// at the edges, holes are fine.
    ///
    /// # Errors
    /// `InvalidArgument` if `start` is misaligned or the range leaves user space.
    pub fn free(&mut self, space: SpaceId, start: VirtAddr, size: u64) -> Result<Flush, MmError> {
        let (start, end) = user_range(start, size)?;
        let sp = self.space(space)?;
        if start < end {
            self.check_growth(Self::cut_growth(sp, start, end, true))?;
        }
        let mut flush = Flush::new();
        if start < end {
            let removed = self.remove_range(space, start, end, &mut flush);
            self.release_tables(space, &removed);
        }
        Ok(flush)
    }

    /// RGN_FREE with `K_FREEALL`: every region of the space, and every page
    /// table below its PML4.
    pub fn free_all(&mut self, space: SpaceId) -> Flush {
        let mut flush = Flush::new();
        let Some(sp) = self.spaces.get_mut(&space) else {
            return flush;
        };
        let root = sp.root;
        let regions = core::mem::take(&mut sp.regions);
        self.region_total -= regions.len();
        let mut budget = Promises::new(space);
        pagetable::free_user_tables(
            &mut self.phys,
            &mut self.frames,
            &mut self.shared_tables,
            root,
            &mut budget,
        );
        self.frames.unreserve(sp.reserved_tables);
        sp.reserved_tables = 0;
        self.settle(budget);
        for (s, region) in regions {
            flush.add(space, s, s + region.len_bytes());
            self.objects.get_mut(region.obj).map_count -= 1;
            self.objects.drop_ref(
                &mut self.frames,
                region.obj,
                region.obj_off,
                region.obj_off + region.npages,
            );
        }
        flush
    }

    /// RGN_SET_PROTECT: `options` = protection bits only (`K_WRITABLE`,
    /// `K_EXECUTABLE`, `K_NOACCESS`), applied to every region in the range.
    /// Changed regions are unmapped (faults map them again with the new
    /// rights), so lowering takes effect once the flush is done.
    ///
    /// # Errors
    /// `InvalidArgument` for another bit or a bad range.
    pub fn set_protect(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        options: u64,
    ) -> Result<Flush, MmError> {
        if options & !K_PROT_MASK != 0 {
            return Err(MmError::InvalidArgument);
        }
        let (start, end) = user_range(start, size)?;
        let sp = self.space(space)?;
        let mut flush = Flush::new();
        if start == end {
            return Ok(flush);
        }
        self.check_growth(Self::cut_growth(sp, start, end, false))?;
        self.cut(space, start);
        self.cut(space, end);
        let sp = self.spaces.get_mut(&space).expect("space");
        let root = sp.root;
        let mut budget = Promises::new(space);
        for s in sp.starts_in(start, end) {
            let region = sp.regions.get_mut(&s).expect("region");
            if region.prot != options {
                region.prot = options;
                let e = s + region.len_bytes();
                if let Some((a, b)) = pagetable::clear_leaves(
                    &mut self.phys,
                    &mut self.frames,
                    &mut self.shared_tables,
                    root,
                    s,
                    e,
                    &mut budget,
                ) {
                    flush.add(space, a, b);
                }
            }
        }
        self.settle(budget);
        Ok(flush)
    }

    /// RGN_SET_INHERIT: `options` = at most one inherit bit, applied to every
    /// region in the range.
    ///
    /// # Errors
    /// `InvalidArgument` for another bit, both bits, or a bad range.
    pub fn set_inherit(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        options: u64,
    ) -> Result<(), MmError> {
        if options & !K_INHERIT_MASK != 0 || !has_at_most_one_inherit_bit(options) {
            return Err(MmError::InvalidArgument);
        }
        let (start, end) = user_range(start, size)?;
        let sp = self.space(space)?;
        if start == end {
            return Ok(());
        }
        self.check_growth(Self::cut_growth(sp, start, end, false))?;
        self.cut(space, start);
        self.cut(space, end);
        let sp = self.spaces.get_mut(&space).expect("space");
        for s in sp.starts_in(start, end) {
            sp.regions.get_mut(&s).expect("region").inherit = options;
        }
        Ok(())
    }

    /// RGN_STAT: every region (or part of one) inside `[start, start + size)`
    /// (widened to whole pages), in address order. `options` = protection and
    /// inherit bits; `resident` = pages of that part backed by a frame. An
    /// empty range (`size == 0`) holds no region, whatever `start` is.
    /// Allocates one entry per region: the kernel uses [`Memory::stat_count`]
    /// and [`Memory::stat_first`] to stay within a bounded buffer.
    pub fn stat(&self, space: SpaceId, start: VirtAddr, size: u64) -> Vec<KnRgnStat> {
        self.stat_parts(space, start, size)
            .map(|(s, a, b, region)| self.stat_entry(s, a, b, region))
            .collect()
    }

    /// How many entries [`Memory::stat`] would return (allocates nothing,
    /// and does not count resident pages).
    pub fn stat_count(&self, space: SpaceId, start: VirtAddr, size: u64) -> usize {
        self.stat_parts(space, start, size).count()
    }

    /// The first `max` entries of [`Memory::stat`]. To go on, call again
    /// from the end (`startAddr + size`) of the last entry returned: the
    /// entries are page-aligned and contiguous runs never overlap.
    pub fn stat_first(
        &self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        max: usize,
    ) -> Vec<KnRgnStat> {
        self.stat_parts(space, start, size)
            .take(max)
            .map(|(s, a, b, region)| self.stat_entry(s, a, b, region))
            .collect()
    }

    /// The parts `[a, b)` of regions inside the widened range, each with its
    /// region and the region's start.
    fn stat_parts(
        &self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
    ) -> impl Iterator<Item = (VirtAddr, VirtAddr, VirtAddr, &Region)> + '_ {
        let sp = self.spaces.get(&space).filter(|_| size != 0);
        let lo = start & !(PAGE_SIZE - 1);
        let hi = round_up_to_page(start.saturating_add(size)).unwrap_or(!(PAGE_SIZE - 1));
        // first <= lo <= hi: the range below cannot be reversed.
        let first = sp.and_then(|sp| sp.find(lo)).map_or(lo, |(s, _)| s);
        sp.into_iter()
            .flat_map(move |sp| sp.regions.range(first..hi.max(first)))
            .filter_map(move |(&s, region)| {
                let e = s + region.len_bytes();
                let a = s.max(lo);
                let b = e.min(hi);
                (a < b).then_some((s, a, b, region))
            })
    }

    /// The RGN_STAT entry of the part `[a, b)` of `region` (which starts at `s`).
    fn stat_entry(&self, s: VirtAddr, a: VirtAddr, b: VirtAddr, region: &Region) -> KnRgnStat {
        let off = region.obj_off + (a - s) / PAGE_SIZE;
        let npages = (b - a) / PAGE_SIZE;
        KnRgnStat {
            startAddr: a,
            size: b - a,
            options: region.prot | region.inherit,
            opaque1: region.opaque1,
            opaque2: region.opaque2,
            resident: self.objects.resident_npages(region.obj, off, off + npages),
        }
    }

    /// MCLONE (ABI §3.1), after the kernel's argument checks 1–8: the
    /// destination range then references the same memory objects as the
    /// source range (holes stay holes), with the source regions' boundaries,
    /// inherit bits and opaque values and protection `prot`. Commits only the
    /// destination's page tables. Present source mappings are copied a leaf
    /// table at a time.
    ///
    /// # Errors
    /// `InvalidArgument` (misaligned, outside user space, bad `prot`, unknown
    /// space), `NoMemory` (page tables).
    pub fn clone_range(
        &mut self,
        src: SpaceId,
        dst: SpaceId,
        src_addr: VirtAddr,
        dst_addr: VirtAddr,
        len: u64,
        prot: i32,
    ) -> Result<Flush, MmError> {
        if prot & !JINUE_PROT_MASK != 0
            || !is_page_aligned(src_addr)
            || !is_page_aligned(dst_addr)
            || !is_page_aligned(len)
        {
            return Err(MmError::InvalidArgument);
        }
        if len != 0 && (!is_user_range(src_addr, len) || !is_user_range(dst_addr, len)) {
            return Err(MmError::InvalidArgument);
        }
        let src_space = self.space(src)?;
        let dst_space = self.space(dst)?;
        let dst_root = dst_space.root;
        let mut flush = Flush::new();
        if len == 0 {
            return Ok(flush);
        }
        let src_root = src_space.root;
        let src_end = src_addr + len;
        let new_prot = prot_to_options(prot);
        // Read the whole source first (ABI §3.1 rule 7).
        let first = src_space.find(src_addr).map_or(src_addr, |(s, _)| s);
        let pieces: Vec<Piece> = src_space
            .regions
            .range(first..src_end)
            .filter_map(|(&s, region)| {
                let a = s.max(src_addr);
                let b = (s + region.len_bytes()).min(src_end);
                (a < b).then(|| {
                    let mut r = *region;
                    r.obj_off += (a - s) / PAGE_SIZE;
                    r.npages = (b - a) / PAGE_SIZE;
                    r.prot = new_prot;
                    Piece {
                        dst_start: dst_addr + (a - src_addr),
                        src_start: a,
                        region: r,
                    }
                })
            })
            .collect();
        let dst_ranges: Vec<(VirtAddr, VirtAddr)> = pieces
            .iter()
            .map(|p| (p.dst_start, p.dst_start + p.region.len_bytes()))
            .collect();
        let tables = pagetable::tables_needed(&dst_ranges, |a, b| dst_space.any_in(a, b));
        if tables > self.frames.available_npages() {
            return Err(MmError::NoMemory);
        }
        let growth = Self::cut_growth(dst_space, dst_addr, dst_addr + len, true)
            .saturating_add_unsigned(pieces.len());
        self.check_growth(growth)?;
        // Nothing fails from here on. Reference the source memory before the
        // destination's old memory is released: they may be the same.
        for p in &pieces {
            let r = &p.region;
            self.objects.get_mut(r.obj).map_count += 1;
            self.objects
                .add_ref(&mut self.frames, r.obj, r.obj_off, r.obj_off + r.npages);
        }
        self.reserve_tables(dst, tables);
        let removed = self.remove_range(dst, dst_addr, dst_addr + len, &mut flush);
        let overlapping = src == dst && src_addr < dst_addr + len && dst_addr < src_end;
        let dst_space = self.spaces.get_mut(&dst).expect("space");
        for p in &pieces {
            dst_space.regions.insert(p.dst_start, p.region);
        }
        self.region_total += pieces.len();
        // Mappings are a cache of the objects: copy them where the source
        // mappings are intact (an overlapping clone just faults them back).
        if !overlapping && new_prot & K_NOACCESS == 0 {
            let mut budget = Promises::new(dst);
            for p in &pieces {
                pagetable::copy_leaves(
                    &mut self.phys,
                    &mut self.frames,
                    &mut self.shared_tables,
                    &mut budget,
                    src_root,
                    p.src_start,
                    dst_root,
                    p.dst_start,
                    p.region.npages,
                    new_prot & K_WRITABLE != 0,
                    new_prot & K_EXECUTABLE != 0,
                );
            }
            self.settle(budget);
        }
        self.release_tables(dst, &removed);
        Ok(flush)
    }

    /// RGN_DUP (ABI §4.4) after the kernel's capability and flag checks:
    /// every source region (by `flags` or its own inherit bit) is created in
    /// the empty target, shared or as a private copy-on-write snapshot.
    /// Commits the target's page tables and, per private copy, a frame for
    /// every page of the copy and for every frame the source object had
    /// (both sides may later write every page). Where every region of a
    /// 2 MiB span is privately copied, the target gets the source's leaf
    /// table itself, write-protected in both (On-Demand-Fork); elsewhere it
    /// gets no mapping until it faults.
    ///
    /// # Errors
    /// `InvalidArgument` (bad flags, unknown space), `Overlap` (the target has
    /// a region), `NoMemory`. On failure the target stays empty.
    pub fn dup(&mut self, target: SpaceId, source: SpaceId, flags: u64) -> Result<Flush, MmError> {
        if flags != 0 && flags != K_INHERITCOPY && flags != K_INHERITSHARE {
            return Err(MmError::InvalidArgument);
        }
        let src_space = self.space(source)?;
        let tgt_space = self.space(target)?;
        if !tgt_space.regions.is_empty() {
            return Err(MmError::Overlap);
        }
        let mut flush = Flush::new();
        if source == target {
            return Ok(flush);
        }
        let plan: Vec<(VirtAddr, Region, bool)> = src_space
            .regions
            .iter()
            .filter_map(|(&s, r)| {
                let mode = if flags != 0 { flags } else { r.inherit };
                (mode != 0).then_some((s, *r, mode == K_INHERITCOPY))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut promised_npages: u64 = 0;
        let mut new_objects = 0usize;
        for (_, r, copy) in &plan {
            if *copy {
                let snapshots = seen.len();
                // Saturating: an impossible sum fails the pool check below.
                promised_npages = promised_npages
                    .saturating_add(self.objects.copy_cost_npages(r.obj, r.npages, &mut seen));
                if let Kind::Anon = self.objects.get(r.obj).kind {
                    // The copy, and a snapshot the first time an object with frames is copied.
                    new_objects += 1 + (seen.len() - snapshots);
                }
            }
        }
        let ranges: Vec<(VirtAddr, VirtAddr)> = plan
            .iter()
            .map(|(s, r, _)| (*s, *s + r.len_bytes()))
            .collect();
        let tables = pagetable::tables_needed(&ranges, |a, b| tgt_space.any_in(a, b));
        // Leaf tables handed to the target as they are (On-Demand-Fork):
        // spans where the source has a leaf table and every source region
        // touching the span is privately copied by a snapshot (an eager copy
        // owns frames the source's entries do not map). A table private
        // until now costs the source one more promise.
        let src_root = src_space.root;
        let mut shared_spans = Vec::new();
        let mut source_promises = 0u64;
        let mut last_span = None;
        let objects = &self.objects;
        let snapshot_copy = |r: &Region| {
            let mode = if flags != 0 { flags } else { r.inherit };
            mode == K_INHERITCOPY && !objects.copies_eagerly(r.obj)
        };
        for (&(a, b), _) in ranges
            .iter()
            .zip(&plan)
            .filter(|(_, (_, r, copy))| *copy && !objects.copies_eagerly(r.obj))
        {
            let mut span = a & !(pagetable::PT_SPAN_BYTES - 1);
            while span < b {
                let span_end = span + pagetable::PT_SPAN_BYTES;
                // Spans inside the region need no look at the neighbours.
                let all_copied = (span >= a && span_end <= b)
                    || src_space.regions_in(span, span_end).all(snapshot_copy);
                if last_span != Some(span) && all_copied {
                    if let Some(private) =
                        pagetable::leaf_table_state(&self.phys, &self.shared_tables, src_root, span)
                    {
                        shared_spans.push(span);
                        source_promises += u64::from(private);
                    }
                }
                last_span = Some(span);
                span = span_end;
            }
        }
        if promised_npages
            .checked_add(tables)
            .and_then(|n| n.checked_add(source_promises))
            .ok_or(MmError::NoMemory)?
            > self.frames.available_npages()
        {
            return Err(MmError::NoMemory);
        }
        self.check_region_room(plan.len())?;
        self.check_object_room(new_objects)?;
        // Nothing fails from here on.
        let mut snapshotted = BTreeSet::new();
        let mut new_regions = Vec::with_capacity(plan.len());
        for (s, r, copy) in plan {
            let mut region = r;
            if copy {
                let (obj, snap) = self.objects.private_copy(
                    &mut self.frames,
                    &mut self.phys,
                    r.obj,
                    r.obj_off,
                    r.npages,
                );
                if snap {
                    snapshotted.insert(r.obj);
                }
                region.obj = obj;
                region.obj_off = if obj == r.obj { r.obj_off } else { 0 };
            } else {
                self.objects
                    .add_ref(&mut self.frames, r.obj, r.obj_off, r.obj_off + r.npages);
            }
            self.objects.get_mut(region.obj).map_count += 1;
            new_regions.push((s, region));
        }
        self.reserve_tables(target, tables);
        self.region_total += new_regions.len();
        self.spaces
            .get_mut(&target)
            .expect("space")
            .regions
            .extend(new_regions);
        // The snapshotted objects' frames now belong to frozen snapshots:
        // no mapping of those objects, anywhere, may write them any more.
        if !snapshotted.is_empty() {
            let mut budgets = Vec::new();
            for (&sid, sp) in &self.spaces {
                let mut budget = Promises::new(sid);
                for (&s, r) in &sp.regions {
                    if snapshotted.contains(&r.obj) {
                        let (a, b) = pagetable::write_protect(
                            &mut self.phys,
                            &mut self.frames,
                            &mut self.shared_tables,
                            sp.root,
                            s,
                            s + r.len_bytes(),
                            &mut budget,
                        );
                        flush.add(sid, a, b);
                    }
                }
                budgets.push(budget);
            }
            for budget in budgets {
                self.settle(budget);
            }
        }
        let tgt_root = self.spaces[&target].root;
        let mut budget = Promises::new(target);
        let mut newly_shared = 0;
        for span in shared_spans {
            let Some(was_private) = pagetable::share_leaf_table(
                &mut self.phys,
                &mut self.frames,
                &mut self.shared_tables,
                source,
                src_root,
                tgt_root,
                span,
                &mut budget,
            ) else {
                // Dropped from the source by the write-protection above.
                continue;
            };
            newly_shared += u64::from(was_private);
            flush.add(source, span, span + pagetable::PT_SPAN_BYTES);
        }
        self.settle(budget);
        self.reserve_tables(source, newly_shared);
        Ok(flush)
    }

    /// A user-mode page fault at `addr`.
    pub fn resolve_fault(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        access: Access,
    ) -> FaultOutcome {
        let vaddr = addr & !(PAGE_SIZE - 1);
        let Some(sp) = self.spaces.get(&space) else {
            return FaultOutcome::Violation;
        };
        let Some((start, region)) = sp.find(vaddr) else {
            return FaultOutcome::Violation;
        };
        if !allows(region.prot, access) {
            return FaultOutcome::Violation;
        }
        let region = *region;
        let root = sp.root;
        let mut flush = Flush::new();
        self.fault_in(space, root, vaddr, start, &region, access, &mut flush);
        FaultOutcome::Resolved(flush)
    }

    /// Maps page `vaddr` of `region` (starting at `start`) for `access`,
    /// which the region allows; returns the frame now mapped. Never fails:
    /// every frame it may take was promised.
    #[allow(clippy::too_many_arguments)]
    fn fault_in(
        &mut self,
        space: SpaceId,
        root: PhysAddr,
        vaddr: VirtAddr,
        start: VirtAddr,
        region: &Region,
        access: Access,
        flush: &mut Flush,
    ) -> PhysAddr {
        let idx = region.obj_off + (vaddr - start) / PAGE_SIZE;
        let writable = region.prot & K_WRITABLE != 0;
        let executable = region.prot & K_EXECUTABLE != 0;
        let obj_id = region.obj;
        let obj = self.objects.get(obj_id);
        if let Kind::Phys { base_paddr } = obj.kind {
            if let Some(paddr) = self.map_huge(space, root, vaddr, start, region, base_paddr, flush)
            {
                return paddr;
            }
        }
        let obj = self.objects.get(obj_id);
        let (paddr, map_writable, changed) = match obj.kind {
            Kind::Phys { base_paddr } => (base_paddr + idx * PAGE_SIZE, writable, false),
            Kind::Anon => match obj.pages.get(idx) {
                Some(paddr) => (paddr, writable, false),
                None => match (self.objects.lookup(obj_id, idx), access) {
                    (Some(found), Access::Read | Access::Execute) => (found.paddr, false, false),
                    (Some(found), Access::Write) => {
                        let direct_parent = obj.parent.map(|(p, _)| p) == Some(found.owner);
                        let paddr = if direct_parent
                            && self.objects.sole_viewer(found.owner, obj_id, found.idx)
                        {
                            self.objects.take_page(
                                &mut self.frames,
                                found.owner,
                                found.idx,
                                obj_id,
                                idx,
                            )
                        } else {
                            let new = self.frames.alloc_user_reserved();
                            self.phys.copy_frame(new, found.paddr);
                            let obj = self.objects.get_mut(obj_id);
                            obj.pages.insert(idx, new);
                            obj.reserved_npages -= 1;
                            new
                        };
                        (paddr, true, true)
                    }
                    (None, _) => {
                        let new = self.frames.alloc_user_reserved();
                        self.phys.zero_frame(new);
                        let obj = self.objects.get_mut(obj_id);
                        obj.pages.insert(idx, new);
                        obj.reserved_npages -= 1;
                        (new, writable, true)
                    }
                },
            },
        };
        if changed {
            self.unmap_other_mappers(obj_id, idx, space, vaddr, flush);
        }
        let mut budget = Promises::new(space);
        let mut demoted = false;
        pagetable::ensure_leaf_table(
            &mut self.phys,
            &mut self.frames,
            &mut self.shared_tables,
            root,
            vaddr,
            &mut budget,
            &mut demoted,
        );
        self.settle(budget);
        if demoted {
            let span = vaddr & !(pagetable::PT_SPAN_BYTES - 1);
            flush.add(space, span, span + pagetable::PT_SPAN_BYTES);
        }
        pagetable::set_leaf(
            &mut self.phys,
            root,
            vaddr,
            pagetable::leaf_entry(paddr, map_writable, executable),
        );
        flush.add(space, vaddr, vaddr + PAGE_SIZE);
        paddr
    }

    /// Maps the 2 MiB span around `vaddr` with one 2 MiB leaf when `region`
    /// (physical memory at `base_paddr`) covers it whole, the physical side
    /// is 2 MiB-aligned too, and no leaf table is there yet; returns the
    /// frame of `vaddr` if it did.
    #[allow(clippy::too_many_arguments)]
    fn map_huge(
        &mut self,
        space: SpaceId,
        root: PhysAddr,
        vaddr: VirtAddr,
        start: VirtAddr,
        region: &Region,
        base_paddr: PhysAddr,
        flush: &mut Flush,
    ) -> Option<PhysAddr> {
        let span = vaddr & !(pagetable::PT_SPAN_BYTES - 1);
        let span_end = span.checked_add(pagetable::PT_SPAN_BYTES)?;
        if span < start || span_end > start + region.len_bytes() {
            return None;
        }
        let span_paddr = base_paddr + (region.obj_off + (span - start) / PAGE_SIZE) * PAGE_SIZE;
        if span_paddr & (pagetable::PT_SPAN_BYTES - 1) != 0 {
            return None;
        }
        let entry = pagetable::huge_entry(
            span_paddr,
            region.prot & K_WRITABLE != 0,
            region.prot & K_EXECUTABLE != 0,
        );
        let mut budget = Promises::new(space);
        let mapped = pagetable::set_huge(
            &mut self.phys,
            &mut self.frames,
            root,
            span,
            entry,
            &mut budget,
        );
        self.settle(budget);
        if !mapped {
            return None;
        }
        flush.add(space, span, span_end);
        Some(span_paddr + (vaddr - span))
    }

    /// Page `idx` of `obj` got a new frame: clears every other mapping of it
    /// (they may map the ancestor frame it replaced).
    fn unmap_other_mappers(
        &mut self,
        obj: ObjId,
        idx: u64,
        space: SpaceId,
        vaddr: VirtAddr,
        flush: &mut Flush,
    ) {
        if self.objects.get(obj).map_count <= 1 {
            return;
        }
        let mut budgets = Vec::new();
        for (&sid, sp) in &self.spaces {
            let mut budget = Promises::new(sid);
            for (&s, r) in &sp.regions {
                if r.obj != obj || idx < r.obj_off || idx >= r.obj_off + r.npages {
                    continue;
                }
                let v = s + (idx - r.obj_off) * PAGE_SIZE;
                if (sid, v) == (space, vaddr) {
                    continue;
                }
                if let Some((a, b)) = pagetable::clear_leaves(
                    &mut self.phys,
                    &mut self.frames,
                    &mut self.shared_tables,
                    sp.root,
                    v,
                    v + PAGE_SIZE,
                    &mut budget,
                ) {
                    flush.add(sid, a, b);
                }
            }
            budgets.push(budget);
        }
        for budget in budgets {
            self.settle(budget);
        }
    }

    /// Checks that every page of `[addr, addr + len_bytes)` allows `access`.
    fn check_user_access(
        &self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
        access: Access,
    ) -> Result<(), MmError> {
        let len = len_bytes as u64;
        if !is_user_range(addr, len) {
            return Err(MmError::BadAddress);
        }
        let sp = self.spaces.get(&space).ok_or(MmError::BadAddress)?;
        let end = addr + len;
        let mut vaddr = addr & !(PAGE_SIZE - 1);
        while vaddr < end {
            let (s, r) = sp.find(vaddr).ok_or(MmError::BadAddress)?;
            if !allows(r.prot, access) {
                return Err(MmError::BadAddress);
            }
            vaddr = s + r.len_bytes();
        }
        Ok(())
    }

    /// Whether a user write of `[addr, addr + len_bytes)` would succeed
    /// (every byte in user space, in a region that allows writes); changes
    /// nothing. Lets the kernel write a long result in parts, all or nothing.
    ///
    /// # Errors
    /// `BadAddress` where [`Memory::write_user`] would fail.
    pub fn check_user_writable(
        &self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
    ) -> Result<(), MmError> {
        if len_bytes == 0 {
            return Ok(());
        }
        self.check_user_access(space, addr, len_bytes, Access::Write)
    }

    /// Calls `f(paddr, buffer_offset, chunk_len)` for each page-bounded chunk
    /// of `[addr, addr + len_bytes)`, faulting each page in for `access`.
    fn user_copy(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
        access: Access,
        mut f: impl FnMut(&mut P, PhysAddr, usize, usize),
    ) -> Result<Flush, MmError> {
        let mut flush = Flush::new();
        if len_bytes == 0 {
            return Ok(flush);
        }
        self.check_user_access(space, addr, len_bytes, access)?;
        let root = self.spaces[&space].root;
        let mut done = 0usize;
        while done < len_bytes {
            let vaddr = addr + done as u64;
            let page = vaddr & !(PAGE_SIZE - 1);
            let in_page = (vaddr - page) as usize;
            let chunk = (PAGE_SIZE as usize - in_page).min(len_bytes - done);
            let (start, region) = self.spaces[&space].find(page).expect("checked region");
            let region = *region;
            let paddr = self.fault_in(space, root, page, start, &region, access, &mut flush);
            f(&mut self.phys, paddr + in_page as u64, done, chunk);
            done += chunk;
        }
        Ok(flush)
    }

    /// Reads user memory as a user read would (demand-zero and copy-on-write
    /// resolved, protection enforced).
    ///
    /// # Errors
    /// `BadAddress` if some byte is outside user space, without region, or
    /// not readable; then nothing changed.
    pub fn read_user(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        out: &mut [u8],
    ) -> Result<Flush, MmError> {
        let len = out.len();
        self.user_copy(space, addr, len, Access::Read, |phys, paddr, off, n| {
            phys.read_bytes(paddr, &mut out[off..off + n]);
        })
    }

    /// Writes user memory as a user write would.
    ///
    /// # Errors
    /// `BadAddress` if some byte is outside user space, without region, or
    /// not writable; then nothing changed.
    pub fn write_user(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        data: &[u8],
    ) -> Result<Flush, MmError> {
        self.user_copy(
            space,
            addr,
            data.len(),
            Access::Write,
            |phys, paddr, off, n| {
                phys.write_bytes(paddr, &data[off..off + n]);
            },
        )
    }
}
