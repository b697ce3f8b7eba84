//! `cargo xtask run` and `cargo xtask iso`: boot one init program, or put it on a bootable ISO.

use std::path::PathBuf;
use std::time::Duration;

use crate::iso::{self, IsoSpec};
use crate::qemu::{self, Firmware, Machine};
use crate::{build_all, no_extra, parse_number, take_flag, take_value, Images};
use crate::{DEFAULT_MEM_MIB, DEFAULT_RUN_TIMEOUT_SECS};

/// Port QEMU's gdb stub listens on (gdb's usual, as QEMU's `-s`).
const GDB_PORT: u16 = 1234;
/// Where `run --iso` puts its image.
const RUN_ISO: &str = "target/iso/run.iso";

/// Takes `--init PATH [ARG...]` (always last) out of `args`.
fn take_init(args: &mut Vec<String>) -> Result<Option<(PathBuf, Vec<String>)>, String> {
    let Some(i) = args.iter().position(|a| a == "--init") else {
        return Ok(None);
    };
    let tail = args.split_off(i);
    let path = tail.get(1).ok_or("--init needs a PATH")?;
    Ok(Some((PathBuf::from(path), tail[2..].to_vec())))
}

/// Takes `--log LEVEL`; the kernel command line it gives.
fn take_log(args: &mut Vec<String>) -> Result<String, String> {
    match take_value(args, "--log")? {
        None => Ok(String::new()),
        Some(level) if ["error", "warn", "info", "debug"].contains(&level.as_str()) => {
            Ok(format!("log={level}"))
        }
        Some(level) => Err(format!(
            "--log: '{level}' is not one of error, warn, info, debug"
        )),
    }
}

/// The init program and its arguments: `--init PATH ARGS...` or the demo.
fn resolve_init(
    init: Option<(PathBuf, Vec<String>)>,
    images: &Images,
) -> Result<(PathBuf, Vec<String>), String> {
    match init {
        Some((path, program_args)) => {
            let path = std::fs::canonicalize(&path)
                .map_err(|e| format!("--init {}: {e}", path.display()))?;
            Ok((path, program_args))
        }
        None => {
            let demo = images
                .user
                .iter()
                .find(|(package, name, _)| package == "ferrite-demo" && name == "demo")
                .ok_or("no demo program (ferrite-demo bin 'demo') exists yet: use --init PATH")?;
            Ok((demo.2.clone(), Vec::new()))
        }
    }
}

/// `cargo xtask iso -o FILE [--release] [--log LEVEL] [--init PATH ARGS...]`.
pub fn cmd_iso(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    let init = take_init(&mut args)?;
    let release = take_flag(&mut args, "--release");
    let kernel_cmdline = take_log(&mut args)?;
    let out = take_value(&mut args, "-o")?.ok_or("iso needs -o FILE")?;
    no_extra(&args)?;
    let images = build_all(release)?;
    let (program, program_args) = resolve_init(init, &images)?;
    let spec = IsoSpec {
        kernel: images.kernel,
        program,
        args: program_args,
        kernel_cmdline,
    };
    iso::build(&spec, &PathBuf::from(&out))?;
    println!("{out}: bootable on BIOS and UEFI (CD, or USB stick written with dd; see README)");
    Ok(0)
}

/// `cargo xtask run`: boots one program and exits with its power-off status.
pub fn cmd_run(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    // Everything after `--init PATH` belongs to the program.
    let init = take_init(&mut args)?;
    let release = take_flag(&mut args, "--release");
    let mem = parse_number(take_value(&mut args, "--mem")?, "--mem", DEFAULT_MEM_MIB)?;
    let timeout_arg = take_value(&mut args, "--timeout")?;
    let icount = take_flag(&mut args, "--icount");
    let kernel_cmdline = take_log(&mut args)?;
    let uefi = take_flag(&mut args, "--uefi");
    let use_iso = take_flag(&mut args, "--iso") || uefi;
    let q35 = take_flag(&mut args, "--q35") || use_iso;
    let no_debug_exit = take_flag(&mut args, "--no-debug-exit");
    let gdb = take_flag(&mut args, "--gdb");
    no_extra(&args)?;
    // Waiting for a debugger has no time limit unless one is asked for.
    let default_timeout = if gdb {
        u64::MAX / 4
    } else {
        DEFAULT_RUN_TIMEOUT_SECS
    };
    let timeout = parse_number(timeout_arg, "--timeout", default_timeout)?;
    qemu::ensure_installed()?;
    let images = build_all(release)?;
    let (program, program_args) = resolve_init(init, &images)?;
    let iso = if use_iso {
        let path = crate::root().join(RUN_ISO);
        let spec = IsoSpec {
            kernel: images.kernel.clone(),
            program: program.clone(),
            args: program_args.clone(),
            kernel_cmdline: kernel_cmdline.clone(),
        };
        iso::build(&spec, &path)?;
        let firmware = if uefi { Firmware::Uefi } else { Firmware::Bios };
        Some((path, firmware))
    } else {
        None
    };
    if gdb {
        eprintln!(
            "xtask: QEMU waits for a debugger on localhost:{GDB_PORT}; attach with\n  \
             gdb -ex 'target remote :{GDB_PORT}' -ex 'add-symbol-file {}' {}",
            program.display(),
            images.kernel.display()
        );
    }
    let run = qemu::Run {
        kernel: images.kernel,
        program,
        args: program_args,
        mem_mib: mem,
        timeout: Duration::from_secs(timeout),
        echo: true,
        kernel_cmdline,
        icount,
    };
    let machine = Machine {
        q35,
        iso,
        no_debug_exit,
        gdb: gdb.then_some(GDB_PORT),
    };
    let outcome = qemu::boot_with(&run, &machine, qemu::DEFAULT_CPU)?;
    match outcome.end {
        qemu::End::PowerOff(status) => Ok(status),
        qemu::End::Timeout => {
            eprintln!("xtask: timeout: no power-off after {timeout} s; QEMU was stopped (--timeout to change)");
            Ok(124)
        }
        qemu::End::Exited(how) => {
            if outcome
                .console
                .last()
                .is_some_and(|l| l.starts_with("ferrite: reboot"))
            {
                eprintln!("xtask: the kernel rebooted; QEMU runs with -no-reboot, so it stopped");
            } else {
                eprintln!("xtask: QEMU ended without a power-off line ({how})");
            }
            Ok(1)
        }
    }
}
