//! Ferrite kernel image entry: boot information → memory core → kernel core → run loop.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;

/// Called by the arch layer once the machine is set up (page tables, heap, IDT, timer).
fn kernel_main(boot: arch::BootInfo) -> ! {
    kinfo!(
        "boot: {} MiB RAM, {} MiB heap, {} free ranges ({} MiB), {} modules, cmdline '{}'",
        boot.ram_bytes >> 20,
        boot.heap_bytes >> 20,
        boot.free_ranges.len(),
        boot.free_ranges.iter().map(|&(s, e)| e - s).sum::<u64>() >> 20,
        boot.modules.len(),
        boot.cmdline
    );
    for m in &boot.modules {
        kinfo!("module: {} bytes, cmdline '{}'", m.bytes.len(), m.cmdline);
    }
    arch::power_off(0)
}
