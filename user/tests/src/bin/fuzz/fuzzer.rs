//! One fuzzing stream: random raw calls with random (often harmful)
//! arguments, what it created, and what a child reports.

use super::layout::{
    in_pool, peek_u, protected_slot, range_harmless, read_cap, write_cap, FUZZ_LO, FUZZ_N, LOW, PG,
    POOL, POOL_BYTES, SAFE, SAFE_SIZE, TEXT,
};
use super::probe::{checked_call, Probe};
use super::returns::check_return;
use super::rng::Rng;
use super::stream_lock::StreamLock;
use super::support::own_regions;
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::numbers::*;
use abi::region::*;
use abi::types::KnCap;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_tests::*;

/// One fuzzing stream: its generator and what it created.
pub(super) struct Fuzzer {
    pub(super) rng: Rng,
    pub(super) me: KnCap,
    /// Calls that may hurt the caller's own memory or end it are allowed (a child).
    pub(super) reckless: bool,
    /// Capabilities of processes the stream created (to delete orphans).
    pub(super) caps: [KnCap; 64],
    pub(super) ncaps: usize,
    /// Shared page where a child publishes `caps` and its tallies (0 = none).
    pub(super) report: u64,
    /// The caller's own regions when the stream started (not the pool).
    pub(super) own: [(u64, u64); 64],
    pub(super) nown: usize,
    pub(super) calls: u64,
    pub(super) skipped: u64,
    pub(super) bad: u64,
    pub(super) first_bad: Option<([u64; 4], Probe, &'static str)>,
    /// Shared with the other streams of the process: one call at a time.
    pub(super) lock: Option<&'static StreamLock>,
}

/// Report page layout (u64 words).
pub(super) const R_CALLS: u64 = 0;

pub(super) const R_BAD: u64 = 8;

pub(super) const R_BAD_ARGS: u64 = 16; // 4 words in, 4 words out

pub(super) const R_BAD_WHY: u64 = 80; // index into WHY

pub(super) const R_NCAPS: u64 = 88;

pub(super) const R_DONE: u64 = 96;

pub(super) const R_CAPS: u64 = 128; // 16 bytes each, up to 64

impl Fuzzer {
    pub(super) fn new(seed: u64, reckless: bool, report: u64) -> Fuzzer {
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
            lock: None,
        }
    }

    /// Maps the argument pool and the text page (freed by [`Fuzzer::unmap`]).
    pub(super) fn map(&mut self) -> Result<(), ChorusError> {
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

    pub(super) fn unmap(&mut self) {
        let _ = api::rgn_free(Actor::Me, &rgn(TEXT, PG, 0));
        let _ = api::rgn_free(Actor::Me, &rgn(POOL, POOL_BYTES, 0));
        let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    }

    pub(super) fn desc(&mut self) -> u64 {
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

    pub(super) fn size(&mut self) -> u64 {
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

    pub(super) fn addr(&mut self) -> u64 {
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

    pub(super) fn options(&mut self) -> u64 {
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

    pub(super) fn int(&mut self) -> u64 {
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
    pub(super) fn cap_ptr(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => K_MYACTOR,
            1 => K_SVACTOR,
            2..=5 => POOL + self.rng.below(16) * 16,
            _ => self.addr(),
        }
    }

    /// Any argument at all.
    pub(super) fn any(&mut self) -> u64 {
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
    pub(super) fn fill_slot(&mut self, slot: u64) {
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

    pub(super) fn cap_value(&mut self) -> KnCap {
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
    /// (RECEIVE, SEND) or make endpoints outside its slots (CREATE_ENDPOINT),
    /// and MMAP (the fuzzer runs as init, which may map device registers
    /// over its own memory) become REPLY_ERROR, which does none of that.
    pub(super) fn number(&mut self) -> u64 {
        let n = self.any_number();
        match Function::decode(n) {
            Function::Send(_)
            | Function::Jinue(JinueCall::Receive | JinueCall::CreateEndpoint | JinueCall::Mmap) => {
                JINUE_SYS_REPLY_ERROR
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
    pub(super) fn call(&mut self) -> [u64; 4] {
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
    pub(super) fn may_name_me(&self, d: u64) -> bool {
        if d == 0 {
            return true;
        }
        match api::actor_cap(d) {
            Ok(c) => c == self.me,
            Err(JinueError::BadF) | Err(JinueError::Io) => false,
            Err(_) => true,
        }
    }

    pub(super) fn touches_own(&self, v: u64) -> bool {
        v >= USER_BASE
            && self.own[..self.nown].iter().any(|&(start, size)| {
                start != LOW && v >= start.saturating_sub(PG) && v < start + size
            })
    }

    /// Whether the `KnCap *` value `p` may name the caller (conservative):
    /// `K_MYACTOR`, a pool slot holding the caller's capability, or any
    /// other mapped memory, which a random output pointer (ACTOR_SELF into
    /// a region in SAFE, say) may have filled with it.
    pub(super) fn cap_is_me(&self, p: u64) -> bool {
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
    pub(super) fn harmless(&self, a: &mut [u64; 4]) -> bool {
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
    pub(super) fn run(&mut self, n: u64) {
        for i in 0..n {
            let turn = self.lock.map(StreamLock::take);
            self.one_call(i, n);
            drop(turn);
        }
    }

    /// Call `i` of `n`: made, checked, a created process published.
    fn one_call(&mut self, i: u64, n: u64) {
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
            return;
        }
        if !self.reckless && !self.harmless(&mut a) {
            self.skipped += 1;
            return;
        }
        if a[0] == JINUE_SYS_EXIT_THREAD
            || (self.reckless && a[0] == 72 && a[1] == K_MYACTOR && i < n / 2)
        {
            self.skipped += 1;
            return;
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

    /// Records the capability of the process just created in slot `d`.
    pub(super) fn remember(&mut self, d: u64) {
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
    pub(super) fn cleanup(&mut self) {
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
pub(super) const WHY: [&str; 16] = [
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

pub(super) fn report_bad(c: &mut Case, f: &Fuzzer, seed: u64) {
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
