//! Finding the ACPI tables at boot and keeping what power-off and reset need.
//!
//! Runs once, while the boot identity map still covers the first 4 GiB: the
//! RSDP is the copy a Multiboot 2 loader hands over (GRUB does, which is how
//! a UEFI machine's is found), else it is searched where ACPI 6.5 §5.2.5.1
//! puts it on a BIOS PC (the first KiB of the EBDA, then 0xE0000..0x100000); the root table lists the FADT and the
//! SSDTs, and `\_S5` comes from the DSDT or an SSDT. The byte-level reading is
//! the kernel library's `kernel::acpi` (host-tested); this file only reaches
//! physical memory. The result is a [`PowerPlan`] of plain numbers, so
//! power-off needs no table (nor any mapping) later.

use kernel::acpi::{self, Register, SleepType};

/// Tables above this are out of the boot identity map and are not read.
const BOOT_IDENTITY_LIMIT: u64 = 4 << 30;
/// Physical address of the EBDA segment in the BIOS data area.
const EBDA_SEGMENT_PTR: u64 = 0x40E;
/// The BIOS read-only area searched for the RSDP.
const BIOS_AREA: (u64, u64) = (0xE_0000, 0x10_0000);
/// Longest table read (a DSDT of a large machine is some 100 KiB).
const MAX_TABLE_LEN: usize = 1 << 20;

/// How to power off and reset through ACPI, as found at boot.
#[derive(Clone, Copy, Debug)]
pub struct PowerPlan {
    /// PM1a/PM1b control ports and `\_S5`'s sleep types, when all are known.
    pub soft_off: Option<SoftOff>,
    /// The FADT's reset register and value.
    pub reset: Option<(Register, u8)>,
}

/// Entering S5 (ACPI 6.5 §7.4.2, §16.1.6).
#[derive(Clone, Copy, Debug)]
pub struct SoftOff {
    pub pm1a_cnt: u16,
    pub pm1b_cnt: Option<u16>,
    pub sleep_type: SleepType,
    /// Port and value that switch the machine into ACPI mode (0: none needed).
    pub smi_cmd: u32,
    pub acpi_enable: u8,
}

/// The bytes of `[paddr, paddr + len)` through the boot identity map.
fn boot_bytes(paddr: u64, len: usize) -> Option<&'static [u8]> {
    let end = paddr.checked_add(len as u64)?;
    if paddr == 0 || end > BOOT_IDENTITY_LIMIT {
        return None;
    }
    // SAFETY: only called before the kernel's page tables replace the boot
    // ones, which identity-map [0, 4 GiB) (checked above); firmware tables
    // and the BIOS area are memory, read and never written; the slice does
    // not outlive `discover` in any caller (everything kept is copied out).
    Some(unsafe { core::slice::from_raw_parts(paddr as *const u8, len) })
}

/// A whole table at `paddr` with this signature and a good checksum.
fn table_at(paddr: u64, expected: &[u8; 4]) -> Option<&'static [u8]> {
    let header = boot_bytes(paddr, acpi::HEADER_LEN)?;
    let len = acpi::table_length(header).filter(|&l| l <= MAX_TABLE_LEN)?;
    let table = boot_bytes(paddr, len)?;
    acpi::valid_table(table, expected).then_some(table)
}

/// The RSDP: the EBDA's first KiB, then the BIOS area, on 16-byte boundaries.
fn find_rsdp() -> Option<(u64, acpi::Rsdp)> {
    let segment = boot_bytes(EBDA_SEGMENT_PTR, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))?;
    let ebda = u64::from(segment) << 4;
    let mut areas = [(ebda, ebda + 1024), BIOS_AREA];
    if ebda == 0 {
        areas[0] = (0, 0);
    }
    areas.iter().find_map(|&(start, end)| {
        (start..end).step_by(16).find_map(|paddr| {
            let bytes = boot_bytes(paddr, 36.min((end - paddr) as usize))?;
            acpi::parse_rsdp(bytes).map(|rsdp| (paddr, rsdp))
        })
    })
}

/// The tables the root table lists.
fn root_tables(rsdp: &acpi::Rsdp) -> Option<(&'static [u8], usize)> {
    if let Some(xsdt) = rsdp.xsdt.and_then(|a| table_at(a, b"XSDT")) {
        return Some((xsdt, 8));
    }
    table_at(u64::from(rsdp.rsdt), b"RSDT").map(|t| (t, 4))
}

/// The RSDP copy the bootloader handed over (Multiboot 2), if any.
fn handed_over(paddr: u64) -> Option<(u64, acpi::Rsdp)> {
    let bytes = boot_bytes(paddr, 36).or_else(|| boot_bytes(paddr, 20))?;
    acpi::parse_rsdp(bytes).map(|rsdp| (paddr, rsdp))
}

/// Reads the tables; `None` (with a log line) when the machine has no usable ACPI.
/// `rsdp_copy` is the bootloader's copy of the RSDP (0: none; then it is
/// searched for, which finds it on BIOS machines only).
pub fn discover(rsdp_copy: u64) -> Option<PowerPlan> {
    let Some((rsdp_addr, rsdp)) = handed_over(rsdp_copy).or_else(find_rsdp) else {
        crate::kwarn!("ACPI: no RSDP (none handed over, none below 1 MiB): power-off and reset fall back to legacy means");
        return None;
    };
    let (root, entry_size) = root_tables(&rsdp)?;
    let mut fadt = None;
    for paddr in acpi::root_entries(root, entry_size) {
        if let Some(table) = table_at(paddr, b"FACP") {
            fadt = acpi::parse_fadt(table);
        }
    }
    let Some(fadt) = fadt else {
        crate::kwarn!("ACPI: RSDP at {rsdp_addr:#x} but no FADT");
        return None;
    };
    // \_S5 in the DSDT, else in an SSDT.
    let aml_of = |table: &'static [u8]| &table[acpi::HEADER_LEN..];
    let sleep_type = table_at(fadt.dsdt, b"DSDT")
        .and_then(|dsdt| acpi::find_s5(aml_of(dsdt)))
        .or_else(|| {
            acpi::root_entries(root, entry_size)
                .filter_map(|paddr| table_at(paddr, b"SSDT"))
                .find_map(|ssdt| acpi::find_s5(aml_of(ssdt)))
        });
    let io_port = |r: Option<Register>| match r {
        Some(Register::Io(port)) => Some(port),
        _ => None,
    };
    let soft_off = match (io_port(fadt.pm1a_cnt), sleep_type) {
        (Some(pm1a_cnt), Some(sleep_type)) if !fadt.hardware_reduced => Some(SoftOff {
            pm1a_cnt,
            pm1b_cnt: io_port(fadt.pm1b_cnt),
            sleep_type,
            smi_cmd: fadt.smi_cmd,
            acpi_enable: fadt.acpi_enable,
        }),
        _ => None,
    };
    crate::kdebug!(
        "ACPI: RSDP at {rsdp_addr:#x}; soft-off {soft_off:?}; reset register {:?}",
        fadt.reset
    );
    if soft_off.is_none() {
        crate::kwarn!(
            "ACPI: no S5 through PM1 I/O ports (PM1a {:?}, \\_S5 {sleep_type:?}): power-off will halt",
            fadt.pm1a_cnt
        );
    }
    Some(PowerPlan {
        soft_off,
        reset: fadt.reset,
    })
}
