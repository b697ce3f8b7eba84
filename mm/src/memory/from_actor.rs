//! RGN_MAP_FROM_ACTOR and RGN_INIT_FROM_ACTOR (ABI §4.3): new regions in a free range of one space over a range of another, shared or as a private snapshot.

use super::{Memory, SegmentId};
use crate::flush::Flush;
use crate::space::{page_range, Region};
use crate::{MmError, PhysMem, SpaceId, VirtAddr};
use abi::args::{Allocation, UserRange};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

impl<P: PhysMem> Memory<P> {
    /// The pieces of `source`'s regions over `[src_start, +npages)`, clipped
    /// to it, with their offset (bytes) from `src_start`.
    ///
    /// # Errors
    /// `InvalidArgument` if a page of the range lies in no region.
    fn source_pieces(
        &self,
        source: SpaceId,
        src_start: VirtAddr,
        npages: u64,
    ) -> Result<Vec<(u64, Region)>, MmError> {
        let range = UserRange::pages(src_start, npages).map_err(|_| MmError::InvalidArgument)?;
        let sp = self.space(source)?;
        let mut pieces = Vec::new();
        let mut next = range.start();
        for c in sp.clipped(page_range(range.start(), range.end())) {
            if c.start != next {
                return Err(MmError::InvalidArgument);
            }
            pieces.push((c.start - range.start(), c.piece()));
            next = c.end;
        }
        if next != range.end() {
            return Err(MmError::InvalidArgument);
        }
        Ok(pieces)
    }

    /// The checks of the range calls, in the ABI's order after the
    /// capabilities: source holes (`InvalidArgument`), the target range
    /// (`Overlap`, or `NoMemory` for `K_ANYWHERE`), then memory (`NoMemory`).
    /// For a private copy (`copy`) also returns what must be pulled in first:
    /// runs (at most `max_run` pages) of segment pages the caches lack.
    ///
    /// # Errors
    /// As said.
    pub fn range_call_check(
        &self,
        target: SpaceId,
        req: &Allocation,
        source: SpaceId,
        src_start: VirtAddr,
        copy: bool,
        max_run: u64,
    ) -> Result<Vec<(SegmentId, u64, u64)>, MmError> {
        let pieces = self.source_pieces(source, src_start, req.npages)?;
        let (_, tables) = self.place(target, req)?;
        let (promised, objects) = self.range_call_cost(&pieces, copy);
        self.check_frames(promised.saturating_add(tables))?;
        self.check_region_room(pieces.len())?;
        self.check_object_room(objects)?;
        let mut gaps = Vec::new();
        if copy {
            for (_, r) in &pieces {
                if self.objects.get(r.obj).segment.is_some() {
                    let seg = SegmentId(r.obj);
                    for (s, e) in self.segment_missing(seg, r.obj_off, r.npages, max_run) {
                        gaps.push((seg, s, e));
                    }
                }
            }
        }
        Ok(gaps)
    }

    /// Frames promised and objects created by copying (or sharing) `pieces`.
    fn range_call_cost(&self, pieces: &[(u64, Region)], copy: bool) -> (u64, usize) {
        if !copy {
            return (0, 0);
        }
        let mut seen = BTreeSet::new();
        let mut promised = 0u64;
        let mut objects = 0usize;
        for (_, r) in pieces {
            let before = seen.len();
            promised =
                promised.saturating_add(self.objects.copy_cost_npages(r.obj, r.npages, &mut seen));
            if let crate::object::Kind::Anon = self.objects.get(r.obj).kind {
                objects += 1 + (seen.len() - before);
            }
        }
        (promised, objects)
    }

    /// RGN_MAP_FROM_ACTOR (`copy` false: the target shares the source's
    /// memory, as MCLONE rules 2 and 5) or RGN_INIT_FROM_ACTOR (`copy`
    /// true: a private snapshot, as RGN_DUP rule 3) of `[src_start,
    /// +req.npages)` of `source` into a new, free range of `target`. One
    /// target region per source piece, each with `req`'s options and opaque
    /// values. Segment pages a copy needs must be in their caches already
    /// ([`Memory::range_call_check`] lists them).
    ///
    /// # Errors
    /// As [`Memory::range_call_check`]; `InvalidArgument` if a copied
    /// segment page is missing. Nothing changed then.
    pub fn range_call(
        &mut self,
        target: SpaceId,
        req: &Allocation,
        source: SpaceId,
        src_start: VirtAddr,
        copy: bool,
    ) -> Result<(VirtAddr, Flush), MmError> {
        if !self
            .range_call_check(target, req, source, src_start, copy, 1)?
            .is_empty()
        {
            return Err(MmError::InvalidArgument);
        }
        let pieces = self.source_pieces(source, src_start, req.npages)?;
        let (start, tables) = self.place(target, req)?;
        let mut flush = Flush::new();
        let mut snapshotted = BTreeSet::new();
        let mut new_regions = Vec::with_capacity(pieces.len());
        for &(off, r) in &pieces {
            let mut region = Region {
                prot: req.options.prot,
                inherit: req.options.inherit,
                opaque1: req.opaque1,
                opaque2: req.opaque2,
                ..r
            };
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
                region.obj_off = if obj == r.obj { r.obj_off } else { 0 };
                region.obj = obj;
            } else {
                self.objects
                    .add_ref(&mut self.frames, r.obj, r.obj_off, r.obj_off + r.npages);
            }
            self.objects.get_mut(region.obj).map_count += 1;
            new_regions.push((start + off, region));
        }
        for obj in snapshotted {
            self.write_protect_mappings_of(obj, &mut flush);
        }
        self.tables.promises.make(&mut self.frames, target, tables);
        self.region_total += new_regions.len();
        self.spaces
            .get_mut(&target)
            .expect("space")
            .regions
            .extend(new_regions);
        Ok((start, flush))
    }
}
