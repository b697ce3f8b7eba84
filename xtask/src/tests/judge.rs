//! Reading one boot's console: case lines, the summary, panics and fault lines, judged against what the boot must show.

use super::ProgramResult;
use crate::qemu::{End, Outcome};

/// How a boot that should power off ended, as the results show it.
pub(crate) fn end_status(end: &End) -> String {
    match end {
        End::PowerOff(s) => format!("status {s}"),
        End::Timeout => "timeout".into(),
        End::Exited(_) => "no power-off".into(),
    }
}

/// The last `n` console lines, newest first, for a failure message.
pub(crate) fn last_lines(console: &[String], n: usize) -> String {
    console
        .iter()
        .rev()
        .take(n)
        .cloned()
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Counts the case lines of one console and checks the summary and the status.
pub(super) fn judge(label: &str, outcome: Result<Outcome, String>) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
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
pub(super) fn judge_panic(
    label: &str,
    names: &str,
    outcome: Result<Outcome, String>,
) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            let panic_line = o.console.iter().find(|l| l.contains("KERNEL PANIC"));
            r.status = end_status(&o.end);
            match (panic_line, &o.end) {
                (Some(line), End::PowerOff(255)) if line.contains(names) => None,
                (Some(line), _) => Some(format!(
                    "expected '{names}' and status 255; got {} after: {line}",
                    r.status
                )),
                (None, _) => Some(format!(
                    "no KERNEL PANIC line ({}); last lines: {}",
                    r.status,
                    last_lines(&o.console, 3)
                )),
            }
        }
    };
    r.one_case(problem)
}
/// An init that dies of a user fault: exactly one case, passed when one
/// console line has every text, no `KERNEL PANIC` appeared, and the kernel
/// powered off with status 0.
pub(super) fn judge_init_fault(
    label: &str,
    texts: &[&str],
    outcome: Result<Outcome, String>,
) -> ProgramResult {
    let mut r = ProgramResult::empty(label);
    let problem = match outcome {
        Err(e) => Some(format!("could not boot: {e}")),
        Ok(o) => {
            r.status = end_status(&o.end);
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
                    last_lines(&o.console, 4)
                )),
            }
        }
    };
    r.one_case(problem)
}

pub(super) enum Case {
    Ok,
    Failed(String),
}

/// A case line `test <program>::<case> ... ok|FAILED <why>`, possibly after a kernel prefix.
pub(super) fn parse_case(line: &str) -> Option<Case> {
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
pub(super) fn parse_summary(line: &str) -> Option<(u64, u64)> {
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
