//! The `memstat` structure of MEMSTAT (ABI §7).

use crate::types::{get_u64, put_u64, Wire};

/// `memstat` (48 bytes, all `u64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MemStat {
    pub page_size: u64,
    pub total_frames: u64,
    pub free_frames: u64,
    /// Frames holding user memory.
    pub user_frames: u64,
    /// Frames holding user page tables.
    pub table_frames: u64,
    /// Frames reserved by the no-overcommit rule (ABI §5).
    pub committed_frames: u64,
}

impl Wire for MemStat {
    const SIZE: usize = 48;
    fn from_bytes(b: &[u8]) -> Self {
        let f = |i: usize| get_u64(b, i * 8);
        Self {
            page_size: f(0),
            total_frames: f(1),
            free_frames: f(2),
            user_frames: f(3),
            table_frames: f(4),
            committed_frames: f(5),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        let vals = [
            self.page_size,
            self.total_frames,
            self.free_frames,
            self.user_frames,
            self.table_frames,
            self.committed_frames,
        ];
        for (i, v) in vals.iter().enumerate() {
            put_u64(b, i * 8, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<MemStat>(), 48);
        assert_eq!(core::mem::offset_of!(MemStat, committed_frames), 40);
        let m = MemStat {
            page_size: 4096,
            total_frames: 2,
            free_frames: 3,
            user_frames: 4,
            table_frames: 5,
            committed_frames: 6,
        };
        let mut b = [0u8; 48];
        m.to_bytes(&mut b);
        assert_eq!(MemStat::from_bytes(&b), m);
    }
}
