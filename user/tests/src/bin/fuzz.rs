//! `fuzz`: adversarial robustness from user space: random raw calls, faulting threads and children, exhaustion, descriptor churn; no panic, no leak.
//!
//! Every random stream comes from a fixed, printed seed, so a failure is
//! reproduced by booting the same image again. Arguments (`cargo xtask run
//! --init <fuzz ELF> ARG...`): a case name runs that case and the leak
//! checks; `fault K` runs fault kind K alone; `soak BASE` runs every case
//! with 40 seeds from BASE for the random ones.
//!
//! Cases that panicked earlier kernels (kernel heap exhaustion) run after
//! the `no_leak` check, so that the rest is reported first.
#![no_std]
#![no_main]

use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{KnCap, KnRgnDesc};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{fork_with, println, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

const PG: u64 = PAGE_SIZE;

// ---------------------------------------------------------------------------
// Deterministic randomness

/// SplitMix64: small, fast, and good enough to pick arguments.
#[derive(Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

// ---------------------------------------------------------------------------
// A raw call that also checks every register the kernel must preserve

/// In/out block of `fuzz_checked_call`: `args` in (rax, rdi, rsi, rdx) and
/// out; `via_int` selects `int 0x80`; `after` receives rbx, rbp, rcx, r8,
/// r9, r10, r11, r12, r13, r14, r15 and the low halves of xmm0, xmm8, xmm15.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Probe {
    args: [u64; 4],
    via_int: u64,
    after: [u64; 14],
}

const REG_NAMES: [&str; 14] = [
    "rbx", "rbp", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm8",
    "xmm15",
];
/// Values loaded before the call (see the asm); rcx and r11 only survive `int 0x80`.
const PATTERNS: [u64; 14] = [
    0x0b0b_0b0b_1111_0001,
    0x0b0b_0b0b_1111_0002,
    0x0b0b_0b0b_1111_0003,
    0x0b0b_0b0b_1111_0004,
    0x0b0b_0b0b_1111_0005,
    0x0b0b_0b0b_1111_0006,
    0x0b0b_0b0b_1111_0007,
    0x0b0b_0b0b_1111_0008,
    0x0b0b_0b0b_1111_0009,
    0x0b0b_0b0b_1111_000a,
    0x0b0b_0b0b_1111_000b,
    0x0b0b_0b0b_1111_000c,
    0x0b0b_0b0b_1111_000d,
    0x0b0b_0b0b_1111_000e,
];

core::arch::global_asm!(
    ".globl fuzz_checked_call",
    ".type fuzz_checked_call,@function",
    "fuzz_checked_call:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov rax, 0x0b0b0b0b1111000c",
    "movq xmm0, rax",
    "mov rax, 0x0b0b0b0b1111000d",
    "movq xmm8, rax",
    "mov rax, 0x0b0b0b0b1111000e",
    "movq xmm15, rax",
    "mov rbx, 0x0b0b0b0b11110001",
    "mov rbp, 0x0b0b0b0b11110002",
    "mov r8, 0x0b0b0b0b11110004",
    "mov r9, 0x0b0b0b0b11110005",
    "mov r10, 0x0b0b0b0b11110006",
    "mov r12, 0x0b0b0b0b11110008",
    "mov r13, 0x0b0b0b0b11110009",
    "mov r14, 0x0b0b0b0b1111000a",
    "mov r15, 0x0b0b0b0b1111000b",
    "mov rax, [rdi]",
    "mov rsi, [rdi + 16]",
    "mov rdx, [rdi + 24]",
    "mov rcx, [rdi + 32]",
    "mov rdi, [rdi + 8]",
    "test rcx, rcx",
    "mov rcx, 0x0b0b0b0b11110003",
    "mov r11, 0x0b0b0b0b11110007",
    "jnz fuzz_checked_call_int",
    "syscall",
    "jmp fuzz_checked_call_done",
    "fuzz_checked_call_int:",
    "int 0x80",
    "fuzz_checked_call_done:",
    "push rdi",
    "mov rdi, [rsp + 8]",
    "mov [rdi], rax",
    "pop rax",
    "mov [rdi + 8], rax",
    "mov [rdi + 16], rsi",
    "mov [rdi + 24], rdx",
    "mov [rdi + 40], rbx",
    "mov [rdi + 48], rbp",
    "mov [rdi + 56], rcx",
    "mov [rdi + 64], r8",
    "mov [rdi + 72], r9",
    "mov [rdi + 80], r10",
    "mov [rdi + 88], r11",
    "mov [rdi + 96], r12",
    "mov [rdi + 104], r13",
    "mov [rdi + 112], r14",
    "mov [rdi + 120], r15",
    "movq rax, xmm0",
    "mov [rdi + 128], rax",
    "movq rax, xmm8",
    "mov [rdi + 136], rax",
    "movq rax, xmm15",
    "mov [rdi + 144], rax",
    "pop rdi",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    ".size fuzz_checked_call, . - fuzz_checked_call",
    // 256 stubs of 4 bytes: `int N; ret; nop` for N = 0..=255.
    ".globl fuzz_int_table",
    "fuzz_int_table:",
    ".set fuzz_vec, 0",
    ".rept 256",
    ".byte 0xcd, fuzz_vec, 0xc3, 0x90",
    ".set fuzz_vec, fuzz_vec + 1",
    ".endr",
);

extern "C" {
    fn fuzz_checked_call(p: *mut Probe);
    fn fuzz_int_table();
}

/// Issues `args` as one raw call and returns the probe with what came back.
///
/// The caller has made sure (see [`Fuzzer::harmless`]) that the call cannot
/// take away or change memory the program uses through Rust references.
fn checked_call(args: [u64; 4], via_int: bool) -> Probe {
    let mut p = Probe {
        args,
        via_int: u64::from(via_int),
        after: [0; 14],
    };
    // SAFETY: the stub saves and restores every callee-saved register it
    // uses, touches only `p` and its own stack, and is a plain C function;
    // the call's memory effects are vetted by the caller (see above).
    unsafe { fuzz_checked_call(&mut p) };
    p
}

// ---------------------------------------------------------------------------
// What the ABI allows a call to return

/// No error at all.
const J_NONE: &[u64] = &[];

/// Error numbers ABI §3 and §7 document for a Jinue-convention function.
fn jinue_errors(call: JinueCall) -> &'static [u64] {
    use abi::errors::*;
    match call {
        JinueCall::Reboot => &[JINUE_EPERM],
        JinueCall::Puts => &[JINUE_EINVAL],
        JinueCall::CreateThread => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_ENOMEM],
        JinueCall::YieldThread | JinueCall::ExitThread => J_NONE,
        JinueCall::SetThreadLocal => &[JINUE_EINVAL],
        JinueCall::CreateProcess => &[JINUE_EBADF, JINUE_EAGAIN],
        JinueCall::Mclone => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_ENOMEM,
        ],
        JinueCall::Dup => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM],
        JinueCall::Close => &[JINUE_EBADF],
        JinueCall::Destroy => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM],
        JinueCall::Mint => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_EINVAL],
        JinueCall::StartThread => &[
            JINUE_EINVAL,
            JINUE_EBADF,
            JINUE_EPERM,
            JINUE_EBUSY,
            JINUE_EIO,
        ],
        JinueCall::AwaitThread => &[
            JINUE_EBADF,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_EDEADLK,
            JINUE_ESRCH,
        ],
        JinueCall::MemStat => &[JINUE_EINVAL],
        JinueCall::PowerOff => &[JINUE_EPERM, JINUE_EINVAL],
        JinueCall::ActorCap => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_EINVAL],
        JinueCall::CreateEndpoint => &[JINUE_EBADF, JINUE_EAGAIN],
        JinueCall::Receive => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_EBUSY,
        ],
        JinueCall::Reply => &[JINUE_EINVAL, JINUE_ENOMSG, JINUE_E2BIG],
        JinueCall::ReplyError => &[JINUE_ENOMSG],
    }
}

/// Codes ABI §4.3/§4.4 document for a ChorusOS-convention function.
fn chorus_errors(call: ChorusCall) -> &'static [i64] {
    use abi::errors::*;
    match call {
        ChorusCall::RgnAllocate | ChorusCall::RgnDup => {
            &[K_EFAULT, K_EINVAL, K_EUNKNOWN, K_EOVERLAP, K_ENOMEM]
        }
        ChorusCall::RgnFree
        | ChorusCall::RgnStat
        | ChorusCall::RgnSetInherit
        | ChorusCall::RgnSetProtect => &[K_EFAULT, K_EINVAL, K_EUNKNOWN, K_ENOMEM],
        ChorusCall::ActorSelf => &[K_EFAULT],
        ChorusCall::ActorDelete => &[K_EFAULT, K_EINVAL, K_EUNKNOWN],
    }
}

