//! `mm::PhysMem` over the direct map: how the memory core reads and writes physical memory.
//!
//! The direct map holds RAM only. Page tables and pool frames are always
//! RAM; the one way `mm` names other memory is a user copy through a user's
//! MMAP of device memory (`read_bytes`/`write_bytes`): that page is reached
//! through the scratch page of the device window, mapped uncached for the
//! access (never through a cacheable alias).

use alloc::vec::Vec;

use mm::{PhysAddr, PhysMem};

use super::cpu;
use super::paging::{phys_to_virt, scratch_entry, SCRATCH_VADDR};

const FRAME_SIZE: u64 = 4096;
/// Quadwords in a frame.
const FRAME_QWORDS: u64 = FRAME_SIZE / 8;

// Frames are cleared and copied with `rep stosq` / `rep movsq`: 512
// iterations of 8 bytes. This is what Linux uses on CPUs without ERMS
// (`clear_page_rep`, `copy_page`); with ERMS Linux switches to the byte forms,
// which on real hardware run the same fast-string microcode for an aligned
// 4 KiB block, so the quadword forms lose nothing there, while under QEMU's
// `-icount` (which counts every `rep` iteration) they count 512 instead of
// 4096. The kernel's general `memcpy`/`memset` (lang.rs) likewise move whole
// quadwords, then the bytes left.

/// Fills the frame at `p` with zeros (`rep stosq`).
///
/// # Safety
///
/// `p` must be the frame-aligned direct-map address of a frame the caller owns.
unsafe fn clear_frame(p: *mut u64) {
    // SAFETY: the caller guarantees the 4 KiB at `p`; DF is clear in the kernel.
    unsafe {
        core::arch::asm!(
            "rep stosq",
            inout("rdi") p => _, inout("rcx") FRAME_QWORDS => _, in("rax") 0u64,
            options(nostack, preserves_flags)
        );
    }
}

/// Copies the frame at `src` to the frame at `dst` (`rep movsq`).
///
/// # Safety
///
/// Both must be frame-aligned direct-map addresses of distinct frames; the
/// caller owns `dst`.
unsafe fn copy_frame(dst: *mut u64, src: *const u64) {
    // SAFETY: the caller guarantees both 4 KiB blocks, disjoint; DF is clear in the kernel.
    unsafe {
        core::arch::asm!(
            "rep movsq",
            inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") FRAME_QWORDS => _,
            options(nostack, preserves_flags)
        );
    }
}

/// Physical memory: RAM at `DIRECT_MAP_BASE + paddr`, other memory through the scratch page.
#[derive(Debug)]
pub struct DirectMap {
    end: u64,
    /// The RAM the direct map covers, sorted.
    ram: Vec<(u64, u64)>,
    /// The largest of them, where most frames are: looked at first.
    largest: (u64, u64),
    /// Physical address of the scratch page's entry.
    scratch_pte: u64,
}

impl DirectMap {
    /// The direct map built at boot: `ram` (sorted, ending at `end`), and
    /// the scratch page whose entry is at physical `scratch_pte`.
    pub fn new(end: u64, ram: Vec<(u64, u64)>, scratch_pte: u64) -> Self {
        let largest = ram
            .iter()
            .copied()
            .max_by_key(|&(s, e)| e - s)
            .unwrap_or((0, 0));
        Self {
            end,
            ram,
            largest,
            scratch_pte,
        }
    }

    fn is_ram(&self, paddr: PhysAddr, len: u64) -> bool {
        let end = paddr.saturating_add(len);
        let (start, stop) = self.largest;
        if start <= paddr && paddr < stop && end <= stop {
            return true;
        }
        let i = self.ram.partition_point(|&(_, e)| e <= paddr);
        self.ram
            .get(i)
            .is_some_and(|&(s, e)| s <= paddr && end <= e)
    }

