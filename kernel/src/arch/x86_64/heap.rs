//! The kernel heap: `linked_list_allocator` over a physical range carved out at boot, reached through the direct map.
//!
//! Its size is planned so that no user program can exhaust it (a failed
//! kernel allocation is a panic): every structure a user can grow is either
//! capped by a kernel limit or paid for below. The figures are measured on
//! the host with a counting allocator over `mm` (`doc/memory.md`, "Kernel
//! heap and the region limit"), with a margin.

use super::ranges::PAGE_SIZE;
use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Kernel objects at their limits (64 processes with full 1024-slot
/// descriptor tables, 256 threads with their saved contexts, the scheduler,
/// boot data, RGN_STAT's bounded buffer) and allocator slack.
const FIXED_BYTES: u64 = 8 << 20;
/// Heap per frame of memory that may become resident: `mm`'s page maps
/// take at most 123 bytes per resident page, measured, when every page sits
/// alone in its 512-page chunk (a sparse chunk; a dense one holds at least
/// 32 pages), plus the free-frame list (8 bytes per frame) and shared-table
/// entries, with a margin.
const PAGE_BOOKKEEPING_BYTES: u64 = 160;
/// Heap per region: the region itself (122 bytes in the regions' B-tree),
/// the transient lists of one MCLONE or RGN_DUP over it (at most 106 bytes
/// per region at the peak), and the reference intervals its window puts in
/// its object and the (at most two, `mm`'s chain cap) frozen levels above it
/// (103 bytes per region beyond the first, measured with every region a
/// separate piece of one object copied over and over), with a margin.
/// Objects are paid for apart: MCLONE and shared copies add regions but no
/// object.
const REGION_BOOKKEEPING_BYTES: u64 = 336;
/// Heap per memory object: the object (at most 510 bytes with its slot, its
/// reference ranges and the slot vector's growth), what its page map's root
/// costs beyond [`PAGE_BOOKKEEPING_BYTES`] (309 bytes) and RGN_DUP's
/// transient lists (106 bytes), measured, with a margin.
const OBJECT_BOOKKEEPING_BYTES: u64 = 1024;
/// The heap share of regions and of objects: a sixty-fourth of free memory
/// each (larger guests get more), at least 32768 regions' worth (10.5 MiB)
/// and 8 MiB.
const REGION_SHARE_MIN_BYTES: u64 = 32768 * REGION_BOOKKEEPING_BYTES;
const OBJECT_SHARE_MIN_BYTES: u64 = 8 << 20;

/// Heap size and the limits that go with it.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub heap_bytes: u64,
    /// For `mm::Memory::set_region_limit`.
    pub region_limit: usize,
    /// For `mm::Memory::set_object_limit`.
    pub object_limit: usize,
}

/// The plan for `free_bytes` of free RAM (before the heap is taken): the
/// fixed part, 160 bytes per 4 KiB frame, max(10.5 MiB, free / 64) for
/// regions at 336 bytes each and max(8 MiB, free / 64) for objects at 1 KiB
/// each. 128 MiB of RAM: 30.5 MiB of heap, 32768 regions, 8192 objects;
/// 1 GiB: 79 MiB, 49779 regions, 16326 objects; 4 GiB: 295 MiB (about 7% of
/// RAM from there on), 199574 regions, 65478 objects.
pub fn plan(free_bytes: u64) -> Plan {
    let frames = free_bytes / PAGE_SIZE;
    let region_share = (free_bytes / 64).max(REGION_SHARE_MIN_BYTES);
    let object_share = (free_bytes / 64).max(OBJECT_SHARE_MIN_BYTES);
    let heap_bytes = (FIXED_BYTES + frames * PAGE_BOOKKEEPING_BYTES + region_share + object_share)
        .next_multiple_of(PAGE_SIZE);
    let limit = |share: u64, each: u64| usize::try_from(share / each).unwrap_or(usize::MAX);
    Plan {
        heap_bytes,
        region_limit: limit(region_share, REGION_BOOKKEEPING_BYTES),
        object_limit: limit(object_share, OBJECT_BOOKKEEPING_BYTES),
    }
}

/// Hands `[vaddr, vaddr + len)` to the allocator.
///
/// # Safety
///
/// Must be called once; the range must be mapped writable and used by nothing else, forever.
pub unsafe fn init(vaddr: u64, len: u64) {
    // SAFETY: the caller guarantees the range is ours alone.
    unsafe { HEAP.lock().init(vaddr as *mut u8, len as usize) }
}
