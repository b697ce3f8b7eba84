//! `cargo xtask bench --peer`: Ferrite's kbench and a Linux guest, same emulator, same flags.
//!
//! Both guests run under QEMU TCG with `-icount shift=0` (the guest TSC
//! counts executed instructions), one CPU, CPU model [`CPU`] and the same
//! memory, and time their own cases with RDTSC: Ferrite with
//! `user/demo/src/bin/kbench.rs`, Linux (Debian's kernel, see [`linux`])
//! with `bench/peer/linux_init.c` as `/init`. The runner pairs the cases by
//! name and size and prints
//! `PEER case=<name> pages=<n> ferrite=<instructions> linux=<instructions> ratio=<linux/ferrite>`
//! per pair, then a table with the targets.

mod cpio;
mod linux;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::bench::{boot_kbench, kbench_lines, KBENCH_MEM_MIB};

/// The CPU model of both guests: no ERMS, so both copy and clear pages with
/// `rep movsq`/`rep stosq` (icount counts each `rep` iteration).
const CPU: &str = "qemu64";
/// Repetitions (medians) and sizes (pages) of a full run and of `--quick`.
const REPS: u32 = 5;
const SIZES: [u64; 3] = [16384, 65536, 262144];
const QUICK_REPS: u32 = 3;
const QUICK_SIZES: [u64; 1] = [16384];
/// Time limit of the Linux guest (a full run takes a few minutes on a 2-core host).
const LINUX_TIMEOUT: Duration = Duration::from_secs(1200);

/// The cases in print order.
const CASES: [&str; 11] = [
    "null_syscall",
    "fork",
    "dup_copy",
    "dup_share",
    "mclone",
    "first_touch",
    "cow_fault",
    "teardown",
    "ipc_rtt_0b",
    "ipc_rtt_64b",
    "pull_in_fault",
];

/// The targets: (case, pages or any, least ratio linux/ferrite).
const TARGETS: [(&str, Option<u64>, f64); 9] = [
    ("null_syscall", None, 2.0),
    ("fork", Some(0), 3.0),
    ("fork", Some(262144), 100.0),
    ("dup_copy", Some(262144), 200.0),
    ("mclone", None, 80.0),
    ("first_touch", None, 2.0),
    ("cow_fault", None, 2.0),
    ("teardown", None, 5.0),
    ("ipc_rtt_64b", None, 5.0),
];

/// One side's figures: (case, pages) -> instructions.
type Figures = BTreeMap<(String, u64), u64>;

pub fn cmd_peer(quick: bool) -> Result<u8, String> {
    let (reps, sizes): (u32, &[u64]) = if quick {
        (QUICK_REPS, &QUICK_SIZES)
    } else {
        (REPS, &SIZES)
    };
    let guest = linux::prepare(&crate::root().join("target/peer"))?;
    println!(
        "# peer: both guests on QEMU TCG -icount shift=0 -cpu {CPU} -smp 1 -m {KBENCH_MEM_MIB}; RDTSC = executed instructions"
    );
    println!(
        "# linux: {} (vmlinux {}), booted by PVH; /init = bench/peer/linux_init.c (gcc -static -O2)",
        guest.kernel,
        guest.vmlinux.display()
    );

    let mut kbench_args = vec![format!("reps={reps}")];
    kbench_args.extend(sizes.iter().map(u64::to_string));
    let kbench_args: Vec<&str> = kbench_args.iter().map(String::as_str).collect();
    let (console, seconds) = boot_kbench(&kbench_args, CPU)?;
    println!(
        "# ferrite: kbench {} ({seconds:.0} s)",
        kbench_args.join(" ")
    );
    let ferrite = parse_ferrite(&console);
    for line in kbench_lines(&console).filter(|l| l.starts_with("kbench:")) {
        println!("#   {line}");
    }

    let sizes_list: Vec<String> = sizes.iter().map(u64::to_string).collect();
    let env = format!("PEER_REPS={reps} PEER_SIZES={}", sizes_list.join(","));
    let started = Instant::now();
    let console = linux::boot(&guest, CPU, KBENCH_MEM_MIB, &env, LINUX_TIMEOUT)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("# linux: /init {env} ({seconds:.0} s)");
    for line in console
        .iter()
        .filter_map(|l| l.find("lpeer:").map(|i| &l[i..]))
    {
        println!("#   {line}");
    }
    if !console.iter().any(|l| l.contains("lpeer: done")) {
        return Err("the Linux benchmark did not finish (no 'lpeer: done'; see above)".into());
    }
    let linux = parse_linux(&console);

    let rows = pair(&ferrite, &linux);
    for row in &rows {
        println!("{}", row.peer_line());
    }
    println!();
    print_table(&rows);
    Ok(0)
}

/// `KBENCH case=NAME pages=N guest_ns=X ...` lines (no `pages`: 0, as
/// for the IPC cases, whose `guest_ns` is per round trip).
fn parse_ferrite(console: &[String]) -> Figures {
    kbench_lines(console)
        .filter_map(|l| l.strip_prefix("KBENCH "))
        .filter_map(|l| {
            let case = field(l, "case")?.to_string();
            let pages = field(l, "pages").map_or(Some(0), |p| p.parse().ok())?;
            Some(((case, pages), field(l, "guest_ns")?.parse().ok()?))
        })
        .collect()
}

