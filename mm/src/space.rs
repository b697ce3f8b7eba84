//! Address spaces: a page-table root and ordered, non-overlapping regions.

use crate::object::ObjId;
use crate::{PhysAddr, VirtAddr, PAGE_SIZE};
use abi::layout::{USER_BASE, USER_LIMIT};
use alloc::collections::BTreeMap;

/// A run of pages mapping a window of one memory object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) npages: u64,
    /// `K_WRITABLE | K_EXECUTABLE | K_NOACCESS` bits.
    pub(crate) prot: u64,
    /// At most one of `K_INHERITCOPY | K_INHERITSHARE`.
    pub(crate) inherit: u64,
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
}

#[derive(Debug)]
pub(crate) struct Space {
    /// Physical address of the PML4.
    pub(crate) root: PhysAddr,
    /// Regions by start address.
    pub(crate) regions: BTreeMap<VirtAddr, Region>,
    /// Tables promised but not created: one per table span (leaf table,
    /// directory, PDPT) that some region intersects and that has no table yet.
    pub(crate) reserved_tables: u64,
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

    /// The regions intersecting `[start, end)`.
    pub(crate) fn regions_in(
        &self,
        start: VirtAddr,
        end: VirtAddr,
    ) -> impl Iterator<Item = &Region> {
        let first = self.find(start).map_or(start, |(s, _)| s);
        self.regions.range(first..end).map(|(_, r)| r)
    }

    /// Starts of the regions that lie inside `[start, end)` (after splits at both edges).
    pub(crate) fn starts_in(&self, start: VirtAddr, end: VirtAddr) -> alloc::vec::Vec<VirtAddr> {
        self.regions.range(start..end).map(|(&s, _)| s).collect()
    }
}
