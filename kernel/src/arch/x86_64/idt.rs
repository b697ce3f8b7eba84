//! The IDT and the interrupt/exception entry stubs; kernel-mode faults end in `KERNEL PANIC`.
//!
//! Every vector stub pushes a uniform frame (vector, error code or 0, then the
//! CPU's frame; Intel SDM vol. 3 §6.12.1, §6.14.2). A trap from ring 3 saves
//! the user state into the current `UserContext` and resumes the kernel's run
//! loop (`trap.rs`) after `swapgs` (`percpu.rs`); a trap from ring 0 is a
//! kernel bug except the local APIC's interrupts while idle, which only
//! acknowledge the APIC. The I/O APIC delivery check's vector
//! (`irqcheck.rs`) is counted and acknowledged the same way from either ring.

use core::arch::{asm, global_asm};
use core::fmt::Write;

use super::apic::{self, KICK_VECTOR, LAPIC_PHYS, SPURIOUS_VECTOR, TIMER_VECTOR};
use super::boot::KERNEL_CS;
use super::cpu;
use super::irqcheck::{CHECK_INTERRUPTS, CHECK_VECTOR};
use super::paging::DIRECT_MAP_BASE;
use super::serial::Serial;

/// First vector of the remapped (and fully masked) PICs.
pub const IRQ_BASE: u8 = 0x20;
/// The software-interrupt system-call vector (DPL 3 gate).
pub const SYSCALL_VECTOR: u8 = 0x80;
/// Vectors with an IST stack (NMI, #DF, #MC): they must work on a broken stack.
const IST_VECTORS: [u8; 3] = [2, 8, 18];

global_asm!(
    r#"
    .macro FERRITE_ISR_NOERR n
    .global ferrite_isr_\n
ferrite_isr_\n:
    pushq $0
    pushq $\n
    jmp ferrite_isr_common
    .endm

    .macro FERRITE_ISR_ERR n
    .global ferrite_isr_\n
ferrite_isr_\n:
    pushq $\n
    jmp ferrite_isr_common
    .endm

    .text
    /* Exceptions with an error code: 8, 10-14, 17, 21, 29, 30 (Intel SDM vol. 3 table 6-1). */
    FERRITE_ISR_NOERR 0
    FERRITE_ISR_NOERR 1
    FERRITE_ISR_NOERR 2
    FERRITE_ISR_NOERR 3
    FERRITE_ISR_NOERR 4
    FERRITE_ISR_NOERR 5
    FERRITE_ISR_NOERR 6
    FERRITE_ISR_NOERR 7
    FERRITE_ISR_ERR 8
    FERRITE_ISR_NOERR 9
    FERRITE_ISR_ERR 10
    FERRITE_ISR_ERR 11
    FERRITE_ISR_ERR 12
    FERRITE_ISR_ERR 13
    FERRITE_ISR_ERR 14
    FERRITE_ISR_NOERR 15
    FERRITE_ISR_NOERR 16
    FERRITE_ISR_ERR 17
    FERRITE_ISR_NOERR 18
    FERRITE_ISR_NOERR 19
    FERRITE_ISR_NOERR 20
    FERRITE_ISR_ERR 21
    FERRITE_ISR_NOERR 22
    FERRITE_ISR_NOERR 23
    FERRITE_ISR_NOERR 24
    FERRITE_ISR_NOERR 25
    FERRITE_ISR_NOERR 26
    FERRITE_ISR_NOERR 27
    FERRITE_ISR_NOERR 28
    FERRITE_ISR_ERR 29
    FERRITE_ISR_ERR 30
    FERRITE_ISR_NOERR 31
    FERRITE_ISR_NOERR 128

    /* Local APIC interrupts (timer, kick). While idle (ring 0, inside
       `sti; hlt`) they only write the APIC's EOI register and return,
       touching nothing but RAX. From ring 3 they trap like an exception. */
    .macro FERRITE_ISR_APIC name, vector
    .global ferrite_isr_\name
ferrite_isr_\name:
    testb $3, 8(%rsp)
    jnz 1f
    push %rax
    movabs ${eoi}, %rax
    movl $0, (%rax)
    pop %rax
    iretq
1:
    pushq $0
    pushq $\vector
    jmp ferrite_isr_common
    .endm
    FERRITE_ISR_APIC timer, {timer}
    FERRITE_ISR_APIC kick, {kick}

    /* The device interrupt of the I/O APIC delivery check (irqcheck.rs):
       counted and acknowledged at the local APIC, from ring 0 or ring 3
       alike (a late one may come after the line is masked), touching
       nothing but RAX, the count and the EOI register; no swapgs. */
    .global ferrite_isr_device_check
ferrite_isr_device_check:
    push %rax
    lock incq {check_count}(%rip)
    movabs ${eoi}, %rax
    movl $0, (%rax)
    pop %rax
    iretq

    /* The local APIC's spurious vector: no EOI (Intel SDM vol. 3 §11.9). */
    .global ferrite_isr_apic_spurious
ferrite_isr_apic_spurious:
    iretq

    /* Spurious IRQ 7 / IRQ 15 of the 8259 (no EOI for the spurious line itself;
       the master still needs one for a spurious slave IRQ). */
    .global ferrite_isr_spurious_master
ferrite_isr_spurious_master:
    iretq
    .global ferrite_isr_spurious_slave
ferrite_isr_spurious_slave:
    push %rax
    mov $0x20, %al
    outb %al, $0x20
    pop %rax
    iretq

    /* Stack: vector, error, rip, cs, rflags, rsp, ss. */
ferrite_isr_common:
    /* RFLAGS = 2: DF clear for Rust code, AC clear so SMAP stays in force,
       TF clear; IF is already clear (interrupt gate). */
    pushq $2
    popfq
    testb $3, 24(%rsp)
    jnz ferrite_isr_from_user
    /* Ring 0: save every register below the frame and report. */
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    call {kernel_fault}
    ud2
ferrite_isr_from_user:
    swapgs
    jmp ferrite_trap_from_user
"#,
    timer = const TIMER_VECTOR,
    kick = const KICK_VECTOR,
    eoi = const DIRECT_MAP_BASE + LAPIC_PHYS + apic::REG_EOI,
    check_count = sym CHECK_INTERRUPTS,
    kernel_fault = sym kernel_fault,
    options(att_syntax)
);

