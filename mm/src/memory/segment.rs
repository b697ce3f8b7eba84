//! Segment caches (ABI §4.5): RGN_MAP and RGN_INIT over a cache, pull-in, write-back, release.
//!
//! The cache of a segment is an anonymous object (see `crate::segment`)
//! that the kernel names by a [`SegmentId`]. `mm` never talks to a mapper:
//! a fault on a page the cache lacks returns `FaultOutcome::PullIn`, the
//! kernel fetches the data and hands it to [`Memory::segment_fill`], and
//! the kernel drives write-back with [`Memory::segment_dirty_runs`],
//! [`Memory::segment_read`] and [`Memory::segment_clean`] before
//! [`Memory::segment_drop`].

use super::Memory;
use crate::flush::Flush;
use crate::object::ObjId;
use crate::pagetable::{self, Walk};
use crate::space::Region;
use crate::{MmError, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use abi::args::{Allocation, Placement};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Names a segment's cache. Valid from the call that created it until
/// [`Memory::segment_drop`]; the kernel keeps one per segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub(crate) ObjId);

impl<P: PhysMem> Memory<P> {
    /// Whether page `idx` of `obj` is a segment page its cache does not hold data for.
    pub(super) fn segment_page_missing(&self, obj: ObjId, idx: u64) -> bool {
        self.objects.get(obj).segment.is_some() && self.objects.lookup(obj, idx).is_none()
    }

    /// Frames holding `[first, first + npages)` would newly promise: the
    /// pages the cache does not hold yet (it owns no frame outside its holds).
    fn hold_cost(&self, seg: Option<SegmentId>, first: u64, npages: u64) -> u64 {
        let Some(SegmentId(id)) = seg else {
            return npages;
        };
        let mut held = self.books(id).held.clone();
        let mut newly = Vec::new();
        held.add(first, first + npages, &mut newly);
        newly.iter().map(|(s, e)| e - s).sum()
    }

    fn books(&self, id: ObjId) -> &crate::segment::CacheBooks {
        self.objects
            .get(id)
            .segment
            .as_ref()
            .expect("segment cache")
    }

    /// Holds `[first, first + npages)` of the cache `id` (promises were checked).
    fn hold(&mut self, id: ObjId, first: u64, npages: u64) {
        let mut newly = Vec::new();
        let books = self.objects.get_mut(id).segment.as_mut().expect("segment");
        books.held.add(first, first + npages, &mut newly);
        for (s, e) in newly {
            self.objects.add_ref(&mut self.frames, id, s, e);
        }
    }

    /// Where a new region of `req` goes in `space`, and the tables it needs.
    pub(super) fn place(
        &self,
        space: SpaceId,
        req: &Allocation,
    ) -> Result<(VirtAddr, u64), MmError> {
        let len = req.npages * PAGE_SIZE;
        let sp = self.space(space)?;
        let start = match req.place {
            Placement::Anywhere => sp.find_gap(len).ok_or(MmError::NoMemory)?,
            Placement::At(start) if sp.any_in(start, start + len) => return Err(MmError::Overlap),
            Placement::At(start) => start,
        };
        let tables = pagetable::tables_needed(&[(start, start + len)], |a, b| sp.any_in(a, b));
        Ok((start, tables))
    }

    /// Inserts a region made of `req` over `[obj_off, +npages)` of `obj`
    /// (references taken here) and promises `tables`.
    fn insert_region(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        req: &Allocation,
        obj: ObjId,
        obj_off: u64,
        tables: u64,
    ) {
        self.objects
            .add_ref(&mut self.frames, obj, obj_off, obj_off + req.npages);
        self.objects.get_mut(obj).map_count += 1;
        self.tables.promises.make(&mut self.frames, space, tables);
        self.region_total += 1;
        let region = Region {
            npages: req.npages,
            prot: req.options.prot,
            inherit: req.options.inherit,
            opaque1: req.opaque1,
            opaque2: req.opaque2,
            obj,
            obj_off,
        };
        self.spaces
            .get_mut(&space)
            .expect("space")
            .regions
            .insert(start, region);
    }

    /// RGN_MAP (ABI §4.5): a new region mapping pages `[first, +npages)` of
    /// the segment whose cache is `seg` (a new cache if `None`). Promises a
    /// frame for every page of the window the cache does not hold yet, and
    /// the page tables. Returns the region's start and the cache.
    ///
    /// # Errors
    /// `Overlap`, `NoMemory` as for RGN_ALLOCATE; nothing changed then.
    pub fn segment_map(
        &mut self,
        space: SpaceId,
        req: &Allocation,
        seg: Option<SegmentId>,
        first: u64,
    ) -> Result<(VirtAddr, SegmentId), MmError> {
        let (start, tables) = self.place(space, req)?;
        let cost = self.hold_cost(seg, first, req.npages);
        self.check_frames(cost.checked_add(tables).ok_or(MmError::NoMemory)?)?;
        self.check_region_room(1)?;
        self.check_object_room(usize::from(seg.is_none()))?;
        let id = seg.map_or_else(|| self.objects.new_segment(), |s| s.0);
        self.hold(id, first, req.npages);
        self.insert_region(space, start, req, id, first, tables);
        Ok((start, SegmentId(id)))
    }

    /// Holds pages `[first, +npages)` in the cache `seg` (a new cache if
    /// `None`) without mapping them: what RGN_INIT does before pulling them
    /// in. Promises a frame for every page not held yet.
    ///
    /// # Errors
    /// `NoMemory`; nothing changed then.
    pub fn segment_hold(
        &mut self,
        seg: Option<SegmentId>,
        first: u64,
        npages: u64,
    ) -> Result<SegmentId, MmError> {
        self.check_frames(self.hold_cost(seg, first, npages))?;
        self.check_object_room(usize::from(seg.is_none()))?;
        let id = seg.map_or_else(|| self.objects.new_segment(), |s| s.0);
        self.hold(id, first, npages);
        if self.objects.get(id).map_count == 0 {
            self.unmapped_segments.push(id);
        }
        Ok(SegmentId(id))
    }

    /// The runs of pages of `[first, +npages)` the cache holds no data
    /// for, each at most `max_run` pages, in order.
    pub fn segment_missing(
        &self,
        seg: SegmentId,
        first: u64,
        npages: u64,
        max_run: u64,
    ) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        // Fast path, O(chunks): one level of the chain backs the whole window
        // (always so for a cache copied or shared whole), so RGN_DUP of a
        // resident mapper-backed region stays O(page tables).
        let mut level = Some((seg.0, 0u64));
        while let Some((id, shift)) = level {
            let o = self.objects.get(id);
            if o.pages.count_range(first + shift, first + npages + shift) == npages {
                return runs;
            }
            level = o.parent.map(|(p, off)| (p, shift + off));
        }
        for idx in first..first + npages {
            if self.objects.lookup(seg.0, idx).is_some() {
                continue;
            }
            match runs.last_mut() {
                Some(run) if run.1 == idx && run.1 - run.0 < max_run => run.1 += 1,
                _ => runs.push((idx, idx + 1)),
            }
        }
        runs
    }

    /// Whether the cache holds data for page `idx`.
    pub fn segment_has_page(&self, seg: SegmentId, idx: u64) -> bool {
        self.objects.lookup(seg.0, idx).is_some()
    }

    /// A pulled-in page: `data` (4096 bytes) becomes page `idx` of the
    /// cache, from the frame promised for it. Ignored (returns false) if the
    /// cache already has the page or does not hold it.
    pub fn segment_fill(&mut self, seg: SegmentId, idx: u64, data: &[u8]) -> bool {
        let id = seg.0;
        if self.objects.lookup(id, idx).is_some() || !self.books(id).held.contains(idx) {
            return false;
        }
        let frame = self.frames.alloc_user_reserved();
        self.phys.write_bytes(frame, &data[..PAGE_SIZE as usize]);
        let obj = self.objects.get_mut(id);
        obj.pages.insert(idx, frame);
        obj.reserved_npages -= 1;
        true
    }

    /// RGN_INIT (ABI §4.5) once every page of the window is in the cache: a
    /// new region holding a private snapshot of pages `[first, +npages)`.
    /// Commits as a private copy of RGN_DUP does.
    ///
    /// # Errors
    /// `Overlap`, `NoMemory`; `InvalidArgument` if a page of the window is
    /// not in the cache. Nothing changed then.
    pub fn segment_init(
        &mut self,
        space: SpaceId,
        req: &Allocation,
        seg: SegmentId,
        first: u64,
    ) -> Result<(VirtAddr, Flush), MmError> {
        let (start, tables) = self.place(space, req)?;
        if !self.segment_missing(seg, first, req.npages, 1).is_empty() {
            return Err(MmError::InvalidArgument);
        }
        let mut seen = BTreeSet::new();
        let cost = self.objects.copy_cost_npages(seg.0, req.npages, &mut seen);
        self.check_frames(cost.checked_add(tables).ok_or(MmError::NoMemory)?)?;
        self.check_region_room(1)?;
        self.check_object_room(1 + seen.len())?;
        let (copy, snapshotted) =
            self.objects
                .private_copy(&mut self.frames, &mut self.phys, seg.0, first, req.npages);
        let mut flush = Flush::new();
        if snapshotted {
            self.write_protect_mappings_of(seg.0, &mut flush);
        }
        self.insert_region(space, start, req, copy, 0, tables);
        // `private_copy` took the copy's references itself.
        self.objects.drop_ref(&mut self.frames, copy, 0, req.npages);
        Ok((start, flush))
    }

    /// Write-protects every mapping of `obj`, whose frames just moved into a snapshot.
    pub(super) fn write_protect_mappings_of(&mut self, obj: ObjId, flush: &mut Flush) {
        for (&sid, sp) in &self.spaces {
            let mut walk = Walk::new(
                &mut self.phys,
                &mut self.frames,
                &mut self.tables,
                sid,
                sp.root,
            );
            for (&s, r) in &sp.regions {
                if r.obj == obj {
                    let (a, b) = walk.write_protect(s, s + r.len_bytes());
                    flush.add(sid, a, b);
                }
            }
        }
    }

    /// The written pages of the cache as runs of consecutive pages, each at
    /// most `max_run` pages, in order.
    pub fn segment_dirty_runs(&self, seg: SegmentId, max_run: u64) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &idx in &self.books(seg.0).dirty {
            match runs.last_mut() {
                Some(run) if run.1 == idx && run.1 - run.0 < max_run => run.1 += 1,
                _ => runs.push((idx, idx + 1)),
            }
        }
        runs
    }

    /// Reads page `idx` of the cache into `out` (4096 bytes; zeros if absent).
    pub fn segment_read(&self, seg: SegmentId, idx: u64, out: &mut [u8]) {
        match self.objects.lookup(seg.0, idx) {
            Some(found) => self
                .phys
                .read_bytes(found.paddr, &mut out[..PAGE_SIZE as usize]),
            None => out[..PAGE_SIZE as usize].fill(0),
        }
    }

    /// Pages `[start, end)` were pushed out: they are clean again. Their
    /// mappings, if any, lose write access so that a new write marks them.
    pub fn segment_clean(&mut self, seg: SegmentId, start: u64, end: u64) -> Flush {
        let mut flush = Flush::new();
        let books = self
            .objects
            .get_mut(seg.0)
            .segment
            .as_mut()
            .expect("segment");
        let cleaned: Vec<u64> = books.dirty.range(start..end).copied().collect();
        for idx in &cleaned {
            books.dirty.remove(idx);
        }
        if cleaned.is_empty() || self.objects.get(seg.0).map_count == 0 {
            return flush;
        }
        for (&sid, sp) in &self.spaces {
            let mut walk = Walk::new(
                &mut self.phys,
                &mut self.frames,
                &mut self.tables,
                sid,
                sp.root,
            );
            for (&s, r) in &sp.regions {
                if r.obj != seg.0 {
                    continue;
                }
                for &idx in &cleaned {
                    if idx >= r.obj_off && idx < r.obj_off + r.npages {
                        let v = s + (idx - r.obj_off) * PAGE_SIZE;
                        if let Some((a, b)) = walk.clear_leaves(v, v + PAGE_SIZE) {
                            flush.add(sid, a, b);
                        }
                    }
                }
            }
        }
        flush
    }

    /// Whether some region maps the cache.
    pub fn segment_mapped(&self, seg: SegmentId) -> bool {
        self.objects.get(seg.0).map_count > 0
    }

    /// Pages of the cache that hold data (its own frames or a snapshot's).
    pub fn segment_resident(&self, seg: SegmentId) -> u64 {
        self.books(seg.0)
            .held
            .live_intervals()
            .iter()
            .map(|&(s, e)| self.objects.resident_npages(seg.0, s, e))
            .sum()
    }

    /// Releases an unmapped cache: its holds go, and with them every frame
    /// and promise nobody else (a private copy) still reads. `seg` names
    /// nothing afterwards. A cache some region maps again is left alone
    /// (returns false).
    pub fn segment_drop(&mut self, seg: SegmentId) -> bool {
        if self.segment_mapped(seg) {
            return false;
        }
        let books = self
            .objects
            .get_mut(seg.0)
            .segment
            .as_mut()
            .expect("segment");
        books.dirty.clear();
        let held = core::mem::take(&mut books.held).live_intervals();
        self.unmapped_segments.retain(|&o| o != seg.0);
        for (s, e) in held {
            self.objects.drop_ref(&mut self.frames, seg.0, s, e);
        }
        true
    }

    /// Whether some segment cache lost its last region since the last
    /// [`Memory::take_unmapped_segments`] (a check that allocates nothing).
    pub fn has_unmapped_segments(&self) -> bool {
        !self.unmapped_segments.is_empty()
    }

    /// The caches that lost their last region (or were only held) since
    /// the last call, each once.
    pub fn take_unmapped_segments(&mut self) -> Vec<SegmentId> {
        let mut ids = core::mem::take(&mut self.unmapped_segments);
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter(|&id| self.objects.get(id).map_count == 0)
            .map(SegmentId)
            .collect()
    }
}

impl<P: PhysMem> Memory<P> {
    /// RGN_INIT's early check: `Overlap` or `NoMemory` (no free range for
    /// `K_ANYWHERE`) if the region could not be placed now.
    ///
    /// # Errors
    /// As said.
    pub fn segment_check_place(&self, space: SpaceId, req: &Allocation) -> Result<(), MmError> {
        self.place(space, req).map(|_| ())
    }
}
