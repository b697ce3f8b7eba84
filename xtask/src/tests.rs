//! `cargo xtask test`: host tests, then every user test program booted as init under QEMU.
//!
//! Each program follows the "User-space test protocol" of `doc/internals.md`:
//! one console line per case (`test <program>::<case> ... ok` or
//! `... FAILED <why>`), a summary `<program>: N passed, N failed`, then
//! POWEROFF with 0 or 1. A missing summary, a timeout, a kernel panic or a
//! status that disagrees with the cases counts as one more failure of that
//! program.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::platforms::{self, On};
use crate::qemu::{self, End, Outcome, Run};
use crate::{parse_number, take_flag, take_value, DEFAULT_MEM_MIB};

/// Per-program time limit (TCG is slow; most programs take a few seconds).
const DEFAULT_PROGRAM_TIMEOUT_SECS: u64 = 180;
/// Arguments every test program gets after its name (`user/c/README.md`: `abi_test a b`).
const TEST_ARGS: [&str; 2] = ["a", "b"];
/// Kernel fault injections (`fault=KIND`, `kernel/src/arch/x86_64/selftest.rs`)
/// and what the `KERNEL PANIC` line must name.
const KERNEL_FAULTS: [(&str, &str); 5] = [
    ("page", "#PF"),
    ("ud", "#UD"),
    ("gp", "#GP"),
    ("stack", "#DF"),
    ("panic", "injected panic"),
];
/// Init programs in `user/c/examples/` that die of a user fault (ABI §3 "A user
/// fault"; §8): the kernel must log one line containing every text, not
/// panic, and power off with status 0 when init's last thread is gone.
const INIT_FAULT_EXAMPLES: [(&str, &[&str]); 1] =
    [("null_deref", &["killed", "#PF", "address 0x0", "rip 0x"])];

/// One QEMU boot of the suite.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub label: String,
    pub program: PathBuf,
    pub kernel_cmdline: String,
    pub expect: Expect,
    /// The machine (`pc` with `-kernel` unless a platform job says otherwise).
    pub on: On,
}

