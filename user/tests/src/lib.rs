//! Harness and helpers shared by the user-space test programs (`src/bin`), per the protocol of `doc/internals.md`.
//!
//! A program makes a [`Suite`], runs each case through [`Suite::case`]
//! (on the calling thread) or [`Suite::isolated`] (on a thread of its own, so
//! a fault fails that case only), records failures with [`check!`] /
//! [`check_eq!`] (they never panic), and returns [`Suite::finish`] from `main`.
#![no_std]

pub mod memory_model;
pub mod wait;

pub use wait::{wait_for, Patience, TSC_SECOND};

use abi::errors::{ChorusError, JinueError};
use abi::layout::PAGE_SIZE;
use abi::memstat::MemStat;
use abi::regs::SyscallArgs;
use abi::types::KnRgnDesc;
use core::fmt::{self, Write};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;

const MSG: usize = 100;
/// Stack of the thread an isolated case runs on.
pub const CASE_STACK_BYTES: u64 = 256 * 1024;
/// Failure details printed per case before the rest are only counted.
const MAX_DETAILS: u32 = 8;

/// The first failure message of a case, cut to fit one console line.
struct Msg {
    buf: [u8; MSG],
    len: usize,
}

impl Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < MSG {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// One running test case: collects failures.
pub struct Case {
    program: &'static str,
    name: &'static str,
    variant: &'static str,
    failures: u32,
    first: Msg,
}

impl Case {
    /// Records a failed check at `file:line`.
    pub fn fail(&mut self, file: &str, line: u32, why: fmt::Arguments) {
        self.failures += 1;
        if self.failures == 1 {
            let _ = fmt::write(&mut self.first, why);
        }
        if self.failures <= MAX_DETAILS {
            println!(
                "    {}::{}{}: check failed at {}:{}: {}",
                self.program, self.name, self.variant, file, line, why
            );
        }
    }

    /// Whether every check so far passed.
    pub fn ok(&self) -> bool {
        self.failures == 0
    }
}

/// Checks a condition; on failure records the condition text (or the message).
#[macro_export]
macro_rules! check {
    ($c:expr, $cond:expr $(,)?) => {
        if !$cond {
            $c.fail(file!(), line!(), format_args!("{}", stringify!($cond)));
        }
    };
    ($c:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $c.fail(file!(), line!(), format_args!($($fmt)+));
        }
    };
}

/// Checks `left == right`; on failure records both values (and the message).
#[macro_export]
macro_rules! check_eq {
    ($c:expr, $left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    $c.fail(
                        file!(),
                        line!(),
                        format_args!("{} == {}: {:?} != {:?}", stringify!($left), stringify!($right), l, r),
                    );
                }
            }
        }
    };
    ($c:expr, $left:expr, $right:expr, $($fmt:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    $c.fail(
                        file!(),
                        line!(),
                        format_args!("{}: {:?} != {:?}", format_args!($($fmt)+), l, r),
                    );
                }
            }
        }
    };
}

/// The cases of one test program and their tally.
pub struct Suite {
    program: &'static str,
    /// Appended to every case name (`""`, or `"@int80"` for a second pass).
    variant: &'static str,
    passed: u32,
    failed: u32,
}

impl Suite {
    /// A suite for the program `program` (the `<program>` of the case lines).
    pub fn new(program: &'static str) -> Self {
        println!("running {program}");
        Suite {
            program,
            variant: "",
            passed: 0,
            failed: 0,
        }
    }

    /// Sets the suffix of the case names that follow (e.g. `"@int80"` for a
    /// pass through `int 0x80`).
    pub fn variant(&mut self, suffix: &'static str) {
        self.variant = suffix;
    }

    fn new_case(&self, name: &'static str) -> Case {
        Case {
            program: self.program,
            name,
            variant: self.variant,
            failures: 0,
            first: Msg {
                buf: [0; MSG],
                len: 0,
            },
        }
    }