    /// A virtual address for `[paddr, paddr + len)`, which lies in one page:
    /// the direct map for RAM, else the scratch page pointed at it, uncached.
    fn bytes_at(&self, paddr: PhysAddr, len: u64) -> u64 {
        if self.is_ram(paddr, len) {
            return phys_to_virt(paddr);
        }
        let offset = paddr & 0xFFF;
        assert!(
            offset + len <= 0x1000,
            "physical access {paddr:#x}+{len:#x} crosses a page"
        );
        let entry = phys_to_virt(self.scratch_pte) as *mut u64;
        // SAFETY: the entry lies in a page table the kernel built at boot
        // (RAM, direct-mapped) and only this code writes it; the kernel runs
        // on one CPU with interrupts off, so no other access through the
        // scratch page is in flight; the stale translation is dropped next.
        unsafe { entry.write_volatile(scratch_entry(paddr)) };
        cpu::invlpg(SCRATCH_VADDR);
        SCRATCH_VADDR + offset
    }

    /// The virtual address of `[paddr, paddr + len)`, checked against the map.
    ///
    /// # Panics
    ///
    /// If the range leaves the direct map: `mm` only names frames it was given.
    fn virt(&self, paddr: PhysAddr, len: u64) -> u64 {
        assert!(
            paddr.checked_add(len).is_some_and(|end| end <= self.end),
            "physical access {paddr:#x}+{len:#x} outside the direct map (end {:#x})",
            self.end
        );
        phys_to_virt(paddr)
    }
}

impl PhysMem for DirectMap {
    fn read_u64(&self, paddr: PhysAddr) -> u64 {
        assert!(
            paddr.is_multiple_of(8),
            "unaligned physical u64 read at {paddr:#x}"
        );
        let p = self.virt(paddr, 8) as *const u64;
        // SAFETY: `virt` checked the range lies in the direct map (writable RAM
        // mapping); the address is 8-byte aligned.
        unsafe { p.read_volatile() }
    }

    fn write_u64(&mut self, paddr: PhysAddr, value: u64) {
        assert!(
            paddr.is_multiple_of(8),
            "unaligned physical u64 write at {paddr:#x}"
        );
        let p = self.virt(paddr, 8) as *mut u64;
        // SAFETY: as for `read_u64`; `mm` owns the frames it writes.
        unsafe { p.write_volatile(value) }
    }

    fn map_u64s(
        &mut self,
        dst: PhysAddr,
        src: PhysAddr,
        n: u64,
        mut f: impl FnMut(u64) -> Option<u64>,
    ) {
        assert!(
            dst.is_multiple_of(8) && src.is_multiple_of(8),
            "unaligned physical u64 run"
        );
        let d = self.virt(dst, 8 * n) as *mut u64;
        let s = self.virt(src, 8 * n) as *const u64;
        for i in 0..n as usize {
            // SAFETY: `virt` checked both runs of `n` u64 lie in the direct
            // map; both are 8-byte aligned; `mm` owns the tables it writes.
            unsafe {
                if let Some(v) = f(s.add(i).read_volatile()) {
                    d.add(i).write_volatile(v);
                }
            }
        }
    }

    fn read_bytes(&self, paddr: PhysAddr, out: &mut [u8]) {
        let p = self.bytes_at(paddr, out.len() as u64) as *const u8;
        // SAFETY: the source range is mapped (`bytes_at`: the direct map or
        // the scratch page); `out` is a distinct kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) }
    }

    fn write_bytes(&mut self, paddr: PhysAddr, data: &[u8]) {
        let p = self.bytes_at(paddr, data.len() as u64) as *mut u8;
        // SAFETY: the destination range is mapped (`bytes_at`) and `mm`
        // writes only memory it owns or a user mapped; `data` is a distinct
        // kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
    }

    fn zero_frame(&mut self, paddr: PhysAddr) {
        assert!(
            paddr.is_multiple_of(FRAME_SIZE),
            "unaligned frame {paddr:#x}"
        );
        let p = self.virt(paddr, FRAME_SIZE) as *mut u64;
        // SAFETY: a whole frame inside the direct map, owned by `mm`.
        unsafe { clear_frame(p) }
    }

    fn copy_frame(&mut self, dst: PhysAddr, src: PhysAddr) {
        assert!(
            dst.is_multiple_of(FRAME_SIZE) && src.is_multiple_of(FRAME_SIZE),
            "unaligned frame copy"
        );
        if dst == src {
            return;
        }
        let d = self.virt(dst, FRAME_SIZE) as *mut u64;
        let s = self.virt(src, FRAME_SIZE) as *const u64;
        // SAFETY: two distinct, frame-aligned frames, hence disjoint, inside the direct map.
        unsafe { copy_frame(d, s) }
    }
}
