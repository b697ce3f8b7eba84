//! Device registers (local APIC, I/O APIC) in the direct map, uncached.
//!
//! A device page at physical `paddr` is reached at `phys_to_virt(paddr)`,
//! like RAM, but through a 2 MiB page with PCD and PWT set (PAT entry 3,
//! uncacheable at reset: Intel SDM vol. 3 §12.12.2). The entry goes into the
//! direct map's PDPT, which every address space shares, so it is seen
//! everywhere at once.

use super::cpu;
use super::paging::{phys_to_virt, DIRECT_MAP_BASE};
use super::ranges::Ranges;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const GLOBAL: u64 = 1 << 8;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const SIZE_2M: u64 = 2 << 20;

/// Reads entry `index` of the table at physical `table`.
fn entry(table: u64, index: u64) -> *mut u64 {
    (phys_to_virt(table) + index * 8) as *mut u64
}

/// Maps the 2 MiB around device address `paddr` uncached at
/// `phys_to_virt(paddr)` and returns that address. A page directory it
/// needs comes from `free` (before `mm` gets the free ranges).
///
/// # Safety
///
/// `paddr` must be device memory (no RAM the kernel uses lies in its 2 MiB),
/// and this must run before other CPUs use the direct map around it.
pub unsafe fn map_device(paddr: u64, free: &mut Ranges) -> u64 {
    let vaddr = phys_to_virt(paddr);
    let root = cpu::read_cr3() & ADDR_MASK;
    let pml4_index = (DIRECT_MAP_BASE >> 39) & 511;
    // SAFETY: the kernel's tables live in RAM, reached through the direct
    // map; the direct map's PDPT exists (built at boot); a new page
    // directory is a free frame cleared before it is linked; the caller
    // guarantees the 2 MiB holds no RAM in use, so replacing its entry
    // takes nothing away from the kernel.
    unsafe {
        let pdpt = *entry(root, pml4_index) & ADDR_MASK;
        let pdpte = entry(pdpt, (vaddr >> 30) & 511);
        if *pdpte & PRESENT == 0 {
            let frame = free
                .take_page_below(u64::MAX)
                .expect("no free frame for a device page directory");
            core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, 4096);
            *pdpte = frame | PRESENT | WRITABLE;
        }
        let pd = *pdpte & ADDR_MASK;
        let base = paddr & !(SIZE_2M - 1);
        *entry(pd, (vaddr >> 21) & 511) =
            base | PRESENT | WRITABLE | HUGE | GLOBAL | NO_EXECUTE | WRITE_THROUGH | CACHE_DISABLE;
        cpu::invlpg(vaddr & !(SIZE_2M - 1));
    }
    vaddr
}
