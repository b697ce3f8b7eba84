//! `regions` (issue 4): RGN_ALLOCATE / FREE / STAT / SET_INHERIT / SET_PROTECT, protections, commitment, MEMSTAT.
#![no_std]
#![no_main]

use abi::errors::ChorusError::{self, Fault, Inval, NoMem, Overlap, Unknown};
use abi::layout::*;
use abi::numbers::*;
use abi::region::*;
use abi::types::{KnRgnDesc, KnRgnStat};
use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{println, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

const PG: u64 = PAGE_SIZE;
const P: u64 = 10;

fn alloc_at(start: u64, npages: u64, options: u64) -> Result<(), ChorusError> {
    api::rgn_allocate(Actor::Me, &mut rgn(start, npages * PG, options))
}

fn free(start: u64, size: u64) -> Result<(), ChorusError> {
    api::rgn_free(Actor::Me, &rgn(start, size, 0))
}

/// (start, size, options) of the first `n` entries.
fn shape(st: &[KnRgnStat], n: usize) -> [(u64, u64, u64); 4] {
    let mut out = [(0, 0, 0); 4];
    for (o, s) in out.iter_mut().zip(st.iter().take(n)) {
        *o = (s.startAddr, s.size, s.options);
    }
    out
}

/// Writes `value` at `addr` on a thread of its own: Some(0) if it worked,
/// Some(1) if the thread was killed.
fn try_write(addr: u64, value: u64) -> Option<u64> {
    on_thread(|| poke(addr, value))
}

fn try_read(addr: u64) -> Option<u64> {
    on_thread(|| {
        peek(addr);
    })
}

fn try_exec(addr: u64) -> Option<u64> {
    on_thread(|| {
        // SAFETY: jumps to a `ret` the test wrote at `addr`, or faults.
        unsafe { core::arch::asm!("call {a}", a = in(reg) addr, clobber_abi("C")) }
    })
}

fn main(_start: &Startup) -> i32 {
    let mut s = Suite::new("regions");
    both_mechanisms(&mut s, cases);
    s.finish()
}

fn cases(s: &mut Suite) {
    s.isolated("allocate_fixed", |c| {
        touch_stack();
        let base = usage();
        let at = hole_of(8);
        let mut d = rgn(at, 3 * PG + 1, K_WRITABLE | K_FILLZERO | K_INHERITSHARE);
        d.opaque1 = 0x0123_4567_89ab_cdef;
        d.opaque2 = 0xfeed_f00d;
        check_eq!(c, api::rgn_allocate(Actor::Me, &mut d), Ok(()));
        check_eq!(c, d.startAddr, at, "fixed start kept");
        let (n, st) = stat(Actor::Me, at, 8 * PG);
        check_eq!(c, n, Ok(1));
        check_eq!(c, st[0].startAddr, at);
        check_eq!(c, st[0].size, 4 * PG, "size rounded up to pages");
        check_eq!(
            c,
            st[0].options,
            K_WRITABLE | K_INHERITSHARE,
            "K_FILLZERO is not an attribute"
        );
        check_eq!(
            c,
            (st[0].opaque1, st[0].opaque2),
            (d.opaque1, d.opaque2),
            "opaque values"
        );
        let zero = (0..4 * PG).step_by(512).all(|o| peek(at + o) == 0);
        check!(c, zero, "new memory reads as zero");
        poke(at, 7);
        poke(at + 2 * PG + 8, 9);
        check_eq!(c, (peek(at), peek(at + 2 * PG + 8)), (7, 9));
        let (_, st) = stat(Actor::Me, at, 4 * PG);
        check!(
            c,
            st[0].resident >= 2,
            "resident {} >= 2 touched pages",
            st[0].resident
        );
        check_eq!(c, free(at, 4 * PG), Ok(()));
        check_eq!(c, stat(Actor::Me, at, 8 * PG).0, Ok(0), "freed");
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("allocate_anywhere", |c| {
        let mut a = rgn(0x1234, 2 * PG, K_ANYWHERE | K_WRITABLE);
        let mut b = rgn(0, 3 * PG, K_ANYWHERE);
        check_eq!(c, api::rgn_allocate(Actor::Me, &mut a), Ok(()));
        check_eq!(c, api::rgn_allocate(Actor::Me, &mut b), Ok(()));
        for (d, n) in [(&a, 2), (&b, 3)] {
            check!(
                c,
                d.startAddr % PG == 0 && d.startAddr >= USER_BASE,
                "start {:#x}",
                d.startAddr
            );
            check!(c, d.startAddr + n * PG <= USER_LIMIT);
            let (cnt, st) = stat(Actor::Me, d.startAddr, n * PG);
            check_eq!(c, cnt, Ok(1));
            check_eq!(c, (st[0].startAddr, st[0].size), (d.startAddr, n * PG));
            check_eq!(
                c,
                st[0].options & K_ANYWHERE,
                0,
                "K_ANYWHERE is not an attribute"
            );
        }
        let disjoint = a.startAddr + 2 * PG <= b.startAddr || b.startAddr + 3 * PG <= a.startAddr;
        check!(c, disjoint, "K_ANYWHERE regions do not overlap");
        poke(a.startAddr, 1);
        check_eq!(c, free(a.startAddr, 2 * PG), Ok(()));
        check_eq!(c, free(b.startAddr, 3 * PG), Ok(()));
    });
    s.isolated("allocate_errors", |c| {
        let at = hole_of(4);
        check_eq!(c, alloc_at(at, 2, K_WRITABLE), Ok(()));
        let before = stat(Actor::Me, USER_BASE, USER_LIMIT - USER_BASE).0;
        let bad: [(&str, u64, u64, u64, ChorusError); 15] = [
            ("unaligned start", at + 2 * PG + 8, PG, K_WRITABLE, Inval),
            ("size 0", at + 2 * PG, 0, K_WRITABLE, Inval),
            ("K_NOACCESS", at + 2 * PG, PG, K_NOACCESS, Inval),
            ("K_FREEALL", at + 2 * PG, PG, K_FREEALL, Inval),
            ("unknown option 0x8", at + 2 * PG, PG, 0x8, Inval),
            ("unknown option 1<<40", at + 2 * PG, PG, 1 << 40, Inval),
            ("both inherit bits", at + 2 * PG, PG, K_INHERIT_MASK, Inval),
            ("page 0", 0, PG, 0, Inval),
            ("crosses USER_LIMIT", USER_LIMIT - PG, 2 * PG, 0, Inval),
            ("at USER_LIMIT", USER_LIMIT, PG, 0, Inval),
            ("kernel half", 0xffff_8000_0000_0000, PG, 0, Inval),
            ("wraps", !(PG - 1), 2 * PG, 0, Inval),
            ("overlaps a region", at + PG, 2 * PG, K_WRITABLE, Overlap),
            ("inside a region", at, PG, K_WRITABLE, Overlap),
            ("overlaps the text segment", 0x40_0000, PG, 0, Overlap),
        ];
        for (what, start, size, options, want) in bad {
            let r = api::rgn_allocate(Actor::Me, &mut rgn(start, size, options));
            check_eq!(c, r, Err(want), "{}", what);
        }
        let r = api::rgn_allocate(Actor::Me, &mut rgn(at + 2 * PG, u64::MAX - 100, 0));
        check_eq!(
            c,
            r,
            Err(Inval),
            "size rounds up past the end of the address space"
        );
        // K_ANYWHERE writes the address back: a read-only descriptor is a fault, and nothing is allocated.
        let r = kraw(
            K_SYS_RGN_ALLOCATE,
            K_MYACTOR,
            &RO_ANYWHERE as *const KnRgnDesc as u64,
            0,
        );
        check_eq!(c, r, Err(Fault), "K_ANYWHERE with a read-only descriptor");
        let huge = api::rgn_allocate(Actor::Me, &mut rgn(0, USER_LIMIT - 2 * PG, K_ANYWHERE));
        check_eq!(c, huge, Err(NoMem), "K_ANYWHERE larger than any free range");
        let d = rgn(at + 2 * PG, PG, 0);
        let dp = &d as *const KnRgnDesc as u64;
        for (what, desc) in [
            ("NULL", 0),
            ("kernel", USER_LIMIT),
            ("crossing USER_LIMIT", USER_LIMIT - 24),
        ] {
            let r = kraw(K_SYS_RGN_ALLOCATE, K_MYACTOR, desc, 0);
            check_eq!(c, r, Err(Fault), "descriptor pointer {}", what);
        }

        check_eq!(
            c,
            stat(Actor::Me, USER_BASE, USER_LIMIT - USER_BASE).0,
            before,
            "refused calls changed nothing"
        );
        check_eq!(
            c,
            kraw(K_SYS_RGN_ALLOCATE, K_MYACTOR, dp, 0),
            Ok(0),
            "the good descriptor works"
        );
        check_eq!(c, free(at, 3 * PG), Ok(()));
    });
    s.isolated("other_actor", |c| {
        check_eq!(c, api::create_process(P), Ok(()));
        let cap = api::actor_cap(P).unwrap_or_default();
        let a = Actor::Cap(&cap);
        check_eq!(
            c,
            api::rgn_allocate(a, &mut rgn(0x1000_0000, 2 * PG, K_WRITABLE)),
            Ok(())
        );
        check_eq!(
            c,
            api::rgn_allocate(a, &mut rgn(0x2000_0000, PG, 0)),
            Ok(())
        );
        let (n, st) = stat(a, USER_BASE, USER_LIMIT - USER_BASE);
        check_eq!(c, n, Ok(2), "regions of the other actor");
        check_eq!(
            c,
            shape(&st, 2)[..2],
            [(0x1000_0000, 2 * PG, K_WRITABLE), (0x2000_0000, PG, 0)]
        );
        check_eq!(
            c,
            stat(Actor::Me, 0x1000_0000, 2 * PG).0,
            Ok(0),
            "not in the caller"
        );
        check_eq!(
            c,
            api::rgn_free(a, &rgn(0, 0, K_FREEALL)),
            Ok(()),
            "K_FREEALL"
        );
        check_eq!(
            c,
            stat(a, USER_BASE, USER_LIMIT - USER_BASE).0,
            Ok(0),
            "all freed"
        );
        let _ = api::destroy(P);
        let _ = api::close(P);
        check_eq!(
            c,
            api::rgn_allocate(a, &mut rgn(0x1000_0000, PG, 0)),
            Err(Unknown),
            "dead actor"
        );
    });
    s.isolated("address_space_edges", |c| {
        touch_stack();
        let base = usage();
        // The last pages below USER_LIMIT, and a region across a 512 GiB
        // (PML4 entry) boundary.
        let top = USER_LIMIT - 4 * PG;
        let mid = 0x80_0000_0000 - 2 * PG;
        check_eq!(
            c,
            alloc_at(top, 4, K_WRITABLE),
            Ok(()),
            "ends exactly at USER_LIMIT"
        );
        check_eq!(
            c,
            alloc_at(mid, 4, K_WRITABLE),
            Ok(()),
            "across a PML4 entry"
        );
        for i in 0..4 {
            poke(top + i * PG, 0x70 + i);
            poke(mid + i * PG, 0x50 + i);
        }
        let ok = (0..4).all(|i| peek(top + i * PG) == 0x70 + i && peek(mid + i * PG) == 0x50 + i);
        check!(c, ok, "the pages hold their data");
        let (n, st) = stat(Actor::Me, mid, 4 * PG);
        check_eq!(c, (n, st[0].startAddr, st[0].size), (Ok(1), mid, 4 * PG));
        check_eq!(c, alloc_at(top - PG, 2, 0), Err(Overlap));
        check_eq!(c, free(top, 4 * PG), Ok(()));
        check_eq!(c, free(mid, 4 * PG), Ok(()));
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT back to baseline (page tables too)"
        );
    });
    s.isolated("free", |c| {
        touch_stack();
        let base = usage();
        let at = hole_of(8);
        check_eq!(c, alloc_at(at, 6, K_WRITABLE | K_INHERITCOPY), Ok(()));
        for i in 0..6 {
            poke(at + i * PG, i + 1);
        }
        check_eq!(
            c,
            free(at + 2 * PG, PG + 1),
            Ok(()),
            "size rounded up: frees pages 2 and 3"
        );
        let (n, st) = stat(Actor::Me, at, 8 * PG);
        check_eq!(c, n, Ok(2), "cut in two");
        let o = K_WRITABLE | K_INHERITCOPY;
        check_eq!(
            c,
            shape(&st, 2)[..2],
            [(at, 2 * PG, o), (at + 4 * PG, 2 * PG, o)]
        );
        check_eq!(
            c,
            (peek(at + PG), peek(at + 4 * PG)),
            (2, 5),
            "the rest keeps its data"
        );
        check_eq!(c, try_read(at + 2 * PG), Some(1), "freed page unmapped");
        check_eq!(c, free(at + PG, 4 * PG), Ok(()), "range with a hole in it");
        let (n, st) = stat(Actor::Me, at, 8 * PG);
        check_eq!(c, n, Ok(2));
        check_eq!(c, shape(&st, 2)[..2], [(at, PG, o), (at + 5 * PG, PG, o)]);
        check_eq!(c, free(at, 8 * PG), Ok(()));
        check_eq!(c, free(at, 8 * PG), Ok(()), "freeing a hole is fine");
        for (what, start, size, options) in [
            ("unaligned start", at + 8, PG, 0),
            ("options K_WRITABLE", at, PG, K_WRITABLE),
            (
                "options K_FREEALL|K_WRITABLE",
                at,
                PG,
                K_FREEALL | K_WRITABLE,
            ),
            ("page 0", 0, PG, 0),
            ("crosses USER_LIMIT", USER_LIMIT - PG, 2 * PG, 0),
            ("wraps", !(PG - 1), 2 * PG, 0),
        ] {
            check_eq!(
                c,
                api::rgn_free(Actor::Me, &rgn(start, size, options)),
                Err(Inval),
                "{}",
                what
            );
        }
        check_eq!(
            c,
            kraw(K_SYS_RGN_FREE, K_MYACTOR, 0, 0),
            Err(Fault),
            "NULL descriptor"
        );
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("set_protect", |c| {
        let at = hole_of(5);
        let o = K_WRITABLE | K_INHERITCOPY;
        check_eq!(c, alloc_at(at, 3, o), Ok(()));
        for i in 0..3 {
            poke(at + i * PG, 100 + i);
        }
        let ro = rgn(at + PG, PG, 0);
        check_eq!(c, api::rgn_set_protect(Actor::Me, &ro), Ok(()));
        let (n, st) = stat(Actor::Me, at, 3 * PG);
        check_eq!(c, n, Ok(3), "cut at both edges");
        check_eq!(
            c,
            shape(&st, 3)[..3],
            [
                (at, PG, o),
                (at + PG, PG, K_INHERITCOPY),
                (at + 2 * PG, PG, o)
            ],
            "protection changed only inside the range, inherit bit kept"
        );
        check_eq!(
            c,
            try_write(at + PG, 1),
            Some(1),
            "write to the read-only part kills the thread"
        );
        check_eq!(
            c,
            peek(at + PG),
            101,
            "read-only part readable and unchanged"
        );
        check_eq!(
            c,
            try_write(at, 1),
            Some(0),
            "the writable parts still work"
        );
        check_eq!(c, try_write(at + 2 * PG, 1), Some(0));
        check_eq!(
            c,
            api::rgn_set_protect(Actor::Me, &rgn(at + PG, PG, K_NOACCESS)),
            Ok(())
        );
        check_eq!(c, try_read(at + PG), Some(1), "K_NOACCESS: a read kills");
        check_eq!(
            c,
            api::rgn_set_protect(Actor::Me, &rgn(at, 3 * PG, K_WRITABLE)),
            Ok(())
        );
        check_eq!(c, try_write(at + PG, 5), Some(0), "raised back to writable");
        check_eq!(c, peek(at + PG), 5);
        let (n, st) = stat(Actor::Me, at, 3 * PG);
        let n = n.unwrap_or(0) as usize;
        // Whether the three parts merge again is the kernel's business; they
        // must cover the range with identical attributes.
        let mut next = at;
        for e in &st[..n.min(3)] {
            check_eq!(c, e.startAddr, next, "contiguous");
            check_eq!(c, e.options, o, "same attributes again");
            next = e.startAddr + e.size;
        }
        check_eq!(c, next, at + 3 * PG, "covers the range");
        // Executable.
        poke8(at + 2 * PG, 0xc3);
        check_eq!(
            c,
            try_exec(at + 2 * PG),
            Some(1),
            "not executable without K_EXECUTABLE"
        );
        check_eq!(
            c,
            api::rgn_set_protect(Actor::Me, &rgn(at + 2 * PG, PG, K_EXECUTABLE)),
            Ok(())
        );
        check_eq!(c, try_exec(at + 2 * PG), Some(0), "K_EXECUTABLE runs");
        check_eq!(
            c,
            try_write(at + 2 * PG, 0),
            Some(1),
            "K_EXECUTABLE alone is not writable"
        );
        for (what, options) in [
            ("K_INHERITCOPY", K_INHERITCOPY),
            ("K_ANYWHERE", K_ANYWHERE),
            ("K_FILLZERO", K_FILLZERO),
            ("0x8", 0x8),
            ("K_FREEALL", K_FREEALL),
        ] {
            check_eq!(
                c,
                api::rgn_set_protect(Actor::Me, &rgn(at, PG, options)),
                Err(Inval),
                "{}",
                what
            );
        }
        for (what, start, size) in [
            ("page 0", 0, PG),
            ("crosses USER_LIMIT", USER_LIMIT - PG, 2 * PG),
        ] {
            check_eq!(
                c,
                api::rgn_set_protect(Actor::Me, &rgn(start, size, 0)),
                Err(Inval),
                "{}",
                what
            );
        }
        check_eq!(
            c,
            kraw(K_SYS_RGN_SET_PROTECT, K_MYACTOR, 0, 0),
            Err(Fault),
            "NULL descriptor"
        );
        let _ = free(at, 3 * PG);
    });
    s.isolated("lowering_protection_is_immediate", |c| {
        let r = Region::anywhere(1, K_WRITABLE);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let at = r.addr();
        let writes = AtomicU64::new(0);
        // SAFETY: joined below before `writes` goes out of scope.
        let h = unsafe {
            ferrite_rt::thread::spawn_unchecked(
                || loop {
                    poke(at, peek(at) + 1);
                    writes.fetch_add(1, Ordering::SeqCst);
                },
                ferrite_rt::thread::DEFAULT_STACK_BYTES,
            )
        };
        let Ok(h) = h else {
            return c.fail(file!(), line!(), format_args!("thread"));
        };
        while writes.load(Ordering::SeqCst) < 100 {
            api::yield_thread();
        }
        check_eq!(c, api::rgn_set_protect(Actor::Me, &rgn(at, PG, 0)), Ok(()));
        let frozen = peek(at);
        check_eq!(
            c,
            h.join().ok(),
            Some(1),
            "the writer dies at its next write"
        );
        let v = peek(at);
        check!(
            c,
            v == frozen,
            "no write after RGN_SET_PROTECT returned ({} -> {})",
            frozen,
            v
        );
    });
    s.isolated("free_is_immediate", |c| {
        let r = Region::anywhere(1, K_WRITABLE);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let at = r.addr();
        r.forget();
        let writes = AtomicU64::new(0);
        // SAFETY: joined below before `writes` goes out of scope.
        let h = unsafe {
            ferrite_rt::thread::spawn_unchecked(
                || loop {
                    poke(at, 1);
                    writes.fetch_add(1, Ordering::SeqCst);
                },
                ferrite_rt::thread::DEFAULT_STACK_BYTES,
            )
        };
        let Ok(h) = h else {
            return c.fail(file!(), line!(), format_args!("thread"));
        };
        while writes.load(Ordering::SeqCst) < 100 {
            api::yield_thread();
        }
        check_eq!(c, free(at, PG), Ok(()));
        let n = writes.load(Ordering::SeqCst);
        check_eq!(
            c,
            h.join().ok(),
            Some(1),
            "the writer dies at its next access"
        );
        let m = writes.load(Ordering::SeqCst);
        check!(
            c,
            m <= n + 1,
            "at most the write in flight completed after RGN_FREE ({} -> {})",
            n,
            m
        );
    });
    s.isolated("set_inherit", |c| {
        let at = hole_of(4);
        check_eq!(c, alloc_at(at, 4, K_WRITABLE), Ok(()));
        check_eq!(
            c,
            api::rgn_set_inherit(Actor::Me, &rgn(at + PG, 2 * PG, K_INHERITSHARE)),
            Ok(())
        );
        let (n, st) = stat(Actor::Me, at, 4 * PG);
        check_eq!(c, n, Ok(3));
        check_eq!(
            c,
            shape(&st, 3)[..3],
            [
                (at, PG, K_WRITABLE),
                (at + PG, 2 * PG, K_WRITABLE | K_INHERITSHARE),
                (at + 3 * PG, PG, K_WRITABLE)
            ]
        );
        check_eq!(
            c,
            api::rgn_set_inherit(Actor::Me, &rgn(at, 2 * PG, K_INHERITCOPY)),
            Ok(())
        );
        let (_, st) = stat(Actor::Me, at, 4 * PG);
        check_eq!(c, st[0].options, K_WRITABLE | K_INHERITCOPY);
        check_eq!(
            c,
            st[1].options,
            K_WRITABLE | K_INHERITCOPY,
            "the share bit was replaced"
        );
        check_eq!(
            c,
            api::rgn_set_inherit(Actor::Me, &rgn(at, 4 * PG, 0)),
            Ok(())
        );
        let (n, st) = stat(Actor::Me, at, 4 * PG);
        let all_plain = st[..n.unwrap_or(0).min(8) as usize]
            .iter()
            .all(|e| e.options == K_WRITABLE);
        check!(c, all_plain, "options 0 clears the inherit bits");
        for (what, options) in [
            ("both bits", K_INHERIT_MASK),
            ("K_WRITABLE", K_WRITABLE),
            ("K_NOACCESS", K_NOACCESS),
            ("K_FREEALL", K_FREEALL),
        ] {
            check_eq!(
                c,
                api::rgn_set_inherit(Actor::Me, &rgn(at, PG, options)),
                Err(Inval),
                "{}",
                what
            );
        }
        check_eq!(
            c,
            api::rgn_set_inherit(Actor::Me, &rgn(0, PG, 0)),
            Err(Inval),
            "page 0"
        );
        check_eq!(
            c,
            kraw(K_SYS_RGN_SET_INHERIT, K_MYACTOR, USER_LIMIT, 0),
            Err(Fault)
        );
        let _ = free(at, 4 * PG);
    });
    s.isolated("stat", |c| {
        let at = hole_of(8);
        for (i, o) in [K_WRITABLE, 0, K_WRITABLE | K_EXECUTABLE, K_INHERITCOPY]
            .iter()
            .enumerate()
        {
            check_eq!(c, alloc_at(at + 2 * i as u64 * PG, 1, *o), Ok(()));
        }
        // Small buffer: the total comes back, only what fits is written.
        let mut st = [KnRgnStat {
            startAddr: 0xdead,
            ..Default::default()
        }; 3];
        let r = api::rgn_stat(Actor::Me, &rgn(at, 8 * PG, 0), &mut st[..2]);
        check_eq!(c, r, Ok(4), "total count");
        check_eq!(
            c,
            (st[0].startAddr, st[1].startAddr),
            (at, at + 2 * PG),
            "address order"
        );
        check_eq!(c, st[2].startAddr, 0xdead, "nothing past the buffer");
        check_eq!(c, st[1].options, 0);
        // A range that cuts a region reports the part inside it.
        check_eq!(c, alloc_at(at + 8 * PG, 4, K_WRITABLE), Ok(()));
        let (n, st) = stat(Actor::Me, at + 9 * PG, 2 * PG);
        check_eq!(c, n, Ok(1));
        check_eq!(
            c,
            (st[0].startAddr, st[0].size),
            (at + 9 * PG, 2 * PG),
            "clipped to the range"
        );
        let (n, _) = stat(Actor::Me, at + PG, PG);
        check_eq!(c, n, Ok(0), "a hole");
        // Pointer errors.
        let d = rgn(at, 8 * PG, 0);
        let dp = &d as *const KnRgnDesc as u64;
        let ro_buf = abi::types::JinueBuffer {
            addr: RO_DESC.as_ptr() as u64,
            size: 48,
        };
        let kbuf = abi::types::JinueBuffer {
            addr: USER_LIMIT - 16,
            size: 48,
        };
        for (what, desc, buf) in [
            ("NULL range", 0, &ro_buf as *const _ as u64),
            ("NULL jinue_buffer_t", dp, 0),
            ("read-only output", dp, &ro_buf as *const _ as u64),
            ("output crossing USER_LIMIT", dp, &kbuf as *const _ as u64),
        ] {
            check_eq!(
                c,
                kraw(K_SYS_RGN_STAT, K_MYACTOR, desc, buf),
                Err(Fault),
                "{}",
                what
            );
        }
        check_eq!(c, RO_DESC, [0x77; 48], "read-only memory unchanged");
        // Room for one entry in a writable page, the second would go into a read-only page.
        if let Ok(edge) = Region::anywhere(2, K_WRITABLE) {
            let _ = api::rgn_set_protect(Actor::Me, &rgn(edge.page(1), PG, 0));
            let half = abi::types::JinueBuffer {
                addr: edge.page(1) - 48,
                size: 96,
            };
            let r = kraw(K_SYS_RGN_STAT, K_MYACTOR, dp, &half as *const _ as u64);
            check_eq!(c, r, Err(Fault), "output runs into a read-only page");
        }
        let _ = free(at, 12 * PG);
    });
    // ABI §1.2: the whole described output buffer is checked before
    // anything, even when nothing would be written into it.
    s.isolated("output_buffer_checked_whole", |c| {
        let empty = rgn(0x1000, 0, 0);
        let ep = &empty as *const KnRgnDesc as u64;
        let at = hole_of(1);
        check_eq!(c, alloc_at(at, 1, K_WRITABLE), Ok(()));
        let one = rgn(at, PG, 0);
        let op = &one as *const KnRgnDesc as u64;
        let stat_into = |range: u64, addr: u64, size: u64| {
            let buf = abi::types::JinueBuffer { addr, size };
            kraw(K_SYS_RGN_STAT, K_MYACTOR, range, &buf as *const _ as u64)
        };
        for (what, range, addr, size) in [
            ("kernel half, empty range", ep, USER_LIMIT, 48),
            ("NULL, empty range", ep, 0, 48),
            ("read-only, empty range", ep, RO_DESC.as_ptr() as u64, 48),
            ("size 2^64-1", op, at, u64::MAX),
        ] {
            check_eq!(c, stat_into(range, addr, size), Err(Fault), "{}", what);
        }
        check_eq!(c, RO_DESC, [0x77; 48], "read-only memory unchanged");
        check_eq!(c, stat_into(op, 0, 0), Ok(1), "an empty buffer: the count");
        let mut st = [KnRgnStat::default(); 2];
        let good = st.as_mut_ptr() as u64;
        check_eq!(c, stat_into(op, good, 96), Ok(1));
        check_eq!(c, (st[0].startAddr, st[0].size), (at, PG));
        // MEMSTAT: all of [addr, addr + size), not only the 48 bytes it writes.
        if let Ok(edge) = Region::anywhere(2, K_WRITABLE) {
            let _ = api::rgn_set_protect(Actor::Me, &rgn(edge.page(1), PG, 0));
            let start = edge.page(1) - 48;
            poke(start, 0x55);
            let r = jraw(FERRITE_SYS_MEMSTAT, start, 96, 0);
            check_eq!(
                c,
                r,
                Err(abi::errors::JinueError::Inval),
                "runs into read-only"
            );
            check_eq!(c, peek(start), 0x55, "nothing written");
            check_eq!(
                c,
                jraw(FERRITE_SYS_MEMSTAT, start, u64::MAX, 0),
                Err(abi::errors::JinueError::Inval)
            );
            check_eq!(c, jraw(FERRITE_SYS_MEMSTAT, start, 48, 0), Ok(0));
        }
        check_eq!(
            c,
            jraw(FERRITE_SYS_MEMSTAT, USER_LIMIT, 0, 0),
            Ok(0),
            "empty"
        );
        let _ = free(at, PG);
    });
    s.isolated("commitment_limit", |c| {
        touch_stack();
        let base = usage();
        let m = api::memstat().unwrap_or_default();
        println!("    before: {m:?}");
        let mut regions = [(0u64, 0u64); 64];
        let mut n = 0;
        let mut chunk = (m.free_frames / 4).max(1);
        while n < regions.len() {
            let mut d = rgn(0, chunk * PG, K_ANYWHERE | K_WRITABLE);
            match api::rgn_allocate(Actor::Me, &mut d) {
                Ok(()) => {
                    regions[n] = (d.startAddr, chunk);
                    n += 1;
                }
                Err(NoMem) if chunk > 1 => chunk /= 2,
                Err(NoMem) => break,
                Err(e) => {
                    c.fail(file!(), line!(), format_args!("RGN_ALLOCATE: {}", e.name()));
                    break;
                }
            }
        }
        let pages: u64 = regions[..n].iter().map(|r| r.1).sum();
        let full = api::memstat().unwrap_or_default();
        println!("    {n} regions, {pages} pages: {full:?}");
        check!(c, n < regions.len(), "reached K_ENOMEM");
        check!(
            c,
            full.committed_frames >= m.committed_frames + pages,
            "committed {} >= {} + {}",
            full.committed_frames,
            m.committed_frames,
            pages
        );
        check_eq!(
            c,
            api::rgn_allocate(Actor::Me, &mut rgn(0, PG, K_ANYWHERE)),
            Err(NoMem),
            "one more page"
        );
        // Every committed page can be touched: no fault for lack of memory.
        for &(start, np) in &regions[..n] {
            for i in 0..np {
                poke(start + i * PG, i);
            }
        }
        let ok = regions[..n]
            .iter()
            .all(|&(start, np)| (0..np).all(|i| peek(start + i * PG) == i));
        check!(c, ok, "every page holds what was written");
        for &(start, np) in &regions[..n] {
            check_eq!(c, free(start, np * PG), Ok(()));
        }
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
        check_eq!(c, on_thread(|| {}), Some(0), "everything keeps working");
        let r = Region::anywhere(4, K_WRITABLE);
        check!(c, r.is_ok(), "allocation works again");
    });
}

/// A valid K_ANYWHERE request in read-only memory.
static RO_ANYWHERE: KnRgnDesc = rgn(0, PG, K_ANYWHERE | K_WRITABLE);

/// 48 bytes of read-only memory.
static RO_DESC: [u8; 48] = [0x77; 48];
