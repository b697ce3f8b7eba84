//! Helpers of every case: stray regions, stack touching, the liveness
//! check after a batch, and the seeds a random case runs.

use super::layout::{LOW_END, PG};
use abi::layout::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Frees every region of the own process that is not in `keep` (regions a
/// random call allocated at a random address).
pub(super) fn free_strays(keep: &[(u64, u64)]) {
    loop {
        let mut st = [abi::types::KnRgnStat::default(); 64];
        let Ok(n) = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st)
        else {
            return;
        };
        let mut freed = false;
        for s in &st[..(n as usize).min(64)] {
            let kept = keep
                .iter()
                .any(|&(a, l)| a <= s.startAddr && s.startAddr + s.size <= a + l);
            if !kept {
                freed |= api::rgn_free(Actor::Me, &rgn(s.startAddr, s.size, 0)).is_ok();
            }
        }
        if !freed {
            return;
        }
    }
}

/// The own regions above the low reservation now: (start, size), up to 64.
pub(super) fn own_regions() -> ([(u64, u64); 64], usize) {
    let mut st = [abi::types::KnRgnStat::default(); 64];
    let mut out = [(0, 0); 64];
    let n = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st).unwrap_or(0)
        as usize;
    for (o, s) in out.iter_mut().zip(st.iter()).take(n.min(64)) {
        *o = (s.startAddr, s.size);
    }
    (out, n.min(64))
}

pub(super) fn dump_regions() {
    let mut st = [abi::types::KnRgnStat::default(); 64];
    let n = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st).unwrap_or(0);
    for s in &st[..(n as usize).min(64)] {
        println!(
            "    region {:#x} +{:#x} {:#x} resident {}",
            s.startAddr, s.size, s.options, s.resident
        );
    }
}

/// Touches 160 KiB of the calling thread's stack (the cases here run deep),
/// so that MEMSTAT comparisons do not count stack pages first touched later.
#[inline(never)]
pub(super) fn touch_deep() {
    let mut buf = [0u8; 160 * 1024];
    for i in (0..buf.len()).step_by(PG as usize) {
        // SAFETY: `buf` is a live local; the volatile write keeps it.
        unsafe { core::ptr::write_volatile(&mut buf[i], 1) };
    }
    core::hint::black_box(&buf);
}

pub(super) fn alive(c: &mut Case) {
    let m = api::memstat();
    check!(
        c,
        m.is_ok_and(|m| m.page_size == PG),
        "MEMSTAT after the batch: {:?}",
        m
    );
    let r = Region::anywhere(2, K_WRITABLE);
    check!(
        c,
        r.is_ok(),
        "RGN_ALLOCATE after the batch: {:?}",
        r.as_ref().err()
    );
    if let Ok(r) = r {
        poke(r.page(1), 0x5a5a);
        check_eq!(c, peek(r.page(1)), 0x5a5a, "a fresh region works");
    }
}

/// `soak BASE`: the random cases use 40 seeds from BASE instead of their own.
pub(super) static SOAK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The seeds a random case runs: its fixed ones, or the soak seeds.
pub(super) fn seeds(fixed: &'static [u64]) -> impl Iterator<Item = u64> {
    let soak = SOAK.load(core::sync::atomic::Ordering::Relaxed);
    let n = if soak == 0 { fixed.len() } else { 40 };
    (0..n).map(move |k| {
        if soak == 0 {
            fixed[k]
        } else {
            soak.wrapping_add(k as u64 * 0x9e37_79b9)
        }
    })
}
