//! What the core needs from the machine (`Platform`), why it was entered (`Trap`), and what to do next (`Next`).

use crate::context::UserContext;

/// The services the arch layer gives the portable core (`doc/internals.md`).
pub trait Platform {
    /// Loads CR3 with `root` (no-op if already loaded).
    fn activate_space(&mut self, root: u64);
    /// Invalidates the TLB for [start, end) if `root` is the loaded CR3.
    fn flush(&mut self, root: u64, start: u64, end: u64);
    /// Writes bytes to the console (the core adds the newline).
    fn console_write(&mut self, bytes: &[u8]);
    /// Powers the machine off with `status` (never returns).
    fn power_off(&mut self, status: u8) -> !;
    /// Resets the machine (never returns).
    fn reboot(&mut self) -> !;
    /// RDSEED/RDRAND where the CPU has them.
    fn hardware_random(&mut self) -> Option<u64>;
    /// A monotonic counter (TSC) for seeding and statistics.
    fn timestamp(&mut self) -> u64;
    /// Makes `ctx.fpu` hold the x87/SSE state of the thread whose context
    /// `ctx` is. The arch leaves that state in the registers while the same
    /// thread keeps running (the kernel is soft-float), so the core calls
    /// this before it keeps a context in a thread object. Default: the
    /// image is always current.
    fn save_fpu(&mut self, ctx: &mut UserContext) {
        let _ = ctx;
    }
}

/// Why user mode was left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `syscall` (via_interrupt = false) or `int 0x80`.
    Syscall { via_interrupt: bool },
    /// Timer tick while a user thread ran: preemption point.
    Timer,
    /// CPU exception in user mode. `vector` per Intel SDM vol. 3 §6.15;
    /// `fault_addr` = CR2 for #PF (vector 14), else 0.
    Exception {
        vector: u8,
        error_code: u64,
        fault_addr: u64,
    },
}

/// What the arch does after the core returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Return to ring 3 with the context now in `ctx` (CR3 already activated).
    RunUser,
    /// No thread is ready: halt with interrupts on until one arrives, then
    /// call `Kernel::idle_tick`.
    Idle,
}
