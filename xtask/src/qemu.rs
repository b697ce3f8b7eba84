//! Booting one init program under QEMU and reading its console until power-off.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";
/// The kernel's last console line (doc/internals.md, "Power-off status").
const POWER_OFF_PREFIX: &str = "ferrite: power off, status ";

/// One boot.
#[derive(Clone, Debug)]
pub struct Run {
    pub kernel: PathBuf,
    /// The init program; QEMU runs in its directory so that `argv[0]` is its file name.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub mem_mib: u32,
    pub timeout: Duration,
    /// Copy the console to stdout as it arrives.
    pub echo: bool,
    /// The kernel command line (e.g. `log=debug`).
    pub kernel_cmdline: String,
    /// Deterministic instruction counting (`-icount shift=0`: one instruction
    /// per virtual nanosecond), for measurements that must not depend on the host.
    pub icount: bool,
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The kernel printed its power-off line with this status.
    PowerOff(u8),
    /// No power-off before the time limit; QEMU was killed.
    Timeout,
    /// QEMU exited without a power-off line.
    Exited(String),
}

/// The console and the end of one boot.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub console: Vec<String>,
    pub end: End,
}

/// Makes sure QEMU exists: installs Debian's `qemu-system-x86` as root, else says what to install.
pub fn ensure_installed() -> Result<(), String> {
    let present = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present(QEMU) {
        return Ok(());
    }
    eprintln!("xtask: {QEMU} is missing");
    apt_install(&["qemu-system-x86"])?;
    if present(QEMU) {
        Ok(())
    } else {
        Err(format!(
            "{QEMU} is still missing after installing qemu-system-x86"
        ))
    }
}

/// The CPU model of every boot but the peer benchmark's: `max` has NX, RDRAND, SMEP and SMAP.
pub const DEFAULT_CPU: &str = "max";

/// Installs Debian packages with `apt-get` when running as root; otherwise
/// says what to install.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let list = packages.join(" ");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        return Err(format!(
            "missing: install with `sudo apt-get install {list}` (Debian/Ubuntu)"
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
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install {list}"),
    )
}

/// Boots the kernel with the program as its first module and collects the console.
pub fn boot(run: &Run) -> Result<Outcome, String> {
    boot_on(run, DEFAULT_CPU)
}

/// `boot` on QEMU CPU model `cpu` (`-cpu`).
pub fn boot_on(run: &Run, cpu: &str) -> Result<Outcome, String> {
    let dir = run
        .program
        .parent()
        .ok_or_else(|| format!("{}: no parent directory", run.program.display()))?;
    let name = run
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: no file name", run.program.display()))?;
    // QEMU splits modules at commas and the kernel splits argv at spaces.
    for word in std::iter::once(&name).chain(&run.args) {
        if word.is_empty() || word.contains([' ', ',', '\n', '\t']) {
            return Err(format!(
                "init argument '{word}': must be non-empty without spaces or commas (it goes on the module command line)"
            ));
        }
    }
    let mut module = name;
    for a in &run.args {
        module.push(' ');
        module.push_str(a);
    }
    let child = Command::new(QEMU)
        .current_dir(dir)
        .arg("-kernel")
        .arg(&run.kernel)
        .arg("-initrd")
        .arg(&module)
        .arg("-append")
        .arg(&run.kernel_cmdline)
        .args(["-m", &run.mem_mib.to_string()])
        .args(["-cpu", cpu, "-accel", "tcg"])
        .args([
            "-serial",
            "stdio",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .args(if run.icount {
            &["-icount", "shift=0"][..]
        } else {
            &[]
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {QEMU}: {e}"))?;

    let console = collect(child, run.timeout, run.echo)?;
    let status = console.status;
    let timed_out = console.timed_out;
    let stderr_text = console.stderr;
    let end = console.lines.iter().rev().find_map(|line| {
        line.strip_prefix(POWER_OFF_PREFIX)
            .and_then(|status| status.trim().parse::<u8>().ok())
    });
    let console = console.lines;
    let end = match end {
        Some(status_line) => {
            // isa-debug-exit makes QEMU exit with (N << 1) | 1, truncated to 8 bits by the OS.
            let expected = ((u32::from(status_line) << 1) | 1) & 0xFF;
            if status.code().is_some_and(|c| c as u32 != expected) && !timed_out {
                eprintln!(
                    "xtask: warning: QEMU exit code {:?} does not match power-off status {status_line}",
                    status.code()
                );
            }
            End::PowerOff(status_line)
        }
        None if timed_out => End::Timeout,
        None => {
            let stderr_text = stderr_text.trim();
            End::Exited(if stderr_text.is_empty() {
                format!("{status}")
            } else {
                format!("{status}: {stderr_text}")
            })
        }
    };
    Ok(Outcome { console, end })
}

/// What a QEMU process printed, and how it ended.
pub struct Console {
    pub lines: Vec<String>,
    pub status: std::process::ExitStatus,
    /// The time limit passed and QEMU was killed.
    pub timed_out: bool,
    pub stderr: String,
}

/// Reads the console (stdout) of a QEMU started with piped stdout and
/// stderr, line by line, until it exits or `timeout` passes (then kills it).
pub fn collect(mut child: Child, timeout: Duration, echo: bool) -> Result<Console, String> {
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take().expect("stdout is piped");
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if out_tx.send(Some(line)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = out_tx.send(None);
    });
    let stderr = child.stderr.take().expect("stderr is piped");
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let deadline = Instant::now() + timeout;
    let mut console = Vec::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) => {
                if echo {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
                console.push(line);
            }
            Ok(None) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {QEMU}: {e}"))?;
    let stderr_text = err_thread.join().unwrap_or_default();
    Ok(Console {
        lines: console,
        status,
        timed_out,
        stderr: stderr_text,
    })
}
