//! Bringing up the application processors: the real-mode trampoline, INIT/SIPI, and each AP's start in Rust.
//!
//! The trampoline is copied to physical `TRAMPOLINE` (below 1 MiB, as a
//! STARTUP IPI needs) and goes straight from real mode to long mode: it
//! loads its own small GDT, sets PAE/PGE/OSFXSR, loads a CR3 of low page
//! tables (an identity map of the first 2 MiB plus the kernel half), sets
//! EFER.LME/NXE/SCE, turns on PE and PG together, and far-jumps to 64-bit
//! code that takes its stack, argument and entry point from the data words
//! at its end. The APs start one at a time; each runs `ap_entry`, which
//! loads its own GDT/TSS, the IDT and the kernel's root, installs its
//! `PerCpu`, enables its local APIC, says it is online and waits for the
//! boot CPU to publish the kernel core.

use alloc::boxed::Box;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::madt::Madt;

use super::apic;
use super::cpu;
use super::cputables::CpuTables;
use super::idt;
use super::paging::phys_to_virt;
use super::percpu::{self, PerCpu, MAX_CPUS};
use super::ranges::Ranges;
use super::trap;

/// Physical page of the trampoline (STARTUP IPI vector = page number).
const TRAMPOLINE: u64 = 0x8000;
/// Physical pages of the trampoline's page tables: PML4, PDPT, PD.
const TRAMPOLINE_TABLES: [u64; 3] = [0x5000, 0x6000, 0x7000];
/// The low memory `start_aps` overwrites (tables and trampoline page):
/// nothing still in use may lie there (a boot module a UEFI GRUB loaded low).
pub const LOW_MEMORY_USED: (u64, u64) = (0x5000, TRAMPOLINE + 0x1000);
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

global_asm!(
    r#"
    .section .rodata.trampoline, "a"
    .global ferrite_trampoline_start
    .global ferrite_trampoline_end
    .set TR_BASE, {base}
    .code16
ferrite_trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl TR_BASE + (ferrite_trampoline_gdt_ptr - ferrite_trampoline_start)
    /* CR4: PAE, PGE, OSFXSR, OSXMMEXCPT. */
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    movl TR_BASE + (ferrite_trampoline_cr3 - ferrite_trampoline_start), %eax
    mov %eax, %cr3
    /* EFER: SCE, LME, NXE. */
    mov $0xC0000080, %ecx
    rdmsr
    or $((1 << 0) | (1 << 8) | (1 << 11)), %eax
    wrmsr
    /* CR0: PE, MP, NE, WP, PG; EM and TS clear. */
    mov %cr0, %eax
    and $0xFFFFFFF3, %eax
    or $0x80010023, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(TR_BASE + (ferrite_trampoline_long - ferrite_trampoline_start))
    .code64
ferrite_trampoline_long:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov TR_BASE + (ferrite_trampoline_stack - ferrite_trampoline_start), %rsp
    mov TR_BASE + (ferrite_trampoline_arg - ferrite_trampoline_start), %rdi
    mov TR_BASE + (ferrite_trampoline_entry - ferrite_trampoline_start), %rax
    xor %ebp, %ebp
    jmp *%rax
    .p2align 3
ferrite_trampoline_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
ferrite_trampoline_gdt_ptr:
    .word 3 * 8 - 1
    .long TR_BASE + (ferrite_trampoline_gdt - ferrite_trampoline_start)
    .p2align 3
ferrite_trampoline_cr3:
    .quad 0
ferrite_trampoline_stack:
    .quad 0
ferrite_trampoline_arg:
    .quad 0
ferrite_trampoline_entry:
    .quad 0
ferrite_trampoline_end:
    .text
"#,
    base = const TRAMPOLINE,
    options(att_syntax)
);

extern "C" {
    static ferrite_trampoline_start: u8;
    static ferrite_trampoline_end: u8;
}

/// The data words at the end of the trampoline: cr3, stack, arg, entry.
const DATA_WORDS: u64 = 4;

/// What an AP needs from the boot CPU.
struct ApStart {
    data: &'static mut PerCpu,
    tables: &'static mut CpuTables,
    kernel_root: u64,
}

/// The trampoline's bytes in the kernel image.
fn trampoline_code() -> &'static [u8] {
    // SAFETY: both symbols delimit the trampoline in .rodata; only their
    // addresses are used, and the bytes between are read-only code and data.
    unsafe {
        let start = &raw const ferrite_trampoline_start;
        let end = &raw const ferrite_trampoline_end;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// Writes the trampoline and its page tables into low memory.
fn install_trampoline(kernel_half: &[u64; 256]) {
    let code = trampoline_code();
    assert!(code.len() <= 4096, "trampoline larger than a page");
    let [pml4, pdpt, pd] = TRAMPOLINE_TABLES;
    // SAFETY: these low pages are never given to `mm` (below 1 MiB) and hold
    // nothing the kernel still needs once boot information was copied; they
    // are RAM, reached through the direct map.
    unsafe {
        core::ptr::copy_nonoverlapping(
            code.as_ptr(),
            phys_to_virt(TRAMPOLINE) as *mut u8,
            code.len(),
        );
        for table in TRAMPOLINE_TABLES {
            core::ptr::write_bytes(phys_to_virt(table) as *mut u8, 0, 4096);
        }
        let pml4_entries = phys_to_virt(pml4) as *mut u64;
        *pml4_entries = pdpt | 0x3;
        for (i, &e) in kernel_half.iter().enumerate() {
            *pml4_entries.add(256 + i) = e;
        }
        *(phys_to_virt(pdpt) as *mut u64) = pd | 0x3;
        // One 2 MiB page: present, writable, PS.
        *(phys_to_virt(pd) as *mut u64) = 0x83;
    }
}

/// Fills the trampoline's data words for one AP.
fn set_trampoline_data(stack_top: u64, arg: u64) {
    let len = trampoline_code().len() as u64;
    let words = phys_to_virt(TRAMPOLINE + len - DATA_WORDS * 8) as *mut u64;
    let values = [
        TRAMPOLINE_TABLES[0],
        stack_top,
        arg,
        ap_entry as *const () as u64,
    ];
    for (i, v) in values.iter().enumerate() {
        // SAFETY: the data words lie inside the trampoline page written above.
        unsafe { core::ptr::write_volatile(words.add(i), *v) };
    }
}

/// Starts every enabled CPU of the MADT but this one, one at a time.
/// `stacks` is physical memory of `AP_STACK_BYTES` per AP. Returns how many
/// CPUs run (this one included).
pub fn start_aps(madt: &Madt, stacks: u64, kernel_root: u64, kernel_half: &[u64; 256]) -> usize {
    let me = apic::id();
    install_trampoline(kernel_half);
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
        set_trampoline_data(kernel_top, start as *mut ApStart as u64);
        apic::start_cpu(apic_id, (TRAMPOLINE >> 12) as u8);
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
