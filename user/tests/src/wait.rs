//! Waiting for another thread without a clock call: yields, bounded by the TSC.
//!
//! With one CPU the thread waited for runs between the waiter's yields, so
//! a number of yields bounds the wait. With several CPUs it runs beside the
//! waiter, whose yields return at once when nothing else is ready: only a
//! clock bounds the wait, and the ABI has none, so the TSC does.

use ferrite_rt::api;

/// How long to wait before giving up: at least `yields` YIELD_THREADs and at
/// least `cycles` of the TSC.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub yields: u64,
    pub cycles: u64,
}

/// About a second of a 2–4 GHz TSC.
pub const TSC_SECOND: u64 = 1 << 31;

impl Patience {
    /// Far longer than any step a test waits for needs.
    pub const DEFAULT: Patience = Patience {
        yields: 10_000,
        cycles: 2 * TSC_SECOND,
    };
}

/// Yields until `done()` holds (true) or `patience` runs out (false).
pub fn wait_for(mut done: impl FnMut() -> bool, patience: Patience) -> bool {
    let start = ferrite_rt::clock::cycles();
    let mut n = 0u64;
    loop {
        if done() {
            return true;
        }
        if n >= patience.yields && ferrite_rt::clock::cycles() - start >= patience.cycles {
            return false;
        }
        api::yield_thread();
        n += 1;
    }
}
