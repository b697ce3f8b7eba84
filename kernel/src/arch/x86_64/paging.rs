//! The kernel's page tables: the higher-half image with per-section rights and the direct map of RAM.
//!
//! Layout of the upper half (PML4 entries 256..512, shared by every address
//! space through `kernel_half`):
//!
//! - `DIRECT_MAP_BASE + paddr` for every page of RAM the firmware reported,
//!   and nothing else (no device memory, no firmware or ACPI memory, no
//!   holes): writable, no-execute, global, write-back; 2 MiB pages where a
//!   whole aligned 2 MiB lies inside one RAM range, 4 KiB pages at the edges,
//!   so no large page straddles a hole (PML4 entry 256, RAM up to 512 GiB).
//!   `verify_direct_map` walks the result at boot.
//! - `KERNEL_VMA + paddr` for the kernel image: 4 KiB pages, `.text`
//!   read-only + executable, `.rodata` read-only + no-execute, `.data`/`.bss`
//!   writable + no-execute, one unmapped guard page below the kernel stack
//!   (PML4 entry 511).
//!
//! The PDPTs of both are created here and never change, so copying the 256
//! upper PML4 entries into a new address space shares all kernel mappings.

use super::cpu;
use super::ranges::{Ranges, PAGE_SIZE};

/// Virtual base of the direct map of physical memory.
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_8000_0000_0000;
/// Virtual address of physical address 0 in the kernel image mapping.
pub const KERNEL_VMA: u64 = 0xFFFF_FFFF_8000_0000;
/// Largest physical address the direct map can cover (one PDPT).
pub const DIRECT_MAP_LIMIT: u64 = 512 << 30;
/// Virtual base of the device window: device memory the kernel itself uses
/// (the boot screen), mapped uncached on request, never in the direct map
/// (PML4 entry 510).
pub const DEVICE_BASE: u64 = 0xFFFF_FF00_0000_0000;
/// Size of the device window (one page directory).
const DEVICE_WINDOW: u64 = 1 << 30;
/// The last page of the device window: `DirectMap` maps one device page
/// there, uncached, when the kernel copies to or from a user's MMAP of
/// device memory (which the direct map never covers).
pub const SCRATCH_VADDR: u64 = DEVICE_BASE + DEVICE_WINDOW - PAGE_SIZE;
/// PWT and PCD: PAT entry 3, uncached (UC) at reset (Intel SDM vol. 3 §12.12.2).
const UNCACHED: u64 = (1 << 3) | (1 << 4);

// Page-table entry bits (Intel SDM vol. 3 §4.5, tables 4-14 to 4-19).
const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const GLOBAL: u64 = 1 << 8;
const NO_EXECUTE: u64 = 1 << 63;

/// Frames below this limit are reachable through the boot identity map.
const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __stack_guard: u8;
    static __bss_end: u8;
}

fn symbol_addr(sym: &u8) -> u64 {
    sym as *const u8 as u64
}

/// Virtual addresses of the image's section boundaries (from `link.ld`).
struct ImageLayout {
    text_start: u64,
    text_end: u64,
    rodata_end: u64,
    stack_guard: u64,
    end: u64,
}

fn image_layout() -> ImageLayout {
    // SAFETY: only the addresses of the linker-script symbols are taken; they are never read.
    unsafe {
        ImageLayout {
            text_start: symbol_addr(&__text_start),
            text_end: symbol_addr(&__text_end),
            rodata_end: symbol_addr(&__rodata_end),
            stack_guard: symbol_addr(&__stack_guard),
            end: symbol_addr(&__bss_end),
        }
    }
}

/// Physical [start, end) of the loaded kernel image (from 1 MiB to the end of `.bss`).
pub fn kernel_image_phys() -> (u64, u64) {
    (0x10_0000, image_layout().end - KERNEL_VMA)
}

/// A zeroed page-table frame, written through the boot identity map.
struct BootFrame(u64);

impl BootFrame {
    fn new(free: &mut Ranges) -> BootFrame {
        let paddr = free
            .take_page_below(BOOT_IDENTITY_LIMIT)
            .expect("no free memory below 4 GiB for the kernel page tables");
        let frame = BootFrame(paddr);
        for i in 0..512 {
            frame.set(i, 0);
        }
        frame
    }

    fn set(&self, index: usize, entry: u64) {
        assert!(index < 512);
        // SAFETY: the frame lies below 4 GiB, identity-mapped by the boot page
        // tables, and was taken out of the free ranges, so nothing else uses it.
        unsafe { core::ptr::write((self.0 as *mut u64).add(index), entry) }
    }
}

