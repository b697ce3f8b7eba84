//! The table-promise ledger: the one place where page-table promises are made, used and given back.

use crate::frames::FramePool;
use crate::SpaceId;
use alloc::collections::BTreeMap;

/// Page tables promised to each space but not created: one per table span
/// (leaf table, directory, PDPT) that some region of the space intersects
/// and that has no table yet, plus one per shared leaf table the space
/// holds (doc/memory.md §2, §5.3). Each promise is also counted in the
/// pool's `committed_frames`; every method keeps the two in step.
#[derive(Debug, Default)]
pub(crate) struct TablePromises {
    by_space: BTreeMap<SpaceId, u64>,
}

impl TablePromises {
    /// Outstanding promises of `space`.
    pub(crate) fn of(&self, space: SpaceId) -> u64 {
        self.by_space.get(&space).copied().unwrap_or(0)
    }

    /// Outstanding promises of every space together.
    pub(crate) fn total(&self) -> u64 {
        self.by_space.values().sum()
    }

    /// Promises `npages` table frames to `space` (the caller checked the pool).
    pub(crate) fn make(&mut self, frames: &mut FramePool, space: SpaceId, npages: u64) {
        if npages == 0 {
            return;
        }
        frames.reserve(npages);
        *self.by_space.entry(space).or_insert(0) += npages;
    }

    /// Gives `npages` promises of `space` back to the pool.
    pub(crate) fn give_back(&mut self, frames: &mut FramePool, space: SpaceId, npages: u64) {
        if npages == 0 {
            return;
        }
        self.debit(space, npages);
        frames.unreserve(npages);
    }

    /// Gives every promise of `space` back and forgets the space.
    pub(crate) fn close(&mut self, frames: &mut FramePool, space: SpaceId) {
        if let Some(npages) = self.by_space.remove(&space) {
            frames.unreserve(npages);
        }
    }

    /// `npages` promises of `space` became tables (the walk that took their
    /// frames settles them here).
    pub(crate) fn debit(&mut self, space: SpaceId, npages: u64) {
        let count = self
            .by_space
            .get_mut(&space)
            .expect("promises of the space");
        *count -= npages;
    }
}
