//! Reading the Multiboot 1 information structure (Multiboot spec §3.3) while it is identity-mapped.

use super::ranges::Ranges;

/// `flags` bit: `cmdline` is valid.
const INFO_CMDLINE: u32 = 1 << 2;
/// `flags` bit: `mods_count`/`mods_addr` are valid.
const INFO_MODS: u32 = 1 << 3;
/// `flags` bit: `mmap_length`/`mmap_addr` are valid.
const INFO_MMAP: u32 = 1 << 6;
/// Memory map entry type of usable RAM (the same in Multiboot 2).
pub const MMAP_AVAILABLE: u32 = 1;

/// At most this many firmware memory-map entries are kept (GET_ADDRESS_MAP).
pub const MAX_MAP_ENTRIES: usize = 64;

/// At most this many boot modules are taken.
pub const MAX_MODULES: usize = 16;

/// One boot module: physical [start, end) and its command line (physical, NUL-terminated).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawModule {
    pub start: u64,
    pub end: u64,
    pub cmdline: u64,
}

/// What the kernel takes from the Multiboot information.
#[derive(Debug)]
pub struct RawBootInfo {
    /// Usable RAM ranges as the firmware reported them.
    pub ram: Ranges,
    /// Ranges that hold boot data (the information structure, the memory map,
    /// command lines, modules): never handed out while booting.
    pub boot_data: Ranges,
    pub modules: [RawModule; MAX_MODULES],
    pub module_count: usize,
    /// Kernel command line (physical, NUL-terminated), 0 if none.
    pub cmdline: u64,
    /// A copy of the ACPI RSDP the bootloader handed over (Multiboot 2), 0 if none.
    pub rsdp: u64,
    /// The screen the bootloader set up (Multiboot 2), if it is one `fbcon` can draw on.
    pub screen: Option<super::fbcon::Screen>,
    /// The firmware memory map as given, `(addr, size, type)` (Multiboot
    /// types are the E820 ones, which Jinue's address-map types follow).
    pub firmware_map: [(u64, u64, u32); MAX_MAP_ENTRIES],
    pub firmware_map_len: usize,
}

pub fn read_u32(paddr: u64) -> u32 {
    // SAFETY: the boot page tables identity-map the first 4 GiB, where the
    // bootloader put the information structure; unaligned reads are allowed.
    unsafe { core::ptr::read_unaligned(paddr as *const u32) }
}

pub fn read_u64(paddr: u64) -> u64 {
    // SAFETY: as for `read_u32`.
    unsafe { core::ptr::read_unaligned(paddr as *const u64) }
}

/// Length of a NUL-terminated string at `paddr` (at most `max` bytes).
pub fn c_str_len(paddr: u64, max: usize) -> usize {
    (0..max)
        // SAFETY: as for `read_u32`; the string lies in identity-mapped low memory.
        .find(|&i| unsafe { core::ptr::read((paddr + i as u64) as *const u8) } == 0)
        .unwrap_or(max)
}

/// Copies a NUL-terminated string at `paddr` into `out`, returns its length.
pub fn copy_c_str(paddr: u64, out: &mut [u8]) -> usize {
    let len = c_str_len(paddr, out.len());
    for (i, b) in out.iter_mut().take(len).enumerate() {
        // SAFETY: as for `c_str_len`.
        *b = unsafe { core::ptr::read((paddr + i as u64) as *const u8) };
    }
    len
}

/// Parses the information structure at physical `info`.
///
/// # Panics
///
/// If the bootloader gave no memory map.
pub fn parse(info: u64) -> RawBootInfo {
    let flags = read_u32(info);
    let mut boot = RawBootInfo {
        ram: Ranges::new(),
        boot_data: Ranges::new(),
        modules: [RawModule::default(); MAX_MODULES],
        module_count: 0,
        firmware_map: [(0, 0, 0); MAX_MAP_ENTRIES],
        firmware_map_len: 0,
        cmdline: 0,
        rsdp: 0,
        screen: None,
    };
    boot.boot_data.add(info, info + 120);
    assert!(flags & INFO_MMAP != 0, "the bootloader gave no memory map");
    let mmap_len = u64::from(read_u32(info + 44));
    let mmap_addr = u64::from(read_u32(info + 48));
    boot.boot_data.add(mmap_addr, mmap_addr + mmap_len);
    let mut entry = mmap_addr;
    while entry < mmap_addr + mmap_len {
        let size = u64::from(read_u32(entry));
        let base = read_u64(entry + 4);
        let len = read_u64(entry + 12);
        let kind = read_u32(entry + 20);
        if boot.firmware_map_len < MAX_MAP_ENTRIES {
            boot.firmware_map[boot.firmware_map_len] = (base, len, kind);
            boot.firmware_map_len += 1;
        }
        if kind == MMAP_AVAILABLE {
            if let Some(end) = base.checked_add(len) {
                boot.ram.add(base, end);
            }
        }
        entry += size + 4;
    }
    if flags & INFO_CMDLINE != 0 {
        boot.cmdline = u64::from(read_u32(info + 16));
        let len = c_str_len(boot.cmdline, 4096) as u64;
        boot.boot_data.add(boot.cmdline, boot.cmdline + len + 1);
    }
    if flags & INFO_MODS != 0 {
        let count = read_u32(info + 20) as usize;
        let addr = u64::from(read_u32(info + 24));
        boot.boot_data.add(addr, addr + 16 * count as u64);
        for i in 0..count.min(MAX_MODULES) {
            let m = addr + 16 * i as u64;
            let module = RawModule {
                start: u64::from(read_u32(m)),
                end: u64::from(read_u32(m + 4)),
                cmdline: u64::from(read_u32(m + 8)),
            };
            boot.boot_data.add(module.start, module.end);
            if module.cmdline != 0 {
                let len = c_str_len(module.cmdline, 4096) as u64;
                boot.boot_data.add(module.cmdline, module.cmdline + len + 1);
            }
            boot.modules[i] = module;
        }
        boot.module_count = count.min(MAX_MODULES);
    }
    boot
}
