//! Ferrite kernel image entry: boot information → memory core → kernel core → run loop.
//!
//! The arch layer (`arch/`) sets the machine up and calls [`kernel_main`];
//! everything here is safe code over the kernel library's contract
//! (`doc/internals.md`, "kernel (lib) ↔ arch").
#![no_std]
#![no_main]

extern crate alloc;

mod arch;

use arch::{BootInfo, DirectMap, Event, X86Platform};
use kernel::address_map::AddressMap;
use kernel::{Kernel, Next};

/// `JINUE_AT_HOWSYSCALL` value: the kernel recommends the `syscall` instruction (ABI §1).
const HOW_SYSCALL_INSTRUCTION: u64 = 1;

/// Called by the arch layer once the machine is set up (page tables, heap, IDT, timer).
fn kernel_main(boot: BootInfo) -> ! {
    let free_bytes: u64 = boot.free_ranges.iter().map(|&(s, e)| e - s).sum();
    kinfo!(
        "{} MiB RAM: {} MiB for user memory and page tables, {} MiB kernel heap, at most {} regions and {} memory objects; {} boot module(s)",
        boot.ram_bytes >> 20,
        free_bytes >> 20,
        boot.heap_bytes >> 20,
        boot.region_limit,
        boot.object_limit,
        boot.modules.len()
    );
    kdebug!("kernel command line: '{}'", boot.cmdline);
    kdebug!("firmware RAM ranges: {:x?}", boot.ram_ranges);
    let mut plat = X86Platform::new(boot.kernel_space.root);
    let mut memory = mm::Memory::new(
        DirectMap::new(
            boot.kernel_space.direct_map_end,
            boot.ram_ranges.clone(),
            boot.kernel_space.scratch_pte,
        ),
        &boot.free_ranges,
        &boot.kernel_space.kernel_half,
    );
    // Region and object bookkeeping lives on the heap: cap it at what the
    // heap was planned for (arch/x86_64/heap.rs), so no user program can
    // exhaust the heap into a panic.
    memory.set_region_limit(boot.region_limit);
    memory.set_object_limit(boot.object_limit);
    let mut kernel = Kernel::new(memory, &mut plat);
    kernel.set_address_map(boot.address_map);

    let Some(init) = boot.modules.first() else {
        panic!("no boot module: the first module must be the init program (QEMU -initrd)");
    };
    kinfo!("init: '{}' ({} bytes)", init.cmdline, init.bytes.len());
    let first = match kernel.start_init(
        init.bytes,
        &init.cmdline,
        HOW_SYSCALL_INSTRUCTION,
        &mut plat,
    ) {
        Ok(next) => next,
        Err(e) => panic!("cannot start the init program '{}': {e:?}", init.cmdline),
    };
    if first == Next::RunUser {
        arch::with_user_context(|ctx| kernel.load_current_context(ctx));
    }
    arch::run(
        &mut plat,
        first,
        |event, ctx, plat: &mut X86Platform| match event {
            Event::Trap(trap) => kernel.handle_trap(ctx, trap, plat),
            Event::IdleTick => kernel.idle_tick(ctx, plat),
        },
    )
}
