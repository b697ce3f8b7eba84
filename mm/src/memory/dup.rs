//! RGN_DUP (ABI §4.4): every region of one space created in an empty one, shared or as a private copy.

use super::Memory;
use crate::flush::Flush;
use crate::object::Kind;
use crate::pagetable;
use crate::space::Region;
use crate::{MmError, PhysMem, SpaceId, VirtAddr};
use abi::args::{DupMode, Inherit};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// What RGN_DUP will do, worked out before anything changes.
struct DupPlan {
    /// Each duplicated source region with its start and whether it is
    /// privately copied (else shared).
    regions: Vec<(VirtAddr, Region, bool)>,
    /// Frames the private copies promise.
    promised_npages: u64,
    /// Objects the private copies create.
    new_objects: usize,
    /// Page tables the target needs.
    tables: u64,
    /// Spans whose source leaf table the target gets as it is.
    shared_spans: Vec<VirtAddr>,
    /// Tables the source must promise for those of its leaf tables that are
    /// private until now.
    source_promises: u64,
}

impl<P: PhysMem> Memory<P> {
    /// RGN_DUP (ABI §4.4) after the kernel's capability and flag checks:
    /// every source region (by `mode` or its own inherit attribute) is
    /// created in the empty target, shared or as a private copy-on-write
    /// snapshot. Commits the target's page tables and, per private copy, a
    /// frame for every page of the copy and for every frame the source
    /// object had (both sides may later write every page). Where every
    /// region of a 2 MiB span is privately copied, the target gets the
    /// source's leaf table itself, write-protected in both (On-Demand-Fork);
    /// elsewhere it gets no mapping until it faults.
    ///
    /// # Errors
    /// `Overlap` (the target has a region), `NoMemory`; `InvalidArgument`
    /// for an unknown space. On failure the target stays empty.
    pub fn dup(
        &mut self,
        target: SpaceId,
        source: SpaceId,
        mode: DupMode,
    ) -> Result<Flush, MmError> {
        self.space(source)?;
        if !self.space(target)?.regions.is_empty() {
            return Err(MmError::Overlap);
        }
        let mut flush = Flush::new();
        if source == target {
            return Ok(flush);
        }
        let plan = self.plan_dup(target, source, mode);
        self.check_plan(&plan)?;
        // Nothing fails from here on.
        let mut snapshotted = BTreeSet::new();
        let mut new_regions = Vec::with_capacity(plan.regions.len());
        for &(s, r, copy) in &plan.regions {
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
        self.tables
            .promises
            .make(&mut self.frames, target, plan.tables);
        self.region_total += new_regions.len();
        self.spaces
            .get_mut(&target)
            .expect("space")
            .regions
            .extend(new_regions);
        // The snapshotted objects' frames now belong to frozen snapshots:
        // no mapping of those objects, anywhere, may write them any more.
        if !snapshotted.is_empty() {
            self.for_each_mapping(|walk, sid, s, r| {
                if snapshotted.contains(&r.obj) {
                    let (a, b) = walk.write_protect(s, s + r.len_bytes());
                    flush.add(sid, a, b);
                }
            });
        }
        let src_root = self.spaces[&source].root;
        let mut newly_shared = 0;
        let mut walk = self.walk(target);
        for span in plan.shared_spans {
            let Some(was_private) = walk.share_leaf_table_of(source, src_root, span) else {
                // Dropped from the source by the write-protection above.
                continue;
            };
            newly_shared += u64::from(was_private);
            flush.add(source, span, span + pagetable::PT_SPAN_BYTES);
        }
        drop(walk);
        self.tables
            .promises
            .make(&mut self.frames, source, newly_shared);
        Ok(flush)
    }

    /// `NoMemory` unless the pool, the region limit and the object limit
    /// can take what `plan` costs.
    fn check_plan(&self, plan: &DupPlan) -> Result<(), MmError> {
        self.check_frames(
            plan.promised_npages
                .checked_add(plan.tables)
                .and_then(|n| n.checked_add(plan.source_promises))
                .ok_or(MmError::NoMemory)?,
        )?;
        self.check_region_room(plan.regions.len())?;
        self.check_object_room(plan.new_objects)
    }

    /// The regions RGN_DUP duplicates and what that costs.
    fn plan_dup(&self, target: SpaceId, source: SpaceId, mode: DupMode) -> DupPlan {
        let src_space = &self.spaces[&source];
        let tgt_space = &self.spaces[&target];
        let regions: Vec<(VirtAddr, Region, bool)> = src_space
            .regions
            .iter()
            .filter_map(|(&s, r)| match mode.for_region(r.inherit) {
                Inherit::None => None,
                Inherit::Copy => Some((s, *r, true)),
                Inherit::Share => Some((s, *r, false)),
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut promised_npages: u64 = 0;
        let mut new_objects = 0usize;
        for (_, r, copy) in &regions {
            if *copy {
                let snapshots = seen.len();
                // Saturating: an impossible sum fails the pool check.
                promised_npages = promised_npages
                    .saturating_add(self.objects.copy_cost_npages(r.obj, r.npages, &mut seen));
                if let Kind::Anon = self.objects.get(r.obj).kind {
                    // The copy, and a snapshot the first time an object with frames is copied.
                    new_objects += 1 + (seen.len() - snapshots);
                }
            }
        }
        let ranges: Vec<(VirtAddr, VirtAddr)> = regions
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
            mode.for_region(r.inherit) == Inherit::Copy && !objects.copies_eagerly(r.obj)
        };
        for (&(a, b), _) in ranges
            .iter()
            .zip(&regions)
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
                        pagetable::leaf_table_state(&self.phys, &self.tables.shared, src_root, span)
                    {
                        shared_spans.push(span);
                        source_promises += u64::from(private);
                    }
                }
                last_span = Some(span);
                span = span_end;
            }
        }
        DupPlan {
            regions,
            promised_npages,
            new_objects,
            tables,
            shared_spans,
            source_promises,
        }
    }
}

impl<P: PhysMem> Memory<P> {
    /// What RGN_DUP must pull in before it can copy: the runs (at most
    /// `max_run` pages) of pages that privately copied segment regions of
    /// `source` map and their caches lack, as `(cache, first, end)`. Fails
    /// first as [`Memory::dup`] would for the target and for memory.
    ///
    /// # Errors
    /// `Overlap`, `NoMemory`, `InvalidArgument` as [`Memory::dup`].
    pub fn dup_segment_gaps(
        &self,
        target: SpaceId,
        source: SpaceId,
        mode: DupMode,
        max_run: u64,
    ) -> Result<Vec<(super::SegmentId, u64, u64)>, MmError> {
        self.space(source)?;
        if !self.space(target)?.regions.is_empty() {
            return Err(MmError::Overlap);
        }
        if source == target {
            return Ok(Vec::new());
        }
        let plan = self.plan_dup(target, source, mode);
        self.check_plan(&plan)?;
        let mut gaps = Vec::new();
        for (_, r, copy) in plan.regions {
            if !copy || self.objects.get(r.obj).segment.is_none() {
                continue;
            }
            let seg = super::SegmentId(r.obj);
            for (s, e) in self.segment_missing(seg, r.obj_off, r.npages, max_run) {
                gaps.push((seg, s, e));
            }
        }
        Ok(gaps)
    }
}
