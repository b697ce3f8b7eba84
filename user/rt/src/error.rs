//! The runtime's error type: an ABI error of either family, or a runtime-level failure.

use abi::errors::{ChorusError, JinueError};
use core::fmt;
use loader::ElfError;

/// Why a runtime operation (thread, fork, spawn) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A Jinue-convention call failed.
    Jinue(JinueError),
    /// A ChorusOS-convention call failed.
    Chorus(ChorusError),
    /// The runtime ran out of descriptor numbers.
    NoDescriptor,
    /// The ELF image is malformed or unsupported (what is wrong).
    BadElf(ElfError),
    /// The arguments do not fit in the new program's stack.
    TooBig,
}

impl From<JinueError> for Error {
    fn from(e: JinueError) -> Self {
        Error::Jinue(e)
    }
}

impl From<ElfError> for Error {
    fn from(e: ElfError) -> Self {
        Error::BadElf(e)
    }
}

impl From<ChorusError> for Error {
    fn from(e: ChorusError) -> Self {
        Error::Chorus(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Jinue(e) => f.write_str(e.name()),
            Error::Chorus(e) => f.write_str(e.name()),
            Error::NoDescriptor => f.write_str("out of descriptor numbers"),
            Error::BadElf(why) => write!(f, "bad ELF image: {why}"),
            Error::TooBig => f.write_str("arguments too big for the stack"),
        }
    }
}
