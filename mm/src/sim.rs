//! `SimPhys`: simulated physical memory over a `Vec`, for host tests and benchmarks.

use crate::{PhysAddr, PhysMem, PAGE_SIZE};
use alloc::vec;
use alloc::vec::Vec;

/// Physical address of the first simulated frame. Not 0, so that a zero
/// physical address never looks like a valid frame.
pub const SIM_BASE: PhysAddr = 0x10_0000;

/// Simulated RAM: `nframes` frames starting at [`SIM_BASE`]. The backing
/// `Vec` is allocated zeroed, so the host only pays for frames that are touched.
#[derive(Clone)]
pub struct SimPhys {
    bytes: Vec<u8>,
}

impl core::fmt::Debug for SimPhys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimPhys")
            .field("nframes", &(self.bytes.len() as u64 / PAGE_SIZE))
            .finish()
    }
}

impl SimPhys {
    /// The memory and its free ranges (one range covering every frame).
    pub fn new(nframes: usize) -> (SimPhys, Vec<(PhysAddr, PhysAddr)>) {
        let len_bytes = nframes * PAGE_SIZE as usize;
        let phys = SimPhys {
            bytes: vec![0u8; len_bytes],
        };
        (phys, vec![(SIM_BASE, SIM_BASE + len_bytes as u64)])
    }

    fn offset(&self, paddr: PhysAddr, len_bytes: usize) -> usize {
        let off = paddr
            .checked_sub(SIM_BASE)
            .expect("physical address below simulated RAM") as usize;
        assert!(
            off + len_bytes <= self.bytes.len(),
            "physical access beyond simulated RAM"
        );
        off
    }
}

impl PhysMem for SimPhys {
    fn read_u64(&self, paddr: PhysAddr) -> u64 {
        // An address below SIM_BASE wraps to a huge offset: the slice
        // indexing panics on it like on one beyond the end.
        let off = paddr.wrapping_sub(SIM_BASE) as usize;
        let word: [u8; 8] = self.bytes[off..off + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(word)
    }

    fn write_u64(&mut self, paddr: PhysAddr, value: u64) {
        let off = paddr.wrapping_sub(SIM_BASE) as usize;
        self.bytes[off..off + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn read_bytes(&self, paddr: PhysAddr, out: &mut [u8]) {
        let off = self.offset(paddr, out.len());
        out.copy_from_slice(&self.bytes[off..off + out.len()]);
    }

    fn write_bytes(&mut self, paddr: PhysAddr, data: &[u8]) {
        let off = self.offset(paddr, data.len());
        self.bytes[off..off + data.len()].copy_from_slice(data);
    }

    fn zero_frame(&mut self, paddr: PhysAddr) {
        let off = self.offset(paddr, PAGE_SIZE as usize);
        self.bytes[off..off + PAGE_SIZE as usize].fill(0);
    }

    fn copy_frame(&mut self, dst: PhysAddr, src: PhysAddr) {
        let frame = PAGE_SIZE as usize;
        let src_off = self.offset(src, frame);
        let dst_off = self.offset(dst, frame);
        self.bytes.copy_within(src_off..src_off + frame, dst_off);
    }
}
