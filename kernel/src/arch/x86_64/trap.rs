//! Entering and leaving user mode: the saved `UserContext`, SYSCALL/SYSRET, `int 0x80`, and the run loop.
//!
//! The kernel has one stack and runs with interrupts off. `ferrite_enter_user`
//! saves the kernel's callee-saved registers and stack pointer, loads the
//! whole user state from the current `UserContext` and leaves with IRETQ (or
//! SYSRETQ when that restores exactly the same state). Every way back from
//! ring 3 (SYSCALL, `int 0x80`, exceptions, the timer) stores every user
//! register, RFLAGS and the data segment selectors into that same
//! `UserContext` and returns from `ferrite_enter_user` with the trap's code,
//! so the run loop reads like an ordinary function call.
//!
//! The x87/SSE state is saved only when it must be. The kernel is soft-float
//! (it never touches those registers), so after a trap they still hold the
//! state of the thread that trapped: the entry stubs do not save them, the
//! image in the context is marked stale (a tag in the FXSAVE image's
//! software bytes names the entry that left it so), and `save_fpu` (the
//! core's `Platform::save_fpu`, called before it parks a thread) writes it
//! with FXSAVE64 only when the core switches away. Entering ring 3 restores
//! it with FXRSTOR64 only when the registers hold another thread's state.

use core::arch::global_asm;
use core::mem::offset_of;

use kernel::{Next, Trap, UserContext};

use super::boot::{KERNEL_CS, USER_CS, USER_SS};
use super::cpu::{self, wrmsr, MSR_CSTAR, MSR_FMASK, MSR_FS_BASE, MSR_LSTAR, MSR_STAR};
use super::idt::{SYSCALL_VECTOR, TIMER_VECTOR};
use super::pic;
use super::platform::X86Platform;

/// Trap code `ferrite_enter_user` returns for SYSCALL (above every vector).
const TRAP_SYSCALL: u64 = 0x100;
/// First non-canonical address of the lower half: user `rip` must be below it.
const USER_LIMIT: u64 = 0x0000_8000_0000_0000;
/// RFLAGS bits user code may own: CF, PF, AF, ZF, SF, TF, DF, OF, AC, ID
/// (Intel SDM vol. 1 §3.4.3). IOPL, NT, RF, VM, VIF, VIP stay clear.
const USER_RFLAGS_MASK: u64 = 0x0024_0DD5;
/// RFLAGS.IF plus the always-one bit 1.
const RFLAGS_IF_AND_RESERVED: u64 = 0x202;
/// SYSCALL clears TF, IF, DF, AC and NT in RFLAGS (Intel SDM vol. 3 §5.8.8).
const SYSCALL_FMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 14) | (1 << 18);
/// MXCSR offset in the FXSAVE image (Intel SDM vol. 1 §10.5.1, table 10-2).
const FXSAVE_MXCSR: usize = 24;
/// The page-fault vector and its error-code bits U/S and RSVD (Intel SDM vol. 3 §4.7).
const PF_VECTOR: u64 = 14;
const PF_USER: u64 = 1 << 2;
const PF_RSVD: u64 = 1 << 3;

/// The user state of the thread that runs (or last ran) in ring 3.
static mut USER_CTX: UserContext = UserContext::zeroed();
/// The kernel stack pointer saved by `ferrite_enter_user`.
#[no_mangle]
static mut FERRITE_KERNEL_RSP: u64 = 0;
/// The error code of the last exception from user mode.
#[no_mangle]
static mut FERRITE_TRAP_ERROR: u64 = 0;

