//! The kernel's one internal error type and its single translation to the ABI conventions (ABI §1.1, §6).

use abi::errors::{ChorusError, JinueError};
use abi::numbers::Convention;
use abi::regs::SyscallArgs;

/// Every way a system call can fail, independent of the calling convention.
///
/// Handlers return these with `?`; [`encode`] is the only place where they
/// become ABI numbers. Faults that kill a thread are not errors: they never
/// reach the caller (see `fault.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Out of memory for the operation (nothing changed).
    NoMemory,
    /// The function number names no implemented function.
    NoSystemCall,
    /// An argument value is invalid.
    Invalid,
    /// A kernel object limit is reached; retrying later may work.
    Again,
    /// A descriptor number is invalid, free, or names the wrong kind of object.
    BadDescriptor,
    /// The descriptor's object no longer exists.
    Dead,
    /// The descriptor lacks a permission, or the caller is not allowed.
    Permission,
    /// The object is busy (a thread already started).
    Busy,
    /// No such thing to wait for (thread never started or already awaited).
    NoSuchThread,
    /// Waiting would never end (a thread awaiting itself).
    Deadlock,
    /// A user pointer belongs to the kernel or is not accessible.
    BadPointer,
    /// The capability names no live actor on this site.
    Unreachable,
    /// The address range overlaps existing regions / the target is not empty.
    Overlap,
    /// A message or reply is larger than the other side takes (IPC).
    TooBig,
    /// The thread holds no message to answer (IPC).
    NoMessage,
    /// A mapper broke the protocol (`K_EMAPPER`, ABI §4.5).
    Mapper,
    /// A mapper refused with this negative `diag`, passed back as is (ABI §4.5).
    MapperDiag(i64),
}

impl From<abi::args::Invalid> for Error {
    fn from(_: abi::args::Invalid) -> Self {
        Error::Invalid
    }
}

impl From<mm::MmError> for Error {
    fn from(e: mm::MmError) -> Self {
        match e {
            mm::MmError::InvalidArgument => Error::Invalid,
            mm::MmError::Overlap => Error::Overlap,
            mm::MmError::NoMemory => Error::NoMemory,
            mm::MmError::BadAddress => Error::BadPointer,
        }
    }
}

impl Error {
    /// The Jinue error number (ABI §6.1). A bad pointer is `EINVAL` in
    /// every Jinue function that takes one (ABI §3, §7).
    pub const fn jinue(self) -> JinueError {
        match self {
            Error::NoMemory => JinueError::NoMem,
            Error::NoSystemCall => JinueError::NoSys,
            Error::Invalid | Error::BadPointer | Error::Overlap => JinueError::Inval,
            Error::Again => JinueError::Again,
            Error::BadDescriptor => JinueError::BadF,
            Error::Dead | Error::Unreachable => JinueError::Io,
            Error::Permission => JinueError::Perm,
            Error::Busy => JinueError::Busy,
            Error::NoSuchThread => JinueError::Srch,
            Error::Deadlock => JinueError::DeadLk,
            Error::TooBig => JinueError::TooBig,
            Error::NoMessage => JinueError::NoMsg,
            Error::Mapper | Error::MapperDiag(_) => JinueError::Inval,
        }
    }

    /// The ChorusOS error code (ABI §6.2).
    pub const fn chorus(self) -> ChorusError {
        match self {
            Error::NoMemory | Error::Again => ChorusError::NoMem,
            Error::BadPointer => ChorusError::Fault,
            Error::Unreachable | Error::Dead => ChorusError::Unknown,
            Error::Overlap => ChorusError::Overlap,
            Error::Mapper | Error::MapperDiag(_) => ChorusError::Mapper,
            Error::NoSystemCall
            | Error::Invalid
            | Error::BadDescriptor
            | Error::Permission
            | Error::Busy
            | Error::NoSuchThread
            | Error::Deadlock
            | Error::TooBig
            | Error::NoMessage => ChorusError::Inval,
        }
    }
}

/// The one translation point: a handler's result in the caller's convention.
pub fn encode(convention: Convention, result: Result<u64, Error>) -> SyscallArgs {
    match (convention, result) {
        (Convention::Jinue, Ok(v)) => SyscallArgs::jinue_ok(v),
        (Convention::Chorus, Ok(v)) => SyscallArgs::chorus_ok(v),
        (Convention::Jinue, Err(e)) => SyscallArgs::jinue_err(e.jinue()),
        (Convention::Chorus, Err(Error::MapperDiag(diag))) => SyscallArgs {
            arg0: diag as u64,
            ..SyscallArgs::chorus_ok(0)
        },
        (Convention::Chorus, Err(e)) => SyscallArgs::chorus_err(e.chorus()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_zero_the_other_registers() {
        let j = encode(Convention::Jinue, Err(Error::BadDescriptor));
        assert_eq!((j.arg0 as i64, j.arg1, j.arg2, j.arg3), (-1, 5, 0, 0));
        let c = encode(Convention::Chorus, Err(Error::Unreachable));
        assert_eq!((c.arg0 as i64, c.arg1, c.arg2, c.arg3), (-3, 0, 0, 0));
        let ok = encode(Convention::Chorus, Ok(3));
        assert_eq!((ok.arg0, ok.arg1), (3, 0));
    }

    #[test]
    fn bad_pointer_is_einval_for_jinue_and_efault_for_chorus() {
        assert_eq!(Error::BadPointer.jinue(), JinueError::Inval);
        assert_eq!(Error::BadPointer.chorus(), ChorusError::Fault);
    }
}
