//! IPC state of threads and the kernel's side of a rendezvous (ABI §3.2): delivering, waking, handing off, and cleaning up when a thread or an endpoint goes.
//!
//! A message lives in the sending thread's [`ThreadIpc`] from SEND until a
//! receiver takes it; a reply is gathered into the replying thread's own
//! buffer and scattered at once. Each thread holds at most one message of
//! at most 2048 bytes and a list of at most 256 receive buffers, both freed
//! when it ends, so all kernel memory for messages is bounded by the thread
//! limit and released with the thread.

pub mod buffers;

use crate::endpoint::{EndpointId, Link};
use crate::error::{encode, Error};
use crate::platform::Platform;
use crate::thread::{ThreadId, ThreadState};
use crate::usercopy::UserBytes;
use crate::Kernel;
use abi::errors::JinueError;
use abi::ipc::MESSAGE_OUTPUTS_OFFSET;
use abi::numbers::Convention;
use abi::regs::SyscallArgs;
use alloc::vec::Vec;
use buffers::Landing;
use mm::PhysMem;

/// Why a thread is blocked in IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcWait {
    /// In SEND; its message waits in the endpoint's queue, nobody took it.
    Sending(EndpointId),
    /// In SEND; this receiver took the message and owes the reply.
    Reply(ThreadId),
    /// In RECEIVE, queued on the endpoint.
    Receiving(EndpointId),
    /// Waiting for a mapper's pull-in (a fault or RGN_INIT; ABI §4.5).
    Mapper,
}

/// A message a receiving thread has taken and not yet answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub sender: ThreadId,
    /// The sender's receive capacity: the largest reply REPLY accepts.
    pub reply_max: u64,
}

/// One thread's IPC state.
#[derive(Default)]
pub struct ThreadIpc {
    /// Its place in an endpoint queue while `Sending` or `Receiving`.
    pub link: Link,
    /// The message it sends (from SEND until taken), or the reply it is
    /// gathering in REPLY.
    pub message: Vec<u8>,
    /// SEND's function number and the cookie of the descriptor it used.
    pub function: u64,
    pub cookie: u64,
    /// Where a message (RECEIVE) or a reply (SEND) to it lands.
    pub landing: Landing,
    /// The send buffer array being gathered (at most 256 entries).
    pub entries: Vec<abi::types::JinueBuffer>,
    /// RECEIVE: the address of its `jinue_message_t` (outputs go there).
    pub header: u64,
    /// The message it holds as a receiver.
    pub held: Option<Held>,
    /// Its place among the endpoint's messages while `Sending`.
    pub seq: u64,
    /// The kernel request it holds as a mapper (ABI §4.5).
    pub request: Option<crate::mapper::RequestId>,
}

/// The registers a blocked call returns with when it fails with `e`.
pub fn failure(e: Error) -> SyscallArgs {
    encode(Convention::Jinue, Err(e))
}

/// SEND's return after REPLY_ERROR: `EPROTO` with the receiver's code in `arg2`.
pub const fn protocol_error(code: u64) -> SyscallArgs {
    let mut r = SyscallArgs::jinue_err(JinueError::Proto);
    r.arg2 = code;
    r
}

impl<P: PhysMem> Kernel<P> {
    /// Makes a blocked thread ready with its return registers, through the run queue.
    pub(crate) fn wake(&mut self, t: ThreadId, ret: SyscallArgs) {
        if let Some(th) = self.threads.get_mut(t.0) {
            if matches!(th.state, ThreadState::Ipc(_)) {
                th.context.set_return(ret);
                th.state = ThreadState::Ready;
                self.sched.enqueue(t);
            }
        }
    }

    /// Makes a blocked thread ready with its return registers and asks the
    /// scheduler to switch to it straight after this call (no run queue).
    pub(crate) fn hand_off(&mut self, t: ThreadId, ret: SyscallArgs) {
        if let Some(th) = self.threads.get_mut(t.0) {
            if matches!(th.state, ThreadState::Ipc(_)) {
                th.context.set_return(ret);
                th.state = ThreadState::Ready;
                if let Some(earlier) = self.sched.handoff.replace(t) {
                    self.sched.enqueue(earlier);
                }
            }
        }
    }