    fn report(&mut self, c: &Case) {
        if c.ok() {
            self.passed += 1;
            println!("test {}::{}{} ... ok", self.program, c.name, c.variant);
        } else {
            self.failed += 1;
            let why = core::str::from_utf8(&c.first.buf[..c.first.len]).unwrap_or("(message)");
            if c.failures > 1 {
                println!(
                    "test {}::{}{} ... FAILED {} (+{} more)",
                    self.program,
                    c.name,
                    c.variant,
                    why,
                    c.failures - 1
                );
            } else {
                println!(
                    "test {}::{}{} ... FAILED {}",
                    self.program, c.name, c.variant, why
                );
            }
        }
    }

    /// Runs a case on the calling thread.
    pub fn case(&mut self, name: &'static str, f: impl FnOnce(&mut Case)) {
        let mut c = self.new_case(name);
        f(&mut c);
        self.report(&c);
    }

    /// Runs a case on a thread of its own: a fault kills that thread only and
    /// fails the case.
    pub fn isolated(&mut self, name: &'static str, f: impl FnOnce(&mut Case) + Send) {
        let mut c = self.new_case(name);
        match ferrite_rt::thread::run_with_stack(|| f(&mut c), CASE_STACK_BYTES) {
            Ok(0) => {}
            Ok(r) => c.fail(
                file!(),
                line!(),
                format_args!("the case's thread was killed (AWAIT_THREAD = {r})"),
            ),
            Err(e) => c.fail(
                file!(),
                line!(),
                format_args!("cannot run the case on a thread: {e}"),
            ),
        }
        self.report(&c);
    }

    /// Prints the summary line; returns the power-off status (0 all passed, 1 otherwise).
    pub fn finish(self) -> i32 {
        println!(
            "{}: {} passed, {} failed",
            self.program, self.passed, self.failed
        );
        i32::from(self.failed != 0)
    }
}

