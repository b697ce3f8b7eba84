//! Case `cow_chain`: a long chain of copy-on-write snapshots.

use super::layout::{PG, SAFE};
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Builds a chain of `depth` private copies of one page, each taken after
/// the page changed (every copy freezes the page as it was then), keeps
/// every copy alive in a collector process, checks a sample of them, then
/// tears everything down in the order `source_first` says.
fn cow_chain_run(c: &mut Case, depth: u64, source_first: bool) {
    const S: u64 = 42;
    const Q: u64 = 43;
    const P: u64 = 44;
    const R: u64 = 0x1000_0000;
    const COPIES: u64 = 0x2000_0000;
    let window = SAFE + 0x3000_0000;
    check_eq!(c, api::create_process(S), Ok(()));
    check_eq!(c, api::create_process(Q), Ok(()));
    let scap = api::actor_cap(S).unwrap_or_default();
    check_eq!(
        c,
        api::rgn_allocate(
            Actor::Cap(&scap),
            &mut rgn(R, PG, K_WRITABLE | K_INHERITCOPY)
        ),
        Ok(())
    );
    let rw = JINUE_PROT_READ | JINUE_PROT_WRITE;
    check_eq!(
        c,
        api::mclone_range(S, ferrite_rt::thread::SELF, R, window, PG, rw),
        Ok(())
    );
    let mut made = 0;
    let mut last = 0;
    for i in 0..depth {
        if i % 1000 == 0 {
            let m = api::memstat().unwrap_or_default();
            println!(
                "    fuzz::cow_chain: {i} copies, {} free frames",
                m.free_frames
            );
        }
        poke(window, 0xc0de_0000 + i);
        last = 0xc0de_0000 + i;
        if api::create_process(P).is_err() {
            break;
        }
        let pcap = api::actor_cap(P).unwrap_or_default();
        let r = api::rgn_dup(Actor::Cap(&pcap), Actor::Cap(&scap), K_INHERITCOPY);
        if r.is_ok() {
            let m = api::mclone_range(P, Q, R, COPIES + i * PG, PG, JINUE_PROT_READ);
            check!(
                c,
                m.is_ok() || m == Err(JinueError::NoMem),
                "MCLONE of copy {i}: {:?}",
                m
            );
            if m.is_ok() {
                made += 1;
            }
        } else {
            check_eq!(c, r, Err(ChorusError::NoMem), "RGN_DUP copy {}", i);
        }
        let _ = api::destroy(P);
        let _ = api::close(P);
        if made <= i {
            break;
        }
    }
    // A sample of the copies read as the page was when each was taken.
    let look = window + PG;
    for i in [
        0,
        1,
        made / 2,
        made.saturating_sub(2),
        made.saturating_sub(1),
    ] {
        if i >= made {
            continue;
        }
        let m = api::mclone_range(
            Q,
            ferrite_rt::thread::SELF,
            COPIES + i * PG,
            look,
            PG,
            JINUE_PROT_READ,
        );
        check_eq!(c, m, Ok(()), "mapping copy {}", i);
        if m.is_ok() {
            check_eq!(c, peek(look), 0xc0de_0000 + i, "copy {} of {}", i, made);
        }
        let _ = api::rgn_free(Actor::Me, &rgn(look, PG, 0));
    }
    check_eq!(c, peek(window), last, "the source page");
    println!(
        "    fuzz::cow_chain: {made} nested copies, tearing down {} first",
        if source_first {
            "the source"
        } else {
            "the copies"
        }
    );
    if source_first {
        let _ = api::rgn_free(Actor::Me, &rgn(window, PG, 0));
        check_eq!(c, api::destroy(S), Ok(()));
        check_eq!(c, api::destroy(Q), Ok(()));
    } else {
        check_eq!(c, api::destroy(Q), Ok(()));
        check_eq!(c, api::destroy(S), Ok(()));
        let _ = api::rgn_free(Actor::Me, &rgn(window, PG, 0));
    }
    let _ = api::close(S);
    let _ = api::close(Q);
}

pub(super) fn cow_chain(c: &mut Case) {
    touch_deep();
    let base = usage();
    cow_chain_run(c, 20_000, true);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline (source first)");
    cow_chain_run(c, 20_000, false);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline (copies first)");
    alive(c);
}
