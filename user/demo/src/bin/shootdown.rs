//! Cost of a TLB shootdown: RGN_SET_PROTECT (read-write to read-only, one
//! page) while 0, 1 or 3 other threads of the process spin in user mode,
//! so that 1, 2 or 4 CPUs run the address space (ABI §9, `doc/smp.md`).
//!
//! `cargo xtask run --release --smp N --init target/user/x86_64-unknown-linux-gnu/release/shootdown`
//! prints one line per case,
//! `SHOOTDOWN cpus_in_space=<k> calls=<n> tsc_per_call=<median>`: the
//! median over batches of host TSC ticks per call (QEMU passes the host
//! TSC through without `-icount`; `-icount` would count instructions of
//! all CPUs in turn, which says nothing about waiting for another CPU).
//! A space on one CPU must pay no kick: compare the first line with the
//! others. Cases need as many CPUs as threads (JINUE_AT_NCPU); the rest are
//! skipped.
#![no_std]
#![no_main]

use abi::init::JINUE_AT_NCPU;
use abi::layout::PAGE_SIZE;
use abi::region::{K_ANYWHERE, K_WRITABLE};
use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::clock::cycles;
use ferrite_rt::{println, Startup};

ferrite_rt::entry!(main);

/// Calls per batch, and batches per case.
const CALLS: u64 = 200;
const BATCHES: usize = 9;

/// A word in a page of this process that stays mapped writable.
fn word(addr: u64) -> &'static AtomicU64 {
    // SAFETY: `addr` is an aligned word of the control page, mapped
    // writable until every spinner was joined.
    unsafe { &*(addr as *const AtomicU64) }
}

/// Median ticks of one RGN_SET_PROTECT lowering with `others` spinners.
fn case(others: usize, control: u64) -> Option<u64> {
    let stop = word(control);
    stop.store(0, Ordering::SeqCst);
    let running = word(control + 8);
    running.store(0, Ordering::SeqCst);
    let spinners: [Option<ferrite_rt::thread::JoinHandle>; 3] = core::array::from_fn(|i| {
        (i < others)
            .then(|| {
                ferrite_rt::thread::spawn(move || {
                    running.fetch_add(1, Ordering::SeqCst);
                    while stop.load(Ordering::SeqCst) == 0 {
                        core::hint::spin_loop();
                    }
                })
                .ok()
            })
            .flatten()
    });
    while running.load(Ordering::SeqCst) < others as u64 {
        api::yield_thread();
    }
    let mut desc = rgn(0, PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
    api::rgn_allocate(Actor::Me, &mut desc).ok()?;
    let page = desc.startAddr;
    let mut batches = [0u64; BATCHES];
    for b in &mut batches {
        let mut ticks = 0;
        for _ in 0..CALLS {
            word(page).store(1, Ordering::SeqCst);
            let t0 = cycles();
            let r = api::rgn_set_protect(Actor::Me, &rgn(page, PAGE_SIZE, 0));
            ticks += cycles() - t0;
            r.ok()?;
            api::rgn_set_protect(Actor::Me, &rgn(page, PAGE_SIZE, K_WRITABLE)).ok()?;
        }
        *b = ticks / CALLS;
    }
    stop.store(1, Ordering::SeqCst);
    for h in spinners.into_iter().flatten() {
        let _ = h.join();
    }
    let _ = api::rgn_free(Actor::Me, &rgn(page, PAGE_SIZE, 0));
    batches.sort_unstable();
    Some(batches[BATCHES / 2])
}

fn main(start: &Startup) -> i32 {
    let ncpu = start.aux(JINUE_AT_NCPU).unwrap_or(1) as usize;
    let mut control = rgn(0, PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
    if api::rgn_allocate(Actor::Me, &mut control).is_err() {
        println!("shootdown: no control page");
        return 1;
    }
    println!("shootdown: {ncpu} CPU(s)");
    for others in [0usize, 1, 3] {
        if others + 1 > ncpu {
            println!(
                "shootdown: cpus_in_space={} skipped (only {ncpu} CPUs)",
                others + 1
            );
            continue;
        }
        match case(others, control.startAddr) {
            Some(t) => println!(
                "SHOOTDOWN cpus_in_space={} calls={} tsc_per_call={t}",
                others + 1,
                CALLS * BATCHES as u64
            ),
            None => {
                println!("shootdown: a call failed");
                return 1;
            }
        }
    }
    0
}
