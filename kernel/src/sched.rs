//! Round-robin scheduling state: the current thread of every CPU and one global run queue.
//!
//! The whole core runs under the one kernel lock (`doc/smp.md`), so the
//! queue needs no lock of its own. `cpu` is the CPU the core was entered
//! on; `current()` is that CPU's thread.

use crate::thread::ThreadId;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The current thread of each CPU and the threads ready to run, oldest first.
pub struct Scheduler {
    current: Vec<Option<ThreadId>>,
    /// The CPU the core now runs on (set at every entry).
    cpu: usize,
    /// A thread a call made ready to run right after it, without a trip
    /// through the run queue (IPC's direct switch). Set and taken within
    /// one call into the core, so one slot serves every CPU.
    pub handoff: Option<ThreadId>,
    ready: VecDeque<ThreadId>,
}

impl Scheduler {
    /// Reserves room for `max_threads`, so enqueueing never grows the heap,
    /// and one current-thread slot per CPU.
    pub fn new(max_threads: usize, cpus: usize) -> Self {
        Self {
            current: alloc::vec![None; cpus.max(1)],
            cpu: 0,
            handoff: None,
            ready: VecDeque::with_capacity(max_threads),
        }
    }

    /// The core was entered on `cpu`.
    pub fn enter(&mut self, cpu: usize) {
        if cpu >= self.current.len() {
            self.current.resize(cpu + 1, None);
        }
        self.cpu = cpu;
    }

    /// The thread that runs on this CPU.
    pub fn current(&self) -> Option<ThreadId> {
        self.current[self.cpu]
    }

    /// Makes `t` this CPU's thread.
    pub fn set_current(&mut self, t: Option<ThreadId>) {
        self.current[self.cpu] = t;
    }

    /// The other CPU on which `t` runs, if any.
    pub fn running_elsewhere(&self, t: ThreadId) -> Option<usize> {
        (0..self.current.len()).find(|&c| c != self.cpu && self.current[c] == Some(t))
    }

    /// Forgets CPU `cpu`'s thread (it was ended from another CPU).
    pub fn clear_current_of(&mut self, cpu: usize) {
        self.current[cpu] = None;
    }

    /// Whether some CPU other than this one runs a thread.
    pub fn others_busy(&self) -> bool {
        (0..self.current.len()).any(|c| c != self.cpu && self.current[c].is_some())
    }

    /// How many threads wait in the queue.
    pub fn ready_count(&self) -> usize {
        self.ready.len()
    }

    /// Appends a thread that just became ready.
    pub fn enqueue(&mut self, t: ThreadId) {
        self.ready.push_back(t);
    }

    /// Takes the thread that has waited longest.
    pub fn dequeue(&mut self) -> Option<ThreadId> {
        self.ready.pop_front()
    }

    /// Drops a thread that stopped being ready (killed while queued).
    pub fn remove(&mut self, t: ThreadId) {
        self.ready.retain(|x| *x != t);
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}
