//! Case `bookkeeping_churn`: random region-hungry operations across four
//! processes that keep hitting the kernel's bookkeeping bound.

use super::layout::PG;
use super::rng::Rng;
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::perms::*;
use abi::region::*;
use abi::types::KnCap;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Random region-hungry operations across four processes (MCLONE doubling,
/// protection splits, RGN_DUP, frees in the middle, many small regions,
/// destruction) that keep hitting whatever bound the kernel puts on its
/// bookkeeping: every call succeeds or says ENOMEM (K_ENOMEM, EAGAIN), and
/// everything is given back at the end (checked by `no_leak_after_floods`).
pub(super) fn bookkeeping_churn(c: &mut Case) {
    touch_deep();
    let base = usage();
    const X: u64 = 50;
    const B: u64 = 0x1000_0000;
    let seed = 0xb00c_0001u64;
    println!("    fuzz::bookkeeping_churn: seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut live = [false; 4];
    let mut caps = [KnCap::default(); 4];
    let mut span = [0u64; 4];
    let mut refused = 0;
    let okj = |r: Result<(), JinueError>| r.is_ok() || r == Err(JinueError::NoMem);
    let okk = |r: Result<(), ChorusError>| r.is_ok() || r == Err(ChorusError::NoMem);
    for step in 0..2000u32 {
        let i = rng.below(4) as usize;
        let d = X + i as u64;
        if !live[i] {
            match api::create_process(d) {
                Ok(()) => {
                    live[i] = true;
                    caps[i] = api::actor_cap(d).unwrap_or_default();
                    let r = api::rgn_allocate(
                        Actor::Cap(&caps[i]),
                        &mut rgn(B, 16 * PG, K_WRITABLE | K_INHERITCOPY),
                    );
                    check!(c, okk(r), "step {step}: RGN_ALLOCATE {:?}", r);
                    span[i] = if r.is_ok() { 16 } else { 0 };
                }
                Err(e) => {
                    check_eq!(c, e, JinueError::Again, "step {step}: CREATE_PROCESS");
                    refused += 1;
                }
            }
            continue;
        }
        let my_cap = caps[i];
        let cap = Actor::Cap(&my_cap);
        match rng.below(6) {
            0 if span[i] > 0 && span[i] < (1 << 16) => {
                let n = span[i];
                let r = api::mclone_range(d, d, B, B + n * PG, n * PG, JINUE_PROT_READ);
                check!(c, okj(r), "step {step}: MCLONE doubling {:?}", r);
                if r.is_ok() {
                    span[i] *= 2;
                } else {
                    refused += 1;
                }
            }
            1 if span[i] > 0 => {
                let first = rng.below(span[i]);
                for k in 0..64u64.min(span[i] - first) / 2 {
                    let r = api::rgn_set_protect(cap, &rgn(B + (first + 2 * k) * PG, PG, 0));
                    check!(c, okk(r), "step {step}: RGN_SET_PROTECT {:?}", r);
                    if r.is_err() {
                        refused += 1;
                        break;
                    }
                }
            }
            2 => {
                let j = (i + 1 + rng.below(3) as usize) % 4;
                let dj = X + j as u64;
                if live[j] {
                    let _ = api::destroy(dj);
                    let _ = api::close(dj);
                    live[j] = false;
                }
                if api::create_process(dj).is_err() {
                    refused += 1;
                    continue;
                }
                live[j] = true;
                caps[j] = api::actor_cap(dj).unwrap_or_default();
                let flags = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_dup(Actor::Cap(&caps[j]), cap, flags);
                check!(c, okk(r), "step {step}: RGN_DUP {:?}", r);
                span[j] = if r.is_ok() { span[i] } else { 0 };
                if r.is_err() {
                    refused += 1;
                    check_eq!(
                        c,
                        stat(Actor::Cap(&caps[j]), USER_BASE, USER_LIMIT - USER_BASE).0,
                        Ok(0),
                        "step {step}: a refused RGN_DUP leaves the target empty"
                    );
                }
            }
            3 if span[i] > 2 => {
                let first = 1 + rng.below(span[i] - 2);
                let r = api::rgn_free(cap, &rgn(B + first * PG, PG, 0));
                check!(c, okk(r), "step {step}: RGN_FREE {:?}", r);
            }
            4 if rng.chance(1, 3) => {
                check_eq!(c, api::destroy(d), Ok(()), "step {step}: DESTROY");
                check_eq!(c, api::close(d), Ok(()));
                live[i] = false;
            }
            5 => {
                let at = 0x4000_0000 + rng.below(1 << 10) * 0x10_0000;
                for k in 0..256 {
                    let r = api::rgn_allocate(cap, &mut rgn(at + 2 * k * PG, PG, K_WRITABLE));
                    check!(
                        c,
                        okk(r) || r == Err(ChorusError::Overlap),
                        "step {step}: RGN_ALLOCATE {:?}",
                        r
                    );
                    if r.is_err() {
                        refused += 1;
                        break;
                    }
                }
            }
            _ => {}
        }
        if !c.ok() {
            break;
        }
    }
    println!("    fuzz::bookkeeping_churn: {refused} refusals");
    for i in 0..4 {
        let _ = api::destroy(X + i);
        let _ = api::close(X + i);
    }
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
