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
use crate::qemu::{self, Run};
use crate::{parse_number, take_flag, take_value, DEFAULT_MEM_MIB};

mod judge;
pub(crate) use judge::{end_status, last_lines};
use judge::{judge, judge_init_fault, judge_panic};

/// Per-program time limit (TCG is slow; most programs take a few seconds).
const DEFAULT_PROGRAM_TIMEOUT_SECS: u64 = 180;
/// CPUs of the second boot of every test program (issue 10: "with 1 CPU
/// and with 4"). QEMU runs them on one host thread each when the host has
/// that many cores, else in turn on one thread (`qemu::tcg_mode`); the
/// kernel's waits use `pause`, which hands that thread to the next CPU.
const SMP_CPUS: u32 = 4;
/// CPUs of a third boot of the `smp` stress program: ABI §9 promises "at
/// least up to 16".
const MOST_CPUS: u32 = 16;
/// A boot with several CPUs gets this many times the time limit (QEMU runs
/// them in turn on a host with fewer cores).
const SMP_TIMEOUT_FACTOR: u32 = 3;
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
    /// CPUs of the boot (`-smp`).
    pub smp: u32,
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
    /// The kernel's line: a device interrupt arrived through the I/O APIC.
    IoApic,
    /// The test protocol, and one more case: every CPU of the boot runs
    /// the kernel (`platforms::all_cpus_problem`).
    ProtocolAllCpus,
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

impl ProgramResult {
    /// The result of `label` before any case is counted.
    pub(crate) fn empty(label: &str) -> Self {
        Self {
            label: label.to_string(),
            passed: 0,
            failed: 0,
            failures: Vec::new(),
            status: String::new(),
            seconds: 0.0,
        }
    }

    /// Counts one more case: passed when there is no problem.
    pub(crate) fn and_case(mut self, problem: Option<String>) -> Self {
        match problem {
            None => self.passed += 1,
            Some(p) => {
                self.failed += 1;
                self.failures.push(p);
            }
        }
        self
    }

    /// Counts the one case of a single-case boot: passed when there is no problem.
    pub(crate) fn one_case(mut self, problem: Option<String>) -> Self {
        match problem {
            None => self.passed = 1,
            Some(p) => {
                self.failed = 1;
                self.failures.push(p);
            }
        }
        self
    }
}

