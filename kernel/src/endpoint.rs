//! The IPC endpoint object (ABI §3.2): a FIFO of threads waiting to send and one of threads waiting to receive.
//!
//! The queues are intrusive: a waiting thread's links live in its own
//! [`crate::ipc::ThreadIpc`], so queueing never allocates and an endpoint
//! costs the same whatever number of threads wait on it. A thread waits on
//! at most one queue at a time.

use crate::arena::{Arena, RawId};
use crate::thread::{Thread, ThreadId};

/// Names an endpoint; the id of a destroyed endpoint never names another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub(crate) RawId);

/// A live endpoint. Destroyed endpoints are removed from the endpoint arena,
/// so descriptors naming them give `EIO`.
#[derive(Default)]
pub struct Endpoint {
    /// Threads blocked in SEND whose message nobody has taken, oldest first.
    pub senders: Queue,
    /// Threads blocked in RECEIVE, oldest first.
    pub receivers: Queue,
    /// Kernel requests to the mapper serving it (ABI §4.5) nobody took yet, oldest first.
    pub requests: alloc::collections::VecDeque<crate::mapper::RequestId>,
    /// Sequence number of the last message queued (threads' and the kernel's share it).
    pub next_seq: u64,
    /// The stamp of its unique identifier (ABI §4.5).
    pub stamp: u32,
}

/// Where a queued thread sits: its neighbours in the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    prev: Option<ThreadId>,
    next: Option<ThreadId>,
}

/// A FIFO of threads linked through their [`Link`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    head: Option<ThreadId>,
    tail: Option<ThreadId>,
}

fn link_mut(threads: &mut Arena<Thread>, t: ThreadId) -> Option<&mut Link> {
    threads.get_mut(t.0).map(|th| &mut th.ipc.link)
}

impl Queue {
    /// The thread that has waited longest.
    pub const fn front(&self) -> Option<ThreadId> {
        self.head
    }

    pub const fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `t` (which is in no queue).
    pub fn push_back(&mut self, threads: &mut Arena<Thread>, t: ThreadId) {
        if let Some(link) = link_mut(threads, t) {
            *link = Link {
                prev: self.tail,
                next: None,
            };
        }
        match self.tail {
            Some(last) => {
                if let Some(link) = link_mut(threads, last) {
                    link.next = Some(t);
                }
            }
            None => self.head = Some(t),
        }
        self.tail = Some(t);
    }

    /// Takes the thread that has waited longest.
    pub fn pop_front(&mut self, threads: &mut Arena<Thread>) -> Option<ThreadId> {
        let t = self.head?;
        self.remove(threads, t);
        Some(t)
    }

    /// Takes `t` out of the queue (it must be in this one).
    pub fn remove(&mut self, threads: &mut Arena<Thread>, t: ThreadId) {
        let Some(link) = link_mut(threads, t) else {
            return;
        };
        let Link { prev, next } = core::mem::take(link);
        match prev {
            Some(p) => {
                if let Some(l) = link_mut(threads, p) {
                    l.next = next;
                }
            }
            None => self.head = next,
        }
        match next {
            Some(n) => {
                if let Some(l) = link_mut(threads, n) {
                    l.prev = prev;
                }
            }
            None => self.tail = prev,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessId;

    fn thread(a: &mut Arena<Thread>, p: ProcessId, n: u64) -> ThreadId {
        ThreadId(a.insert(Thread::new(p, n)).ok().unwrap())
    }

    #[test]
    fn fifo_with_removal_from_anywhere() {
        let mut procs: Arena<()> = Arena::new(1);
        let p = ProcessId(procs.insert(()).unwrap());
        let mut a = Arena::new(8);
        let [t1, t2, t3, t4] = [1, 2, 3, 4].map(|n| thread(&mut a, p, n));
        let mut q = Queue::default();
        assert!(q.is_empty());
        for t in [t1, t2, t3, t4] {
            q.push_back(&mut a, t);
        }
        q.remove(&mut a, t3);
        assert_eq!(q.pop_front(&mut a), Some(t1));
        q.remove(&mut a, t4);
        q.push_back(&mut a, t1);
        assert_eq!(q.pop_front(&mut a), Some(t2));
        assert_eq!(q.front(), Some(t1));
        assert_eq!(q.pop_front(&mut a), Some(t1));
        assert_eq!(q.pop_front(&mut a), None);
        assert!(q.is_empty());
        for t in [t1, t2, t3, t4] {
            assert_eq!(a.get(t.0).unwrap().ipc.link, Link::default());
        }
    }
}
