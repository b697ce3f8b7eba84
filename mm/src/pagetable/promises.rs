//! The table-promise ledger: the one place where page-table promises are made, used and given back.

use crate::frames::FramePool;
use crate::space::Space;

/// Each space's page tables promised but not created: one per table span
/// (leaf table, directory, PDPT) that some region of the space intersects
/// and that has no table yet, plus one per shared leaf table the space
/// holds (doc/memory.md §2, §5.3). The count lives in the space (a `Cell`,
/// so that a page-table walk can settle it while the spaces are being
/// read); each promise is also counted in the pool's `committed_frames`, and
/// these methods, the only ones that change the count, keep the two in step.
impl Space {
    /// Outstanding table promises of the space.
    pub(crate) fn promised_tables(&self) -> u64 {
        self.promised_tables.get()
    }

    /// Promises `npages` table frames to the space (the caller checked the pool).
    pub(crate) fn promise_tables(&self, frames: &mut FramePool, npages: u64) {
        if npages == 0 {
            return;
        }
        frames.reserve(npages);
        self.promised_tables
            .set(self.promised_tables.get() + npages);
    }

    /// `npages` promises became tables (their frames were taken from the
    /// pool as promised frames).
    pub(crate) fn promises_used(&self, npages: u64) {
        self.promised_tables
            .set(self.promised_tables.get() - npages);
    }

    /// Gives `npages` promises back to the pool.
    pub(crate) fn give_back_tables(&self, frames: &mut FramePool, npages: u64) {
        if npages == 0 {
            return;
        }
        self.promises_used(npages);
        frames.unreserve(npages);
    }
}