global_asm!(
    r#"
    /* The general-purpose registers both ways back from ring 3 store, and
       both ways into it load (rcx, r11, rsp and rdi each path does itself:
       SYSCALL and SYSRETQ use rcx/r11 for rip/rflags, rdi holds the context). */
    .macro ferrite_save_user_gprs
    mov %rax, {ctx}+{rax}(%rip)
    mov %rbx, {ctx}+{rbx}(%rip)
    mov %rcx, {ctx}+{rcx}(%rip)
    mov %rdx, {ctx}+{rdx}(%rip)
    mov %rsi, {ctx}+{rsi}(%rip)
    mov %rdi, {ctx}+{rdi}(%rip)
    mov %rbp, {ctx}+{rbp}(%rip)
    mov %r8, {ctx}+{r8}(%rip)
    mov %r9, {ctx}+{r9}(%rip)
    mov %r10, {ctx}+{r10}(%rip)
    mov %r11, {ctx}+{r11}(%rip)
    mov %r12, {ctx}+{r12}(%rip)
    mov %r13, {ctx}+{r13}(%rip)
    mov %r14, {ctx}+{r14}(%rip)
    mov %r15, {ctx}+{r15}(%rip)
    .endm
    /* The data segment selectors (ABI §1: per thread); loaded back by
       cpu::load_user_data_segments before the fs base is written. */
    .macro ferrite_save_user_selectors
    mov %ds, {ctx}+{ds}(%rip)
    mov %es, {ctx}+{es}(%rip)
    mov %fs, {ctx}+{fs}(%rip)
    mov %gs, {ctx}+{gs}(%rip)
    .endm
    .macro ferrite_load_user_gprs_but_rcx_r11_rsp_rdi
    mov {rax}(%rdi), %rax
    mov {rbx}(%rdi), %rbx
    mov {rdx}(%rdi), %rdx
    mov {rsi}(%rdi), %rsi
    mov {rbp}(%rdi), %rbp
    mov {r8}(%rdi), %r8
    mov {r9}(%rdi), %r9
    mov {r10}(%rdi), %r10
    mov {r12}(%rdi), %r12
    mov {r13}(%rdi), %r13
    mov {r14}(%rdi), %r14
    mov {r15}(%rdi), %r15
    .endm

    .text
    /* u64 ferrite_enter_user(UserContext *ctx (rdi), u64 use_sysret (rsi), u64 restore_fpu (rdx)) */
    .global ferrite_enter_user
ferrite_enter_user:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, FERRITE_KERNEL_RSP(%rip)
    test %rdx, %rdx
    jz ferrite_enter_user_fpu_in_place
    fxrstor64 {fpu}(%rdi)
ferrite_enter_user_fpu_in_place:
    test %rsi, %rsi
    jnz ferrite_enter_user_sysret
    /* IRETQ frame (Intel SDM vol. 3 §6.14.3): ss, rsp, rflags, cs, rip. */
    pushq ${user_ss}
    pushq {rsp}(%rdi)
    pushq {rflags}(%rdi)
    pushq ${user_cs}
    pushq {rip}(%rdi)
    ferrite_load_user_gprs_but_rcx_r11_rsp_rdi
    mov {rcx}(%rdi), %rcx
    mov {r11}(%rdi), %r11
    mov {rdi}(%rdi), %rdi
    iretq
ferrite_enter_user_sysret:
    /* SYSRETQ loads RIP from RCX and RFLAGS from R11 (Intel SDM vol. 2 SYSRET);
       the caller checked that those equal the saved rip/rflags and that rip
       is canonical, so no state is lost and SYSRET cannot #GP in ring 0. */
    mov {rip}(%rdi), %rcx
    mov {rflags}(%rdi), %r11
    ferrite_load_user_gprs_but_rcx_r11_rsp_rdi
    mov {rsp}(%rdi), %rsp
    mov {rdi}(%rdi), %rdi
    sysretq

    /* SYSCALL entry (LSTAR). Interrupts are off (FMASK); RCX = user rip,
       R11 = user rflags; the user stack pointer is still in RSP. */
    .global ferrite_syscall_entry
ferrite_syscall_entry:
    mov %rsp, {ctx}+{rsp}(%rip)
    ferrite_save_user_gprs
    mov %rcx, {ctx}+{rip}(%rip)
    mov %r11, {ctx}+{rflags}(%rip)
    ferrite_save_user_selectors
    mov ${trap_syscall}, %eax
    jmp ferrite_resume_kernel

    /* From ferrite_isr_common for a trap in ring 3.
       Stack: vector, error, rip, cs, rflags, rsp, ss (on the TSS.RSP0 stack). */
    .global ferrite_trap_from_user
ferrite_trap_from_user:
    ferrite_save_user_gprs
    mov 16(%rsp), %rax
    mov %rax, {ctx}+{rip}(%rip)
    mov 32(%rsp), %rax
    mov %rax, {ctx}+{rflags}(%rip)
    mov 40(%rsp), %rax
    mov %rax, {ctx}+{rsp}(%rip)
    ferrite_save_user_selectors
    mov 8(%rsp), %rax
    mov %rax, FERRITE_TRAP_ERROR(%rip)
    mov 0(%rsp), %rax

    /* Back into ferrite_enter_user's caller with RAX = trap code. */
ferrite_resume_kernel:
    mov FERRITE_KERNEL_RSP(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
"#,
    ctx = sym USER_CTX,
    user_ss = const USER_SS,
    user_cs = const USER_CS,
    trap_syscall = const TRAP_SYSCALL,
    rax = const offset_of!(UserContext, rax),
    rbx = const offset_of!(UserContext, rbx),
    rcx = const offset_of!(UserContext, rcx),
    rdx = const offset_of!(UserContext, rdx),
    rsi = const offset_of!(UserContext, rsi),
    rdi = const offset_of!(UserContext, rdi),
    rbp = const offset_of!(UserContext, rbp),
    rsp = const offset_of!(UserContext, rsp),
    r8 = const offset_of!(UserContext, r8),
    r9 = const offset_of!(UserContext, r9),
    r10 = const offset_of!(UserContext, r10),
    r11 = const offset_of!(UserContext, r11),
    r12 = const offset_of!(UserContext, r12),
    r13 = const offset_of!(UserContext, r13),
    r14 = const offset_of!(UserContext, r14),
    r15 = const offset_of!(UserContext, r15),
    rip = const offset_of!(UserContext, rip),
    rflags = const offset_of!(UserContext, rflags),
    fpu = const offset_of!(UserContext, fpu),
    ds = const offset_of!(UserContext, ds),
    es = const offset_of!(UserContext, es),
    fs = const offset_of!(UserContext, fs),
    gs = const offset_of!(UserContext, gs),
    options(att_syntax)
);

// FXSAVE64/FXRSTOR64 need a 16-byte aligned image (Intel SDM vol. 2 FXSAVE).
const _: () = assert!(offset_of!(UserContext, fpu).is_multiple_of(16));
const _: () = assert!(core::mem::align_of::<UserContext>() >= 16);

extern "C" {
    fn ferrite_enter_user(ctx: *mut UserContext, use_sysret: u64, restore_fpu: u64) -> u64;
    fn ferrite_syscall_entry();
}

/// Programs the SYSCALL MSRs (Intel SDM vol. 3 §5.8.8). EFER.SCE was set by the boot stub.
pub fn init_syscall() {
    // SYSRET loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8 (both with RPL 3):
    // base 0x10 gives user data 0x18 and user code 0x20. SYSCALL loads CS =
    // STAR[47:32] and SS = STAR[47:32] + 8: kernel code 0x08, data 0x10.
    let star = ((USER_SS - 8 - 3) << 48) | (u64::from(KERNEL_CS) << 32);
    // SAFETY: the entry point is the stub above, in kernel text; the selectors
    // match the GDT in boot.rs; FMASK only clears flags.
    unsafe {
        wrmsr(MSR_STAR, star);
        wrmsr(MSR_LSTAR, ferrite_syscall_entry as *const () as u64);
        wrmsr(MSR_CSTAR, ferrite_syscall_entry as *const () as u64);
        wrmsr(MSR_FMASK, SYSCALL_FMASK);
    }
}

/// The current user context.
///
/// # Safety
///
/// The returned reference must be dropped before user mode is entered again
/// (the entry stubs write the static directly); the kernel is single-threaded
/// with interrupts off, so nothing else touches it meanwhile.
unsafe fn user_ctx() -> &'static mut UserContext {
    let ctx = &raw mut USER_CTX;
    // SAFETY: the caller guarantees no other reference is live.
    unsafe { &mut *ctx }
}

