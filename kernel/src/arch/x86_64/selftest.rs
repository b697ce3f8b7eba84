//! Fault injection for the runner's kernel-panic checks (`fault=KIND` on the kernel command line).
//!
//! `cargo xtask test` boots the kernel once per kind and expects one
//! `KERNEL PANIC` line naming the fault and power-off status 255: this proves
//! the exception paths, the guard page and the IST stack on every run.

use core::arch::asm;

use super::paging::KERNEL_VMA;

/// The kinds `inject` understands.
pub const KINDS: [&str; 5] = ["page", "ud", "gp", "stack", "panic"];

/// Raises the fault named `kind`; returns only for an unknown kind.
pub fn inject(kind: &str) {
    crate::kwarn!("injecting a kernel fault: {kind}");
    match kind {
        // The page below the kernel image's virtual base is never mapped.
        "page" => {
            let addr = (KERNEL_VMA - 0x1000) as *const u64;
            // SAFETY: deliberately faults (#PF); the handler powers off and never returns here.
            let value = unsafe { addr.read_volatile() };
            panic!("read of unmapped {addr:p} returned {value:#x}");
        }
        // SAFETY: UD2 raises #UD (Intel SDM vol. 2 UD); the handler never returns.
        "ud" => unsafe { asm!("ud2", options(nomem, nostack)) },
        // A non-canonical address raises #GP (Intel SDM vol. 3 §3.3.7.1).
        "gp" => {
            let addr = 0x0000_8000_0000_0000u64 as *const u64;
            // SAFETY: deliberately faults (#GP); the handler never returns.
            let value = unsafe { addr.read_volatile() };
            panic!("read of non-canonical {addr:p} returned {value:#x}");
        }
        "stack" => {
            let depth = recurse(0);
            panic!("unbounded recursion returned {depth}");
        }
        "panic" => panic!("injected panic"),
        _ => crate::kwarn!("unknown fault kind '{kind}' (known: {KINDS:?})"),
    }
}

/// Recursion without end: runs into the guard page below the kernel stack
/// (#PF that cannot be delivered on that stack, hence #DF on the IST stack).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    core::hint::black_box(&frame);
    // The optimizer cannot see that the condition always holds.
    if core::hint::black_box(true) {
        recurse(depth + 1).wrapping_add(core::hint::black_box(frame[7]))
    } else {
        depth
    }
}
