//! The physical address map (ABI §3.3): the boot loader's memory map plus the kernel's own entries, and which physical ranges MMAP may map.

use abi::physmem::{
    AddrMapEntry, JINUE_MEMYPE_KERNEL_IMAGE, JINUE_MEMYPE_KERNEL_RESERVED, JINUE_MEMYPE_MEMORY,
    JINUE_MEMYPE_RAMDISK,
};
use alloc::vec::Vec;

const PAGE_SIZE: u64 = abi::layout::PAGE_SIZE;

/// How MMAP may map a physical range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Inside a boot module: ordinary write-back memory.
    WriteBack,
    /// Outside every range the firmware reports as MEMORY: uncached (devices).
    Uncached,
}

/// What GET_ADDRESS_MAP reports and MMAP checks against; given by the arch
/// layer at boot ([`crate::Kernel::set_address_map`]).
#[derive(Clone, Debug, Default)]
pub struct AddressMap {
    /// Firmware entries, then the kernel's (image, reserved, one per module).
    entries: Vec<AddrMapEntry>,
    /// Page spans of the boot modules: never given to the frame pool.
    modules: Vec<(u64, u64)>,
}

fn entry(addr: u64, size: u64, kind: u32) -> AddrMapEntry {
    AddrMapEntry {
        addr,
        size,
        r#type: kind,
        _pad: 0,
    }
}

impl AddressMap {
    /// The map from the firmware's `(addr, size, type)` entries, the kernel
    /// image and the memory the kernel reserved for itself (physical
    /// `[start, end)` each), and the boot modules (`[start, end)`; a module
    /// owns the pages it touches, which the frame pool never gets).
    pub fn new(
        firmware: &[(u64, u64, u32)],
        kernel_image: (u64, u64),
        kernel_reserved: &[(u64, u64)],
        modules: &[(u64, u64)],
    ) -> Self {
        let mut entries: Vec<AddrMapEntry> = firmware
            .iter()
            .map(|&(addr, size, kind)| entry(addr, size, kind))
            .collect();
        let (image_start, image_end) = kernel_image;
        entries.push(entry(
            image_start,
            image_end - image_start,
            JINUE_MEMYPE_KERNEL_IMAGE,
        ));
        for &(start, end) in kernel_reserved {
            entries.push(entry(start, end - start, JINUE_MEMYPE_KERNEL_RESERVED));
        }
        for &(start, end) in modules {
            entries.push(entry(start, end - start, JINUE_MEMYPE_RAMDISK));
        }
        let modules = modules
            .iter()
            .map(|&(start, end)| (start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE)))
            .collect();
        Self { entries, modules }
    }

    /// Every entry, as GET_ADDRESS_MAP writes them.
    pub fn entries(&self) -> &[AddrMapEntry] {
        &self.entries
    }

    /// Whether MMAP may map physical `[start, end)` (`start < end`), and
    /// how: inside one boot module (write-back), or touching no range the
    /// firmware reports as MEMORY and none the kernel reserved for itself
    /// (uncached: devices). `None`: it overlaps memory the kernel manages,
    /// RAM or the registers of a device the kernel drives.
    pub fn mmap_caching(&self, start: u64, end: u64) -> Option<Caching> {
        if self.modules.iter().any(|&(s, e)| s <= start && end <= e) {
            return Some(Caching::WriteBack);
        }
        let kernel_managed = self.entries.iter().any(|e| {
            matches!(
                e.r#type,
                JINUE_MEMYPE_MEMORY | JINUE_MEMYPE_KERNEL_IMAGE | JINUE_MEMYPE_KERNEL_RESERVED
            ) && e.addr < end
                && start < e.addr.saturating_add(e.size)
        });
        (!kernel_managed).then_some(Caching::Uncached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_mmap_rules() {
        let map = AddressMap::new(
            &[
                (0, 0x9fc00, 1),
                (0x9fc00, 0x400, 2),
                (0x10_0000, 0x7ee_0000, 1),
                (0xfffc_0000, 0x4_0000, 2),
            ],
            (0x10_0000, 0x20_0000),
            &[(0x40_0000, 0x80_0000), (0xfee0_0000, 0xfee0_1000)],
            &[(0x100_0000, 0x100_0800)],
        );
        let kinds: Vec<u32> = map.entries().iter().map(|e| e.r#type).collect();
        assert_eq!(
            kinds,
            [
                1,
                2,
                1,
                2,
                JINUE_MEMYPE_KERNEL_IMAGE,
                JINUE_MEMYPE_KERNEL_RESERVED,
                JINUE_MEMYPE_KERNEL_RESERVED,
                JINUE_MEMYPE_RAMDISK
            ]
        );
        assert_eq!(map.entries()[7].size, 0x800);
        // The module's page, whole.
        assert_eq!(
            map.mmap_caching(0x100_0000, 0x100_1000),
            Some(Caching::WriteBack)
        );
        // RAM, the kernel, a range half in the module: refused.
        assert_eq!(map.mmap_caching(0x100_0000, 0x100_2000), None);
        assert_eq!(map.mmap_caching(0x20_0000, 0x20_1000), None);
        assert_eq!(map.mmap_caching(0x9f000, 0xa0000), None);
        // Reserved ranges and holes: uncached.
        assert_eq!(map.mmap_caching(0xa0000, 0xc0000), Some(Caching::Uncached));
        assert_eq!(
            map.mmap_caching(0xfec0_0000, 0xfec0_1000),
            Some(Caching::Uncached)
        );
        // A device the kernel drives (its page is KERNEL_RESERVED), or a
        // range reaching into it: refused.
        assert_eq!(map.mmap_caching(0xfee0_0000, 0xfee0_1000), None);
        assert_eq!(map.mmap_caching(0xfedf_f000, 0xfee0_1000), None);
        assert_eq!(
            map.mmap_caching(0xfffc_0000, 0x1_0000_0000),
            Some(Caching::Uncached)
        );
    }
}