/// What is wrong with the registers a call left, if anything (ABI §1, §1.1, §6).
fn check_return(p: &Probe, num: u64) -> Option<&'static str> {
    for (i, (&got, &want)) in p.after.iter().zip(PATTERNS.iter()).enumerate() {
        let hw_clobber = (REG_NAMES[i] == "rcx" || REG_NAMES[i] == "r11") && p.via_int == 0;
        if !hw_clobber && got != want {
            return Some(REG_NAMES[i]);
        }
    }
    let [a0, a1, a2, a3] = p.args;
    match Function::decode(num) {
        Function::Negative => (p.args != [u64::MAX, abi::errors::JINUE_EINVAL, 0, 0])
            .then_some("negative number: not EINVAL"),
        Function::Unknown => (p.args != [u64::MAX, abi::errors::JINUE_ENOSYS, 0, 0])
            .then_some("unknown number: not ENOSYS"),
        Function::Jinue(call) => {
            if a2 != 0 || a3 != 0 {
                return Some("Jinue: arg2/arg3 not 0");
            }
            if a0 == u64::MAX {
                if !(1..=14).contains(&a1) {
                    return Some("Jinue: error number outside 1..=14");
                }
                if !jinue_errors(call).contains(&a1) {
                    return Some("Jinue: error number the function does not document");
                }
                None
            } else if a1 != 0 {
                Some("Jinue success: arg1 not 0")
            } else if call == JinueCall::AwaitThread {
                (a0 > 1).then_some("AWAIT_THREAD success not 0/1")
            } else {
                (a0 != 0).then_some("Jinue success: arg0 not 0")
            }
        }
        Function::Send(_) => Some("SEND is not in the random mix (it blocks)"),
        Function::Chorus(call) => {
            if a1 != 0 || a2 != 0 || a3 != 0 {
                return Some("ChorusOS: arg1..arg3 not 0");
            }
            let v = a0 as i64;
            if v < 0 {
                (!chorus_errors(call).contains(&v)).then_some("ChorusOS: undocumented code")
            } else if call == ChorusCall::RgnStat {
                None
            } else {
                (v != 0).then_some("ChorusOS success: not K_OK")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Memory the fuzzer owns and the values it draws

/// The pool of random argument structures (64-byte slots), followed by an unmapped page.
const POOL: u64 = 0x10_0000_0000;
const POOL_PAGES: u64 = 8;
const POOL_BYTES: u64 = POOL_PAGES * PG;
/// `[LOW, LOW_END)`: held by an inaccessible region for the whole run, so
/// that no stack or buffer of the program lies at the small addresses random
/// values hit most (sizes, flags, powers of two).
const LOW: u64 = USER_BASE;
const LOW_END: u64 = 0x40_0000;
/// A read-only page of printable text for PUTS.
const TEXT: u64 = POOL - 2 * PG;
/// Where calls may change the caller's own memory: nothing of the program lives here.
const SAFE: u64 = 0x20_0000_0000;
const SAFE_SIZE: u64 = 0x10_0000_0000;
/// Descriptor slots random calls play with; slots below are the deterministic
/// cases', and from `desc::FIRST` (512) up the runtime's.
const FUZZ_LO: u64 = 64;
const FUZZ_N: u64 = 24;
/// Slots that exhaustion fills (processes, threads): above the fuzz slots,
/// below the runtime's.
const FILL_LO: u64 = 128;
const FILL_HI: u64 = ferrite_rt::desc::FIRST;

fn protected_slot(d: u64) -> bool {
    d < JINUE_DESC_NUM && !(FUZZ_LO..FUZZ_LO + FUZZ_N).contains(&d)
}

fn in_pool(a: u64, len: u64) -> bool {
    a >= POOL && a.checked_add(len).is_some_and(|e| e <= POOL + POOL_BYTES)
}

/// Whether `[start, start + size)` (size rounded up to pages) lies in SAFE,
/// or would be refused anyway (misaligned, wrapping, outside user space).
fn range_harmless(start: u64, size: u64) -> bool {
    let Some(len) = size.checked_add(PG - 1).map(|s| s & !(PG - 1)) else {
        return true;
    };
    if !start.is_multiple_of(PG) || !is_user_range(start, len) {
        return true;
    }
    len == 0 || (start >= SAFE && start + len <= SAFE + SAFE_SIZE)
}

/// Reads a `u64` at any (possibly unaligned) address of the pool.
fn peek_u(at: u64) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = peek8(at + i as u64);
    }
    u64::from_le_bytes(b)
}

fn read_cap(at: u64) -> KnCap {
    let (a, b) = (peek_u(at), peek_u(at + 8));
    KnCap {
        ui: abi::types::KnUniqueId {
            head: a as u32,
            tail: (a >> 32) as u32,
        },
        key: abi::types::KnKey {
            head: b as u32,
            tail: (b >> 32) as u32,
        },
    }
}

fn write_cap(at: u64, c: &KnCap) {
    poke(at, u64::from(c.ui.head) | (u64::from(c.ui.tail) << 32));
    poke(
        at + 8,
        u64::from(c.key.head) | (u64::from(c.key.tail) << 32),
    );
}

/// One fuzzing stream: its generator and what it created.
struct Fuzzer {
    rng: Rng,
    me: KnCap,
    /// Calls that may hurt the caller's own memory or end it are allowed (a child).
    reckless: bool,
    /// Capabilities of processes the stream created (to delete orphans).
    caps: [KnCap; 64],
    ncaps: usize,
    /// Shared page where a child publishes `caps` and its tallies (0 = none).
    report: u64,
    /// The caller's own regions when the stream started (not the pool).
    own: [(u64, u64); 64],
    nown: usize,
    calls: u64,
    skipped: u64,
    bad: u64,
    first_bad: Option<([u64; 4], Probe, &'static str)>,
}

/// Report page layout (u64 words).
const R_CALLS: u64 = 0;
const R_BAD: u64 = 8;
const R_BAD_ARGS: u64 = 16; // 4 words in, 4 words out
const R_BAD_WHY: u64 = 80; // index into WHY
const R_NCAPS: u64 = 88;
const R_DONE: u64 = 96;
const R_CAPS: u64 = 128; // 16 bytes each, up to 64

impl Fuzzer {
    fn new(seed: u64, reckless: bool, report: u64) -> Fuzzer {
        let (own, nown) = own_regions();
        Fuzzer {
            rng: Rng(seed),
            me: api::actor_self().unwrap_or_default(),
            reckless,
            caps: [KnCap::default(); 64],
            ncaps: 0,
            report,
            own,
            nown,
            calls: 0,
            skipped: 0,
            bad: 0,
            first_bad: None,
        }
    }

    /// Maps the argument pool and the text page (freed by [`Fuzzer::unmap`]).
    fn map(&mut self) -> Result<(), ChorusError> {
        api::rgn_allocate(Actor::Me, &mut rgn(TEXT, PG, K_WRITABLE))?;
        let text = b"fuzz: a line of PUTS text, printable and harmless 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ ..........";
        for (i, &b) in text.iter().cycle().take(PG as usize).enumerate() {
            poke8(TEXT + i as u64, b);
        }
        api::rgn_set_protect(Actor::Me, &rgn(TEXT, PG, 0))?;
        api::rgn_allocate(Actor::Me, &mut rgn(POOL, POOL_BYTES, K_WRITABLE))?;
        for slot in 0..POOL_BYTES / 64 {
            self.fill_slot(slot);
        }
        Ok(())
    }

    fn unmap(&mut self) {
        let _ = api::rgn_free(Actor::Me, &rgn(TEXT, PG, 0));
        let _ = api::rgn_free(Actor::Me, &rgn(POOL, POOL_BYTES, 0));
        let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    }

    fn desc(&mut self) -> u64 {
        match self.rng.below(14) {
            0..=7 => FUZZ_LO + self.rng.below(FUZZ_N),
            8 => self.rng.below(3),
            9 => 1023,
            10 => 1024,
            11 => u64::MAX,
            12 => i32::MAX as u64 + self.rng.below(2),
            _ => self.rng.next(),
        }
    }

    fn size(&mut self) -> u64 {
        match self.rng.below(10) {
            0 => 0,
            1 => PG,
            2 => PG * (1 + self.rng.below(16)),
            3 => 1 + self.rng.below(3 * PG),
            4 => u64::MAX - self.rng.below(PG),
            5 => USER_LIMIT,
            6 => 1 << (12 + self.rng.below(30)),
            7 => 48 * self.rng.below(8),
            8 => 16,
            _ => self.rng.next(),
        }
    }

    fn addr(&mut self) -> u64 {
        match self.rng.below(20) {
            0 => 0,
            1 => 1,
            2 => 2,
            3..=5 => POOL + self.rng.below(POOL_BYTES / 64) * 64,
            6 => POOL + self.rng.below(POOL_BYTES),
            7 => POOL + POOL_BYTES - 1 - self.rng.below(64),
            8 => 0xffff_8000_0000_0000 + self.rng.below(1 << 32),
            9 => USER_LIMIT - 8,
            10 => USER_LIMIT - PG,
            11 => USER_LIMIT,
            12 => u64::MAX - self.rng.below(64),
            13 => self.rng.below(USER_LIMIT / PG) * PG,
            14 => self.rng.below(USER_LIMIT),
            15..=17 => SAFE + self.rng.below(64) * PG,
            18 => 0x8000_0000_0000_0000,
            _ => TEXT + self.rng.below(PG),
        }
    }

    fn options(&mut self) -> u64 {
        const BITS: [u64; 8] = [
            K_WRITABLE,
            K_EXECUTABLE,
            K_NOACCESS,
            K_FILLZERO,
            K_ANYWHERE,
            K_INHERITCOPY,
            K_INHERITSHARE,
            K_FREEALL,
        ];
        let mut o = 0;
        for b in BITS {
            if self.rng.chance(1, 4) {
                o |= b;
            }
        }
        if self.rng.chance(1, 8) {
            o |= 1 << self.rng.below(64);
        }
        if self.rng.chance(1, 4) {
            o = 0;
        }
        o
    }

    fn int(&mut self) -> u64 {
        match self.rng.below(12) {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => u64::MAX,
            4 => i32::MAX as u64,
            5 => 1023,
            6 => 1024,
            7 => self.rng.below(16),
            8 => u64::from(u32::MAX),
            9 => 1 << self.rng.below(64),
            10 => self.desc(),
            _ => self.rng.next(),
        }
    }

    /// A capability pointer: `K_MYACTOR`/`K_SVACTOR`, a slot of the pool, or a bad address.
    fn cap_ptr(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => K_MYACTOR,
            1 => K_SVACTOR,
            2..=5 => POOL + self.rng.below(16) * 16,
            _ => self.addr(),
        }
    }

    /// Any argument at all.
    fn any(&mut self) -> u64 {
        match self.rng.below(5) {
            0 => self.int(),
            1 => self.addr(),
            2 => self.desc(),
            3 => self.options(),
            _ => self.size(),
        }
    }

    /// Refills 64-byte slot `slot` of the pool with a random structure.
    /// Slots 0..4 (the first 256 bytes) hold capabilities.
    fn fill_slot(&mut self, slot: u64) {
        let at = POOL + slot * 64;
        if slot < 4 {
            for k in 0..4 {
                let c = self.cap_value();
                write_cap(at + 16 * k, &c);
            }
            return;
        }
        let words: [u64; 8] = match self.rng.below(6) {
            // KnRgnDesc
            0 | 1 => [
                if self.rng.chance(1, 2) {
                    SAFE + self.rng.below(64) * PG
                } else {
                    self.addr()
                },
                self.size(),
                self.options(),
                self.any(),
                self.rng.next(),
                self.rng.next(),
                0,
                0,
            ],
            // jinue_mclone_args_t
            2 => {
                let prot = if self.rng.chance(3, 4) {
                    self.rng.below(8)
                } else {
                    self.rng.next()
                };
                [
                    if self.rng.chance(1, 2) {
                        SAFE + self.rng.below(64) * PG
                    } else {
                        self.addr()
                    },
                    if self.rng.chance(1, 2) {
                        SAFE + self.rng.below(64) * PG
                    } else {
                        self.addr()
                    },
                    self.size(),
                    prot & 0xffff_ffff | (self.rng.chance(1, 8) as u64) << 32,
                    0,
                    0,
                    0,
                    0,
                ]
            }
            // jinue_mint_args_t
            3 => {
                let perms = if self.rng.chance(3, 4) {
                    self.rng.below(128)
                } else {
                    self.rng.next()
                };
                [
                    (self.desc() & 0xffff_ffff) | (self.desc() << 32),
                    perms,
                    self.rng.next(),
                    0,
                    0,
                    0,
                    0,
                    0,
                ]
            }
            // jinue_buffer_t
            4 => [
                self.addr(),
                self.size(),
                self.addr(),
                self.size(),
                0,
                0,
                0,
                0,
            ],
            _ => [
                self.rng.next(),
                self.rng.next(),
                self.any(),
                self.any(),
                self.any(),
                self.any(),
                self.rng.next(),
                self.rng.next(),
            ],
        };
        for (i, w) in words.iter().enumerate() {
            poke(at + 8 * i as u64, *w);
        }
    }

    fn cap_value(&mut self) -> KnCap {
        let mut c = match self.rng.below(6) {
            0 => self.me,
            1 | 2 if self.ncaps > 0 => self.caps[self.rng.below(self.ncaps as u64) as usize],
            _ => KnCap::default(),
        };
        match self.rng.below(6) {
            0 => c.key.head ^= 1 << self.rng.below(32),
            1 => c.ui.head ^= 1 << (27 + self.rng.below(5)),
            2 => c.ui.tail = self.rng.next() as u32,
            3 => {
                let r = self.rng.next();
                c.ui.head = r as u32;
                c.key.tail = (r >> 32) as u32;
            }
            _ => {}
        }
        c
    }

    /// A function number; the IPC calls that block a single-threaded fuzzer
    /// (RECEIVE, SEND) or make endpoints outside its slots (CREATE_ENDPOINT)
    /// become REPLY_ERROR, which does neither.
    fn number(&mut self) -> u64 {
        let n = self.any_number();
        match Function::decode(n) {
            Function::Send(_) | Function::Jinue(JinueCall::Receive | JinueCall::CreateEndpoint) => {
                abi::numbers::JINUE_SYS_REPLY_ERROR
            }
            _ => n,
        }
    }

    fn any_number(&mut self) -> u64 {
        match self.rng.below(16) {
            0..=7 => self.rng.below(23),
            8..=10 => 64 + self.rng.below(9),
            11 => 96 + self.rng.below(5),
            12 => self.rng.below(101),
            13 => [8, 9, 10, 11, 13, 22, 4096, 4097, 0xffff, 127, 128, 95, 63]
                [self.rng.below(13) as usize],
            14 => [
                u64::MAX,
                i64::MIN as u64,
                (1 << 32) | 3,
                (1 << 32) | 64,
                0x8000_0000,
            ][self.rng.below(5) as usize],
            _ => self.rng.next(),
        }
    }

    /// Arguments shaped for the function most of the time, anything otherwise.
    fn call(&mut self) -> [u64; 4] {
        let num = self.number();
        let mut a = [num, self.any(), self.any(), self.any()];
        if self.rng.chance(1, 5) {
            return a;
        }
        let pool_slot = |r: &mut Rng| POOL + (4 + r.below(POOL_BYTES / 64 - 4)) * 64;
        match num {
            3 => {
                a[1] = [
                    u64::from(b'I'),
                    u64::from(b'W'),
                    u64::from(b'E'),
                    self.int(),
                ][self.rng.below(4) as usize];
                a[2] = if self.rng.chance(1, 2) {
                    TEXT + self.rng.below(PG)
                } else {
                    self.addr()
                };
                a[3] = [0, 1, 119, 120, 121, self.size()][self.rng.below(6) as usize];
            }
            4 | 16 | 17 | 18 | 20 | 21 | 14 | 98 => {
                a[1] = self.desc();
                a[2] = if num == 98 || num == 20 {
                    self.addr()
                } else {
                    self.desc()
                };
                a[3] = if num == 16 { self.desc() } else { self.addr() };
            }
            6 => a[2] = self.size(),
            15 => {
                a[1] = self.desc();
                a[2] = self.desc();
                a[3] = if self.rng.chance(3, 4) {
                    pool_slot(&mut self.rng)
                } else {
                    self.addr()
                };
            }
            19 => {
                a[1] = self.desc();
                a[2] = if self.rng.chance(3, 4) {
                    pool_slot(&mut self.rng)
                } else {
                    self.addr()
                };
            }
            64..=68 => {
                a[1] = self.cap_ptr();
                a[2] = if self.rng.chance(3, 4) {
                    pool_slot(&mut self.rng)
                } else {
                    self.addr()
                };
                a[3] = if self.rng.chance(3, 4) {
                    pool_slot(&mut self.rng)
                } else {
                    self.addr()
                };
            }
            69 => {
                a[1] = self.cap_ptr();
                a[2] = self.cap_ptr();
                a[3] =
                    [0, K_INHERITCOPY, K_INHERITSHARE, self.options()][self.rng.below(4) as usize];
            }
            70 | 72 => {
                a[1] = if self.rng.chance(1, 2) {
                    self.cap_ptr()
                } else {
                    self.addr()
                }
            }
            96 => {
                a[1] = self.addr();
                a[2] = self.size();
            }
            _ => {}
        }
        a
    }

    /// Whether the process descriptor `d` may name the caller (conservative).
    fn may_name_me(&self, d: u64) -> bool {
        if d == 0 {
            return true;
        }
        match api::actor_cap(d) {
            Ok(c) => c == self.me,
            Err(JinueError::BadF) | Err(JinueError::Io) => false,
            Err(_) => true,
        }
    }

    fn touches_own(&self, v: u64) -> bool {
        v >= USER_BASE
            && self.own[..self.nown].iter().any(|&(start, size)| {
                start != LOW && v >= start.saturating_sub(PG) && v < start + size
            })
    }

    /// Whether the `KnCap *` value `p` may name the caller (conservative):
    /// `K_MYACTOR`, a pool slot holding the caller's capability, or any
    /// other mapped memory, which a random output pointer (ACTOR_SELF into
    /// a region in SAFE, say) may have filled with it.
    fn cap_is_me(&self, p: u64) -> bool {
        if p == K_MYACTOR || (in_pool(p, 16) && read_cap(p) == self.me) {
            return true;
        }
        if p == K_SVACTOR || in_pool(p, 16) || !is_user_range(p, 16) {
            return false;
        }
        let page = p & !(PG - 1);
        let len = if (p + 15) & !(PG - 1) != page {
            2 * PG
        } else {
            PG
        };
        !matches!(stat(Actor::Me, page, len).0, Ok(0))
    }

    /// Whether the call is safe for a careful caller: it cannot take away or
    /// change the program's own memory, end it, or steal its descriptors.
    /// May rewrite a PUTS text pointer to the text page.
    fn harmless(&self, a: &mut [u64; 4]) -> bool {
        let [num, a1, a2, a3] = *a;
        // A value that could be a pointer into (or just below) the caller's
        // own memory, directly or inside the pool slot an argument points at.
        for &v in &a[1..] {
            if self.touches_own(v) {
                return false;
            }
            if in_pool(v, 1) {
                let slot = POOL + ((v - POOL) & !63);
                if (0..8).any(|w| self.touches_own(peek(slot + 8 * w))) {
                    return false;
                }
            }
        }
        match num {
            2 | 12 | 97 => false,
            3 => {
                if in_pool(a2, 1) {
                    a[2] = TEXT + (a2 % 64);
                }
                true
            }
            4 | 14 | 17 | 18 | 21 => !protected_slot(a1),
            16 => !protected_slot(a3),
            19 => !in_pool(a2, 24) || !protected_slot(peek_u(a2) >> 32),
            15 => {
                if !self.may_name_me(a2) {
                    return true;
                }
                if !in_pool(a3, 32) {
                    return true;
                }
                range_harmless(peek_u(a3 + 8), peek_u(a3 + 16))
            }
            65 | 67 | 68 => {
                if !self.cap_is_me(a1) {
                    return true;
                }
                if !in_pool(a2, 48) {
                    return true;
                }
                let options = peek_u(a2 + 16);
                if num == 65 && options == K_FREEALL {
                    return false;
                }
                range_harmless(peek_u(a2), peek_u(a2 + 8))
            }
            72 => !self.cap_is_me(a1),
            _ => true,
        }
    }

    /// Runs `n` random calls, checking each return; every 128 calls checks
    /// the kernel is alive and refreshes some pool slots.
    fn run(&mut self, n: u64) {
        for i in 0..n {
            let mut a = self.call();
            if a[0] == JINUE_SYS_PUTS && in_pool(a[2], 1) {
                // Printable text only, so that the console stays readable.
                a[2] = TEXT + (a[2] % 64);
            }
            // Copies of descriptors the fuzzer did not make (the main
            // thread's, the runtime's) could let AWAIT_THREAD wait for a
            // thread that waits for this one: every thread parked, and the
            // kernel powers off ("deadlock: no thread can run").
            let copies_foreign = (a[0] == JINUE_SYS_DUP && protected_slot(a[2]))
                || (a[0] == JINUE_SYS_MINT && protected_slot(a[1]));
            if copies_foreign {
                self.skipped += 1;
                continue;
            }
            if !self.reckless && !self.harmless(&mut a) {
                self.skipped += 1;
                continue;
            }
            if a[0] == JINUE_SYS_EXIT_THREAD
                || (self.reckless && a[0] == 72 && a[1] == K_MYACTOR && i < n / 2)
            {
                self.skipped += 1;
                continue;
            }
            let via_int = self.rng.chance(1, 2);
            let p = checked_call(a, via_int);
            self.calls += 1;
            if let Some(why) = check_return(&p, a[0]) {
                self.bad += 1;
                if self.first_bad.is_none() {
                    self.first_bad = Some((a, p, why));
                }
                if self.report != 0 && self.bad == 1 {
                    for k in 0..4 {
                        poke(self.report + R_BAD_ARGS + 8 * k, a[k as usize]);
                        poke(self.report + R_BAD_ARGS + 32 + 8 * k, p.args[k as usize]);
                    }
                    let idx = WHY.iter().position(|w| *w == why).unwrap_or(0);
                    poke(self.report + R_BAD_WHY, idx as u64);
                }
            }
            if a[0] == JINUE_SYS_CREATE_PROCESS && p.args[0] == 0 {
                self.remember(a[1]);
            }
            if self.report != 0 {
                poke(self.report + R_CALLS, self.calls);
                poke(self.report + R_BAD, self.bad);
            }
            if i % 128 == 127 {
                for _ in 0..8 {
                    let s = self.rng.below(POOL_BYTES / 64);
                    self.fill_slot(s);
                }
            }
        }
    }

    /// Records the capability of the process just created in slot `d`.
    fn remember(&mut self, d: u64) {
        let Ok(c) = api::actor_cap(d) else {
            return;
        };
        if self.ncaps == self.caps.len() {
            // Forget the processes that are gone (their capability is unreachable).
            let mut kept = 0;
            for k in 0..self.ncaps {
                let cap = self.caps[k];
                if stat(Actor::Cap(&cap), USER_BASE, PG).0 != Err(ChorusError::Unknown) {
                    self.caps[kept] = cap;
                    kept += 1;
                }
            }
            self.ncaps = kept;
            if self.report != 0 {
                for k in 0..kept {
                    write_cap(self.report + R_CAPS + 16 * k as u64, &self.caps[k]);
                }
            }
        }
        if self.ncaps == self.caps.len() {
            // No room to remember it: do not let it become an orphan.
            let _ = api::destroy(d);
            return;
        }
        self.caps[self.ncaps] = c;
        if self.report != 0 {
            write_cap(self.report + R_CAPS + 16 * self.ncaps as u64, &c);
        }
        self.ncaps += 1;
        if self.report != 0 {
            poke(self.report + R_NCAPS, self.ncaps as u64);
        }
    }

    /// Destroys and closes everything in the fuzz slots, deletes every
    /// process the stream made, and frees the memory it mapped.
    fn cleanup(&mut self) {
        for d in FUZZ_LO..FUZZ_LO + FUZZ_N {
            let _ = api::destroy(d);
            let _ = api::close(d);
        }
        for c in &self.caps[..self.ncaps] {
            let _ = api::actor_delete(Actor::Cap(c));
        }
        self.ncaps = 0;
        self.unmap();
    }
}

/// Messages of [`check_return`], so a child can report one by index.
const WHY: [&str; 16] = [
    "?",
    "rbx",
    "rbp",
    "rcx",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "xmm0",
    "xmm8",
    "xmm15",
    "see the child's console line",
];

/// Frees every region of the own process that is not in `keep` (regions a
/// random call allocated at a random address).
fn free_strays(keep: &[(u64, u64)]) {
    loop {
        let mut st = [abi::types::KnRgnStat::default(); 64];
        let Ok(n) = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st)
        else {
            return;
        };
        let mut freed = false;
        for s in &st[..(n as usize).min(64)] {
            let kept = keep
                .iter()
                .any(|&(a, l)| a <= s.startAddr && s.startAddr + s.size <= a + l);
            if !kept {
                freed |= api::rgn_free(Actor::Me, &rgn(s.startAddr, s.size, 0)).is_ok();
            }
        }
        if !freed {
            return;
        }
    }
}