/// Issues a raw call (with the mechanism in use) for probing argument checks.
///
/// Tests pass only arguments whose memory effects they control: invalid
/// values the kernel must reject, or ranges the test itself owns.
pub fn raw(arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> SyscallArgs {
    // SAFETY: per the contract above, no Rust reference points into memory
    // the call may change.
    unsafe { api::raw(arg0, arg1, arg2, arg3) }
}

/// Issues a raw call through `syscall` (`via_int == false`) or `int 0x80`.
pub fn raw_via(via_int: bool, arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> SyscallArgs {
    let a = ferrite_rt::sys::args(arg0, arg1, arg2, arg3);
    // SAFETY: as for `raw`.
    unsafe {
        if via_int {
            ferrite_rt::sys::interrupt(a)
        } else {
            ferrite_rt::sys::syscall(a)
        }
    }
}

/// A raw Jinue-convention call, decoded.
pub fn jraw(arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> Result<u64, JinueError> {
    api::jinue_decode(raw(arg0, arg1, arg2, arg3))
}

/// A raw ChorusOS-convention call, decoded.
pub fn kraw(arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> Result<u64, ChorusError> {
    api::chorus_decode(raw(arg0, arg1, arg2, arg3))
}

/// Reads a `u64` at `addr` (a page the test owns and may have been changed behind the compiler).
pub fn peek(addr: u64) -> u64 {
    // SAFETY: tests only read addresses of memory they mapped readable.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Writes a `u64` at `addr`.
pub fn poke(addr: u64, value: u64) {
    // SAFETY: tests only write addresses of memory they mapped writable and
    // that no Rust reference covers.
    unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
}

/// Reads a byte at `addr`.
pub fn peek8(addr: u64) -> u8 {
    // SAFETY: as for `peek`.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

/// Writes a byte at `addr`.
pub fn poke8(addr: u64, value: u8) {
    // SAFETY: as for `poke`.
    unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
}

/// A region of the own process, freed on drop.
#[derive(Debug)]
pub struct Region {
    pub desc: KnRgnDesc,
}

impl Region {
    /// Allocates `npages` pages anywhere with `options` (`K_ANYWHERE` added).
    ///
    /// # Errors
    ///
    /// RGN_ALLOCATE's error.
    pub fn anywhere(npages: u64, options: u64) -> Result<Region, ChorusError> {
        let mut desc = rgn(0, npages * PAGE_SIZE, options | abi::region::K_ANYWHERE);
        api::rgn_allocate(Actor::Me, &mut desc)?;
        Ok(Region { desc })
    }

    /// Start address.
    pub fn addr(&self) -> u64 {
        self.desc.startAddr
    }

    /// Address of page `i`.
    pub fn page(&self, i: u64) -> u64 {
        self.desc.startAddr + i * PAGE_SIZE
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.desc.size
    }

    /// Whether the region is empty (never).
    pub fn is_empty(&self) -> bool {
        self.desc.size == 0
    }

    /// Gives up ownership without freeing (the region was freed or moved by the test).
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = api::rgn_free(Actor::Me, &rgn(self.desc.startAddr, self.desc.size, 0));
    }
}

/// The MEMSTAT counters that must return to baseline (ABI §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub user_frames: u64,
    pub table_frames: u64,
    pub committed_frames: u64,
}

/// Current [`Usage`].
///
/// # Panics
///
/// If MEMSTAT fails (the ABI gives it no error for a good buffer).
pub fn usage() -> Usage {
    let m: MemStat = api::memstat().expect("MEMSTAT");
    Usage {
        user_frames: m.user_frames,
        table_frames: m.table_frames,
        committed_frames: m.committed_frames,
    }
}

/// Runs `f` on a thread of its own and returns AWAIT_THREAD's value
/// (0 exited, 1 killed by a fault), or `None` if the thread could not run.
pub fn on_thread(f: impl FnOnce() + Send) -> Option<u64> {
    ferrite_rt::thread::run(f).ok()
}

/// Name of a Jinue result, for messages.
pub fn jname(r: Result<u64, JinueError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// Touches 32 KiB of the calling thread's stack, so that later MEMSTAT
/// comparisons do not count stack pages first touched in between.
pub fn touch_stack() {
    let mut buf = [0u8; 32 * 1024];
    for i in (0..buf.len()).step_by(PAGE_SIZE as usize) {
        // SAFETY: `buf` is a live local; the volatile write keeps it from being optimised out.
        unsafe { core::ptr::write_volatile(&mut buf[i], 1) };
    }
    core::hint::black_box(&buf);
}

/// The address of a page that was just allocated and freed: unmapped now.
///
/// # Panics
///
/// If RGN_ALLOCATE fails.
pub fn hole() -> u64 {
    hole_of(1)
}

/// The start of `npages` free pages (allocated and freed again).
///
/// # Panics
///
/// If RGN_ALLOCATE fails.
pub fn hole_of(npages: u64) -> u64 {
    let r = Region::anywhere(npages, abi::region::K_WRITABLE).expect("RGN_ALLOCATE");
    r.addr()
}

/// RGN_STAT of `[start, start + size)` of `actor`: the total count (or the
/// error) and the first 8 entries.
pub fn stat(
    actor: Actor,
    start: u64,
    size: u64,
) -> (Result<u64, ChorusError>, [abi::types::KnRgnStat; 8]) {
    let mut st = [abi::types::KnRgnStat::default(); 8];
    let r = api::rgn_stat(actor, &rgn(start, size, 0), &mut st);
    (r, st)
}

/// Runs `cases` twice: through the mechanism the kernel recommends
/// (`JINUE_AT_HOWSYSCALL`), then through `int 0x80` with `@int80` after each
/// case name, so that every function is exercised by both entry paths.
pub fn both_mechanisms(s: &mut Suite, cases: fn(&mut Suite)) {
    use ferrite_rt::sys::{mechanism, set_how_syscall, Mechanism};
    cases(s);
    let before = mechanism();
    set_how_syscall(abi::init::HOWSYSCALL_INTERRUPT);
    s.variant("@int80");
    cases(s);
    s.variant("");
    if before == Mechanism::Syscall {
        set_how_syscall(abi::init::HOWSYSCALL_SYSCALL);
    }
}
