//! The kernel heap: `linked_list_allocator` over a physical range carved out at boot, reached through the direct map.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[vaddr, vaddr + len)` to the allocator.
///
/// # Safety
///
/// Must be called once; the range must be mapped writable and used by nothing else, forever.
pub unsafe fn init(vaddr: u64, len: u64) {
    // SAFETY: the caller guarantees the range is ours alone.
    unsafe { HEAP.lock().init(vaddr as *mut u8, len as usize) }
}
