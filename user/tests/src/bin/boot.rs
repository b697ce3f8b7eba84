//! `boot` (issue 2): the init process's start-up state, PUTS, reserved numbers, register preservation, SET_THREAD_LOCAL, MEMSTAT, POWEROFF.
#![no_std]
#![no_main]

use abi::errors::*;
use abi::init::*;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::JINUE_PERM_AWAIT;
use abi::region::*;
use abi::types::KnRgnStat;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::image::{ENTRY_REGISTER_NAMES, ENTRY_REGS};
use ferrite_rt::{fork, println, Fork, Startup};
use ferrite_tests::*;
use loader::{PF_W, PF_X, PHDR_SIZE, PT_LOAD};

ferrite_rt::entry!(main);

extern "C" {
    /// The loaded ELF header (`user.ld` loads it with the text segment).
    static __ehdr_start: [u8; 64];
    fn _start();
    /// See the `global_asm!` below.
    fn boot_regs_probe(out: *mut u64, xmm_in: *const u8, func: u64, via_syscall: u64);
}

/// The initial stack region (ABI §1.2).
const INITIAL_STACK: core::ops::Range<u64> = JINUE_STACK_BASE - JINUE_STACK_SIZE..JINUE_STACK_BASE;

fn ehdr() -> &'static [u8; 64] {
    // SAFETY: the linker defines `__ehdr_start` at the loaded ELF header,
    // which stays mapped readable for the life of the program.
    unsafe { &*core::ptr::addr_of!(__ehdr_start) }
}

fn le16(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}

fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// (p_type, p_flags, p_vaddr, p_memsz) of program header `i`.
fn phdr(i: u64) -> (u32, u32, u64, u64) {
    let h = ehdr();
    let at = ehdr().as_ptr() as u64 + le64(h, 32) + i * PHDR_SIZE as u64;
    // SAFETY: the program headers follow the ELF header in the loaded text segment.
    let b = unsafe { core::slice::from_raw_parts(at as *const u8, PHDR_SIZE) };
    (
        le64(b, 0) as u32,
        (le64(b, 0) >> 32) as u32,
        le64(b, 16),
        le64(b, 40),
    )
}