/// `LPEER case=NAME pages=N insns=X how=...` lines.
fn parse_linux(console: &[String]) -> BTreeMap<(String, u64), (u64, String)> {
    console
        .iter()
        .filter_map(|l| l.find("LPEER ").map(|i| &l[i + 6..]))
        .filter_map(|l| {
            let case = field(l, "case")?.to_string();
            let pages = field(l, "pages")?.parse().ok()?;
            let insns = field(l, "insns")?.parse().ok()?;
            Some(((case, pages), (insns, field(l, "how")?.to_string())))
        })
        .collect()
}

/// The value of `key=value` among space-separated words.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// One case and size with both sides (Ferrite's may be missing).
struct Row {
    case: String,
    pages: u64,
    ferrite: Option<u64>,
    linux: Option<(u64, String)>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        match (self.ferrite, &self.linux) {
            (Some(f), Some((l, _))) if f > 0 => Some(*l as f64 / f as f64),
            _ => None,
        }
    }

    fn peer_line(&self) -> String {
        let show = |v: Option<u64>| v.map_or("not_measured".to_string(), |v| v.to_string());
        let ratio = self
            .ratio()
            .map_or("none".to_string(), |r| format!("{r:.2}"));
        format!(
            "PEER case={} pages={} ferrite={} linux={} ratio={ratio}",
            self.case,
            self.pages,
            show(self.ferrite),
            show(self.linux.as_ref().map(|l| l.0)),
        )
    }

    /// The target for this row, if it has one.
    fn target(&self) -> Option<f64> {
        TARGETS
            .iter()
            .find(|(case, pages, _)| *case == self.case && pages.is_none_or(|p| p == self.pages))
            .map(|t| t.2)
    }
}

/// Every case and size of either side, in [`CASES`] order, then by size.
fn pair(ferrite: &Figures, linux: &BTreeMap<(String, u64), (u64, String)>) -> Vec<Row> {
    let mut rows = Vec::new();
    for case in CASES {
        let mut sizes: Vec<u64> = ferrite
            .keys()
            .chain(linux.keys())
            .filter(|(c, _)| c == case)
            .map(|(_, p)| *p)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        for pages in sizes {
            let key = (case.to_string(), pages);
            rows.push(Row {
                case: case.to_string(),
                pages,
                ferrite: ferrite.get(&key).copied(),
                linux: linux.get(&key).cloned(),
            });
        }
        if rows.iter().all(|r| r.case != case) && case.starts_with("ipc_") {
            rows.push(Row {
                case: case.to_string(),
                pages: 0,
                ferrite: None,
                linux: None,
            });
        }
    }
    rows
}

/// A count in a short form: 307, 60.2 k, 33.8 M.
fn short(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1} k", n / 1e3)
    } else if n >= 100.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// A figure, with its per-page share when the case has a size.
fn cell(v: Option<u64>, pages: u64) -> String {
    match v {
        None => "not measured".into(),
        Some(v) if pages == 0 => short(v as f64),
        Some(v) => format!(
            "{} ({}/page)",
            short(v as f64),
            short(v as f64 / pages as f64)
        ),
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<13} {:>7}  {:<22} {:<22} {:>8}  {:<16} {:<24}",
        "case", "pages", "Ferrite", "Linux", "ratio", "Linux path", "target"
    );
    for row in rows {
        let ratio = row.ratio();
        let target = match (row.target(), ratio) {
            (Some(t), Some(r)) if r >= t => format!(">= {t}x met"),
            (Some(t), Some(_)) => format!(">= {t}x MISSED"),
            (Some(t), None) => format!(">= {t}x (not measured)"),
            (None, _) => String::new(),
        };
        println!(
            "{:<13} {:>7}  {:<22} {:<22} {:>8}  {:<16} {target}",
            row.case,
            row.pages,
            cell(row.ferrite, row.pages),
            cell(row.linux.as_ref().map(|l| l.0), row.pages),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            row.linux.as_ref().map_or("", |l| l.1.as_str()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_pairs() {
        let ferrite_console = vec![
            "[init] KBENCH case=fork pages=0 guest_ns=80000 per_page_ns=0.00".to_string(),
            "[init] KBENCH case=mclone pages=16384 guest_ns=163840 per_page_ns=10.00".into(),
            "[init] KBENCH case=ipc_rtt_64b round_trips=2000 guest_ns=2000".into(),
        ];
        let linux_console = vec![
            "LPEER case=fork pages=0 insns=60000 how=fork".to_string(),
            "LPEER case=mclone pages=16384 insns=13107200 how=memfd".into(),
            "LPEER case=ipc_rtt_0b pages=0 insns=12000 how=futex".into(),
            "LPEER case=ipc_rtt_64b pages=0 insns=12000 how=futex".into(),
        ];
        let rows = pair(
            &parse_ferrite(&ferrite_console),
            &parse_linux(&linux_console),
        );
        let lines: Vec<String> = rows.iter().map(Row::peer_line).collect();
        assert_eq!(
            lines,
            [
                "PEER case=fork pages=0 ferrite=80000 linux=60000 ratio=0.75",
                "PEER case=mclone pages=16384 ferrite=163840 linux=13107200 ratio=80.00",
                "PEER case=ipc_rtt_0b pages=0 ferrite=not_measured linux=12000 ratio=none",
                "PEER case=ipc_rtt_64b pages=0 ferrite=2000 linux=12000 ratio=6.00",
            ]
        );
        assert_eq!(rows[0].target(), Some(3.0));
        assert_eq!(rows[1].target(), Some(80.0));
    }
}
