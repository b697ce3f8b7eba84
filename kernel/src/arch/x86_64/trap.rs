//! Entering and leaving user mode: the saved `UserContext`, SYSCALL/SYSRET, `int 0x80`, and the run loop.
//!
//! Each CPU has one kernel stack and runs the kernel with interrupts off.
//! `ferrite_enter_user` saves the kernel's callee-saved registers and stack
//! pointer in the CPU's `PerCpu` (through `gs`), loads the whole user state
//! from the CPU's `UserContext` and leaves with IRETQ (or SYSRETQ when that
//! restores exactly the same state). Every way back from ring 3 (SYSCALL,
//! `int 0x80`, exceptions, the APIC timer and kick) starts with `swapgs`,
//! stores every user register, the selectors and RFLAGS into that same
//! `UserContext` and returns from `ferrite_enter_user` with the trap's code,
//! so the run loop reads like an ordinary function call. The x87/SSE state
//! is left in the registers (the kernel is soft-float): no FXSAVE64 on
//! entry, and FXRSTOR64 on the way out only when the registers do not hold
//! the state of the thread about to run (`fpu.rs`).
//! The run loop takes the kernel lock around every call into the core
//! (`doc/smp.md`).

use core::arch::global_asm;
use core::mem::offset_of;

use core::sync::atomic::Ordering;

use kernel::{Next, Trap, UserContext};

use super::apic::{self, KICK_VECTOR, TIMER_VECTOR};
use super::boot::{KERNEL_CS, USER_CS, USER_SS};
use super::cpu::{self, wrmsr, MSR_CSTAR, MSR_FMASK, MSR_FS_BASE, MSR_LSTAR, MSR_STAR};
use super::idt::SYSCALL_VECTOR;
use super::lock::BigLock;
use super::percpu::{self, PerCpu, OFF_CTX, OFF_FPU_LIVE, OFF_KERNEL_RSP, OFF_TRAP_ERROR};
use super::platform::X86Platform;
use super::shootdown;

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

global_asm!(
    r#"
    /* The general-purpose registers both ways into ring 3 load (rcx, r11,
       rsp and rdi each path does itself: SYSRETQ uses rcx/r11 for
       rip/rflags, rdi holds the context). Both ways back share one save
       path, ferrite_save_user. */
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
    /* u64 ferrite_enter_user(UserContext *ctx (rdi), u64 use_sysret (rsi),
       u64 load_segments (rdx)); kernel GS.base on entry; leaves with the
       user's (swapgs). */
    .global ferrite_enter_user
ferrite_enter_user:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %gs:{krsp}
    /* The x87/SSE image only if this CPU's registers do not hold the
       thread's state already; then they do (fpu.rs). */
    cmpb $0, %gs:{fpu_live}
    jne 1f
    fxrstor64 {fpu}(%rdi)
    movb $1, %gs:{fpu_live}
1:
    /* The thread's selectors (sanitized: null or a user segment), unless
       the registers hold them and FS_BASE already (load_segments = 0). A
       load sets the segment's hidden base, so FS_BASE is written after %fs,
       and %gs is loaded after swapgs (the kernel's GS.base is parked in
       IA32_KERNEL_GS_BASE by then). */
    test %rdx, %rdx
    jz 2f
    mov {ds}(%rdi), %ax
    mov %ax, %ds
    mov {es}(%rdi), %ax
    mov %ax, %es
    mov {fs}(%rdi), %ax
    mov %ax, %fs
    mov $0xC0000100, %ecx
    mov {fs_base}(%rdi), %eax
    mov {fs_base}+4(%rdi), %edx
    wrmsr
    swapgs
    mov {gs}(%rdi), %ax
    mov %ax, %gs
    jmp 3f
2:
    swapgs
3:
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
    swapgs
    mov %rsp, %gs:{ctx}+{rsp}
    mov %rax, %gs:{ctx}+{rax}
    mov %rcx, %gs:{ctx}+{rip}
    mov %r11, %gs:{ctx}+{rflags}
    mov ${trap_syscall}, %eax
    jmp ferrite_save_user

    /* From ferrite_isr_common (after swapgs) for a trap in ring 3.
       Stack: vector, error, rip, cs, rflags, rsp, ss (on the TSS.RSP0 stack). */
    .global ferrite_trap_from_user
ferrite_trap_from_user:
    mov %rax, %gs:{ctx}+{rax}
    mov 16(%rsp), %rax
    mov %rax, %gs:{ctx}+{rip}
    mov 32(%rsp), %rax
    mov %rax, %gs:{ctx}+{rflags}
    mov 40(%rsp), %rax
    mov %rax, %gs:{ctx}+{rsp}
    mov 8(%rsp), %rax
    mov %rax, %gs:{trap_error}
    mov 0(%rsp), %rax

    /* Every other register and the selectors; RAX = trap code. The x87/SSE
       state stays in the registers (fpu.rs). */
ferrite_save_user:
    mov %rbx, %gs:{ctx}+{rbx}
    mov %rcx, %gs:{ctx}+{rcx}
    mov %rdx, %gs:{ctx}+{rdx}
    mov %rsi, %gs:{ctx}+{rsi}
    mov %rdi, %gs:{ctx}+{rdi}
    mov %rbp, %gs:{ctx}+{rbp}
    mov %r8, %gs:{ctx}+{r8}
    mov %r9, %gs:{ctx}+{r9}
    mov %r10, %gs:{ctx}+{r10}
    mov %r11, %gs:{ctx}+{r11}
    mov %r12, %gs:{ctx}+{r12}
    mov %r13, %gs:{ctx}+{r13}
    mov %r14, %gs:{ctx}+{r14}
    mov %r15, %gs:{ctx}+{r15}
    mov %ds, %gs:{ctx}+{ds}
    mov %es, %gs:{ctx}+{es}
    mov %fs, %gs:{ctx}+{fs}
    mov %gs, %gs:{ctx}+{gs}

    /* Back into ferrite_enter_user's caller with RAX = trap code. */
    mov %gs:{krsp}, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
"#,
    ctx = const OFF_CTX,
    krsp = const OFF_KERNEL_RSP,
    trap_error = const OFF_TRAP_ERROR,
    fpu_live = const OFF_FPU_LIVE,
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
    fs_base = const offset_of!(UserContext, fs_base),
    ds = const offset_of!(UserContext, ds),
    es = const offset_of!(UserContext, es),
    fs = const offset_of!(UserContext, fs),
    gs = const offset_of!(UserContext, gs),
    fpu = const offset_of!(UserContext, fpu),
    options(att_syntax)
);