/// The own regions above the low reservation now: (start, size), up to 64.
fn own_regions() -> ([(u64, u64); 64], usize) {
    let mut st = [abi::types::KnRgnStat::default(); 64];
    let mut out = [(0, 0); 64];
    let n = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st).unwrap_or(0)
        as usize;
    for (o, s) in out.iter_mut().zip(st.iter()).take(n.min(64)) {
        *o = (s.startAddr, s.size);
    }
    (out, n.min(64))
}

fn dump_regions() {
    let mut st = [abi::types::KnRgnStat::default(); 64];
    let n = api::rgn_stat(Actor::Me, &rgn(LOW_END, USER_LIMIT - LOW_END, 0), &mut st).unwrap_or(0);
    for s in &st[..(n as usize).min(64)] {
        println!(
            "    region {:#x} +{:#x} {:#x} resident {}",
            s.startAddr, s.size, s.options, s.resident
        );
    }
}

fn report_bad(c: &mut Case, f: &Fuzzer, seed: u64) {
    if let Some((a, p, why)) = f.first_bad {
        c.fail(
            file!(),
            line!(),
            format_args!(
                "seed {seed:#x}: {} bad returns; first: call {:#x}({:#x}, {:#x}, {:#x}) -> ({:#x}, {:#x}, {:#x}, {:#x}): {why}",
                f.bad, a[0], a[1], a[2], a[3], p.args[0], p.args[1], p.args[2], p.args[3]
            ),
        );
    }
}

/// Touches 160 KiB of the calling thread's stack (the cases here run deep),
/// so that MEMSTAT comparisons do not count stack pages first touched later.
#[inline(never)]
fn touch_deep() {
    let mut buf = [0u8; 160 * 1024];
    for i in (0..buf.len()).step_by(PG as usize) {
        // SAFETY: `buf` is a live local; the volatile write keeps it.
        unsafe { core::ptr::write_volatile(&mut buf[i], 1) };
    }
    core::hint::black_box(&buf);
}

fn alive(c: &mut Case) {
    let m = api::memstat();
    check!(
        c,
        m.is_ok_and(|m| m.page_size == PG),
        "MEMSTAT after the batch: {:?}",
        m
    );
    let r = Region::anywhere(2, K_WRITABLE);
    check!(
        c,
        r.is_ok(),
        "RGN_ALLOCATE after the batch: {:?}",
        r.as_ref().err()
    );
    if let Ok(r) = r {
        poke(r.page(1), 0x5a5a);
        check_eq!(c, peek(r.page(1)), 0x5a5a, "a fresh region works");
    }
}

// ---------------------------------------------------------------------------
// Case 1: random raw calls in the init process

/// `soak BASE`: the random cases use 40 seeds from BASE instead of their own.
static SOAK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The seeds a random case runs: its fixed ones, or the soak seeds.
fn seeds(fixed: &'static [u64]) -> impl Iterator<Item = u64> {
    let soak = SOAK.load(core::sync::atomic::Ordering::Relaxed);
    let n = if soak == 0 { fixed.len() } else { 40 };
    (0..n).map(move |k| {
        if soak == 0 {
            fixed[k]
        } else {
            soak.wrapping_add(k as u64 * 0x9e37_79b9)
        }
    })
}

const RAW_SEEDS: [u64; 6] = [
    0x5eed_0001,
    0x5eed_0002,
    0xfe44_17e0,
    0x0bad_cafe,
    0x1234_5678,
    0x7777_0007,
];
const RAW_CALLS: u64 = 10_000;

fn raw_calls(c: &mut Case) {
    touch_deep();
    let base = usage();
    let (keep, nkeep) = own_regions();
    let room = process_room();
    for seed in seeds(&RAW_SEEDS) {
        println!("    fuzz::raw_calls: seed {seed:#x}, {RAW_CALLS} calls");
        let mut f = Fuzzer::new(seed, false, 0);
        if let Err(e) = f.map() {
            c.fail(file!(), line!(), format_args!("cannot map the pool: {e:?}"));
            return;
        }
        f.run(RAW_CALLS);
        report_bad(c, &f, seed);
        f.cleanup();
        free_strays(&keep[..nkeep]);
        println!(
            "    fuzz::raw_calls: seed {seed:#x}: {} calls, {} skipped as self-harm, {} bad",
            f.calls, f.skipped, f.bad
        );
        alive(c);
        // Per seed, so that a leak names its seed.
        check_eq!(c, usage(), base, "MEMSTAT after seed {:#x}", seed);
        check_eq!(
            c,
            process_room(),
            room,
            "process room after seed {:#x}",
            seed
        );
        if !c.ok() {
            break;
        }
    }
    if usage() != base {
        dump_regions();
    }
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline after the random calls"
    );
}

// ---------------------------------------------------------------------------
// Faulting instructions

/// What a fault kind must do to its thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// The kernel kills the thread (AWAIT_THREAD = 1).
    Kill,
    /// It may or may not fault (CPU or emulator dependent); either way no panic.
    Either,
    /// A legitimate instruction sequence: the thread goes on and exits (0).
    Run,
}
use Expect::{Either, Kill, Run};

const FAULTS: [(&str, Expect); 60] = [
    ("ud2", Kill),
    ("hlt", Kill),
    ("cli", Kill),
    ("in", Kill),
    ("out 0xf4 (isa-debug-exit)", Kill),
    ("rdmsr", Kill),
    ("wrmsr", Kill),
    ("mov cr3", Kill),
    ("lgdt", Kill),
    ("invlpg", Kill),
    ("swapgs", Kill),
    ("sysretq", Kill),
    ("int3", Kill),
    ("icebp", Kill),
    ("div by 0", Kill),
    ("idiv overflow", Kill),
    ("read kernel", Kill),
    ("write kernel", Kill),
    ("read non-canonical", Kill),
    ("jmp non-canonical", Kill),
    ("jmp kernel", Kill),
    ("jmp 0", Kill),
    ("push, rsp in kernel", Kill),
    ("push, rsp non-canonical", Kill),
    ("call, rsp 0", Kill),
    ("write text", Kill),
    ("exec stack", Kill),
    ("TF then nop", Kill),
    ("TF then syscall", Kill),
    ("TF, mov ss, int 0x80", Kill),
    ("TF, mov ss, syscall", Kill),
    ("ldmxcsr reserved", Either),
    ("unmasked SSE div 0", Either),
    ("sysenter", Kill),
    ("mov ds, bad selector", Kill),
    ("lretq to ring 0", Kill),
    ("iretq to ring 0", Kill),
    ("mov dr7", Kill),
    ("AC + misaligned", Either),
    ("x87 unmasked div 0, syscall, fwait", Either),
    ("iretq to ring 3 (legitimate)", Run),
    ("retfq to ring 3 (legitimate)", Run),
    ("retfq, null selector", Kill),
    ("retfq, selector beyond the GDT", Kill),
    ("retfq, data selector", Kill),
    ("retfq, TSS selector", Kill),
    ("retfq, kernel code selector with RPL 3", Kill),
    ("retfq to ring 3, non-canonical rip", Kill),
    ("iretq to ring 3, null SS", Kill),
    ("iretq with NT set", Kill),
    ("into (invalid in 64-bit mode)", Kill),
    ("lcall to ring 0", Kill),
    ("lcall and retfq in ring 3 (legitimate)", Run),
    ("lcall and retfq, untouched stack page (legitimate)", Run),
    ("syscall with rsp in the kernel half", Run),
    ("syscall with rsp non-canonical", Run),
    ("syscall with rsp 0", Run),
    ("int 0x80 with rsp in the kernel half", Kill),
    ("syscall with every register garbage", Run),
    ("int 0x80 with rsp 0", Kill),
];

