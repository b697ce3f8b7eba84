//! The kernel heap: `linked_list_allocator` over a physical range carved out at boot, reached through the direct map,
//! behind per-size free lists for small blocks.
//!
//! Its size is planned so that no user program can exhaust it (a failed
//! kernel allocation is a panic): every structure a user can grow is either
//! capped by a kernel limit or paid for below. The figures are measured on
//! the host with a counting allocator over `mm` (`doc/memory.md`, "Kernel
//! heap and the region limit"), with a margin.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use super::ranges::PAGE_SIZE;
use linked_list_allocator::Heap;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    locked: AtomicBool::new(false),
    inner: UnsafeCell::new(Inner {
        heap: Heap::empty(),
        heads: [0; CLASSES],
        lens: [0; CLASSES],
    }),
};

/// Small blocks come in classes of 16, 32, ..., 512 bytes (alignment up to 16).
const CLASS_STEP: usize = 16;
const CLASSES: usize = 32;
/// Freed blocks kept per class before they go back to the heap: at most
/// 32 * (16 + 32 + ... + 512) = 270 KiB held back, inside the fixed part's
/// allocator slack below.
const CLASS_KEEP: u16 = 32;

/// `linked_list_allocator` walks its hole list on every call (first fit),
/// about 90 to 200 instructions for a small block; most kernel allocations
/// are small and short-lived (a fault's TLB ranges, a call's temporary
/// lists), so a freed small block is kept on its class's list and handed
/// out again in a few instructions. The heap sees every small block with its
/// class's size and alignment 16, so blocks of one class are interchangeable.
struct KernelHeap {
    /// The kernel runs with interrupts off on one CPU, so this flag is never
    /// contended; it keeps `Inner` exclusive all the same.
    locked: AtomicBool,
    inner: UnsafeCell<Inner>,
}

struct Inner {
    heap: Heap,
    /// Per class, the address of the first free block (0: none); a free
    /// block's first word holds the address of the next.
    heads: [usize; CLASSES],
    lens: [u16; CLASSES],
}

// SAFETY: `inner` is only reached through `with`, which holds `locked`.
unsafe impl Sync for KernelHeap {}

/// The class of a small layout.
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= CLASS_STEP && layout.size() <= CLASSES * CLASS_STEP)
        .then(|| layout.size().max(1).div_ceil(CLASS_STEP) - 1)
}

/// The layout the heap sees for blocks of `class`.
fn class_layout(class: usize) -> Layout {
    // 16 to 512 bytes, aligned 16: always a valid layout.
    Layout::from_size_align((class + 1) * CLASS_STEP, CLASS_STEP).unwrap_or(Layout::new::<u8>())
}

impl KernelHeap {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: `locked` is held, so no other reference to `inner` is live.
        let r = f(unsafe { &mut *self.inner.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

// SAFETY: a block is handed out once until it is given back: a class's free
// list holds only blocks given back and not yet handed out again, and every
// other block is the heap's; small blocks are at least 16 bytes aligned 16
// (their class's layout), so they satisfy any small layout of their class.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with(|h| {
            let layout = match class_of(layout) {
                Some(class) if h.heads[class] != 0 => {
                    let block = h.heads[class] as *mut usize;
                    // SAFETY: a free block of this class, whose first word
                    // `dealloc` set to the next one; nothing else uses it.
                    h.heads[class] = unsafe { block.read() };
                    h.lens[class] -= 1;
                    return block.cast();
                }
                Some(class) => class_layout(class),
                None => layout,
            };
            h.heap
                .allocate_first_fit(layout)
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        })
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        self.with(|h| match class_of(layout) {
            Some(class) if h.lens[class] < CLASS_KEEP => {
                // SAFETY: the caller gives back a block of this class (at
                // least 16 bytes, aligned 16) that nothing uses any more.
                unsafe { block.cast::<usize>().write(h.heads[class]) };
                h.heads[class] = block as usize;
                h.lens[class] += 1;
            }
            class => {
                let layout = class.map_or(layout, class_layout);
                if let Some(block) = NonNull::new(block) {
                    // SAFETY: the block came from this heap with this layout
                    // (small blocks always with their class's).
                    unsafe { h.heap.deallocate(block, layout) }
                }
            }
        })
    }
}

/// Kernel objects at their limits (64 processes with full 1024-slot
/// descriptor tables, 256 threads with their saved contexts, the scheduler,
/// boot data, RGN_STAT's bounded buffer) and allocator slack (including the
/// at most 270 KiB the small-block lists keep).
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
    HEAP.with(|h| unsafe { h.heap.init(vaddr as *mut u8, len as usize) })
}
