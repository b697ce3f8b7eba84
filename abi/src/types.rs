//! `#[repr(C)]` argument structures (ABI §3, §3.1, §4.1), with layout tests.

/// `jinue_mclone_args_t` (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MCloneArgs {
    pub src_addr: u64,
    pub dest_addr: u64,
    pub length: u64,
    pub prot: i32,
    pub _pad: u32,
}

/// `jinue_mint_args_t` (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MintArgs {
    pub process: i32,
    pub fd: i32,
    pub perms: i32,
    pub _pad: u32,
    pub cookie: u64,
}

/// `KnUniqueId` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct KnUniqueId {
    pub head: u32,
    pub tail: u32,
}

/// `KnKey` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct KnKey {
    pub head: u32,
    pub tail: u32,
}

/// `KnCap` (16 bytes): an actor capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct KnCap {
    pub ui: KnUniqueId,
    pub key: KnKey,
}

/// `KnRgnDesc` (48 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[allow(non_snake_case)]
pub struct KnRgnDesc {
    pub startAddr: u64,
    pub size: u64,
    pub options: u64,
    pub endAddr: u64,
    pub opaque1: u64,
    pub opaque2: u64,
}

/// `KnRgnStat` (48 bytes); `resident` = pages now backed by memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[allow(non_snake_case)]
pub struct KnRgnStat {
    pub startAddr: u64,
    pub size: u64,
    pub options: u64,
    pub opaque1: u64,
    pub opaque2: u64,
    pub resident: u64,
}

/// `jinue_buffer_t` (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct JinueBuffer {
    pub addr: u64,
    pub size: u64,
}

/// A fixed-layout structure that can be read from and written to user memory
/// as little-endian bytes, field by field (no `unsafe` transmutes anywhere).
pub trait Wire: Sized {
    /// Size in bytes on the wire (equal to `size_of::<Self>()`).
    const SIZE: usize;
    /// Decodes from exactly [`Self::SIZE`] bytes.
    fn from_bytes(bytes: &[u8]) -> Self;
    /// Encodes into exactly [`Self::SIZE`] bytes.
    fn to_bytes(&self, out: &mut [u8]);
}

/// The little-endian `u64` at byte `off` of a wire structure.
pub(crate) fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

/// Writes `v` little-endian at byte `off` of a wire structure.
pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

impl Wire for MCloneArgs {
    const SIZE: usize = 32;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            src_addr: get_u64(b, 0),
            dest_addr: get_u64(b, 8),
            length: get_u64(b, 16),
            prot: get_u32(b, 24) as i32,
            _pad: get_u32(b, 28),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.src_addr);
        put_u64(b, 8, self.dest_addr);
        put_u64(b, 16, self.length);
        put_u32(b, 24, self.prot as u32);
        put_u32(b, 28, self._pad);
    }
}

impl Wire for MintArgs {
    const SIZE: usize = 24;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            process: get_u32(b, 0) as i32,
            fd: get_u32(b, 4) as i32,
            perms: get_u32(b, 8) as i32,
            _pad: get_u32(b, 12),
            cookie: get_u64(b, 16),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u32(b, 0, self.process as u32);
        put_u32(b, 4, self.fd as u32);
        put_u32(b, 8, self.perms as u32);
        put_u32(b, 12, self._pad);
        put_u64(b, 16, self.cookie);
    }
}

impl Wire for KnCap {
    const SIZE: usize = 16;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            ui: KnUniqueId {
                head: get_u32(b, 0),
                tail: get_u32(b, 4),
            },
            key: KnKey {
                head: get_u32(b, 8),
                tail: get_u32(b, 12),
            },
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u32(b, 0, self.ui.head);
        put_u32(b, 4, self.ui.tail);
        put_u32(b, 8, self.key.head);
        put_u32(b, 12, self.key.tail);
    }
}

impl Wire for KnRgnDesc {
    const SIZE: usize = 48;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            startAddr: get_u64(b, 0),
            size: get_u64(b, 8),
            options: get_u64(b, 16),
            endAddr: get_u64(b, 24),
            opaque1: get_u64(b, 32),
            opaque2: get_u64(b, 40),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.startAddr);
        put_u64(b, 8, self.size);
        put_u64(b, 16, self.options);
        put_u64(b, 24, self.endAddr);
        put_u64(b, 32, self.opaque1);
        put_u64(b, 40, self.opaque2);
    }
}

