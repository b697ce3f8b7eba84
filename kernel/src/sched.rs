//! Round-robin scheduling state: the current thread and the run queue.

use crate::thread::ThreadId;
use alloc::collections::VecDeque;

/// The current thread (if any) and the threads ready to run, oldest first.
pub struct Scheduler {
    pub current: Option<ThreadId>,
    /// A thread a call made ready to run right after it, without a trip
    /// through the run queue (IPC's direct switch).
    pub handoff: Option<ThreadId>,
    ready: VecDeque<ThreadId>,
}

impl Scheduler {
    /// Reserves room for `max_threads`, so enqueueing never grows the heap.
    pub fn new(max_threads: usize) -> Self {
        Self {
            current: None,
            handoff: None,
            ready: VecDeque::with_capacity(max_threads),
        }
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
