//! Host tools the runner needs: found, installed with apt-get as root, or named for the user.

use std::path::Path;
use std::process::{Command, Stdio};

/// One thing that must exist, and the Debian package that provides it.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// A command on `PATH` (run with `--version`).
    Command(&'static str, &'static str),
    /// A file or directory.
    Path(&'static str, &'static str),
}

impl Need {
    fn present(self) -> bool {
        match self {
            Need::Command(cmd, _) => Command::new(cmd)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok(),
            Need::Path(path, _) => Path::new(path).exists(),
        }
    }

    fn package(self) -> &'static str {
        match self {
            Need::Command(_, package) | Need::Path(_, package) => package,
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure every need is met: installs the missing packages with apt-get
/// as root, else fails naming them.
pub fn ensure_packages(needs: &[Need]) -> Result<(), String> {
    let mut missing: Vec<&str> = needs
        .iter()
        .filter(|n| !n.present())
        .map(|n| n.package())
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        return Err(format!(
            "missing host tools: install them with `sudo apt-get install {list}` (Debian/Ubuntu)"
        ));
    }
    eprintln!("xtask: installing {list} with apt-get");
    crate::run_checked(
        Command::new("apt-get").args(["update", "-qq"]),
        "apt-get update",
    )?;
    crate::run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install {list}"),
    )?;
    match needs.iter().find(|n| !n.present()) {
        None => Ok(()),
        Some(n) => Err(format!(
            "still missing after installing {}: {n:?}",
            n.package()
        )),
    }
}
