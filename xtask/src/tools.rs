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
    crate::qemu::apt_install(&missing)?;
    match needs.iter().find(|n| !n.present()) {
        None => Ok(()),
        Some(n) => Err(format!(
            "still missing after installing {}: {n:?}",
            n.package()
        )),
    }
}
