//! Booting one init program under QEMU and reading its console until power-off.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";
/// The kernel's last console line (doc/internals.md, "Power-off status").
const POWER_OFF_PREFIX: &str = "ferrite: power off, status ";

/// How long QEMU may keep running after the kernel's power-off line.
const POWER_OFF_GRACE: Duration = Duration::from_secs(10);

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

/// The firmware of a PC-style boot from the ISO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, QEMU's default.
    Bios,
    /// OVMF (Debian `ovmf`).
    Uefi,
}

/// The machine a boot runs on; [`Machine::default`] is what `boot` uses:
/// `-machine pc`, `-kernel` (Multiboot from QEMU), `isa-debug-exit` present.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// `-machine q35` (PCIe chipset, like current PCs) instead of `pc`.
    pub q35: bool,
    /// Boot this ISO with `-cdrom` (GRUB loads the kernel and init) instead
    /// of `-kernel`; the run's kernel, program and arguments are then the ISO's.
    pub iso: Option<(PathBuf, Firmware)>,
    /// Leave out `isa-debug-exit`: the kernel must power off through ACPI.
    pub no_debug_exit: bool,
    /// `-gdb tcp:127.0.0.1:PORT -S`: QEMU waits for a debugger on this port.
    pub gdb: Option<u16>,
}

/// OVMF images (code and variables in one file) of Debian's `ovmf` package.
const OVMF_CANDIDATES: [&str; 2] = ["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF.fd"];

/// Makes sure OVMF exists (installing Debian's `ovmf` as root); its path.
pub fn ovmf() -> Result<PathBuf, String> {
    let find = || {
        OVMF_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    crate::tools::ensure_packages(&[crate::tools::Need::Path(OVMF_CANDIDATES[0], "ovmf")])?;
    find().ok_or_else(|| "OVMF.fd not found after installing ovmf".to_string())
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

/// Boots the kernel with the program as its first module on the default
/// machine with QEMU CPU model `cpu` (`-cpu`) and collects the console.
pub fn boot_on(run: &Run, cpu: &str) -> Result<Outcome, String> {
    boot_with(run, &Machine::default(), cpu)
}

/// The QEMU arguments that load Ferrite: `-kernel`/`-initrd`/`-append` with
/// the module line, or `-cdrom` and the firmware.
fn loader_args(run: &Run, machine: &Machine, module: &str) -> Result<Vec<String>, String> {
    let mut args: Vec<String> = Vec::new();
    match &machine.iso {
        None => {
            args.push("-kernel".into());
            args.push(run.kernel.display().to_string());
            args.extend(["-initrd".into(), module.to_string()]);
            args.extend(["-append".into(), run.kernel_cmdline.clone()]);
        }
        Some((iso, firmware)) => {
            args.push("-cdrom".into());
            args.push(iso.display().to_string());
            args.extend(["-boot".into(), "d".into()]);
            if *firmware == Firmware::Uefi {
                args.push("-bios".into());
                args.push(ovmf()?.display().to_string());
            }
        }
    }
    args.push("-machine".into());
    args.push(if machine.q35 { "q35" } else { "pc" }.into());
    if !machine.no_debug_exit {
        args.extend([
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
        ]);
    }
    if let Some(port) = machine.gdb {
        args.extend(["-gdb".into(), format!("tcp:127.0.0.1:{port}"), "-S".into()]);
    }
    Ok(args)
}

/// Boots on the given machine and CPU model and collects the console.
pub fn boot_with(run: &Run, machine: &Machine, cpu: &str) -> Result<Outcome, String> {
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
        .args(loader_args(run, machine, &module)?)
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

    let console = collect_until_off(child, run.timeout, run.echo, Some(POWER_OFF_PREFIX))?;
    let status = console.status;
    let timed_out = console.timed_out;
    let stderr_text = console.stderr;
    let end = console.lines.iter().rev().find_map(|line| {
        line.strip_prefix(POWER_OFF_PREFIX)
            .and_then(|status| status.trim().parse::<u8>().ok())
    });
    let console = console.lines;
    let end = match end {
        Some(status_line) if timed_out => End::Exited(format!(
            "the kernel printed its power-off line (status {status_line}) but the machine did not turn off within {} s",
            POWER_OFF_GRACE.as_secs()
        )),
        Some(status_line) => {
            // isa-debug-exit makes QEMU exit with (N << 1) | 1, truncated to 8 bits by the OS.
            // Without the device the kernel powers off through ACPI: QEMU exits with 0.
            let expected = if machine.no_debug_exit {
                0
            } else {
                ((u32::from(status_line) << 1) | 1) & 0xFF
            };
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
pub fn collect(child: Child, timeout: Duration, echo: bool) -> Result<Console, String> {
    collect_until_off(child, timeout, echo, None)
}

/// `collect`; once a line starts with `last_line_prefix`, QEMU has only
/// `POWER_OFF_GRACE` left to exit by itself.
fn collect_until_off(
    mut child: Child,
    timeout: Duration,
    echo: bool,
    last_line_prefix: Option<&str>,
) -> Result<Console, String> {
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

    let mut deadline = Instant::now() + timeout;
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
                if let Some(prefix) = last_line_prefix {
                    if line.starts_with(prefix) {
                        // The machine must now turn off by itself, and soon.
                        deadline = deadline.min(Instant::now() + POWER_OFF_GRACE);
                    }
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
