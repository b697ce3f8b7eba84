//! One call at a time among the fuzzing streams of one process.
//!
//! ABI §2: a process outlives its creator. A stream that creates a process
//! then reads its capability from the new descriptor and publishes it, so
//! that the parent can delete it. Another thread of the same process that
//! closes or replaces that descriptor, or ends the process, in between
//! leaves an orphan nobody can delete (a process slot and its page-table
//! frames lost to the leak checks, depending on where the timer preempted).
//! So the streams of a child take turns: each holds this lock for one whole
//! call, publication included, and a stream about to end the process holds
//! it for good.

use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api;

/// A ticket lock: turns are given in the order they were asked for, so a
/// stream that releases and asks again lets a waiting one go first.
pub(super) struct StreamLock {
    next: AtomicU64,
    serving: AtomicU64,
}

/// Held until dropped (or forgotten, for good).
pub(super) struct Turn<'a>(&'a StreamLock);

impl StreamLock {
    pub(super) const fn new() -> StreamLock {
        StreamLock {
            next: AtomicU64::new(0),
            serving: AtomicU64::new(0),
        }
    }

    /// Waits for the turn, yielding to the holder.
    pub(super) fn take(&self) -> Turn<'_> {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        while self.serving.load(Ordering::Acquire) != ticket {
            api::yield_thread();
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.serving.fetch_add(1, Ordering::Release);
    }
}
