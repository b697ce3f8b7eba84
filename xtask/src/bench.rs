//! `cargo xtask bench`: the host benchmark (`ferrite-bench`), then the in-kernel one (`kbench` under QEMU).
//!
//! The host half runs `cargo run --release -p ferrite-bench` and prints its
//! `BENCH` lines (nanoseconds, `mm` over simulated RAM side by side with
//! Linux). The kernel half builds the release images, boots
//! `ferrite-demo/kbench` as init with `-icount shift=0` and the kernel log at
//! `error`, and prints its `KBENCH` lines: there the guest TSC counts one
//! virtual nanosecond per executed instruction, so the figures are
//! deterministic instruction counts of the real system calls, comparable
//! with each other and across commits, not with host nanoseconds.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::qemu::{self, End, Run};
use crate::{cargo, no_extra, take_flag};

/// Guest memory of the kernel half (and of both guests of `--peer`): 262144 pages (1 GiB) need about three
/// times that while a private copy exists (the copy's worst-case promise,
/// doc/memory.md), plus the kernel heap; 3072 MiB is not enough.
pub const KBENCH_MEM_MIB: u32 = 4096;
/// Time limit of the kernel half (a full run takes about a minute on a 2-core host).
const KBENCH_TIMEOUT: Duration = Duration::from_secs(300);
/// The arguments of `kbench`: repetitions, then sizes in pages.
const KBENCH_ARGS: [&str; 4] = ["reps=5", "1024", "16384", "262144"];
const KBENCH_QUICK_ARGS: [&str; 2] = ["reps=3", "1024"];

pub fn cmd_bench(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    let quick = take_flag(&mut args, "--quick");
    let no_host = take_flag(&mut args, "--no-host");
    let no_kernel = take_flag(&mut args, "--no-kernel");
    let peer = take_flag(&mut args, "--peer");
    no_extra(&args)?;
    if peer {
        return crate::peer::cmd_peer(quick);
    }
    if !no_host {
        host(quick)?;
    }
    if !no_kernel {
        kernel(quick)?;
    }
    Ok(0)
}

/// The host benchmark: `mm` over simulated RAM and Linux, in nanoseconds.
fn host(quick: bool) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "ferrite-bench"]);
    if quick {
        cmd.args(["--", "--quick"]);
    }
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("# host benchmark: Ferrite's mm core over simulated RAM in a host process (ferrite_ns, no trap, no real page tables)");
    println!("# beside this host's own Linux doing the closest work (linux_ns); host nanoseconds, medians; `bench --peer` compares the real kernels");
    for line in stdout.lines().filter(|l| l.starts_with("BENCH")) {
        println!("{line}");
    }
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ferrite-bench failed ({})", output.status))
    }
}

/// The in-kernel benchmark: `kbench` as init under QEMU with `-icount shift=0`.
fn kernel(quick: bool) -> Result<(), String> {
    let args: &[&str] = if quick {
        &KBENCH_QUICK_ARGS
    } else {
        &KBENCH_ARGS
    };
    let (console, seconds) = boot_kbench(args, qemu::DEFAULT_CPU)?;
    println!(
        "# kernel: kbench booted as init under QEMU TCG with -icount shift=0 (release, --mem {KBENCH_MEM_MIB}, {seconds:.0} s);"
    );
    println!("# guest_ns = RDTSC ticks = executed instructions (1 virtual ns each), user and kernel, medians:");
    println!("# not comparable with host nanoseconds or the BENCH lines; `bench --peer` runs Linux beside it");
    for line in kbench_lines(&console) {
        println!("{line}");
    }
    Ok(())
}

/// The `KBENCH` and `kbench:` lines of a console, from the marker on
/// (PUTS lines carry the kernel's `[init] ` prefix).
pub fn kbench_lines(console: &[String]) -> impl Iterator<Item = &str> {
    console.iter().filter_map(|line| {
        line.find("KBENCH ")
            .or_else(|| line.find("kbench:"))
            .map(|i| &line[i..])
    })
}

/// Builds the release images and boots `kbench ARGS` on QEMU CPU model
/// `cpu` with `-icount shift=0`; returns its console and the seconds it took.
pub fn boot_kbench(args: &[&str], cpu: &str) -> Result<(Vec<String>, f64), String> {
    qemu::ensure_installed()?;
    let images = crate::build_all(true)?;
    let program = images
        .user
        .iter()
        .find(|(package, name, _)| package == "ferrite-demo" && name == "kbench")
        .map(|(_, _, path)| path.clone())
        .ok_or("no kbench program (ferrite-demo bin 'kbench') was built")?;
    let run = Run {
        kernel: images.kernel,
        program,
        args: args.iter().map(|a| a.to_string()).collect(),
        mem_mib: KBENCH_MEM_MIB,
        timeout: KBENCH_TIMEOUT,
        echo: false,
        kernel_cmdline: "log=error".into(),
        icount: true,
    };
    let started = Instant::now();
    let outcome = qemu::boot_on(&run, cpu)?;
    let seconds = started.elapsed().as_secs_f64();
    match outcome.end {
        End::PowerOff(0) => Ok((outcome.console, seconds)),
        end => {
            eprintln!("xtask: kbench console (last lines):");
            let skip = outcome.console.len().saturating_sub(20);
            for line in &outcome.console[skip..] {
                eprintln!("  {line}");
            }
            Err(match end {
                End::PowerOff(status) => format!("kbench failed (power-off status {status})"),
                End::Timeout => format!(
                    "kbench did not finish within {} s; QEMU was stopped",
                    KBENCH_TIMEOUT.as_secs()
                ),
                End::Exited(how) => format!("QEMU ended without a power-off line ({how})"),
            })
        }
    }
}
