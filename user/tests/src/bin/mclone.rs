//! `mclone` (issue 5): MCLONE (ABI §3.1) errors in order, sharing, holes, protections, overlap, COW sources, commitment.
#![no_std]
#![no_main]

use abi::errors::JinueError::{self, BadF, Inval, Io, NoMem, Perm};
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::MCloneArgs;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::thread::SELF;
use ferrite_rt::{fork, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

const PG: u64 = PAGE_SIZE;
const P: u64 = 10;
const Q: u64 = 11;
const DEAD: u64 = 12;
const FREE: u64 = 400;
const RW: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE;

fn mc(src: u64, dst: u64, s: u64, d: u64, len: u64, prot: i32) -> Result<(), JinueError> {
    api::mclone_range(src, dst, s, d, len, prot)
}

fn mc_raw(src: u64, dst: u64, args: u64) -> Result<u64, JinueError> {
    jraw(JINUE_SYS_MCLONE, src, dst, args)
}

fn free(start: u64, size: u64) {
    let _ = api::rgn_free(Actor::Me, &rgn(start, size, 0));
}

fn alloc_at(start: u64, npages: u64, options: u64) -> bool {
    api::rgn_allocate(Actor::Me, &mut rgn(start, npages * PG, options)).is_ok()
}

fn try_write(addr: u64) -> Option<u64> {
    on_thread(|| poke(addr, 0x77))
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

fn destroy(d: u64) {
    let _ = api::destroy(d);
    let _ = api::close(d);
}

fn main(_start: &Startup) -> i32 {
    let mut s = Suite::new("mclone");
    both_mechanisms(&mut s, cases);
    s.finish()
}

fn cases(s: &mut Suite) {
    s.isolated("errors_in_order", |c| {
        touch_stack();
        let base = usage();
        let src = Region::anywhere(2, K_WRITABLE);
        let Ok(src) = src else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = src.addr();
        poke(a, 42);
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(
            c,
            api::mint_into(P, SELF, Q, JINUE_PERM_OPEN | JINUE_PERM_CREATE_THREAD, 0),
            Ok(())
        );
        check_eq!(c, api::create_process(DEAD), Ok(()));
        check_eq!(c, api::destroy(DEAD), Ok(()));
        let noaccess = Region::anywhere(2, K_WRITABLE);
        let Ok(noaccess) = noaccess else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let _ = api::rgn_set_protect(Actor::Me, &rgn(noaccess.page(1), PG, K_NOACCESS));
        let good = MCloneArgs {
            src_addr: a,
            dest_addr: 0x1000_0000,
            length: 2 * PG,
            prot: RW,
            _pad: 0,
        };
        let g = &good as *const MCloneArgs as u64;
        let with = |f: &dyn Fn(&mut MCloneArgs)| {
            let mut x = good;
            f(&mut x);
            x
        };
        // 1. descriptor values, before everything else (even a NULL structure).
        for bad in [u64::MAX, JINUE_DESC_NUM, 1 << 31, 1 << 32] {
            check_eq!(c, mc_raw(bad, P, g), Err(BadF), "source {:#x}", bad);
            check_eq!(c, mc_raw(SELF, bad, g), Err(BadF), "destination {:#x}", bad);
            check_eq!(c, mc_raw(bad, P, 0), Err(BadF), "1 before 2 (source)");
            check_eq!(
                c,
                mc_raw(SELF, bad, 0),
                Err(BadF),
                "1 before 2 (destination)"
            );
        }
        // 2. the structure, before alignment and anything about the descriptors.
        let hole = hole();
        for (what, ptr) in [
            ("NULL", 0),
            ("kernel", USER_LIMIT),
            ("crossing USER_LIMIT", USER_LIMIT - 16),
            ("unmapped", hole),
            ("no-access page", noaccess.page(1)),
            ("runs into a no-access page", noaccess.page(1) - 16),
        ] {
            check_eq!(c, mc_raw(SELF, P, ptr), Err(Inval), "structure {}", what);
            check_eq!(
                c,
                mc_raw(FREE, DEAD, ptr),
                Err(Inval),
                "2 before 6/7: {}",
                what
            );
        }
        // 3-5: alignment, prot, ranges; each also before descriptor checks 6-8.
        let bad_args = [
            ("src_addr unaligned", with(&|x| x.src_addr += 8)),
            ("dest_addr unaligned", with(&|x| x.dest_addr += 8)),
            ("length unaligned", with(&|x| x.length = PG + 1)),
            ("prot bit 8", with(&|x| x.prot = 8)),
            ("prot -1", with(&|x| x.prot = -1)),
            ("source at page 0", with(&|x| x.src_addr = 0)),
            ("destination at page 0", with(&|x| x.dest_addr = 0)),
            (
                "source reaches USER_LIMIT",
                with(&|x| x.src_addr = USER_LIMIT - PG),
            ),
            (
                "destination reaches USER_LIMIT",
                with(&|x| x.dest_addr = USER_LIMIT - PG),
            ),
            (
                "source in the kernel",
                with(&|x| x.src_addr = 0xffff_8000_0000_0000),
            ),
            ("range wraps", with(&|x| x.length = !(PG - 1))),
        ];
        for (what, args) in &bad_args {
            let p = args as *const MCloneArgs as u64;
            check_eq!(c, mc_raw(SELF, P, p), Err(Inval), "{}", what);
            check_eq!(
                c,
                mc_raw(FREE, FREE, p),
                Err(Inval),
                "{} before EBADF",
                what
            );
            check_eq!(c, mc_raw(DEAD, DEAD, p), Err(Inval), "{} before EIO", what);
            check_eq!(c, mc_raw(SELF, Q, p), Err(Inval), "{} before EPERM", what);
        }
        // Alignment (3) is checked before prot (4): both bad gives the same
        // error, so the order between 3 and 5 is covered by the EINVAL above.
        // 6. source descriptor.
        check_eq!(c, mc_raw(FREE, P, g), Err(BadF), "source free");
        check_eq!(
            c,
            mc_raw(INIT_THREAD_DESCRIPTOR, P, g),
            Err(BadF),
            "source is a thread"
        );
        check_eq!(c, mc_raw(DEAD, P, g), Err(Io), "source destroyed");
        check_eq!(c, mc_raw(FREE, DEAD, g), Err(BadF), "6 before 7");
        check_eq!(c, mc_raw(DEAD, FREE, g), Err(Io), "6 (EIO) before 7");
        check_eq!(c, mc_raw(FREE, Q, g), Err(BadF), "6 before 8");
        check_eq!(c, mc_raw(DEAD, Q, g), Err(Io), "6 (EIO) before 8");
        // 7. destination descriptor.
        check_eq!(c, mc_raw(SELF, FREE, g), Err(BadF), "destination free");
        check_eq!(
            c,
            mc_raw(SELF, INIT_THREAD_DESCRIPTOR, g),
            Err(BadF),
            "destination is a thread"
        );
        check_eq!(c, mc_raw(SELF, DEAD, g), Err(Io), "destination destroyed");
        // 8. MAP on the destination; none needed on the source.
        check_eq!(c, mc_raw(SELF, Q, g), Err(Perm), "destination without MAP");
        check_eq!(
            c,
            mc_raw(
                Q,
                SELF,
                &with(&|x| {
                    x.src_addr = 0x1000_0000;
                    x.dest_addr = hole;
                    x.length = PG
                }) as *const _ as u64
            ),
            Ok(0),
            "source needs no permission"
        );
        free(hole, PG);
        // Nothing changed in P by the refused calls.
        let cap = api::actor_cap(P).unwrap_or_default();
        check_eq!(
            c,
            stat(Actor::Cap(&cap), USER_BASE, USER_LIMIT - USER_BASE).0,
            Ok(0),
            "refused calls changed nothing"
        );
        check_eq!(c, mc_raw(SELF, P, g), Ok(0), "the good call works");
        check_eq!(
            c,
            stat(Actor::Cap(&cap), USER_BASE, USER_LIMIT - USER_BASE).0,
            Ok(1)
        );
        destroy(P);
        let _ = api::close(Q);
        let _ = api::close(DEAD);
        drop(src);
        drop(noaccess);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("length_zero", |c| {
        let r = Region::anywhere(1, K_WRITABLE);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let at = hole_of(2);
        check!(c, alloc_at(at, 1, K_WRITABLE));
        poke(at, 5);
        check_eq!(c, mc(SELF, SELF, r.addr(), at, 0, RW), Ok(()), "length 0");
        check_eq!(c, peek(at), 5, "length 0 changed nothing");
        let (n, st) = stat(Actor::Me, at, 2 * PG);
        check_eq!(c, (n, st[0].startAddr, st[0].size), (Ok(1), at, PG));
        free(at, 2 * PG);
    });
    s.isolated("share_within_process", |c| {
        touch_stack();
        let base = usage();
        let src = Region::anywhere(3, K_WRITABLE | K_INHERITSHARE);
        let Ok(src) = src else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = src.addr();
        poke(a, 1);
        poke(a + PG, 2);
        let x = hole_of(3);
        let u0 = usage().user_frames;
        check_eq!(c, mc(SELF, SELF, a, x, 3 * PG, RW), Ok(()));
        check_eq!(
            c,
            (peek(x), peek(x + PG)),
            (1, 2),
            "the clone sees the data"
        );
        poke(x, 10);
        check_eq!(c, peek(a), 10, "write through the clone seen by the source");
        poke(a + PG, 20);
        check_eq!(
            c,
            peek(x + PG),
            20,
            "write through the source seen by the clone"
        );
        // Page 2 was never touched: the first touch is shared too, either way.
        check_eq!(c, peek(x + 2 * PG), 0, "untouched memory reads zero");
        poke(a + 2 * PG, 30);
        check_eq!(
            c,
            peek(x + 2 * PG),
            30,
            "first touch by the source after a read via the clone"
        );
        check_eq!(
            c,
            usage().user_frames,
            u0 + 1,
            "no data copied: only the first touch of page 2 took a frame"
        );
        // The kernel's own writes go to the shared memory too.
        let ms = jraw(FERRITE_SYS_MEMSTAT, x + 2 * PG, 8, 0);
        check_eq!(c, ms, Ok(0));
        check_eq!(
            c,
            peek(a + 2 * PG),
            PG,
            "MEMSTAT written through the clone is seen by the source"
        );
        let (n, st) = stat(Actor::Me, x, 3 * PG);
        check_eq!(c, n, Ok(1));
        check_eq!(
            c,
            (st[0].startAddr, st[0].size, st[0].options),
            (x, 3 * PG, K_WRITABLE | K_INHERITSHARE),
            "region attributes"
        );
        let src_opts = stat(Actor::Me, a, 3 * PG).1[0].options;
        check_eq!(c, src_opts, K_WRITABLE | K_INHERITSHARE, "source unchanged");
        // First touch through the clone of a fresh region.
        let fresh = Region::anywhere(1, K_WRITABLE);
        let Ok(fresh) = fresh else { return };
        let y = hole();
        check_eq!(c, mc(SELF, SELF, fresh.addr(), y, PG, RW), Ok(()));
        poke(y + 64, 99);
        check_eq!(
            c,
            peek(fresh.addr() + 64),
            99,
            "first touch by the clone seen by the source"
        );
        free(x, 3 * PG);
        free(y, PG);
        check_eq!(c, peek(a), 10, "freeing the clone keeps the source");
        drop(src);
        drop(fresh);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("share_across_processes", |c| {
        touch_stack();
        let base = usage();
        // Chain: own memory -> P -> back into self. If MCLONE into P copied,
        // the second clone would not follow writes to the first.
        let src = Region::anywhere(2, K_WRITABLE);
        let Ok(src) = src else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = src.addr();
        poke(a, 1);
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(c, mc(SELF, P, a, 0x5000_0000, 2 * PG, RW), Ok(()));
        let x = hole_of(2);
        check_eq!(c, mc(P, SELF, 0x5000_0000, x, 2 * PG, RW), Ok(()));
        check_eq!(c, peek(x), 1);
        poke(a, 2);
        check_eq!(c, peek(x), 2, "source write seen through the other process");
        poke(x + PG, 3);
        check_eq!(
            c,
            peek(a + PG),
            3,
            "first touch through the other process seen by the source"
        );
        // Destroying P keeps the memory for the two remaining mappings.
        destroy(P);
        poke(a, 4);
        check_eq!(
            c,
            peek(x),
            4,
            "still shared after the middle process is gone"
        );
        free(x, 2 * PG);
        drop(src);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("shared_with_running_child", |c| {
        let flag = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let Ok(flag) = flag else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let f = flag.addr();
        poke(f, 0);
        match fork() {
            Ok(Fork::Child) => {
                // Wait until the parent cloned memory into us at the address
                // it put in f + 8, then read it, answer, and write into it.
                while peek(f) != 1 {
                    api::yield_thread();
                }
                let at = peek(f + 8);
                poke(f + 16, peek(at));
                poke(at + 8, 0xc0ffee);
                poke(f, 2);
                while peek(f) != 3 {
                    api::yield_thread();
                }
                poke(f + 24, peek(at));
                poke(f, 4);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                // Allocated after the fork: the child has nothing at this address.
                let mem = Region::anywhere(1, K_WRITABLE);
                let Ok(mem) = mem else { return };
                let at = mem.addr();
                poke(at, 0x1234);
                check_eq!(c, mc(SELF, child.process, at, at, PG, RW), Ok(()));
                poke(f + 8, at);
                poke(f, 1);
                while peek(f) != 2 {
                    api::yield_thread();
                }
                check_eq!(c, peek(f + 16), 0x1234, "the child reads the parent's data");
                check_eq!(
                    c,
                    peek(at + 8),
                    0xc0ffee,
                    "the parent sees the child's write"
                );
                poke(at, 0x5678);
                poke(f, 3);
                while peek(f) != 4 {
                    api::yield_thread();
                }
                check_eq!(
                    c,
                    peek(f + 24),
                    0x5678,
                    "the child sees the parent's later write"
                );
                check_eq!(c, child.wait().ok(), Some(0));
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("overlapping_ranges", |c| {
        touch_stack();
        let base = usage();
        let a = hole_of(5);
        check!(c, alloc_at(a, 4, K_WRITABLE));
        for i in 0..4 {
            poke(a + i * PG, 100 + i);
        }
        // Forward: pages 1..4 get the memory of pages 0..3 as they were.
        check_eq!(c, mc(SELF, SELF, a, a + PG, 3 * PG, RW), Ok(()));
        let got = [peek(a), peek(a + PG), peek(a + 2 * PG), peek(a + 3 * PG)];
        check_eq!(
            c,
            got,
            [100, 100, 101, 102],
            "as if the source were read first"
        );
        poke(a, 7);
        check_eq!(c, peek(a + PG), 7, "page 1 shares page 0's memory");
        poke(a + 2 * PG, 8);
        check_eq!(c, peek(a + 3 * PG), 102, "page 3 is not page 2");
        // Backward: pages 0..3 get the memory of pages 1..4 (page 4 is a hole).
        check_eq!(c, mc(SELF, SELF, a + PG, a, 4 * PG, RW), Ok(()));
        let got = [peek(a), peek(a + PG), peek(a + 2 * PG)];
        check_eq!(c, got, [7, 8, 102], "backward overlap");
        // Checked with RGN_STAT: a new thread's stack could land in the hole.
        check_eq!(
            c,
            stat(Actor::Me, a + 3 * PG, PG).0,
            Ok(0),
            "page 3 became the hole of page 4"
        );
        poke(a + PG, 9);
        check_eq!(
            c,
            peek(a + 2 * PG),
            102,
            "no aliasing left between pages 1 and 2"
        );
        // Identical ranges: only the protection changes, the memory stays.
        check_eq!(c, mc(SELF, SELF, a, a, 3 * PG, JINUE_PROT_READ), Ok(()));
        let got = [peek(a), peek(a + PG), peek(a + 2 * PG)];
        check_eq!(
            c,
            got,
            [7, 9, 102],
            "cloning a range onto itself keeps its memory"
        );
        check_eq!(c, try_write(a), Some(1), "and applies prot");
        free(a, 5 * PG);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("holes_replace_destination", |c| {
        touch_stack();
        let base = usage();
        let a = hole_of(3);
        let ok = alloc_at(a, 1, K_WRITABLE | K_INHERITSHARE)
            && alloc_at(a + 2 * PG, 1, K_WRITABLE | K_INHERITCOPY);
        let x = hole_of(4);
        if !(ok && alloc_at(x, 4, K_WRITABLE)) {
            return c.fail(file!(), line!(), format_args!("RGN_ALLOCATE"));
        }
        poke(a, 1);
        poke(a + 2 * PG, 3);
        for i in 0..4 {
            poke(x + i * PG, 0xaa);
        }
        let with_dest = usage();
        check_eq!(c, mc(SELF, SELF, a, x, 3 * PG, RW), Ok(()));
        let (n, st) = stat(Actor::Me, x, 4 * PG);
        check_eq!(c, n, Ok(3), "two cloned regions and the untouched rest");
        check_eq!(
            c,
            (st[0].startAddr, st[0].size, st[0].options),
            (x, PG, K_WRITABLE | K_INHERITSHARE)
        );
        check_eq!(
            c,
            (st[1].startAddr, st[1].size, st[1].options),
            (x + 2 * PG, PG, K_WRITABLE | K_INHERITCOPY)
        );
        check_eq!(
            c,
            (st[2].startAddr, st[2].size, st[2].options),
            (x + 3 * PG, PG, K_WRITABLE),
            "outside the range: unchanged"
        );
        check_eq!(
            c,
            (peek(x), peek(x + 2 * PG), peek(x + 3 * PG)),
            (1, 3, 0xaa)
        );
        check_eq!(
            c,
            stat(Actor::Me, x + PG, PG).0,
            Ok(0),
            "the hole replaced the destination page"
        );
        check_eq!(
            c,
            try_read(x + PG),
            Some(1),
            "reading the hole kills the thread"
        );
        let after = usage();
        check!(
            c,
            after.user_frames + 2 <= with_dest.user_frames,
            "the replaced destination memory was released ({} -> {})",
            with_dest.user_frames,
            after.user_frames
        );
        free(a, 3 * PG);
        free(x, 4 * PG);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("region_boundaries", |c| {
        touch_stack();
        let base = usage();
        // Source: two adjacent regions with different inherit bits.
        let a = hole_of(4);
        let ok = alloc_at(a, 2, K_WRITABLE | K_INHERITSHARE)
            && alloc_at(a + 2 * PG, 2, K_WRITABLE | K_INHERITCOPY);
        // Destination: one writable region of 6 pages; the clone lands inside it.
        let x = hole_of(6);
        if !(ok && alloc_at(x, 6, K_WRITABLE)) {
            return c.fail(file!(), line!(), format_args!("RGN_ALLOCATE"));
        }
        for i in 0..6 {
            poke(x + i * PG, 0xd0 + i);
        }
        for i in 0..4 {
            poke(a + i * PG, 0xa0 + i);
        }
        // Clone the middle two pages (one from each source region) to x+2P.
        check_eq!(
            c,
            mc(SELF, SELF, a + PG, x + 2 * PG, 2 * PG, JINUE_PROT_READ),
            Ok(())
        );
        let (n, st) = stat(Actor::Me, x, 6 * PG);
        check_eq!(
            c,
            n,
            Ok(4),
            "destination cut at the range edges, source boundary kept"
        );
        let got: [(u64, u64, u64); 4] =
            core::array::from_fn(|i| (st[i].startAddr, st[i].size, st[i].options));
        check_eq!(
            c,
            got,
            [
                (x, 2 * PG, K_WRITABLE),
                (x + 2 * PG, PG, K_INHERITSHARE),
                (x + 3 * PG, PG, K_INHERITCOPY),
                (x + 4 * PG, 2 * PG, K_WRITABLE)
            ]
        );
        let data: [u64; 6] = core::array::from_fn(|i| peek(x + i as u64 * PG));
        check_eq!(
            c,
            data,
            [0xd0, 0xd1, 0xa1, 0xa2, 0xd4, 0xd5],
            "outside the range unchanged"
        );
        // The source keeps its own layout.
        let (n, st) = stat(Actor::Me, a, 4 * PG);
        check_eq!(c, n, Ok(2));
        check_eq!(c, (st[0].size, st[1].size), (2 * PG, 2 * PG));
        // Freeing part of the source leaves the clone's memory alone.
        free(a, 4 * PG);
        check_eq!(
            c,
            (peek(x + 2 * PG), peek(x + 3 * PG)),
            (0xa1, 0xa2),
            "the clone keeps the memory"
        );
        free(x, 6 * PG);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("large_and_misaligned", |c| {
        touch_stack();
        let base = usage();
        // 1536 pages (6 MiB) crossing 2 MiB boundaries, cloned to a
        // destination whose offset within 2 MiB differs from the source's.
        const N: u64 = 1536;
        let mut d = rgn(0, (N + 512) * PG, K_ANYWHERE);
        if api::rgn_allocate(Actor::Me, &mut d).is_err() {
            return c.fail(file!(), line!(), format_args!("RGN_ALLOCATE"));
        }
        free(d.startAddr, d.size);
        let two_mib = 512 * PG;
        let a = d.startAddr.next_multiple_of(two_mib) - 3 * PG;
        if !alloc_at(a, N, K_WRITABLE) {
            return c.fail(file!(), line!(), format_args!("RGN_ALLOCATE at {a:#x}"));
        }
        for i in (0..N).step_by(7) {
            poke(a + i * PG, 0xabc0_0000 + i);
        }
        let x = 0x40_0000_0000 + 2 * two_mib - 200 * PG;
        check_eq!(
            c,
            stat(Actor::Me, x, N * PG).0,
            Ok(0),
            "the destination is free"
        );
        check_eq!(c, mc(SELF, SELF, a, x, N * PG, RW), Ok(()));
        let mut wrong = 0;
        for i in 0..N {
            let want = if i % 7 == 0 { 0xabc0_0000 + i } else { 0 };
            if peek(x + i * PG) != want {
                wrong += 1;
            }
        }
        check_eq!(c, wrong, 0, "pages whose clone shows other data");
        for i in (3..N).step_by(11) {
            poke(x + i * PG + 8, i);
        }
        let mut lost = 0;
        for i in (3..N).step_by(11) {
            if peek(a + i * PG + 8) != i {
                lost += 1;
            }
        }
        check_eq!(c, lost, 0, "writes through the clone missing in the source");
        let (n, st) = stat(Actor::Me, x, N * PG);
        check_eq!(c, (n, st[0].size), (Ok(1), N * PG));
        free(x, N * PG);
        free(a, N * PG);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("protection_of_the_clone", |c| {
        let src = Region::anywhere(1, K_WRITABLE);
        let Ok(src) = src else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let a = src.addr();
        poke(a, 0x11);
        poke8(a + 64, 0xc3); // `ret`
        let cases: [(i32, u64, bool, bool, bool); 6] = [
            // prot, options reported, readable, writable, executable
            (JINUE_PROT_NONE, K_NOACCESS, false, false, false),
            (JINUE_PROT_READ, 0, true, false, false),
            (RW, K_WRITABLE, true, true, false),
            (JINUE_PROT_WRITE, K_WRITABLE, true, true, false),
            (
                JINUE_PROT_READ | JINUE_PROT_EXEC,
                K_EXECUTABLE,
                true,
                false,
                true,
            ),
            (
                JINUE_PROT_WRITE | JINUE_PROT_EXEC,
                K_WRITABLE | K_EXECUTABLE,
                true,
                true,
                true,
            ),
        ];
        for (prot, options, r, w, x) in cases {
            let d = hole();
            check_eq!(c, mc(SELF, SELF, a, d, PG, prot), Ok(()), "prot {}", prot);
            let (_, st) = stat(Actor::Me, d, PG);
            check_eq!(c, st[0].options, options, "options of prot {}", prot);
            let want = |ok: bool| Some(if ok { 0 } else { 1 });
            check_eq!(c, try_read(d), want(r), "read with prot {}", prot);
            check_eq!(c, try_exec(d + 64), want(x), "execute with prot {}", prot);
            check_eq!(c, try_write(d + 8), want(w), "write with prot {}", prot);
            free(d, PG);
        }
        // Changing the clone's protection leaves the source's alone.
        let d = hole();
        check_eq!(c, mc(SELF, SELF, a, d, PG, RW), Ok(()));
        check_eq!(
            c,
            api::rgn_set_protect(Actor::Me, &rgn(d, PG, K_NOACCESS)),
            Ok(())
        );
        check_eq!(c, try_read(d), Some(1), "the clone is no-access now");
        check_eq!(c, peek(a), 0x11, "the source still reads");
        free(d, PG);
        check_eq!(
            c,
            try_write(a),
            Some(0),
            "the source keeps its own protection"
        );
        // prot applies whatever the source's protection is: a no-access
        // source gives a readable clone of the same memory.
        check_eq!(
            c,
            api::rgn_set_protect(Actor::Me, &rgn(a, PG, K_NOACCESS)),
            Ok(())
        );
        let d = hole();
        check_eq!(c, mc(SELF, SELF, a, d, PG, RW), Ok(()));
        check_eq!(
            c,
            peek(d),
            0x77,
            "the clone of a no-access source reads its data"
        );
        poke(d, 0x99);
        let _ = api::rgn_set_protect(Actor::Me, &rgn(a, PG, K_WRITABLE));
        check_eq!(c, peek(a), 0x99, "same memory");
        free(d, PG);
        check_eq!(
            c,
            try_exec(a + 64),
            Some(1),
            "the source stays non-executable"
        );
    });
    s.isolated("cow_copy_as_source", |c| {
        touch_stack();
        let base = usage();
        // Our page R is K_INHERITCOPY; P gets a private copy by RGN_DUP.
        let r = Region::anywhere(1, K_WRITABLE | K_INHERITCOPY);
        let Ok(r) = r else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let ra = r.addr();
        poke(ra, 1);
        check_eq!(c, api::create_process(P), Ok(()));
        let cap = api::actor_cap(P).unwrap_or_default();
        // Everything else we have is copied too; only R matters here.
        check_eq!(
            c,
            api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY),
            Ok(())
        );
        // X and Y: two clones of P's copy of R, taken before anything is written.
        let x = hole();
        check_eq!(c, mc(P, SELF, ra, x, PG, RW), Ok(()));
        let y = hole();
        check_eq!(c, mc(P, SELF, ra, y, PG, RW), Ok(()));
        check_eq!(c, (peek(x), peek(y)), (1, 1), "the clones show P's copy");
        poke(x, 2);
        check_eq!(
            c,
            peek(y),
            2,
            "copy-on-write through one clone is seen through the other"
        );
        check_eq!(
            c,
            peek(ra),
            1,
            "the third holder (the original) never sees it"
        );
        let z = hole();
        check_eq!(c, mc(P, SELF, ra, z, PG, RW), Ok(()));
        check_eq!(c, peek(z), 2, "P's own copy holds the write");
        poke(ra, 3);
        check_eq!(
            c,
            (peek(x), peek(y), peek(z)),
            (2, 2, 2),
            "later writes to the original stay out"
        );
        destroy(P);
        for v in [x, y, z] {
            free(v, PG);
        }
        drop(r);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
    s.isolated("enomem_changes_nothing", |c| {
        touch_stack();
        let base = usage();
        check_eq!(c, api::create_process(P), Ok(()));
        let src = Region::anywhere(1, K_WRITABLE);
        let Ok(src) = src else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        poke(src.addr(), 1);
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
                Err(abi::errors::ChorusError::NoMem) if chunk > 1 => chunk /= 2,
                _ => break,
            }
        }
        // Each destination far apart needs new page tables, which cannot be
        // committed any more: at some point MCLONE must say ENOMEM.
        let cap = api::actor_cap(P).unwrap_or_default();
        let mut refused = None;
        for i in 0..64u64 {
            let dest = 0x10_0000_0000 + i * 0x80_0000_0000;
            match mc(SELF, P, src.addr(), dest, PG, RW) {
                Ok(()) => {}
                Err(e) => {
                    refused = Some((e, dest, i));
                    break;
                }
            }
        }
        check!(
            c,
            refused.is_some(),
            "MCLONE never ran out of memory at the commitment limit"
        );
        if let Some((e, dest, i)) = refused {
            check_eq!(c, e, NoMem, "the error at the limit");
            check_eq!(
                c,
                stat(Actor::Cap(&cap), dest, PG).0,
                Ok(0),
                "nothing mapped at the refused destination"
            );
            check_eq!(
                c,
                stat(Actor::Cap(&cap), USER_BASE, USER_LIMIT - USER_BASE).0,
                Ok(i),
                "only the earlier clones exist"
            );
        }
        for &(start, np) in &regions[..n] {
            free(start, np * PG);
        }
        destroy(P);
        drop(src);
        check_eq!(c, usage(), base, "MEMSTAT back to baseline");
    });
}
