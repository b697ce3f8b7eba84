//! Reading the Multiboot 2 information structure (Multiboot 2 spec §3.6) while it is identity-mapped.
//!
//! GRUB boots the ISO with `multiboot2`, which (unlike Multiboot 1) hands
//! over a copy of the ACPI RSDP: on a UEFI machine there is none in the BIOS
//! area, so power-off needs it. The result is the same [`RawBootInfo`] the
//! Multiboot 1 reader gives.

use super::fbcon::{Screen, ScreenKind};
use super::multiboot::{
    c_str_len, read_u32, read_u64, RawBootInfo, RawModule, MAX_MAP_ENTRIES, MAX_MODULES,
    MMAP_AVAILABLE,
};
use super::ranges::Ranges;

/// Bootloader magic in EAX (Multiboot 2 spec §3.3).
pub const BOOTLOADER_MAGIC: u32 = 0x36D7_6289;

// Tag types (Multiboot 2 spec §3.6).
const TAG_END: u32 = 0;
const TAG_CMDLINE: u32 = 1;
const TAG_MODULE: u32 = 3;
const TAG_MMAP: u32 = 6;
const TAG_FRAMEBUFFER: u32 = 8;
const TAG_ACPI_OLD: u32 = 14;
const TAG_ACPI_NEW: u32 = 15;
/// Longest information structure accepted (a sanity bound on `total_size`).
const MAX_INFO_LEN: u64 = 1 << 20;

/// Parses the information structure at physical `info`.
///
/// # Panics
///
/// If the structure is malformed or has no memory map.
pub fn parse(info: u64) -> RawBootInfo {
    let total = u64::from(read_u32(info));
    assert!(
        (16..=MAX_INFO_LEN).contains(&total),
        "Multiboot 2 information of {total} bytes"
    );
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
    boot.boot_data.add(info, info + total);
    let mut have_mmap = false;
    let mut tag = info + 8;
    while tag + 8 <= info + total {
        let kind = read_u32(tag);
        let size = u64::from(read_u32(tag + 4));
        if kind == TAG_END || size < 8 || tag + size > info + total {
            break;
        }
        match kind {
            TAG_CMDLINE => boot.cmdline = tag + 8,
            TAG_MODULE if boot.module_count < MAX_MODULES => {
                let module = RawModule {
                    start: u64::from(read_u32(tag + 8)),
                    end: u64::from(read_u32(tag + 12)),
                    cmdline: tag + 16,
                };
                boot.boot_data.add(module.start, module.end);
                boot.modules[boot.module_count] = module;
                boot.module_count += 1;
            }
            TAG_MMAP => {
                have_mmap = true;
                let entry_size = u64::from(read_u32(tag + 8));
                assert!(
                    entry_size >= 24,
                    "Multiboot 2 memory map entries of {entry_size} bytes"
                );
                let mut entry = tag + 16;
                while entry + entry_size <= tag + size {
                    let base = read_u64(entry);
                    let len = read_u64(entry + 8);
                    let kind = read_u32(entry + 16);
                    if boot.firmware_map_len < MAX_MAP_ENTRIES {
                        boot.firmware_map[boot.firmware_map_len] = (base, len, kind);
                        boot.firmware_map_len += 1;
                    }
                    if kind == MMAP_AVAILABLE {
                        if let Some(end) = base.checked_add(len) {
                            boot.ram.add(base, end);
                        }
                    }
                    entry += entry_size;
                }
            }
            TAG_FRAMEBUFFER => boot.screen = screen(tag),
            // The newer copy (ACPI 2.0+, with the XSDT) wins over the old one.
            TAG_ACPI_NEW => boot.rsdp = tag + 8,
            TAG_ACPI_OLD if boot.rsdp == 0 => boot.rsdp = tag + 8,
            _ => {}
        }
        tag += size.next_multiple_of(8);
    }
    assert!(have_mmap, "the bootloader gave no memory map");
    // Module command lines live inside the structure; check they end there.
    for m in &boot.modules[..boot.module_count] {
        let room = (info + total).saturating_sub(m.cmdline) as usize;
        assert!(
            c_str_len(m.cmdline, room) < room,
            "unterminated module command line"
        );
    }
    boot
}

/// Framebuffer types (Multiboot 2 spec §3.6.12).
const FRAMEBUFFER_RGB: u8 = 1;
const FRAMEBUFFER_EGA_TEXT: u8 = 2;

/// The framebuffer tag at `tag`, if `fbcon` can draw on it (VGA text, or 24/32-bit RGB).
fn screen(tag: u64) -> Option<Screen> {
    let phys = read_u64(tag + 8);
    let pitch = read_u32(tag + 16);
    let width = read_u32(tag + 20);
    let height = read_u32(tag + 24);
    let word = read_u32(tag + 28);
    let bpp = word as u8;
    let kind = (word >> 8) as u8;
    let kind = match (kind, bpp) {
        (FRAMEBUFFER_EGA_TEXT, _) => ScreenKind::Text,
        (FRAMEBUFFER_RGB, 24 | 32) => {
            // Colour layout: red, green, blue (field position, mask size).
            let layout = read_u64(tag + 32).to_le_bytes();
            let channel = |position: u8, size: u8| -> u32 {
                let mask = 1u32
                    .checked_shl(u32::from(size))
                    .map_or(u32::MAX, |m| m - 1);
                mask.checked_shl(u32::from(position)).unwrap_or(0)
            };
            ScreenKind::Rgb {
                bytes_per_pixel: bpp / 8,
                white: channel(layout[0], layout[1])
                    | channel(layout[2], layout[3])
                    | channel(layout[4], layout[5]),
            }
        }
        _ => return None,
    };
    (phys != 0 && pitch != 0).then_some(Screen {
        phys,
        pitch,
        width,
        height,
        kind,
    })
}
