//! Ferrite kernel core: object model, scheduler, system calls and init loader, portable and host-testable.
//!
//! Trust level: `#![forbid(unsafe_code)]`; depends on `abi`, `mm`, `loader`
//! (to read the init program and build its stack) and one `no_std` crate
//! (`rand_chacha` for capability keys). The arch layer (`arch/`, `main.rs`, not part of this
//! library) saves the user state into a [`UserContext`], calls
//! [`Kernel::handle_trap`], and returns to user mode with whatever context
//! the core left there (contract: `doc/internals.md`).
//!
//! The kernel never blocks and never dereferences user memory: a blocking
//! call parks its thread, and every user pointer goes through `usercopy`.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod acpi;
pub mod address_map;
mod arena;
pub mod capability;
pub mod console;
pub mod context;
pub mod descriptor;
pub mod elf_image;
pub mod endpoint;
pub mod error;
pub mod fault;
mod init;
pub mod ipc;
mod lifecycle;
pub mod madt;
mod mapper;
pub mod platform;
pub mod process;
pub mod sched;
mod syscall;
pub mod thread;
pub mod usercopy;

#[cfg(test)]
mod tests;

pub use context::UserContext;
pub use elf_image::InitError;
pub use platform::{Next, Platform, Trap};

use arena::Arena;
use capability::{KeySource, Stamps};
use endpoint::Endpoint;
use mm::{Memory, PhysMem, SpaceId};
use process::{Process, ProcessId};
use sched::Scheduler;
use thread::{Thread, ThreadId, ThreadState};

/// Most processes alive at once: CREATE_PROCESS beyond it is `EAGAIN`.
pub const MAX_PROCESSES: usize = 64;
/// Most thread objects alive at once (including ended ones still named by a
/// descriptor): CREATE_THREAD beyond it is `ENOMEM`.
pub const MAX_THREADS: usize = 256;
/// Most endpoints alive at once: CREATE_ENDPOINT beyond it is `EAGAIN`.
pub const MAX_ENDPOINTS: usize = 512;

/// The kernel core's whole state.
pub struct Kernel<P: PhysMem> {
    mem: Memory<P>,
    processes: Arena<Process>,
    threads: Arena<Thread>,
    endpoints: Arena<Endpoint>,
    /// Live actors by stamp (ABI §4.1).
    actors: alloc::collections::BTreeMap<u32, ProcessId>,
    stamps: Stamps,
    keys: KeySource,
    sched: Scheduler,
    /// Thread numbers for console messages.
    next_thread_number: u64,
    /// An empty address space, loaded whenever no thread runs, so that a
    /// destroyed space is never the loaded one.
    idle_space: SpaceId,
    /// The root last given to `activate_space`, per CPU.
    active_roots: alloc::vec::Vec<u64>,
    /// Segments, requests to mappers and the threads waiting for them (ABI §4.5).
    mappers: mapper::Mappers,
    /// The physical address map (GET_ADDRESS_MAP, MMAP's rules).
    address_map: address_map::AddressMap,
}

impl<P: PhysMem> Kernel<P> {
    /// The core over the memory `mm` manages.
    ///
    /// # Panics
    /// If `mm` cannot create the (empty) idle address space: the machine has
    /// too little memory to run anything.
    pub fn new(mut memory: Memory<P>, plat: &mut impl Platform) -> Self {
        let idle_space = memory
            .create_space()
            .expect("no memory for the idle address space");
        let idle_root = memory.root(idle_space);
        Self {
            mem: memory,
            processes: Arena::new(MAX_PROCESSES),
            threads: Arena::new(MAX_THREADS),
            endpoints: Arena::new(MAX_ENDPOINTS),
            actors: alloc::collections::BTreeMap::new(),
            stamps: Stamps::new(),
            keys: KeySource::new(plat),
            sched: Scheduler::new(MAX_THREADS, plat.cpu_count()),
            next_thread_number: 1,
            idle_space,
            active_roots: alloc::vec![idle_root; plat.cpu_count().max(1)],
            mappers: mapper::Mappers::default(),
            address_map: address_map::AddressMap::default(),
        }
    }

