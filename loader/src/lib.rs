//! Loading a static x86_64 program (ABI §8), shared by the kernel's init
//! loader and `ferrite-rt`'s `spawn`: the ELF reader ([`Program`]) and the
//! initial stack builder ([`build_stack`]).
//!
//! Trust level: `#![forbid(unsafe_code)]`, `no_std`, no allocation; depends
//! on `abi` and the `elf` crate. The callers map the [`Region`]s and copy the
//! [`Segment`]s' bytes their own way (the kernel through its checked copy,
//! `spawn` through staging regions and MCLONE).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod program;
mod stack;

#[cfg(any(test, feature = "sample"))]
pub mod sample;

#[cfg(test)]
mod tests;

pub use elf::abi::{ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD};
pub use program::{ElfError, Header, Program, Region, Segment, PHDR_SIZE};
pub use stack::{build_stack, StackTooSmall};
