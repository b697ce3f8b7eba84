//! Descriptor numbers chosen by the runtime (threads, fork, spawn).
//!
//! Descriptor numbers are picked by the caller (ABI §2). The runtime hands out
//! numbers from [`FIRST`] up to `JINUE_DESC_NUM`; programs that pick numbers
//! by hand use the numbers below [`FIRST`].

use abi::perms::JINUE_DESC_NUM;
use core::sync::atomic::{AtomicU64, Ordering};

/// First descriptor number the runtime allocates.
pub const FIRST: u64 = JINUE_DESC_NUM / 2;
const WORDS: usize = ((JINUE_DESC_NUM - FIRST) / 64) as usize;

static USED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// Takes a free descriptor number, or `None` when all are taken.
pub fn alloc() -> Option<u64> {
    for (w, word) in USED.iter().enumerate() {
        let mut cur = word.load(Ordering::Relaxed);
        while cur != u64::MAX {
            let bit = (!cur).trailing_zeros();
            match word.compare_exchange(cur, cur | (1 << bit), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(FIRST + w as u64 * 64 + u64::from(bit)),
                Err(now) => cur = now,
            }
        }
    }
    None
}

/// Returns a number taken by [`alloc`].
pub fn free(desc: u64) {
    if let Some(i) = desc.checked_sub(FIRST) {
        if let Some(word) = USED.get((i / 64) as usize) {
            word.fetch_and(!(1 << (i % 64)), Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_and_free() {
        let a = alloc().unwrap();
        let b = alloc().unwrap();
        assert!(a >= FIRST && b >= FIRST && a < JINUE_DESC_NUM && b < JINUE_DESC_NUM);
        assert_ne!(a, b);
        free(a);
        let c = alloc().unwrap();
        assert_eq!(c, a, "a freed number is reused first");
        free(b);
        free(c);
        free(3); // below the runtime's range: ignored
    }
}
