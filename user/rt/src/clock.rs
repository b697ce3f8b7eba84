//! The time-stamp counter, the only clock a Ferrite program has (the ABI has no time call).

/// The TSC. Its rate is the CPU's (or, under QEMU `-icount`, one tick per
/// instruction), unknown to the program: use it for bounds and ratios, not
/// for wall-clock time.
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the time-stamp counter (the kernel leaves
    // CR4.TSD clear, so it is allowed in ring 3). No `nomem`: it acts as a
    // compiler barrier, so timed code stays between two reads.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}