/// Bytes 464..512 of an FXSAVE image are available to software: FXSAVE does
/// not write them and FXRSTOR ignores them (Intel SDM vol. 1 §10.5.1). The
/// first 8 hold the tag of the entry after which this image was left stale.
const FPU_TAG: core::ops::Range<usize> = 464..472;
/// The tag of the image whose thread's state the registers hold (0: none).
static mut FPU_OWNER: u64 = 0;
/// The next tag (never 0, never reused).
static mut FPU_NEXT_TAG: u64 = 1;

fn fpu_tag(ctx: &UserContext) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&ctx.fpu[FPU_TAG]);
    u64::from_le_bytes(bytes)
}

/// Whether the registers hold the x87/SSE state of `ctx`'s thread (its image is stale).
fn fpu_in_registers(ctx: &UserContext) -> bool {
    // SAFETY: read with interrupts off by the only CPU.
    let owner = unsafe { FPU_OWNER };
    owner != 0 && fpu_tag(ctx) == owner
}

/// After a trap: the registers hold `ctx`'s thread's state, its image is stale.
fn fpu_left_in_registers(ctx: &mut UserContext) {
    // SAFETY: touched with interrupts off by the only CPU.
    let tag = unsafe {
        let tag = FPU_NEXT_TAG;
        FPU_NEXT_TAG += 1;
        FPU_OWNER = tag;
        tag
    };
    ctx.fpu[FPU_TAG].copy_from_slice(&tag.to_le_bytes());
}

