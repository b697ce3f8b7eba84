//! The frame pool: free frames and the counters MEMSTAT reports (ABI §5, §7).

use crate::{PhysAddr, PAGE_SIZE};
use alloc::vec::Vec;

/// Every frame `mm` owns is in exactly one state: free, user (held by a memory
/// object), or table (a page table, PML4 included). `committed_npages` counts
/// free frames promised to memory objects for later faults; it never exceeds
/// the free count, so a promised fault always finds a frame.
#[derive(Debug)]
pub(crate) struct FramePool {
    free: Vec<PhysAddr>,
    total_npages: u64,
    user_npages: u64,
    table_npages: u64,
    committed_npages: u64,
}

impl FramePool {
    /// A pool of every frame in the page-aligned `[start, end)` ranges.
    pub(crate) fn new(ranges: &[(PhysAddr, PhysAddr)]) -> Self {
        let mut free = Vec::new();
        for &(start, end) in ranges.iter().rev() {
            let mut paddr = end & !(PAGE_SIZE - 1);
            let first = (start + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
            while paddr >= first + PAGE_SIZE {
                paddr -= PAGE_SIZE;
                free.push(paddr);
            }
        }
        let total_npages = free.len() as u64;
        Self {
            free,
            total_npages,
            user_npages: 0,
            table_npages: 0,
            committed_npages: 0,
        }
    }

    pub(crate) fn total_npages(&self) -> u64 {
        self.total_npages
    }
    pub(crate) fn free_npages(&self) -> u64 {
        self.free.len() as u64
    }
    pub(crate) fn user_npages(&self) -> u64 {
        self.user_npages
    }
    pub(crate) fn table_npages(&self) -> u64 {
        self.table_npages
    }
    pub(crate) fn committed_npages(&self) -> u64 {
        self.committed_npages
    }

    /// Free frames nobody has been promised.
    pub(crate) fn available_npages(&self) -> u64 {
        self.free_npages() - self.committed_npages
    }

    /// Promises `npages` frames; the caller has checked [`Self::available_npages`].
    pub(crate) fn reserve(&mut self, npages: u64) {
        assert!(npages <= self.available_npages(), "commitment exceeded");
        self.committed_npages += npages;
    }

    /// Withdraws a promise of `npages` frames.
    pub(crate) fn unreserve(&mut self, npages: u64) {
        assert!(npages <= self.committed_npages, "commitment underflow");
        self.committed_npages -= npages;
    }

    /// Takes an unpromised frame for a page table; the caller has checked
    /// that one is available. The frame's contents are stale.
    pub(crate) fn alloc_table(&mut self) -> PhysAddr {
        assert!(self.available_npages() >= 1, "table frame not accounted");
        self.table_npages += 1;
        self.free.pop().expect("free frame")
    }

    /// Takes a promised frame for a page table (consumes one promise).
    pub(crate) fn alloc_table_reserved(&mut self) -> PhysAddr {
        self.unreserve(1);
        self.table_npages += 1;
        self.free.pop().expect("promised frame")
    }

    /// Takes a promised frame for user memory (consumes one promise).
    pub(crate) fn alloc_user_reserved(&mut self) -> PhysAddr {
        self.unreserve(1);
        self.user_npages += 1;
        self.free.pop().expect("promised frame")
    }

    pub(crate) fn free_table(&mut self, paddr: PhysAddr) {
        self.table_npages -= 1;
        self.free.push(paddr);
    }

    pub(crate) fn free_user(&mut self, paddr: PhysAddr) {
        self.user_npages -= 1;
        self.free.push(paddr);
    }
}
