//! Ferrite user runtime (being built; see issue 2).
#![no_std]
