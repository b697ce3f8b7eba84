//! Ferrite kernel image entry (being built; see issue 2).
#![no_std]
#![no_main]
