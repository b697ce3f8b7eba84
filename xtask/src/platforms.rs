//! The suite's boots on other machines: `q35`, the ISO under SeaBIOS and OVMF,
//! and power-off/reset with no `isa-debug-exit` (QEMU must exit through ACPI).

use crate::iso::{self, IsoSpec};
use crate::qemu::{Firmware, Machine, Outcome, Run};
use crate::tests::{build_example, end_status, last_lines, Expect, Job, ProgramResult};
use crate::Images;

/// Where the suite's ISOs go (one per boot).
const TEST_ISO_DIR: &str = "target/iso/test";
/// The protocol programs booted from the ISO under each firmware (the whole
/// suite runs on `pc` and on `q35` with `-kernel`; these show that GRUB's
/// hand-over on BIOS and UEFI gives the same machine).
const ISO_PROGRAMS: [&str; 4] = ["boot", "cpu_state", "physmem", "c/abi_test"];
/// The protocol program the ACPI power-off boots run.
const POWER_OFF_PROGRAM: &str = "boot";
/// Guest memory that puts RAM on both sides of the PCI hole (below 4 GiB,
/// `pc` keeps 3 GiB of RAM and `q35` 2 GiB; the rest is above 4 GiB).
const ACROSS_THE_HOLE_MIB: u32 = 3584;
/// The demo that prints MEMSTAT (`user/demo/src/bin/hello.rs`).
const DIRECT_MAP_PROGRAM: &str = "hello";
/// The init program that calls REBOOT (`user/c/examples/reboot.c`).
const REBOOT_EXAMPLE: &str = "reboot";
/// The program booted from the ISO under OVMF with several CPUs: GRUB puts
/// this small init in low memory (seen at `0x1000..0x81b8`), where the AP
/// trampoline once lay; every CPU must still start.
const LOW_MODULE_PROGRAM: &str = "c/abi_test";
/// CPUs of that boot.
const LOW_MODULE_CPUS: u32 = 4;
/// The kernel's line with how many CPUs run it (`kernel/src/main.rs`).
const CPUS_LINE: &str = " CPU(s) run the kernel";
/// What starts the kernel's I/O APIC delivery line (`arch/x86_64/irqcheck.rs`).
const IO_APIC_LINE: &str = "I/O APIC: ISA IRQ ";

/// The machine of one boot; the default is `pc` with `-kernel` and `isa-debug-exit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct On {
    pub q35: bool,
    /// Boot from an ISO made for this boot, on q35, with this firmware.
    pub iso: Option<Firmware>,
    /// No `isa-debug-exit`: power-off must go through ACPI.
    pub no_debug_exit: bool,
    /// Guest memory other than the suite's default.
    pub mem_mib: Option<u32>,
    /// QEMU waits for gdb on this port (`gdb_case`).
    pub gdb_port: Option<u16>,
}

fn variant(job: &Job, prefix: &str, on: On) -> Job {
    Job {
        label: format!("{prefix}::{}", job.label),
        on,
        ..job.clone()
    }
}