#[inline(never)]
fn do_fault(kind: usize) {
    let yield_nr = JINUE_SYS_YIELD_THREAD;
    let mut local = [0u8; 32];
    core::hint::black_box(&mut local);
    let stack_code = local.as_ptr() as u64;
    // SAFETY: each instruction sequence deliberately traps in ring 3 (or, for
    // the `Either` and `Run` kinds, may run on harmlessly); the kernel kills
    // this thread, which owns nothing the rest of the program uses.
    unsafe {
        match kind {
            0 => core::arch::asm!("ud2"),
            1 => core::arch::asm!("hlt"),
            2 => core::arch::asm!("cli"),
            3 => core::arch::asm!("in al, dx", out("al") _, in("dx") 0x3f8u16),
            4 => core::arch::asm!("out dx, al", in("al") 0u8, in("dx") 0xf4u16),
            5 => core::arch::asm!("rdmsr", in("ecx") 0xc000_0080u32, out("eax") _, out("edx") _),
            6 => {
                core::arch::asm!("wrmsr", in("ecx") 0xc000_0100u32, in("eax") 0u32, in("edx") 0u32)
            }
            7 => core::arch::asm!("mov cr3, {}", in(reg) 0u64),
            8 => core::arch::asm!("lgdt [{}]", in(reg) stack_code),
            9 => core::arch::asm!("invlpg [{}]", in(reg) stack_code),
            10 => core::arch::asm!("swapgs"),
            11 => core::arch::asm!("sysretq"),
            12 => core::arch::asm!("int3"),
            13 => core::arch::asm!(".byte 0xf1"),
            14 => {
                core::arch::asm!("div {d}", d = in(reg) 0u64, inout("rax") 1u64 => _, inout("rdx") 0u64 => _)
            }
            15 => {
                core::arch::asm!("idiv {d}", d = in(reg) -1i64, inout("rax") i64::MIN => _, inout("rdx") -1i64 => _)
            }
            16 => {
                core::ptr::read_volatile(0xffff_8000_0010_0000 as *const u64);
            }
            17 => core::ptr::write_volatile(0xffff_8000_0010_0000 as *mut u64, 1),
            18 => {
                core::ptr::read_volatile(0x0000_8000_0000_0000 as *const u64);
            }
            19 => core::arch::asm!("jmp {}", in(reg) 0x0000_8000_0000_0000u64),
            20 => core::arch::asm!("jmp {}", in(reg) 0xffff_8000_0010_0000u64),
            21 => core::arch::asm!("jmp {}", in(reg) 0u64),
            22 => core::arch::asm!("mov rsp, {}", "push rax", in(reg) 0xffff_8000_0010_0000u64),
            23 => core::arch::asm!("mov rsp, {}", "push rax", in(reg) 0x1234_0000_0000_0000u64),
            24 => core::arch::asm!("xor esp, esp", "call 2f", "2:"),
            25 => core::ptr::write_volatile(do_fault as *const () as *mut u8, 0xcc),
            26 => core::arch::asm!("call {}", in(reg) stack_code),
            27 => core::arch::asm!(
                "pushfq",
                "or qword ptr [rsp], 0x100",
                "popfq",
                "nop",
                "nop",
                "nop"
            ),
            28 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "syscall", "nop", "nop",
                inout("rax") yield_nr => _, out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            29 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "mov {s:x}, ss", "mov ss, {s:x}", "int 0x80", "nop",
                s = out(reg) _, inout("rax") yield_nr => _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            30 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "mov {s:x}, ss", "mov ss, {s:x}", "syscall", "nop",
                s = out(reg) _, inout("rax") yield_nr => _, out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            31 => {
                local[..4].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
                core::arch::asm!("ldmxcsr [{}]", in(reg) stack_code);
            }
            32 => {
                // Unmask every SIMD exception, then divide by zero.
                local[..4].copy_from_slice(&0x0000_0000u32.to_le_bytes());
                core::arch::asm!(
                    "ldmxcsr [{p}]", "xorps xmm1, xmm1", "mov {t}, 1", "cvtsi2ss xmm2, {t}", "divss xmm2, xmm1",
                    p = in(reg) stack_code, t = out(reg) _, out("xmm1") _, out("xmm2") _,
                );
            }
            33 => core::arch::asm!("sysenter"),
            34 => core::arch::asm!("mov ds, {:x}", in(reg) 0x2bu16),
            35 => {
                core::arch::asm!("push 0x08", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            36 => core::arch::asm!(
                "mov rax, rsp", "push 0x10", "push rax", "pushfq", "push 0x08", "lea rax, [rip]", "push rax", "iretq",
                out("rax") _,
            ),
            37 => core::arch::asm!("mov dr7, {}", in(reg) 0x1u64),
            38 => core::arch::asm!(
                "pushfq", "or dword ptr [rsp], 0x40000", "popfq", "mov {t}, [{p} + 1]", "mov {t}, [{p} + 3]",
                "pushfq", "and dword ptr [rsp], 0xfffbffff", "popfq",
                p = in(reg) stack_code, t = out(reg) _,
            ),
            40 => core::arch::asm!(
                "mov {t}, rsp", "push 0x1b", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            41 => core::arch::asm!(
                "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "retfq", "2:",
                t = out(reg) _,
            ),
            39 => {
                // x87 control word with every exception unmasked.
                local[..2].copy_from_slice(&0x0340u16.to_le_bytes());
                core::arch::asm!(
                    "fninit", "fldcw [{p}]", "fld1", "fldz", "fdivp", "syscall", "fwait", "fninit",
                    p = in(reg) stack_code, inout("rax") yield_nr => _, out("rcx") _, out("r11") _,
                    out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            // Far returns with a bad return selector: #GP(selector) (Intel SDM
            // vol. 2 RET, IRET); under QEMU TCG up to 9.0 the frame is popped
            // with supervisor accesses first (the #PF livelock under SMAP).
            42 => core::arch::asm!("push 0", "lea rax, [rip]", "push rax", "retfq", out("rax") _),
            43 => {
                core::arch::asm!("push 0x103", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            44 => {
                core::arch::asm!("push 0x1b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            45 => {
                core::arch::asm!("push 0x2b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            46 => {
                core::arch::asm!("push 0x0b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            47 => core::arch::asm!(
                "push 0x23", "mov rax, 0x0000800000000000", "push rax", "retfq",
                out("rax") _,
            ),
            48 => core::arch::asm!(
                "mov {t}, rsp", "push 0", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            49 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x4000", "popfq",
                "mov {t}, rsp", "push 0x1b", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            50 => core::arch::asm!(".byte 0xce"),
            // lcall m16:64 through [rdi] (REX.W FF /3).
            51 => {
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x08",
                    ".byte 0x48, 0xff, 0x1f", "2:",
                    t = out(reg) _, in("rdi") p,
                );
            }
            52 => {
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x23",
                    ".byte 0x48, 0xff, 0x1f", "jmp 3f", "2:", "retfq", "3:",
                    t = out(reg) _, in("rdi") p,
                );
            }
            // The same with the stack on a demand-zero page nothing touched
            // yet: the far CALL's own pushes map it.
            // SYSCALL does not switch stacks: the kernel must never use the
            // user's rsp. INT does switch (ring 0 stack from the TSS), but
            // the CPU pushes the user frame only after the switch; with a
            // bad user rsp the thread just returns to a bad stack, and its
            // next use of it faults (the `Kill` kinds).
            54..=56 => {
                let sp = [0xffff_8000_0010_0000u64, 0x0123_4567_89ab_cdef, 0][kind - 54];
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {sp}", "syscall", "mov rsp, {s}",
                    s = out(reg) _, sp = in(reg) sp, inout("rax") yield_nr => _,
                    out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            57 | 59 => {
                let sp = if kind == 57 {
                    0xffff_8000_0010_0000u64
                } else {
                    0
                };
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {sp}", "int 0x80", "push rax", "mov rsp, {s}",
                    s = out(reg) _, sp = in(reg) sp, inout("rax") yield_nr => _,
                    out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            58 => core::arch::asm!(
                "push rbx", "push rbp", "mov r12, rsp",
                "mov rbx, -1", "mov rbp, -1", "mov r8, -1", "mov r9, -1", "mov r10, -1",
                "mov rsp, -1", "syscall", "mov rsp, r12", "pop rbp", "pop rbx",
                out("r12") _, inout("rax") yield_nr => _, out("rcx") _, out("r11") _,
                out("rdi") _, out("rsi") _, out("rdx") _, out("r8") _, out("r9") _, out("r10") _,
            ),
            53 => {
                let Ok(page) = Region::anywhere(1, K_WRITABLE) else {
                    return;
                };
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {top}",
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x23",
                    ".byte 0x48, 0xff, 0x1f", "jmp 3f", "2:", "retfq", "3:",
                    "mov rsp, {s}",
                    s = out(reg) _, t = out(reg) _, top = in(reg) page.addr() + PG, in("rdi") p,
                );
                drop(page);
            }
            _ => {}
        }
    }
    core::hint::black_box(&local);
}

/// Executes `int vector` (through the stub table).
fn int_n(vector: u64) {
    let stub = fuzz_int_table as *const () as u64 + 4 * vector;
    // SAFETY: the stub is `int N; ret`; the interrupt either traps (the
    // kernel kills this thread) or, for 0x80, is a system call with whatever
    // rax holds, which the clobbers cover.
    unsafe {
        core::arch::asm!("call {s}", s = in(reg) stub, inout("rax") JINUE_SYS_YIELD_THREAD => _, clobber_abi("C"));
    }
}

/// Yields the parent gives a child's faulting thread before calling it stuck.
const STUCK_YIELDS: u64 = 400;

/// Runs fault kind `k` on a thread of a forked child, so that a thread the
/// kernel neither kills nor lets progress cannot hang the program: the
/// child's AWAIT_THREAD value (0 or 1), or `Err(what)`.
fn fault_in_child(k: usize, flag: u64) -> Result<u64, &'static str> {
    poke(flag, u64::MAX);
    match fork_with(0) {
        Ok(Fork::Child) => {
            let r = on_thread(|| do_fault(k));
            poke(flag, r.unwrap_or(2));
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            let mut n = 0;
            while peek(flag) == u64::MAX && n < STUCK_YIELDS {
                api::yield_thread();
                n += 1;
            }
            let v = peek(flag);
            if v == u64::MAX {
                let _ = api::destroy(child.process);
                let _ = child.wait();
                return Err("stuck: neither killed nor finished (livelock)");
            }
            let _ = child.wait();
            match v {
                0 | 1 => Ok(v),
                _ => Err("the child could not run a thread"),
            }
        }
        Err(_) => Err("fork failed"),
    }
}

fn arch_faults(c: &mut Case) {
    touch_deep();
    let base = usage();
    let flag = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
    let Ok(flag) = flag else {
        return c.fail(
            file!(),
            line!(),
            format_args!("shared page: {:?}", flag.err()),
        );
    };
    for (k, &(name, expect)) in FAULTS.iter().enumerate() {
        let r = fault_in_child(k, flag.addr());
        match expect {
            Kill => check_eq!(c, r, Ok(1), "fault '{}' kills the thread", name),
            Run => check_eq!(c, r, Ok(0), "'{}' runs on", name),
            Either => check!(c, r == Ok(0) || r == Ok(1), "'{}': {:?}", name, r),
        }
    }
    drop(flag);
    for v in 0..=255u64 {
        let r = on_thread(|| int_n(v));
        let want = if v == 0x80 { 0 } else { 1 };
        check_eq!(c, r, Some(want), "int {:#x}", v);
    }
    // The last bytes of user space: the instruction after them is at USER_LIMIT.
    let last = USER_LIMIT - PG;
    let mapped = api::rgn_allocate(Actor::Me, &mut rgn(last, PG, K_WRITABLE | K_EXECUTABLE));
    check_eq!(c, mapped, Ok(()), "the last user page");
    if mapped.is_ok() {
        for (name, code) in [
            ("syscall", [0x0fu8, 0x05]),
            ("int 0x80", [0xcd, 0x80]),
            ("nop; nop", [0x90, 0x90]),
        ] {
            poke8(USER_LIMIT - 2, code[0]);
            poke8(USER_LIMIT - 1, code[1]);
            let r = on_thread(|| {
                // SAFETY: jumps to the two bytes at the top of user space;
                // the thread cannot continue past USER_LIMIT and is killed.
                unsafe {
                    core::arch::asm!("jmp {t}", t = in(reg) USER_LIMIT - 2, in("rax") JINUE_SYS_YIELD_THREAD, options(noreturn));
                }
            });
            check_eq!(c, r, Some(1), "'{}' at USER_LIMIT - 2", name);
        }
        check_eq!(c, api::rgn_free(Actor::Me, &rgn(last, PG, 0)), Ok(()));
    }
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

// ---------------------------------------------------------------------------
// Case 2: children that fuzz recklessly, with faulting threads

const CHILD_SEEDS: [u64; 10] = [
    0xc41d_0001,
    0xc41d_0002,
    0xc41d_0003,
    0xc41d_0004,
    0xc41d_0005,
    0xc41d_0006,
    0xc41d_0007,
    0xc41d_0008,
    0xc41d_0009,
    0xc41d_000a,
];
const CHILD_CALLS: u64 = 4000;

/// Where the child's second stream reports, inside the shared page.
const HELPER_REPORT: u64 = 2048;
/// Set by the parent once the report page is shared with the child.
const R_GO: u64 = 104;

/// The body of a forked child: faulting threads, a second fuzzing thread,
/// then random calls that end up hurting the child itself.
fn child_body(seed: u64, report: u64) -> ! {
    // With fork flags K_INHERITCOPY the page is a private copy until the
    // parent MCLONEs the shared one over it.
    while peek(report + R_GO) == 0 {
        api::yield_thread();
    }
    let mut rng = Rng(seed ^ 0xdead_beef);
    let mut f = Fuzzer::new(seed, false, report);
    if f.map().is_err() {
        poke(report + R_DONE, 2);
        api::exit_thread();
    }
    for _ in 0..3 {
        let k = rng.below(FAULTS.len() as u64) as usize;
        let v = rng.below(256);
        let _ = ferrite_rt::thread::spawn(move || {
            if v.is_multiple_of(2) {
                do_fault(k);
            } else if v != 0x80 {
                int_n(v);
            }
        });
    }
    let _ = ferrite_rt::thread::spawn(move || {
        let mut h = Fuzzer::new(seed ^ 0x1234, false, report + HELPER_REPORT);
        h.run(CHILD_CALLS / 4);
    });
    // Careful first, then reckless: the child may free or protect its own memory.
    f.run(CHILD_CALLS / 2);
    poke(report + R_DONE, 1);
    f.reckless = true;
    f.run(CHILD_CALLS / 2);
    poke(report + R_DONE, 3);
    api::exit_thread()
}

/// Checks one stream's report in the shared page and deletes the processes it made.
fn read_report(c: &mut Case, seed: u64, rep: u64) -> u64 {
    let calls = peek(rep + R_CALLS);
    let bad = peek(rep + R_BAD);
    if bad != 0 {
        let w = |k: u64| peek(rep + R_BAD_ARGS + 8 * k);
        c.fail(
            file!(),
            line!(),
            format_args!(
                "child seed {seed:#x}: {bad} bad returns; first: call {:#x}({:#x}, {:#x}, {:#x}) -> ({:#x}, {:#x}, {:#x}, {:#x}) {}",
                w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7),
                WHY[(peek(rep + R_BAD_WHY) as usize).min(WHY.len() - 1)]
            ),
        );
    }
    let n = peek(rep + R_NCAPS).min(64);
    for k in 0..n {
        let cap = read_cap(rep + R_CAPS + 16 * k);
        let _ = api::actor_delete(Actor::Cap(&cap));
    }
    calls
}

fn children(c: &mut Case) {
    touch_deep();
    let base = usage();
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
    let Ok(shared) = shared else {
        return c.fail(
            file!(),
            line!(),
            format_args!("shared page: {:?}", shared.err()),
        );
    };
    let rep = shared.addr();
    let mut ran = 0;
    for (i, seed) in seeds(&CHILD_SEEDS).enumerate() {
        for w in 0..(PG / 8) {
            poke(rep + 8 * w, 0);
        }
        let flags = if i % 2 == 0 { 0 } else { K_INHERITCOPY };
        match fork_with(flags) {
            Ok(Fork::Child) => child_body(seed, rep),
            Ok(Fork::Parent(child)) => {
                ran += 1;
                if flags == K_INHERITCOPY {
                    let r = api::mclone_range(
                        ferrite_rt::thread::SELF,
                        child.process,
                        rep,
                        rep,
                        PG,
                        JINUE_PROT_READ | JINUE_PROT_WRITE,
                    );
                    check_eq!(
                        c,
                        r,
                        Ok(()),
                        "MCLONE of the report page into the running child"
                    );
                }
                poke(rep + R_GO, 1);
                let r = api::await_thread(child.thread);
                check!(
                    c,
                    matches!(r, Ok(0) | Ok(1)),
                    "child {seed:#x}: AWAIT_THREAD {:?}",
                    r
                );
                let d = api::destroy(child.process);
                check!(
                    c,
                    d.is_ok() || d == Err(JinueError::Io),
                    "child {seed:#x}: DESTROY {:?}",
                    d
                );
                child.release();
                let calls = read_report(c, seed, rep);
                let helper = read_report(c, seed ^ 0x1234, rep + HELPER_REPORT);
                println!(
                    "    fuzz::children: seed {seed:#x} (fork flags {flags:#x}): {calls} + {helper} calls, stage {}",
                    peek(rep + R_DONE)
                );
                check!(c, calls > 0, "child {seed:#x} made no call");
            }
            // Out of memory on a small machine is the documented answer,
            // not a failure (the leak checks still apply).
            Err(ferrite_rt::Error::Chorus(ChorusError::NoMem))
            | Err(ferrite_rt::Error::Jinue(JinueError::Again))
            | Err(ferrite_rt::Error::Jinue(JinueError::NoMem)) => {
                println!("    fuzz::children: seed {seed:#x}: fork refused for lack of memory");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    }
    drop(shared);
    check!(c, ran > 0, "no child could be forked");
    alive(c);
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline after the children died"
    );
}

// ---------------------------------------------------------------------------
// Case 3: exhaustion

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

fn drop_processes(n: u64) {
    for d in FILL_LO..FILL_LO + n {
        let _ = api::destroy(d);
        let _ = api::close(d);
    }
}

/// How many processes can still be created (the kernel's limit minus the live ones).
fn process_room() -> (u64, Option<JinueError>) {
    let r = fill_processes();
    drop_processes(r.0);
    r
}

/// How many threads can still be created (in a scratch process).
fn thread_room() -> (u64, Option<JinueError>) {
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

fn exhaustion(c: &mut Case) {
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

// ---------------------------------------------------------------------------
// Case 4: descriptor churn against a model

const NS: usize = 12;
const MAXP: usize = 48;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Obj {
    Proc(usize),
    Thread,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct D {
    obj: Obj,
    owner: bool,
    perms: u32,
}

/// `Proc(usize::MAX)` stands for the init process itself (descriptor 0).
const SELF_PROC: usize = usize::MAX;

struct Model {
    /// Init's slots FUZZ_LO..FUZZ_LO + NS.
    init: [Option<D>; NS],
    /// Child processes: alive, capability, their table slots 0..NS.
    procs: [(bool, KnCap, [Option<D>; NS]); MAXP],
    nprocs: usize,
    threads: usize,
}

impl Model {
    fn slot(&self, s: usize) -> Option<D> {
        self.init[s]
    }

    fn alive(&self, o: Obj) -> bool {
        match o {
            Obj::Proc(SELF_PROC) => true,
            Obj::Proc(i) => self.procs[i].0,
            Obj::Thread => true,
        }
    }

    /// Init's descriptor for a target process: slot index or None for "0 (self)".
    fn target(&self, t: Option<usize>) -> Result<(Obj, u32), JinueError> {
        match t {
            None => Ok((Obj::Proc(SELF_PROC), PROCESS_PERMS)),
            Some(s) => match self.slot(s) {
                None => Err(JinueError::BadF),
                Some(D {
                    obj: Obj::Thread, ..
                }) => Err(JinueError::BadF),
                Some(d) if !self.alive(d.obj) => Err(JinueError::Io),
                Some(d) => Ok((d.obj, d.perms)),
            },
        }
    }

    fn table_mut(&mut self, p: Obj) -> Option<&mut [Option<D>; NS]> {
        match p {
            Obj::Proc(SELF_PROC) => Some(&mut self.init),
            Obj::Proc(i) => Some(&mut self.procs[i].2),
            Obj::Thread => None,
        }
    }
}

fn jerr<T>(r: Result<T, JinueError>) -> Result<(), JinueError> {
    r.map(drop)
}

fn descriptor_churn(c: &mut Case) {
    touch_deep();
    let base = usage();
    let seed = 0xde5c_0001u64;
    println!("    fuzz::descriptor_churn: seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut m = Model {
        init: [None; NS],
        procs: [(false, KnCap::default(), [None; NS]); MAXP],
        nprocs: 0,
        threads: 0,
    };
    let num = |s: usize| FUZZ_LO + s as u64;
    let mut ops = [0u32; 8];
    for step in 0..20_000u32 {
        let s = rng.below(NS as u64) as usize;
        let op = rng.below(8) as usize;
        let (got, want, what): (Result<(), JinueError>, Result<(), JinueError>, &str) = match op {
            0 => {
                let live = m.procs[..m.nprocs].iter().filter(|p| p.0).count();
                if m.nprocs >= MAXP || live >= 8 {
                    continue;
                }
                let want = if m.init[s].is_some() {
                    Err(JinueError::BadF)
                } else {
                    Ok(())
                };
                let got = api::create_process(num(s));
                if got.is_ok() && want.is_ok() {
                    let i = m.nprocs;
                    m.nprocs += 1;
                    m.procs[i] = (true, api::actor_cap(num(s)).unwrap_or_default(), [None; NS]);
                    m.init[s] = Some(D {
                        obj: Obj::Proc(i),
                        owner: true,
                        perms: PROCESS_PERMS,
                    });
                }
                (got, want, "CREATE_PROCESS")
            }
            1 => {
                let want = match m.slot(s) {
                    None => Err(JinueError::BadF),
                    Some(_) => Ok(()),
                };
                let got = api::close(num(s));
                if got.is_ok() {
                    m.init[s] = None;
                }
                (got, want, "CLOSE")
            }
            2 => {
                let want = match m.slot(s) {
                    None => Err(JinueError::BadF),
                    Some(D {
                        obj: Obj::Thread,
                        owner,
                        ..
                    }) => {
                        if owner {
                            Err(JinueError::BadF)
                        } else {
                            Err(JinueError::Perm)
                        }
                    }
                    Some(d) if !m.alive(d.obj) => Err(JinueError::Io),
                    Some(d) if !d.owner => Err(JinueError::Perm),
                    Some(_) => Ok(()),
                };
                let got = api::destroy(num(s));
                if got.is_ok() {
                    if let Some(D {
                        obj: Obj::Proc(i), ..
                    }) = m.init[s]
                    {
                        m.procs[i].0 = false;
                        m.procs[i].2 = [None; NS];
                    }
                }
                (got, want, "DESTROY")
            }
            3 | 4 => {
                // MINT from slot s into a target (self or a slot), at fd.
                let t = if rng.chance(1, 3) {
                    None
                } else {
                    Some(rng.below(NS as u64) as usize)
                };
                let fd = rng.below(NS as u64) as usize;
                let perms = if rng.chance(1, 6) {
                    rng.below(128) as u32
                } else {
                    let set = match m.slot(s) {
                        Some(D {
                            obj: Obj::Thread, ..
                        }) => THREAD_PERMS,
                        _ => PROCESS_PERMS,
                    };
                    let p = rng.next() as u32 & set;
                    if p == 0 {
                        set
                    } else {
                        p
                    }
                };
                let want = (|| {
                    let d = m.slot(s).ok_or(JinueError::BadF)?;
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if !d.owner {
                        return Err(JinueError::Perm);
                    }
                    let set = match d.obj {
                        Obj::Thread => THREAD_PERMS,
                        Obj::Proc(_) => PROCESS_PERMS,
                    };
                    if perms == 0 || perms & !set != 0 {
                        return Err(JinueError::Inval);
                    }
                    let (tobj, tperms) = m.target(t)?;
                    if tperms & JINUE_PERM_OPEN == 0 {
                        return Err(JinueError::Perm);
                    }
                    let table = m.table_mut(tobj).ok_or(JinueError::BadF)?;
                    if table[fd].is_some() {
                        return Err(JinueError::BadF);
                    }
                    Ok(())
                })();
                let tnum = t.map_or(0, num);
                let (tobj, _) = m.target(t).unwrap_or((Obj::Thread, 0));
                let fdnum = if tobj == Obj::Proc(SELF_PROC) {
                    num(fd)
                } else {
                    fd as u64
                };
                let got = api::mint_into(num(s), tnum, fdnum, perms, 0);
                if got.is_ok() {
                    let obj = m.init[s].map(|d| d.obj).unwrap_or(Obj::Thread);
                    if let Some(table) = m.table_mut(tobj) {
                        table[fd] = Some(D {
                            obj,
                            owner: false,
                            perms,
                        });
                    }
                }
                (got, want, "MINT")
            }
            5 => {
                // DUP init's slot s into a target at fd.
                let t = if rng.chance(1, 3) {
                    None
                } else {
                    Some(rng.below(NS as u64) as usize)
                };
                let fd = rng.below(NS as u64) as usize;
                let want = (|| {
                    let (tobj, tperms) = m.target(t)?;
                    let d = m.slot(s).ok_or(JinueError::BadF)?;
                    if d.owner {
                        return Err(JinueError::BadF);
                    }
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if tperms & JINUE_PERM_OPEN == 0 {
                        return Err(JinueError::Perm);
                    }
                    let table = m.table_mut(tobj).ok_or(JinueError::BadF)?;
                    if table[fd].is_some() {
                        return Err(JinueError::BadF);
                    }
                    Ok(())
                })();
                let tnum = t.map_or(0, num);
                let (tobj, _) = m.target(t).unwrap_or((Obj::Thread, 0));
                let fdnum = if tobj == Obj::Proc(SELF_PROC) {
                    num(fd)
                } else {
                    fd as u64
                };
                let got = api::dup(tnum, num(s), fdnum);
                if got.is_ok() {
                    let d = m.init[s];
                    if let Some(table) = m.table_mut(tobj) {
                        table[fd] = d;
                    }
                }
                (got, want, "DUP")
            }
            6 => {
                let want = match m.slot(s) {
                    None
                    | Some(D {
                        obj: Obj::Thread, ..
                    }) => Err(JinueError::BadF),
                    Some(d) if !m.alive(d.obj) => Err(JinueError::Io),
                    Some(d) if d.perms & JINUE_PERM_OPEN == 0 => Err(JinueError::Perm),
                    Some(_) => Ok(()),
                };
                let got = api::actor_cap(num(s));
                if let (
                    Ok(cap),
                    Some(D {
                        obj: Obj::Proc(i), ..
                    }),
                ) = (got, m.slot(s))
                {
                    check!(
                        c,
                        i == SELF_PROC || cap == m.procs[i].1,
                        "step {step}: ACTOR_CAP names another actor"
                    );
                }
                (jerr(got), want, "ACTOR_CAP")
            }
            _ => {
                // CREATE_THREAD into the process of slot p, new descriptor in slot s.
                if m.threads >= 40 {
                    continue;
                }
                let p = rng.below(NS as u64) as usize;
                let want = (|| {
                    if m.init[s].is_some() {
                        return Err(JinueError::BadF);
                    }
                    let d = m.slot(p).ok_or(JinueError::BadF)?;
                    if d.obj == Obj::Thread {
                        return Err(JinueError::BadF);
                    }
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if d.perms & (JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN)
                        != (JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN)
                    {
                        return Err(JinueError::Perm);
                    }
                    Ok(())
                })();
                let got = api::create_thread(num(s), num(p));
                if got.is_ok() {
                    m.threads += 1;
                    m.init[s] = Some(D {
                        obj: Obj::Thread,
                        owner: true,
                        perms: THREAD_PERMS,
                    });
                }
                (got, want, "CREATE_THREAD")
            }
        };
        ops[op] += 1;
        if got != want {
            c.fail(
                file!(),
                line!(),
                format_args!(
                    "step {step}: {what} slot {}: got {:?}, the ABI says {:?}",
                    num(s),
                    got,
                    want
                ),
            );
            break;
        }
    }
    println!("    fuzz::descriptor_churn: ops {:?}", ops);
    // Stale capabilities of destroyed processes are unreachable.
    for p in &m.procs[..m.nprocs] {
        if !p.0 {
            check_eq!(
                c,
                stat(Actor::Cap(&p.1), USER_BASE, PG).0,
                Err(ChorusError::Unknown),
                "capability of a destroyed process"
            );
        }
    }
    for s in 0..NS {
        let _ = api::destroy(num(s));
    }
    for s in 0..NS {
        let _ = api::close(num(s));
    }
    for p in &m.procs[..m.nprocs] {
        let _ = api::actor_delete(Actor::Cap(&p.1));
    }
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

// ---------------------------------------------------------------------------
// Case: memory model (sharing, copies, clones, frees, destroys; MEMSTAT)

const MM_PROCS: usize = 4;
const MM_SLOTS: usize = 6;
/// Pages between two slots (a slot's range); regions use its first MM_PAGES pages.
const MM_SLOT_PAGES: u64 = 16;
const MM_PAGES: usize = 4;
/// Where the slots lie in every process.
const MM_GRID: u64 = 0x8000_0000;
/// The own window through which the test reads and writes other processes' slots.
const MM_WINDOW: u64 = SAFE + 0x1000_0000;
/// Cell values, one `u64` each (own memory).
const MM_CELLS: u64 = SAFE + 0x2000_0000;
const MM_MAX_CELLS: u64 = 16 * 1024;
/// Descriptors of the model's processes.
const MM_D: u64 = 20;

/// One mapped page of the model: its memory ("cell") and region inherit bit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct MPage {
    cell: u64,
    inherit: u64,
}

type MSlot = [Option<MPage>; MM_PAGES];

struct Mem {
    live: [bool; MM_PROCS],
    caps: [KnCap; MM_PROCS],
    pages: [[MSlot; MM_SLOTS]; MM_PROCS],
    ncells: u64,
    value: u64,
}

fn mm_slot(slot: usize) -> u64 {
    MM_GRID + slot as u64 * MM_SLOT_PAGES * PG
}

fn mm_window(slot: usize) -> u64 {
    MM_WINDOW + slot as u64 * MM_SLOT_PAGES * PG
}

fn cell_get(cell: u64) -> u64 {
    peek(MM_CELLS + 8 * cell)
}

fn cell_set(cell: u64, v: u64) {
    poke(MM_CELLS + 8 * cell, v);
}

impl Mem {
    fn new_cell(&mut self, v: u64) -> u64 {
        let c = self.ncells.min(MM_MAX_CELLS - 1);
        self.ncells += 1;
        cell_set(c, v);
        c
    }

    fn mapped(&self, p: usize, slot: usize) -> u64 {
        self.pages[p][slot].iter().filter(|x| x.is_some()).count() as u64
    }
}

/// Maps slot `slot` of model process `p` at the own window with `prot`.
fn mm_map(p: usize, slot: usize, prot: i32) -> Result<(), JinueError> {
    api::mclone_range(
        MM_D + p as u64,
        ferrite_rt::thread::SELF,
        mm_slot(slot),
        mm_window(slot),
        MM_SLOT_PAGES * PG,
        prot,
    )
}

fn mm_unmap(slot: usize) {
    let _ = api::rgn_free(Actor::Me, &rgn(mm_window(slot), MM_SLOT_PAGES * PG, 0));
}

/// Pages mapped in `[start, start + size)` of `actor` (sum of RGN_STAT sizes).
fn mapped_pages(actor: Actor, start: u64, size: u64) -> Result<u64, ChorusError> {
    let mut st = [abi::types::KnRgnStat::default(); 16];
    let n = api::rgn_stat(actor, &rgn(start, size, 0), &mut st)?;
    Ok(st[..(n as usize).min(16)].iter().map(|s| s.size / PG).sum())
}

/// Fills all but about `spare` frames with a hog actor in descriptor `hog`.
fn hog_memory(hog: u64, spare: u64) -> Result<(), JinueError> {
    api::create_process(hog)?;
    let cap = api::actor_cap(hog)?;
    let mut at = 0x1_0000_0000u64;
    while api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, 256 * PG, 0)).is_ok() {
        at += 256 * PG;
    }
    while api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, PG, 0)).is_ok() {
        at += PG;
    }
    let mut freed = 0;
    while freed < spare && at > 0x1_0000_0000 {
        at -= PG;
        if api::rgn_free(Actor::Cap(&cap), &rgn(at, PG, 0)).is_ok() {
            freed += 1;
        }
    }
    Ok(())
}

/// Random model operations; every read compares the memory with the model.
/// With `spare`, an actor holds all but about that many frames first, so
/// that many calls fail with ENOMEM (and must change nothing).
/// In `memory_model_run`'s `spare`: the hog takes memory objects, not frames.
const OBJECTS: u64 = 1 << 63;

fn memory_model_run(c: &mut Case, seed: u64, steps: u32, spare: Option<u64>) {
    let mut rng = Rng(seed);
    const HOG: u64 = 30;
    if let Some(spare) = spare {
        let hog = if spare & OBJECTS != 0 {
            hog_objects(HOG).map(|n| {
                // Give `spare` memory objects back.
                let cap = api::actor_cap(HOG).unwrap_or_default();
                for k in 0..(spare & !OBJECTS).min(n) {
                    let _ =
                        api::rgn_free(Actor::Cap(&cap), &rgn(0x1_0000_0000 + 2 * k * PG, PG, 0));
                }
            })
        } else {
            hog_memory(HOG, spare)
        };
        if let Err(e) = hog {
            return c.fail(file!(), line!(), format_args!("hog: {e:?}"));
        }
    }
    let pressure = spare.is_some();
    let mut m = Mem {
        live: [false; MM_PROCS],
        caps: [KnCap::default(); MM_PROCS],
        pages: [[[None; MM_PAGES]; MM_SLOTS]; MM_PROCS],
        ncells: 0,
        value: seed << 16,
    };
    let mut ops = [0u32; 11];
    let mut nomem = 0u32;
    for step in 0..steps {
        if m.ncells >= MM_MAX_CELLS {
            break;
        }
        let p = rng.below(MM_PROCS as u64) as usize;
        let slot = rng.below(MM_SLOTS as u64) as usize;
        let d = MM_D + p as u64;
        let op = rng.below(11) as usize;
        if !m.live[p] && op != 0 {
            continue;
        }
        ops[op] += 1;
        match op {
            0 => {
                if m.live[p] {
                    continue;
                }
                match api::create_process(d) {
                    Ok(()) => {
                        m.live[p] = true;
                        m.caps[p] = api::actor_cap(d).unwrap_or_default();
                        m.pages[p] = [[None; MM_PAGES]; MM_SLOTS];
                    }
                    Err(JinueError::Again) if pressure => nomem += 1,
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: CREATE_PROCESS {e:?}"),
                        );
                    }
                }
            }
            1 => {
                if rng.chance(2, 3) {
                    continue;
                }
                check_eq!(c, api::destroy(d), Ok(()), "step {step}: DESTROY");
                check_eq!(c, api::close(d), Ok(()), "step {step}: CLOSE");
                m.live[p] = false;
            }
            2 => {
                // RGN_ALLOCATE pages [first, first + n) of the slot.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let inherit = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_allocate(
                    Actor::Cap(&m.caps[p]),
                    &mut rgn(
                        mm_slot(slot) + first as u64 * PG,
                        n as u64 * PG,
                        K_WRITABLE | inherit,
                    ),
                );
                let overlap = m.pages[p][slot][first..first + n]
                    .iter()
                    .any(|x| x.is_some());
                match r {
                    Ok(()) if !overlap => {
                        for k in first..first + n {
                            let cell = m.new_cell(0);
                            m.pages[p][slot][k] = Some(MPage { cell, inherit });
                        }
                    }
                    Err(ChorusError::Overlap) if overlap => {}
                    Err(ChorusError::NoMem) if pressure && !overlap => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_ALLOCATE {r:?} (overlap {overlap})"),
                    ),
                }
            }
            3 | 4 => {
                // Write (3) or read (4) the slot through the own window.
                if m.mapped(p, slot) == 0 {
                    continue;
                }
                let prot = JINUE_PROT_READ | if op == 3 { JINUE_PROT_WRITE } else { 0 };
                match mm_map(p, slot, prot) {
                    Ok(()) => {}
                    Err(JinueError::NoMem) if pressure => {
                        nomem += 1;
                        continue;
                    }
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: MCLONE into the window {e:?}"),
                        );
                        continue;
                    }
                }
                check_eq!(
                    c,
                    mapped_pages(Actor::Me, mm_window(slot), MM_SLOT_PAGES * PG),
                    Ok(m.mapped(p, slot)),
                    "step {step}: pages in the window"
                );
                let slotp = m.pages[p][slot];
                if op == 3 {
                    let mapped: [usize; MM_PAGES] = core::array::from_fn(|k| k);
                    let choices = mapped.iter().filter(|&&k| slotp[k].is_some()).count() as u64;
                    let pick = rng.below(choices) as usize;
                    let k = *mapped
                        .iter()
                        .filter(|&&k| slotp[k].is_some())
                        .nth(pick)
                        .unwrap_or(&0);
                    if let Some(pg) = slotp[k] {
                        m.value += 1;
                        poke(
                            mm_window(slot) + k as u64 * PG + 8 * (1 + rng.below(4)),
                            m.value,
                        );
                        poke(mm_window(slot) + k as u64 * PG, m.value);
                        cell_set(pg.cell, m.value);
                    }
                } else {
                    for (k, pg) in slotp.iter().enumerate() {
                        let Some(pg) = pg else { continue };
                        let got = peek(mm_window(slot) + k as u64 * PG);
                        let want = cell_get(pg.cell);
                        if got != want {
                            c.fail(
                                file!(),
                                line!(),
                                format_args!(
                                    "step {step}: process {p} slot {slot} page {k}: read {got:#x}, the model says {want:#x}"
                                ),
                            );
                        }
                    }
                }
                mm_unmap(slot);
            }
            5 => {
                // RGN_DUP of p into a fresh process q.
                let q = rng.below(MM_PROCS as u64) as usize;
                if q == p {
                    continue;
                }
                let dq = MM_D + q as u64;
                if m.live[q] {
                    let _ = api::destroy(dq);
                    let _ = api::close(dq);
                    m.live[q] = false;
                }
                match api::create_process(dq) {
                    Ok(()) => {}
                    Err(JinueError::Again) if pressure => {
                        nomem += 1;
                        continue;
                    }
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: CREATE_PROCESS {e:?}"),
                        );
                        continue;
                    }
                }
                m.live[q] = true;
                m.caps[q] = api::actor_cap(dq).unwrap_or_default();
                m.pages[q] = [[None; MM_PAGES]; MM_SLOTS];
                let flags = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                match api::rgn_dup(Actor::Cap(&m.caps[q]), Actor::Cap(&m.caps[p]), flags) {
                    Ok(()) => {
                        for s in 0..MM_SLOTS {
                            for k in 0..MM_PAGES {
                                let Some(pg) = m.pages[p][s][k] else { continue };
                                let mode = if flags != 0 { flags } else { pg.inherit };
                                m.pages[q][s][k] = match mode {
                                    K_INHERITSHARE => Some(pg),
                                    K_INHERITCOPY => {
                                        let v = cell_get(pg.cell);
                                        Some(MPage {
                                            cell: m.new_cell(v),
                                            inherit: pg.inherit,
                                        })
                                    }
                                    _ => None,
                                };
                            }
                        }
                    }
                    Err(ChorusError::NoMem) if pressure => {
                        nomem += 1;
                        check_eq!(
                            c,
                            stat(Actor::Cap(&m.caps[q]), USER_BASE, USER_LIMIT - USER_BASE).0,
                            Ok(0),
                            "step {step}: a failed RGN_DUP leaves the target empty"
                        );
                    }
                    Err(e) => c.fail(file!(), line!(), format_args!("step {step}: RGN_DUP {e:?}")),
                }
            }
            6 => {
                // MCLONE k slots of p (from `slot`) onto k slots of q (from
                // `to`); the same process and overlapping ranges included.
                let q = rng.below(MM_PROCS as u64) as usize;
                if !m.live[q] {
                    continue;
                }
                let k = 1 + rng.below(2) as usize;
                let from = rng.below((MM_SLOTS - k + 1) as u64) as usize;
                let to = rng.below((MM_SLOTS - k + 1) as u64) as usize;
                let prot =
                    [JINUE_PROT_READ, JINUE_PROT_READ | JINUE_PROT_WRITE, 0][rng.below(3) as usize];
                let len = k as u64 * MM_SLOT_PAGES * PG;
                match api::mclone_range(d, MM_D + q as u64, mm_slot(from), mm_slot(to), len, prot) {
                    Ok(()) => {
                        let src: [MSlot; 2] =
                            [m.pages[p][from], m.pages[p][(from + 1).min(MM_SLOTS - 1)]];
                        for (i, s) in src.iter().enumerate().take(k) {
                            m.pages[q][to + i] = *s;
                        }
                    }
                    Err(JinueError::NoMem) if pressure => nomem += 1,
                    Err(e) => c.fail(file!(), line!(), format_args!("step {step}: MCLONE {e:?}")),
                }
            }
            7 => {
                // RGN_FREE of some pages of the slot (regions are cut).
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let r = api::rgn_free(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, 0),
                );
                check_eq!(c, r, Ok(()), "step {step}: RGN_FREE");
                for k in first..first + n {
                    m.pages[p][slot][k] = None;
                }
            }
            8 => {
                // RGN_SET_INHERIT of some pages.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let inherit = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_set_inherit(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, inherit),
                );
                match r {
                    Ok(()) => {
                        for pg in m.pages[p][slot][first..first + n].iter_mut().flatten() {
                            pg.inherit = inherit;
                        }
                    }
                    Err(ChorusError::NoMem) if pressure => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_SET_INHERIT {r:?}"),
                    ),
                }
            }
            9 => {
                // RGN_SET_PROTECT of some pages: data unchanged, regions cut.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let prot = [0, K_WRITABLE, K_NOACCESS, K_EXECUTABLE][rng.below(4) as usize];
                let r = api::rgn_set_protect(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, prot),
                );
                match r {
                    Ok(()) => {}
                    Err(ChorusError::NoMem) if pressure => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_SET_PROTECT {r:?}"),
                    ),
                }
            }
            _ => {
                // The mapped pages of every slot of p match the model.
                for s in 0..MM_SLOTS {
                    check_eq!(
                        c,
                        mapped_pages(Actor::Cap(&m.caps[p]), mm_slot(s), MM_SLOT_PAGES * PG),
                        Ok(m.mapped(p, s)),
                        "step {step}: mapped pages of process {p} slot {s}"
                    );
                }
            }
        }
        if !c.ok() {
            break;
        }
    }
    println!(
        "    fuzz::memory_model: seed {seed:#x}{}: ops {:?}, {} cells, {} ENOMEM",
        if pressure { " under pressure" } else { "" },
        ops,
        m.ncells,
        nomem
    );
    for p in 0..MM_PROCS {
        let _ = api::destroy(MM_D + p as u64);
        let _ = api::close(MM_D + p as u64);
    }
    if pressure {
        let _ = api::destroy(HOG);
        let _ = api::close(HOG);
    }
}

