//! Case `exhaustion`: every object limit reached, then given back.

use super::layout::{FILL_HI, FILL_LO, PG, SAFE, SAFE_SIZE};
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{fork_with, println, Fork};
use ferrite_tests::*;

/// Forks; the child (if any) exits at once. Whether the fork failed.
fn fork_fails() -> bool {
    match fork_with(0) {
        Ok(Fork::Child) => api::exit_thread(),
        Ok(Fork::Parent(child)) => {
            let _ = child.wait();
            false
        }
        Err(_) => true,
    }
}

/// Creates processes in the fill slots until refused; returns how many and the error.
fn fill_processes() -> (u64, Option<JinueError>) {
    let mut n = 0;
    loop {
        match api::create_process(FILL_LO + n) {
            Ok(()) => n += 1,
            Err(e) => return (n, Some(e)),
        }
        if FILL_LO + n >= FILL_HI {
            return (n, None);
        }
    }
}

pub(super) fn drop_processes(n: u64) {
    for d in FILL_LO..FILL_LO + n {
        let _ = api::destroy(d);
        let _ = api::close(d);
    }
}

/// How many processes can still be created (the kernel's limit minus the live ones).
pub(super) fn process_room() -> (u64, Option<JinueError>) {
    let r = fill_processes();
    drop_processes(r.0);
    r
}

/// How many threads can still be created (in a scratch process).
pub(super) fn thread_room() -> (u64, Option<JinueError>) {
    const P: u64 = 2;
    if api::create_process(P).is_err() {
        return (0, None);
    }
    let mut n = 0;
    let mut err = None;
    for d in FILL_LO..FILL_HI {
        match api::create_thread(d, P) {
            Ok(()) => n += 1,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    for d in FILL_LO..FILL_HI {
        let _ = api::close(d);
    }
    let _ = api::destroy(P);
    let _ = api::close(P);
    (n, err)
}

pub(super) fn exhaustion(c: &mut Case) {
    touch_deep();
    let base = usage();
    // Processes.
    let (n1, e1) = fill_processes();
    check_eq!(
        c,
        e1,
        Some(JinueError::Again),
        "CREATE_PROCESS at the limit"
    );
    // At the limit: calls that need a process still fail cleanly.
    check!(c, fork_fails(), "fork at the process limit");
    drop_processes(n1);
    let (n2, e2) = process_room();
    check_eq!(
        c,
        (n2, e2),
        (n1, Some(JinueError::Again)),
        "the same room after destroying them all"
    );
    // Threads.
    let (t1, te1) = thread_room();
    check_eq!(
        c,
        te1,
        Some(JinueError::NoMem),
        "CREATE_THREAD at the limit ({} made)",
        t1
    );
    let (t2, _) = thread_room();
    check_eq!(c, t2, t1, "the same thread room again");
    // Memory in another actor: big regions, then pages, until K_ENOMEM.
    const P: u64 = 3;
    check_eq!(c, api::create_process(P), Ok(()));
    let cap = api::actor_cap(P).unwrap_or_default();
    let mut big = 0;
    let mut at = 0x1_0000_0000u64;
    let mut last = Ok(());
    while last.is_ok() && big < 100_000 {
        last = api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, 1 << 20, K_WRITABLE));
        at += 1 << 20;
        big += 1;
    }
    check_eq!(
        c,
        last,
        Err(ChorusError::NoMem),
        "1 MiB regions until K_ENOMEM ({} made)",
        big
    );
    let mut small = 0;
    last = Ok(());
    while last.is_ok() && small < 100_000 {
        last = api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, PG, K_WRITABLE | K_ANYWHERE));
        small += 1;
    }
    check_eq!(
        c,
        last,
        Err(ChorusError::NoMem),
        "pages until K_ENOMEM ({} made)",
        small
    );
    // Out of memory: everything that needs memory fails cleanly, the rest works.
    let m = api::memstat().unwrap_or_default();
    check!(
        c,
        m.committed_frames <= m.total_frames,
        "committed {} <= total {}",
        m.committed_frames,
        m.total_frames
    );
    check_eq!(
        c,
        api::rgn_allocate(Actor::Me, &mut rgn(0, PG, K_ANYWHERE | K_WRITABLE)),
        Err(ChorusError::NoMem),
        "own RGN_ALLOCATE when memory is out"
    );
    check!(c, fork_fails(), "fork when memory is out");
    const Q: u64 = 4;
    let q = api::create_process(Q);
    check!(
        c,
        q.is_ok() || q == Err(JinueError::Again),
        "CREATE_PROCESS when memory is out: {:?}",
        q
    );
    if q.is_ok() {
        let qcap = api::actor_cap(Q).unwrap_or_default();
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&qcap), Actor::Cap(&cap), K_INHERITCOPY),
            Err(ChorusError::NoMem),
            "RGN_DUP copy of an actor holding all memory"
        );
        check_eq!(
            c,
            stat(Actor::Cap(&qcap), USER_BASE, USER_LIMIT - USER_BASE).0,
            Ok(0),
            "the failed target stays empty"
        );
        let _ = api::destroy(Q);
        let _ = api::close(Q);
    }
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back after destroying the actor that held all memory"
    );
    // Own memory, every page touched: a committed page never fails to fault in.
    let mut pages = 0u64;
    let mut intact = false;
    let r = on_thread(|| {
        let mut regions = 0u64;
        let mut at = SAFE;
        while regions < 4096
            && api::rgn_allocate(Actor::Me, &mut rgn(at, 4 << 20, K_WRITABLE)).is_ok()
        {
            regions += 1;
            at += 4 << 20;
        }
        while api::rgn_allocate(Actor::Me, &mut rgn(at, PG, K_WRITABLE)).is_ok() {
            at += PG;
        }
        let mut p = SAFE;
        while p < at {
            poke(p, p);
            p += PG;
        }
        pages = (at - SAFE) / PG;
        intact = (SAFE..at).step_by(PG as usize).all(|p| peek(p) == p);
        let _ = api::rgn_free(Actor::Me, &rgn(SAFE, at - SAFE, 0));
    });
    check_eq!(
        c,
        r,
        Some(0),
        "touching every page of all the memory there is ({} pages)",
        pages
    );
    check!(c, intact, "every touched page kept its value");
    println!(
        "    fuzz::exhaustion: {n1} processes, {t1} threads, {big} MiB + {small} pages in another actor, {pages} own pages touched"
    );
    let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    // Descriptor table full: MINT the owner descriptor into every slot of the child.
    check_eq!(c, api::create_process(P), Ok(()));
    let mut minted = 0;
    for fd in 0..JINUE_DESC_NUM {
        if api::mint_into(P, P, fd, JINUE_PERM_OPEN, fd).is_ok() {
            minted += 1;
        }
    }
    check_eq!(
        c,
        minted,
        JINUE_DESC_NUM,
        "MINT into every slot of a process"
    );
    check_eq!(
        c,
        api::mint_into(P, P, 5, JINUE_PERM_OPEN, 0),
        Err(JinueError::BadF),
        "slot in use"
    );
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    check_eq!(
        c,
        process_room(),
        (n1, Some(JinueError::Again)),
        "process room unchanged"
    );
    check_eq!(c, thread_room().0, t1, "thread room unchanged");
}
