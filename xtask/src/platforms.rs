//! The suite's boots on other machines: `q35`, the ISO under SeaBIOS and OVMF,
//! and power-off/reset with no `isa-debug-exit` (QEMU must exit through ACPI).

use crate::iso::{self, IsoSpec};
use crate::qemu::{Firmware, Machine, Outcome, Run};
use crate::tests::{build_example, Expect, Job, ProgramResult};

/// Where the suite's ISOs go (one per boot).
const TEST_ISO_DIR: &str = "target/iso/test";
/// The protocol program the ACPI power-off boots run.
const POWER_OFF_PROGRAM: &str = "boot";
/// The init program that calls REBOOT (`user/c/examples/reboot.c`).
const REBOOT_EXAMPLE: &str = "reboot";

/// The machine of one boot; the default is `pc` with `-kernel` and `isa-debug-exit`.
#[derive(Clone, Copy, Debug, Default)]
pub struct On {
    pub q35: bool,
    /// Boot from an ISO made for this boot, on q35, with this firmware.
    pub iso: Option<Firmware>,
    /// No `isa-debug-exit`: power-off must go through ACPI.
    pub no_debug_exit: bool,
}

fn variant(job: &Job, prefix: &str, on: On) -> Job {
    Job {
        label: format!("{prefix}::{}", job.label),
        on,
        ..job.clone()
    }
}

/// Every `pc` boot again on q35, every protocol program from the ISO under
/// SeaBIOS and OVMF, and the ACPI boots.
pub fn jobs(base: &[Job]) -> Result<Vec<Job>, String> {
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
            no_debug_exit: false,
        };
        jobs.extend(
            base.iter()
                .filter(|j| matches!(j.expect, Expect::Protocol))
                .map(|j| variant(j, prefix, on)),
        );
    }
    let program = base
        .iter()
        .find(|j| j.label == POWER_OFF_PROGRAM)
        .ok_or_else(|| format!("no test program '{POWER_OFF_PROGRAM}' for the ACPI boots"))?;
    let acpi = |q35: bool, iso: Option<Firmware>| On {
        q35,
        iso,
        no_debug_exit: true,
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
        });
    }
    Ok(jobs)
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
        gdb: false,
    })
}

/// A reboot boot: one case, passed when the console's last line starts with
/// `ferrite: reboot through <method>`, no panic came, and QEMU ended by itself.
pub fn judge_reboot(label: &str, method: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult {
        label: label.to_string(),
        passed: 0,
        failed: 0,
        failures: Vec::new(),
        status: String::new(),
        seconds: 0.0,
    };
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
    match problem {
        None => r.passed = 1,
        Some(p) => {
            r.failed = 1;
            r.failures.push(p);
        }
    }
    r
}
