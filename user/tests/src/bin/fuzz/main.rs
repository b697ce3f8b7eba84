//! `fuzz`: adversarial robustness from user space: random raw calls, faulting threads and children, exhaustion, descriptor churn, a mapper answering at random; no panic, no leak.
//!
//! Every random stream comes from a fixed, printed seed, so a failure is
//! reproduced by booting the same image again. Arguments (`cargo xtask run
//! --init <fuzz ELF> ARG...`): a case name runs that case and the leak
//! checks; `fault K` runs fault kind K alone; `soak BASE` runs every case
//! with 40 seeds from BASE for the random ones.
//!
//! Cases that panicked earlier kernels (kernel heap exhaustion) run after
//! the `no_leak` check, so that the rest is reported first.
#![no_std]
#![no_main]

mod arch_faults;
mod await_across;
mod bookkeeping_churn;
mod cap_errors;
mod children;
mod cow_chain;
mod descriptor_churn;
mod dup_flood;
mod exhaustion;
mod fuzzer;
mod ipc_storm;
mod layout;
mod mapper_chaos;
mod memory_model;
mod orphan;
mod page_flood;
mod probe;
mod promises;
mod raw_calls;
mod region_flood;
mod returns;
mod rng;
mod stream_lock;
mod support;
mod thread_storm;

use abi::errors::JinueError;
use abi::perms::*;
use abi::region::*;
use arch_faults::{arch_faults, do_fault, FAULTS};
use await_across::await_across;
use bookkeeping_churn::bookkeeping_churn;
use cap_errors::cap_errors;
use children::children;
use cow_chain::cow_chain;
use descriptor_churn::descriptor_churn;
use dup_flood::dup_flood;
use exhaustion::{exhaustion, process_room, thread_room};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{println, Startup};
use ferrite_tests::*;
use ipc_storm::ipc_storm;
use layout::{LOW, LOW_END, PG, SAFE, SAFE_SIZE};
use mapper_chaos::mapper_chaos;
use memory_model::memory_model;
use orphan::orphan;
use page_flood::page_flood;
use promises::promises;
use raw_calls::raw_calls;
use region_flood::region_flood;
use support::SOAK;
use thread_storm::thread_storm;

ferrite_rt::entry!(main);

type CaseFn = fn(&mut Case);

const CASES: [(&str, CaseFn); 13] = [
    ("raw_calls", raw_calls),
    ("arch_faults", arch_faults),
    ("children", children),
    ("exhaustion", exhaustion),
    ("descriptor_churn", descriptor_churn),
    ("memory_model", memory_model),
    ("await_across", await_across),
    ("promises", promises),
    ("cap_errors", cap_errors),
    ("orphan", orphan),
    ("thread_storm", thread_storm),
    ("ipc_storm", ipc_storm),
    ("mapper_chaos", mapper_chaos),
];

/// Fills `[LOW, LOW_END)` with inaccessible regions that all share one page
/// (MCLONE doubling): costs one frame however small the machine, and
/// forked children share it (K_INHERITSHARE) instead of paying for a copy.
fn reserve_low() -> Result<(), JinueError> {
    api::rgn_allocate(Actor::Me, &mut rgn(LOW, PG, K_INHERITSHARE))
        .map_err(|_| JinueError::NoMem)?;
    let total = (LOW_END - LOW) / PG;
    let mut n = 1;
    while n < total {
        let len = n.min(total - n);
        api::mclone_range(
            ferrite_rt::thread::SELF,
            ferrite_rt::thread::SELF,
            LOW,
            LOW + n * PG,
            len * PG,
            JINUE_PROT_NONE,
        )?;
        n += len;
    }
    api::rgn_set_protect(Actor::Me, &rgn(LOW, PG, K_NOACCESS)).map_err(|_| JinueError::NoMem)
}

/// How many untouched one-page regions the own process can still allocate
/// (up to `REGION_ROOM_CAP`): a kernel that bounds its bookkeeping must give
/// all of it back when regions die.
fn region_room() -> u64 {
    const REGION_ROOM_CAP: u64 = 12_000;
    let mut n = 0;
    while n < REGION_ROOM_CAP
        && api::rgn_allocate(Actor::Me, &mut rgn(SAFE + 2 * n * PG, PG, K_WRITABLE)).is_ok()
    {
        n += 1;
    }
    let _ = api::rgn_free(Actor::Me, &rgn(SAFE, SAFE_SIZE, 0));
    n
}

/// Cases that end with a kernel panic on a kernel without bounded
/// bookkeeping: they run after the leak check.
const LAST: [(&str, CaseFn); 5] = [
    ("page_flood", page_flood),
    ("region_flood", region_flood),
    ("dup_flood", dup_flood),
    ("cow_chain", cow_chain),
    ("bookkeeping_churn", bookkeeping_churn),
];

fn main(start: &Startup) -> i32 {
    // `fault K`: runs fault kind K alone (to minimize a finding).
    if start.arg(1) == Some(b"fault") {
        let k = start
            .arg(2)
            .and_then(|a| core::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0);
        println!("fuzz: fault {k} ({})", FAULTS.get(k).map_or("?", |f| f.0));
        let r = on_thread(|| do_fault(k));
        println!("fuzz: fault {k}: AWAIT_THREAD -> {r:?}");
        return 0;
    }
    let mut only = start.arg(1).and_then(|a| core::str::from_utf8(a).ok());
    if only == Some("soak") {
        let base = start
            .arg(2)
            .and_then(|a| core::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(1);
        println!("fuzz: soak from seed {base:#x}");
        SOAK.store(base, core::sync::atomic::Ordering::Relaxed);
        only = None;
    }
    let mut s = Suite::new("fuzz");
    let only = only.filter(|o| CASES.iter().chain(LAST.iter()).any(|(n, _)| n == o));
    if let Err(e) = reserve_low() {
        println!("fuzz: cannot reserve the low addresses: {e:?}");
    }
    touch_stack();
    let base = usage();
    let rooms = (process_room(), thread_room());
    let regions = region_room();
    println!(
        "fuzz: room at the start: {:?} processes, {:?} threads, {} one-page regions",
        rooms.0, rooms.1, regions
    );
    for &(name, f) in CASES.iter() {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        s.isolated(name, f);
    }
    s.case("no_leak", |c| {
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT at the end equals MEMSTAT at the start"
        );
        check_eq!(
            c,
            (process_room(), thread_room()),
            rooms,
            "process and thread room at the end"
        );
    });
    // Last: on a kernel without bounded bookkeeping these panic it.
    for (name, f) in LAST {
        if only.is_none_or(|o| o == name) {
            s.isolated(name, f);
        }
    }
    s.case("no_leak_after_floods", |c| {
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT at the end equals MEMSTAT at the start"
        );
        check_eq!(
            c,
            (process_room(), thread_room()),
            rooms,
            "process and thread room at the end"
        );
        check_eq!(
            c,
            region_room(),
            regions,
            "room for regions at the end (kernel bookkeeping released)"
        );
    });
    s.finish()
}
