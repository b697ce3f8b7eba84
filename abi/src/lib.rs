//! Ferrite's user/kernel contract (`doc/spec/ABI.md`) as Rust: the single source of truth.
//!
//! Trust level: no `unsafe`, no dependencies, `no_std`. Used by the kernel, the
//! user runtime, the tests and the generator of `include/ferrite.h`.
#![no_std]
#![forbid(unsafe_code)]

pub mod args;
pub mod c_header;
pub mod errors;
pub mod init;
pub mod ipc;
pub mod layout;
pub mod mapper;
pub mod memstat;
pub mod numbers;
pub mod perms;
pub mod physmem;
pub mod region;
pub mod regs;
pub mod types;

pub use errors::{ChorusError, JinueError};
pub use numbers::{ChorusCall, Convention, Function, JinueCall};