/// Every `pc` boot again on q35, `ISO_PROGRAMS` from the ISO under SeaBIOS
/// and OVMF, the ACPI boots, and RAM across the PCI hole.
pub fn jobs(base: &[Job], images: &Images) -> Result<Vec<Job>, String> {
    let q35 = On {
        q35: true,
        ..On::default()
    };
    let mut jobs: Vec<Job> = base.iter().map(|j| variant(j, "q35", q35)).collect();
    iso::ensure_tools()?;
    crate::qemu::ovmf()?;
    for (prefix, firmware) in [("iso-bios", Firmware::Bios), ("iso-uefi", Firmware::Uefi)] {
        let on = On {
            q35: true,
            iso: Some(firmware),
            ..On::default()
        };
        jobs.extend(
            base.iter()
                .filter(|j| ISO_PROGRAMS.contains(&j.label.as_str()))
                .map(|j| variant(j, prefix, on)),
        );
    }
    let low_module = base
        .iter()
        .find(|j| j.label == LOW_MODULE_PROGRAM)
        .ok_or_else(|| format!("no test program '{LOW_MODULE_PROGRAM}' for the SMP ISO boot"))?;
    jobs.push(Job {
        label: format!("iso-uefi::{LOW_MODULE_PROGRAM}@smp{LOW_MODULE_CPUS}"),
        expect: Expect::ProtocolAllCpus,
        smp: LOW_MODULE_CPUS,
        on: On {
            q35: true,
            iso: Some(Firmware::Uefi),
            ..On::default()
        },
        ..low_module.clone()
    });
    let program = base
        .iter()
        .find(|j| j.label == POWER_OFF_PROGRAM)
        .ok_or_else(|| format!("no test program '{POWER_OFF_PROGRAM}' for the ACPI boots"))?;
    let acpi = |q35: bool, iso: Option<Firmware>| On {
        q35,
        iso,
        no_debug_exit: true,
        ..On::default()
    };
    for (name, on) in [
        ("poweroff_pc", acpi(false, None)),
        ("poweroff_q35", acpi(true, None)),
        ("poweroff_iso_bios", acpi(true, Some(Firmware::Bios))),
        ("poweroff_iso_uefi", acpi(true, Some(Firmware::Uefi))),
    ] {
        jobs.push(Job {
            label: format!("acpi::{name}"),
            on,
            ..program.clone()
        });
    }
    let reboot = build_example(REBOOT_EXAMPLE)?;
    for (name, on, method) in [
        ("reboot_pc", acpi(false, None), "the keyboard controller"),
        ("reboot_q35", acpi(true, None), "the ACPI reset register"),
        (
            "reboot_iso_uefi",
            acpi(true, Some(Firmware::Uefi)),
            "the ACPI reset register",
        ),
    ] {
        jobs.push(Job {
            label: format!("acpi::{name}"),
            program: reboot.clone(),
            kernel_cmdline: String::new(),
            expect: Expect::Reboot(method),
            on,
            smp: 1,
        });
    }
    let hello = images
        .user
        .iter()
        .find(|(package, name, _)| package == "ferrite-demo" && name == DIRECT_MAP_PROGRAM)
        .ok_or_else(|| format!("no demo program '{DIRECT_MAP_PROGRAM}'"))?;
    for (name, q35) in [("pc", false), ("q35", true)] {
        jobs.push(Job {
            label: format!("mem{ACROSS_THE_HOLE_MIB}::{name}"),
            program: hello.2.clone(),
            kernel_cmdline: String::new(),
            expect: Expect::DirectMap,
            smp: 1,
            on: On {
                q35,
                mem_mib: Some(ACROSS_THE_HOLE_MIB),
                ..On::default()
            },
        });
    }
    // The kernel mirrors its console on the screen GRUB hands over.
    for (name, firmware) in [("iso_bios", Firmware::Bios), ("iso_uefi", Firmware::Uefi)] {
        jobs.push(Job {
            label: format!("screen::{name}"),
            program: hello.2.clone(),
            kernel_cmdline: String::new(),
            expect: Expect::Screen,
            smp: 1,
            on: On {
                q35: true,
                iso: Some(firmware),
                ..On::default()
            },
        });
    }
    // A device interrupt arrives through the I/O APIC (issue 10), on each
    // machine and, from the ISO, with the RSDP GRUB hands over under UEFI.
    for (name, q35, iso) in [
        ("pc", false, None),
        ("q35", true, None),
        ("iso_uefi", true, Some(Firmware::Uefi)),
    ] {
        jobs.push(Job {
            label: format!("ioapic::{name}"),
            program: hello.2.clone(),
            kernel_cmdline: String::new(),
            expect: Expect::IoApic,
            smp: 1,
            on: On {
                q35,
                iso,
                ..On::default()
            },
        });
    }
    // gdb attaches with the symbols of the kernel and of init (README).
    jobs.push(Job {
        label: "gdb::attach".into(),
        program: hello.2.clone(),
        kernel_cmdline: String::new(),
        expect: Expect::Gdb,
        smp: 1,
        on: On {
            gdb_port: Some(gdb_port()),
            ..On::default()
        },
    });
    Ok(jobs)
}

/// A port for the suite's gdb boot that other runs on this machine are unlikely to use.
fn gdb_port() -> u16 {
    20_000 + (std::process::id() % 20_000) as u16
}

