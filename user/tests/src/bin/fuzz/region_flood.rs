//! Case `region_flood`: regions doubled with MCLONE until the kernel refuses.

use super::layout::PG;
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Doubles the number of regions of a scratch process with MCLONE until the
/// kernel refuses: it must say ENOMEM (ABI §3.1 item 8.9), never fail.
pub(super) fn region_flood(c: &mut Case) {
    touch_deep();
    let base = usage();
    const P: u64 = 5;
    check_eq!(c, api::create_process(P), Ok(()));
    let cap = api::actor_cap(P).unwrap_or_default();
    let start = 0x1_0000_0000u64;
    check_eq!(
        c,
        api::rgn_allocate(Actor::Cap(&cap), &mut rgn(start, PG, K_WRITABLE)),
        Ok(())
    );
    let mut n = 1u64;
    let mut last = Ok(());
    while n < (1 << 22) {
        last = api::mclone_range(P, P, start, start + n * PG, n * PG, JINUE_PROT_READ);
        println!("    fuzz::region_flood: {} regions -> {:?}", 2 * n, last);
        if last.is_err() {
            break;
        }
        n *= 2;
    }
    check!(
        c,
        last.is_ok() || last == Err(JinueError::NoMem),
        "MCLONE: {:?}",
        last
    );
    // A refused MCLONE changed nothing: exactly n regions, and RGN_STAT
    // counts them all while filling only what fits.
    let mut st = [abi::types::KnRgnStat::default(); 8];
    let r = api::rgn_stat(
        Actor::Cap(&cap),
        &rgn(USER_BASE, USER_LIMIT - USER_BASE, 0),
        &mut st,
    );
    check_eq!(c, r, Ok(n), "RGN_STAT count of the flooded process");
    check_eq!(
        c,
        (st[7].startAddr, st[7].size),
        (start + 7 * PG, PG),
        "RGN_STAT entries in address order"
    );
    // A region split at the bound: freeing one page in the middle of the
    // first region and protecting one page either works or says K_ENOMEM.
    check_eq!(
        c,
        api::rgn_allocate(
            Actor::Cap(&cap),
            &mut rgn(0x2_0000_0000, 3 * PG, K_WRITABLE)
        ),
        Ok(())
    );
    let f = api::rgn_free(Actor::Cap(&cap), &rgn(0x2_0000_0000 + PG, PG, 0));
    check!(
        c,
        f.is_ok() || f == Err(ChorusError::NoMem),
        "RGN_FREE in the middle: {:?}",
        f
    );
    let p = api::rgn_set_protect(Actor::Cap(&cap), &rgn(0x2_0000_0000, PG, 0));
    check!(
        c,
        p.is_ok() || p == Err(ChorusError::NoMem),
        "RGN_SET_PROTECT of one page: {:?}",
        p
    );
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
