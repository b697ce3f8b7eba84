//! Raw system-call stubs: the `syscall` instruction and `int 0x80` (ABI §1).

use abi::init::{HOWSYSCALL_INTERRUPT, HOWSYSCALL_SYSCALL};
use abi::regs::SyscallArgs;
use core::sync::atomic::{AtomicU64, Ordering};

/// The entry mechanism the wrappers use; set from `JINUE_AT_HOWSYSCALL` at
/// start-up. `int 0x80` until then, since it is always available.
static HOW: AtomicU64 = AtomicU64::new(HOWSYSCALL_INTERRUPT);

/// Entry mechanism of a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// The `syscall` instruction.
    Syscall,
    /// Software interrupt `int 0x80`.
    Interrupt,
}

/// Chooses the mechanism the wrappers use from a `JINUE_AT_HOWSYSCALL` value
/// (unknown values keep `int 0x80`, which always works).
pub fn set_how_syscall(value: u64) {
    if value == HOWSYSCALL_SYSCALL || value == HOWSYSCALL_INTERRUPT {
        HOW.store(value, Ordering::Relaxed);
    }
}

/// The mechanism the wrappers use now.
pub fn mechanism() -> Mechanism {
    if HOW.load(Ordering::Relaxed) == HOWSYSCALL_SYSCALL {
        Mechanism::Syscall
    } else {
        Mechanism::Interrupt
    }
}

/// Runs `$instruction` with the four logical registers of ABI §1 in and out
/// (`arg0..arg3` in rax, rdi, rsi, rdx) and `$clobber`s lost; evaluates to
/// the registers as the kernel left them. Used inside `unsafe`.
macro_rules! enter_kernel {
    ($args:expr, $instruction:literal $(, $clobber:tt)*) => {{
        let (a0, a1, a2, a3): (u64, u64, u64, u64);
        core::arch::asm!(
            $instruction,
            inlateout("rax") $args.arg0 => a0,
            inlateout("rdi") $args.arg1 => a1,
            inlateout("rsi") $args.arg2 => a2,
            inlateout("rdx") $args.arg3 => a3,
            $(lateout($clobber) _,)*
            options(nostack),
        );
        self::args(a0, a1, a2, a3)
    }};
}

/// Issues one system call with the `syscall` instruction and returns all four
/// logical registers as the kernel left them.
///
/// # Safety
///
/// The call may change the caller's address space (free, protect or replace
/// memory) or end the thread; the caller must make sure no Rust reference
/// points into memory the call takes away or changes behind the compiler's back.
pub unsafe fn syscall(args: SyscallArgs) -> SyscallArgs {
    // SAFETY: the caller vouches for the memory effects (see `# Safety`);
    // `syscall` clobbers only rcx and r11 besides the declared registers (ABI §1)
    // and never touches the user stack.
    unsafe { enter_kernel!(args, "syscall", "rcx", "r11") }
}

/// Issues one system call with `int 0x80`.
///
/// # Safety
///
/// As for [`syscall`].
pub unsafe fn interrupt(args: SyscallArgs) -> SyscallArgs {
    // SAFETY: as in `syscall`; the interrupt switches to the kernel stack, so
    // the user stack (and its red zone) is untouched.
    unsafe { enter_kernel!(args, "int 0x80") }
}

/// Issues one system call with the mechanism in use (see [`mechanism`]).
///
/// # Safety
///
/// As for [`syscall`].
pub unsafe fn call(args: SyscallArgs) -> SyscallArgs {
    match mechanism() {
        // SAFETY: forwarded contract.
        Mechanism::Syscall => unsafe { syscall(args) },
        // SAFETY: forwarded contract.
        Mechanism::Interrupt => unsafe { interrupt(args) },
    }
}

/// Builds the argument registers of a call.
pub const fn args(arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> SyscallArgs {
    SyscallArgs {
        arg0,
        arg1,
        arg2,
        arg3,
    }
}
