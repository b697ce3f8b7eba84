//! Segments and mappers (ABI §4.5), the range calls' arguments (ABI §4.3), with layout tests.

use crate::args::{Allocation, Invalid};
use crate::layout::{is_page_aligned, PAGE_SIZE};
use crate::region::{SITE_NUMBER, UI_STAMP_MASK, UI_TYPE_SHIFT};
use crate::types::{get_u64, put_u64, KnCap, KnKey, KnRgnDesc, Wire};

/// Type code of a port (endpoint) in the top 5 bits of `KnUniqueId::head`.
pub const PORT_TYPE: u32 = 2;

/// `KnUniqueId::head` of the endpoint with `stamp`: `0x1000_0000 | stamp`.
pub const fn port_ui_head(stamp: u32) -> u32 {
    (PORT_TYPE << UI_TYPE_SHIFT) | (stamp & UI_STAMP_MASK)
}

/// Kernel request function numbers (below 4096: no process can SEND them).
pub const MP_PULL_IN: u64 = 1;
pub const MP_PUSH_OUT: u64 = 2;
pub const MP_RELEASE: u64 = 3;

/// `access` of a request: a pull-in for a write fault, any other pull-in, push-out and release.
pub const MP_ACCESS_WRITE: u64 = 2;
pub const MP_ACCESS_READ: u64 = 1;
pub const MP_ACCESS_NONE: u64 = 0;

/// Largest `size` of one kernel request (64 KiB).
pub const MP_MAX_REQUEST: u64 = 64 * 1024;

/// `KnObjDesc` (32 bytes): a segment range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[allow(non_snake_case)]
pub struct KnObjDesc {
    pub dataObject: KnCap,
    pub startOffset: u64,
    pub size: u64,
}

/// `KnRgnFromActorArgs` (32 bytes): the four pointers of `rgnMapFromActor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct KnRgnFromActorArgs {
    pub tgtactorcap: u64,
    pub tgtrgndesc: u64,
    pub srcactorcap: u64,
    pub srcrgndesc: u64,
}

/// `KnMpRequest` (32 bytes): what the kernel sends a mapper.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct KnMpRequest {
    pub key: KnKey,
    pub offset: u64,
    pub size: u64,
    pub access: u64,
}

/// `KnMpReply` (16 bytes): a mapper's answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct KnMpReply {
    pub diag: i64,
    pub addr: u64,
}

impl Wire for KnObjDesc {
    const SIZE: usize = 32;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            dataObject: KnCap::from_bytes(&b[..16]),
            startOffset: get_u64(b, 16),
            size: get_u64(b, 24),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        self.dataObject.to_bytes(&mut b[..16]);
        put_u64(b, 16, self.startOffset);
        put_u64(b, 24, self.size);
    }
}

impl Wire for KnRgnFromActorArgs {
    const SIZE: usize = 32;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            tgtactorcap: get_u64(b, 0),
            tgtrgndesc: get_u64(b, 8),
            srcactorcap: get_u64(b, 16),
            srcrgndesc: get_u64(b, 24),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.tgtactorcap);
        put_u64(b, 8, self.tgtrgndesc);
        put_u64(b, 16, self.srcactorcap);
        put_u64(b, 24, self.srcrgndesc);
    }
}

impl Wire for KnMpRequest {
    const SIZE: usize = 32;
    fn from_bytes(b: &[u8]) -> Self {
        let key = get_u64(b, 0);
        Self {
            key: KnKey {
                head: key as u32,
                tail: (key >> 32) as u32,
            },
            offset: get_u64(b, 8),
            size: get_u64(b, 16),
            access: get_u64(b, 24),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.key.head.to_le_bytes());
        b[4..8].copy_from_slice(&self.key.tail.to_le_bytes());
        put_u64(b, 8, self.offset);
        put_u64(b, 16, self.size);
        put_u64(b, 24, self.access);
    }
}

impl Wire for KnMpReply {
    const SIZE: usize = 16;
    fn from_bytes(b: &[u8]) -> Self {
        Self {
            diag: get_u64(b, 0) as i64,
            addr: get_u64(b, 8),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        put_u64(b, 0, self.diag as u64);
        put_u64(b, 8, self.addr);
    }
}

/// What a segment capability names, before looking at the live endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentName {
    /// Not of type port, or not site 1: `K_EINVAL`.
    Invalid,
    /// An endpoint stamp and the mapper's key.
    Port { stamp: u32, key: u64 },
}

/// Splits a segment capability (ABI §4.5): type 2 (port) and site 1, else invalid.
pub fn segment_name(cap: &KnCap) -> SegmentName {
    if cap.ui.head >> UI_TYPE_SHIFT != PORT_TYPE || cap.ui.tail != SITE_NUMBER {
        return SegmentName::Invalid;
    }
    SegmentName::Port {
        stamp: cap.ui.head & UI_STAMP_MASK,
        key: u64::from(cap.key.head) | (u64::from(cap.key.tail) << 32),
    }
}

