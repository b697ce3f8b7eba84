//! Per-CPU data, reached through `gs` in kernel mode (the `swapgs` discipline).
//!
//! Each CPU owns one [`PerCpu`]. In kernel mode `GS.base` points at it; in
//! user mode `GS.base` is the thread's and `IA32_KERNEL_GS_BASE` holds the
//! pointer: every way into the kernel from ring 3 starts with `swapgs`, and
//! the way back ends with it (`trap.rs`, `idt.rs`). Traps from ring 0 (only
//! interrupts while idle) never swap. The entry stubs address the fields at
//! the fixed offsets below.

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use kernel::UserContext;

use super::cpu::{self, wrmsr};

/// Most CPUs the kernel brings up (ABI §9 asks for at least 16).
pub const MAX_CPUS: usize = 64;
/// IA32_GS_BASE and IA32_KERNEL_GS_BASE (Intel SDM vol. 4 table 2-2).
const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// TLB ranges other CPUs left for this one to invalidate (`shootdown.rs`).
#[derive(Debug)]
pub struct Pending {
    pub ranges: [(u64, u64); PENDING_RANGES],
    pub count: usize,
    /// More than fit, or a large range: reload CR3 instead.
    pub full: bool,
}

/// Ranges kept before a pending flush becomes a full one.
pub const PENDING_RANGES: usize = 8;

/// One CPU's data. `repr(C)`: the entry stubs use the offsets.
#[repr(C, align(64))]
pub struct PerCpu {
    /// This structure's own address (`gs:0`).
    pub self_ptr: u64,
    /// The kernel stack pointer saved by `ferrite_enter_user`.
    pub kernel_rsp: u64,
    /// The error code of the last exception from user mode.
    pub trap_error: u64,
    /// The CPU's index (0 = the boot CPU).
    pub index: usize,
    /// The root this CPU runs user code in, or 0 while it is in the kernel
    /// (set under the kernel lock before returning to ring 3, cleared right
    /// after a trap, before the lock is asked for).
    pub in_user: AtomicU64,
    /// The root in CR3 (written only by this CPU).
    pub loaded_root: AtomicU64,
    /// A root another CPU asks this one to unload (0: none).
    pub leave: AtomicU64,
    /// The local APIC ID.
    pub apic_id: u32,
    /// Set by the CPU itself once it runs its loop.
    pub online: AtomicBool,
    /// The core told this CPU to idle (set under the kernel lock).
    pub idle: AtomicBool,
    /// Calls into the core and idle wake-ups (statistics).
    pub core_calls: AtomicU64,
    pub idle_wakeups: AtomicU64,
    /// Flushes posted for this CPU; touched only under the kernel lock.
    pub pending: UnsafeCell<Pending>,
    /// This CPU's x87/SSE registers hold the newest state of the thread
    /// whose context is in `ctx` (`fpu.rs`; only this CPU touches it).
    pub fpu_live: AtomicBool,
    /// The selectors this CPU's `ds`, `es`, `fs`, `gs` hold (packed as in
    /// `trap.rs`) and its FS_BASE, as saved at the last trap from ring 3;
    /// `u64::MAX` (no selector is `0xFFFF`) until then. Lets the way back
    /// skip the loads when the context holds the same (only this CPU
    /// touches them).
    pub hw_segments: AtomicU64,
    pub hw_fs_base: AtomicU64,
    /// The user state of the thread this CPU runs.
    pub ctx: UnsafeCell<UserContext>,
}

// SAFETY: `pending` and `ctx` are touched only by their CPU or under the
// kernel lock (see the field docs); everything else is atomic or fixed
// before the CPU starts.
unsafe impl Sync for PerCpu {}

pub const OFF_KERNEL_RSP: usize = offset_of!(PerCpu, kernel_rsp);
pub const OFF_TRAP_ERROR: usize = offset_of!(PerCpu, trap_error);
pub const OFF_CTX: usize = offset_of!(PerCpu, ctx);
pub const OFF_FPU_LIVE: usize = offset_of!(PerCpu, fpu_live);

impl PerCpu {
    pub const fn new(index: usize, apic_id: u32) -> Self {
        Self {
            self_ptr: 0,
            kernel_rsp: 0,
            trap_error: 0,
            index,
            in_user: AtomicU64::new(0),
            loaded_root: AtomicU64::new(0),
            leave: AtomicU64::new(0),
            apic_id,
            online: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            core_calls: AtomicU64::new(0),
            idle_wakeups: AtomicU64::new(0),
            pending: UnsafeCell::new(Pending {
                ranges: [(0, 0); PENDING_RANGES],
                count: 0,
                full: false,
            }),
            fpu_live: AtomicBool::new(false),
            hw_segments: AtomicU64::new(u64::MAX),
            hw_fs_base: AtomicU64::new(0),
            ctx: UnsafeCell::new(UserContext::zeroed()),
        }
    }
}

/// Every CPU's data by index (null: not brought up).
static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
/// CPUs registered (indices `0..count`).
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// The boot CPU's data.
static mut BOOT_CPU: PerCpu = PerCpu::new(0, 0);

/// The boot CPU's data (registered by [`install`] at boot).
pub fn boot_cpu() -> &'static mut PerCpu {
    // SAFETY: called once, by the boot CPU, before any other CPU runs.
    unsafe {
        let boot = &raw mut BOOT_CPU;
        &mut *boot
    }
}

/// Registers `data` as CPU `data.index` and points this CPU's `GS.base` at
/// it. Runs once per CPU, on that CPU, before it enters user mode.
pub fn install(data: &'static mut PerCpu) {
    data.self_ptr = data as *mut PerCpu as u64;
    data.loaded_root
        .store(cpu::read_cr3() & !0xFFF, Ordering::Relaxed);
    let index = data.index;
    let ptr = data as *mut PerCpu;
    // SAFETY: the pointer is to a 'static PerCpu; kernel mode runs with
    // GS.base = it; the kernel GS base (swapped in at the first swapgs)
    // is the user's, 0 at first.
    unsafe {
        wrmsr(MSR_GS_BASE, ptr as u64);
        wrmsr(MSR_KERNEL_GS_BASE, 0);
    }
    CPUS[index].store(ptr, Ordering::Release);
    COUNT.fetch_max(index + 1, Ordering::AcqRel);
}

/// This CPU's data.
pub fn this() -> &'static PerCpu {
    let ptr: u64;
    // SAFETY: in kernel mode GS.base is this CPU's PerCpu (see `install`),
    // whose first field is its own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: the pointer was stored by `install` and lives forever.
    unsafe { &*(ptr as *const PerCpu) }
}

/// CPU `index`'s data, if it was brought up.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    let ptr = CPUS.get(index)?.load(Ordering::Acquire);
    // SAFETY: only 'static PerCpu are registered.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

/// Every registered CPU.
pub fn all() -> impl Iterator<Item = &'static PerCpu> {
    (0..COUNT.load(Ordering::Acquire)).filter_map(get)
}

/// How many CPUs run the kernel.
pub fn count() -> usize {
    COUNT.load(Ordering::Acquire).max(1)
}
