//! `Flush`: the TLB ranges an operation leaves stale, for the kernel to invalidate.

use crate::{SpaceId, VirtAddr};
use alloc::vec::Vec;

/// One stale range: `(space, start, end)`, `end` exclusive.
type Range = (SpaceId, VirtAddr, VirtAddr);

/// TLB entries that must be invalidated: `(space, [start, end))` ranges.
///
/// Adjacent or overlapping ranges of the same space are merged as they are added.
/// The first range is kept inline: a page fault leaves one range, and
/// resolving it should not cost a heap allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flush {
    first: Option<Range>,
    /// The ranges after the first.
    more: Vec<Range>,
}

impl Flush {
    /// No range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing needs invalidating.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The ranges, as `(space, start, end)` with `end` exclusive.
    pub fn ranges(&self) -> impl Iterator<Item = Range> + '_ {
        self.first.iter().chain(self.more.iter()).copied()
    }

    /// Adds `[start, end)` of `space` (merged with the last range when they touch).
    pub(crate) fn add(&mut self, space: SpaceId, start: VirtAddr, end: VirtAddr) {
        if start >= end {
            return;
        }
        let last = match self.more.last_mut() {
            Some(last) => last,
            None => match &mut self.first {
                Some(first) => first,
                None => {
                    self.first = Some((space, start, end));
                    return;
                }
            },
        };
        if last.0 == space && start <= last.2 && end >= last.1 {
            last.1 = last.1.min(start);
            last.2 = last.2.max(end);
            return;
        }
        self.more.push((space, start, end));
    }

    /// Whether `vaddr` of `space` lies in one of the ranges (tests use it).
    #[cfg(test)]
    pub(crate) fn covers(&self, space: SpaceId, vaddr: VirtAddr) -> bool {
        self.ranges()
            .any(|(s, a, b)| s == space && a <= vaddr && vaddr < b)
    }
}