// FXSAVE64/FXRSTOR64 need a 16-byte aligned image (Intel SDM vol. 2 FXSAVE).
const _: () = assert!(offset_of!(UserContext, fpu).is_multiple_of(16));
const _: () = assert!(core::mem::align_of::<UserContext>() >= 16);

extern "C" {
    fn ferrite_enter_user(ctx: *mut UserContext, use_sysret: u64, load_segments: u64) -> u64;
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

/// This CPU's user context.
///
/// # Safety
///
/// The returned reference must be dropped before user mode is entered again
/// (the entry stubs write the context directly); only this CPU touches its
/// context, with interrupts off.
unsafe fn user_ctx() -> &'static mut UserContext {
    // SAFETY: the caller guarantees no other reference is live; the
    // context belongs to this CPU.
    unsafe { &mut *percpu::this().ctx.get() }
}

/// Whether a selector may be loaded for ring 3: null, or the user data or
/// user code segment (any RPL). Anything else is replaced by null, so the
/// loads in `ferrite_enter_user` can never fault.
fn user_selector(sel: u16) -> u16 {
    match u64::from(sel & !3) {
        0 => sel,
        s if s == USER_SS & !3 || s == USER_CS & !3 => sel,
        _ => 0,
    }
}

/// The four selectors of a context in one word (`ds` in the low 16 bits,
/// then `es`, `fs`, `gs`), as `PerCpu::hw_segments` keeps them.
fn packed_selectors(ctx: &UserContext) -> u64 {
    u64::from(ctx.ds)
        | (u64::from(ctx.es) << 16)
        | (u64::from(ctx.fs) << 32)
        | (u64::from(ctx.gs) << 48)
}

/// Whether this CPU's segment registers and FS_BASE hold exactly the
/// context's selectors and FS base (`PerCpu::hw_segments`): then they are
/// valid (the hardware holds nothing else in ring 3) and need no load.
fn segments_loaded(me: &PerCpu, ctx: &UserContext) -> bool {
    packed_selectors(ctx) == me.hw_segments.load(Ordering::Relaxed)
        && ctx.fs_base == me.hw_fs_base.load(Ordering::Relaxed)
}

