//! The I/O APICs: device interrupts are routed through them, none through the legacy PIC.
//!
//! No driver of the kernel uses a device interrupt yet (the console is
//! polled, the preemption tick is each CPU's local APIC timer), so every
//! redirection entry is masked: a device cannot interrupt a CPU until a
//! driver unmasks its line here (82093AA datasheet §3.2; redirection entry
//! bit 16 = mask).

use super::mmio;
use super::ranges::Ranges;

const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
const MASKED: u32 = 1 << 16;

/// Maps the I/O APIC at `paddr` and masks all its lines; returns how many it has.
pub fn mask_all(paddr: u64, free: &mut Ranges) -> u32 {
    // SAFETY: the MADT names this page as an I/O APIC's registers (device memory).
    let base = unsafe { mmio::map_device(paddr, free) };
    let select = base as *mut u32;
    let window = (base + 0x10) as *mut u32;
    let read = |reg: u32| {
        // SAFETY: IOREGSEL/IOWIN of the mapped I/O APIC, uncached.
        unsafe {
            core::ptr::write_volatile(select, reg);
            core::ptr::read_volatile(window)
        }
    };
    let write = |reg: u32, value: u32| {
        // SAFETY: as for `read`; masking lines only stops interrupts.
        unsafe {
            core::ptr::write_volatile(select, reg);
            core::ptr::write_volatile(window, value);
        }
    };
    let lines = ((read(REG_VERSION) >> 16) & 0xFF) + 1;
    for line in 0..lines {
        write(REG_REDIRECTION + 2 * line, MASKED);
        write(REG_REDIRECTION + 2 * line + 1, 0);
    }
    lines
}
