//! The initial stack: layout of argc/argv/envp/auxv/strings, alignment, limits.

use crate::{build_stack, StackTooSmall};
use abi::init::AT_NULL;
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE};
use std::string::String;
use std::vec::Vec;

const TOP: u64 = JINUE_STACK_BASE;

/// The stack built into a fresh buffer of `size` bytes filled with 0xee.
fn built(size: usize, argv: &[&str], auxv: &[(u64, u64)]) -> (Vec<u8>, u64) {
    let mut mem = std::vec![0xee; size];
    let rsp = build_stack(&mut mem, TOP, argv, auxv).unwrap();
    (mem, rsp)
}

fn word(mem: &[u8], addr: u64) -> u64 {
    let at = mem.len() - (TOP - addr) as usize;
    u64::from_le_bytes(mem[at..at + 8].try_into().unwrap())
}

fn c_string(mem: &[u8], addr: u64) -> String {
    let at = mem.len() - (TOP - addr) as usize;
    let len = mem[at..].iter().position(|b| *b == 0).unwrap();
    String::from_utf8(mem[at..at + len].to_vec()).unwrap()
}

#[test]
fn stack_layout() {
    let (mem, rsp) = built(4096, &["init", "-v", "x"], &[(5, 4096), (8, 1)]);
    assert_eq!(rsp % 16, 0);
    let w = |i: u64| word(&mem, rsp + 8 * i);
    assert_eq!(w(0), 3, "argc");
    assert_eq!(c_string(&mem, w(1)), "init");
    assert_eq!(c_string(&mem, w(2)), "-v");
    assert_eq!(c_string(&mem, w(3)), "x");
    assert_eq!(w(4), 0, "argv NULL");
    assert_eq!(w(5), 0, "envp NULL");
    assert_eq!((w(6), w(7)), (5, 4096));
    assert_eq!((w(8), w(9)), (8, 1));
    assert_eq!((w(10), w(11)), (AT_NULL, 0));
    // The strings follow the auxv at once, one after the other.
    assert_eq!(w(1), rsp + 8 * 12);
    assert_eq!(w(2), w(1) + 5);
    assert_eq!(w(3), w(2) + 3);
    // Above the last NUL, less than 16 bytes, all zero, up to the top.
    let end = (w(3) + 2) as usize;
    let slack = &mem[mem.len() - (TOP as usize - end)..];
    assert!(slack.len() < 16);
    assert!(slack.iter().all(|b| *b == 0));
    // Below rsp, nothing was written.
    let below = mem.len() - (TOP - rsp) as usize;
    assert!(mem[..below].iter().all(|b| *b == 0xee));
}

#[test]
fn rsp_is_16_byte_aligned_for_any_arguments() {
    let long = "x".repeat(40);
    for nargs in 0..6 {
        for len in 0..=40 {
            let argv: Vec<&str> = (0..nargs).map(|_| &long[..len]).collect();
            for nauxv in 0..3 {
                let auxv = std::vec![(9, 9); nauxv];
                let (mem, rsp) = built(4096, &argv, &auxv);
                assert_eq!(rsp % 16, 0, "{nargs} args of {len} bytes, {nauxv} auxv");
                assert_eq!(word(&mem, rsp), nargs as u64);
                let words = 1 + nargs as u64 + 2 + 2 * (nauxv as u64 + 1);
                if nargs > 0 {
                    assert_eq!(word(&mem, rsp + 8), rsp + 8 * words);
                }
                let strings_end = rsp + 8 * words + (nargs * (len + 1)) as u64;
                assert!(TOP - strings_end < 16, "slack above the strings");
            }
        }
    }
}

#[test]
fn empty_argv() {
    let (mem, rsp) = built(64, &[], &[]);
    assert_eq!(
        TOP - rsp,
        48,
        "argc, NULL, NULL, the AT_NULL pair: 40 bytes"
    );
    assert_eq!(
        (0..6).map(|i| word(&mem, rsp + 8 * i)).collect::<Vec<_>>(),
        [0; 6]
    );
}

#[test]
fn too_big_for_the_memory() {
    let mut mem = std::vec![0u8; 4096];
    let long = [b'x'; 5000];
    assert_eq!(
        build_stack(&mut mem, TOP, &[&long[..]], &[]),
        Err(StackTooSmall)
    );
    let mut small = std::vec![0u8; 16 * 1024];
    assert_eq!(
        build_stack(&mut small, TOP, &["a"; 20_000], &[]),
        Err(StackTooSmall)
    );
    // Exactly full: 6 words and "ab\0" (51 bytes) take 64 with the alignment.
    assert!(build_stack(&mut [0u8; 64], TOP, &["ab"], &[]).is_ok());
    assert_eq!(
        build_stack(&mut [0u8; 63], TOP, &["ab"], &[]),
        Err(StackTooSmall)
    );
    assert_eq!(
        build_stack(&mut [0u8; 64], 16, &["ab"], &[]),
        Err(StackTooSmall),
        "below address 0"
    );
    let mut whole = std::vec![0u8; JINUE_STACK_SIZE as usize];
    assert!(build_stack(&mut whole, TOP, &["prog"], &[]).is_ok());
}
