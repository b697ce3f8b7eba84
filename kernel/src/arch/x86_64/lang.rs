//! Language glue of the freestanding image: panic handler and the mem* functions.
//!
//! The compiler lowers copies and fills to the C library's `memcpy` family;
//! these are written with string instructions (Intel SDM vol. 2
//! MOVS/STOS/CMPS), so the compiler cannot turn their bodies back into calls
//! to themselves, and they override the generic (weak) ones of
//! `compiler_builtins`.

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
    // Quadwords, then the last 0 to 7 bytes: each `rep` iteration is one
    // counted instruction under QEMU's `-icount`, and on hardware without
    // ERMS the quadword form is the fast one.
    // SAFETY: the caller guarantees both buffers; DF is clear in the kernel.
    // A forward copy by quadwords is also what `memmove` relies on (below).
    unsafe {
        asm!(
            "rep movsq", "mov ecx, {tail:e}", "rep movsb",
            inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") n / 8 => _,
            tail = in(reg) n % 8,
            options(nostack, preserves_flags)
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
        // SAFETY: a forward copy never overwrites source bytes not yet read
        // here (with quadwords too: each 8 bytes are read before the 8 at the
        // lower `dst` are written, and later reads are all above them).
        unsafe { memcpy(dst, src, n) };
    } else if n > 0 {
        // SAFETY: copying backwards (DF set, then cleared again) handles the
        // overlap with dst above src: first the top `n % 8` bytes one by
        // one, then the rest by quadwords from the top down (each read lies
        // below every byte written so far); the caller guarantees both buffers.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "sub rsi, 7",
                "sub rdi, 7",
                "mov rcx, {quads}",
                "rep movsq",
                "cld",
                inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _, inout("rcx") n % 8 => _,
                quads = in(reg) n / 8,
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
    // The byte repeated eight times: quadwords, then the last 0 to 7 bytes.
    let pattern = u64::from(c as u8) * 0x0101_0101_0101_0101;
    // SAFETY: the caller guarantees the buffer; DF is clear in the kernel.
    unsafe {
        asm!(
            "rep stosq", "mov ecx, {tail:e}", "rep stosb",
            inout("rdi") dst => _, inout("rcx") n / 8 => _, in("rax") pattern,
            tail = in(reg) n % 8,
            options(nostack, preserves_flags)
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

/// Checks `memcpy`, `memmove` (both directions of overlap) and `memset`
/// against the byte each position must end up with, for every length up to
/// 40 and every source and destination offset up to 11 (so the quadword
/// parts and the 0 to 7 tail bytes are all exercised). Runs once at boot;
/// a mismatch is a kernel bug and panics.
pub fn check_mem_functions() {
    let mut buf = [0u8; 64];
    let mut other = [0u8; 64];
    let fill = |buf: &mut [u8; 64]| {
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: a plain store into the local buffer; volatile so the
            // compiler does not turn the loop into a call to the functions checked.
            unsafe { core::ptr::write_volatile(b, i as u8) };
        }
    };
    let check = |buf: &[u8; 64], what: &str, expect: &dyn Fn(usize) -> u8| {
        for (i, &b) in buf.iter().enumerate() {
            assert!(b == expect(i), "{what}: byte {i} is {b}, not {}", expect(i));
        }
    };
    for n in 0..40usize {
        for from in 0..12usize {
            for to in 0..12usize {
                let inside = |i: usize| (to..to + n).contains(&i);
                fill(&mut buf);
                let p = buf.as_mut_ptr();
                // SAFETY: both ranges lie inside the 64-byte buffer (11 + 39 < 64).
                unsafe { memmove(p.add(to), p.add(from), n) };
                check(&buf, "memmove", &|i| {
                    if inside(i) {
                        (from + i - to) as u8
                    } else {
                        i as u8
                    }
                });
                fill(&mut buf);
                fill(&mut other);
                // SAFETY: two distinct buffers, both ranges inside them.
                unsafe { memcpy(other.as_mut_ptr().add(to), buf.as_ptr().add(from), n) };
                check(&other, "memcpy", &|i| {
                    if inside(i) {
                        (from + i - to) as u8
                    } else {
                        i as u8
                    }
                });
                // SAFETY: the range lies inside the buffer.
                unsafe { memset(buf.as_mut_ptr().add(to), 0xA5, n) };
                check(&buf, "memset", &|i| if inside(i) { 0xA5 } else { i as u8 });
            }
        }
    }
}
