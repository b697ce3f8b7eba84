//! The bookkeeping a segment's cache keeps beside its frames (ABI §4.5).
//!
//! A cache is an anonymous memory object whose missing pages are pulled in
//! from a mapper instead of zero-filled. Besides the references of the
//! regions that map it, the cache holds one reference of its own on every
//! page any region ever mapped (`held`): that keeps written pages in memory
//! after the last region went, until the kernel has pushed them out and
//! released the cache. `dirty` lists the pages written since they were
//! pulled in (or last pushed out); a page not in it is mapped read-only, so
//! its first write faults and marks it.

use crate::ranges::RangeCounts;
use alloc::collections::BTreeSet;

#[derive(Debug, Default)]
pub(crate) struct CacheBooks {
    /// Pages the cache itself holds (count 1 each): every page ever mapped.
    pub(crate) held: RangeCounts,
    /// Pages written since they came in or were last pushed out.
    pub(crate) dirty: BTreeSet<u64>,
}
