//! `cargo xtask build|run|test|bench|clippy`: builds the Ferrite images, boots them under QEMU, reports results.
//!
//! Trust level: an ordinary host program (std only, no `unsafe`). The kernel
//! is built for `x86_64-unknown-none` (soft-float, no red zone), user programs
//! for `x86_64-unknown-linux-gnu`, each with their own `RUSTFLAGS` and target
//! directories (`doc/internals.md`, "Building images"); QEMU runs them with
//! TCG, the serial console on stdout and `isa-debug-exit` for the status.

#![forbid(unsafe_code)]

mod bench;
mod iso;
mod peer;
mod platforms;
mod qemu;
mod run;
mod softfloat;
mod tests;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The target user programs are built for (freestanding, with their own link line).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The kernel's target: soft-float (no SSE/x87 in kernel code), no red zone,
/// static; installed by `rust-toolchain.toml`.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";
/// `RUSTFLAGS` of the kernel image.
const KERNEL_RUSTFLAGS: &str = "-C relocation-model=static -C code-model=kernel";
/// `RUSTFLAGS` of user programs.
const USER_RUSTFLAGS: &str = "-C relocation-model=static";
/// The user packages whose bins are images.
const USER_PACKAGES: [&str; 2] = ["ferrite-tests", "ferrite-demo"];
/// gcc flags of the C test programs (`user/c/README.md`).
const C_FLAGS: [&str; 6] = [
    "-static",
    "-nostdlib",
    "-ffreestanding",
    "-fno-pie",
    "-no-pie",
    "-O2",
];
/// Guest memory of `run` and `test` unless `--mem` says otherwise.
pub const DEFAULT_MEM_MIB: u32 = 128;
/// Time limit of one `run` unless `--timeout` says otherwise.
pub const DEFAULT_RUN_TIMEOUT_SECS: u64 = 60;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build [--release]                 build the kernel image, the Rust user programs and user/c/*.c
  run [--release] [--mem MiB] [--smp N] [--timeout SECS] [--log LEVEL] [--icount] [--init PATH [ARG...]]
                                    boot the demo (or PATH as init, argv = [file name of PATH, ARG...]);
                                    exits with the status passed to POWEROFF (255 after a kernel panic,
                                    124 on timeout). Defaults: --mem 128, --timeout 60, --log info
                                    (kernel log level: error, warn, info, debug). --icount runs QEMU
                                    with -icount shift=0 (deterministic instruction counts). --smp N
                                    boots N CPUs (default 1; multi-threaded TCG).
  test [--release] [--jobs N] [--timeout SECS] [--no-host] [--only TEXT] [--repeat K]
                                    host tests (cargo test --workspace), then every user test program
                                    (user/tests bins, user/c/*.c, booted with argv [name, a, b]) and the
                                    kernel fault checks under QEMU, every test program once with 1 CPU
                                    and once with 4 (label suffix @smp4), smp also with 16, and the
                                    other machines' boots; ends with one line 'N passed, N failed'.
                                    --only keeps the boots whose label contains TEXT; --timeout is per
                                    boot (default 180; 3x with several CPUs); --jobs QEMUs at a time
                                    (default 2); --repeat boots each kept boot K times (a stress run:
                                    one 'stress LABEL: N of K boots clean' line per boot).
  bench [--quick] [--no-host] [--no-kernel]
                                    host: cargo run --release -p ferrite-bench, printing its BENCH lines
                                    (ns, mm over simulated RAM beside Linux); kernel: boots user/demo's
                                    kbench (release) under QEMU -icount shift=0 --mem 4096 and prints its
                                    KBENCH lines (instruction counts of the real system calls). --quick:
                                    fewer sizes and repetitions (kernel: 1024 pages, 3 repetitions).
  bench --peer [--quick]            kbench and a Debian Linux 6.1 guest (apt-get download, cached in
                                    ~/.cache/ferrite-peer) under the same QEMU flags (-icount shift=0,
                                    -cpu qemu64, one CPU, 4096 MiB): one 'PEER case=.. pages=..
                                    ferrite=.. linux=.. ratio=..' line per case, then a table.
                                    --quick: 16384 pages, 3 repetitions.
  clippy                            clippy -D warnings on the host workspace and on the images
                                    (--features image; kernel --target x86_64-unknown-none,
                                    user programs --target x86_64-unknown-linux-gnu)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match command.as_str() {
        "build" => cmd_build(rest),
        "run" => run::cmd_run(rest),
        "iso" => run::cmd_iso(rest),
        "test" => tests::cmd_test(rest),
        "bench" => bench::cmd_bench(rest),
        "clippy" => cmd_clippy(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command '{other}'\n{USAGE}")),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `cargo` as invoked by `cargo xtask`.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// A `cargo` command for an image build: explicit target, own flags, no inherited flags.
fn image_cargo(subcommand: &str, target: &str, rustflags: &str, target_dir: &Path) -> Command {
    let mut cmd = cargo();
    cmd.arg(subcommand)
        .args(["--target", target, "--features", "image", "--target-dir"])
        .arg(target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

/// Runs a command, failing with its description unless it exits with 0.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Where the images of one profile end up.
#[derive(Clone, Debug)]
pub struct Images {
    pub kernel: PathBuf,
    /// Rust user programs by package: (package, bin name, path).
    pub user: Vec<(String, String, PathBuf)>,
    /// C programs built from `user/c/*.c`: (name, path).
    pub c: Vec<(String, PathBuf)>,
}

fn profile_dir(release: bool) -> &'static str {
    if release {
        "release"
    } else {
        "debug"
    }
}

/// The names of a package's bins: `src/bin/NAME.rs` and `src/bin/NAME/main.rs`.
fn bin_names(package_dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(package_dir.join("src/bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                if let Some(stem) = path.file_stem() {
                    names.push(stem.to_string_lossy().into_owned());
                }
            } else if path.join("main.rs").is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
}

/// The directory of a user package.
fn package_dir(package: &str) -> PathBuf {
    let short = package.trim_start_matches("ferrite-");
    root().join("user").join(short)
}

/// Builds the kernel, every user program and every C program.
pub fn build_all(release: bool) -> Result<Images, String> {
    let root = root();
    let profile = profile_dir(release);

    let kernel_dir = root.join("target/kernel");
    let mut cmd = image_cargo("build", KERNEL_TARGET, KERNEL_RUSTFLAGS, &kernel_dir);
    cmd.args(["-p", "kernel", "--bin", "ferrite-kernel"]);
    if release {
        cmd.arg("--release");
    }
    run_checked(&mut cmd, "building the kernel image")?;
    let kernel = kernel_dir
        .join(KERNEL_TARGET)
        .join(profile)
        .join("ferrite-kernel");

    let user_dir = root.join("target/user");
    let mut user = Vec::new();
    let mut cmd = image_cargo("build", TARGET, USER_RUSTFLAGS, &user_dir);
    let mut any = false;
    for package in USER_PACKAGES {
        let names = bin_names(&package_dir(package));
        if names.is_empty() {
            continue;
        }
        any = true;
        cmd.args(["-p", package]);
        for name in names {
            let path = user_dir.join(TARGET).join(profile).join(&name);
            user.push((package.to_string(), name, path));
        }
    }
    if any {
        cmd.arg("--bins");
        if release {
            cmd.arg("--release");
        }
        run_checked(&mut cmd, "building the user programs")?;
    }

    let c = build_c_programs()?;
    Ok(Images { kernel, user, c })
}

/// Compiles every `user/c/*.c` into `target/c/NAME` (each file is one program).
fn build_c_programs() -> Result<Vec<(String, PathBuf)>, String> {
    let root = root();
    let source_dir = root.join("user/c");
    let Ok(entries) = std::fs::read_dir(&source_dir) else {
        return Ok(Vec::new());
    };
    let mut sources: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    let out_dir = root.join("target/c");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let mut programs = Vec::new();
    for source in sources {
        let name = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = out_dir.join(&name);
        let mut cmd = Command::new("gcc");
        cmd.args(C_FLAGS)
            .arg("-I")
            .arg(root.join("include"))
            .arg("-o")
            .arg(&out)
            .arg(&source);
        run_checked(&mut cmd, &format!("compiling {}", source.display()))?;
        programs.push((name, out));
    }
    Ok(programs)
}

/// Takes `--flag VALUE` out of `args`.
pub fn take_value(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => Err(format!("{flag} needs a value")),
    }
}

/// Takes a boolean `--flag` out of `args`.
pub fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    match args.iter().position(|a| a == flag) {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    }
}

/// Parses a number option.
pub fn parse_number<T: std::str::FromStr>(
    value: Option<String>,
    flag: &str,
    default: T,
) -> Result<T, String> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{flag}: '{v}' is not a number")),
    }
}

pub fn no_extra(args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(a) => Err(format!("unexpected argument '{a}'\n{USAGE}")),
        None => Ok(()),
    }
}

fn cmd_build(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    let release = take_flag(&mut args, "--release");
    no_extra(&args)?;
    let images = build_all(release)?;
    println!("kernel: {}", images.kernel.display());
    for (package, name, path) in &images.user {
        println!("{package}/{name}: {}", path.display());
    }
    for (name, path) in &images.c {
        println!("c/{name}: {}", path.display());
    }
    Ok(0)
}

fn cmd_clippy(args: &[String]) -> Result<u8, String> {
    no_extra(args)?;
    let root = root();
    let mut host = cargo();
    host.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    let mut kernel = image_cargo(
        "clippy",
        KERNEL_TARGET,
        KERNEL_RUSTFLAGS,
        &root.join("target/kernel"),
    );
    kernel.args([
        "-p",
        "kernel",
        "--bin",
        "ferrite-kernel",
        "--",
        "-D",
        "warnings",
    ]);
    let mut user = image_cargo("clippy", TARGET, USER_RUSTFLAGS, &root.join("target/user"));
    for package in USER_PACKAGES {
        user.args(["-p", package]);
    }
    user.args(["--bins", "--", "-D", "warnings"]);
    // Run all three so one report shows every finding.
    let failures: Vec<String> = [
        (host, "clippy on the host workspace"),
        (kernel, "clippy on the kernel image"),
        (user, "clippy on the user programs"),
    ]
    .into_iter()
    .filter_map(|(mut cmd, what)| run_checked(&mut cmd, what).err())
    .collect();
    if failures.is_empty() {
        Ok(0)
    } else {
        Err(failures.join("; "))
    }
}
