//! Language glue of the freestanding image: panic handler and the mem* functions.
//!
//! The compiler lowers copies and fills to the C library's `memcpy` family;
//! these are written with string instructions (Intel SDM vol. 2
//! MOVS/STOS/CMPS), so the compiler cannot turn their bodies back into calls
//! to themselves, and they override the generic (weak) ones of
//! `compiler_builtins`. Copies and fills move whole quadwords first, then
//! the bytes left.

use core::arch::asm;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use super::serial::Serial;

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting one: just stop.
        super::power::power_off(255);
    }
    // One line: the location, then the message.
    match info.location() {
        Some(at) => {
            let _ = writeln!(
                Serial,
                "KERNEL PANIC: at {}:{}: {}",
                at.file(),
                at.line(),
                info.message()
            );
        }
        None => {
            let _ = writeln!(Serial, "KERNEL PANIC: {}", info.message());
        }
    }
    super::power::power_off(255)
}

/// Copies `n` bytes forward.
///
/// # Safety
///
/// `dst` and `src` must be valid for `n` bytes and must not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both buffers; DF is clear in the kernel.
    // Whole quadwords first (`rep movsq`), then the 0-7 bytes left (`rep
    // movsb`): the same bytes in the same order as one `rep movsb`, with an
    // eighth of the iterations (a thread's 672-byte saved context is copied
    // on every switch).
    unsafe {
        asm!(
            "mov {tail}, rcx", "shr rcx, 3", "and {tail}, 7",
            "rep movsq", "mov rcx, {tail}", "rep movsb",
            tail = out(reg) _,
            inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") n => _,
            options(nostack)
        );
    }
    dst
}

/// Copies `n` bytes between possibly overlapping buffers.
///
/// # Safety
///
/// `dst` and `src` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy never overwrites source bytes not yet read here.
        unsafe { memcpy(dst, src, n) };
    } else if n > 0 {
        // SAFETY: copying backwards (DF set, then cleared again) handles the
        // overlap with dst above src; the caller guarantees both buffers.
        unsafe {
            asm!(
                "std", "rep movsb", "cld",
                inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _, inout("rcx") n => _,
                options(nostack)
            );
        }
    }
    dst
}

/// Fills `n` bytes with `c`.
///
/// # Safety
///
/// `dst` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // The byte in all eight bytes of a quadword.
    let pattern = u64::from(c as u8) * 0x0101_0101_0101_0101;
    // SAFETY: the caller guarantees the buffer; DF is clear in the kernel.
    // Whole quadwords (`rep stosq`), then the 0-7 bytes left (`rep stosb`).
    unsafe {
        asm!(
            "mov {tail}, rcx", "shr rcx, 3", "and {tail}, 7",
            "rep stosq", "mov rcx, {tail}", "rep stosb",
            tail = out(reg) _,
            inout("rdi") dst => _, inout("rcx") n => _, in("rax") pattern,
            options(nostack)
        );
    }
    dst
}

/// Compares `n` bytes: <0, 0 or >0 like C's `memcmp`.
///
/// # Safety
///
/// `a` and `b` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let left: *const u8;
    let right: *const u8;
    let equal: u8;
    // SAFETY: the caller guarantees both buffers; REPE CMPSB stops after the
    // first differing byte with RSI/RDI one past it.
    unsafe {
        asm!(
            "repe cmpsb", "sete {eq}",
            eq = out(reg_byte) equal,
            inout("rsi") a => left, inout("rdi") b => right, inout("rcx") n => _,
            options(nostack, readonly)
        );
    }
    if equal != 0 {
        return 0;
    }
    // SAFETY: both pointers are one past the differing byte, inside the buffers.
    unsafe { i32::from(*left.sub(1)) - i32::from(*right.sub(1)) }
}

/// Compares `n` bytes for equality (0 if equal).
///
/// # Safety
///
/// `a` and `b` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as `memcmp`.
    unsafe { memcmp(a, b, n) }
}