fn memory_model(c: &mut Case) {
    touch_deep();
    let cells = api::rgn_allocate(Actor::Me, &mut rgn(MM_CELLS, MM_MAX_CELLS * 8, K_WRITABLE));
    check_eq!(c, cells, Ok(()), "the model's cell table");
    if cells.is_err() {
        return;
    }
    // Touch it now: its pages are not the model's business.
    for k in (0..MM_MAX_CELLS * 8).step_by(PG as usize) {
        poke(MM_CELLS + k, 0);
    }
    let base = usage();
    for (seed, steps, spare) in [
        (0x3e30_0001, 12_000, None),
        (0x3e30_0004, 12_000, None),
        (0x3e30_0002, 12_000, Some(64)),
        (0x3e30_0003, 12_000, Some(24)),
        (0x3e30_0005, 12_000, Some(OBJECTS | 24)),
    ] {
        memory_model_run(c, seed, steps, spare);
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT back to baseline after seed {:#x}",
            seed
        );
        if !c.ok() {
            break;
        }
    }
    let _ = api::rgn_free(Actor::Me, &rgn(MM_CELLS, MM_MAX_CELLS * 8, 0));
    let _ = api::rgn_free(
        Actor::Me,
        &rgn(MM_WINDOW, MM_SLOTS as u64 * MM_SLOT_PAGES * PG, 0),
    );
    alive(c);
}

