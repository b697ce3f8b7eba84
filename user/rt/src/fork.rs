//! POSIX-like `fork()` built on CREATE_PROCESS, ACTOR_CAP, RGN_DUP, CREATE_THREAD and START_THREAD.
//!
//! The caller's callee-saved registers are pushed on its own stack, RGN_DUP
//! gives the child a copy of that stack (and of every region the flags select),
//! and the child's thread starts at a trampoline with the stack pointer where
//! the registers were saved: it pops them and returns 0 from the same call.

use crate::api::{self, Actor};
use crate::desc;
use crate::error::Error;
use crate::thread::SELF;
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::perms::{PROCESS_PERMS, THREAD_PERMS};

/// What `fork` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the parent: the child's owner descriptors.
    Parent(Child),
    /// In the child.
    Child,
}

/// A child process made by `fork` or `spawn`, named by the creator's owner descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child {
    /// Owner descriptor of the child process (`MAP|OPEN|CREATE_THREAD`).
    pub process: u64,
    /// Owner descriptor of the child's first thread (`START|AWAIT`).
    pub thread: u64,
}

impl Child {
    /// Awaits the child's first thread, then closes both descriptors.
    /// Returns AWAIT_THREAD's value (0 exited, 1 killed by a fault).
    ///
    /// # Errors
    ///
    /// AWAIT_THREAD's error (the descriptors are then kept).
    pub fn wait(self) -> Result<u64, Error> {
        let r = api::await_thread(self.thread)?;
        self.release();
        Ok(r)
    }

    /// Closes both descriptors without waiting (the child goes on running).
    pub fn release(self) {
        let _ = api::close(self.thread);
        let _ = api::close(self.process);
        desc::free(self.thread);
        desc::free(self.process);
    }
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
    "sub rsp, 8",
    // rsi = where the child resumes; rdi (the ForkOut pointer) passes through.
    "mov rsi, rsp",
    "call {parent}",
    "add rsp, 8",
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
    // The child's copy of the stack holds the registers the parent pushed.
    "xor eax, eax",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
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

/// Makes the process descriptor `p` name a new process that is a copy of the caller.
fn setup(flags: u64, resume_sp: u64) -> Result<Child, Error> {
    let p = desc::alloc().ok_or(Error::NoDescriptor)?;
    if let Err(e) = api::create_process(p) {
        desc::free(p);
        return Err(e.into());
    }
    let t = match desc::alloc() {
        Some(t) => t,
        None => {
            discard(p, None);
            return Err(Error::NoDescriptor);
        }
    };
    let result = (|| -> Result<(), Error> {
        let cap = api::actor_cap(p)?;
        api::rgn_dup(Actor::Cap(&cap), Actor::Me, flags)?;
        api::mint_into(p, p, SELF, PROCESS_PERMS, 0)?;
        api::create_thread(t, p)?;
        api::mint_into(t, p, INIT_THREAD_DESCRIPTOR, THREAD_PERMS, 0)?;
        api::start_thread(t, ferrite_fork_child as *const () as u64, resume_sp)?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Child {
            process: p,
            thread: t,
        }),
        Err(e) => {
            discard(p, Some(t));
            Err(e)
        }
    }
}

/// Undoes a half-built child (for `fork` and `spawn`): destroys process
/// `p`, closes its descriptor and, if one was made, the thread's `t`.
pub(crate) fn discard(p: u64, t: Option<u64>) {
    let _ = api::destroy(p);
    let _ = api::close(p);
    desc::free(p);
    if let Some(t) = t {
        let _ = api::close(t);
        desc::free(t);
    }
}

/// Forks the calling process: the child gets the regions RGN_DUP with `flags`
/// selects (0: each region's own inherit bit decides) and a thread that
/// returns [`Fork::Child`] from this call with the caller's stack and
/// callee-saved registers. The child has descriptor 0 (itself) and 1 (its
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
