//! Smallest Ferrite program: prints its arguments and MEMSTAT, then powers off with 0.
#![no_std]
#![no_main]

use ferrite_rt::{api, println, Startup};

ferrite_rt::entry!(main);

fn main(start: &Startup) -> i32 {
    println!("hello from ferrite user space: argc={}", start.argc());
    for (i, a) in start.args().enumerate() {
        println!(
            "argv[{i}] = {}",
            core::str::from_utf8(a).unwrap_or("<not utf-8>")
        );
    }
    match api::memstat() {
        Ok(m) => println!("memstat: {m:?}"),
        Err(e) => println!("memstat failed: {}", e.name()),
    }
    0
}
