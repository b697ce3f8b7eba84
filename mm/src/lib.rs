//! Ferrite memory core (being built; see issue 3).
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