extern "C" {
    fn ferrite_isr_0();
    fn ferrite_isr_1();
    fn ferrite_isr_2();
    fn ferrite_isr_3();
    fn ferrite_isr_4();
    fn ferrite_isr_5();
    fn ferrite_isr_6();
    fn ferrite_isr_7();
    fn ferrite_isr_8();
    fn ferrite_isr_9();
    fn ferrite_isr_10();
    fn ferrite_isr_11();
    fn ferrite_isr_12();
    fn ferrite_isr_13();
    fn ferrite_isr_14();
    fn ferrite_isr_15();
    fn ferrite_isr_16();
    fn ferrite_isr_17();
    fn ferrite_isr_18();
    fn ferrite_isr_19();
    fn ferrite_isr_20();
    fn ferrite_isr_21();
    fn ferrite_isr_22();
    fn ferrite_isr_23();
    fn ferrite_isr_24();
    fn ferrite_isr_25();
    fn ferrite_isr_26();
    fn ferrite_isr_27();
    fn ferrite_isr_28();
    fn ferrite_isr_29();
    fn ferrite_isr_30();
    fn ferrite_isr_31();
    fn ferrite_isr_128();
    fn ferrite_isr_timer();
    fn ferrite_isr_kick();
    fn ferrite_isr_apic_spurious();
    fn ferrite_isr_device_check();
    fn ferrite_isr_spurious_master();
    fn ferrite_isr_spurious_slave();
}

/// The registers a ring-0 trap pushed, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct KernelFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// Mnemonic of an exception vector (Intel SDM vol. 3 table 6-1).
pub fn exception_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor segment overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved",
        "#MF x87 error",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD exception",
        "#VE virtualization",
        "#CP control protection",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "reserved",
        "#HV hypervisor injection",
        "#VC VMM communication",
        "#SX security",
        "reserved",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("interrupt")
}

/// A trap in ring 0: prints one `KERNEL PANIC` line with every register, powers off with 255.
extern "C" fn kernel_fault(f: &KernelFrame) -> ! {
    let cr2 = cpu::read_cr2();
    let cr3 = cpu::read_cr3();
    let _ = writeln!(
        Serial,
        "KERNEL PANIC: {} (vector {}) in kernel mode: error={:#x} rip={:#x} cs={:#x} rflags={:#x} rsp={:#x} ss={:#x} \
         cr2={:#x} cr3={:#x} rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x} \
         r8={:#x} r9={:#x} r10={:#x} r11={:#x} r12={:#x} r13={:#x} r14={:#x} r15={:#x}",
        exception_name(f.vector),
        f.vector,
        f.error,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        cr2,
        cr3,
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8,
        f.r9,
        f.r10,
        f.r11,
        f.r12,
        f.r13,
        f.r14,
        f.r15
    );
    super::power::power_off(255)
}

