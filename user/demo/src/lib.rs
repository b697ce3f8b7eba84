//! The demo programs live in `src/bin` (built as images by `cargo xtask`); this library is empty so the package builds on the host.
#![no_std]
