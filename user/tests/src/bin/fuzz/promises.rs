//! Case `promises`: promised memory when no frame is left.

use super::layout::{PG, SAFE};
use super::memory_model::hog_memory;
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

/// Copies of touched memory are promised frames (ABI §5): with every other
/// frame taken by a hog actor, breaking every copy-on-write page on both
/// sides must still work, and the data must be right.
pub(super) fn promises(c: &mut Case) {
    touch_deep();
    let base = usage();
    promises_run(c, false);
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline (frames exhausted)"
    );
    promises_run(c, true);
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline (memory objects exhausted)"
    );
}

/// Fills the memory-object bound (or, failing that, memory) with untouched
/// one-page regions of a hog actor in descriptor `hog`.
pub(super) fn hog_objects(hog: u64) -> Result<u64, JinueError> {
    api::create_process(hog)?;
    let cap = api::actor_cap(hog)?;
    let mut n = 0;
    while api::rgn_allocate(
        Actor::Cap(&cap),
        &mut rgn(0x1_0000_0000 + 2 * n * PG, PG, 0),
    )
    .is_ok()
    {
        n += 1;
    }
    Ok(n)
}

/// [`promises`] with every frame (`objects == false`) or every memory
/// object the kernel allows (`true`) taken by a hog first.
fn promises_run(c: &mut Case, objects: bool) {
    const S: u64 = 45;
    const C: u64 = 46;
    const HOG: u64 = 47;
    const R: u64 = 0x1000_0000;
    const N: u64 = 32;
    let ws = SAFE + 0x4000_0000;
    let wc = ws + 0x10_0000;
    let rw = JINUE_PROT_READ | JINUE_PROT_WRITE;
    check_eq!(c, api::create_process(S), Ok(()));
    let scap = api::actor_cap(S).unwrap_or_default();
    check_eq!(
        c,
        api::rgn_allocate(Actor::Cap(&scap), &mut rgn(R, N * PG, K_WRITABLE)),
        Ok(())
    );
    check_eq!(
        c,
        api::mclone_range(S, ferrite_rt::thread::SELF, R, ws, N * PG, rw),
        Ok(())
    );
    for k in 0..N {
        poke(ws + k * PG, 0x5000 + k);
    }
    check_eq!(c, api::create_process(C), Ok(()));
    let ccap = api::actor_cap(C).unwrap_or_default();
    check_eq!(
        c,
        api::rgn_dup(Actor::Cap(&ccap), Actor::Cap(&scap), K_INHERITCOPY),
        Ok(())
    );
    check_eq!(
        c,
        api::mclone_range(C, ferrite_rt::thread::SELF, R, wc, N * PG, rw),
        Ok(())
    );
    // Every frame (or memory object) left goes to the hog.
    if objects {
        let n = hog_objects(HOG);
        check!(c, n.is_ok(), "hog: {:?}", n);
        println!("    fuzz::promises: the hog holds {:?} one-page regions", n);
    } else {
        check_eq!(c, hog_memory(HOG, 0), Ok(()));
    }
    let m = api::memstat().unwrap_or_default();
    println!(
        "    fuzz::promises: {} free frames, {} committed of {}",
        m.free_frames, m.committed_frames, m.total_frames
    );
    check_eq!(
        c,
        api::rgn_allocate(Actor::Me, &mut rgn(0, PG, K_ANYWHERE | K_WRITABLE)),
        Err(ChorusError::NoMem),
        "nothing left to allocate"
    );
    // On this thread (no frame is left for another one's stack): a fault
    // the kernel cannot serve kills the case.
    for k in 0..N {
        poke(ws + k * PG + 8, 0x6000 + k);
        poke(wc + k * PG + 8, 0x7000 + k);
    }
    let ok = (0..N).all(|k| {
        (
            peek(ws + k * PG),
            peek(ws + k * PG + 8),
            peek(wc + k * PG),
            peek(wc + k * PG + 8),
        ) == (0x5000 + k, 0x6000 + k, 0x5000 + k, 0x7000 + k)
    });
    check!(c, ok, "the source and the copy hold their own values");
    let _ = api::rgn_free(Actor::Me, &rgn(ws, 0x20_0000, 0));
    for d in [S, C, HOG] {
        check_eq!(c, api::destroy(d), Ok(()));
        check_eq!(c, api::close(d), Ok(()));
    }
    alive(c);
}
