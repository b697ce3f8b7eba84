//! Physical memory (ABI §3.3): `jinue_mmap_args_t`, `jinue_addr_map_t` and its memory types, MMAP's decoded request.

use crate::args::{Invalid, Prot, UserRange};
use crate::layout::is_page_aligned;
use crate::types::Wire;

/// Memory types of `jinue_addr_map_t` entries (Jinue's `JINUE_MEMYPE_*`).
pub const JINUE_MEMYPE_MEMORY: u32 = 1;
pub const JINUE_MEMYPE_RESERVED: u32 = 2;
pub const JINUE_MEMYPE_ACPI: u32 = 3;
pub const JINUE_MEMYPE_NVS: u32 = 4;
pub const JINUE_MEMYPE_UNUSABLE: u32 = 5;
pub const JINUE_MEMYPE_DISABLED: u32 = 6;
pub const JINUE_MEMYPE_PERSISTENT: u32 = 7;
pub const JINUE_MEMYPE_OEM: u32 = 12;
/// Memory the kernel keeps for itself (its heap).
pub const JINUE_MEMYPE_KERNEL_RESERVED: u32 = 0xF000_0000;
/// The kernel's own image.
pub const JINUE_MEMYPE_KERNEL_IMAGE: u32 = 0xF000_0001;
/// A boot module (one entry each).
pub const JINUE_MEMYPE_RAMDISK: u32 = 0xF000_0002;

/// Offset of the first entry in `jinue_addr_map_t` (after `num_entries` and padding).
pub const ADDR_MAP_HEADER_SIZE: usize = 8;
/// Physical addresses end below 2^52 (x86_64's architectural limit).
pub const PHYS_ADDR_LIMIT: u64 = 1 << 52;

/// One `jinue_addr_map_t` entry (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct AddrMapEntry {
    pub addr: u64,
    pub size: u64,
    pub r#type: u32,
    pub _pad: u32,
}

impl Wire for AddrMapEntry {
    const SIZE: usize = 24;
    fn from_bytes(b: &[u8]) -> Self {
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let u32_at = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i..i + 4]);
            u32::from_le_bytes(a)
        };
        Self {
            addr: u64_at(0),
            size: u64_at(8),
            r#type: u32_at(16),
            _pad: u32_at(20),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b[16..20].copy_from_slice(&self.r#type.to_le_bytes());
        b[20..24].copy_from_slice(&self._pad.to_le_bytes());
    }
}

/// `jinue_mmap_args_t` (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MmapArgs {
    pub addr: u64,
    pub length: u64,
    pub prot: i32,
    pub _pad: u32,
    pub paddr: u64,
}

impl Wire for MmapArgs {
    const SIZE: usize = 32;
    fn from_bytes(b: &[u8]) -> Self {
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let u32_at = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i..i + 4]);
            u32::from_le_bytes(a)
        };
        Self {
            addr: u64_at(0),
            length: u64_at(8),
            prot: u32_at(16) as i32,
            _pad: u32_at(20),
            paddr: u64_at(24),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..16].copy_from_slice(&self.length.to_le_bytes());
        b[16..20].copy_from_slice(&(self.prot as u32).to_le_bytes());
        b[20..24].copy_from_slice(&self._pad.to_le_bytes());
        b[24..32].copy_from_slice(&self.paddr.to_le_bytes());
    }
}

/// MMAP's argument structure, decoded (ABI §3.3, the `EINVAL` steps in order):
/// the virtual range, the physical start and the region protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmap {
    pub range: UserRange,
    pub paddr: u64,
    pub prot: Prot,
}

impl Mmap {
    /// # Errors
    /// `Invalid`, in the ABI's order: `addr`, `length` or `paddr`
    /// misaligned; `prot` with another bit; the virtual range outside user
    /// space, or the physical range wrapping or reaching 2^52.
    pub fn decode(args: &MmapArgs) -> Result<Self, Invalid> {
        if !is_page_aligned(args.addr)
            || !is_page_aligned(args.length)
            || !is_page_aligned(args.paddr)
        {
            return Err(Invalid);
        }
        let prot = Prot::from_jinue(args.prot)?;
        let range = UserRange::exact(args.addr, args.length)?;
        match args.paddr.checked_add(args.length) {
            Some(end) if end <= PHYS_ADDR_LIMIT => Ok(Self {
                range,
                paddr: args.paddr,
                prot,
            }),
            _ => Err(Invalid),
        }
    }

    /// `[paddr, paddr + length)`.
    pub const fn phys_end(&self) -> u64 {
        self.paddr + self.range.len_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_abi() {
        assert_eq!(size_of::<MmapArgs>(), 32);
        assert_eq!(MmapArgs::SIZE, 32);
        assert_eq!(offset_of!(MmapArgs, addr), 0);
        assert_eq!(offset_of!(MmapArgs, length), 8);
        assert_eq!(offset_of!(MmapArgs, prot), 16);
        assert_eq!(offset_of!(MmapArgs, paddr), 24);
        assert_eq!(size_of::<AddrMapEntry>(), 24);
        assert_eq!(AddrMapEntry::SIZE, 24);
        assert_eq!(offset_of!(AddrMapEntry, addr), 0);
        assert_eq!(offset_of!(AddrMapEntry, size), 8);
        assert_eq!(offset_of!(AddrMapEntry, r#type), 16);
        let a = MmapArgs {
            addr: 1,
            length: 2,
            prot: -1,
            _pad: 0,
            paddr: 3,
        };
        let mut b = [0u8; 32];
        a.to_bytes(&mut b);
        assert_eq!(MmapArgs::from_bytes(&b), a);
        let e = AddrMapEntry {
            addr: 5,
            size: 6,
            r#type: JINUE_MEMYPE_RAMDISK,
            _pad: 0,
        };
        let mut b = [0u8; 24];
        e.to_bytes(&mut b);
        assert_eq!(AddrMapEntry::from_bytes(&b), e);
    }

    #[test]
    fn mmap_checks_in_order() {
        let ok = MmapArgs {
            addr: 0x10_0000,
            length: 0x2000,
            prot: 3,
            _pad: 0,
            paddr: 0xfee0_0000,
        };
        assert!(Mmap::decode(&ok).is_ok());
        assert_eq!(Mmap::decode(&MmapArgs { paddr: 1, ..ok }), Err(Invalid));
        assert_eq!(Mmap::decode(&MmapArgs { length: 1, ..ok }), Err(Invalid));
        assert_eq!(Mmap::decode(&MmapArgs { prot: 8, ..ok }), Err(Invalid));
        assert_eq!(Mmap::decode(&MmapArgs { addr: 0, ..ok }), Err(Invalid));
        let top = MmapArgs {
            paddr: PHYS_ADDR_LIMIT - 0x2000,
            ..ok
        };
        assert!(Mmap::decode(&top).is_ok());
        assert_eq!(
            Mmap::decode(&MmapArgs {
                paddr: PHYS_ADDR_LIMIT - 0x1000,
                ..ok
            }),
            Err(Invalid)
        );
        assert_eq!(
            Mmap::decode(&MmapArgs {
                paddr: !0xfff,
                ..ok
            }),
            Err(Invalid)
        );
        let empty = Mmap::decode(&MmapArgs { length: 0, ..ok }).unwrap();
        assert!(empty.range.is_empty());
    }
}
