//! POSIX-like `fork()` built on CREATE_PROCESS, ACTOR_CAP, RGN_DUP, CREATE_THREAD and START_THREAD.
//!
//! The caller's callee-saved registers and its x87/SSE state (FXSAVE64) are
//! saved on its own stack, RGN_DUP gives the child a copy of that stack (and
//! of every region the flags select), and the child's thread starts at a
//! trampoline with the stack pointer where they were saved: it loads the
//! x87/SSE state (FXRSTOR64: the parent's MXCSR, x87 control word and
//! registers as they were at the call), pops the registers and returns 0
//! from the same call. START_THREAD alone would give the child a fresh
//! x87/SSE state.

use crate::api::{self, Actor};
use crate::child::{new_child, Child};
use crate::error::Error;

/// What `fork` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the parent: the child's owner descriptors.
    Parent(Child),
    /// In the child.
    Child,
}

/// Parent-side result slot, in the caller's frame.
#[repr(C)]
struct ForkOut {
    flags: u64,
    child: Child,
    error: Option<Error>,
}

core::arch::global_asm!(
    ".globl ferrite_fork",
    ".type ferrite_fork,@function",
    "ferrite_fork:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // 8 bytes realign the stack to 16 (FXSAVE64 needs it), then the image.
    "sub rsp, 8 + 512",
    "fxsave64 [rsp]",
    // rsi = where the child resumes; rdi (the ForkOut pointer) passes through.
    "mov rsi, rsp",
    "call {parent}",
    // Both the parent and the child return from here.
    ".Lferrite_fork_return:",
    "add rsp, 8 + 512",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size ferrite_fork, . - ferrite_fork",
    ".globl ferrite_fork_child",
    ".type ferrite_fork_child,@function",
    "ferrite_fork_child:",
    // The child's copy of the stack holds the parent's x87/SSE image and
    // the registers it pushed.
    "fxrstor64 [rsp]",
    "xor eax, eax",
    "jmp .Lferrite_fork_return",
    ".size ferrite_fork_child, . - ferrite_fork_child",
    parent = sym fork_parent,
);

extern "C" {
    /// Returns 0 in the child, 1 in the parent on success, 2 on failure.
    fn ferrite_fork(out: *mut core::ffi::c_void) -> u64;
    fn ferrite_fork_child();
}

extern "C" fn fork_parent(out: *mut core::ffi::c_void, resume_sp: u64) -> u64 {
    // SAFETY: `out` points at the live `ForkOut` in `fork_with`'s frame.
    let out = unsafe { &mut *out.cast::<ForkOut>() };
    match setup(out.flags, resume_sp) {
        Ok(child) => {
            out.child = child;
            1
        }
        Err(e) => {
            out.error = Some(e);
            2
        }
    }
}

/// Makes a new process that is a copy of the caller, whose thread resumes
/// at `resume_sp` in the child trampoline.
fn setup(flags: u64, resume_sp: u64) -> Result<Child, Error> {
    new_child(|p| {
        let cap = api::actor_cap(p)?;
        api::rgn_dup(Actor::Cap(&cap), Actor::Me, flags)?;
        Ok((ferrite_fork_child as *const () as u64, resume_sp))
    })
}

/// Forks the calling process: the child gets the regions RGN_DUP with `flags`
/// selects (0: each region's own inherit bit decides) and a thread that
/// returns [`Fork::Child`] from this call with the caller's stack,
/// callee-saved registers and x87/SSE state (MXCSR, x87 control word). The child has descriptor 0 (itself) and 1 (its
/// thread), like the init process; nothing else is shared unless a region is.
///
/// The calling thread's stack must be in a region the flags duplicate (the
/// runtime's thread stacks and the initial stack carry `K_INHERITCOPY`).
///
/// # Errors
///
/// The first failing call's error; nothing is left behind.
pub fn fork_with(flags: u64) -> Result<Fork, Error> {
    let mut out = ForkOut {
        flags,
        child: Child {
            process: 0,
            thread: 0,
        },
        error: None,
    };
    // SAFETY: `ferrite_fork` is a normal C-ABI function that returns once in
    // the parent and once in the child; the child's stack is a copy taken
    // while this frame was suspended in the call, with the callee-saved
    // registers restored, so both returns see a consistent frame.
    match unsafe { ferrite_fork((&raw mut out).cast()) } {
        0 => Ok(Fork::Child),
        1 => Ok(Fork::Parent(out.child)),
        _ => Err(out.error.unwrap_or(Error::NoDescriptor)),
    }
}

/// [`fork_with`] with flags 0 (each region's inherit bit decides).
///
/// # Errors
///
/// As [`fork_with`].
pub fn fork() -> Result<Fork, Error> {
    fork_with(0)
}
