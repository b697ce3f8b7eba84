//! Address spaces: a page-table root and ordered, non-overlapping regions.

use crate::object::ObjId;
use crate::{PhysAddr, VirtAddr, PAGE_SIZE};
use abi::args::{Inherit, PageRange, Prot, RegionOptions};
use abi::layout::{USER_BASE, USER_LIMIT};
use alloc::collections::BTreeMap;

/// A run of pages mapping a window of one memory object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) npages: u64,
    pub(crate) prot: Prot,
    pub(crate) inherit: Inherit,
    pub(crate) opaque1: u64,
    pub(crate) opaque2: u64,
    pub(crate) obj: ObjId,
    /// Page index in `obj` of the region's first page.
    pub(crate) obj_off: u64,
}

impl Region {
    pub(crate) fn len_bytes(&self) -> u64 {
        self.npages * PAGE_SIZE
    }

    /// Its attributes, as RGN_STAT reports them.
    pub(crate) fn options(&self) -> RegionOptions {
        RegionOptions {
            prot: self.prot,
            inherit: self.inherit,
        }
    }
}

/// The part `[start, end)` of a region that lies inside a range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clip<'a> {
    /// Where the whole region starts.
    pub(crate) region_start: VirtAddr,
    pub(crate) start: VirtAddr,
    pub(crate) end: VirtAddr,
    pub(crate) region: &'a Region,
}

impl Clip<'_> {
    /// The region cut down to the part: its window starts at the part.
    pub(crate) fn piece(&self) -> Region {
        let mut r = *self.region;
        r.obj_off += (self.start - self.region_start) / PAGE_SIZE;
        r.npages = (self.end - self.start) / PAGE_SIZE;
        r
    }
}

#[derive(Debug)]
pub(crate) struct Space {
    /// Physical address of the PML4.
    pub(crate) root: PhysAddr,
    /// Regions by start address.
    pub(crate) regions: BTreeMap<VirtAddr, Region>,
}

impl Space {
    /// The region containing `vaddr`, with its start.
    pub(crate) fn find(&self, vaddr: VirtAddr) -> Option<(VirtAddr, &Region)> {
        let (&start, region) = self.regions.range(..=vaddr).next_back()?;
        (vaddr < start + region.len_bytes()).then_some((start, region))
    }

    /// Whether some region intersects `[start, end)`.
    pub(crate) fn any_in(&self, start: VirtAddr, end: VirtAddr) -> bool {
        self.regions
            .range(..end)
            .next_back()
            .is_some_and(|(&s, r)| s + r.len_bytes() > start)
    }

    /// The lowest free range of `len_bytes` in `[USER_BASE, USER_LIMIT)`.
    pub(crate) fn find_gap(&self, len_bytes: u64) -> Option<VirtAddr> {
        let mut cursor = USER_BASE;
        for (&start, region) in &self.regions {
            if start >= cursor && start - cursor >= len_bytes {
                return Some(cursor);
            }
            cursor = cursor.max(start + region.len_bytes());
        }
        (USER_LIMIT.checked_sub(cursor)? >= len_bytes).then_some(cursor)
    }

    /// Splits the region strictly containing `vaddr` in two; returns the
    /// object that gained a region reference, if any.
    pub(crate) fn split_at(&mut self, vaddr: VirtAddr) -> Option<ObjId> {
        let (start, region) = self.find(vaddr)?;
        if start == vaddr {
            return None;
        }
        let mut low = *region;
        // `find` gave start <= vaddr; callers cut at page-aligned addresses.
        let head_npages = (vaddr - start) / PAGE_SIZE;
        let mut high = low;
        low.npages = head_npages;
        high.npages -= head_npages;
        high.obj_off += head_npages;
        self.regions.insert(start, low);
        self.regions.insert(vaddr, high);
        Some(low.obj)
    }

    /// Every region intersecting the page-aligned `range`, clipped to it, in
    /// address order: the one way of cutting regions to a range (RGN_STAT,
    /// MCLONE, and every question about the regions in a range).
    pub(crate) fn clipped(&self, range: PageRange) -> impl Iterator<Item = Clip<'_>> {
        let (lo, hi) = (range.start(), range.end());
        // first <= lo <= hi: the range below cannot be reversed.
        let first = self.find(lo).map_or(lo, |(s, _)| s);
        self.regions
            .range(first..hi.max(first))
            .filter_map(move |(&s, region)| {
                let start = s.max(lo);
                let end = (s + region.len_bytes()).min(hi);
                (start < end).then_some(Clip {
                    region_start: s,
                    start,
                    end,
                    region,
                })
            })
    }

    /// The regions intersecting the page-aligned `[start, end)`.
    pub(crate) fn regions_in(
        &self,
        start: VirtAddr,
        end: VirtAddr,
    ) -> impl Iterator<Item = &Region> {
        self.clipped(page_range(start, end)).map(|c| c.region)
    }

    /// Starts of the regions that lie inside `[start, end)` (after splits at both edges).
    pub(crate) fn starts_in(&self, start: VirtAddr, end: VirtAddr) -> alloc::vec::Vec<VirtAddr> {
        self.regions.range(start..end).map(|(&s, _)| s).collect()
    }
}

/// The page-aligned `[start, end)` (`start <= end`) as a `PageRange`.
pub(crate) fn page_range(start: VirtAddr, end: VirtAddr) -> PageRange {
    PageRange::covering(start, end - start).expect("a range that does not wrap")
}
