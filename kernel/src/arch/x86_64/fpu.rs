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
//!   clear. While the thread traps and resumes on this CPU the flag stays
//!   set: the registers keep the newest state, the image may be stale.
//! - Cleared by [`image_loaded`] (`Platform::load_fpu`), which the core
//!   calls whenever it copies a context into the CPU's `UserContext` (the
//!   next thread, wherever it last ran, or an image the kernel wrote).
//! - [`save`] (`Platform::save_fpu`): FXSAVE64 into the image only when the
//!   flag is set. The core calls it before it keeps a context in a thread
//!   object, on the CPU where that thread ran, so a thread object never
//!   holds a stale image once the thread has stopped running, and a thread
//!   picked up by another CPU (or the same one later) is restored from it.
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

/// `Platform::load_fpu`: the CPU's `UserContext` now holds an image the
/// registers do not; restore it on the next way to ring 3.
pub fn image_loaded() {
    percpu::this().fpu_live.store(false, Ordering::Relaxed);
}
