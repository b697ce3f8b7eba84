//! RGN_STAT (ABI §4.3): the regions, or parts of regions, inside a range.

use super::Memory;
use crate::space::Clip;
use crate::{PhysMem, SpaceId, PAGE_SIZE};
use abi::args::PageRange;
use abi::types::KnRgnStat;
use alloc::vec::Vec;

impl<P: PhysMem> Memory<P> {
    /// How many RGN_STAT entries `range` holds: every region (or part of
    /// one) inside it (allocates nothing, and does not count resident
    /// pages). An unknown space holds none.
    pub fn stat_count(&self, space: SpaceId, range: PageRange) -> usize {
        self.stat_parts(space, range).count()
    }

    /// The first `max` RGN_STAT entries of `range`, in address order:
    /// `options` = protection and inherit bits; `resident` = pages of that
    /// part backed by a frame. To go on, call again with the range from the
    /// end (`startAddr + size`) of the last entry returned: the entries are
    /// page-aligned and contiguous runs never overlap. The kernel asks for a
    /// bounded number at a time.
    pub fn stat_first(&self, space: SpaceId, range: PageRange, max: usize) -> Vec<KnRgnStat> {
        self.stat_parts(space, range)
            .take(max)
            .map(|part| self.stat_entry(&part))
            .collect()
    }

    /// The parts of regions inside `range`.
    fn stat_parts(&self, space: SpaceId, range: PageRange) -> impl Iterator<Item = Clip<'_>> {
        self.spaces
            .get(&space)
            .into_iter()
            .flat_map(move |sp| sp.clipped(range))
    }

    /// The RGN_STAT entry of one part of a region.
    fn stat_entry(&self, part: &Clip<'_>) -> KnRgnStat {
        let region = part.region;
        let off = region.obj_off + (part.start - part.region_start) / PAGE_SIZE;
        let npages = (part.end - part.start) / PAGE_SIZE;
        KnRgnStat {
            startAddr: part.start,
            size: part.end - part.start,
            options: region.options().bits(),
            opaque1: region.opaque1,
            opaque2: region.opaque2,
            resident: self.objects.resident_npages(region.obj, off, off + npages),
        }
    }
}
