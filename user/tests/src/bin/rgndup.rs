//! `rgndup` (issue 5): RGN_DUP (ABI §4.4) errors in order, share/copy/inherit semantics, snapshots, fork() and spawn().
#![no_std]
#![no_main]

use abi::errors::ChorusError::{self, NoMem, Overlap, Unknown};
use abi::errors::{K_EFAULT, K_EINVAL};
use abi::init::*;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::*;
use abi::types::{KnCap, KnRgnStat, KnUniqueId};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::thread::SELF;
use ferrite_rt::{fork, println, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

const PG: u64 = PAGE_SIZE;
const P: u64 = 10;
const P2: u64 = 11;
const DEAD: u64 = 12;
const RW: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE;
/// Where a spawned instance expects its mailbox page (MCLONEd in by the parent).
const MAILBOX: u64 = 0x6000_0000;
/// argv[1] of a spawned instance.
const SPAWNED: &[u8] = b"spawned";

/// RGN_STAT of the whole user space: count and the first 48 entries.
fn stat_all(actor: Actor) -> (Result<u64, ChorusError>, [KnRgnStat; 48]) {
    let mut st = [KnRgnStat::default(); 48];
    let r = api::rgn_stat(actor, &rgn(USER_BASE, USER_LIMIT - USER_BASE, 0), &mut st);
    (r, st)
}

fn free(start: u64, size: u64) {
    let _ = api::rgn_free(Actor::Me, &rgn(start, size, 0));
}

fn destroy(d: u64) {
    let _ = api::destroy(d);
    let _ = api::close(d);
}

/// A new empty process at descriptor `d` and its capability.
fn new_actor(d: u64) -> Option<KnCap> {
    api::create_process(d).ok()?;
    api::actor_cap(d).ok()
}

/// Maps `npages` of process `from` at `va` into the own process (shared);
/// returns where.
fn clone_in(from: u64, va: u64, npages: u64) -> u64 {
    let at = hole_of(npages);
    let r = api::mclone_range(from, SELF, va, at, npages * PG, RW);
    assert!(r.is_ok(), "MCLONE back into self: {r:?}");
    at
}

fn main(start: &Startup) -> i32 {
    if start.arg(1) == Some(SPAWNED) {
        return spawned(start);
    }
    let mut s = Suite::new("rgndup");
    both_mechanisms(&mut s, cases);
    s.finish()
}

fn cases(s: &mut Suite) {
    s.isolated("errors_in_order", |c| {
        touch_stack();
        let base = usage();
        let (Some(p), Some(dead)) = (new_actor(P), new_actor(DEAD)) else {
            return c.fail(file!(), line!(), format_args!("CREATE_PROCESS"));
        };
        let _ = api::destroy(DEAD);
        let me = api::actor_self().unwrap_or_default();
        let mut wrong_key = p;
        wrong_key.key.tail ^= 0x8000;
        let mut wrong_type = p;
        wrong_type.ui.head = (p.ui.head & UI_STAMP_MASK) | (3 << UI_TYPE_SHIFT);
        let never = KnCap {
            ui: KnUniqueId {
                head: actor_ui_head(UI_STAMP_MASK - 3),
                tail: SITE_NUMBER,
            },
            key: me.key,
        };
        let mut other_site = p;
        other_site.ui.tail = SITE_NUMBER + 5;
        let a = |cap: &KnCap| cap as *const KnCap as u64;
        let hole = hole();
        let dup = |t: u64, s: u64, f: u64| raw(K_SYS_RGN_DUP, t, s, f).arg0 as i64;
        // 1. K_EFAULT, for either pointer, before every other check.
        for (what, bad) in [
            ("NULL", 0),
            ("kernel", USER_LIMIT),
            ("crossing USER_LIMIT", USER_LIMIT - 8),
            ("unmapped", hole),
        ] {
            check_eq!(c, dup(bad, K_MYACTOR, 0), K_EFAULT, "target {}", what);
            check_eq!(c, dup(a(&p), bad, 0), K_EFAULT, "source {}", what);
            check_eq!(
                c,
                dup(bad, K_SVACTOR, 0),
                K_EFAULT,
                "1 before 2: target {}",
                what
            );
            check_eq!(
                c,
                dup(K_SVACTOR, bad, 0),
                K_EFAULT,
                "1 before 2: source {}",
                what
            );
            check_eq!(
                c,
                dup(bad, a(&dead), 0x7),
                K_EFAULT,
                "1 before 3, 4: {}",
                what
            );
        }
        // 2. inconsistent or K_SVACTOR, before unreachable, bad flags, overlap.
        for (what, bad) in [
            ("K_SVACTOR", K_SVACTOR),
            ("wrong key", a(&wrong_key)),
            ("wrong type", a(&wrong_type)),
        ] {
            check_eq!(c, dup(bad, K_MYACTOR, 0), K_EINVAL, "target {}", what);
            check_eq!(c, dup(a(&p), bad, 0), K_EINVAL, "source {}", what);
            check_eq!(
                c,
                dup(bad, a(&dead), 0),
                K_EINVAL,
                "2 before 3: target {}",
                what
            );
            check_eq!(
                c,
                dup(a(&dead), bad, 0),
                K_EINVAL,
                "2 before 3: source {}",
                what
            );
            check_eq!(
                c,
                dup(K_MYACTOR, bad, 0x7),
                K_EINVAL,
                "2 before 4, 5: {}",
                what
            );
        }
        // 3. unreachable, before bad flags and overlap.
        for (what, cap) in [
            ("destroyed", &dead),
            ("never existed", &never),
            ("other site", &other_site),
        ] {
            check_eq!(
                c,
                dup(a(cap), K_MYACTOR, 0),
                Unknown.code(),
                "target {}",
                what
            );
            check_eq!(c, dup(a(&p), a(cap), 0), Unknown.code(), "source {}", what);
            check_eq!(
                c,
                dup(a(cap), K_MYACTOR, K_WRITABLE),
                Unknown.code(),
                "3 before 4: {}",
                what
            );
            check_eq!(
                c,
                dup(K_MYACTOR, a(cap), 0),
                Unknown.code(),
                "3 before 5: {}",
                what
            );
        }
        // 4. flags, before overlap.
        for flags in [
            K_WRITABLE,
            K_INHERIT_MASK,
            K_INHERITCOPY | K_WRITABLE,
            0x400,
            K_FREEALL,
            u64::MAX,
        ] {
            check_eq!(
                c,
                dup(a(&p), K_MYACTOR, flags),
                K_EINVAL,
                "flags {:#x}",
                flags
            );
            check_eq!(
                c,
                dup(K_MYACTOR, K_MYACTOR, flags),
                K_EINVAL,
                "4 before 5: flags {:#x}",
                flags
            );
        }
        // 5. the target is not empty.
        check_eq!(
            c,
            dup(K_MYACTOR, a(&p), 0),
            Overlap.code(),
            "the caller has regions"
        );
        check_eq!(
            c,
            api::rgn_dup(Actor::Me, Actor::Me, 0),
            Err(Overlap),
            "same non-empty actor"
        );
        check_eq!(
            c,
            api::rgn_allocate(Actor::Cap(&p), &mut rgn(0x7000_0000_0000, PG, 0)),
            Ok(())
        );
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p), Actor::Me, K_INHERITSHARE),
            Err(Overlap),
            "one region anywhere"
        );
        let (n, st) = stat_all(Actor::Cap(&p));
        check_eq!(
            c,
            (n, st[0].startAddr),
            (Ok(1), 0x7000_0000_0000),
            "the refused target is unchanged"
        );
        check_eq!(
            c,
            api::rgn_free(Actor::Cap(&p), &rgn(0, 0, K_FREEALL)),
            Ok(())
        );
        // An empty actor onto itself: succeeds and does nothing.
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p), Actor::Cap(&p), 0),
            Ok(()),
            "same empty actor"
        );
        check_eq!(c, stat_all(Actor::Cap(&p)).0, Ok(0));
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p), Actor::Me, K_INHERITCOPY),
            Ok(()),
            "the good call works"
        );
        destroy(P);
        let _ = api::close(DEAD);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("flags_decide_share_or_copy", |c| {
        touch_stack();
        let base = usage();
        let share = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let copy = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let plain = Region::anywhere(1, K_WRITABLE);
        let (Ok(share), Ok(copy), Ok(plain)) = (share, copy, plain) else {
            return c.fail(file!(), line!(), format_args!("regions"));
        };
        let (sa, ca, pa) = (share.addr(), copy.addr(), plain.addr());
        for (flags, s_shared, c_shared, p_present, p_shared) in [
            (0, true, false, false, false),
            (K_INHERITSHARE, true, true, true, true),
            (K_INHERITCOPY, false, false, true, false),
        ] {
            poke(sa, 1);
            poke(ca, 2);
            poke(pa, 3);
            let Some(cap) = new_actor(P) else {
                return c.fail(file!(), line!(), format_args!("actor"));
            };
            check_eq!(
                c,
                api::rgn_dup(Actor::Cap(&cap), Actor::Me, flags),
                Ok(()),
                "flags {:#x}",
                flags
            );
            let (n, _) = stat(Actor::Cap(&cap), pa, PG);
            check_eq!(
                c,
                n,
                Ok(u64::from(p_present)),
                "flags {:#x}: region without inherit bits present",
                flags
            );
            let mut regions = [
                (sa, s_shared, 1u64, "K_INHERITSHARE"),
                (ca, c_shared, 2, "K_INHERITCOPY"),
                (pa, p_shared, 3, "no bit"),
            ];
            if !p_present {
                regions[2].0 = 0;
            }
            for (va, shared, old, what) in regions {
                if va == 0 {
                    continue;
                }
                let x = clone_in(P, va, 1);
                check_eq!(
                    c,
                    peek(x),
                    old,
                    "flags {:#x}, {}: the target sees the data",
                    flags,
                    what
                );
                poke(va, old + 100);
                let want = if shared { old + 100 } else { old };
                check_eq!(
                    c,
                    peek(x),
                    want,
                    "flags {:#x}, {}: source write seen by the target = {}",
                    flags,
                    what,
                    shared
                );
                poke(x + 8, 7);
                let want = if shared { 7 } else { 0 };
                check_eq!(
                    c,
                    peek(va + 8),
                    want,
                    "flags {:#x}, {}: target write seen by the source = {}",
                    flags,
                    what,
                    shared
                );
                poke(va + 8, 0);
                free(x, PG);
            }
            destroy(P);
        }
        drop((share, copy, plain));
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("attributes_and_opaque_values_preserved", |c| {
        let at = hole_of(6);
        let mut ok = true;
        for (i, o) in [
            K_WRITABLE | K_INHERITSHARE,
            K_INHERITCOPY,
            K_WRITABLE | K_EXECUTABLE | K_INHERITCOPY,
            K_WRITABLE | K_INHERITSHARE,
        ]
        .iter()
        .enumerate()
        {
            let mut d = rgn(at + i as u64 * PG, PG, *o);
            d.opaque1 = 0x1111 * (i as u64 + 1);
            d.opaque2 = !(i as u64);
            ok &= api::rgn_allocate(Actor::Me, &mut d).is_ok();
        }
        ok &= api::rgn_set_protect(Actor::Me, &rgn(at + 3 * PG, PG, K_NOACCESS)).is_ok();
        check!(c, ok, "setting up the regions");
        let Some(cap) = new_actor(P) else {
            return c.fail(file!(), line!(), format_args!("actor"));
        };
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITSHARE),
            Ok(())
        );
        let (n1, mine) = stat_all(Actor::Me);
        let (n2, theirs) = stat_all(Actor::Cap(&cap));
        check_eq!(c, n2, n1, "every region duplicated with K_INHERITSHARE");
        let n = n1.unwrap_or(0).min(48) as usize;
        for (m, t) in mine[..n].iter().zip(&theirs[..n]) {
            check_eq!(
                c,
                (t.startAddr, t.size, t.options, t.opaque1, t.opaque2),
                (m.startAddr, m.size, m.options, m.opaque1, m.opaque2),
                "region {:#x}",
                m.startAddr
            );
        }
        destroy(P);
        // With flags 0 only the regions with an inherit bit come, attributes intact.
        let _ = api::rgn_set_inherit(Actor::Me, &rgn(at + PG, PG, 0));
        let Some(cap) = new_actor(P) else { return };
        check_eq!(c, api::rgn_dup(Actor::Cap(&cap), Actor::Me, 0), Ok(()));
        let (n, st) = stat(Actor::Cap(&cap), at, 4 * PG);
        check_eq!(c, n, Ok(3), "the region without an inherit bit stays out");
        check_eq!(
            c,
            (st[0].startAddr, st[0].options, st[0].opaque1),
            (at, K_WRITABLE | K_INHERITSHARE, 0x1111)
        );
        check_eq!(
            c,
            (st[1].startAddr, st[1].options, st[1].opaque2),
            (at + 2 * PG, K_WRITABLE | K_EXECUTABLE | K_INHERITCOPY, !2)
        );
        check_eq!(
            c,
            (st[2].startAddr, st[2].options, st[2].opaque1),
            (at + 3 * PG, K_NOACCESS | K_INHERITSHARE, 0x4444)
        );
        destroy(P);
        free(at, 6 * PG);
    });
    s.isolated("copy_is_a_snapshot", |c| {
        touch_stack();
        let base = usage();
        let r = Region::anywhere(3, K_WRITABLE | K_INHERITCOPY);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = r.addr();
        poke(a, 1); // page 0 touched, pages 1 and 2 untouched
                    // A third process shares page 0..3 with us through MCLONE.
        check_eq!(c, api::create_process(P2), Ok(()));
        check_eq!(c, api::mclone_range(SELF, P2, a, a, 3 * PG, RW), Ok(()));
        let third = clone_in(P2, a, 3); // our window on the third process's mapping
        let Some(cap) = new_actor(P) else {
            return c.fail(file!(), line!(), format_args!("actor"));
        };
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY),
            Ok(())
        );
        let copy = clone_in(P, a, 3); // our window on P's private copy
        check_eq!(c, peek(copy), 1, "the copy holds the data");
        poke(a, 2);
        check_eq!(
            c,
            peek(copy),
            1,
            "a later write by the source is not in the copy"
        );
        check_eq!(
            c,
            peek(third),
            2,
            "the source's write still reaches the memory it shares (MCLONE alias, third process)"
        );
        poke(third, 3);
        check_eq!(c, peek(a), 3, "the third process shares the source");
        check_eq!(
            c,
            peek(copy),
            1,
            "a write by a third sharer is not in the copy"
        );
        poke(copy, 4);
        check_eq!(
            c,
            (peek(a), peek(third)),
            (3, 3),
            "a write to the copy is seen by no one else"
        );
        // Untouched at the time of the call: first touches stay apart.
        poke(a + PG, 5);
        check_eq!(
            c,
            peek(copy + PG),
            0,
            "first touch by the source after the snapshot"
        );
        poke(copy + 2 * PG, 6);
        check_eq!(
            c,
            (peek(a + 2 * PG), peek(third + 2 * PG)),
            (0, 0),
            "first touch by the copy"
        );
        free(copy, 3 * PG);
        free(third, 3 * PG);
        destroy(P);
        destroy(P2);
        drop(r);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("copy_costs_no_data_until_written", |c| {
        touch_stack();
        let base = usage();
        let r = Region::anywhere(2, K_WRITABLE);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = r.addr();
        poke(a, 1); // page 1 stays untouched
                    // The source is a process holding only this memory (our own stack is
                    // not involved, so our writes cause no copy-on-write of their own).
        let (Some(src), Some(dst)) = (new_actor(P2), new_actor(P)) else {
            return c.fail(file!(), line!(), format_args!("actors"));
        };
        check_eq!(c, api::mclone_range(SELF, P2, a, a, 2 * PG, RW), Ok(()));
        let m0 = api::memstat().unwrap_or_default();
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&dst), Actor::Cap(&src), K_INHERITCOPY),
            Ok(())
        );
        let m1 = api::memstat().unwrap_or_default();
        check_eq!(c, m1.user_frames, m0.user_frames, "RGN_DUP copied no data");
        check!(
            c,
            m1.committed_frames >= m0.committed_frames + 2,
            "the copy's full size is committed ({} -> {})",
            m0.committed_frames,
            m1.committed_frames
        );
        let w = clone_in(P, a, 2);
        check_eq!(c, peek(w), 1);
        check_eq!(
            c,
            usage().user_frames,
            m0.user_frames,
            "reading the copy copies nothing"
        );
        poke(a, 2);
        check_eq!(
            c,
            usage().user_frames,
            m0.user_frames + 1,
            "one write, one page copied"
        );
        check_eq!(c, (peek(w), peek(a)), (1, 2));
        poke(w + PG, 5);
        check_eq!(
            c,
            usage().user_frames,
            m0.user_frames + 2,
            "first touch of the copy's untouched page"
        );
        check_eq!(c, peek(a + PG), 0);
        free(w, 2 * PG);
        destroy(P);
        destroy(P2);
        drop(r);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("sharing_a_private_copy", |c| {
        touch_stack();
        let base = usage();
        let r = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = r.addr();
        poke(a, 1);
        let (Some(p1), Some(p2)) = (new_actor(P), new_actor(P2)) else {
            return c.fail(file!(), line!(), format_args!("actors"));
        };
        // P1 holds a private copy; P2 shares P1's copy (not ours).
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p1), Actor::Me, K_INHERITCOPY),
            Ok(())
        );
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p2), Actor::Cap(&p1), K_INHERITSHARE),
            Ok(())
        );
        let w1 = clone_in(P, a, 1);
        let w2 = clone_in(P2, a, 1);
        check_eq!(c, (peek(w1), peek(w2)), (1, 1));
        poke(w2, 2); // the first write to the copy, through the sharer
        check_eq!(
            c,
            peek(w1),
            2,
            "P1 sees the write to the copy it shares with P2"
        );
        check_eq!(c, peek(a), 1, "the original never does");
        poke(a, 3);
        check_eq!(c, (peek(w1), peek(w2)), (2, 2), "nor the other way round");
        free(w1, PG);
        free(w2, PG);
        destroy(P);
        destroy(P2);
        drop(r);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("large_copy_on_write", |c| {
        touch_stack();
        let base = usage();
        const N: u64 = 1536; // three leaf page tables' worth, and some
        let big = Region::anywhere(N, K_WRITABLE | K_INHERITCOPY);
        let Ok(big) = big else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = big.addr();
        for i in 0..N {
            if i % 5 != 0 {
                poke(a + i * PG, i); // every 5th page stays untouched
            }
        }
        let Some(cap) = new_actor(P) else {
            return c.fail(file!(), line!(), format_args!("actor"));
        };
        check_eq!(c, api::rgn_dup(Actor::Cap(&cap), Actor::Me, 0), Ok(()));
        let w = clone_in(P, a, N);
        for i in (0..N).step_by(97) {
            poke(a + i * PG, 1_000_000 + i); // the source writes after the snapshot
        }
        for i in (1..N).step_by(89) {
            poke(w + i * PG + 8, 7); // the copy writes too
        }
        let (mut copy_wrong, mut src_wrong) = (0, 0);
        for i in 0..N {
            let orig = if i % 5 == 0 { 0 } else { i };
            if peek(w + i * PG) != orig {
                copy_wrong += 1;
            }
            let want = if i % 97 == 0 { 1_000_000 + i } else { orig };
            if peek(a + i * PG) != want || peek(a + i * PG + 8) != 0 {
                src_wrong += 1;
            }
        }
        check_eq!(
            c,
            copy_wrong,
            0,
            "pages of the copy that are not the snapshot"
        );
        check_eq!(
            c,
            src_wrong,
            0,
            "pages of the source changed by the copy or lost"
        );
        free(w, N * PG);
        destroy(P);
        drop(big);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("kernel_writes_into_copies", |c| {
        // The kernel's writes into a copy-on-write page (RGN_ALLOCATE writing
        // back K_ANYWHERE, MEMSTAT, ACTOR_SELF) must copy it like a user write.
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let data = Region::anywhere(2, K_WRITABLE | K_INHERITCOPY);
        let (Ok(shared), Ok(data)) = (shared, data) else {
            return c.fail(file!(), line!(), format_args!("regions"));
        };
        let (f, d) = (shared.addr(), data.addr());
        poke(f, 0);
        // Page 0: a K_ANYWHERE descriptor, a MEMSTAT buffer, a KnCap, all written now.
        let desc = rgn(0, PG, K_ANYWHERE | K_WRITABLE);
        for (i, w) in [desc.startAddr, desc.size, desc.options, 0, 0, 0]
            .iter()
            .enumerate()
        {
            poke(d + 8 * i as u64, *w);
        }
        for i in 6..16 {
            poke(d + 8 * i, 0xeeee);
        }
        // Page 1 stays untouched: its first touch will be the kernel's.
        match fork() {
            Ok(Fork::Child) => {
                let r1 = kraw(K_SYS_RGN_ALLOCATE, K_MYACTOR, d, 0);
                let r2 = jraw(FERRITE_SYS_MEMSTAT, d + 48, 8, 0);
                let r3 = kraw(K_SYS_ACTOR_SELF, d + 64, 0, 0);
                let r4 = jraw(FERRITE_SYS_MEMSTAT, d + PG, 8, 0);
                poke(
                    f + 8,
                    u64::from(r1.is_ok() && r2.is_ok() && r3.is_ok() && r4.is_ok()),
                );
                poke(f + 16, peek(d)); // what the child's copy says
                poke(f + 24, peek(d + 48));
                poke(f + 32, peek(d + PG));
                poke(f, 1);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(c, child.wait().ok(), Some(0));
                check_eq!(c, peek(f), 1, "the child ran");
                check_eq!(c, peek(f + 8), 1, "the child's calls succeeded");
                check!(
                    c,
                    peek(f + 16) != 0,
                    "the child's copy holds the address K_ANYWHERE chose"
                );
                check_eq!(
                    c,
                    (peek(f + 24), peek(f + 32)),
                    (PG, PG),
                    "the child's copy holds MEMSTAT"
                );
                check_eq!(
                    c,
                    peek(d),
                    0,
                    "our descriptor was not written by the child's RGN_ALLOCATE"
                );
                let ours: [u64; 3] = [peek(d + 48), peek(d + 64), peek(d + 72)];
                check_eq!(
                    c,
                    ours,
                    [0xeeee; 3],
                    "our MEMSTAT buffer and KnCap were not written"
                );
                check_eq!(c, peek(d + PG), 0, "our untouched page stays zero");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("copies_of_copies", |c| {
        touch_stack();
        let base = usage();
        let r = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = r.addr();
        poke(a, 1);
        let (Some(p1), Some(p2)) = (new_actor(P), new_actor(P2)) else {
            return c.fail(file!(), line!(), format_args!("actors"));
        };
        check_eq!(c, api::rgn_dup(Actor::Cap(&p1), Actor::Me, 0), Ok(()));
        let w1 = clone_in(P, a, 1);
        poke(w1, 2); // P1's copy changes before P2 copies it
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&p2), Actor::Cap(&p1), 0),
            Ok(()),
            "copy of a copy"
        );
        let w2 = clone_in(P2, a, 1);
        check_eq!(
            c,
            (peek(a), peek(w1), peek(w2)),
            (1, 2, 2),
            "P2 copied P1's state"
        );
        poke(w1, 3);
        poke(a, 4);
        check_eq!(
            c,
            peek(w2),
            2,
            "later writes by P1 or the original do not reach P2"
        );
        poke(w2, 5);
        check_eq!(c, (peek(a), peek(w1)), (4, 3), "P2's writes reach no one");
        free(w1, PG);
        free(w2, PG);
        destroy(P);
        let w2 = clone_in(P2, a, 1);
        check_eq!(c, peek(w2), 5, "P2's copy survives P1");
        free(w2, PG);
        destroy(P2);
        drop(r);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("source_is_another_running_actor", |c| {
        let flag = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let priv_ = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let (Ok(flag), Ok(priv_)) = (flag, priv_) else {
            return c.fail(file!(), line!(), format_args!("regions"));
        };
        let (f, pv) = (flag.addr(), priv_.addr());
        poke(f, 0);
        poke(pv, 10);
        match fork() {
            Ok(Fork::Child) => {
                poke(pv, 20); // the child's own copy
                poke(f, 1);
                while peek(f) != 2 {
                    api::yield_thread();
                }
                poke(pv, 30);
                poke(f, 3);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                while peek(f) != 1 {
                    api::yield_thread();
                }
                let child_cap = api::actor_cap(child.process).unwrap_or_default();
                let Some(cap) = new_actor(P) else { return };
                check_eq!(
                    c,
                    api::rgn_dup(Actor::Cap(&cap), Actor::Cap(&child_cap), K_INHERITCOPY),
                    Ok(()),
                    "source named by a capability"
                );
                let (n1, st1) = stat_all(Actor::Cap(&child_cap));
                let (n2, st2) = stat_all(Actor::Cap(&cap));
                check_eq!(c, n2, n1, "P has the child's regions");
                let same = st1.iter().zip(st2.iter()).all(|(x, y)| {
                    (x.startAddr, x.size, x.options) == (y.startAddr, y.size, y.options)
                });
                check!(c, same, "with the same layout");
                let w = clone_in(P, pv, 1);
                check_eq!(c, peek(w), 20, "P copied the child's memory, not ours");
                poke(f, 2);
                while peek(f) != 3 {
                    api::yield_thread();
                }
                check_eq!(c, peek(w), 20, "the child's later write is not in the copy");
                check_eq!(c, peek(pv), 10, "our own copy untouched throughout");
                check_eq!(c, child.wait().ok(), Some(0));
                free(w, PG);
                destroy(P);
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("enomem_leaves_target_empty", |c| {
        touch_stack();
        let base = usage();
        let big = Region::anywhere(64, K_WRITABLE | K_INHERITCOPY);
        let Ok(big) = big else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        poke(big.addr(), 1);
        let Some(cap) = new_actor(P) else {
            return c.fail(file!(), line!(), format_args!("actor"));
        };
        let before = stat_all(Actor::Me).0;
        let m = api::memstat().unwrap_or_default();
        let mut regions = [(0u64, 0u64); 64];
        let mut n = 0;
        let mut chunk = (m.free_frames / 4).max(1);
        while n < regions.len() {
            let mut d = rgn(0, chunk * PG, K_ANYWHERE);
            match api::rgn_allocate(Actor::Me, &mut d) {
                Ok(()) => {
                    regions[n] = (d.startAddr, chunk);
                    n += 1;
                }
                Err(NoMem) if chunk > 1 => chunk /= 2,
                _ => break,
            }
        }
        // Copies must commit their full size (64+ pages): impossible now.
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY),
            Err(NoMem)
        );
        check_eq!(
            c,
            stat_all(Actor::Cap(&cap)).0,
            Ok(0),
            "the target is left empty"
        );
        let after = stat_all(Actor::Me).0.map(|k| k - n as u64);
        check_eq!(c, after, before, "the source is unchanged");
        check_eq!(c, peek(big.addr()), 1);
        for &(start, np) in &regions[..n] {
            free(start, np * PG);
        }
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY),
            Ok(()),
            "works again"
        );
        destroy(P);
        drop(big);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("fork", |c| {
        touch_stack();
        let base = usage();
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let private = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let (Ok(shared), Ok(private)) = (shared, private) else {
            return c.fail(file!(), line!(), format_args!("regions"));
        };
        let (sh, pr) = (shared.addr(), private.addr());
        poke(sh, 0);
        poke(pr, 100);
        let local = core::hint::black_box(0x5151u64);
        match fork() {
            Ok(Fork::Child) => {
                // Same stack contents and callee-saved registers as the parent.
                poke(sh + 8, local);
                poke(sh + 16, peek(pr));
                poke(pr, 200);
                // Descriptors 0 and 1 like init: a grandchild can be forked.
                let grand = match fork() {
                    Ok(Fork::Child) => {
                        poke(sh + 24, peek(pr));
                        api::exit_thread()
                    }
                    Ok(Fork::Parent(g)) => g.wait().unwrap_or(9),
                    Err(_) => 8,
                };
                poke(sh + 32, grand);
                poke(sh, 1);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(c, child.wait().ok(), Some(0), "the child exits");
                check_eq!(c, peek(sh), 1, "the child ran to its end");
                check_eq!(
                    c,
                    peek(sh + 8),
                    0x5151,
                    "the child resumed with the parent's stack"
                );
                check_eq!(c, peek(sh + 16), 100, "the child saw the private data");
                check_eq!(
                    c,
                    peek(pr),
                    100,
                    "the child's write to private memory stays private"
                );
                check_eq!(
                    c,
                    peek(sh + 24),
                    200,
                    "the grandchild copied the child's state"
                );
                check_eq!(c, peek(sh + 32), 0, "the grandchild exited");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
        drop((shared, private));
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("spawn", |c| {
        touch_stack();
        let base = usage();
        let img = ferrite_rt::spawn::self_image();
        let Ok((img, len)) = img else {
            return c.fail(file!(), line!(), format_args!("self image"));
        };
        let elf = &img.bytes()[..len];
        let child = ferrite_rt::spawn(elf, &[b"rgndup", SPAWNED, b"42"]);
        let Ok(child) = child else {
            return c.fail(file!(), line!(), format_args!("spawn: {:?}", child));
        };
        let cap = api::actor_cap(child.process).unwrap_or_default();
        // The new process's layout: the segments and the stack, each K_INHERITCOPY.
        let (n, st) = stat_all(Actor::Cap(&cap));
        let (_, mine) = stat_all(Actor::Me);
        let parsed = loader::Program::parse(elf);
        let loads = parsed.map(|p| p.regions().count() as u64).unwrap_or(0);
        check_eq!(c, n, Ok(loads + 1), "segments + stack");
        let seg_same = st.iter().take(loads as usize).all(|t| {
            mine.iter()
                .any(|m| (t.startAddr, t.size, t.options) == (m.startAddr, m.size, m.options))
        });
        check!(
            c,
            seg_same,
            "segments where ours are, with the same attributes"
        );
        let top = st[loads as usize];
        check_eq!(
            c,
            (top.startAddr, top.size, top.options),
            (
                JINUE_STACK_BASE - JINUE_STACK_SIZE,
                JINUE_STACK_SIZE,
                K_WRITABLE | K_INHERITCOPY
            ),
            "stack"
        );
        // The mailbox: our page, MCLONEd into the child where it waits for it.
        let mbox = Region::anywhere(1, K_WRITABLE);
        let Ok(mbox) = mbox else { return };
        check_eq!(
            c,
            api::mclone_range(SELF, child.process, mbox.addr(), MAILBOX, PG, RW),
            Ok(())
        );
        check_eq!(
            c,
            child.wait().ok(),
            Some(0),
            "the spawned program exits normally"
        );
        let report = peek(mbox.addr());
        check_eq!(
            c,
            report,
            REPORT_OK,
            "the spawned program's checks (bit i = check i failed)"
        );
        check_eq!(c, peek(mbox.addr() + 8), 42, "argv[2] arrived");
        drop(mbox);
        drop(img);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
}

/// What a spawned instance reports when every check passed.
const REPORT_OK: u64 = 0x600d;

/// A spawned instance: checks its start-up state, waits for the mailbox,
/// reports there.
fn spawned(start: &Startup) -> i32 {
    let mut failed = 0u64;
    let mut bit = |i: u32, ok: bool| {
        if !ok {
            failed |= 1 << i;
        }
    };
    bit(0, start.argc() == 3);
    bit(1, start.arg(0) == Some(b"rgndup".as_slice()));
    bit(2, start.stack_pointer().is_multiple_of(16));
    bit(3, start.aux(AT_PAGESZ) == Some(PAGE_SIZE));
    bit(4, start.aux(JINUE_AT_STACKBASE) == Some(JINUE_STACK_BASE));
    let how = start.aux(JINUE_AT_HOWSYSCALL);
    bit(
        5,
        how == Some(HOWSYSCALL_SYSCALL) || how == Some(HOWSYSCALL_INTERRUPT),
    );
    bit(
        6,
        start.aux(AT_PHENT) == Some(56) && start.aux(AT_PHNUM).is_some_and(|n| n >= 1),
    );
    bit(7, start.aux(AT_ENTRY).is_some_and(|e| e >= 0x40_0000));
    bit(8, api::actor_cap(SELF).ok() == api::actor_self().ok());
    bit(
        9,
        api::await_thread(INIT_THREAD_DESCRIPTOR) == Err(abi::errors::JinueError::DeadLk),
    );
    let arg: u64 = start
        .arg(2)
        .and_then(|a| core::str::from_utf8(a).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Wait for the parent to MCLONE the mailbox in.
    while stat(Actor::Me, MAILBOX, PG).0 != Ok(1) {
        api::yield_thread();
    }
    println!("spawned instance: argv ok, checks {:#x}", failed);
    poke(MAILBOX + 8, arg);
    poke(MAILBOX, if failed == 0 { REPORT_OK } else { failed });
    0
}
