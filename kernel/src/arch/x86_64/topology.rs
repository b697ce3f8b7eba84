//! Finding the CPUs and I/O APICs at boot: the RSDP, the root table, and the MADT (parsed by `kernel::madt`).
//!
//! Runs while the boot identity map still covers the first 4 GiB, so every
//! table is read where the firmware left it. Without a MADT the machine is
//! taken to have one CPU.

use kernel::madt::{self, Madt};

/// Tables above this are out of the boot identity map.
const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;
/// The EBDA segment pointer and the BIOS area searched for the RSDP (ACPI 6.5 §5.2.5.1).
const EBDA_SEGMENT_PTR: u64 = 0x40E;
const BIOS_AREA: (u64, u64) = (0xE_0000, 0x10_0000);
/// Longest MADT read.
const MAX_TABLE_LEN: usize = 64 << 10;

/// `[paddr, paddr + len)` through the boot identity map.
fn boot_bytes(paddr: u64, len: usize) -> Option<&'static [u8]> {
    let end = paddr.checked_add(len as u64)?;
    if paddr == 0 || end > BOOT_IDENTITY_LIMIT {
        return None;
    }
    // SAFETY: called only before the kernel's page tables replace the boot
    // ones, which identity-map [0, 4 GiB) (checked above); firmware tables
    // are only read; nothing returned outlives `discover`.
    Some(unsafe { core::slice::from_raw_parts(paddr as *const u8, len) })
}

fn table_at(paddr: u64) -> Option<&'static [u8]> {
    let len = madt::table_length(boot_bytes(paddr, madt::HEADER_LEN)?)?;
    boot_bytes(paddr, len.min(MAX_TABLE_LEN))
}

fn find_rsdp() -> Option<&'static [u8]> {
    let segment = boot_bytes(EBDA_SEGMENT_PTR, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))?;
    let ebda = u64::from(segment) << 4;
    let areas = [(ebda, if ebda == 0 { 0 } else { ebda + 1024 }), BIOS_AREA];
    areas.iter().find_map(|&(start, end)| {
        (start..end).step_by(16).find_map(|paddr| {
            let bytes = boot_bytes(paddr, 36.min((end - paddr) as usize))?;
            madt::rsdp_root(bytes).map(|_| bytes)
        })
    })
}

/// The RSDP copy the bootloader handed over (Multiboot 2; how a UEFI
/// machine's is found), if any.
fn handed_over(paddr: u64) -> Option<&'static [u8]> {
    let bytes = boot_bytes(paddr, 36).or_else(|| boot_bytes(paddr, 20))?;
    madt::rsdp_root(bytes).map(|_| bytes)
}

/// The MADT's CPUs, I/O APICs and interrupt overrides, if the firmware has
/// one. `rsdp_copy` is the bootloader's copy of the RSDP (0: none; then it
/// is searched for, which finds it on BIOS machines only).
pub fn discover(rsdp_copy: u64) -> Option<Madt> {
    let rsdp = handed_over(rsdp_copy).or_else(find_rsdp)?;
    let (root_addr, entry_size) = madt::rsdp_root(rsdp)?;
    let root = table_at(root_addr)?;
    let madt = madt::root_entries(root, entry_size)
        .filter_map(table_at)
        .find(|t| t.starts_with(b"APIC"))
        .and_then(madt::parse)?;
    for o in &madt.overrides[..madt.override_count] {
        crate::kdebug!(
            "MADT: interrupt source override: bus {} IRQ {} -> GSI {}, flags {:#x}",
            o.bus,
            o.source,
            o.gsi,
            o.flags
        );
    }
    Some(madt)
}
