//! Ferrite kernel core (being built; see issue 4).
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