    /// Gives the core the machine's physical address map (the arch layer,
    /// at boot, before [`Kernel::start_init`]).
    pub fn set_address_map(&mut self, map: address_map::AddressMap) {
        self.address_map = map;
    }

    /// The memory core (for statistics and tests).
    pub fn memory(&self) -> &Memory<P> {
        &self.mem
    }

    /// Number of live processes.
    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// Number of live thread objects.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// Copies the current thread's saved context into `ctx`: what the arch
    /// loads after [`Kernel::start_init`] returns [`Next::RunUser`] (the
    /// contract's `start_init` has no context parameter). At boot only: the
    /// arch has loaded no user x87/SSE state yet, so it loads `ctx.fpu`
    /// without a [`Platform::load_fpu`].
    pub fn load_current_context(&self, ctx: &mut UserContext) -> bool {
        match self.sched.current().and_then(|t| self.threads.get(t.0)) {
            Some(t) => {
                *ctx = *t.context;
                true
            }
            None => false,
        }
    }

    /// Every entry from user mode: `ctx` holds the current thread's state.
    pub fn handle_trap(
        &mut self,
        ctx: &mut UserContext,
        trap: Trap,
        plat: &mut impl Platform,
    ) -> Next {
        self.sched.enter(plat.cpu());
        let Some(current) = self.sched.current() else {
            // No user thread was running (or another CPU ended it while it
            // trapped): nothing to save, nothing to handle.
            return self.run_next(ctx, plat);
        };
        let wants_yield = match trap {
            Trap::Syscall { .. } => self.syscall(ctx, plat),
            Trap::Timer => true,
            Trap::Interrupt => false,
            Trap::Exception {
                vector,
                error_code,
                fault_addr,
            } => {
                self.exception(ctx, vector, error_code, fault_addr, plat);
                false
            }
        };
        self.mapper_housekeeping(plat);
        self.after_trap(current, ctx, wants_yield, plat)
    }

    /// An interrupt arrived while idle.
    pub fn idle_tick(&mut self, ctx: &mut UserContext, plat: &mut impl Platform) -> Next {
        self.sched.enter(plat.cpu());
        if self.sched.current().is_some() {
            return Next::RunUser;
        }
        self.run_next(ctx, plat)
    }

    /// Decides who runs after the current thread's trap was handled.
    fn after_trap(
        &mut self,
        current: ThreadId,
        ctx: &mut UserContext,
        wants_yield: bool,
        plat: &mut impl Platform,
    ) -> Next {
        let state = self.threads.get(current.0).map(|t| t.state);
        let handoff = self.sched.handoff.take();
        match state {
            Some(ThreadState::Running) => {
                if let Some(next) = handoff {
                    // IPC woke a thread to run next: the caller stays ready.
                    self.save_current(current, ctx, plat);
                    if let Some(t) = self.threads.get_mut(current.0) {
                        t.state = ThreadState::Ready;
                    }
                    self.sched.enqueue(current);
                    self.switch_to(next, ctx, plat)
                } else if wants_yield && self.sched.has_ready() {
                    self.save_current(current, ctx, plat);
                    if let Some(t) = self.threads.get_mut(current.0) {
                        t.state = ThreadState::Ready;
                    }
                    self.sched.enqueue(current);
                    self.run_next(ctx, plat)
                } else {
                    if wants_yield {
                        plat.nothing_else_ready();
                    }
                    Next::RunUser
                }
            }
            Some(ThreadState::Awaiting(_) | ThreadState::Ipc(_)) => {
                // Parked by AWAIT_THREAD, SEND or RECEIVE: its return
                // registers are written into the saved context when woken.
                self.save_current(current, ctx, plat);
                match handoff {
                    Some(next) => self.switch_to(next, ctx, plat),
                    None => self.run_next(ctx, plat),
                }
            }
            _ => {
                // Ended (exit, fault, its process destroyed) or gone.
                self.sched.set_current(None);
                if let Some(next) = handoff {
                    self.sched.enqueue(next);
                }
                self.run_next(ctx, plat)
            }
        }
    }