/// The QEMU machine of a job; builds its ISO first when it boots from one.
pub fn machine(job: &Job, run: &Run) -> Result<Machine, String> {
    let iso = match job.on.iso {
        None => None,
        Some(firmware) => {
            let name: String = job
                .label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = crate::root().join(TEST_ISO_DIR).join(format!("{name}.iso"));
            let spec = IsoSpec {
                kernel: run.kernel.clone(),
                program: run.program.clone(),
                args: run.args.clone(),
                kernel_cmdline: run.kernel_cmdline.clone(),
            };
            iso::build(&spec, &path)?;
            Some((path, firmware))
        }
    };
    Ok(Machine {
        q35: job.on.q35 || iso.is_some(),
        iso,
        no_debug_exit: job.on.no_debug_exit,
        gdb: job.on.gdb_port,
    })
}

/// A reboot boot: one case, passed when the console's last line starts with
/// `ferrite: reboot through <method>`, no panic came, and QEMU ended by itself.
pub fn judge_reboot(label: &str, method: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let expected = format!("ferrite: reboot through {method}");
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            use crate::qemu::End;
            r.status = match &o.end {
                End::PowerOff(s) => format!("status {s}"),
                End::Timeout => "timeout".into(),
                End::Exited(_) => "reset".into(),
            };
            let last = o.console.last().cloned().unwrap_or_default();
            let panicked = o.console.iter().any(|l| l.contains("KERNEL PANIC"));
            match (&o.end, panicked) {
                (End::Exited(_), false) if last.starts_with(&expected) => None,
                _ => Some(format!(
                    "expected a reset after '{expected}'; got {}; last line: {last}",
                    r.status
                )),
            }
        }
    };
    r.one_case(problem)
}

/// Every CPU of a boot with `smp` CPUs runs the kernel: its line `N CPU(s)
/// run the kernel` has N = `smp`. `None` when it does, else what went wrong.
pub fn all_cpus_problem(smp: u32, outcome: &Result<Outcome, String>) -> Option<String> {
    let console = match outcome {
        Ok(o) => &o.console,
        Err(e) => return Some(format!("could not boot: {e}")),
    };
    let line = console.iter().find(|l| l.contains(CPUS_LINE));
    let cpus = line.and_then(|l| {
        let before = &l[..l.find(CPUS_LINE)?];
        let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        before[before.len() - digits..].parse::<u32>().ok()
    });
    match cpus {
        Some(n) if n == smp => None,
        _ => Some(format!(
            "expected '{smp}{CPUS_LINE}'; got {line:?}; warnings: {}",
            console
                .iter()
                .filter(|l| l.contains("[WARN]"))
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        )),
    }
}

/// A number after `key` in `line` (`key` ends where the digits start).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The kernel's I/O APIC delivery line: (interrupts counted, interrupts
/// after the line was masked again), or `None` for another line or the
/// WARN lines (no interrupt, or some through the masked line).
fn io_apic_delivery(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find(IO_APIC_LINE)?..];
    let before = &rest[..rest.find(" interrupts in ")?];
    let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let counted = before[before.len() - digits..].parse().ok()?;
    if !rest.contains(" with the line masked") {
        return None;
    }
    Some((counted, number_after(rest, ", then ")?))
}

/// Device interrupt delivery through the I/O APIC: one case, passed when
/// the kernel's line shows at least one interrupt counted on the routed
/// vector (with the legacy PICs masked), at most one (already accepted)
/// after masking the line again, no panic came and the status is 0.
pub fn judge_io_apic(label: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            r.status = end_status(&o.end);
            let delivery = o.console.iter().find_map(|l| io_apic_delivery(l));
            let panicked = o.console.iter().any(|l| l.contains("KERNEL PANIC"));
            let line = o.console.iter().find(|l| l.contains(IO_APIC_LINE));
            match delivery {
                Some((counted, late)) if counted >= 1 && late <= 1 && !panicked && o.end == crate::qemu::End::PowerOff(0) => None,
                _ => Some(format!(
                    "expected '{IO_APIC_LINE}... N interrupts in ..., then M in ... with the line masked' with N >= 1, M <= 1, no panic, status 0; got {:?}, {}; last lines: {}",
                    line,
                    r.status,
                    last_lines(&o.console, 3)
                )),
            }
        }
    };
    r.one_case(problem)
}