/// The kernel address space built at boot.
#[derive(Debug)]
pub struct KernelSpace {
    /// Physical address of the kernel's PML4.
    pub root: u64,
    /// PML4 entries 256..512, to be shared by every address space.
    pub kernel_half: [u64; 256],
    /// End of the direct map (physical addresses below it are mapped).
    pub direct_map_end: u64,
    /// Where the device range given to `build_and_switch` is mapped (uncached).
    pub device: Option<u64>,
    /// Physical address of the scratch page's entry (`SCRATCH_VADDR`).
    pub scratch_pte: u64,
}

/// Builds the final page tables from frames of `free` and switches to them.
///
/// `ram` is the firmware's usable RAM: the direct map covers exactly its
/// whole pages (below `DIRECT_MAP_LIMIT`), write-back, with a 2 MiB page
/// wherever a whole aligned 2 MiB lies inside one RAM range and 4 KiB pages
/// elsewhere; holes (the BIOS area, the PCI/APIC hole, ACPI and firmware
/// memory) stay unmapped.
///
/// `device` is a physical range of device memory to map uncached in the
/// device window (the boot screen); its virtual address is returned in
/// `KernelSpace::device`.
///
/// # Safety
///
/// Must run once, on the boot page tables, with `free` holding only frames
/// nothing else uses. After it returns only the upper half is mapped.
pub unsafe fn build_and_switch(
    free: &mut Ranges,
    ram: &Ranges,
    device: Option<(u64, u64)>,
) -> KernelSpace {
    let mut mapped = ram.clone();
    mapped.page_align_inward();
    mapped.remove(DIRECT_MAP_LIMIT, u64::MAX);
    let direct_map_end = mapped.max_end();
    let pml4 = BootFrame::new(free);
    let mut kernel_half = [0u64; 256];

    let pdpt = map_direct(free, &mapped);
    kernel_half[((DIRECT_MAP_BASE >> 39) & 511) as usize - 256] = pdpt.0 | PRESENT | WRITABLE;
    let (window, device, scratch_pte) = map_device_window(free, device);
    kernel_half[((DEVICE_BASE >> 39) & 511) as usize - 256] = window.0 | PRESENT | WRITABLE;
    // Kernel image: PML4[511] -> PDPT -> PDs -> 4 KiB page tables.
    let layout = image_layout();
    let kpdpt = BootFrame::new(free);
    let mut pd: Option<(u64, BootFrame)> = None;
    let mut pt: Option<(u64, BootFrame)> = None;
    let mut vaddr = layout.text_start;
    while vaddr < layout.end {
        let pdpt_index = (vaddr >> 30) & 511;
        if pd.as_ref().map(|p| p.0) != Some(pdpt_index) {
            let frame = BootFrame::new(free);
            kpdpt.set(pdpt_index as usize, frame.0 | PRESENT | WRITABLE);
            pd = Some((pdpt_index, frame));
            pt = None;
        }
        let pd_index = (vaddr >> 21) & 511;
        if pt.as_ref().map(|p| p.0) != Some(pd_index) {
            let frame = BootFrame::new(free);
            if let Some((_, dir)) = &pd {
                dir.set(pd_index as usize, frame.0 | PRESENT | WRITABLE);
            }
            pt = Some((pd_index, frame));
        }
        let rights = if vaddr < layout.text_end {
            PRESENT | GLOBAL
        } else if vaddr < layout.rodata_end {
            PRESENT | GLOBAL | NO_EXECUTE
        } else if vaddr == layout.stack_guard {
            0
        } else {
            PRESENT | WRITABLE | GLOBAL | NO_EXECUTE
        };
        if let Some((_, table)) = &pt {
            let entry = if rights == 0 {
                0
            } else {
                (vaddr - KERNEL_VMA) | rights
            };
            table.set(((vaddr >> 12) & 511) as usize, entry);
        }
        vaddr += PAGE_SIZE;
    }
    kernel_half[255] = kpdpt.0 | PRESENT | WRITABLE;

    for (i, &entry) in kernel_half.iter().enumerate() {
        pml4.set(256 + i, entry);
    }
    // SAFETY: the new tables map the kernel image (this code, its stack, its
    // data) at the same virtual addresses as the boot tables; the caller
    // guarantees nothing still needs the identity map.
    unsafe { cpu::write_cr3(pml4.0) };
    KernelSpace {
        root: pml4.0,
        kernel_half,
        direct_map_end,
        device,
        scratch_pte,
    }
}