pub fn cmd_test(args: &[String]) -> Result<u8, String> {
    let mut args = args.to_vec();
    let release = take_flag(&mut args, "--release");
    let no_host = take_flag(&mut args, "--no-host");
    let only = take_value(&mut args, "--only")?;
    let jobs = parse_number(take_value(&mut args, "--jobs")?, "--jobs", 2usize)?.max(1);
    let repeat = parse_number(take_value(&mut args, "--repeat")?, "--repeat", 1u32)?.max(1);
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
            smp: 1,
        })
        .collect();
    // Every test program again with several CPUs (ABI §9).
    let multi: Vec<Job> = work
        .iter()
        .map(|job| Job {
            label: format!("{}@smp{SMP_CPUS}", job.label),
            smp: SMP_CPUS,
            ..job.clone()
        })
        .collect();
    // The SMP stress program also on the most CPUs ABI §9 promises.
    let most: Vec<Job> = work
        .iter()
        .filter(|job| job.label == "smp")
        .map(|job| Job {
            label: format!("smp@smp{MOST_CPUS}"),
            smp: MOST_CPUS,
            ..job.clone()
        })
        .collect();
    work.extend(multi);
    work.extend(most);
    // The fault is injected before init starts; any file serves as the module.
    work.extend(KERNEL_FAULTS.iter().map(|&(kind, names)| Job {
        label: format!("kernel::fault_{kind}"),
        program: images.kernel.clone(),
        kernel_cmdline: format!("fault={kind}"),
        expect: Expect::KernelPanic(names),
        on: On::default(),
        smp: 1,
    }));
    for &(name, texts) in &INIT_FAULT_EXAMPLES {
        match build_example(name) {
            Ok(program) => work.push(Job {
                label: format!("c/examples/{name}"),
                program,
                kernel_cmdline: String::new(),
                expect: Expect::InitFault(texts),
                on: On::default(),
                smp: 1,
            }),
            Err(e) => {
                println!("xtask: c/examples/{name}: {e}");
                failed += 1;
            }
        }
    }
    // The same boots on q35 and from the ISO, and the ACPI power-off/reset boots.
    // The other machines boot the one-CPU jobs (the SMP pass runs on `pc`).
    let one_cpu: Vec<Job> = work.iter().filter(|j| j.smp == 1).cloned().collect();
    match platforms::jobs(&one_cpu, &images) {
        Ok(more) => work.extend(more),
        Err(e) => {
            println!("xtask: platform boots: {e}");
            failed += 1;
        }
    }
    if let Some(only) = &only {
        work.retain(|job| job.label.contains(only.as_str()));
    }
    if repeat > 1 {
        work = repeated(&work, repeat);
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
    if repeat > 1 {
        for (label, clean) in clean_boots(&results) {
            println!("xtask: stress {label}: {clean} of {repeat} boots clean");
        }
    }
    println!(
        "xtask: test suite took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Each job `times` times, labelled `label#1` … `label#times` (`--repeat`).
fn repeated(work: &[Job], times: u32) -> Vec<Job> {
    work.iter()
        .flat_map(|job| {
            (1..=times).map(move |i| Job {
                label: format!("{}#{i}", job.label),
                ..job.clone()
            })
        })
        .collect()
}

/// Per label (without its `#N`), in first-seen order: how many of its boots
/// were clean (some case passed, none failed).
fn clean_boots(results: &[ProgramResult]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in results {
        let base = r.label.split('#').next().unwrap_or(&r.label).to_string();
        let clean = usize::from(r.failed == 0 && r.passed > 0);
        match counts.iter_mut().find(|(l, _)| *l == base) {
            Some((_, n)) => *n += clean,
            None => counts.push((base, clean)),
        }
    }
    counts
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

/// A rough guess of how long a boot takes, to start the long ones first:
/// the fuzzer runs longest, and a boot with several CPUs longer than one.
fn expected_weight(job: &Job) -> u32 {
    let program = if job.label.contains("fuzz") { 8 } else { 1 };
    program * job.smp
}

/// Boots the programs, `jobs` QEMUs at a time (longest first); results in the programs' order.
fn run_parallel(
    kernel: &std::path::Path,
    work: Vec<Job>,
    jobs: usize,
    timeout: Duration,
) -> Vec<ProgramResult> {
    let count = work.len();
    let mut order: Vec<(usize, Job)> = work.into_iter().enumerate().collect();
    // Longest first, so the last boot to start is a short one.
    order.sort_by_key(|(_, job)| std::cmp::Reverse(expected_weight(job)));
    let queue = Arc::new(Mutex::new(order.into_iter().collect::<VecDeque<_>>()));
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
                    timeout: if job.smp > 1 {
                        timeout * SMP_TIMEOUT_FACTOR
                    } else {
                        timeout
                    },
                    echo: false,
                    kernel_cmdline: job.kernel_cmdline.clone(),
                    icount: false,
                    smp: job.smp,
                };
                let outcome = || {
                    platforms::machine(&job, &run)
                        .and_then(|machine| qemu::boot_with(&run, &machine, qemu::DEFAULT_CPU))
                };
                let mut result = match job.expect {
                    Expect::Gdb => platforms::gdb_case(&job.label, &job, &run),
                    Expect::Protocol => judge(&job.label, outcome()),
                    Expect::ProtocolAllCpus => {
                        let outcome = outcome();
                        let problem = platforms::all_cpus_problem(job.smp, &outcome);
                        judge(&job.label, outcome).and_case(problem)
                    }
                    Expect::KernelPanic(names) => judge_panic(&job.label, names, outcome()),
                    Expect::InitFault(texts) => judge_init_fault(&job.label, texts, outcome()),
                    Expect::Reboot(text) => platforms::judge_reboot(&job.label, text, outcome()),
                    Expect::DirectMap => platforms::judge_direct_map(&job.label, outcome()),
                    Expect::IoApic => platforms::judge_io_apic(&job.label, outcome()),
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

#[cfg(test)]
mod unit;