/// Writes the thread's x87/SSE state into `ctx.fpu` if the registers hold
/// it (`Platform::save_fpu`); the registers keep it too, so if the same
/// thread runs next nothing is restored.
pub fn save_fpu(ctx: &mut UserContext) {
    if fpu_in_registers(ctx) {
        let tag = fpu_tag(ctx);
        cpu::fxsave(&mut ctx.fpu);
        ctx.fpu[FPU_TAG].copy_from_slice(&tag.to_le_bytes());
    }
}

/// A data segment selector user code may hold: null, or the user data or
/// user code segment of the GDT (any RPL); anything else becomes null.
fn user_selector(selector: u16) -> u16 {
    let index = selector >> 3;
    let table_indicator = selector & 4;
    if table_indicator == 0 && matches!(index, 0 | 3 | 4) {
        selector
    } else {
        0
    }
}

/// Makes the context safe to load: user-owned flags only with IF set,
/// a valid MXCSR, a canonical FS base, user selectors.
fn sanitize(ctx: &mut UserContext) {
    ctx.ds = user_selector(ctx.ds);
    ctx.es = user_selector(ctx.es);
    ctx.fs = user_selector(ctx.fs);
    ctx.gs = user_selector(ctx.gs);
    ctx.rflags = (ctx.rflags & USER_RFLAGS_MASK) | RFLAGS_IF_AND_RESERVED;
    // MXCSR bits 16..32 are reserved: FXRSTOR would #GP (Intel SDM vol. 2 FXRSTOR).
    let mxcsr = &mut ctx.fpu[FXSAVE_MXCSR + 2..FXSAVE_MXCSR + 4];
    mxcsr.fill(0);
    if ctx.fs_base >= USER_LIMIT && ctx.fs_base < 0xFFFF_8000_0000_0000 {
        ctx.fs_base = 0;
    }
}

/// Whether a #PF taken in ring 3 is a supervisor-mode access to a user page
/// (U/S clear in the error code, RSVD clear, CR2 in the user half).
///
/// The architecture makes every data access of a CPL-3 instruction a user
/// access, except the implicit supervisor accesses to the GDT, LDT, IDT and
/// TSS (Intel SDM vol. 3 §4.6), which Ferrite keeps in kernel memory: on a
/// CPU such a fault cannot happen. QEMU's TCG (seen with QEMU 7.2) pops the
/// return frame of RETF/IRETQ and pushes that of a far CALL with
/// supervisor-mode accesses, so under SMAP a far return from ring 3 faults on
/// its own (present, readable) user stack before the selector checks
/// (RET/IRET pseudo-code: return CS RPL < CPL gives #GP(selector)) run.
/// Reported as is, mm finds the page mapped, "resolves" the fault, and the
/// thread retries the same instruction forever.
fn supervisor_access_to_user_page(vector: u64, error_code: u64, cr2: u64) -> bool {
    vector == PF_VECTOR && error_code & (PF_USER | PF_RSVD) == 0 && cr2 < USER_LIMIT
}

