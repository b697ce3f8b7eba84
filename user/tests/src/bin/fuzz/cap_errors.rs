//! Case `cap_errors`: capability errors of every ChorusOS function.

use super::layout::{PG, SAFE, SAFE_SIZE};
use super::support::touch_deep;
use abi::errors::ChorusError;
use abi::layout::*;
use abi::numbers::*;
use abi::region::*;
use abi::types::{KnCap, KnRgnDesc};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_tests::*;

/// Every function taking a `KnCap *`, with every kind of bad capability:
/// the code ABI §4.1/§4.3 gives, and nothing changed.
pub(super) fn cap_errors(c: &mut Case) {
    touch_deep();
    let base = usage();
    const V: u64 = 48;
    const GONE: u64 = 49;
    check_eq!(c, api::create_process(V), Ok(()));
    check_eq!(c, api::create_process(GONE), Ok(()));
    let live = api::actor_cap(V).unwrap_or_default();
    let gone = api::actor_cap(GONE).unwrap_or_default();
    check_eq!(c, api::destroy(GONE), Ok(()));
    let mut wrong_key = live;
    wrong_key.key.head ^= 1;
    let mut wrong_type = live;
    wrong_type.ui.head ^= 1 << 28;
    let mut other_site = live;
    other_site.ui.tail = 2;
    let bad: [(&str, Option<KnCap>, u64, ChorusError); 7] = [
        ("NULL", None, 0, ChorusError::Fault),
        (
            "kernel address",
            None,
            0xffff_8000_0000_0000,
            ChorusError::Fault,
        ),
        ("K_SVACTOR", None, K_SVACTOR, ChorusError::Inval),
        ("wrong key", Some(wrong_key), 0, ChorusError::Inval),
        ("wrong type bits", Some(wrong_type), 0, ChorusError::Inval),
        ("destroyed actor", Some(gone), 0, ChorusError::Unknown),
        ("other site", Some(other_site), 0, ChorusError::Unknown),
    ];
    let mut desc = rgn(SAFE, PG, 0);
    let mut st = [abi::types::KnRgnStat::default(); 2];
    let buf = abi::types::JinueBuffer {
        addr: st.as_mut_ptr() as u64,
        size: 96,
    };
    let me = api::actor_self().unwrap_or_default();
    for (what, cap, ptr, want) in bad {
        let cap_ptr = match cap {
            Some(ref k) => k as *const KnCap as u64,
            None => ptr,
        };
        let d = &mut desc as *mut KnRgnDesc as u64;
        let b = &buf as *const abi::types::JinueBuffer as u64;
        let mep = &me as *const KnCap as u64;
        for (name, args) in [
            ("RGN_ALLOCATE", [K_SYS_RGN_ALLOCATE, cap_ptr, d, 0]),
            ("RGN_FREE", [K_SYS_RGN_FREE, cap_ptr, d, 0]),
            ("RGN_STAT", [K_SYS_RGN_STAT, cap_ptr, d, b]),
            ("RGN_SET_INHERIT", [K_SYS_RGN_SET_INHERIT, cap_ptr, d, 0]),
            ("RGN_SET_PROTECT", [K_SYS_RGN_SET_PROTECT, cap_ptr, d, 0]),
            ("RGN_DUP target", [K_SYS_RGN_DUP, cap_ptr, mep, 0]),
            (
                "RGN_DUP source",
                [K_SYS_RGN_DUP, live_ptr(&live), cap_ptr, 0],
            ),
            ("ACTOR_DELETE", [K_SYS_ACTOR_DELETE, cap_ptr, 0, 0]),
        ] {
            desc = rgn(
                SAFE,
                PG,
                if name == "RGN_ALLOCATE" {
                    K_WRITABLE
                } else {
                    0
                },
            );
            let r = kraw(args[0], args[1], args[2], args[3]);
            check_eq!(c, r, Err(want), "{} with a {} capability", name, what);
        }
    }
    check_eq!(
        c,
        stat(Actor::Me, SAFE, SAFE_SIZE).0,
        Ok(0),
        "nothing was allocated"
    );
    check_eq!(
        c,
        stat(Actor::Cap(&live), USER_BASE, USER_LIMIT - USER_BASE).0,
        Ok(0),
        "the victim is untouched"
    );
    check_eq!(c, api::destroy(V), Ok(()));
    let _ = api::close(V);
    let _ = api::close(GONE);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

fn live_ptr(k: &KnCap) -> u64 {
    k as *const KnCap as u64
}