/// Makes the context safe to load: user-owned flags only with IF set,
/// a valid MXCSR (only when the image will be loaded, `fpu_image`), and,
/// unless the registers hold them already (`segments`), a canonical FS
/// base and loadable selectors.
fn sanitize(ctx: &mut UserContext, fpu_image: bool, segments: bool) {
    ctx.rflags = (ctx.rflags & USER_RFLAGS_MASK) | RFLAGS_IF_AND_RESERVED;
    if fpu_image {
        // MXCSR bits 16..32 are reserved: FXRSTOR would #GP (Intel SDM vol. 2 FXRSTOR).
        let mxcsr = &mut ctx.fpu[FXSAVE_MXCSR + 2..FXSAVE_MXCSR + 4];
        mxcsr.fill(0);
    }
    if segments {
        if ctx.fs_base >= USER_LIMIT && ctx.fs_base < 0xFFFF_8000_0000_0000 {
            ctx.fs_base = 0;
        }
        ctx.ds = user_selector(ctx.ds);
        ctx.es = user_selector(ctx.es);
        ctx.fs = user_selector(ctx.fs);
        ctx.gs = user_selector(ctx.gs);
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
    let me = percpu::this();
    let ctx_ptr = me.ctx.get();
    let (use_sysret, load_segments) = {
        // SAFETY: no other reference to the context is live here.
        let ctx = unsafe { user_ctx() };
        let load_segments = !segments_loaded(me, ctx);
        sanitize(ctx, !me.fpu_live.load(Ordering::Relaxed), load_segments);
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
        (ctx.rcx == ctx.rip && ctx.r11 == ctx.rflags, load_segments)
    };
    let relax_smap = relax_smap && cpu::smap_enabled();
    if relax_smap {
        // SAFETY: cleared only for this run in ring 3; set again below right
        // after the trap returns, before the kernel does anything else.
        unsafe { cpu::set_smap(false) };
    }
    // SAFETY: the context was sanitized (flags, MXCSR, canonical rip and fs
    // base, selectors), the kernel stack pointer is saved by the stub, and
    // every trap from ring 3 returns here through the entry stubs.
    let code =
        unsafe { ferrite_enter_user(ctx_ptr, u64::from(use_sysret), u64::from(load_segments)) };
    if relax_smap {
        // SAFETY: SMAP was on before this run (checked above), so the CPU has it.
        unsafe { cpu::set_smap(true) };
    }
    // SAFETY: no other reference to the context is live here.
    let ctx = unsafe { user_ctx() };
    ctx.fs_base = cpu::rdmsr(MSR_FS_BASE);
    // The registers hold what the stubs just saved (the kernel loads no
    // selector and writes no FS_BASE between traps).
    me.hw_segments
        .store(packed_selectors(ctx), Ordering::Relaxed);
    me.hw_fs_base.store(ctx.fs_base, Ordering::Relaxed);
    let trap = match code {
        TRAP_SYSCALL => Trap::Syscall {
            via_interrupt: false,
        },
        c if c == u64::from(SYSCALL_VECTOR) => Trap::Syscall {
            via_interrupt: true,
        },
        c if c == u64::from(TIMER_VECTOR) => {
            apic::end_of_interrupt();
            Trap::Timer
        }
        c if c == u64::from(KICK_VECTOR) => {
            apic::end_of_interrupt();
            Trap::Interrupt
        }
        vector => {
            let mut error_code = me.trap_error;
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
                    cpu::smap_enabled(),
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
    // SAFETY: the only interrupts enabled are the local APIC's, whose ring-0
    // path only writes the EOI register and saves/restores the one register it uses.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// What happened since the core last returned.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// A trap from the user thread that ran.
    Trap(Trap),
    /// An interrupt arrived while idle (or the CPU just started).
    IdleTick,
}

/// The core as the run loop calls it, with the kernel lock held (a
/// function item, so the call is direct and may be inlined).
pub trait CoreEntry<K>: Fn(&mut K, Event, &mut UserContext, &mut X86Platform) -> Next {}
impl<K, F: Fn(&mut K, Event, &mut UserContext, &mut X86Platform) -> Next> CoreEntry<K> for F {}

/// One CPU's main loop: asks the core (under the kernel lock) what to do,
/// runs user mode or idles, and hands every event back. Starts with an idle
/// tick: the core then runs what is current or ready.
pub fn run<K>(kernel: &'static BigLock<K>, core: impl CoreEntry<K>) -> ! {
    let me = percpu::this();
    let mut plat = X86Platform::new();
    let mut event = Event::IdleTick;
    let mut relax_smap = false;
    apic::start_timer();
    loop {
        let mut guard = kernel.lock();
        shootdown::apply_pending();
        // SAFETY: the reference lives only for this call; user mode is not entered meanwhile.
        let ctx = unsafe { user_ctx() };
        let next = core(&mut guard, event, ctx, &mut plat);
        me.core_calls.fetch_add(1, Ordering::Relaxed);
        shootdown::commit();
        me.idle.store(next == Next::Idle, Ordering::SeqCst);
        if next == Next::RunUser {
            // Set before the lock is released: whoever takes it next sees
            // this CPU as running user code in its space.
            me.in_user
                .store(me.loaded_root.load(Ordering::Relaxed), Ordering::SeqCst);
        }
        drop(guard);
        if plat.take_spin_hint() {
            // `pause`: under QEMU's round-robin TCG it also hands the host
            // thread to the next virtual CPU, which may run the thread this
            // one waits for.
            core::hint::spin_loop();
        }
        event = match next {
            Next::RunUser => {
                let (trap, relax) = run_user(relax_smap);
                // Out of user mode: a CPU waiting for this one to stop may go on.
                me.in_user.store(0, Ordering::SeqCst);
                relax_smap = relax;
                Event::Trap(trap)
            }
            Next::Idle => {
                idle_wait();
                me.idle_wakeups.fetch_add(1, Ordering::Relaxed);
                Event::IdleTick
            }
        };
    }
}

/// Gives the core a place to put the first thread's context before `run`.
pub fn with_user_context<R>(f: impl FnOnce(&mut UserContext) -> R) -> R {
    // SAFETY: the reference lives only for this call; user mode is not entered meanwhile.
    f(unsafe { user_ctx() })
}