fn main(start: &Startup) -> i32 {
    let mut s = Suite::new("boot");
    s.case("entry_registers_zero", |c| {
        for (i, name) in ENTRY_REGISTER_NAMES.iter().enumerate() {
            let v = ENTRY_REGS[i].load(core::sync::atomic::Ordering::Relaxed);
            if *name != "rsp" {
                check_eq!(c, v, 0, "{} at entry", name);
            }
        }
    });
    s.case("entry_stack", |c| {
        let rsp = ENTRY_REGS[7].load(core::sync::atomic::Ordering::Relaxed);
        check_eq!(c, rsp % 16, 0, "rsp {:#x} 16-byte aligned", rsp);
        check_eq!(c, rsp, start.stack_pointer());
        check!(
            c,
            INITIAL_STACK.contains(&rsp),
            "rsp {:#x} inside the initial stack region",
            rsp
        );
    });
    s.case("argv", |c| {
        let argc = start.argc();
        println!("    argc = {argc}");
        check!(
            c,
            argc >= 1,
            "argc {} >= 1 (argv[0] is the first word)",
            argc
        );
        for i in 0..argc {
            let p = start.argv_ptr(i);
            check!(
                c,
                INITIAL_STACK.contains(&p),
                "argv[{}] = {:#x} on the initial stack",
                i,
                p
            );
            if let Some(a) = start.arg(i) {
                println!(
                    "    argv[{i}] = {:?}",
                    core::str::from_utf8(a).unwrap_or("<not utf-8>")
                );
                check!(c, !a.is_empty(), "argv[{}] is a non-empty word", i);
                check!(c, !a.contains(&b' '), "argv[{}] is split at spaces", i);
            }
        }
        check_eq!(c, start.argv_ptr(argc), 0, "argv[argc] is NULL");
        let name_ok = start.arg(0).is_some_and(|a| a.ends_with(b"boot"));
        check!(c, name_ok, "argv[0] names the program (ends with \"boot\")");
    });
    s.case("auxv", |c| {
        for (t, v) in start.auxv() {
            println!("    auxv {t} = {v:#x}");
        }
        let h = ehdr();
        let base = h.as_ptr() as u64;
        check_eq!(c, start.aux(AT_PAGESZ), Some(PAGE_SIZE), "AT_PAGESZ");
        check_eq!(
            c,
            start.aux(AT_ENTRY),
            Some(le64(h, 24)),
            "AT_ENTRY vs e_entry"
        );
        check_eq!(
            c,
            start.aux(AT_ENTRY),
            Some(_start as *const () as u64),
            "AT_ENTRY vs _start"
        );
        check_eq!(c, start.aux(AT_PHDR), Some(base + le64(h, 32)), "AT_PHDR");
        check_eq!(c, start.aux(AT_PHENT), Some(le16(h, 54)), "AT_PHENT");
        check_eq!(c, start.aux(AT_PHENT), Some(PHDR_SIZE as u64), "AT_PHENT");
        check_eq!(c, start.aux(AT_PHNUM), Some(le16(h, 56)), "AT_PHNUM");
        check_eq!(
            c,
            start.aux(JINUE_AT_STACKBASE),
            Some(JINUE_STACK_BASE),
            "JINUE_AT_STACKBASE"
        );
        let how = start.aux(JINUE_AT_HOWSYSCALL);
        check!(
            c,
            how == Some(HOWSYSCALL_INTERRUPT) || how == Some(HOWSYSCALL_SYSCALL),
            "JINUE_AT_HOWSYSCALL {:?} in {{0, 1}}",
            how
        );
        check_eq!(c, start.envc(), 0, "no environment");
    });
    s.case("initial_regions", |c| {
        let mut st = [KnRgnStat::default(); 16];
        let all = rgn(USER_BASE, USER_LIMIT - USER_BASE, 0);
        let n = api::rgn_stat(Actor::Me, &all, &mut st);
        check!(c, n.is_ok(), "RGN_STAT of all user space: {:?}", n);
        let n = n.unwrap_or(0) as usize;
        let find = |start: u64| st[..n.min(st.len())].iter().find(|r| r.startAddr == start);
        let stack = find(JINUE_STACK_BASE - JINUE_STACK_SIZE);
        check!(c, stack.is_some(), "a region at the initial stack");
        if let Some(r) = stack {
            check_eq!(c, r.size, JINUE_STACK_SIZE, "stack size");
            check_eq!(c, r.options, K_WRITABLE | K_INHERITCOPY, "stack options");
        }
        let phnum = le16(ehdr(), 56);
        let mut loads = 0;
        for i in 0..phnum {
            let (ty, flags, vaddr, memsz) = phdr(i);
            if ty != PT_LOAD {
                continue;
            }
            loads += 1;
            let lo = vaddr & !(PAGE_SIZE - 1);
            let hi = (vaddr + memsz).next_multiple_of(PAGE_SIZE);
            let mut want = K_INHERITCOPY;
            if flags & PF_W != 0 {
                want |= K_WRITABLE;
            }
            if flags & PF_X != 0 {
                want |= K_EXECUTABLE;
            }
            match find(lo) {
                Some(r) => {
                    check_eq!(c, r.size, hi - lo, "segment {:#x} size", lo);
                    check_eq!(c, r.options, want, "segment {:#x} options", lo);
                }
                None => c.fail(
                    file!(),
                    line!(),
                    format_args!("no region at segment {lo:#x}"),
                ),
            }
        }
        check_eq!(c, n as u64, loads + 1, "regions = segments + stack");
    });
    s.case("descriptors_0_and_1", |c| {
        let me = api::actor_self();
        let via0 = api::actor_cap(INIT_SELF_DESCRIPTOR);
        check!(c, me.is_ok(), "ACTOR_SELF: {:?}", me);
        check_eq!(c, via0.ok(), me.ok(), "ACTOR_CAP(0) names the init process");
        // Descriptor 1 is this (main) thread: START|AWAIT, not the owner.
        check_eq!(
            c,
            api::await_thread(INIT_THREAD_DESCRIPTOR),
            Err(JinueError::DeadLk),
            "AWAIT_THREAD(1) from the main thread"
        );
        check_eq!(
            c,
            api::start_thread(
                INIT_THREAD_DESCRIPTOR,
                _start as *const () as u64,
                JINUE_STACK_BASE - 64
            ),
            Err(JinueError::Busy),
            "START_THREAD(1): already running"
        );
        check_eq!(
            c,
            api::mint_into(
                INIT_THREAD_DESCRIPTOR,
                INIT_SELF_DESCRIPTOR,
                3,
                JINUE_PERM_AWAIT,
                0
            ),
            Err(JinueError::Perm),
            "MINT from descriptor 1 (not an owner)"
        );
        check_eq!(
            c,
            api::destroy(INIT_SELF_DESCRIPTOR),
            Err(JinueError::Perm),
            "DESTROY(0): not the owner descriptor"
        );
        // Descriptor 0 has CREATE_THREAD|OPEN: a thread can be made and run in it.
        check_eq!(c, on_thread(|| {}), Some(0), "thread through descriptor 0");
        // DUP of descriptor 1 (not an owner) into the own process works and
        // carries START|AWAIT: awaiting the copy from here is still EDEADLK.
        let dup = api::dup(INIT_SELF_DESCRIPTOR, INIT_THREAD_DESCRIPTOR, 3);
        check_eq!(c, dup, Ok(()), "DUP(0, 1, 3)");
        if dup.is_ok() {
            check_eq!(
                c,
                api::await_thread(3),
                Err(JinueError::DeadLk),
                "AWAIT_THREAD(copy of 1)"
            );
            check_eq!(c, api::close(3), Ok(()));
        }
    });
    s.isolated("puts", |c| {
        let line = [b'x'; PUTS_MAX_LENGTH as usize];
        for level in [PUTS_INFO, PUTS_WARNING, PUTS_ERROR] {
            check_eq!(
                c,
                api::puts(level, b"boot: PUTS at each level"),
                Ok(()),
                "level {}",
                level
            );
        }
        check_eq!(c, api::puts(PUTS_INFO, &line), Ok(()), "120 bytes");
        check_eq!(c, api::puts(PUTS_INFO, b""), Ok(()), "0 bytes");
        for via_int in [false, true] {
            let r = raw_via(via_int, JINUE_SYS_PUTS, PUTS_INFO, line.as_ptr() as u64, 7);
            check_eq!(
                c,
                (r.arg0, r.arg1, r.arg2, r.arg3),
                (0, 0, 0, 0),
                "success registers (int={})",
                via_int
            );
        }
    });
    s.isolated("puts_across_regions", |c| {
        // A string that spans two adjacent readable regions is fine.
        let at = hole_of(2);
        let ok = api::rgn_allocate(Actor::Me, &mut rgn(at, PAGE_SIZE, K_WRITABLE)).is_ok()
            && api::rgn_allocate(Actor::Me, &mut rgn(at + PAGE_SIZE, PAGE_SIZE, K_WRITABLE))
                .is_ok();
        check!(c, ok, "two adjacent regions");
        if ok {
            for (i, b) in b"boot: a line across two regions".iter().enumerate() {
                poke8(at + PAGE_SIZE - 16 + i as u64, *b);
            }
            let r = raw(JINUE_SYS_PUTS, PUTS_INFO, at + PAGE_SIZE - 16, 31);
            check_eq!(c, (r.arg0, r.arg1), (0, 0), "PUTS across a region boundary");
        }
        let _ = api::rgn_free(Actor::Me, &rgn(at, 2 * PAGE_SIZE, 0));
    });
    s.isolated("puts_errors", |c| {
        let line = [b'y'; PUTS_MAX_LENGTH as usize + 1];

        let noaccess = Region::anywhere(2, K_WRITABLE);
        if let Ok(r) = &noaccess {
            let _ = api::rgn_set_protect(Actor::Me, &rgn(r.page(1), PAGE_SIZE, K_NOACCESS));
            for i in 0..8 {
                poke8(r.page(1) - 8 + i, b'z');
            }
        }
        // The last 4 bytes of a readable page followed by an unmapped one.
        let edge = Region::anywhere(2, K_WRITABLE).map(|r| {
            let end = r.page(1);
            let _ = api::rgn_free(Actor::Me, &rgn(end, PAGE_SIZE, 0));
            for i in 0..4 {
                poke8(end - 4 + i, b'e');
            }
            r.forget();
            end
        });
        // Last: K_ANYWHERE would reuse this page for the regions above.
        let hole = Region::anywhere(1, K_WRITABLE).map(|r| {
            let a = r.addr();
            drop(r);
            a
        });
        let good = line.as_ptr() as u64;
        let mut cases: [(&str, u64, u64, u64); 13] = [
            ("length 121", PUTS_INFO, good, PUTS_MAX_LENGTH + 1),
            ("level 'X'", b'X' as u64, good, 4),
            ("level 0", 0, good, 4),
            ("level 'I' + 2^32", PUTS_INFO | (1 << 32), good, 4),
            ("NULL", PUTS_INFO, 0, 4),
            ("kernel pointer", PUTS_INFO, USER_LIMIT, 4),
            ("crosses USER_LIMIT", PUTS_INFO, USER_LIMIT - 2, 4),
            ("wraps", PUTS_INFO, u64::MAX - 1, 4),
            ("unmapped", PUTS_INFO, 0, 4),
            ("no-access page", PUTS_INFO, 0, 4),
            ("runs into a no-access page", PUTS_INFO, 0, 12),
            ("runs into an unmapped page", PUTS_INFO, 0, 8),
            ("length 2^32 + 4", PUTS_INFO, good, (1 << 32) + 4),
        ];
        check!(
            c,
            hole.is_ok(),
            "RGN_ALLOCATE for an unmapped page: {:?}",
            hole
        );
        cases[8].2 = hole.unwrap_or(0);
        cases[9].2 = noaccess.as_ref().map(|r| r.page(1)).unwrap_or(0);
        cases[10].2 = noaccess.as_ref().map(|r| r.page(1) - 8).unwrap_or(0);
        check!(c, edge.is_ok(), "edge page: {:?}", edge);
        cases[11].2 = edge.as_ref().map(|e| e - 4).unwrap_or(0);
        for (what, level, ptr, len) in cases {
            for via_int in [false, true] {
                let r = raw_via(via_int, JINUE_SYS_PUTS, level, ptr, len);
                check_eq!(
                    c,
                    (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
                    (-1, JINUE_EINVAL, 0, 0),
                    "PUTS {} (int={})",
                    what,
                    via_int
                );
            }
        }
        if let Ok(end) = edge {
            let _ = api::rgn_free(Actor::Me, &rgn(end - PAGE_SIZE, PAGE_SIZE, 0));
        }
    });
    s.isolated("reserved_and_unknown_numbers", |c| {
        let enosys = [
            JINUE_SYS_USER_BASE - 1,
            JINUE_SYS_SEND_LAST + 1,
            0,
            1,
            7,
            23,
            63,
            71,
            77,
            95,
            100,
            1 << 40,
            i64::MAX as u64,
            // Numbers of real functions plus 2^32: no truncation to 32 bits.
            (1 << 32) | JINUE_SYS_PUTS,
            (1 << 32) | JINUE_SYS_YIELD_THREAD,
            (1 << 32) | K_SYS_ACTOR_SELF,
        ];
        for n in enosys {
            for via_int in [false, true] {
                let r = raw_via(via_int, n, 0, 0, 0);
                check_eq!(
                    c,
                    (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
                    (-1, JINUE_ENOSYS, 0, 0),
                    "function {} (int={})",
                    n,
                    via_int
                );
            }
        }
        for n in [-1i64, -2, -(JINUE_SYS_PUTS as i64), -64, i64::MIN] {
            for via_int in [false, true] {
                let r = raw_via(via_int, n as u64, PUTS_INFO, 0, 0);
                check_eq!(
                    c,
                    (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
                    (-1, JINUE_EINVAL, 0, 0),
                    "function {} (int={})",
                    n,
                    via_int
                );
            }
        }
    });
    s.isolated("registers_preserved", |c| {
        let mut xmm_in = [0u8; 256];
        for (i, b) in xmm_in.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(0x5b);
        }
        for via_syscall in [1u64, 0] {
            for (func, want) in [
                (JINUE_SYS_YIELD_THREAD, (0i64, 0u64)),
                (7, (-1, JINUE_ENOSYS)),
            ] {
                let mut out = [0u64; 49];
                // SAFETY: `out` has the 49 slots and `xmm_in` the 256 bytes the
                // probe uses; the probe restores every callee-saved register
                // and MXCSR, and YIELD / a reserved number change no memory.
                unsafe { boot_regs_probe(out.as_mut_ptr(), xmm_in.as_ptr(), func, via_syscall) };
                let tag = if via_syscall == 1 {
                    "syscall"
                } else {
                    "int 0x80"
                };
                check_eq!(
                    c,
                    (out[0] as i64, out[1]),
                    want,
                    "{} fn {}: rax, rdi",
                    tag,
                    func
                );
                check_eq!(c, (out[2], out[3]), (0, 0), "{} fn {}: rsi, rdx", tag, func);
                let names = [
                    "rbx", "rbp", "r8", "r9", "r10", "r12", "r13", "r14", "r15", "rcx", "r11",
                ];
                for (k, name) in names.iter().enumerate() {
                    if via_syscall == 1 && (*name == "rcx" || *name == "r11") {
                        continue;
                    }
                    check_eq!(c, out[4 + k], PATTERNS[k], "{} fn {}: {}", tag, func, name);
                }
                check_eq!(c, out[15], MXCSR_TEST, "{} fn {}: mxcsr", tag, func);
                check_eq!(
                    c,
                    out[48] & RFLAGS_TEST,
                    RFLAGS_TEST,
                    "{} fn {}: rflags {:#x}",
                    tag,
                    func,
                    out[48]
                );
                for x in 0..16 {
                    let mut want = [0u64; 2];
                    for (h, w) in want.iter_mut().enumerate() {
                        let o = x * 16 + h * 8;
                        let mut a = [0; 8];
                        a.copy_from_slice(&xmm_in[o..o + 8]);
                        *w = u64::from_le_bytes(a);
                    }
                    check_eq!(
                        c,
                        [out[16 + 2 * x], out[17 + 2 * x]],
                        want,
                        "{} fn {}: xmm{}",
                        tag,
                        func,
                        x
                    );
                }
            }
        }
    });
    s.isolated("return_registers", |c| {
        let mut m = [0u8; 48];
        let mut st = [KnRgnStat::default(); 2];
        let range = rgn(USER_BASE, USER_LIMIT - USER_BASE, 0);
        let buf = abi::types::JinueBuffer {
            addr: st.as_mut_ptr() as u64,
            size: core::mem::size_of_val(&st) as u64,
        };
        let mut cap = abi::types::KnCap::default();
        for via_int in [false, true] {
            let tag = if via_int { "int 0x80" } else { "syscall" };
            let r = raw_via(via_int, JINUE_SYS_YIELD_THREAD, 0x11, 0x22, 0x33);
            check_eq!(
                c,
                (r.arg0, r.arg1, r.arg2, r.arg3),
                (0, 0, 0, 0),
                "{}: YIELD",
                tag
            );
            let r = raw_via(via_int, JINUE_SYS_CLOSE, 400, 0x22, 0x33);
            check_eq!(
                c,
                (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
                (-1, JINUE_EBADF, 0, 0),
                "{}: CLOSE error",
                tag
            );
            let r = raw_via(
                via_int,
                FERRITE_SYS_MEMSTAT,
                m.as_mut_ptr() as u64,
                48,
                0x33,
            );
            check_eq!(
                c,
                (r.arg0, r.arg1, r.arg2, r.arg3),
                (0, 0, 0, 0),
                "{}: MEMSTAT",
                tag
            );
            let r = raw_via(
                via_int,
                K_SYS_RGN_STAT,
                K_MYACTOR,
                &range as *const _ as u64,
                &buf as *const _ as u64,
            );
            check!(
                c,
                (r.arg0 as i64) > 0,
                "{}: RGN_STAT count {}",
                tag,
                r.arg0 as i64
            );
            check_eq!(
                c,
                (r.arg1, r.arg2, r.arg3),
                (0, 0, 0),
                "{}: RGN_STAT arg1..arg3",
                tag
            );
            let r = raw_via(via_int, K_SYS_RGN_FREE, K_MYACTOR, 0, 0x33);
            check_eq!(
                c,
                (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
                (K_EFAULT, 0, 0, 0),
                "{}: RGN_FREE error",
                tag
            );
            let r = raw_via(
                via_int,
                K_SYS_ACTOR_SELF,
                &mut cap as *mut _ as u64,
                0x22,
                0x33,
            );
            check_eq!(
                c,
                (r.arg0, r.arg1, r.arg2, r.arg3),
                (0, 0, 0, 0),
                "{}: ACTOR_SELF",
                tag
            );
        }
        check_eq!(
            c,
            u64::from_le_bytes(m[..8].try_into().unwrap_or([0; 8])),
            PAGE_SIZE,
            "MEMSTAT wrote"
        );
        check_eq!(c, Some(cap), api::actor_self().ok(), "ACTOR_SELF wrote");
    });
    s.isolated("set_thread_local", |c| {
        let tls_a: [u64; 2] = [0x1122_3344_5566_7788, 0xa1];
        let tls_b: [u64; 2] = [0x99aa_bbcc_ddee_ff00, 0xb2];
        let a = tls_a.as_ptr() as u64;
        let b = tls_b.as_ptr() as u64;
        check_eq!(c, api::set_thread_local(a, 16), Ok(()));
        check_eq!(c, fs_read(0), tls_a[0], "%fs:0 after SET_THREAD_LOCAL");
        check_eq!(c, fs_read(8), tls_a[1], "%fs:8");
        // Each thread has its own fs base.
        let mut seen = [0u64; 2];
        let r = on_thread(|| {
            if api::set_thread_local(b, 16).is_ok() {
                api::yield_thread();
                seen = [fs_read(0), fs_read(8)];
            }
        });
        check_eq!(c, r, Some(0));
        check_eq!(c, seen, tls_b, "fs in the second thread");
        api::yield_thread();
        check_eq!(
            c,
            fs_read(0),
            tls_a[0],
            "fs of the first thread kept across threads"
        );
        for (what, addr, size) in [
            ("kernel address", USER_LIMIT, 8),
            ("crosses USER_LIMIT", USER_LIMIT - 8, 16),
            ("wraps", u64::MAX - 7, 16),
            ("page 0", 0, 8),
        ] {
            check_eq!(
                c,
                api::set_thread_local(addr, size),
                Err(JinueError::Inval),
                "{}",
                what
            );
        }
        check_eq!(
            c,
            fs_read(0),
            tls_a[0],
            "a refused call leaves fs unchanged"
        );
    });
    s.isolated("memstat", |c| {
        let m = api::memstat();
        check!(c, m.is_ok(), "MEMSTAT: {:?}", m);
        let m = m.unwrap_or_default();
        println!("    {m:?}");
        check_eq!(c, m.page_size, PAGE_SIZE);
        check!(
            c,
            m.total_frames > 0 && m.free_frames <= m.total_frames,
            "free <= total"
        );
        check!(
            c,
            m.user_frames + m.table_frames <= m.total_frames - m.free_frames,
            "user + table frames are in use"
        );
        check!(
            c,
            m.user_frames >= 1 && m.table_frames >= 1,
            "this program uses frames"
        );
        check!(
            c,
            m.committed_frames <= m.total_frames,
            "committed <= total"
        );
        // Partial buffers: only that many bytes are written.
        for n in [0usize, 1, 8, 20, 47] {
            let mut buf = [0xa5u8; 56];
            check_eq!(c, api::memstat_into(&mut buf[..n]), Ok(()), "{} bytes", n);
            let mut full = [0u8; 48];
            let _ = api::memstat_into(&mut full);
            check_eq!(
                c,
                &buf[..n.min(8)],
                &full[..n.min(8)],
                "page_size bytes with {}",
                n
            );
            check!(
                c,
                buf[n..].iter().all(|&b| b == 0xa5),
                "nothing written past {} bytes",
                n
            );
        }
        // MEMSTAT lists no error: which one a bad buffer gives is open
        // (doc/syscalls/memstat.md), but the call must fail without writing.
        let before = PATTERNS;
        for (what, ptr) in [
            ("NULL", 0),
            ("kernel", USER_LIMIT),
            ("read-only", PATTERNS.as_ptr() as u64),
        ] {
            let r = jraw(FERRITE_SYS_MEMSTAT, ptr, 48, 0);
            check!(c, r.is_err(), "MEMSTAT into {}: {:?}", what, r);
        }
        check_eq!(c, PATTERNS, before, "read-only memory unchanged");
    });
    s.isolated("poweroff_from_non_init", |c| {
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        check!(c, shared.is_ok(), "shared page: {:?}", shared);
        let Ok(shared) = shared else { return };
        let at = shared.addr();
        poke(at, u64::MAX);
        match fork() {
            Ok(Fork::Child) => {
                let e = api::poweroff(0);
                poke(at, e.number());
                api::exit_thread();
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(c, child.wait().ok(), Some(0), "child exits");
                check_eq!(c, peek(at), JINUE_EPERM, "POWEROFF from a forked child");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.finish()
}

fn fs_read(offset: u64) -> u64 {
    let v: u64;
    // SAFETY: reads 8 bytes at fs base + offset; every caller set the fs base
    // to a live 16-byte array first.
    unsafe {
        core::arch::asm!("mov {v}, qword ptr fs:[{o}]", v = out(reg) v, o = in(reg) offset, options(nostack, readonly));
    }
    v
}

/// Values the probe loads into rbx, rbp, r8, r9, r10, r12–r15, rcx, r11.
static PATTERNS: [u64; 11] = [
    0x0101_0101_1111_1111,
    0x0202_0202_2222_2222,
    0x0808_0808_8888_8888,
    0x0909_0909_9999_9999,
    0x1010_1010_aaaa_aaaa,
    0x1212_1212_cccc_cccc,
    0x1313_1313_dddd_dddd,
    0x1414_1414_eeee_eeee,
    0x1515_1515_ffff_ffff,
    0x0c0c_0c0c_cdcd_cdcd,
    0x0b0b_0b0b_bcbc_bcbc,
];
/// MXCSR during the probe: all exceptions masked, round toward zero.
const MXCSR_TEST: u64 = 0x7f80;
/// rflags bits the probe sets before the call: CF, PF, AF, ZF, SF, DF, OF.
const RFLAGS_TEST: u64 = 0xcd5;

// boot_regs_probe(out = rdi, xmm_in = rsi, func = rdx, via_syscall = rcx):
// loads patterns into every register the ABI preserves, makes the call,
// stores what came back: out[0..4] = rax, rdi, rsi, rdx; out[4..15] = the
// PATTERNS registers; out[15] = MXCSR; out[16..48] = xmm0..xmm15;
// out[48] = rflags after the call (the probe sets RFLAGS_TEST before it).
core::arch::global_asm!(
    ".globl boot_regs_probe",
    "boot_regs_probe:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 24",
    "mov [rsp], rdi",
    "mov [rsp + 16], rcx",
    "stmxcsr [rsp + 8]",
    "mov dword ptr [rsp + 12], {mxcsr}",
    "ldmxcsr [rsp + 12]",
    "movdqu xmm0, [rsi]",
    "movdqu xmm1, [rsi + 16]",
    "movdqu xmm2, [rsi + 32]",
    "movdqu xmm3, [rsi + 48]",
    "movdqu xmm4, [rsi + 64]",
    "movdqu xmm5, [rsi + 80]",
    "movdqu xmm6, [rsi + 96]",
    "movdqu xmm7, [rsi + 112]",
    "movdqu xmm8, [rsi + 128]",
    "movdqu xmm9, [rsi + 144]",
    "movdqu xmm10, [rsi + 160]",
    "movdqu xmm11, [rsi + 176]",
    "movdqu xmm12, [rsi + 192]",
    "movdqu xmm13, [rsi + 208]",
    "movdqu xmm14, [rsi + 224]",
    "movdqu xmm15, [rsi + 240]",
    "mov rax, rdx",
    "mov rbx, [rip + {p}]",
    "mov rbp, [rip + {p} + 8]",
    "mov r8, [rip + {p} + 16]",
    "mov r9, [rip + {p} + 24]",
    "mov r10, [rip + {p} + 32]",
    "mov r12, [rip + {p} + 40]",
    "mov r13, [rip + {p} + 48]",
    "mov r14, [rip + {p} + 56]",
    "mov r15, [rip + {p} + 64]",
    "mov r11, [rip + {p} + 80]",
    "xor edi, edi",
    "xor esi, esi",
    "xor edx, edx",
    "cmp qword ptr [rsp + 16], 0",
    "mov rcx, [rip + {p} + 72]",
    "je 2f",
    "pushfq",
    "or qword ptr [rsp], {flags}",
    "popfq",
    "syscall",
    "jmp 3f",
    "2:",
    "pushfq",
    "or qword ptr [rsp], {flags}",
    "popfq",
    "int 0x80",
    "3:",
    "pushfq",
    "cld",
    "push rax",
    "mov rax, [rsp + 16]",
    "pop qword ptr [rax]",
    "pop qword ptr [rax + 384]",
    "mov [rax + 8], rdi",
    "mov [rax + 16], rsi",
    "mov [rax + 24], rdx",
    "mov [rax + 32], rbx",
    "mov [rax + 40], rbp",
    "mov [rax + 48], r8",
    "mov [rax + 56], r9",
    "mov [rax + 64], r10",
    "mov [rax + 72], r12",
    "mov [rax + 80], r13",
    "mov [rax + 88], r14",
    "mov [rax + 96], r15",
    "mov [rax + 104], rcx",
    "mov [rax + 112], r11",
    "mov qword ptr [rax + 120], 0",
    "stmxcsr [rax + 120]",
    "movdqu [rax + 128], xmm0",
    "movdqu [rax + 144], xmm1",
    "movdqu [rax + 160], xmm2",
    "movdqu [rax + 176], xmm3",
    "movdqu [rax + 192], xmm4",
    "movdqu [rax + 208], xmm5",
    "movdqu [rax + 224], xmm6",
    "movdqu [rax + 240], xmm7",
    "movdqu [rax + 256], xmm8",
    "movdqu [rax + 272], xmm9",
    "movdqu [rax + 288], xmm10",
    "movdqu [rax + 304], xmm11",
    "movdqu [rax + 320], xmm12",
    "movdqu [rax + 336], xmm13",
    "movdqu [rax + 352], xmm14",
    "movdqu [rax + 368], xmm15",
    "ldmxcsr [rsp + 8]",
    "add rsp, 24",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    p = sym PATTERNS,
    mxcsr = const MXCSR_TEST,
    flags = const RFLAGS_TEST,
);
