//! Build script of the kernel: link arguments for the bootable image (feature `image` only).
//!
//! Host builds (the library, its tests) are left untouched; `cargo xtask build`
//! enables `image` and builds for `x86_64-unknown-linux-gnu` with its own
//! `RUSTFLAGS`, and this script adds the freestanding link line and the linker
//! script `link.ld` to the `ferrite-kernel` binary only.

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
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=0x1000",
        "-Wl,--no-relax",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
