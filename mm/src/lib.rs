//! Ferrite's portable memory core: frames, memory objects, regions, x86_64 page tables, commitment.
//!
//! Trust level: `no_std` + `alloc`, no `unsafe`, depends only on `abi`. The
//! kernel runs this code over its direct map; host tests run the very same
//! code over [`sim::SimPhys`]. The design and its invariants are described in
//! `doc/memory.md`; the API is the contract of `doc/internals.md`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod flush;
mod frames;
mod invariants;
mod memory;
mod object;
mod pagemap;
mod pagetable;
mod ranges;
mod segment;
pub mod sim;
mod space;

#[cfg(test)]
mod mmap_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod raw;
#[cfg(test)]
mod tests;

pub use flush::Flush;
pub use memory::Memory;
pub use memory::SegmentId;

/// A physical address.
pub type PhysAddr = u64;
/// A virtual (user) address.
pub type VirtAddr = u64;

/// Bytes in one page (ABI §1.2).
pub const PAGE_SIZE: u64 = abi::layout::PAGE_SIZE;

/// Access to physical memory. The kernel implements it over its direct map;
/// host tests over a Vec. Addresses are frame-aligned where the name says
/// frame; byte accesses never cross a frame boundary.
pub trait PhysMem {
    fn read_u64(&self, paddr: PhysAddr) -> u64;
    fn write_u64(&mut self, paddr: PhysAddr, value: u64);
    /// For `i` in `0..n`: `f(u64 at src + 8i)`, and where that is `Some(v)`,
    /// writes `v` at `dst + 8i`. Both runs are 8-byte aligned, each inside
    /// one frame, and disjoint: one bounds check per run of page-table
    /// entries instead of one per entry.
    fn map_u64s(
        &mut self,
        dst: PhysAddr,
        src: PhysAddr,
        n: u64,
        mut f: impl FnMut(u64) -> Option<u64>,
    ) where
        Self: Sized,
    {
        for i in 0..n {
            if let Some(v) = f(self.read_u64(src + 8 * i)) {
                self.write_u64(dst + 8 * i, v);
            }
        }
    }
    fn read_bytes(&self, paddr: PhysAddr, out: &mut [u8]);
    fn write_bytes(&mut self, paddr: PhysAddr, data: &[u8]);
    fn zero_frame(&mut self, paddr: PhysAddr);
    fn copy_frame(&mut self, dst: PhysAddr, src: PhysAddr);
}

/// Names one address space. Never reused while the `Memory` lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpaceId(u64);

/// Why an operation failed; nothing changed when one is returned.
///
/// `InvalidArgument` → `K_EINVAL` / `JINUE_EINVAL`, `Overlap` → `K_EOVERLAP`,
/// `NoMemory` → `K_ENOMEM` / `JINUE_ENOMEM`, `BadAddress` (a user copy hit an
/// unmapped or protected page) → `K_EFAULT` / `JINUE_EINVAL` as the function says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmError {
    InvalidArgument,
    Overlap,
    NoMemory,
    BadAddress,
}

/// The kind of a user access (page-fault cause or user copy direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// What the kernel does after a user page fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The mapping is fixed; flush then resume the thread.
    Resolved(Flush),
    /// No region, or the access violates its protection: kill the thread.
    Violation,
    /// The page lies in a segment's cache that does not hold it yet: the
    /// kernel pulls page `page` of `segment` in from its mapper, then the
    /// access is retried (ABI §4.5).
    PullIn { segment: SegmentId, page: u64 },
}
