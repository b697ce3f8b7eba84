//! Address-space layout constants (ABI §1.2) and the buffer-ownership rule.

pub const PAGE_SIZE: u64 = 4096;
/// Lowest mappable user address: page 0 is never mapped.
pub const USER_BASE: u64 = 0x1000;
/// Everything at or above belongs to the kernel (`JINUE_KLIMIT`).
pub const USER_LIMIT: u64 = 0x0000_8000_0000_0000;
pub const JINUE_KLIMIT: u64 = USER_LIMIT;
/// Top (exclusive end) of the init program's stack region.
pub const JINUE_STACK_BASE: u64 = 0x0000_7FFF_FFFF_0000;
/// Size of the init program's stack region.
pub const JINUE_STACK_SIZE: u64 = 128 * 1024;

/// Whether `addr` is a multiple of [`PAGE_SIZE`].
pub const fn is_page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

/// `size` rounded up to whole pages, `None` on overflow.
pub const fn round_up_to_page(size: u64) -> Option<u64> {
    match size.checked_add(PAGE_SIZE - 1) {
        Some(n) => Some(n & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// Whether the buffer `[addr, addr + len_bytes)` lies entirely in user space
/// (`[USER_BASE, USER_LIMIT)`, no wrap-around). A zero-length buffer is in user
/// space when `addr` is in `[USER_BASE, USER_LIMIT]`.
pub const fn is_user_range(addr: u64, len_bytes: u64) -> bool {
    match addr.checked_add(len_bytes) {
        Some(end) => addr >= USER_BASE && end <= USER_LIMIT,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_range_edges() {
        assert!(!is_user_range(0, 1));
        assert!(!is_user_range(0xfff, 1));
        assert!(is_user_range(0x1000, 1));
        assert!(is_user_range(USER_LIMIT - 1, 1));
        assert!(!is_user_range(USER_LIMIT - 1, 2));
        assert!(!is_user_range(USER_LIMIT, 0x10));
        assert!(!is_user_range(u64::MAX, 2));
        assert!(is_user_range(
            JINUE_STACK_BASE - JINUE_STACK_SIZE,
            JINUE_STACK_SIZE
        ));
    }
}