/// Direct-map entries: writable, no-execute, global, write-back (PCD, PWT
/// and PAT clear select PAT entry 0, WB at reset: Intel SDM vol. 3 §12.12.2).
const DIRECT: u64 = PRESENT | WRITABLE | GLOBAL | NO_EXECUTE;
const SIZE_2M: u64 = 2 << 20;

/// The direct map's PDPT: every page of `ranges` (page-aligned, sorted,
/// below `DIRECT_MAP_LIMIT`) at `DIRECT_MAP_BASE + paddr`, 2 MiB pages where
/// a whole aligned 2 MiB lies in one range.
fn map_direct(free: &mut Ranges, ranges: &Ranges) -> BootFrame {
    let pdpt = BootFrame::new(free);
    // Ranges are sorted, so the page directory and page table in use only move forward.
    let mut pd: Option<(u64, BootFrame)> = None;
    let mut pt: Option<(u64, BootFrame)> = None;
    for &(start, end) in ranges.as_slice() {
        let mut paddr = start;
        while paddr < end {
            let gib = paddr >> 30;
            if pd.as_ref().map(|p| p.0) != Some(gib) {
                let frame = BootFrame::new(free);
                pdpt.set(gib as usize, frame.0 | PRESENT | WRITABLE);
                pd = Some((gib, frame));
            }
            let Some((_, dir)) = &pd else { unreachable!() };
            let pd_index = ((paddr >> 21) & 511) as usize;
            if paddr.is_multiple_of(SIZE_2M) && end - paddr >= SIZE_2M {
                dir.set(pd_index, paddr | DIRECT | HUGE);
                paddr += SIZE_2M;
                continue;
            }
            let block = paddr >> 21;
            if pt.as_ref().map(|p| p.0) != Some(block) {
                let frame = BootFrame::new(free);
                dir.set(pd_index, frame.0 | PRESENT | WRITABLE);
                pt = Some((block, frame));
            }
            if let Some((_, table)) = &pt {
                table.set(((paddr >> 12) & 511) as usize, paddr | DIRECT);
            }
            paddr += PAGE_SIZE;
        }
    }
    pdpt
}

/// The device window: `device` (`[start, end)`, the boot screen) mapped
/// uncached from `DEVICE_BASE` with 4 KiB pages, and the scratch page at
/// `SCRATCH_VADDR`, unmapped until `DirectMap` points it at a device page.
/// Returns the window's PDPT, the virtual address of `start` (if `device`
/// fits), and the physical address of the scratch page's entry.
fn map_device_window(
    free: &mut Ranges,
    device: Option<(u64, u64)>,
) -> (BootFrame, Option<u64>, u64) {
    let pdpt = BootFrame::new(free);
    let pd = BootFrame::new(free);
    pdpt.set(0, pd.0 | PRESENT | WRITABLE);
    let scratch_pt = BootFrame::new(free);
    pd.set(511, scratch_pt.0 | PRESENT | WRITABLE);
    let scratch_pte = scratch_pt.0 + 8 * 511;
    let Some((start, end)) = device else {
        return (pdpt, None, scratch_pte);
    };
    let first = start & !(PAGE_SIZE - 1);
    let Some(last) = end.checked_next_multiple_of(PAGE_SIZE) else {
        return (pdpt, None, scratch_pte);
    };
    // The last 2 MiB of the window hold the scratch page.
    if first >= last || last - first > DEVICE_WINDOW - SIZE_2M {
        return (pdpt, None, scratch_pte);
    }
    let mut pt: Option<(u64, BootFrame)> = None;
    let mut paddr = first;
    while paddr < last {
        let offset = paddr - first;
        let pd_index = offset >> 21;
        if pt.as_ref().map(|p| p.0) != Some(pd_index) {
            let frame = BootFrame::new(free);
            pd.set(pd_index as usize, frame.0 | PRESENT | WRITABLE);
            pt = Some((pd_index, frame));
        }
        if let Some((_, table)) = &pt {
            table.set(
                ((offset >> 12) & 511) as usize,
                paddr | PRESENT | WRITABLE | GLOBAL | NO_EXECUTE | UNCACHED,
            );
        }
        paddr += PAGE_SIZE;
    }
    (pdpt, Some(DEVICE_BASE + (start - first)), scratch_pte)
}

/// The scratch page's entry for device page `paddr`: writable, no-execute,
/// uncached, not global (so it is not kept across address spaces).
pub fn scratch_entry(paddr: u64) -> u64 {
    (paddr & !(PAGE_SIZE - 1)) | PRESENT | WRITABLE | NO_EXECUTE | UNCACHED
}

/// The direct-map virtual address of a physical address.
pub fn phys_to_virt(paddr: u64) -> u64 {
    DIRECT_MAP_BASE + paddr
}
