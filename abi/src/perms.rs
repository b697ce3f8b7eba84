//! Descriptor permissions (ABI §2), protections (ABI §6.3), descriptor limits.

pub const JINUE_PERM_SEND: u32 = 1 << 0;
pub const JINUE_PERM_RECEIVE: u32 = 1 << 1;
pub const JINUE_PERM_MAP: u32 = 1 << 2;
pub const JINUE_PERM_OPEN: u32 = 1 << 3;
pub const JINUE_PERM_CREATE_THREAD: u32 = 1 << 4;
pub const JINUE_PERM_START: u32 = 1 << 5;
pub const JINUE_PERM_AWAIT: u32 = 1 << 6;

/// Permissions that make sense on a process descriptor.
pub const PROCESS_PERMS: u32 = JINUE_PERM_MAP | JINUE_PERM_OPEN | JINUE_PERM_CREATE_THREAD;
/// Permissions that make sense on a thread descriptor.
pub const THREAD_PERMS: u32 = JINUE_PERM_START | JINUE_PERM_AWAIT;
/// Permissions that make sense on an endpoint descriptor (endpoints come later).
pub const ENDPOINT_PERMS: u32 = JINUE_PERM_SEND | JINUE_PERM_RECEIVE;

/// Number of descriptor slots per process (project value).
pub const JINUE_DESC_NUM: u64 = 1024;

/// Whether a raw descriptor number names a slot at all (value check only):
/// negative, `> i32::MAX` or `>= JINUE_DESC_NUM` do not.
pub const fn descriptor_index(raw: u64) -> Option<usize> {
    if raw < JINUE_DESC_NUM {
        Some(raw as usize)
    } else {
        None
    }
}

pub const JINUE_PROT_NONE: i32 = 0;
pub const JINUE_PROT_READ: i32 = 1;
pub const JINUE_PROT_WRITE: i32 = 2;
pub const JINUE_PROT_EXEC: i32 = 4;
/// Every valid protection bit.
pub const JINUE_PROT_MASK: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE | JINUE_PROT_EXEC;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_numbers() {
        assert_eq!(descriptor_index(0), Some(0));
        assert_eq!(descriptor_index(1023), Some(1023));
        assert_eq!(descriptor_index(1024), None);
        assert_eq!(descriptor_index(u64::MAX), None, "-1 as u64");
        assert_eq!(descriptor_index(1 << 31), None);
    }

    #[test]
    fn permission_sets_are_disjoint() {
        assert_eq!(PROCESS_PERMS & THREAD_PERMS, 0);
        assert_eq!(PROCESS_PERMS & ENDPOINT_PERMS, 0);
        assert_eq!(THREAD_PERMS & ENDPOINT_PERMS, 0);
        assert_eq!(PROCESS_PERMS | THREAD_PERMS | ENDPOINT_PERMS, 0x7f);
    }
}