impl Wire for KnRgnStat {
    const SIZE: usize = 48;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            startAddr: get_u64(b, 0),
            size: get_u64(b, 8),
            options: get_u64(b, 16),
            opaque1: get_u64(b, 24),
            opaque2: get_u64(b, 32),
            resident: get_u64(b, 40),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.startAddr);
        put_u64(b, 8, self.size);
        put_u64(b, 16, self.options);
        put_u64(b, 24, self.opaque1);
        put_u64(b, 32, self.opaque2);
        put_u64(b, 40, self.resident);
    }
}

impl Wire for JinueBuffer {
    const SIZE: usize = 16;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            addr: get_u64(b, 0),
            size: get_u64(b, 8),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.addr);
        put_u64(b, 8, self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn sizes_match_the_abi() {
        assert_eq!(size_of::<MCloneArgs>(), 32);
        assert_eq!(size_of::<MintArgs>(), 24);
        assert_eq!(size_of::<KnUniqueId>(), 8);
        assert_eq!(size_of::<KnKey>(), 8);
        assert_eq!(size_of::<KnCap>(), 16);
        assert_eq!(size_of::<KnRgnDesc>(), 48);
        assert_eq!(size_of::<KnRgnStat>(), 48);
        assert_eq!(size_of::<JinueBuffer>(), 16);
        assert_eq!(MCloneArgs::SIZE, size_of::<MCloneArgs>());
        assert_eq!(MintArgs::SIZE, size_of::<MintArgs>());
        assert_eq!(KnCap::SIZE, size_of::<KnCap>());
        assert_eq!(KnRgnDesc::SIZE, size_of::<KnRgnDesc>());
        assert_eq!(KnRgnStat::SIZE, size_of::<KnRgnStat>());
        assert_eq!(JinueBuffer::SIZE, size_of::<JinueBuffer>());
    }

    #[test]
    fn offsets_match_the_abi() {
        assert_eq!(offset_of!(MCloneArgs, src_addr), 0);
        assert_eq!(offset_of!(MCloneArgs, dest_addr), 8);
        assert_eq!(offset_of!(MCloneArgs, length), 16);
        assert_eq!(offset_of!(MCloneArgs, prot), 24);
        assert_eq!(offset_of!(MintArgs, process), 0);
        assert_eq!(offset_of!(MintArgs, fd), 4);
        assert_eq!(offset_of!(MintArgs, perms), 8);
        assert_eq!(offset_of!(MintArgs, cookie), 16);
        assert_eq!(offset_of!(KnCap, ui), 0);
        assert_eq!(offset_of!(KnCap, key), 8);
        assert_eq!(offset_of!(KnRgnDesc, startAddr), 0);
        assert_eq!(offset_of!(KnRgnDesc, size), 8);
        assert_eq!(offset_of!(KnRgnDesc, options), 16);
        assert_eq!(offset_of!(KnRgnDesc, endAddr), 24);
        assert_eq!(offset_of!(KnRgnDesc, opaque1), 32);
        assert_eq!(offset_of!(KnRgnDesc, opaque2), 40);
        assert_eq!(offset_of!(KnRgnStat, opaque1), 24);
        assert_eq!(offset_of!(KnRgnStat, resident), 40);
        assert_eq!(offset_of!(JinueBuffer, size), 8);
    }

    #[test]
    fn wire_round_trips() {
        let a = MCloneArgs {
            src_addr: 0x1000,
            dest_addr: 0x2000,
            length: 0x3000,
            prot: -1,
            _pad: 0,
        };
        let mut b = [0u8; 32];
        a.to_bytes(&mut b);
        assert_eq!(MCloneArgs::from_bytes(&b), a);
        assert_eq!(&b[24..28], &[0xff; 4]);
        let d = KnRgnDesc {
            startAddr: 1,
            size: 2,
            options: 3,
            endAddr: 4,
            opaque1: 5,
            opaque2: 6,
        };
        let mut b = [0u8; 48];
        d.to_bytes(&mut b);
        assert_eq!(KnRgnDesc::from_bytes(&b), d);
        assert_eq!(b[40], 6);
        let c = KnCap {
            ui: KnUniqueId {
                head: 0x0800_0001,
                tail: 1,
            },
            key: KnKey { head: 7, tail: 9 },
        };
        let mut b = [0u8; 16];
        c.to_bytes(&mut b);
        assert_eq!(KnCap::from_bytes(&b), c);
    }
}
