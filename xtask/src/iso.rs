//! `cargo xtask iso`: a hybrid BIOS/UEFI ISO that boots Ferrite through GRUB (Multiboot).
//!
//! `grub-mkrescue` (Debian `grub-common`, with `grub-pc-bin` for BIOS,
//! `grub-efi-amd64-bin` for UEFI, `xorriso` and `mtools`) turns a staging
//! directory into an image that boots from a CD on both firmwares and, being
//! an isohybrid image, also from a USB stick written with `dd`. GRUB loads the
//! kernel with `multiboot2` (which hands over the ACPI RSDP, needed on UEFI
//! machines) and the init program as the first `module2`, whose command line
//! is the program's argv (ABI §8).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{ensure_packages, Need};

/// What `grub-mkrescue` needs, and the Debian package of each.
const ISO_TOOLS: [Need; 5] = [
    Need::Command("grub-mkrescue", "grub-common"),
    Need::Path("/usr/lib/grub/i386-pc", "grub-pc-bin"),
    Need::Path("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin"),
    Need::Command("xorriso", "xorriso"),
    Need::Command("mformat", "mtools"),
];

/// Everything one ISO boots.
#[derive(Clone, Debug)]
pub struct IsoSpec {
    pub kernel: PathBuf,
    /// The init program; `argv[0]` is its file name.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The kernel command line (e.g. `log=debug`).
    pub kernel_cmdline: String,
}

/// Installs the ISO tools when missing (as root), else says what to install.
pub fn ensure_tools() -> Result<(), String> {
    ensure_packages(&ISO_TOOLS)
}

/// The GRUB configuration of an image: boot at once, Ferrite as the only entry.
fn grub_cfg(init_name: &str, args: &[String], kernel_cmdline: &str) -> String {
    let mut module_line = format!("/boot/{init_name}");
    for word in std::iter::once(init_name).chain(args.iter().map(String::as_str)) {
        module_line.push(' ');
        module_line.push_str(word);
    }
    format!(
        "# Ferrite: made by `cargo xtask iso`\n\
         set timeout=0\n\
         set default=0\n\
         # Hand the screen over as the firmware set it up (VGA text on BIOS,\n\
         # the GOP framebuffer on UEFI): the kernel mirrors its console there.\n\
         insmod all_video\n\
         set gfxpayload=keep\n\
         menuentry \"Ferrite\" {{\n\
         \x20   multiboot2 /boot/ferrite-kernel {kernel_cmdline}\n\
         \x20   module2 {module_line}\n\
         \x20   boot\n\
         }}\n"
    )
}

/// Checks one word of a GRUB command line (no quoting is done).
fn check_word(word: &str) -> Result<(), String> {
    if word.is_empty()
        || word.contains(|c: char| {
            c.is_whitespace() || "\"'\\$;{}#".contains(c) || !c.is_ascii_graphic()
        })
    {
        return Err(format!(
            "'{word}': init arguments and the init file name must be printable words without quotes, '$', ';', '#', braces or spaces"
        ));
    }
    Ok(())
}

/// Builds the ISO at `out`.
pub fn build(spec: &IsoSpec, out: &Path) -> Result<(), String> {
    ensure_tools()?;
    let init_name = spec
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: no file name", spec.program.display()))?;
    for word in std::iter::once(&init_name).chain(&spec.args) {
        check_word(word)?;
    }
    for word in spec.kernel_cmdline.split_whitespace() {
        check_word(word)?;
    }
    let stem = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ferrite.iso".into());
    let staging = crate::root().join("target/iso").join(format!("{stem}.d"));
    let _ = std::fs::remove_dir_all(&staging);
    let boot = staging.join("boot");
    std::fs::create_dir_all(boot.join("grub"))
        .map_err(|e| format!("cannot create {}: {e}", boot.display()))?;
    let copy = |from: &Path, to: PathBuf| {
        std::fs::copy(from, &to)
            .map(|_| ())
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
    };
    copy(&spec.kernel, boot.join("ferrite-kernel"))?;
    copy(&spec.program, boot.join(&init_name))?;
    std::fs::write(
        boot.join("grub/grub.cfg"),
        grub_cfg(&init_name, &spec.args, &spec.kernel_cmdline),
    )
    .map_err(|e| format!("cannot write grub.cfg: {e}"))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(out)
        .arg(&staging)
        .output()
        .map_err(|e| format!("cannot start grub-mkrescue: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "grub-mkrescue failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::{check_word, grub_cfg};

    #[test]
    fn config_names_kernel_and_init_with_argv() {
        let cfg = grub_cfg("boot", &["a".into(), "b".into()], "log=info");
        assert!(cfg.contains("multiboot2 /boot/ferrite-kernel log=info\n"));
        assert!(cfg.contains("module2 /boot/boot boot a b\n"));
        assert!(cfg.contains("set timeout=0\n"));
    }

    #[test]
    fn words_that_grub_would_reinterpret_are_refused() {
        assert!(check_word("a").is_ok());
        assert!(check_word("log=debug").is_ok());
        for bad in ["", "a b", "$x", "a;b", "\"q\"", "{", "#c"] {
            assert!(check_word(bad).is_err(), "{bad:?}");
        }
    }
}
