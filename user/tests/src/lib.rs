//! placeholder lib so the package builds on the host; programs are in src/bin (built by cargo xtask).
#![no_std]