/// What a boot must show.
#[derive(Clone, Debug)]
pub(crate) enum Expect {
    /// The user-space test protocol.
    Protocol,
    /// One `KERNEL PANIC` line containing this text, then status 255.
    KernelPanic(&'static str),
    /// A fault line containing every text, no panic, then status 0.
    InitFault(&'static [&'static str]),
    /// A reset: the last line starts with `ferrite: reboot through <text>`
    /// and QEMU (`-no-reboot`) ends on its own.
    Reboot(&'static str),
    /// From the ISO: the kernel mirrors its console on GRUB's screen.
    Screen,
    /// QEMU waits for gdb, which stops in the kernel and in init (`platforms::gdb_case`).
    Gdb,
    /// The demo `hello` on RAM across the PCI hole: the kernel's direct-map
    /// line shows RAM above 4 GiB, and MEMSTAT's total counts it.
    DirectMap,
}

/// The result of one test program.
#[derive(Debug)]
pub(crate) struct ProgramResult {
    pub label: String,
    pub passed: u64,
    pub failed: u64,
    /// Failed case lines and problems of the program as a whole.
    pub failures: Vec<String>,
    pub status: String,
    pub seconds: f64,
}

pub fn cmd_test(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    let release = take_flag(&mut args, "--release");
    let no_host = take_flag(&mut args, "--no-host");
    let only = take_value(&mut args, "--only")?;
    let jobs = parse_number(take_value(&mut args, "--jobs")?, "--jobs", 2usize)?.max(1);
    let timeout = parse_number(
        take_value(&mut args, "--timeout")?,
        "--timeout",
        DEFAULT_PROGRAM_TIMEOUT_SECS,
    )?;
    if let Some(a) = args.first() {
        return Err(format!("unexpected argument '{a}'"));
    }
    let started = Instant::now();

    let (mut passed, mut failed) = (0u64, 0u64);
    if !no_host {
        let (p, f) = host_tests()?;
        passed += p;
        failed += f;
    }

    // Without QEMU or images no program can run: one failure, and still the totals line.
    let images = match qemu::ensure_installed().and_then(|()| crate::build_all(release)) {
        Ok(images) => images,
        Err(e) => {
            println!("xtask: cannot boot the user test programs: {e}");
            failed += 1;
            println!("{passed} passed, {failed} failed");
            return Ok(1);
        }
    };
    let (p, f) = soft_float_check(&images.kernel);
    passed += p;
    failed += f;
    let mut programs: Vec<(String, PathBuf)> = images
        .user
        .iter()
        .filter(|(package, _, _)| package == "ferrite-tests")
        .map(|(_, name, path)| (name.clone(), path.clone()))
        .collect();
    programs.extend(
        images
            .c
            .iter()
            .map(|(name, path)| (format!("c/{name}"), path.clone())),
    );
    let mut work: Vec<Job> = programs
        .into_iter()
        .map(|(label, program)| Job {
            label,
            program,
            kernel_cmdline: String::new(),
            expect: Expect::Protocol,
            on: On::default(),
        })
        .collect();
    // The fault is injected before init starts; any file serves as the module.
    work.extend(KERNEL_FAULTS.iter().map(|&(kind, names)| Job {
        label: format!("kernel::fault_{kind}"),
        program: images.kernel.clone(),
        kernel_cmdline: format!("fault={kind}"),
        expect: Expect::KernelPanic(names),
        on: On::default(),
    }));
    for &(name, texts) in &INIT_FAULT_EXAMPLES {
        match build_example(name) {
            Ok(program) => work.push(Job {
                label: format!("c/examples/{name}"),
                program,
                kernel_cmdline: String::new(),
                expect: Expect::InitFault(texts),
                on: On::default(),
            }),
            Err(e) => {
                println!("xtask: c/examples/{name}: {e}");
                failed += 1;
            }
        }
    }
    // The same boots on q35 and from the ISO, and the ACPI power-off/reset boots.
    match platforms::jobs(&work, &images) {
        Ok(more) => work.extend(more),
        Err(e) => {
            println!("xtask: platform boots: {e}");
            failed += 1;
        }
    }
    if let Some(only) = &only {
        work.retain(|job| job.label.contains(only.as_str()));
    }
    println!("xtask: {} boots under QEMU ({jobs} at a time)", work.len());

    let results = run_parallel(&images.kernel, work, jobs, Duration::from_secs(timeout));
    for r in &results {
        println!(
            "program {}: {} passed, {} failed ({}, {:.1} s)",
            r.label, r.passed, r.failed, r.status, r.seconds
        );
        for f in &r.failures {
            println!("    {f}");
        }
        passed += r.passed;
        failed += r.failed;
    }
    println!(
        "xtask: test suite took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

/// `kernel::soft_float`: the kernel's `.text` has no x87/MMX/SSE instruction
/// (`softfloat.rs`); one case.
fn soft_float_check(kernel: &std::path::Path) -> (u64, u64) {
    let verdict = crate::softfloat::disassemble(kernel).and_then(|listing| {
        let instructions = listing.lines().filter(|l| l.contains(":\t")).count();
        let found = crate::softfloat::float_instructions(&listing);
        if instructions < 1000 {
            Err(format!("only {instructions} instructions disassembled"))
        } else if found.is_empty() {
            Ok(instructions)
        } else {
            Err(format!(
                "{} x87/SSE instruction(s), first: {}",
                found.len(),
                found[..found.len().min(5)].join(" | ")
            ))
        }
    });
    match verdict {
        Ok(n) => {
            println!("test kernel::soft_float ... ok ({n} instructions, none x87/SSE)");
            (1, 0)
        }
        Err(e) => {
            println!("test kernel::soft_float ... FAILED {e}");
            (0, 1)
        }
    }
}

/// `cargo test --workspace`; counts every `test result:` line.
fn host_tests() -> Result<(u64, u64), String> {
    println!("xtask: cargo test --workspace");
    let mut child = crate::cargo()
        .args(["test", "--workspace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start cargo test: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some((p, f)) = parse_cargo_result(&line) {
            passed += p;
            failed += f;
            println!("{line}");
        } else if line.contains("FAILED") || line.contains("panicked") {
            println!("{line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo test: {e}"))?;
    if !status.success() && failed == 0 {
        // A build error or a crashed test binary: no count says so.
        println!("xtask: cargo test --workspace failed ({status}) without a failed test; counted as 1 failure");
        failed += 1;
    }
    println!("xtask: host tests: {passed} passed, {failed} failed");
    Ok((passed, failed))
}

/// `test result: ok. 12 passed; 0 failed; ...` → (12, 0).
fn parse_cargo_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let number_before = |word: &str| -> Option<u64> {
        let at = rest.find(word)?;
        rest[..at]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    Some((number_before(" passed")?, number_before(" failed")?))
}

/// Boots the programs, `jobs` QEMUs at a time; results in the programs' order.
fn run_parallel(
    kernel: &std::path::Path,
    work: Vec<Job>,
    jobs: usize,
    timeout: Duration,
) -> Vec<ProgramResult> {
    let count = work.len();
    let queue = Arc::new(Mutex::new(
        work.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let workers: Vec<_> = (0..jobs.min(count.max(1)))
        .map(|_| {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            let kernel = kernel.to_path_buf();
            std::thread::spawn(move || loop {
                let next = queue.lock().expect("queue lock").pop_front();
                let Some((index, job)) = next else {
                    break;
                };
                let started = Instant::now();
                let run = Run {
                    kernel: kernel.clone(),
                    program: job.program.clone(),
                    args: TEST_ARGS.iter().map(|s| s.to_string()).collect(),
                    mem_mib: job.on.mem_mib.unwrap_or(DEFAULT_MEM_MIB),
                    timeout,
                    echo: false,
                    kernel_cmdline: job.kernel_cmdline.clone(),
                    icount: false,
                };
                let outcome = || {
                    platforms::machine(&job, &run)
                        .and_then(|machine| qemu::boot_with(&run, &machine, qemu::DEFAULT_CPU))
                };
                let mut result = match job.expect {
                    Expect::Gdb => platforms::gdb_case(&job.label, &job, &run),
                    Expect::Protocol => judge(&job.label, outcome()),
                    Expect::KernelPanic(names) => judge_panic(&job.label, names, outcome()),
                    Expect::InitFault(texts) => judge_init_fault(&job.label, texts, outcome()),
                    Expect::Reboot(text) => platforms::judge_reboot(&job.label, text, outcome()),
                    Expect::DirectMap => platforms::judge_direct_map(&job.label, outcome()),
                    Expect::Screen => platforms::judge_screen(&job.label, outcome()),
                };
                result.seconds = started.elapsed().as_secs_f64();
                println!(
                    "xtask: {} done: {} passed, {} failed",
                    result.label, result.passed, result.failed
                );
                results.lock().expect("results lock").push((index, result));
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let mut results = std::mem::take(&mut *results.lock().expect("results lock"));
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Counts the case lines of one console and checks the summary and the status.
fn judge(label: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult {
        label: label.to_string(),
        passed: 0,
        failed: 0,
        failures: Vec::new(),
        status: String::new(),
        seconds: 0.0,
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            r.failed = 1;
            r.status = "not booted".into();
            r.failures.push(format!("could not boot: {e}"));
            return r;
        }
    };
    let mut summary: Option<(u64, u64)> = None;
    let mut panic_line = None;
    for line in &outcome.console {
        if let Some(case) = parse_case(line) {
            match case {
                Case::Ok => r.passed += 1,
                Case::Failed(text) => {
                    r.failed += 1;
                    r.failures.push(text);
                }
            }
        } else if let Some(s) = parse_summary(line) {
            summary = Some(s);
        }
        if line.contains("KERNEL PANIC") && panic_line.is_none() {
            panic_line = Some(line.clone());
        }
    }
    let mut problems = Vec::new();
    match &outcome.end {
        End::PowerOff(status) => {
            r.status = format!("status {status}");
            let expected = u8::from(r.failed > 0);
            if *status != expected && panic_line.is_none() {
                problems.push(format!(
                    "powered off with status {status}, expected {expected}"
                ));
            }
        }
        End::Timeout => {
            r.status = "timeout".into();
            problems.push("timed out before power-off".into());
        }
        End::Exited(how) => {
            r.status = "no power-off".into();
            problems.push(format!("QEMU ended without a power-off line: {how}"));
        }
    }
    if let Some(line) = panic_line {
        problems.push(format!("kernel panic: {line}"));
    }
    match summary {
        None => problems.push("no summary line '<program>: N passed, N failed'".into()),
        Some((p, f)) if (p, f) != (r.passed, r.failed) => problems.push(format!(
            "summary says {p} passed, {f} failed but the console has {} ok and {} FAILED lines",
            r.passed, r.failed
        )),
        Some(_) => {}
    }
    if !problems.is_empty() {
        r.failed += 1;
        let tail: Vec<&String> = outcome.console.iter().rev().take(15).collect();
        r.failures.extend(problems);
        r.failures.push("last console lines:".into());
        r.failures
            .extend(tail.into_iter().rev().map(|l| format!("  | {l}")));
    }
    r
}

/// A fault-injection boot: exactly one case, passed when the kernel printed a
/// `KERNEL PANIC` line naming the fault and powered off with 255.
fn judge_panic(label: &str, names: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult {
        label: label.to_string(),
        passed: 0,
        failed: 0,
        failures: Vec::new(),
        status: String::new(),
        seconds: 0.0,
    };
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            let panic_line = o.console.iter().find(|l| l.contains("KERNEL PANIC"));
            r.status = match &o.end {
                End::PowerOff(s) => format!("status {s}"),
                End::Timeout => "timeout".into(),
                End::Exited(_) => "no power-off".into(),
            };
            match (panic_line, &o.end) {
                (Some(line), End::PowerOff(255)) if line.contains(names) => None,
                (Some(line), _) => Some(format!(
                    "expected '{names}' and status 255; got {} after: {line}",
                    r.status
                )),
                (None, _) => Some(format!(
                    "no KERNEL PANIC line ({}); last lines: {}",
                    r.status,
                    o.console
                        .iter()
                        .rev()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
            }
        }
    };
    match problem {
        None => r.passed = 1,
        Some(p) => {
            r.failed = 1;
            r.failures.push(p);
        }
    }
    r
}

/// Compiles `user/c/examples/NAME.c` into `target/c/examples/NAME`.
pub(crate) fn build_example(name: &str) -> Result<PathBuf, String> {
    let root = crate::root();
    let out_dir = root.join("target/c/examples");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let source = root.join("user/c/examples").join(format!("{name}.c"));
    let out = out_dir.join(name);
    let mut cmd = std::process::Command::new("gcc");
    cmd.args(crate::C_FLAGS)
        .arg("-I")
        .arg(root.join("include"))
        .arg("-o")
        .arg(&out)
        .arg(&source);
    crate::run_checked(&mut cmd, &format!("compiling {}", source.display()))?;
    Ok(out)
}

/// An init that dies of a user fault: exactly one case, passed when one
/// console line has every text, no `KERNEL PANIC` appeared, and the kernel
/// powered off with status 0.
fn judge_init_fault(
    label: &str,
    texts: &[&str],
    outcome: Result<Outcome, String>,
) -> ProgramResult {
    let mut r = ProgramResult {
        label: label.to_string(),
        passed: 0,
        failed: 0,
        failures: Vec::new(),
        status: String::new(),
        seconds: 0.0,
    };
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            r.status = match &o.end {
                End::PowerOff(s) => format!("status {s}"),
                End::Timeout => "timeout".into(),
                End::Exited(_) => "no power-off".into(),
            };
            let fault_line = o
                .console
                .iter()
                .find(|l| texts.iter().all(|t| l.contains(t)));
            let panicked = o.console.iter().any(|l| l.contains("KERNEL PANIC"));
            match (fault_line, panicked, &o.end) {
                (Some(_), false, End::PowerOff(0)) => None,
                _ => Some(format!(
                    "expected a line with {texts:?}, no panic and status 0; got {}; last lines: {}",
                    r.status,
                    o.console
                        .iter()
                        .rev()
                        .take(4)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
            }
        }
    };
    match problem {
        None => r.passed = 1,
        Some(p) => {
            r.failed = 1;
            r.failures.push(p);
        }
    }
    r
}

enum Case {
    Ok,
    Failed(String),
}

/// A case line `test <program>::<case> ... ok|FAILED <why>`, possibly after a kernel prefix.
fn parse_case(line: &str) -> Option<Case> {
    let at = line.find("test ")?;
    let rest = &line[at + 5..];
    let (name, verdict) = rest.split_once(" ... ")?;
    if !name.contains("::") || name.contains(' ') {
        return None;
    }
    if verdict.trim_end() == "ok" {
        Some(Case::Ok)
    } else if verdict.starts_with("FAILED") {
        Some(Case::Failed(format!("test {name} ... {verdict}")))
    } else {
        None
    }
}

/// The summary `<program>: N passed, N failed`, possibly after a kernel prefix.
fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let line = line.trim_end();
    let before_failed = line.strip_suffix(" failed")?;
    let (head, failed) = before_failed.rsplit_once(", ")?;
    let before_passed = head.strip_suffix(" passed")?;
    let passed = before_passed.rsplit(|c: char| !c.is_ascii_digit()).next()?;
    let prefix = &before_passed[..before_passed.len() - passed.len()];
    if !prefix.ends_with(": ") {
        return None;
    }
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn cargo_result_lines() {
        assert_eq!(
            parse_cargo_result("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"),
            Some((12, 0))
        );
        assert_eq!(
            parse_cargo_result("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some((3, 2))
        );
        assert_eq!(parse_cargo_result("running 3 tests"), None);
    }

    #[test]
    fn case_and_summary_lines() {
        assert!(matches!(
            parse_case("test boot::argv ... ok"),
            Some(Case::Ok)
        ));
        assert!(matches!(
            parse_case("[init] test c_abi::puts ... FAILED rax=1"),
            Some(Case::Failed(_))
        ));
        assert!(parse_case("running test hello").is_none());
        assert_eq!(parse_summary("boot: 10 passed, 2 failed"), Some((10, 2)));
        assert_eq!(parse_summary("[I] c_abi: 3 passed, 0 failed"), Some((3, 0)));
        assert_eq!(parse_summary("10 passed, 2 failed"), None);
    }

    #[test]
    fn judge_counts_and_checks() {
        let console = |lines: &[&str]| lines.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = judge(
            "t",
            Ok(Outcome {
                console: console(&[
                    "test t::a ... ok",
                    "test t::b ... ok",
                    "t: 2 passed, 0 failed",
                ]),
                end: End::PowerOff(0),
            }),
        );
        assert_eq!((ok.passed, ok.failed), (2, 0));
        let no_summary = judge(
            "t",
            Ok(Outcome {
                console: console(&["test t::a ... ok"]),
                end: End::PowerOff(0),
            }),
        );
        assert_eq!((no_summary.passed, no_summary.failed), (1, 1));
        let panic = judge(
            "t",
            Ok(Outcome {
                console: console(&[
                    "test t::a ... ok",
                    "KERNEL PANIC: x",
                    "ferrite: power off, status 255",
                ]),
                end: End::PowerOff(255),
            }),
        );
        assert_eq!((panic.passed, panic.failed), (1, 1));
        let timeout = judge(
            "t",
            Ok(Outcome {
                console: console(&["test t::a ... ok", "t: 1 passed, 0 failed"]),
                end: End::Timeout,
            }),
        );
        assert_eq!(timeout.failed, 1);
    }
}
