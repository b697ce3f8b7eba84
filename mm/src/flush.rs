//! `Flush`: the TLB ranges an operation leaves stale, for the kernel to invalidate.

use crate::{SpaceId, VirtAddr};
use alloc::vec::Vec;

/// TLB entries that must be invalidated: `(space, [start, end))` ranges.
///
/// Adjacent or overlapping ranges of the same space are merged as they are added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flush {
    ranges: Vec<(SpaceId, VirtAddr, VirtAddr)>,
}

impl Flush {
    /// No range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing needs invalidating.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, as `(space, start, end)` with `end` exclusive.
    pub fn ranges(&self) -> impl Iterator<Item = (SpaceId, VirtAddr, VirtAddr)> + '_ {
        self.ranges.iter().copied()
    }

    /// Adds `[start, end)` of `space` (merged with the last range when they touch).
    pub(crate) fn add(&mut self, space: SpaceId, start: VirtAddr, end: VirtAddr) {
        if start >= end {
            return;
        }
        if let Some(last) = self.ranges.last_mut() {
            if last.0 == space && start <= last.2 && end >= last.1 {
                last.1 = last.1.min(start);
                last.2 = last.2.max(end);
                return;
            }
        }
        self.ranges.push((space, start, end));
    }

    /// Whether `vaddr` of `space` lies in one of the ranges (tests use it).
    #[cfg(test)]
    pub(crate) fn covers(&self, space: SpaceId, vaddr: VirtAddr) -> bool {
        self.ranges
            .iter()
            .any(|&(s, a, b)| s == space && a <= vaddr && vaddr < b)
    }
}