/// The key of a segment as the kernel stores it, back into a `KnKey`.
pub const fn key_of(key: u64) -> KnKey {
    KnKey {
        head: key as u32,
        tail: (key >> 32) as u32,
    }
}

/// RGN_MAP / RGN_INIT after decoding: the new region and the segment window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentWindow {
    pub region: Allocation,
    /// Page index in the segment of the region's first page.
    pub first_page: u64,
}

impl SegmentWindow {
    /// Decodes the region descriptor as RGN_ALLOCATE does, then the object
    /// descriptor: `startOffset` page-aligned, `size` 0 or the region's
    /// rounded size, `startOffset + size` not wrapping.
    ///
    /// # Errors
    /// `Invalid` for any of these.
    pub fn decode(desc: &KnRgnDesc, obj: &KnObjDesc) -> Result<Self, Invalid> {
        let region = Allocation::decode(desc)?;
        if !is_page_aligned(obj.startOffset) {
            return Err(Invalid);
        }
        let len = region.npages * PAGE_SIZE;
        if obj.size != 0 && obj.size != len {
            return Err(Invalid);
        }
        obj.startOffset.checked_add(len).ok_or(Invalid)?;
        Ok(Self {
            region,
            first_page: obj.startOffset / PAGE_SIZE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KnUniqueId;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_abi() {
        assert_eq!(size_of::<KnObjDesc>(), 32);
        assert_eq!(size_of::<KnRgnFromActorArgs>(), 32);
        assert_eq!(size_of::<KnMpRequest>(), 32);
        assert_eq!(size_of::<KnMpReply>(), 16);
        assert_eq!(offset_of!(KnObjDesc, startOffset), 16);
        assert_eq!(offset_of!(KnObjDesc, size), 24);
        assert_eq!(offset_of!(KnRgnFromActorArgs, srcrgndesc), 24);
        assert_eq!(offset_of!(KnMpRequest, offset), 8);
        assert_eq!(offset_of!(KnMpRequest, size), 16);
        assert_eq!(offset_of!(KnMpRequest, access), 24);
        assert_eq!(offset_of!(KnMpReply, addr), 8);
        assert_eq!(KnObjDesc::SIZE, 32);
        assert_eq!(KnMpRequest::SIZE, 32);
        assert_eq!(KnMpReply::SIZE, 16);
    }

    #[test]
    fn wire_round_trips() {
        let r = KnMpRequest {
            key: KnKey { head: 1, tail: 2 },
            offset: 0x3000,
            size: 0x1000,
            access: 2,
        };
        let mut b = [0u8; 32];
        r.to_bytes(&mut b);
        assert_eq!(KnMpRequest::from_bytes(&b), r);
        assert_eq!(b[0], 1);
        assert_eq!(b[4], 2);
        let o = KnObjDesc {
            dataObject: KnCap {
                ui: KnUniqueId {
                    head: port_ui_head(3),
                    tail: 1,
                },
                key: KnKey { head: 5, tail: 6 },
            },
            startOffset: 0x2000,
            size: 0,
        };
        let mut b = [0u8; 32];
        o.to_bytes(&mut b);
        assert_eq!(KnObjDesc::from_bytes(&b), o);
        let p = KnMpReply { diag: -7, addr: 9 };
        let mut b = [0u8; 16];
        p.to_bytes(&mut b);
        assert_eq!(KnMpReply::from_bytes(&b), p);
    }

    #[test]
    fn segment_names() {
        let cap = |head, tail| KnCap {
            ui: KnUniqueId { head, tail },
            key: KnKey { head: 5, tail: 6 },
        };
        assert_eq!(port_ui_head(3), 0x1000_0003);
        assert_eq!(
            segment_name(&cap(port_ui_head(3), 1)),
            SegmentName::Port {
                stamp: 3,
                key: 0x6_0000_0005
            }
        );
        assert_eq!(key_of(0x6_0000_0005), KnKey { head: 5, tail: 6 });
        assert_eq!(segment_name(&cap(0x0800_0003, 1)), SegmentName::Invalid);
        assert_eq!(segment_name(&cap(port_ui_head(3), 2)), SegmentName::Invalid);
    }

    #[test]
    fn windows() {
        let desc = KnRgnDesc {
            startAddr: 0x10_0000,
            size: 0x1800,
            options: 1,
            ..KnRgnDesc::default()
        };
        let mut obj = KnObjDesc {
            startOffset: 0x4000,
            ..KnObjDesc::default()
        };
        let w = SegmentWindow::decode(&desc, &obj).unwrap();
        assert_eq!((w.region.npages, w.first_page), (2, 4));
        obj.size = 0x2000;
        assert!(SegmentWindow::decode(&desc, &obj).is_ok());
        obj.size = 0x1800;
        assert!(SegmentWindow::decode(&desc, &obj).is_err());
        obj.size = 0;
        obj.startOffset = 0x4001;
        assert!(SegmentWindow::decode(&desc, &obj).is_err());
        obj.startOffset = u64::MAX - 0xfff;
        assert!(SegmentWindow::decode(&desc, &obj).is_err());
    }
}
