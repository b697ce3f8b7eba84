//! The init process's start-up contract (ABI §8): auxiliary vector and descriptors.

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 2;
pub const AT_PHENT: u64 = 3;
pub const AT_PHNUM: u64 = 4;
pub const AT_PAGESZ: u64 = 5;
pub const AT_ENTRY: u64 = 6;
pub const JINUE_AT_STACKBASE: u64 = 7;
pub const JINUE_AT_HOWSYSCALL: u64 = 8;
/// Number of CPUs the kernel runs on (ABI §9) *(project)*.
pub const JINUE_AT_NCPU: u64 = 10;

/// `JINUE_AT_HOWSYSCALL` values.
pub const HOWSYSCALL_INTERRUPT: u64 = 0;
pub const HOWSYSCALL_SYSCALL: u64 = 1;

/// Software interrupt vector of the `int` entry.
pub const SYSCALL_INTERRUPT_VECTOR: u8 = 0x80;

/// Descriptor of the init process itself (`MAP|OPEN|CREATE_THREAD`, not owner).
pub const INIT_SELF_DESCRIPTOR: u64 = 0;
/// Descriptor of the init process's main thread (`START|AWAIT`).
pub const INIT_THREAD_DESCRIPTOR: u64 = 1;

/// Maximum length of a PUTS string.
pub const PUTS_MAX_LENGTH: u64 = 120;
/// PUTS levels.
pub const PUTS_INFO: u64 = b'I' as u64;
pub const PUTS_WARNING: u64 = b'W' as u64;
pub const PUTS_ERROR: u64 = b'E' as u64;
