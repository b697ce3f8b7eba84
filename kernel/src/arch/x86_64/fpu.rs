//! Lazy x87/SSE state: which CPU's registers hold which thread's state.
//!
//! The kernel is soft-float (`x86_64-unknown-none`; `kernel::soft_float`
//! checks the image), so after a trap from ring 3 the CPU's x87/SSE
//! registers still hold the state of the thread that trapped, for as long as
//! the kernel runs. Nothing is saved on entry and nothing restored on exit
//! while the same thread keeps running on the same CPU. Each CPU tracks one
//! fact, `PerCpu::fpu_live`: "my registers hold the state of the thread whose
//! context is in my `UserContext`, and they are at least as new as its
//! `fpu` image".
//!
//! - Set by the way to ring 3 (`ferrite_enter_user` in `trap.rs`) when
//!   it loads the image with FXRSTOR64, which it does only when the flag is
//!   clear, and by [`load_from`] (`Platform::load_fpu_from`), which the
//!   core calls when it makes a thread current: FXRSTOR64 straight from the
//!   thread object's image. While the thread traps and resumes on this CPU
//!   the flag stays set: the registers keep the newest state, the image in
//!   the `UserContext` may be stale.
//! - Cleared by [`image_loaded`] (`Platform::load_fpu`), which the core
//!   calls whenever it copies a whole context into the CPU's `UserContext`.
//! - [`save_into`] (`Platform::save_fpu_into`): FXSAVE64 straight into the
//!   thread object's image when the flag is set (else a copy of the
//!   `UserContext`'s). The core calls it when it keeps a context in a thread
//!   object, on the CPU where that thread ran, so a thread object never
//!   holds a stale image once the thread has stopped running, and a thread
//!   picked up by another CPU (or the same one later) is restored from it.
//!   [`save`] (`Platform::save_fpu`) does the same into the `UserContext`.
//!
//! A thread ended from another CPU (`Platform::stop_cpu`) is never saved:
//! its state no longer matters, and the core loads another context (and
//! clears the flag) before that CPU returns to ring 3. Each flag is touched
//! only by its own CPU, with interrupts off.

use core::arch::asm;
use core::sync::atomic::Ordering;

use kernel::UserContext;

use super::percpu::{self, PerCpu};

/// FXSAVE64 into a 512-byte image (Intel SDM vol. 2 FXSAVE).
fn fxsave(image: &mut [u8; 512]) {
    // FXSAVE faults on an image that is not 16-byte aligned; `UserContext`
    // keeps `fpu` aligned (asserted at compile time in trap.rs).
    debug_assert!((image.as_ptr() as usize).is_multiple_of(16));
    // SAFETY: writes exactly the 512 bytes of `image`, aligned; CR4.OSFXSR
    // is set on every CPU at boot; reads only the x87/SSE registers.
    unsafe {
        asm!(
            "fxsave64 [{}]",
            in(reg) image.as_mut_ptr(),
            options(nostack, preserves_flags)
        )
    }
}

/// FXRSTOR64 from a 512-byte image (Intel SDM vol. 2 FXRSTOR).
///
/// # Safety
///
/// The image's MXCSR must have no reserved bit set (bits 16..32), or the
/// instruction raises #GP in ring 0.
unsafe fn fxrstor(image: &[u8; 512]) {
    debug_assert!((image.as_ptr() as usize).is_multiple_of(16));
    // SAFETY: reads exactly the 512 bytes of `image`, aligned (the caller's
    // `UserContext` keeps `fpu` aligned); CR4.OSFXSR is set on every CPU;
    // the caller checked MXCSR; only the x87/SSE registers change, which
    // the (soft-float) kernel does not use.
    unsafe {
        asm!(
            "fxrstor64 [{}]",
            in(reg) image.as_ptr(),
            options(nostack, preserves_flags, readonly)
        )
    }
}

/// MXCSR offset in the FXSAVE image and its reserved bits (Intel SDM vol. 1
/// §10.5.1 table 10-2, vol. 2 FXRSTOR).
const MXCSR_OFFSET: usize = 24;
const MXCSR_RESERVED: u32 = 0xFFFF_0000;

/// Whether FXRSTOR64 of `image` cannot fault (no reserved MXCSR bit set).
fn loadable(image: &[u8; 512]) -> bool {
    let mxcsr = u32::from_le_bytes([
        image[MXCSR_OFFSET],
        image[MXCSR_OFFSET + 1],
        image[MXCSR_OFFSET + 2],
        image[MXCSR_OFFSET + 3],
    ]);
    mxcsr & MXCSR_RESERVED == 0
}

/// Whether `ctx` is this CPU's own `UserContext` (the only one whose state
/// the registers can hold).
fn is_this_cpus_context(me: &PerCpu, ctx: &UserContext) -> bool {
    core::ptr::eq(me.ctx.get().cast_const(), ctx)
}

/// `Platform::save_fpu`: writes the registers into `ctx.fpu` if they hold
/// its thread's state. The registers keep it, so if the same thread runs
/// here next, nothing is restored.
pub fn save(ctx: &mut UserContext) {
    let me = percpu::this();
    debug_assert!(
        is_this_cpus_context(me, ctx),
        "save_fpu on a context this CPU does not run"
    );
    if me.fpu_live.load(Ordering::Relaxed) {
        fxsave(&mut ctx.fpu);
    }
}

/// `Platform::save_fpu_into`: the state of the thread whose context is
/// `ctx` into `image` (a thread object's), from the registers when they
/// hold it (FXSAVE64 straight there), else from `ctx.fpu`. The flag stays
/// as it is: the registers still hold that state, and `ctx` is still the
/// thread's until the core loads another context.
pub fn save_into(ctx: &UserContext, image: &mut [u8; 512]) {
    let me = percpu::this();
    debug_assert!(
        is_this_cpus_context(me, ctx),
        "save_fpu_into on a context this CPU does not run"
    );
    if me.fpu_live.load(Ordering::Relaxed) {
        fxsave(image);
    } else {
        image.copy_from_slice(&ctx.fpu);
    }
}

/// `Platform::load_fpu_from`: the core put another thread's registers into
/// this CPU's `ctx` and `image` is that thread's state. Loaded into the
/// registers at once (FXRSTOR64), which then hold the newest state of the
/// thread in `ctx` (the flag set; `ctx.fpu` is stale, which the flag
/// allows). An image FXRSTOR64 would refuse goes into `ctx.fpu` instead,
/// where the way to ring 3 sanitizes and loads it.
pub fn load_from(ctx: &mut UserContext, image: &[u8; 512]) {
    let me = percpu::this();
    debug_assert!(
        is_this_cpus_context(me, ctx),
        "load_fpu_from on a context this CPU does not run"
    );
    if loadable(image) {
        // SAFETY: MXCSR checked just above.
        unsafe { fxrstor(image) };
        me.fpu_live.store(true, Ordering::Relaxed);
    } else {
        ctx.fpu.copy_from_slice(image);
        me.fpu_live.store(false, Ordering::Relaxed);
    }
}

/// `Platform::load_fpu`: the CPU's `UserContext` now holds an image the
/// registers do not; restore it on the next way to ring 3.
pub fn image_loaded() {
    percpu::this().fpu_live.store(false, Ordering::Relaxed);
}
