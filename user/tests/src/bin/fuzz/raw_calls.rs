//! Case `raw_calls`: random raw calls in the init process.

use super::exhaustion::process_room;
use super::fuzzer::{report_bad, Fuzzer};
use super::support::{alive, dump_regions, free_strays, own_regions, seeds, touch_deep};
use ferrite_rt::println;
use ferrite_tests::*;

const RAW_SEEDS: [u64; 6] = [
    0x5eed_0001,
    0x5eed_0002,
    0xfe44_17e0,
    0x0bad_cafe,
    0x1234_5678,
    0x7777_0007,
];

const RAW_CALLS: u64 = 10_000;

pub(super) fn raw_calls(c: &mut Case) {
    touch_deep();
    let base = usage();
    let (keep, nkeep) = own_regions();
    let room = process_room();
    for seed in seeds(&RAW_SEEDS) {
        println!("    fuzz::raw_calls: seed {seed:#x}, {RAW_CALLS} calls");
        let mut f = Fuzzer::new(seed, false, 0);
        if let Err(e) = f.map() {
            c.fail(file!(), line!(), format_args!("cannot map the pool: {e:?}"));
            return;
        }
        f.run(RAW_CALLS);
        report_bad(c, &f, seed);
        f.cleanup();
        free_strays(&keep[..nkeep]);
        println!(
            "    fuzz::raw_calls: seed {seed:#x}: {} calls, {} skipped as self-harm, {} bad",
            f.calls, f.skipped, f.bad
        );
        alive(c);
        // Per seed, so that a leak names its seed.
        check_eq!(c, usage(), base, "MEMSTAT after seed {:#x}", seed);
        check_eq!(
            c,
            process_room(),
            room,
            "process room after seed {:#x}",
            seed
        );
        if !c.ok() {
            break;
        }
    }
    if usage() != base {
        dump_regions();
    }
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back to baseline after the random calls"
    );
}