    /// Makes `next` (ready, not queued) current at once: IPC's direct
    /// switch. Falls back to the run queue if it cannot run any more.
    fn switch_to(
        &mut self,
        next: ThreadId,
        ctx: &mut UserContext,
        plat: &mut impl Platform,
    ) -> Next {
        if self.run_thread(next, ctx, plat) {
            Next::RunUser
        } else {
            self.run_next(ctx, plat)
        }
    }

    /// Makes `next` current if it is ready: its context into `ctx`, its
    /// address space active. Returns whether it did.
    fn run_thread(
        &mut self,
        next: ThreadId,
        ctx: &mut UserContext,
        plat: &mut impl Platform,
    ) -> bool {
        let Some(t) = self.threads.get_mut(next.0) else {
            return false;
        };
        if t.state != ThreadState::Ready {
            return false;
        }
        t.state = ThreadState::Running;
        ctx.copy_registers_from(&t.context);
        plat.load_fpu_from(ctx, &t.context.fpu);
        let process = t.process;
        self.sched.set_current(Some(next));
        let space = self
            .processes
            .get(process.0)
            .map_or(self.idle_space, |p| p.space);
        self.activate(space, plat);
        true
    }

    /// Stores the live context (its FPU state as `Platform::save_fpu_into`
    /// gives it) into the thread object; it is no longer current.
    fn save_current(&mut self, current: ThreadId, ctx: &mut UserContext, plat: &mut impl Platform) {
        if let Some(t) = self.threads.get_mut(current.0) {
            t.context.copy_registers_from(ctx);
            plat.save_fpu_into(ctx, &mut t.context.fpu);
        }
        self.sched.set_current(None);
    }

    /// Makes the longest-waiting ready thread current, or goes idle.
    fn run_next(&mut self, ctx: &mut UserContext, plat: &mut impl Platform) -> Next {
        self.sched.set_current(None);
        while let Some(next) = self.sched.dequeue() {
            if self.run_thread(next, ctx, plat) {
                return Next::RunUser;
            }
        }
        self.activate(self.idle_space, plat);
        self.no_thread_ready(plat)
    }

    fn activate(&mut self, space: SpaceId, plat: &mut impl Platform) {
        let root = self.mem.root(space);
        let cpu = plat.cpu();
        if cpu >= self.active_roots.len() {
            self.active_roots.resize(cpu + 1, root);
        }
        self.active_roots[cpu] = root;
        plat.activate_space(root);
    }

    /// The root this CPU has loaded.
    pub(crate) fn active_root(&self, plat: &impl Platform) -> u64 {
        self.active_roots.get(plat.cpu()).copied().unwrap_or(0)
    }

    /// Other CPUs no longer have `root` loaded (`Platform::release_space`).
    fn forget_root(&mut self, root: u64) {
        for r in &mut self.active_roots {
            if *r == root {
                *r = 0;
            }
        }
    }

    /// Before a change that removes or lowers access in `space`: no other
    /// CPU runs user code in it until the change and its flush are done.
    pub(crate) fn stop_space(&self, space: SpaceId, plat: &mut impl Platform) {
        plat.stop_space(self.mem.root(space));
    }

    /// Threads ready to run and waiting for a CPU (the arch wakes idle
    /// CPUs while some are).
    pub fn ready_count(&self) -> usize {
        self.sched.ready_count()
    }

    /// Nothing is ready for this CPU. While another CPU runs a thread, this
    /// one idles (that thread may wake the others). Otherwise every live
    /// thread is parked in AWAIT_THREAD, SEND
    /// or RECEIVE (or created and never started), and only threads can wake
    /// them (no timers or interrupts for user programs), so nothing can ever
    /// run again: report the deadlock and power off with status 1 instead
    /// of hanging.
    fn no_thread_ready(&mut self, plat: &mut impl Platform) -> Next {
        if self.sched.others_busy() {
            return Next::Idle;
        }
        let parked = self
            .threads
            .ids()
            .filter(|id| self.threads.get(*id).is_some_and(|t| t.is_parked()))
            .count();
        console::line(
            plat,
            format_args!(
                "ferrite: deadlock: no thread can run ({parked} parked in AWAIT_THREAD, SEND or RECEIVE)"
            ),
        );
        plat.power_off(1)
    }
}