    /// Gives `sender`'s message to `receiver`: scatters it into the
    /// receiver's buffers, writes `recv_function`, `recv_cookie` and
    /// `reply_max_size`, and makes the receiver hold it. Returns its size.
    ///
    /// # Errors
    /// `BadPointer` if the receiver's buffers or message structure are no
    /// longer writable; then nobody's state changed.
    pub(crate) fn deliver(
        &mut self,
        sender: ThreadId,
        receiver: ThreadId,
        plat: &mut impl Platform,
    ) -> Result<u64, Error> {
        let (Some(s), Some(r)) = (self.threads.get(sender.0), self.threads.get(receiver.0)) else {
            return Err(Error::Dead);
        };
        let space = self.processes.get(r.process.0).ok_or(Error::Dead)?.space;
        buffers::scatter(&mut self.mem, space, &r.ipc.landing, &s.ipc.message, plat)?;
        let reply_max = s.ipc.landing.capacity();
        let mut outputs = [0u8; 24];
        outputs[..8].copy_from_slice(&s.ipc.function.to_le_bytes());
        outputs[8..16].copy_from_slice(&s.ipc.cookie.to_le_bytes());
        outputs[16..].copy_from_slice(&reply_max.to_le_bytes());
        let size = s.ipc.message.len() as u64;
        UserBytes::new(r.ipc.header.wrapping_add(MESSAGE_OUTPUTS_OFFSET), 24).write(
            &mut self.mem,
            space,
            &outputs,
            plat,
        )?;
        if let Some(s) = self.threads.get_mut(sender.0) {
            s.ipc.message.clear();
            s.state = ThreadState::Ipc(IpcWait::Reply(receiver));
        }
        if let Some(r) = self.threads.get_mut(receiver.0) {
            r.ipc.held = Some(Held { sender, reply_max });
        }
        Ok(size)
    }

    /// The sender of `held` if it still waits for this receiver's reply.
    pub(crate) fn waiting_sender(&self, receiver: ThreadId, held: Held) -> Option<ThreadId> {
        let s = self.threads.get(held.sender.0)?;
        (s.state == ThreadState::Ipc(IpcWait::Reply(receiver))).then_some(held.sender)
    }

    /// A thread ends (exit, fault, its process destroyed) in `previous`
    /// state: it leaves any queue (a message nobody took is withdrawn), the
    /// sender of a message it held gets `EIO`, and its IPC memory is freed.
    pub(crate) fn ipc_thread_ended(&mut self, t: ThreadId, previous: ThreadState) {
        match previous {
            ThreadState::Ipc(IpcWait::Sending(e)) => {
                if let Some(ep) = self.endpoints.get_mut(e.0) {
                    ep.senders.remove(&mut self.threads, t);
                }
            }
            ThreadState::Ipc(IpcWait::Receiving(e)) => {
                if let Some(ep) = self.endpoints.get_mut(e.0) {
                    ep.receivers.remove(&mut self.threads, t);
                }
            }
            _ => {}
        }
        let Some(th) = self.threads.get_mut(t.0) else {
            return;
        };
        let ipc = core::mem::take(&mut th.ipc);
        if let Some(held) = ipc.held {
            if let Some(s) = self.waiting_sender(t, held) {
                self.wake(s, failure(Error::Dead));
            }
        }
    }

    /// Destroys an endpoint (DESTROY, or its owner descriptor closed): every
    /// waiting receiver and every sender whose message nobody took fails
    /// with `EIO`; taken messages are not affected.
    pub(crate) fn destroy_endpoint(&mut self, e: EndpointId) {
        let Some(mut ep) = self.endpoints.remove(e.0) else {
            return;
        };
        self.mappers.endpoint_gone(e, ep.stamp);
        while let Some(r) = ep.receivers.pop_front(&mut self.threads) {
            self.wake(r, failure(Error::Dead));
        }
        while let Some(s) = ep.senders.pop_front(&mut self.threads) {
            if let Some(th) = self.threads.get_mut(s.0) {
                th.ipc.message.clear();
            }
            self.wake(s, failure(Error::Dead));
        }
    }
}
