//! `mm::PhysMem` over the direct map: how the memory core reads and writes physical memory.

use mm::{PhysAddr, PhysMem};

use super::paging::phys_to_virt;

const FRAME_SIZE: u64 = 4096;

/// Physical memory `[0, end)`, reached at `DIRECT_MAP_BASE + paddr`.
#[derive(Debug)]
pub struct DirectMap {
    end: u64,
}

impl DirectMap {
    /// The direct map built at boot, which covers `[0, end)`.
    pub fn new(end: u64) -> Self {
        Self { end }
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

    fn read_bytes(&self, paddr: PhysAddr, out: &mut [u8]) {
        let p = self.virt(paddr, out.len() as u64) as *const u8;
        // SAFETY: the source range is in the direct map; `out` is a distinct kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) }
    }

    fn write_bytes(&mut self, paddr: PhysAddr, data: &[u8]) {
        let p = self.virt(paddr, data.len() as u64) as *mut u8;
        // SAFETY: the destination range is in the direct map and owned by `mm`;
        // `data` is a distinct kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
    }

    fn zero_frame(&mut self, paddr: PhysAddr) {
        assert!(
            paddr.is_multiple_of(FRAME_SIZE),
            "unaligned frame {paddr:#x}"
        );
        let p = self.virt(paddr, FRAME_SIZE) as *mut u8;
        // SAFETY: a whole frame inside the direct map, owned by `mm`.
        unsafe { core::ptr::write_bytes(p, 0, FRAME_SIZE as usize) }
    }

    fn copy_frame(&mut self, dst: PhysAddr, src: PhysAddr) {
        assert!(
            dst.is_multiple_of(FRAME_SIZE) && src.is_multiple_of(FRAME_SIZE),
            "unaligned frame copy"
        );
        if dst == src {
            return;
        }
        let d = self.virt(dst, FRAME_SIZE) as *mut u8;
        let s = self.virt(src, FRAME_SIZE) as *const u8;
        // SAFETY: two distinct, frame-aligned frames, hence disjoint, inside the direct map.
        unsafe { core::ptr::copy_nonoverlapping(s, d, FRAME_SIZE as usize) }
    }
}
