//! Build script of the kernel: link arguments for the bootable image (feature `image` only).
//!
//! Host builds (the library, its tests) are left untouched; `cargo xtask build`
//! enables `image` and builds for `x86_64-unknown-none`, whose linker is
//! `rust-lld` (GNU flavour, so plain `ld` arguments), and this script adds the
//! static link line and the linker script `link.ld` to the `ferrite-kernel`
//! binary only.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_IMAGE").is_none() {
        return;
    }
    let dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let script = dir.join("link.ld");
    for arg in [
        "-static",
        "--build-id=none",
        "-z",
        "max-page-size=0x1000",
        "--no-relax",
        "-z",
        "norelro",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
}
