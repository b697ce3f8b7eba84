//! Bringing up the application processors: the real-mode trampoline, INIT/SIPI, and each AP's start in Rust.
//!
//! The trampoline (`trampoline.rs`) goes to four free low pages chosen at
//! boot. The APs start one at a time; each runs `ap_entry`, which
//! loads its own GDT/TSS, the IDT and the kernel's root, installs its
//! `PerCpu`, enables its local APIC, says it is online and waits for the
//! boot CPU to publish the kernel core.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::madt::Madt;

use super::apic;
use super::cpu;
use super::cputables::CpuTables;
use super::idt;
use super::paging::phys_to_virt;
use super::percpu::{self, PerCpu, MAX_CPUS};
use super::ranges::Ranges;
use super::trampoline::Trampoline;
use super::trap;

/// Each AP's kernel stack, entry stack (TSS.RSP0) and IST stack.
const KERNEL_STACK: u64 = 256 << 10;
const ENTRY_STACK: u64 = 16 << 10;
const IST_STACK: u64 = 16 << 10;
/// Memory reserved per AP for its stacks.
pub const AP_STACK_BYTES: u64 = KERNEL_STACK + ENTRY_STACK + IST_STACK;
/// How long an AP gets to say it is online.
const START_TIMEOUT_US: u64 = 200_000;

/// Set by the boot CPU once the kernel core is published: APs may run it.
static RELEASED: AtomicBool = AtomicBool::new(false);

/// What an AP needs from the boot CPU.
struct ApStart {
    data: &'static mut PerCpu,
    tables: &'static mut CpuTables,
    kernel_root: u64,
}

/// Starts every enabled CPU of the MADT but this one, one at a time.
/// `stacks` is physical memory of `AP_STACK_BYTES` per AP; `trampoline`
/// the low pages the APs start in. Returns how many CPUs run (this one
/// included).
pub fn start_aps(
    madt: &Madt,
    trampoline: &Trampoline,
    stacks: u64,
    kernel_root: u64,
    kernel_half: &[u64; 256],
) -> usize {
    let me = apic::id();
    trampoline.install(kernel_half);
    let mut index = 1;
    let mut stack = phys_to_virt(stacks);
    for &apic_id in madt.apic_ids[..madt.cpus].iter().filter(|&&id| id != me) {
        if index >= MAX_CPUS {
            break;
        }
        let kernel_top = stack + KERNEL_STACK;
        let entry_top = kernel_top + ENTRY_STACK;
        let ist_top = entry_top + IST_STACK;
        let start = Box::leak(Box::new(ApStart {
            data: Box::leak(Box::new(PerCpu::new(index, apic_id))),
            tables: Box::leak(Box::new(CpuTables::new(entry_top, ist_top))),
            kernel_root,
        }));
        let online = &raw const start.data.online;
        trampoline.set_data(
            kernel_top,
            start as *mut ApStart as u64,
            ap_entry as *const () as u64,
        );
        apic::start_cpu(apic_id, trampoline.vector());
        let mut waited = 0;
        // SAFETY: `online` points into a leaked PerCpu; it is only read here.
        while !unsafe { (*online).load(Ordering::Acquire) } && waited < START_TIMEOUT_US {
            apic::delay_us(10);
            waited += 10;
        }
        // SAFETY: as above.
        if unsafe { (*online).load(Ordering::Acquire) } {
            index += 1;
            stack = ist_top;
        } else {
            crate::kwarn!("CPU with APIC ID {apic_id} did not start; going on without it");
        }
    }
    index
}

/// Lets the APs run the kernel (the core was published).
pub fn release_aps() {
    RELEASED.store(true, Ordering::Release);
}

/// Kicks up to `ready` idle CPUs (not this one) so they pick up ready
/// threads now rather than at their next tick (kernel lock held).
pub fn wake_idle(ready: usize) {
    if ready == 0 {
        return;
    }
    let me = percpu::this().index;
    let idle = percpu::all().filter(|c| c.index != me && c.idle.load(Ordering::SeqCst));
    for c in idle.take(ready) {
        c.idle.store(false, Ordering::SeqCst);
        apic::kick(c.apic_id);
    }
}

/// Memory to reserve for the APs' stacks.
pub fn stack_bytes(cpus: usize) -> u64 {
    (cpus.clamp(1, MAX_CPUS) as u64 - 1) * AP_STACK_BYTES
}

/// Takes the APs' stacks out of the free ranges.
pub fn reserve_stacks(free: &mut Ranges, cpus: usize) -> u64 {
    let bytes = stack_bytes(cpus);
    if bytes == 0 {
        return 0;
    }
    free.take_from_largest(bytes)
        .expect("not enough memory for the other CPUs' stacks")
}

/// An AP's first Rust code, on its kernel stack, with the trampoline's GDT and page tables.
extern "C" fn ap_entry(start: &'static mut ApStart) -> ! {
    start.tables.load();
    idt::load();
    // SAFETY: the kernel root maps the kernel half (this code, stack, data)
    // like the trampoline's tables, and the new GDT lives in the kernel half.
    unsafe { cpu::write_cr3(start.kernel_root) };
    let data: &'static mut PerCpu = start.data;
    let online = &raw const data.online;
    percpu::install(data);
    cpu::enable_smep_smap();
    trap::init_syscall();
    apic::enable();
    // SAFETY: `online` points into this CPU's leaked PerCpu.
    unsafe { (*online).store(true, Ordering::Release) };
    while !RELEASED.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    crate::ap_main()
}
