//! `cpu_state` (issue 13): the user CPU state the kernel keeps per thread (ABI §1) survives
//! switches to other threads: x87/SSE registers across YIELD (both entries),
//! across timer preemption, and across moves between CPUs of threads of
//! several processes (xmm, MXCSR, x87 control word and stack), fork copies
//! the caller's x87/SSE state, and the data segment selectors ds, es, fs, gs.
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use abi::numbers::JINUE_SYS_YIELD_THREAD;
use ferrite_rt::{thread, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

/// Rounds of each thread in the yield ping-pong.
const ROUNDS: u64 = 200;
/// The user data selector (GDT entry 3, RPL 3) and the user code selector
/// (entry 4, readable, so loadable into a data segment register).
const USER_DATA: u16 = 0x1B;
const USER_CODE: u16 = 0x23;

/// CPUs in use (JINUE_AT_NCPU): with several, a yield need not switch.
pub(crate) static NCPU: AtomicU64 = AtomicU64::new(1);

fn main(start: &Startup) -> i32 {
    NCPU.store(
        start.aux(abi::init::JINUE_AT_NCPU).unwrap_or(1),
        Ordering::SeqCst,
    );
    let mut s = Suite::new("cpu_state");
    for via_int in [false, true] {
        s.variant(if via_int { "@int80" } else { "" });
        s.isolated("xmm_across_yield_to_another_thread", |c| {
            xmm_ping_pong(c, via_int);
        });
    }
    s.variant("");
    s.isolated("xmm_across_preemption", xmm_preempted);
    s.isolated("segments_per_thread", segments_per_thread);
    s.isolated(
        "fp_state_across_cpus_and_processes",
        migration::fp_state_across_cpus,
    );
    s.isolated(
        "fp_state_across_ipc_between_processes",
        migration::fp_state_across_ipc_between_processes,
    );
    s.isolated("fork_copies_fp_state", migration::fork_copies_fp_state);
    s.finish()
}

mod migration;

/// 256 bytes for xmm0..xmm15, different for every `seed`.
pub(crate) fn pattern(seed: u8) -> [u8; 256] {
    let mut p = [0u8; 256];
    for (i, b) in p.iter_mut().enumerate() {
        *b = (i as u8)
            .wrapping_mul(29)
            .wrapping_add(seed.wrapping_mul(101));
    }
    p
}

/// Loads xmm0..xmm15 from `input`, yields (by `syscall` or `int 0x80`), stores them to `output`.
fn yield_with_xmm(input: &[u8; 256], output: &mut [u8; 256], via_int: bool) {
    macro_rules! probe {
        ($insn:literal) => {
            // SAFETY: YIELD changes no memory; the asm reads `input` and writes
            // `output` only, and declares every register it or the kernel
            // entry may change (rcx and r11 are not late: the pointers must
            // not live there across `syscall`).
            unsafe {
                asm!(
                    "movdqu xmm0, [{i}]", "movdqu xmm1, [{i} + 16]", "movdqu xmm2, [{i} + 32]",
                    "movdqu xmm3, [{i} + 48]", "movdqu xmm4, [{i} + 64]", "movdqu xmm5, [{i} + 80]",
                    "movdqu xmm6, [{i} + 96]", "movdqu xmm7, [{i} + 112]", "movdqu xmm8, [{i} + 128]",
                    "movdqu xmm9, [{i} + 144]", "movdqu xmm10, [{i} + 160]", "movdqu xmm11, [{i} + 176]",
                    "movdqu xmm12, [{i} + 192]", "movdqu xmm13, [{i} + 208]", "movdqu xmm14, [{i} + 224]",
                    "movdqu xmm15, [{i} + 240]",
                    $insn,
                    "movdqu [{o}], xmm0", "movdqu [{o} + 16], xmm1", "movdqu [{o} + 32], xmm2",
                    "movdqu [{o} + 48], xmm3", "movdqu [{o} + 64], xmm4", "movdqu [{o} + 80], xmm5",
                    "movdqu [{o} + 96], xmm6", "movdqu [{o} + 112], xmm7", "movdqu [{o} + 128], xmm8",
                    "movdqu [{o} + 144], xmm9", "movdqu [{o} + 160], xmm10", "movdqu [{o} + 176], xmm11",
                    "movdqu [{o} + 192], xmm12", "movdqu [{o} + 208], xmm13", "movdqu [{o} + 224], xmm14",
                    "movdqu [{o} + 240], xmm15",
                    i = in(reg) input.as_ptr(),
                    o = in(reg) output.as_mut_ptr(),
                    inlateout("rax") JINUE_SYS_YIELD_THREAD => _,
                    inlateout("rdi") 0u64 => _,
                    inlateout("rsi") 0u64 => _,
                    inlateout("rdx") 0u64 => _,
                    out("rcx") _, out("r11") _,
                    out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                    out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                    out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                    out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                    options(nostack),
                );
            }
        };
    }
    if via_int {
        probe!("int 0x80");
    } else {
        probe!("syscall");
    }
}

/// Rounds the other thread of a ping-pong completed, and whether it saw its own values.
static PARTNER_ROUNDS: AtomicU64 = AtomicU64::new(0);
static PARTNER_OK: AtomicBool = AtomicBool::new(true);

/// Two threads yield to each other, each with its own values in every xmm
/// register: every YIELD switches threads, so each must get its own back.
fn xmm_ping_pong(c: &mut Case, via_int: bool) {
    PARTNER_ROUNDS.store(0, Ordering::SeqCst);
    PARTNER_OK.store(true, Ordering::SeqCst);
    let partner = thread::spawn(move || {
        let mine = pattern(2);
        let mut seen = [0u8; 256];
        for _ in 0..ROUNDS {
            yield_with_xmm(&mine, &mut seen, via_int);
            if seen != mine {
                PARTNER_OK.store(false, Ordering::SeqCst);
            }
            PARTNER_ROUNDS.fetch_add(1, Ordering::SeqCst);
        }
    });
    let Ok(partner) = partner else {
        return c.fail(
            file!(),
            line!(),
            format_args!("cannot start the partner thread"),
        );
    };
    let mine = pattern(1);
    let mut seen = [0u8; 256];
    let mut wrong = 0;
    let mut interleaved = 0;
    for _ in 0..ROUNDS {
        let before = PARTNER_ROUNDS.load(Ordering::SeqCst);
        yield_with_xmm(&mine, &mut seen, via_int);
        if PARTNER_ROUNDS.load(Ordering::SeqCst) != before {
            interleaved += 1;
        }
        if seen != mine {
            wrong += 1;
        }
    }
    check_eq!(c, partner.join(), Ok(0));
    check_eq!(c, wrong, 0, "rounds whose xmm registers came back changed");
    check!(
        c,
        PARTNER_OK.load(Ordering::SeqCst),
        "the partner's xmm registers changed"
    );
    // The partner ran between our entries (the switches really happened).
    // With several CPUs the partner runs on another one and a yield with
    // nothing else ready returns at once: the check is for one CPU.
    check!(
        c,
        NCPU.load(Ordering::SeqCst) > 1 || interleaved > ROUNDS / 2,
        "only {} of {} yields switched",
        interleaved,
        ROUNDS
    );
}

/// Spins `iterations` times with `seed`'s values in xmm0..xmm15, checking
/// them every iteration and counting in `progress`; returns the iterations
/// whose registers were wrong.
fn spin_with_xmm(seed: u8, iterations: u64, progress: &AtomicU64) -> u64 {
    let p = pattern(seed);
    let mut wrong: u64 = 0;
    // SAFETY: reads `p`, increments `progress` (an atomic the asm updates
    // with a locked add), writes no other memory; every register used is declared.
    unsafe {
        asm!(
            "movdqu xmm0, [{p}]", "movdqu xmm1, [{p} + 16]", "movdqu xmm2, [{p} + 32]",
            "movdqu xmm3, [{p} + 48]", "movdqu xmm7, [{p} + 112]", "movdqu xmm15, [{p} + 240]",
            "2:",
            "movdqu xmm8, [{p}]", "pcmpeqb xmm8, xmm0", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "movdqu xmm8, [{p} + 16]", "pcmpeqb xmm8, xmm1", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "movdqu xmm8, [{p} + 32]", "pcmpeqb xmm8, xmm2", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "movdqu xmm8, [{p} + 48]", "pcmpeqb xmm8, xmm3", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "movdqu xmm8, [{p} + 112]", "pcmpeqb xmm8, xmm7", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "movdqu xmm8, [{p} + 240]", "pcmpeqb xmm8, xmm15", "pmovmskb {t:e}, xmm8", "cmp {t:e}, 0xFFFF", "jne 3f",
            "jmp 4f",
            "3:",
            "inc {w}",
            "movdqu xmm0, [{p}]", "movdqu xmm1, [{p} + 16]", "movdqu xmm2, [{p} + 32]",
            "movdqu xmm3, [{p} + 48]", "movdqu xmm7, [{p} + 112]", "movdqu xmm15, [{p} + 240]",
            "4:",
            "lock inc qword ptr [{progress}]",
            "dec {n}",
            "jnz 2b",
            p = in(reg) p.as_ptr(),
            progress = in(reg) progress.as_ptr(),
            n = inout(reg) iterations => _,
            w = inout(reg) wrong,
            t = out(reg) _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm7") _, out("xmm8") _, out("xmm15") _,
            options(nostack),
        );
    }
    wrong
}

static SPIN_MAIN: AtomicU64 = AtomicU64::new(0);
static SPIN_PARTNER: AtomicU64 = AtomicU64::new(0);
static SPIN_PARTNER_WRONG: AtomicU64 = AtomicU64::new(0);
/// Long enough for several timer ticks (100 Hz) under TCG.
const SPIN_ITERATIONS: u64 = 3_000_000;

/// Two threads spin without any system call, each with its own xmm values:
/// only the timer switches between them, so the state is saved on preemption.
fn xmm_preempted(c: &mut Case) {
    SPIN_MAIN.store(0, Ordering::SeqCst);
    SPIN_PARTNER.store(0, Ordering::SeqCst);
    SPIN_PARTNER_WRONG.store(0, Ordering::SeqCst);
    let partner = thread::spawn(|| {
        let wrong = spin_with_xmm(4, SPIN_ITERATIONS, &SPIN_PARTNER);
        SPIN_PARTNER_WRONG.store(wrong, Ordering::SeqCst);
    });
    let Ok(partner) = partner else {
        return c.fail(
            file!(),
            line!(),
            format_args!("cannot start the partner thread"),
        );
    };
    let partner_before = SPIN_PARTNER.load(Ordering::SeqCst);
    let wrong = spin_with_xmm(3, SPIN_ITERATIONS, &SPIN_MAIN);
    // One CPU: if the partner made progress while this thread spun (no
    // system call in between), the timer preempted this thread in the middle.
    let partner_during = SPIN_PARTNER.load(Ordering::SeqCst) - partner_before;
    check_eq!(c, partner.join(), Ok(0));
    check_eq!(c, wrong, 0, "iterations with changed xmm registers (main)");
    check_eq!(
        c,
        SPIN_PARTNER_WRONG.load(Ordering::SeqCst),
        0,
        "iterations with changed xmm registers (partner)"
    );
    check!(
        c,
        partner_during > 0,
        "no preemption in the middle of the spin (the partner was at {} of {} iterations before and after)",
        partner_before,
        SPIN_ITERATIONS
    );
}

/// Loads ds, es, fs, gs with `values`, yields `rounds` times, and returns
/// the selectors read back after every yield that differed.
fn yield_with_selectors(values: [u16; 4], rounds: u32) -> u32 {
    let mut changed = 0;
    for _ in 0..rounds {
        let (ds, es, fs, gs): (u16, u16, u16, u16);
        // SAFETY: only user selectors (null, user data, user code) are
        // loaded; the fs base is not used by this program (no thread-local
        // storage); YIELD changes no memory.
        unsafe {
            asm!(
                "mov ds, {a:x}", "mov es, {b:x}", "mov fs, {c:x}", "mov gs, {d:x}",
                "syscall",
                "mov {a:x}, ds", "mov {b:x}, es", "mov {c:x}, fs", "mov {d:x}, gs",
                a = inout(reg) values[0] => ds,
                b = inout(reg) values[1] => es,
                c = inout(reg) values[2] => fs,
                d = inout(reg) values[3] => gs,
                inlateout("rax") JINUE_SYS_YIELD_THREAD => _,
                inlateout("rdi") 0u64 => _,
                inlateout("rsi") 0u64 => _,
                inlateout("rdx") 0u64 => _,
                out("rcx") _, out("r11") _,
                options(nostack),
            );
        }
        if [ds, es, fs, gs] != values {
            changed += 1;
        }
    }
    // Leave with the selectors a fresh thread has.
    // SAFETY: null selectors are always loadable in ring 3.
    unsafe {
        asm!("mov ds, {z:x}", "mov es, {z:x}", "mov fs, {z:x}", "mov gs, {z:x}", z = in(reg) 0u16, options(nostack))
    };
    changed
}

static SEGMENT_PARTNER_CHANGED: AtomicU64 = AtomicU64::new(u64::MAX);

/// Two threads keep different selectors in ds, es, fs, gs and yield to each
/// other: each must read back its own after every switch (ABI §1).
fn segments_per_thread(c: &mut Case) {
    SEGMENT_PARTNER_CHANGED.store(u64::MAX, Ordering::SeqCst);
    let partner = thread::spawn(|| {
        let changed = yield_with_selectors([USER_CODE, 0, USER_DATA, USER_CODE], 100);
        SEGMENT_PARTNER_CHANGED.store(u64::from(changed), Ordering::SeqCst);
    });
    let Ok(partner) = partner else {
        return c.fail(
            file!(),
            line!(),
            format_args!("cannot start the partner thread"),
        );
    };
    let changed = yield_with_selectors([USER_DATA, USER_DATA, 0, USER_DATA], 100);
    check_eq!(c, partner.join(), Ok(0));
    check_eq!(
        c,
        changed,
        0,
        "yields after which this thread's selectors differed"
    );
    check_eq!(
        c,
        SEGMENT_PARTNER_CHANGED.load(Ordering::SeqCst),
        0,
        "yields after which the partner's selectors differed"
    );
}
