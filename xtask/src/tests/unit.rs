//! Unit tests of the runner's console and cargo-output parsing.

use super::judge::*;
use super::*;
use crate::qemu::{End, Outcome};

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

#[test]
fn repeated_boots_and_clean_counts() {
    let job = Job {
        label: "smp@smp4".into(),
        program: PathBuf::from("smp"),
        kernel_cmdline: String::new(),
        expect: Expect::Protocol,
        on: On::default(),
        smp: 4,
    };
    let labels: Vec<String> = repeated(&[job], 3).into_iter().map(|j| j.label).collect();
    assert_eq!(labels, ["smp@smp4#1", "smp@smp4#2", "smp@smp4#3"]);
    let result = |label: &str, passed, failed| ProgramResult {
        passed,
        failed,
        ..ProgramResult::empty(label)
    };
    let results = [
        result("smp@smp4#1", 12, 0),
        result("smp@smp4#2", 11, 1),
        result("smp@smp4#3", 0, 0),
        result("ipc@smp4#1", 23, 0),
    ];
    assert_eq!(
        clean_boots(&results),
        [("smp@smp4".to_string(), 1), ("ipc@smp4".to_string(), 1)]
    );
}
