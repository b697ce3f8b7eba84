//! The build script of every crate of Ferrite user programs (`user/tests`,
//! `user/demo`): with feature `image`, its bins are linked as static
//! `ET_EXEC` programs with the user linker script `user/rt/user.ld`; host
//! builds are left alone.

/// The user linker script (next to this crate, in `user/rt`).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rt/user.ld");

/// Prints the link arguments of the calling crate's image bins (only when
/// cargo builds it with feature `image`).
pub fn link_image_bins() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_IMAGE").is_none() {
        return;
    }
    println!("cargo:rerun-if-changed={SCRIPT}");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=4096",
        &format!("-Wl,-T,{SCRIPT}"),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