// ---------------------------------------------------------------------------
// Case: a thread of another process awaiting one of ours

/// Where the stub runs in the other process.
const STUB_VA: u64 = 0x10_0000;
/// Descriptor (in the other process) of the awaited thread.
const STUB_FD: u8 = 7;

/// Machine code: marks the shared word, AWAIT_THREAD(STUB_FD), stores rax
/// and rdi after it, EXIT_THREAD.
fn stub_code() -> [u8; 48] {
    let mut b = [0x90u8; 48];
    let shared = (STUB_VA + 0x800).to_le_bytes();
    let mut code = [0u8; 40];
    code[..2].copy_from_slice(&[0x48, 0xbb]); // movabs rbx, imm64
    code[2..10].copy_from_slice(&shared);
    code[10..13].copy_from_slice(&[0xc6, 0x03, 0x01]); // mov byte [rbx], 1
    code[13..18].copy_from_slice(&[0xb8, JINUE_SYS_AWAIT_THREAD as u8, 0, 0, 0]); // mov eax, 21
    code[18..23].copy_from_slice(&[0xbf, STUB_FD, 0, 0, 0]); // mov edi, fd
    code[23..25].copy_from_slice(&[0x0f, 0x05]); // syscall
    code[25..29].copy_from_slice(&[0x48, 0x89, 0x43, 0x08]); // mov [rbx + 8], rax
    code[29..33].copy_from_slice(&[0x48, 0x89, 0x7b, 0x10]); // mov [rbx + 16], rdi
    code[33..38].copy_from_slice(&[0xb8, JINUE_SYS_EXIT_THREAD as u8, 0, 0, 0]); // mov eax, 12
    code[38..40].copy_from_slice(&[0x0f, 0x05]); // syscall
    b[..40].copy_from_slice(&code);
    b[40..42].copy_from_slice(&[0xeb, 0xfe]); // jmp $
    b
}