/// RAM across the PCI hole: one case, passed when the kernel's direct-map
/// line shows RAM above 4 GiB, MEMSTAT's total (printed by `hello`) is more
/// than all RAM below 4 GiB (so frames above the hole are in use), no panic
/// came and the status is 0. The map itself is checked by the kernel at
/// every boot (`arch/x86_64/mapcheck.rs`: exactly the firmware's RAM,
/// write-back, no large page over a hole, no identity map).
pub fn judge_direct_map(label: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            use crate::qemu::End;
            r.status = end_status(&o.end);
            let map = o.console.iter().find(|l| l.contains("direct map: "));
            let mapped_mib = map.and_then(|l| number_after(l, "direct map: "));
            let above_mib = map.and_then(|l| number_after(l, "ranges ("));
            let total_frames = o
                .console
                .iter()
                .find_map(|l| number_after(l, "total_frames: "));
            let panicked = o.console.iter().any(|l| l.contains("KERNEL PANIC"));
            match (mapped_mib, above_mib, total_frames) {
                _ if panicked || o.end != End::PowerOff(0) => Some(format!(
                    "{}; last lines: {}",
                    r.status,
                    last_lines(&o.console, 4)
                )),
                (Some(mapped), Some(above), Some(frames))
                    if above > 0 && (frames * 4096) >> 20 > mapped - above =>
                {
                    None
                }
                other => Some(format!(
                    "expected RAM above 4 GiB mapped and counted by MEMSTAT; (mapped MiB, above 4 GiB MiB, MEMSTAT frames) = {other:?}"
                )),
            }
        }
    };
    r.one_case(problem)
}

/// gdb's commands: attach, stop in the kernel's Rust entry (hardware
/// breakpoint: the CPU is still in 32-bit mode when gdb attaches), then at
/// init's `_start` (init's symbols), then let the program finish.
fn gdb_script(port: u16, init: &std::path::Path) -> Vec<String> {
    [
        "set confirm off".to_string(),
        "set pagination off".to_string(),
        "set tcp auto-retry on".to_string(),
        "set tcp connect-timeout 60".to_string(),
        format!("target remote 127.0.0.1:{port}"),
        format!("add-symbol-file {}", init.display()),
        "hbreak ferrite_boot_main".to_string(),
        "continue".to_string(),
        "backtrace 3".to_string(),
        "delete".to_string(),
        "break _start".to_string(),
        "continue".to_string(),
        "info symbol $pc".to_string(),
        "delete".to_string(),
        "continue".to_string(),
    ]
    .to_vec()
}

