//! The fast path of the kernel's user copies: a page the hardware tables already map for an access is used as the CPU would use it.
//!
//! mm keeps every present user entry within what its region allows (a
//! lowered protection, a copy-on-write share or a freed page removes or
//! write-protects the entry before the call that changes it returns), so a
//! present, user-accessible (and, for a write, writable at every level)
//! entry is exactly an access the CPU would allow. Anything else (absent,
//! read-only for a write, not yet faulted in) goes the slow way, through
//! the region and the fault path.

use super::{PTE_ADDR_MASK, PTE_HUGE, PTE_PRESENT, PTE_USER, PTE_WRITABLE, PT_SPAN_BYTES};
use crate::{PhysAddr, PhysMem, VirtAddr, PAGE_SIZE};

/// Index bits of each level above the leaf table (PML4, PDPT, PD).
const UPPER_SHIFTS: [u32; 3] = [39, 30, 21];
const PT_SHIFT: u32 = 12;
const INDEX_MASK: u64 = 511;

/// The physical address `vaddr` reaches for a user read (or a user write
/// when `write`), if the tables under `root` allow it now.
#[inline]
pub(crate) fn translate<P: PhysMem>(
    phys: &P,
    root: PhysAddr,
    vaddr: VirtAddr,
    write: bool,
) -> Option<PhysAddr> {
    let needed = PTE_PRESENT | PTE_USER | if write { PTE_WRITABLE } else { 0 };
    let mut table = root;
    for shift in UPPER_SHIFTS {
        let entry = phys.read_u64(table + 8 * ((vaddr >> shift) & INDEX_MASK));
        if entry & needed != needed {
            return None;
        }
        if entry & PTE_HUGE != 0 {
            // Only a PDE may be a leaf (2 MiB); bit 12 of it is PAT, not address.
            return (shift == UPPER_SHIFTS[2]).then(|| {
                (entry & PTE_ADDR_MASK & !(PT_SPAN_BYTES - 1)) + (vaddr & (PT_SPAN_BYTES - 1))
            });
        }
        table = entry & PTE_ADDR_MASK;
    }
    let entry = phys.read_u64(table + 8 * ((vaddr >> PT_SHIFT) & INDEX_MASK));
    (entry & needed == needed).then(|| (entry & PTE_ADDR_MASK) + (vaddr & (PAGE_SIZE - 1)))
}

/// Most pages the fast path takes in one copy (a message is at most 2048
/// bytes, so at most 2 pages; longer copies go the slow way).
const FAST_PAGES: usize = 2;

/// A short user buffer's physical chunks, `(paddr, offset in the buffer, length)`.
pub(crate) struct Mapped {
    chunks: [(PhysAddr, usize, usize); FAST_PAGES],
    len: usize,
}

impl Mapped {
    pub(crate) fn chunks(&self) -> &[(PhysAddr, usize, usize)] {
        &self.chunks[..self.len]
    }
}

/// The physical chunks of `[addr, addr + len_bytes)` (`0 < len_bytes`,
/// user range checked by the caller) if every page of it is mapped for the
/// access.
#[inline]
pub(crate) fn mapped_chunks<P: PhysMem>(
    phys: &P,
    root: PhysAddr,
    addr: VirtAddr,
    len_bytes: usize,
    write: bool,
) -> Option<Mapped> {
    let mut chunks = [(0, 0, 0); FAST_PAGES];
    let mut n = 0;
    let mut done = 0usize;
    while done < len_bytes {
        let vaddr = addr + done as u64;
        let in_page = (vaddr & (PAGE_SIZE - 1)) as usize;
        let chunk = (PAGE_SIZE as usize - in_page).min(len_bytes - done);
        let slot = chunks.get_mut(n)?;
        *slot = (translate(phys, root, vaddr, write)?, done, chunk);
        n += 1;
        done += chunk;
    }
    Some(Mapped { chunks, len: n })
}