/// A thread of a scratch process awaits a thread of ours: it is woken with
/// 0 when ours exits; destroying its process instead ends it (AWAIT = 1)
/// and lets ours be awaited again. Nothing leaks.
fn await_across(c: &mut Case) {
    touch_deep();
    let base = usage();
    const C: u64 = 40;
    const T: u64 = 41;
    let page = Region::anywhere(1, K_WRITABLE);
    let Ok(page) = page else {
        return c.fail(file!(), line!(), format_args!("code page"));
    };
    for (i, b) in stub_code().iter().enumerate() {
        poke8(page.addr() + i as u64, *b);
    }
    for destroy in [false, true] {
        let flag = Region::anywhere(1, K_WRITABLE);
        let Ok(flag) = flag else {
            return c.fail(file!(), line!(), format_args!("flag page"));
        };
        let fl = flag.addr();
        poke(fl, 0);
        let x = ferrite_rt::thread::spawn(move || {
            while peek(fl) == 0 {
                api::yield_thread();
            }
        });
        let Ok(x) = x else {
            return c.fail(file!(), line!(), format_args!("spawn"));
        };
        for w in 0..4 {
            poke(page.addr() + 0x800 + 8 * w, u64::MAX);
        }
        poke8(page.addr() + 0x800, 0);
        check_eq!(c, api::create_process(C), Ok(()));
        let prot = JINUE_PROT_READ | JINUE_PROT_WRITE | JINUE_PROT_EXEC;
        check_eq!(
            c,
            api::mclone_range(ferrite_rt::thread::SELF, C, page.addr(), STUB_VA, PG, prot),
            Ok(())
        );
        check_eq!(
            c,
            api::mint_into(x.descriptor(), C, u64::from(STUB_FD), JINUE_PERM_AWAIT, 0),
            Ok(()),
            "MINT our thread into the other process"
        );
        check_eq!(c, api::create_thread(T, C), Ok(()));
        check_eq!(c, api::start_thread(T, STUB_VA, STUB_VA + PG), Ok(()));
        let mut spins = 0;
        while peek8(page.addr() + 0x800) == 0 && spins < 10_000 {
            api::yield_thread();
            spins += 1;
        }
        check_eq!(c, peek8(page.addr() + 0x800), 1, "the other thread ran");
        for _ in 0..20 {
            api::yield_thread();
        }
        if destroy {
            check_eq!(
                c,
                api::destroy(C),
                Ok(()),
                "DESTROY while its thread awaits ours"
            );
            check_eq!(c, api::await_thread(T), Ok(1), "its thread was stopped");
            check_eq!(
                c,
                peek(page.addr() + 0x808),
                u64::MAX,
                "its AWAIT never returned"
            );
            poke(fl, 1);
            check_eq!(c, x.join().ok(), Some(0), "our thread can be awaited again");
        } else {
            poke(fl, 1);
            check_eq!(c, api::await_thread(T), Ok(0), "the other thread exited");
            check_eq!(
                c,
                (peek(page.addr() + 0x808), peek(page.addr() + 0x810)),
                (0, 0),
                "its AWAIT_THREAD returned 0 (exited)"
            );
            check_eq!(
                c,
                api::destroy(C),
                Err(JinueError::Io),
                "its process ended with its last thread"
            );
            let (xd, xs) = (x.descriptor(), x.stack());
            check_eq!(
                c,
                x.join().err(),
                Some(ferrite_rt::Error::Jinue(JinueError::Srch)),
                "our thread was awaited already"
            );
            // join kept the descriptor and the stack: release them here.
            check_eq!(c, api::close(xd), Ok(()));
            ferrite_rt::desc::free(xd);
            check_eq!(
                c,
                api::rgn_free(Actor::Me, &rgn(xs.startAddr, xs.size, 0)),
                Ok(())
            );
        }
        check_eq!(c, api::close(T), Ok(()));
        check_eq!(c, api::close(C), Ok(()));
    }
    drop(page);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

// ---------------------------------------------------------------------------
// Case: a long chain of copy-on-write snapshots

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

fn cow_chain(c: &mut Case) {
    touch_deep();
    let base = usage();
    cow_chain_run(c, 20_000, true);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline (source first)");
    cow_chain_run(c, 20_000, false);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline (copies first)");
    alive(c);
}

// ---------------------------------------------------------------------------
// Case: promised memory when no frame is left

/// Copies of touched memory are promised frames (ABI §5): with every other
/// frame taken by a hog actor, breaking every copy-on-write page on both
/// sides must still work, and the data must be right.
fn promises(c: &mut Case) {
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
fn hog_objects(hog: u64) -> Result<u64, JinueError> {
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

// ---------------------------------------------------------------------------
// Case: capability errors of every ChorusOS function

/// Every function taking a `KnCap *`, with every kind of bad capability:
/// the code ABI §4.1/§4.3 gives, and nothing changed.
fn cap_errors(c: &mut Case) {
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

// ---------------------------------------------------------------------------
// Case: a process outlives its creator

/// ABI §2: a process that never ran a thread stays alive, and destroying
/// its creator only closes the creator's descriptors. So a child that makes
/// a process, gives it memory and dies leaves that memory allocated until
/// someone deletes the orphan through its capability: checked here, then
/// the orphan is deleted and MEMSTAT must be back.
fn orphan(c: &mut Case) {
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

// ---------------------------------------------------------------------------
// Case: as many threads as the kernel allows, all running at once

/// Spawns threads until the kernel refuses (thread bound or memory), each
/// yielding a while and then exiting, faulting or calling EXIT_THREAD from
/// deep in its stack; joins them all (0 or 1 as each did), twice; nothing
/// leaks.
fn thread_storm(c: &mut Case) {
    touch_deep();
    let base = usage();
    let room = thread_room();
    for round in 0..2u64 {
        let mut rng = Rng(0x5702_0000 + round);
        let mut handles: [Option<(ferrite_rt::thread::JoinHandle, u64)>; 256] =
            [const { None }; 256];
        let mut n = 0;
        while n < handles.len() {
            let kind = rng.below(3);
            let spins = rng.below(50);
            let h = ferrite_rt::thread::spawn(move || {
                for _ in 0..spins {
                    api::yield_thread();
                }
                match kind {
                    0 => {}
                    1 => do_fault(0),
                    _ => api::exit_thread(),
                }
            });
            match h {
                Ok(h) => {
                    handles[n] = Some((h, u64::from(kind == 1)));
                    n += 1;
                }
                Err(e) => {
                    check!(
                        c,
                        matches!(
                            e,
                            ferrite_rt::Error::Jinue(JinueError::NoMem)
                                | ferrite_rt::Error::Chorus(ChorusError::NoMem)
                                | ferrite_rt::Error::NoDescriptor
                        ),
                        "spawn refused with {:?}",
                        e
                    );
                    break;
                }
            }
        }
        println!("    fuzz::thread_storm: round {round}: {n} threads");
        check!(c, n > 16, "only {} threads", n);
        for slot in handles.iter_mut().take(n) {
            if let Some((h, want)) = slot.take() {
                let r = h.join();
                check_eq!(c, r.ok(), Some(want), "join");
            }
        }
    }
    check_eq!(c, thread_room(), room, "thread room after the storm");
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

// ---------------------------------------------------------------------------
// Case 5: region flood (kernel bookkeeping)

/// Doubles the number of regions of a scratch process with MCLONE until the
/// kernel refuses: it must say ENOMEM (ABI §3.1 item 8.9), never fail.
fn region_flood(c: &mut Case) {
    touch_deep();
    let base = usage();
    const P: u64 = 5;
    check_eq!(c, api::create_process(P), Ok(()));
    let cap = api::actor_cap(P).unwrap_or_default();
    let start = 0x1_0000_0000u64;
    check_eq!(
        c,
        api::rgn_allocate(Actor::Cap(&cap), &mut rgn(start, PG, K_WRITABLE)),
        Ok(())
    );
    let mut n = 1u64;
    let mut last = Ok(());
    while n < (1 << 22) {
        last = api::mclone_range(P, P, start, start + n * PG, n * PG, JINUE_PROT_READ);
        println!("    fuzz::region_flood: {} regions -> {:?}", 2 * n, last);
        if last.is_err() {
            break;
        }
        n *= 2;
    }
    check!(
        c,
        last.is_ok() || last == Err(JinueError::NoMem),
        "MCLONE: {:?}",
        last
    );
    // A refused MCLONE changed nothing: exactly n regions, and RGN_STAT
    // counts them all while filling only what fits.
    let mut st = [abi::types::KnRgnStat::default(); 8];
    let r = api::rgn_stat(
        Actor::Cap(&cap),
        &rgn(USER_BASE, USER_LIMIT - USER_BASE, 0),
        &mut st,
    );
    check_eq!(c, r, Ok(n), "RGN_STAT count of the flooded process");
    check_eq!(
        c,
        (st[7].startAddr, st[7].size),
        (start + 7 * PG, PG),
        "RGN_STAT entries in address order"
    );
    // A region split at the bound: freeing one page in the middle of the
    // first region and protecting one page either works or says K_ENOMEM.
    check_eq!(
        c,
        api::rgn_allocate(
            Actor::Cap(&cap),
            &mut rgn(0x2_0000_0000, 3 * PG, K_WRITABLE)
        ),
        Ok(())
    );
    let f = api::rgn_free(Actor::Cap(&cap), &rgn(0x2_0000_0000 + PG, PG, 0));
    check!(
        c,
        f.is_ok() || f == Err(ChorusError::NoMem),
        "RGN_FREE in the middle: {:?}",
        f
    );
    let p = api::rgn_set_protect(Actor::Cap(&cap), &rgn(0x2_0000_0000, PG, 0));
    check!(
        c,
        p.is_ok() || p == Err(ChorusError::NoMem),
        "RGN_SET_PROTECT of one page: {:?}",
        p
    );
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

/// A process with 2^14 regions (MCLONE doubling, well below the flood's
/// limit) shared by RGN_DUP into one process after another: each copy of
/// the region list costs kernel bookkeeping, never frames. Every call must
/// succeed or say K_ENOMEM / EAGAIN, never fail.
fn dup_flood(c: &mut Case) {
    touch_deep();
    let base = usage();
    const P: u64 = 5;
    check_eq!(c, api::create_process(P), Ok(()));
    let cap = api::actor_cap(P).unwrap_or_default();
    let start = 0x1_0000_0000u64;
    check_eq!(
        c,
        api::rgn_allocate(Actor::Cap(&cap), &mut rgn(start, PG, K_WRITABLE)),
        Ok(())
    );
    let mut n = 1u64;
    while n < (1 << 14) {
        let r = api::mclone_range(P, P, start, start + n * PG, n * PG, JINUE_PROT_READ);
        // A kernel that bounds its bookkeeping may refuse (ABI §3.1 8.9).
        check!(
            c,
            r.is_ok() || r == Err(JinueError::NoMem),
            "MCLONE doubling to {} regions: {:?}",
            2 * n,
            r
        );
        if r.is_err() {
            break;
        }
        n *= 2;
    }
    let mut made = 0;
    for q in FILL_LO..FILL_LO + 60 {
        match api::create_process(q) {
            Ok(()) => {}
            Err(e) => {
                check_eq!(c, e, JinueError::Again, "CREATE_PROCESS");
                break;
            }
        }
        made += 1;
        let qcap = api::actor_cap(q).unwrap_or_default();
        let r = api::rgn_dup(Actor::Cap(&qcap), Actor::Cap(&cap), K_INHERITSHARE);
        println!("    fuzz::dup_flood: copy {made} of {n} regions -> {:?}", r);
        if r.is_err() {
            check_eq!(c, r, Err(ChorusError::NoMem), "RGN_DUP");
            break;
        }
    }
    drop_processes(made);
    check_eq!(c, api::destroy(P), Ok(()));
    check_eq!(c, api::close(P), Ok(()));
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

/// Many small regions of the own process, each touched: an ordinary
/// program's worth of allocations. RGN_ALLOCATE must succeed or say
/// K_ENOMEM, and touching committed memory must never fail.
fn page_flood(c: &mut Case) {
    touch_deep();
    let base = usage();
    let mut n = 0u64;
    let mut last = Ok(());
    while n < 20_000 {
        let at = SAFE + 2 * n * PG;
        last = api::rgn_allocate(Actor::Me, &mut rgn(at, PG, K_WRITABLE));
        if last.is_err() {
            break;
        }
        poke(at, n);
        n += 1;
        if n.is_multiple_of(1000) {
            println!("    fuzz::page_flood: {n} one-page regions touched");
        }
    }
    check!(
        c,
        last.is_ok() || last == Err(ChorusError::NoMem),
        "RGN_ALLOCATE: {:?}",
        last
    );
    let intact = (0..n).all(|k| peek(SAFE + 2 * k * PG) == k);
    check!(c, intact, "every region kept its value");
    let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

/// Random region-hungry operations across four processes (MCLONE doubling,
/// protection splits, RGN_DUP, frees in the middle, many small regions,
/// destruction) that keep hitting whatever bound the kernel puts on its
/// bookkeeping: every call succeeds or says ENOMEM (K_ENOMEM, EAGAIN), and
/// everything is given back at the end (checked by `no_leak_after_floods`).
fn bookkeeping_churn(c: &mut Case) {
    touch_deep();
    let base = usage();
    const X: u64 = 50;
    const B: u64 = 0x1000_0000;
    let seed = 0xb00c_0001u64;
    println!("    fuzz::bookkeeping_churn: seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut live = [false; 4];
    let mut caps = [KnCap::default(); 4];
    let mut span = [0u64; 4];
    let mut refused = 0;
    let okj = |r: Result<(), JinueError>| r.is_ok() || r == Err(JinueError::NoMem);
    let okk = |r: Result<(), ChorusError>| r.is_ok() || r == Err(ChorusError::NoMem);
    for step in 0..2000u32 {
        let i = rng.below(4) as usize;
        let d = X + i as u64;
        if !live[i] {
            match api::create_process(d) {
                Ok(()) => {
                    live[i] = true;
                    caps[i] = api::actor_cap(d).unwrap_or_default();
                    let r = api::rgn_allocate(
                        Actor::Cap(&caps[i]),
                        &mut rgn(B, 16 * PG, K_WRITABLE | K_INHERITCOPY),
                    );
                    check!(c, okk(r), "step {step}: RGN_ALLOCATE {:?}", r);
                    span[i] = if r.is_ok() { 16 } else { 0 };
                }
                Err(e) => {
                    check_eq!(c, e, JinueError::Again, "step {step}: CREATE_PROCESS");
                    refused += 1;
                }
            }
            continue;
        }
        let my_cap = caps[i];
        let cap = Actor::Cap(&my_cap);
        match rng.below(6) {
            0 if span[i] > 0 && span[i] < (1 << 16) => {
                let n = span[i];
                let r = api::mclone_range(d, d, B, B + n * PG, n * PG, JINUE_PROT_READ);
                check!(c, okj(r), "step {step}: MCLONE doubling {:?}", r);
                if r.is_ok() {
                    span[i] *= 2;
                } else {
                    refused += 1;
                }
            }
            1 if span[i] > 0 => {
                let first = rng.below(span[i]);
                for k in 0..64u64.min(span[i] - first) / 2 {
                    let r = api::rgn_set_protect(cap, &rgn(B + (first + 2 * k) * PG, PG, 0));
                    check!(c, okk(r), "step {step}: RGN_SET_PROTECT {:?}", r);
                    if r.is_err() {
                        refused += 1;
                        break;
                    }
                }
            }
            2 => {
                let j = (i + 1 + rng.below(3) as usize) % 4;
                let dj = X + j as u64;
                if live[j] {
                    let _ = api::destroy(dj);
                    let _ = api::close(dj);
                    live[j] = false;
                }
                if api::create_process(dj).is_err() {
                    refused += 1;
                    continue;
                }
                live[j] = true;
                caps[j] = api::actor_cap(dj).unwrap_or_default();
                let flags = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_dup(Actor::Cap(&caps[j]), cap, flags);
                check!(c, okk(r), "step {step}: RGN_DUP {:?}", r);
                span[j] = if r.is_ok() { span[i] } else { 0 };
                if r.is_err() {
                    refused += 1;
                    check_eq!(
                        c,
                        stat(Actor::Cap(&caps[j]), USER_BASE, USER_LIMIT - USER_BASE).0,
                        Ok(0),
                        "step {step}: a refused RGN_DUP leaves the target empty"
                    );
                }
            }
            3 if span[i] > 2 => {
                let first = 1 + rng.below(span[i] - 2);
                let r = api::rgn_free(cap, &rgn(B + first * PG, PG, 0));
                check!(c, okk(r), "step {step}: RGN_FREE {:?}", r);
            }
            4 if rng.chance(1, 3) => {
                check_eq!(c, api::destroy(d), Ok(()), "step {step}: DESTROY");
                check_eq!(c, api::close(d), Ok(()));
                live[i] = false;
            }
            5 => {
                let at = 0x4000_0000 + rng.below(1 << 10) * 0x10_0000;
                for k in 0..256 {
                    let r = api::rgn_allocate(cap, &mut rgn(at + 2 * k * PG, PG, K_WRITABLE));
                    check!(
                        c,
                        okk(r) || r == Err(ChorusError::Overlap),
                        "step {step}: RGN_ALLOCATE {:?}",
                        r
                    );
                    if r.is_err() {
                        refused += 1;
                        break;
                    }
                }
            }
            _ => {}
        }
        if !c.ok() {
            break;
        }
    }
    println!("    fuzz::bookkeeping_churn: {refused} refusals");
    for i in 0..4 {
        let _ = api::destroy(X + i);
        let _ = api::close(X + i);
    }
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}

// ---------------------------------------------------------------------------

type CaseFn = fn(&mut Case);

const CASES: [(&str, CaseFn); 11] = [
    ("raw_calls", raw_calls),
    ("arch_faults", arch_faults),
    ("children", children),
    ("exhaustion", exhaustion),
    ("descriptor_churn", descriptor_churn),
    ("memory_model", memory_model),
    ("await_across", await_across),
    ("promises", promises),
    ("cap_errors", cap_errors),
    ("orphan", orphan),
    ("thread_storm", thread_storm),
];

/// Fills `[LOW, LOW_END)` with inaccessible regions that all share one page
/// (MCLONE doubling): costs one frame however small the machine, and
/// forked children share it (K_INHERITSHARE) instead of paying for a copy.
fn reserve_low() -> Result<(), JinueError> {
    api::rgn_allocate(Actor::Me, &mut rgn(LOW, PG, K_INHERITSHARE))
        .map_err(|_| JinueError::NoMem)?;
    let total = (LOW_END - LOW) / PG;
    let mut n = 1;
    while n < total {
        let len = n.min(total - n);
        api::mclone_range(
            ferrite_rt::thread::SELF,
            ferrite_rt::thread::SELF,
            LOW,
            LOW + n * PG,
            len * PG,
            JINUE_PROT_NONE,
        )?;
        n += len;
    }
    api::rgn_set_protect(Actor::Me, &rgn(LOW, PG, K_NOACCESS)).map_err(|_| JinueError::NoMem)
}

/// How many untouched one-page regions the own process can still allocate
/// (up to `REGION_ROOM_CAP`): a kernel that bounds its bookkeeping must give
/// all of it back when regions die.
fn region_room() -> u64 {
    const REGION_ROOM_CAP: u64 = 12_000;
    let mut n = 0;
    while n < REGION_ROOM_CAP
        && api::rgn_allocate(Actor::Me, &mut rgn(SAFE + 2 * n * PG, PG, K_WRITABLE)).is_ok()
    {
        n += 1;
    }
    let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    n
}

/// Cases that end with a kernel panic on a kernel without bounded
/// bookkeeping: they run after the leak check.
const LAST: [(&str, CaseFn); 5] = [
    ("page_flood", page_flood),
    ("region_flood", region_flood),
    ("dup_flood", dup_flood),
    ("cow_chain", cow_chain),
    ("bookkeeping_churn", bookkeeping_churn),
];

fn main(start: &Startup) -> i32 {
    // `fault K`: runs fault kind K alone (to minimize a finding).
    if start.arg(1) == Some(b"fault") {
        let k = start
            .arg(2)
            .and_then(|a| core::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0);
        println!("fuzz: fault {k} ({})", FAULTS.get(k).map_or("?", |f| f.0));
        let r = on_thread(|| do_fault(k));
        println!("fuzz: fault {k}: AWAIT_THREAD -> {r:?}");
        return 0;
    }
    let mut only = start.arg(1).and_then(|a| core::str::from_utf8(a).ok());
    if only == Some("soak") {
        let base = start
            .arg(2)
            .and_then(|a| core::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(1);
        println!("fuzz: soak from seed {base:#x}");
        SOAK.store(base, core::sync::atomic::Ordering::Relaxed);
        only = None;
    }
    let mut s = Suite::new("fuzz");
    let only = only.filter(|o| CASES.iter().chain(LAST.iter()).any(|(n, _)| n == o));
    if let Err(e) = reserve_low() {
        println!("fuzz: cannot reserve the low addresses: {e:?}");
    }
    touch_stack();
    let base = usage();
    let rooms = (process_room(), thread_room());
    let regions = region_room();
    println!(
        "fuzz: room at the start: {:?} processes, {:?} threads, {} one-page regions",
        rooms.0, rooms.1, regions
    );
    for &(name, f) in CASES.iter() {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        s.isolated(name, f);
    }
    s.case("no_leak", |c| {
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT at the end equals MEMSTAT at the start"
        );
        check_eq!(
            c,
            (process_room(), thread_room()),
            rooms,
            "process and thread room at the end"
        );
    });
    // Last: on a kernel without bounded bookkeeping these panic it.
    for (name, f) in LAST {
        if only.is_none_or(|o| o == name) {
            s.isolated(name, f);
        }
    }
    s.case("no_leak_after_floods", |c| {
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT at the end equals MEMSTAT at the start"
        );
        check_eq!(
            c,
            (process_room(), thread_room()),
            rooms,
            "process and thread room at the end"
        );
        check_eq!(
            c,
            region_room(),
            regions,
            "room for regions at the end (kernel bookkeeping released)"
        );
    });
    s.finish()
}
