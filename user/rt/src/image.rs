//! What a freestanding image needs: `_start`, the panic handler, `mem*`, `rust_eh_personality`.

use crate::startup::{set_initial_sp, Startup};
use abi::init::JINUE_AT_HOWSYSCALL;
use core::sync::atomic::AtomicU64;

/// General-purpose registers as `_start` found them, in the order of
/// [`ENTRY_REGISTER_NAMES`]: written by the entry code before anything else runs.
pub static ENTRY_REGS: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// Names of the [`ENTRY_REGS`] slots.
pub const ENTRY_REGISTER_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "mov qword ptr [rip + {regs}], rax",
    "mov qword ptr [rip + {regs} + 8], rbx",
    "mov qword ptr [rip + {regs} + 16], rcx",
    "mov qword ptr [rip + {regs} + 24], rdx",
    "mov qword ptr [rip + {regs} + 32], rsi",
    "mov qword ptr [rip + {regs} + 40], rdi",
    "mov qword ptr [rip + {regs} + 48], rbp",
    "mov qword ptr [rip + {regs} + 56], rsp",
    "mov qword ptr [rip + {regs} + 64], r8",
    "mov qword ptr [rip + {regs} + 72], r9",
    "mov qword ptr [rip + {regs} + 80], r10",
    "mov qword ptr [rip + {regs} + 88], r11",
    "mov qword ptr [rip + {regs} + 96], r12",
    "mov qword ptr [rip + {regs} + 104], r13",
    "mov qword ptr [rip + {regs} + 112], r14",
    "mov qword ptr [rip + {regs} + 120], r15",
    "mov rdi, rsp",
    // Keep going even on a misaligned entry stack (the boot test reports it).
    "and rsp, -16",
    "xor ebp, ebp",
    "call {start}",
    "ud2",
    ".size _start, . - _start",
    regs = sym ENTRY_REGS,
    start = sym rt_start,
);

extern "Rust" {
    /// The program's `main`, defined by [`crate::entry!`].
    fn __ferrite_main(start: &Startup) -> i32;
}

extern "C" fn rt_start(sp: u64) -> ! {
    set_initial_sp(sp);
    let Some(start) = Startup::get() else {
        crate::exit(1)
    };
    if let Some(how) = start.aux(JINUE_AT_HOWSYSCALL) {
        crate::sys::set_how_syscall(how);
    }
    // SAFETY: `__ferrite_main` is the safe Rust function `entry!` defines.
    let status = unsafe { __ferrite_main(&start) };
    crate::exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut w = crate::console::LineWriter::new(abi::init::PUTS_ERROR);
    let _ = core::fmt::write(&mut w, format_args!("panicked: {info}"));
    w.finish();
    crate::exit(1)
}

/// Needed by the precompiled `core` (built with unwinding); never called with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// # Safety
///
/// `dst` and `src` valid for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; `rep movsb` with DF = 0 (ABI
    // guarantee at call boundaries) copies forward and calls nothing.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// # Safety
///
/// `dst` and `src` valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst is below src or the ranges are disjoint.
        return unsafe { memcpy(dst, src, n) };
    }
    if n == 0 {
        return dst;
    }
    // SAFETY: dst overlaps the tail of src: copy backwards with DF = 1 from the
    // last byte, then restore DF = 0 as the ABI requires.
    unsafe {
        core::arch::asm!(
            "std",
            "rep movsb",
            "cld",
            inout("rcx") n => _,
            inout("rdi") dst.add(n - 1) => _,
            inout("rsi") src.add(n - 1) => _,
            options(nostack),
        );
    }
    dst
}

/// # Safety
///
/// `dst` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; `rep stosb` calls nothing.
    unsafe {
        core::arch::asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// # Safety
///
/// `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n; volatile reads keep the compiler from turning this
        // loop back into a call to memcmp.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
///
/// `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}