/// 256 gate descriptors of 16 bytes (Intel SDM vol. 3 §6.14.1).
#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);

static mut IDT: Idt = Idt([[0; 2]; 256]);

/// Interrupt gate (type 0xE): IF is cleared on entry, so the kernel runs with interrupts off.
fn gate(handler: unsafe extern "C" fn(), dpl: u64, ist: u64) -> [u64; 2] {
    let offset = handler as *const () as u64;
    let low = (offset & 0xFFFF)
        | (u64::from(KERNEL_CS) << 16)
        | (ist << 32)
        | ((0x8E | (dpl << 5)) << 40)
        | (((offset >> 16) & 0xFFFF) << 48);
    [low, offset >> 32]
}

/// Fills and loads the IDT.
pub fn init() {
    let exceptions: [unsafe extern "C" fn(); 32] = [
        ferrite_isr_0,
        ferrite_isr_1,
        ferrite_isr_2,
        ferrite_isr_3,
        ferrite_isr_4,
        ferrite_isr_5,
        ferrite_isr_6,
        ferrite_isr_7,
        ferrite_isr_8,
        ferrite_isr_9,
        ferrite_isr_10,
        ferrite_isr_11,
        ferrite_isr_12,
        ferrite_isr_13,
        ferrite_isr_14,
        ferrite_isr_15,
        ferrite_isr_16,
        ferrite_isr_17,
        ferrite_isr_18,
        ferrite_isr_19,
        ferrite_isr_20,
        ferrite_isr_21,
        ferrite_isr_22,
        ferrite_isr_23,
        ferrite_isr_24,
        ferrite_isr_25,
        ferrite_isr_26,
        ferrite_isr_27,
        ferrite_isr_28,
        ferrite_isr_29,
        ferrite_isr_30,
        ferrite_isr_31,
    ];
    let mut table = [[0u64; 2]; 256];
    for (vector, &handler) in exceptions.iter().enumerate() {
        let ist = u64::from(IST_VECTORS.contains(&(vector as u8)));
        table[vector] = gate(handler, 0, ist);
    }
    table[usize::from(TIMER_VECTOR)] = gate(ferrite_isr_timer, 0, 0);
    table[usize::from(KICK_VECTOR)] = gate(ferrite_isr_kick, 0, 0);
    table[usize::from(CHECK_VECTOR)] = gate(ferrite_isr_device_check, 0, 0);
    table[usize::from(SPURIOUS_VECTOR)] = gate(ferrite_isr_apic_spurious, 0, 0);
    table[usize::from(IRQ_BASE) + 7] = gate(ferrite_isr_spurious_master, 0, 0);
    table[usize::from(IRQ_BASE) + 15] = gate(ferrite_isr_spurious_slave, 0, 0);
    table[usize::from(SYSCALL_VECTOR)] = gate(ferrite_isr_128, 3, 0);
    // SAFETY: runs once at boot with interrupts off, before any other CPU
    // runs; nothing else references the IDT yet.
    unsafe {
        let idt = &raw mut IDT;
        (*idt).0 = table;
    }
    load();
}

/// Loads the (shared, filled) IDT on this CPU.
pub fn load() {
    let limit = (core::mem::size_of::<Idt>() - 1) as u16;
    // SAFETY: the IDT is filled once by `init` before any CPU loads it and
    // lives for the whole kernel lifetime as the CPU requires.
    unsafe {
        let idt = &raw const IDT;
        let base = idt as u64;
        let descriptor: [u16; 5] = [
            limit,
            base as u16,
            (base >> 16) as u16,
            (base >> 32) as u16,
            (base >> 48) as u16,
        ];
        asm!("lidt [{}]", in(reg) &descriptor, options(readonly, nostack, preserves_flags));
    }
}

/// Loads an empty IDT and raises an exception: the CPU shuts down (triple fault) and resets.
pub fn triple_fault() -> ! {
    let descriptor: [u16; 5] = [0; 5];
    // SAFETY: deliberately resets the machine; nothing runs afterwards.
    unsafe { asm!("lidt [{}]", "int3", in(reg) &descriptor, options(nostack)) };
    cpu::halt_forever()
}
