//! Object life cycles: creating processes and threads, starting, ending, destroying, dropping descriptors.

use crate::console;
use crate::descriptor::{Descriptor, Object, Slot};
use crate::error::Error;
use crate::platform::Platform;
use crate::process::{Process, ProcessId};
use crate::thread::{AwaitState, ExitStatus, Thread, ThreadId, ThreadState};
use crate::{Kernel, UserContext, MAX_PROCESSES};
use abi::regs::SyscallArgs;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// A new process with an empty address space, no threads and an empty
    /// descriptor table, with a fresh actor stamp and key.
    ///
    /// # Errors
    /// `Again` when the process limit is reached, the stamps are used up, or
    /// mm has no memory for the address space.
    pub(crate) fn create_process(&mut self, plat: &mut impl Platform) -> Result<ProcessId, Error> {
        if self.processes.len() >= MAX_PROCESSES {
            return Err(Error::Again);
        }
        let space = self.mem.create_space().map_err(|_| Error::Again)?;
        let Some(stamp) = self.stamps.take() else {
            self.mem.destroy_space(space);
            return Err(Error::Again);
        };
        let key = self.keys.next_key(plat);
        match self
            .processes
            .insert(Process::new(space, stamp, key, false))
        {
            Ok(raw) => {
                let id = ProcessId(raw);
                self.actors.insert(stamp, id);
                Ok(id)
            }
            Err(_) => {
                self.mem.destroy_space(space);
                Err(Error::Again)
            }
        }
    }

    /// A new thread of `process`, created stopped.
    ///
    /// # Errors
    /// `NoMemory` when the thread limit is reached; `Dead` if the process is gone.
    pub(crate) fn create_thread(&mut self, process: ProcessId) -> Result<ThreadId, Error> {
        if self.processes.get(process.0).is_none_or(|p| p.dying) {
            return Err(Error::Dead);
        }
        let number = self.next_thread_number;
        let id = self
            .threads
            .insert(Thread::new(process, number))
            .map(ThreadId)
            .map_err(|_| Error::NoMemory)?;
        self.next_thread_number += 1;
        if let Some(p) = self.processes.get_mut(process.0) {
            p.threads.push(id);
        }
        Ok(id)
    }

    /// Puts a descriptor into a process's table (slot checked free by the
    /// caller) and counts the reference to its thread, if any.
    pub(crate) fn install(&mut self, process: ProcessId, slot: Slot, d: Descriptor) {
        if let Object::Thread(t) = d.object {
            if let Some(th) = self.threads.get_mut(t.0) {
                th.references += 1;
            }
        }
        if let Some(p) = self.processes.get_mut(process.0) {
            p.descriptors.put(slot, d);
        }
    }

    /// Forgets a descriptor that was taken out of a table. Closing an
    /// endpoint's owner descriptor destroys the endpoint (ABI §2).
    pub(crate) fn drop_descriptor(&mut self, d: Descriptor) {
        if let (Object::Endpoint(e), true) = (d.object, d.owner) {
            self.destroy_endpoint(e);
        }
        if let Object::Thread(t) = d.object {
            if let Some(th) = self.threads.get_mut(t.0) {
                th.references = th.references.saturating_sub(1);
            }
            self.free_if_garbage(t);
        }
    }

    /// Frees a thread object that no descriptor names and that can never run.
    fn free_if_garbage(&mut self, t: ThreadId) {
        let Some(th) = self.threads.get(t.0) else {
            return;
        };
        if !th.is_garbage() {
            return;
        }
        let process = th.process;
        if let Some(p) = self.processes.get_mut(process.0) {
            p.threads.retain(|x| *x != t);
        }
        self.threads.remove(t.0);
    }

    /// Makes a created thread ready with `ctx` (START_THREAD, init).
    pub(crate) fn start_thread(&mut self, t: ThreadId, ctx: UserContext) {
        let Some(th) = self.threads.get_mut(t.0) else {
            return;
        };
        *th.context = ctx;
        th.started = true;
        th.state = ThreadState::Ready;
        let process = th.process;
        if let Some(p) = self.processes.get_mut(process.0) {
            p.running_threads += 1;
        }
        self.sched.enqueue(t);
    }

    /// Wakes a thread parked in AWAIT_THREAD with its return value.
    fn wake_awaiter(&mut self, waiter: ThreadId, value: u64) {
        if let Some(w) = self.threads.get_mut(waiter.0) {
            if matches!(w.state, ThreadState::Awaiting(_)) {
                w.context.set_return(SyscallArgs::jinue_ok(value));
                w.state = ThreadState::Ready;
                self.sched.enqueue(waiter);
            }
        }
    }

    /// Ends a thread (EXIT_THREAD, fault, or its process being destroyed):
    /// it never runs again, its awaiter is woken, and if it was the last
    /// started thread of its process, the process is destroyed.
    pub(crate) fn end_thread(&mut self, t: ThreadId, status: ExitStatus, plat: &mut impl Platform) {
        let Some(th) = self.threads.get_mut(t.0) else {
            return;
        };
        let previous = th.state;
        if matches!(previous, ThreadState::Ended(_)) {
            return;
        }
        th.state = ThreadState::Ended(status);
        let started = th.started;
        let process = th.process;
        let waiter = match th.awaited {
            AwaitState::Waiter(w) => {
                th.awaited = AwaitState::Reported;
                Some(w)
            }
            _ => None,
        };
        match previous {
            ThreadState::Ready => self.sched.remove(t),
            ThreadState::Awaiting(target) => {
                // Its own wait is cancelled: the target may be awaited again.
                if let Some(target) = self.threads.get_mut(target.0) {
                    if target.awaited == AwaitState::Waiter(t) {
                        target.awaited = AwaitState::NotAwaited;
                    }
                }
            }
            _ => {}
        }
        let held = self
            .threads
            .get_mut(t.0)
            .and_then(|th| th.ipc.request.take());
        self.mapper_thread_ended(t, held, plat);
        self.ipc_thread_ended(t, previous);
        if let Some(w) = waiter {
            self.wake_awaiter(w, status.await_value());
        }
        let mut destroy = false;
        if let Some(p) = self.processes.get_mut(process.0) {
            p.threads.retain(|x| *x != t);
            if started {
                p.running_threads = p.running_threads.saturating_sub(1);
                destroy = p.running_threads == 0 && !p.dying;
            }
        }
        self.free_if_garbage(t);
        if destroy {
            self.destroy_process(process, plat);
        }
    }

    /// Destroys a process (ABI §2): stops its threads, releases its memory,
    /// closes its descriptors. Its stamp is never used again. The end of the
    /// init process powers the machine off with status 0 (ABI §8).
    pub(crate) fn destroy_process(&mut self, id: ProcessId, plat: &mut impl Platform) {
        let Some(p) = self.processes.get_mut(id.0) else {
            return;
        };
        if p.dying {
            return;
        }
        p.dying = true;
        let threads = core::mem::take(&mut p.threads);
        for t in threads {
            self.end_thread(t, ExitStatus::Killed, plat);
        }
        let Some(mut p) = self.processes.remove(id.0) else {
            return;
        };
        self.actors.remove(&p.stamp);
        let root = self.mem.root(p.space);
        if self.active_root == root {
            // Never keep a freed page-table root loaded.
            self.activate(self.idle_space, plat);
        }
        let flush = self.mem.destroy_space(p.space);
        for (_, start, end) in flush.ranges() {
            plat.flush(root, start, end);
        }
        for d in p.descriptors.take_all() {
            self.drop_descriptor(d);
        }
        if p.is_init {
            console::line(plat, format_args!("ferrite: the init process ended"));
            plat.power_off(0);
        }
    }
}
