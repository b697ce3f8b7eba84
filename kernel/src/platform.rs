//! What the core needs from the machine (`Platform`), why it was entered (`Trap`), and what to do next (`Next`).

use crate::context::UserContext;

/// The services the arch layer gives the portable core (`doc/internals.md`).
pub trait Platform {
    /// Loads CR3 with `root` (no-op if already loaded).
    fn activate_space(&mut self, root: u64);
    /// Invalidates the TLB for [start, end) of `root` on every CPU that may
    /// hold it: at once on this CPU, and on every other CPU before the core
    /// returns (the arch completes the shootdown before the caller resumes,
    /// `doc/smp.md`).
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
    /// `ctx` is. The arch leaves that state in this CPU's registers while
    /// the same thread keeps running (the kernel is soft-float), so the core
    /// calls this, on the CPU the thread ran on, before it keeps a context
    /// in a thread object. Default: the image is always current.
    fn save_fpu(&mut self, ctx: &mut UserContext) {
        let _ = ctx;
    }
    /// The core has put into `ctx` a context whose `fpu` image the
    /// registers do not hold (another thread's, or one the kernel wrote):
    /// the arch loads the image before the next return to ring 3. Until the
    /// core calls this, the arch may keep what its registers hold and
    /// ignore `ctx.fpu`. Default: the image is always loaded.
    fn load_fpu(&mut self) {}
    /// Writes the x87/SSE state of the thread whose context `ctx` is (this
    /// CPU's current one) into `image`, the thread object's copy: what
    /// [`Platform::save_fpu`] would leave in `ctx.fpu`, without the copy.
    /// Default: the image in `ctx` is always current.
    fn save_fpu_into(&mut self, ctx: &UserContext, image: &mut [u8; 512]) {
        image.copy_from_slice(&ctx.fpu);
    }
    /// The core has put the registers of a thread into `ctx` (everything but
    /// the image) and `image` is that thread's x87/SSE state: the arch makes
    /// it the state the thread resumes with, either in its registers at once
    /// or by copying it into `ctx.fpu` (then as after [`Platform::load_fpu`]).
    /// Default: the copy.
    fn load_fpu_from(&mut self, ctx: &mut UserContext, image: &[u8; 512]) {
        ctx.fpu = *image;
        self.load_fpu();
    }

    /// The index (0..[`Platform::cpu_count`]) of the CPU the core runs on now.
    fn cpu(&self) -> usize {
        0
    }
    /// How many CPUs run the kernel (ABI §9, `JINUE_AT_NCPU`).
    fn cpu_count(&self) -> usize {
        1
    }
    /// Before returning, no other CPU runs user code in `root`: each that
    /// did is in the kernel, waiting for the kernel lock. Called before a
    /// change that removes or lowers access to `root`'s memory, so no CPU
    /// writes through a translation while it is being torn down.
    fn stop_space(&mut self, _root: u64) {}
    /// Before returning, CPU `cpu` (not this one) runs no user code: its
    /// thread was ended by this CPU.
    fn stop_cpu(&mut self, _cpu: usize) {}
    /// Before returning, no other CPU has `root` loaded (its page tables are
    /// about to be freed); this CPU's own root is the core's business.
    fn release_space(&mut self, _root: u64) {}
    /// The current thread's turn ended (it yielded, or its tick came) but
    /// no other thread was ready, so it runs on. A thread that yields in a
    /// loop is waiting for another one, which may run on another CPU: the
    /// arch gives a spin-wait hint once the kernel lock is released, so a
    /// sibling hyperthread, or a virtual CPU of an emulator or hypervisor
    /// with fewer cores than CPUs, runs that thread sooner.
    fn nothing_else_ready(&mut self) {}
}

/// Why user mode was left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `syscall` (via_interrupt = false) or `int 0x80`.
    Syscall { via_interrupt: bool },
    /// Timer tick while a user thread ran: preemption point.
    Timer,
    /// Another interrupt while a user thread ran (an inter-processor
    /// interrupt that stopped it for a shootdown): not a preemption point.
    Interrupt,
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
