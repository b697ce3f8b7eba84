//! Memory the fuzzer owns (the argument pool, the low reservation, the
//! SAFE window) and the descriptor slots random calls may use.

use abi::layout::*;
use abi::perms::*;
use abi::types::KnCap;
use ferrite_tests::*;

pub(super) const PG: u64 = PAGE_SIZE;

/// The pool of random argument structures (64-byte slots), followed by an unmapped page.
pub(super) const POOL: u64 = 0x10_0000_0000;

const POOL_PAGES: u64 = 8;

pub(super) const POOL_BYTES: u64 = POOL_PAGES * PG;

/// `[LOW, LOW_END)`: held by an inaccessible region for the whole run, so
/// that no stack or buffer of the program lies at the small addresses random
/// values hit most (sizes, flags, powers of two).
pub(super) const LOW: u64 = USER_BASE;

pub(super) const LOW_END: u64 = 0x40_0000;

/// A read-only page of printable text for PUTS.
pub(super) const TEXT: u64 = POOL - 2 * PG;

/// Where calls may change the caller's own memory: nothing of the program lives here.
pub(super) const SAFE: u64 = 0x20_0000_0000;

pub(super) const SAFE_SIZE: u64 = 0x10_0000_0000;

/// Descriptor slots random calls play with; slots below are the deterministic
/// cases', and from `desc::FIRST` (512) up the runtime's.
pub(super) const FUZZ_LO: u64 = 64;

pub(super) const FUZZ_N: u64 = 24;

/// Slots that exhaustion fills (processes, threads): above the fuzz slots,
/// below the runtime's.
pub(super) const FILL_LO: u64 = 128;

pub(super) const FILL_HI: u64 = ferrite_rt::desc::FIRST;

pub(super) fn protected_slot(d: u64) -> bool {
    d < JINUE_DESC_NUM && !(FUZZ_LO..FUZZ_LO + FUZZ_N).contains(&d)
}

pub(super) fn in_pool(a: u64, len: u64) -> bool {
    a >= POOL && a.checked_add(len).is_some_and(|e| e <= POOL + POOL_BYTES)
}

/// Whether `[start, start + size)` (size rounded up to pages) lies in SAFE,
/// or would be refused anyway (misaligned, wrapping, outside user space).
pub(super) fn range_harmless(start: u64, size: u64) -> bool {
    let Some(len) = size.checked_add(PG - 1).map(|s| s & !(PG - 1)) else {
        return true;
    };
    if !start.is_multiple_of(PG) || !is_user_range(start, len) {
        return true;
    }
    len == 0 || (start >= SAFE && start + len <= SAFE + SAFE_SIZE)
}

/// Reads a `u64` at any (possibly unaligned) address of the pool.
pub(super) fn peek_u(at: u64) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = peek8(at + i as u64);
    }
    u64::from_le_bytes(b)
}

pub(super) fn read_cap(at: u64) -> KnCap {
    let (a, b) = (peek_u(at), peek_u(at + 8));
    KnCap {
        ui: abi::types::KnUniqueId {
            head: a as u32,
            tail: (a >> 32) as u32,
        },
        key: abi::types::KnKey {
            head: b as u32,
            tail: (b >> 32) as u32,
        },
    }
}

pub(super) fn write_cap(at: u64, c: &KnCap) {
    poke(at, u64::from(c.ui.head) | (u64::from(c.ui.tail) << 32));
    poke(
        at + 8,
        u64::from(c.key.head) | (u64::from(c.key.tail) << 32),
    );
}
