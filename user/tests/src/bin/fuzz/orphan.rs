//! Case `orphan`: a process outlives its creator.

use super::layout::{read_cap, write_cap, PG};
use super::support::touch_deep;
use abi::errors::ChorusError;
use abi::layout::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{fork_with, Fork};
use ferrite_tests::*;

/// ABI §2: a process that never ran a thread stays alive, and destroying
/// its creator only closes the creator's descriptors. So a child that makes
/// a process, gives it memory and dies leaves that memory allocated until
/// someone deletes the orphan through its capability: checked here, then
/// the orphan is deleted and MEMSTAT must be back.
pub(super) fn orphan(c: &mut Case) {
    touch_deep();
    let base = usage();
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
    let Ok(shared) = shared else {
        return c.fail(file!(), line!(), format_args!("shared page"));
    };
    let at = shared.addr();
    poke(at, 0);
    match fork_with(0) {
        Ok(Fork::Child) => {
            const G: u64 = 3;
            if api::create_process(G).is_ok() {
                if let Ok(cap) = api::actor_cap(G) {
                    let _ = api::rgn_allocate(
                        Actor::Cap(&cap),
                        &mut rgn(0x1000_0000, 16 * PG, K_WRITABLE),
                    );
                    write_cap(at + 8, &cap);
                    poke(at, 1);
                }
            }
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            check_eq!(c, child.wait().ok(), Some(0), "the child exited");
            check_eq!(c, peek(at), 1, "the child made its process");
            let cap = read_cap(at + 8);
            check_eq!(
                c,
                stat(Actor::Cap(&cap), USER_BASE, USER_LIMIT - USER_BASE).0,
                Ok(1),
                "the orphan is alive with its region after its creator died"
            );
            let m = usage();
            check!(
                c,
                m.committed_frames >= base.committed_frames + 16,
                "its memory is still committed: {:?}",
                m
            );
            check_eq!(
                c,
                api::actor_delete(Actor::Cap(&cap)),
                Ok(()),
                "ACTOR_DELETE of the orphan"
            );
            check_eq!(
                c,
                stat(Actor::Cap(&cap), USER_BASE, PG).0,
                Err(ChorusError::Unknown),
                "the orphan is gone"
            );
        }
        Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
    }
    drop(shared);
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline once the orphan is deleted"
    );
}
