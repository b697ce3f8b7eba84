//! Case `page_flood`: many small touched regions of the own process.

use super::layout::{PG, SAFE, SAFE_SIZE};
use super::support::touch_deep;
use abi::errors::ChorusError;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Many small regions of the own process, each touched: an ordinary
/// program's worth of allocations. RGN_ALLOCATE must succeed or say
/// K_ENOMEM, and touching committed memory must never fail.
pub(super) fn page_flood(c: &mut Case) {
    touch_deep();
    let base = usage();
    let mut n = 0u64;
    let mut last = Ok(());
    while n < 20_000 {
        let at = SAFE + 2 * n * PG;
        last = api::rgn_allocate(Actor::Me, &mut rgn(at, PG, K_WRITABLE));
        if last.is_err() {
            break;
        }
        poke(at, n);
        n += 1;
        if n.is_multiple_of(1000) {
            println!("    fuzz::page_flood: {n} one-page regions touched");
        }
    }
    check!(
        c,
        last.is_ok() || last == Err(ChorusError::NoMem),
        "RGN_ALLOCATE: {:?}",
        last
    );
    let intact = (0..n).all(|k| peek(SAFE + 2 * k * PG) == k);
    check!(c, intact, "every region kept its value");
    let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
