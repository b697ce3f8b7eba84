//! The thread object: saved user context, life-cycle state, and who awaits it (ABI §3).

use crate::arena::RawId;
use crate::context::UserContext;
use crate::process::ProcessId;
use alloc::boxed::Box;

/// Names a thread object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub(crate) RawId);

/// How a thread ended, as AWAIT_THREAD reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// EXIT_THREAD: AWAIT returns 0.
    Exited,
    /// Killed by a fault, or stopped by the destruction of its process: AWAIT returns 1.
    Killed,
}

impl ExitStatus {
    /// The AWAIT_THREAD return value.
    pub const fn await_value(self) -> u64 {
        match self {
            ExitStatus::Exited => 0,
            ExitStatus::Killed => 1,
        }
    }
}

/// Life-cycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Created stopped; START_THREAD makes it ready.
    Created,
    /// Waiting in the run queue.
    Ready,
    /// The current thread (its live state is in the arch's context, not here).
    Running,
    /// Parked in AWAIT_THREAD on the given thread.
    Awaiting(ThreadId),
    /// Blocked in SEND or RECEIVE (ABI §3.2).
    Ipc(crate::ipc::IpcWait),
    /// Ended (or, if never started, stopped with its process); never runs again.
    Ended(ExitStatus),
}

/// Who, if anyone, has awaited this thread (one AWAIT per thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwaitState {
    NotAwaited,
    /// A thread is parked until this one ends.
    Waiter(ThreadId),
    /// Its end has been reported; a further AWAIT is `ESRCH`.
    Reported,
}

pub struct Thread {
    pub process: ProcessId,
    /// Number for console messages, unique since boot.
    pub number: u64,
    pub state: ThreadState,
    /// Whether START_THREAD ever started it.
    pub started: bool,
    pub awaited: AwaitState,
    /// Descriptors naming this thread; the object is freed when this is 0 and
    /// the thread cannot run any more.
    pub references: u32,
    /// User state while not running.
    pub context: Box<UserContext>,
    /// Messages, receive buffers and queue links (ABI §3.2).
    pub ipc: crate::ipc::ThreadIpc,
}

impl Thread {
    pub fn new(process: ProcessId, number: u64) -> Self {
        Self {
            process,
            number,
            state: ThreadState::Created,
            started: false,
            awaited: AwaitState::NotAwaited,
            references: 0,
            context: Box::new(UserContext::zeroed()),
            ipc: crate::ipc::ThreadIpc::default(),
        }
    }

    /// Whether it is ready, running, or parked: it still needs its object.
    pub const fn is_active(&self) -> bool {
        matches!(
            self.state,
            ThreadState::Ready
                | ThreadState::Running
                | ThreadState::Awaiting(_)
                | ThreadState::Ipc(_)
        )
    }

    /// Whether it is blocked in a call (AWAIT_THREAD, SEND, RECEIVE).
    pub const fn is_parked(&self) -> bool {
        matches!(self.state, ThreadState::Awaiting(_) | ThreadState::Ipc(_))
    }

    /// Whether it can be freed: no descriptor names it and it can never run.
    pub const fn is_garbage(&self) -> bool {
        self.references == 0 && !self.is_active()
    }
}
