//! Host benchmarks of the `mm` core over `SimPhys`, side by side with Linux doing the closest work.
//!
//! `cargo run --release -p ferrite-bench [-- --quick]` prints one line per case:
//! `BENCH case=<name> pages=<n> ferrite_ns=<n> linux_ns=<n|-> ratio=<linux/ferrite|->`.
//! Times are medians of repeated runs; `cow_fault` is per page, every other
//! case is the whole operation. The Linux side runs first, while this process
//! is still small, so that its `fork()` copies little besides the test memory.

mod ferrite;
mod linux;

/// How one case is measured: its name, its size, and both medians.
struct Line {
    case: &'static str,
    npages: u64,
    ferrite_ns: u64,
    linux_ns: Option<u64>,
}

fn print(line: &Line) {
    let (linux, ratio) = match line.linux_ns {
        Some(l) => (
            l.to_string(),
            format!("{:.2}", l as f64 / line.ferrite_ns.max(1) as f64),
        ),
        None => ("-".to_string(), "-".to_string()),
    };
    println!(
        "BENCH case={} pages={} ferrite_ns={} linux_ns={} ratio={}",
        line.case, line.npages, line.ferrite_ns, linux, ratio
    );
}

/// The median of `samples` (which it sorts).
pub(crate) fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[u64] = if quick {
        &[1024, 16384]
    } else {
        &[1024, 16384, 262144]
    };
    let reps = if quick { 3 } else { 9 };
    let mut linux_results = Vec::new();
    for &npages in sizes {
        linux_results.push((npages, linux::measure(npages, reps)));
    }
    for (npages, l) in linux_results {
        let f = ferrite::measure(npages, reps);
        for (case, ferrite_ns, linux_ns) in [
            ("mclone", f.mclone_ns, l.fork_private_ns),
            ("dup_copy", f.dup_copy_ns, l.fork_private_ns),
            ("dup_share", f.dup_share_ns, l.fork_shared_ns),
            (
                "cow_fault",
                f.cow_fault_ns_per_page,
                l.cow_fault_ns_per_page,
            ),
            ("teardown", f.teardown_ns, l.munmap_ns),
        ] {
            print(&Line {
                case,
                npages,
                ferrite_ns,
                linux_ns,
            });
        }
    }
}
