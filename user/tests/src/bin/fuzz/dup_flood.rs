//! Case `dup_flood`: a process with many regions copied by RGN_DUP again and again.

use super::exhaustion::drop_processes;
use super::layout::{FILL_LO, PG};
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// A process with 2^14 regions (MCLONE doubling, well below the flood's
/// limit) shared by RGN_DUP into one process after another: each copy of
/// the region list costs kernel bookkeeping, never frames. Every call must
/// succeed or say K_ENOMEM / EAGAIN, never fail.
pub(super) fn dup_flood(c: &mut Case) {
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
    while n < (1 << 14) {
        let r = api::mclone_range(P, P, start, start + n * PG, n * PG, JINUE_PROT_READ);
        // A kernel that bounds its bookkeeping may refuse (ABI §3.1 8.9).
        check!(
            c,
            r.is_ok() || r == Err(JinueError::NoMem),
            "MCLONE doubling to {} regions: {:?}",
            2 * n,
            r
        );
        if r.is_err() {
            break;
        }
        n *= 2;
    }
    let mut made = 0;
    for q in FILL_LO..FILL_LO + 60 {
        match api::create_process(q) {
            Ok(()) => {}
            Err(e) => {
                check_eq!(c, e, JinueError::Again, "CREATE_PROCESS");
                break;
            }
        }
        made += 1;
        let qcap = api::actor_cap(q).unwrap_or_default();
        let r = api::rgn_dup(Actor::Cap(&qcap), Actor::Cap(&cap), K_INHERITSHARE);
        println!("    fuzz::dup_flood: copy {made} of {n} regions -> {:?}", r);
        if r.is_err() {
            check_eq!(c, r, Err(ChorusError::NoMem), "RGN_DUP");
            break;
        }
    }
    drop_processes(made);
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