/// `gdb::attach`: boots with QEMU waiting for gdb, runs gdb as the README
/// says (kernel symbols, `add-symbol-file` for init), and passes when gdb
/// stopped in the kernel's entry and at init's `_start`, and the program
/// then ran to its power-off with status 0.
pub fn gdb_case(label: &str, job: &Job, run: &Run) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = (|| -> Result<(), String> {
        crate::tools::ensure_packages(&[crate::tools::Need::Command("gdb", "gdb")])?;
        let port = job.on.gdb_port.ok_or("no gdb port")?;
        let machine = machine(job, run)?;
        let mut gdb = std::process::Command::new("gdb");
        gdb.args(["-batch", "-nx"]);
        for command in gdb_script(port, &run.program) {
            gdb.arg("-ex").arg(command);
        }
        gdb.arg(&run.kernel);
        let debugger = std::thread::spawn(move || gdb.output());
        let outcome = crate::qemu::boot_with(run, &machine, crate::qemu::DEFAULT_CPU)?;
        let output = debugger
            .join()
            .map_err(|_| "the gdb thread panicked".to_string())?
            .map_err(|e| format!("cannot run gdb: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let stopped_in_kernel = text.contains("ferrite_boot_main");
        let stopped_in_init = text.lines().any(|l| l.contains("_start in section .text"));
        r.status = format!("{:?}", outcome.end);
        match (stopped_in_kernel, stopped_in_init, &outcome.end) {
            (true, true, crate::qemu::End::PowerOff(0)) => Ok(()),
            _ => Err(format!(
                "kernel stop {stopped_in_kernel}, init stop {stopped_in_init}, end {:?}; gdb said: {}",
                outcome.end,
                text.lines().rev().take(8).collect::<Vec<_>>().join(" | ")
            )),
        }
    })();
    match problem {
        Ok(()) => r.passed = 1,
        Err(p) => {
            r.failed = 1;
            r.failures.push(p);
        }
    }
    r
}

/// A boot from the ISO: one case, passed when the kernel took the screen
/// GRUB handed over (its `screen console:` line), no panic came, and the
/// program ended with status 0. (That the text is visible was checked with
/// QEMU's `screendump`; the runner has no monitor to take screenshots.)
pub fn judge_screen(label: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            r.status = format!("{:?}", o.end);
            let screen = o.console.iter().any(|l| l.contains("screen console: "));
            let panicked = o.console.iter().any(|l| l.contains("KERNEL PANIC"));
            match (screen, panicked, &o.end) {
                (true, false, crate::qemu::End::PowerOff(0)) => None,
                _ => Some(format!(
                    "screen console line {screen}, panic {panicked}, end {:?}",
                    o.end
                )),
            }
        }
    };
    r.one_case(problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::End;

    const OK: &str = "ferrite[INFO]: I/O APIC: ISA IRQ 8 -> GSI 8 (edge, active high) -> vector 0x40 on CPU 0 (APIC ID 0): 4 interrupts in 15.4 ms (RTC at 256 Hz), then 0 in 20 ms with the line masked";

    fn boot(lines: &[&str], end: End) -> Result<Outcome, String> {
        Ok(Outcome {
            console: lines.iter().map(|s| s.to_string()).collect(),
            end,
        })
    }

    #[test]
    fn all_cpus_lines() {
        let four = "ferrite[INFO]: 4 CPU(s) run the kernel";
        assert_eq!(
            all_cpus_problem(4, &boot(&["x", four], End::PowerOff(0))),
            None
        );
        assert!(all_cpus_problem(2, &boot(&[four], End::PowerOff(0))).is_some());
        let one = "ferrite[INFO]: 1 CPU(s) run the kernel";
        let warn = "ferrite[WARN]: SMP: no 4 free pages";
        let problem = all_cpus_problem(4, &boot(&[warn, one], End::PowerOff(0)));
        assert!(problem.is_some_and(|p| p.contains("no 4 free pages")));
        assert!(all_cpus_problem(4, &boot(&["hello"], End::PowerOff(0))).is_some());
        assert!(all_cpus_problem(4, &Err("no qemu".into())).is_some());
    }

    #[test]
    fn io_apic_delivery_lines() {
        assert_eq!(io_apic_delivery(OK), Some((4, 0)));
        let none = "ferrite[WARN]: I/O APIC: ISA IRQ 8 -> GSI 8 (edge, active high) -> vector 0x40 on CPU 0 (APIC ID 0): no interrupt in 500 ms (RTC at 256 Hz); device interrupts may not work";
        assert_eq!(io_apic_delivery(none), None);
        let leaks = "ferrite[WARN]: I/O APIC: ISA IRQ 8 -> GSI 8 (edge, active high) -> vector 0x40 on CPU 0 (APIC ID 0): 5 interrupts in 20 ms after the line was masked";
        assert_eq!(io_apic_delivery(leaks), None);
        assert_eq!(io_apic_delivery("I/O APIC: no MADT"), None);
    }

    #[test]
    fn io_apic_judgement() {
        let passed = |o| {
            let r = judge_io_apic("ioapic::t", o);
            (r.passed, r.failed)
        };
        assert_eq!(passed(boot(&[OK, "hello"], End::PowerOff(0))), (1, 0));
        assert_eq!(passed(boot(&["hello"], End::PowerOff(0))), (0, 1));
        assert_eq!(passed(boot(&[OK], End::Timeout)), (0, 1));
        assert_eq!(
            passed(boot(&[OK, "KERNEL PANIC: x"], End::PowerOff(0))),
            (0, 1)
        );
        let zero = OK.replace(": 4 interrupts", ": 0 interrupts");
        assert_eq!(passed(boot(&[&zero], End::PowerOff(0))), (0, 1));
        let late = OK.replace("then 0 in", "then 3 in");
        assert_eq!(passed(boot(&[&late], End::PowerOff(0))), (0, 1));
        assert_eq!(passed(Err("no qemu".into())), (0, 1));
    }
}