/// Runs the current user context until it traps; returns why, and whether
/// the next run in ring 3 must have SMAP off (see
/// [`supervisor_access_to_user_page`]).
///
/// With `relax_smap` the thread runs with CR4.SMAP clear: SMAP only governs
/// supervisor-mode accesses, which ring-3 code makes only through the
/// emulator quirk above, and the bit is set again as soon as the trap
/// returns here, before any kernel code but the entry stubs (which touch
/// kernel memory only) runs. The emulated far return then completes or
/// takes the architectural #GP.
fn run_user(relax_smap: bool) -> (Trap, bool) {
    let ctx_ptr = &raw mut USER_CTX;
    let (use_sysret, restore_fpu) = {
        // SAFETY: no other reference to the context is live here.
        let ctx = unsafe { user_ctx() };
        sanitize(ctx);
        if ctx.rip >= USER_LIMIT {
            // IRETQ to a non-canonical rip would fault in ring 0; treat it as
            // the #GP the user program would have taken.
            let gp = Trap::Exception {
                vector: 13,
                error_code: 0,
                fault_addr: 0,
            };
            return (gp, false);
        }
        // The selectors first: loading fs resets the fs base, written next.
        cpu::load_user_data_segments(ctx.ds, ctx.es, ctx.fs, ctx.gs);
        // SAFETY: fs_base is canonical (sanitized above).
        unsafe { wrmsr(MSR_FS_BASE, ctx.fs_base) };
        (
            ctx.rcx == ctx.rip && ctx.r11 == ctx.rflags,
            !fpu_in_registers(ctx),
        )
    };
    let smap = cpu::smap_enabled();
    let relax_smap = relax_smap && smap;
    if relax_smap {
        // SAFETY: cleared only for this run in ring 3; set again below right
        // after the trap returns, before the kernel does anything else.
        unsafe { cpu::set_smap(false) };
    }
    // SAFETY: the context was sanitized (flags, MXCSR, canonical rip and fs
    // base), the kernel stack pointer is saved by the stub, and every trap
    // from ring 3 returns here through ferrite_resume_kernel.
    let code =
        unsafe { ferrite_enter_user(ctx_ptr, u64::from(use_sysret), u64::from(restore_fpu)) };
    if relax_smap {
        // SAFETY: SMAP was on before this run (checked above), so the CPU has it.
        unsafe { cpu::set_smap(true) };
    }
    // SAFETY: no other reference to the context is live here.
    let ctx = unsafe { user_ctx() };
    ctx.fs_base = cpu::rdmsr(MSR_FS_BASE);
    fpu_left_in_registers(ctx);
    let trap = match code {
        TRAP_SYSCALL => Trap::Syscall {
            via_interrupt: false,
        },
        c if c == u64::from(SYSCALL_VECTOR) => Trap::Syscall {
            via_interrupt: true,
        },
        c if c == u64::from(TIMER_VECTOR) => {
            pic::end_of_interrupt();
            Trap::Timer
        }
        vector => {
            // SAFETY: written by the entry stub before it returned; read with interrupts off.
            let mut error_code = unsafe { FERRITE_TRAP_ERROR };
            let fault_addr = if vector == PF_VECTOR {
                cpu::read_cr2()
            } else {
                0
            };
            if supervisor_access_to_user_page(vector, error_code, fault_addr) {
                // The access the instruction makes architecturally is a
                // user access: report that, let the core resolve (demand
                // paging, copy-on-write) or refuse it, and retry without SMAP.
                error_code |= PF_USER;
                return (
                    Trap::Exception {
                        vector: vector as u8,
                        error_code,
                        fault_addr,
                    },
                    smap,
                );
            }
            Trap::Exception {
                vector: vector as u8,
                error_code,
                fault_addr,
            }
        }
    };
    (trap, false)
}

/// Waits with interrupts on until the next interrupt (Intel SDM vol. 2 STI:
/// the instruction after STI runs before any interrupt, so none is missed).
fn idle_wait() {
    // SAFETY: the only interrupt enabled is the timer, whose ring-0 path only
    // acknowledges the PIC and saves/restores the one register it uses.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// What happened since the core last returned.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// A trap from the user thread that ran.
    Trap(Trap),
    /// An interrupt arrived while idle.
    IdleTick,
}

/// The kernel's main loop: runs user mode or idles as the core says, and hands
/// every event with the current context to `core`.
pub fn run(
    plat: &mut X86Platform,
    first: Next,
    mut core: impl FnMut(Event, &mut UserContext, &mut X86Platform) -> Next,
) -> ! {
    let mut next = first;
    let mut relax_smap = false;
    loop {
        let event = match next {
            Next::RunUser => {
                let (trap, relax) = run_user(relax_smap);
                relax_smap = relax;
                Event::Trap(trap)
            }
            Next::Idle => {
                idle_wait();
                Event::IdleTick
            }
        };
        // SAFETY: the reference lives only for this call; user mode is not entered meanwhile.
        let ctx = unsafe { user_ctx() };
        next = core(event, ctx, plat);
    }
}

/// Gives the core a place to put the first thread's context before `run`.
pub fn with_user_context<R>(f: impl FnOnce(&mut UserContext) -> R) -> R {
    // SAFETY: the reference lives only for this call; user mode is not entered meanwhile.
    f(unsafe { user_ctx() })
}
