//! Threads in the own process: a stack from RGN_ALLOCATE, CREATE_THREAD, START_THREAD at a trampoline.

use crate::api::{self, rgn, Actor};
use crate::desc;
use crate::error::Error;
use abi::init::INIT_SELF_DESCRIPTOR;
use abi::region::{K_ANYWHERE, K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;
use core::mem::{align_of, size_of};

/// Default stack size of a new thread.
pub const DEFAULT_STACK_BYTES: u64 = 64 * 1024;

/// The descriptor through which a process names itself: the runtime keeps the
/// init layout (ABI §8) in every process it creates (fork, spawn).
pub const SELF: u64 = INIT_SELF_DESCRIPTOR;

core::arch::global_asm!(
    ".globl ferrite_thread_trampoline",
    ".type ferrite_thread_trampoline,@function",
    "ferrite_thread_trampoline:",
    // [rsp] = runner, [rsp + 8] = closure pointer (see `spawn_unchecked`).
    "pop rax",
    "pop rdi",
    "and rsp, -16",
    "call rax",
    "ud2",
    ".size ferrite_thread_trampoline, . - ferrite_thread_trampoline",
);

extern "C" {
    fn ferrite_thread_trampoline();
}

extern "C" fn runner<F: FnOnce()>(closure: *mut F) -> ! {
    // SAFETY: `spawn_unchecked` moved a valid `F` to this address and never
    // touches it again; it is read exactly once.
    let f = unsafe { closure.read() };
    f();
    api::exit_thread()
}

/// A running thread of the own process.
#[derive(Debug)]
pub struct JoinHandle {
    desc: u64,
    stack: KnRgnDesc,
}

impl JoinHandle {
    /// The thread's owner descriptor (`START|AWAIT`).
    pub fn descriptor(&self) -> u64 {
        self.desc
    }

    /// The thread's stack region.
    pub fn stack(&self) -> KnRgnDesc {
        self.stack
    }

    /// Awaits the thread, then closes its descriptor and frees its stack.
    /// Returns AWAIT_THREAD's value: 0 if it exited, 1 if a fault killed it.
    ///
    /// # Errors
    ///
    /// The AWAIT_THREAD error (the stack and descriptor are then kept).
    pub fn join(self) -> Result<u64, Error> {
        let r = api::await_thread(self.desc)?;
        let _ = api::close(self.desc);
        desc::free(self.desc);
        let _ = api::rgn_free(Actor::Me, &rgn(self.stack.startAddr, self.stack.size, 0));
        Ok(r)
    }
}

/// Starts `f` on a new thread of the own process.
///
/// # Errors
///
/// RGN_ALLOCATE, CREATE_THREAD or START_THREAD errors; nothing is left behind.
pub fn spawn<F: FnOnce() + Send + 'static>(f: F) -> Result<JoinHandle, Error> {
    // SAFETY: `F: 'static` borrows nothing that could go away before it runs.
    unsafe { spawn_unchecked(f, DEFAULT_STACK_BYTES) }
}

/// Runs `f` on a new thread and waits for it: returns 0 if it ended normally,
/// 1 if a fault killed it. `f` may borrow from the caller.
///
/// # Errors
///
/// As [`spawn`], or AWAIT_THREAD's error.
///
/// # Panics
///
/// If the thread was started but cannot be awaited: returning then could
/// leave it running with borrowed data.
pub fn run<F: FnOnce() + Send>(f: F) -> Result<u64, Error> {
    run_with_stack(f, DEFAULT_STACK_BYTES)
}

/// [`run`] with a stack of `stack_bytes`.
///
/// # Errors
///
/// As [`run`].
///
/// # Panics
///
/// As [`run`].
pub fn run_with_stack<F: FnOnce() + Send>(f: F, stack_bytes: u64) -> Result<u64, Error> {
    // SAFETY: the thread is joined before this function returns, so the
    // borrows inside `f` outlive it (and a failed join panics, never returns).
    let h = unsafe { spawn_unchecked(f, stack_bytes) }?;
    match h.join() {
        Ok(r) => Ok(r),
        Err(e) => panic!("cannot await a started thread: {e}"),
    }
}

/// Starts `f` on a new thread with a stack of `stack_bytes`.
///
/// # Safety
///
/// Whatever `f` borrows must outlive the thread (join it before the borrow ends).
///
/// # Errors
///
/// As [`spawn`].
pub unsafe fn spawn_unchecked<F: FnOnce() + Send>(
    f: F,
    stack_bytes: u64,
) -> Result<JoinHandle, Error> {
    let mut stack = rgn(0, stack_bytes, K_ANYWHERE | K_WRITABLE | K_INHERITCOPY);
    api::rgn_allocate(Actor::Me, &mut stack)?;
    let free_stack = |stack: &KnRgnDesc| {
        let _ = api::rgn_free(Actor::Me, &rgn(stack.startAddr, stack.size, 0));
    };
    let Some(t) = desc::alloc() else {
        free_stack(&stack);
        return Err(Error::NoDescriptor);
    };
    if let Err(e) = api::create_thread(t, SELF) {
        desc::free(t);
        free_stack(&stack);
        return Err(e.into());
    }
    let top = stack.startAddr + stack.size;
    let align = align_of::<F>().max(16) as u64;
    let closure_at = (top - size_of::<F>() as u64) & !(align - 1);
    let sp = (closure_at - 16) & !15;
    let runner_fn: extern "C" fn(*mut F) -> ! = runner::<F>;
    // SAFETY: [sp, top) lies in the fresh writable stack region just
    // allocated, which nothing else uses; the closure is moved there once.
    unsafe {
        core::ptr::write(closure_at as *mut F, f);
        core::ptr::write(sp as *mut u64, runner_fn as usize as u64);
        core::ptr::write((sp + 8) as *mut u64, closure_at);
    }
    let entry = ferrite_thread_trampoline as *const () as u64;
    if let Err(e) = api::start_thread(t, entry, sp) {
        // The closure was moved into the stack and is dropped with it unrun;
        // closures with drop glue leak their resources in that case.
        let _ = api::close(t);
        desc::free(t);
        free_stack(&stack);
        return Err(e.into());
    }
    Ok(JoinHandle { desc: t, stack })
}
