//! Queueing kernel requests on a mapper's endpoint and handing them to its receiving threads (ABI §3.2, §4.5).

use super::{Failure, Request, RequestId, RequestKind, SegmentKey};
use crate::error::Error;
use crate::platform::Platform;
use crate::thread::ThreadId;
use crate::usercopy::UserBytes;
use crate::Kernel;
use abi::ipc::MESSAGE_OUTPUTS_OFFSET;
use abi::layout::PAGE_SIZE;
use abi::mapper::{key_of, KnMpRequest, MP_PULL_IN, MP_PUSH_OUT, MP_RELEASE};
use abi::regs::SyscallArgs;
use abi::types::Wire;
use alloc::vec::Vec;
use mm::{PhysMem, SegmentId};

/// The largest reply a kernel request accepts: one `KnMpReply`.
pub const REPLY_MAX: u64 = 16;

impl RequestKind {
    const fn function(self) -> u64 {
        match self {
            RequestKind::PullIn => MP_PULL_IN,
            RequestKind::PushOut => MP_PUSH_OUT,
            RequestKind::Release => MP_RELEASE,
        }
    }
}

/// The pages of one segment a request is about: `npages` from page `first`
/// of the segment's cache.
#[derive(Clone, Copy)]
pub(crate) struct RequestPages {
    pub segment: SegmentKey,
    pub cache: SegmentId,
    pub first: u64,
    pub npages: u64,
}

impl<P: PhysMem> Kernel<P> {
    /// Sends a request to the segment's mapper: to a waiting receiver at
    /// once, else to the end of the endpoint's queue. Threads in `waiters`
    /// are already parked for it. Returns its id (it may already have
    /// ended if the mapper could not take it).
    pub(crate) fn send_request(
        &mut self,
        kind: RequestKind,
        pages: RequestPages,
        access: u64,
        waiters: Vec<ThreadId>,
        plat: &mut impl Platform,
    ) -> RequestId {
        let RequestPages {
            segment,
            cache,
            first,
            npages,
        } = pages;
        let id = self.mappers.next_id();
        let seq = match self.endpoints.get_mut(segment.endpoint.0) {
            Some(ep) => {
                ep.next_seq += 1;
                ep.next_seq
            }
            None => 0,
        };
        if kind == RequestKind::PullIn {
            for p in first..first + npages {
                self.mappers.in_flight.insert((cache, p), id);
            }
            if let Some(s) = self.mappers.segments.get_mut(&segment) {
                s.pulls += 1;
            }
        }
        self.mappers.requests.insert(
            id,
            Request {
                kind,
                segment,
                cache,
                first,
                npages,
                access,
                seq,
                holder: None,
                waiters,
                orphan: false,
            },
        );
        let Some(ep) = self.endpoints.get_mut(segment.endpoint.0) else {
            self.finish_request(id, Err(Failure::Protocol), plat);
            return id;
        };
        ep.requests.push_back(id);
        while let Some(r) = self
            .endpoints
            .get(segment.endpoint.0)
            .and_then(|ep| ep.receivers.front())
        {
            let capacity = self
                .threads
                .get(r.0)
                .map_or(0, |t| t.ipc.landing.capacity());
            match self.take_request(segment.endpoint, r, capacity, plat) {
                Ok(Some(n)) => {
                    if let Some(ep) = self.endpoints.get_mut(segment.endpoint.0) {
                        ep.receivers.remove(&mut self.threads, r);
                    }
                    self.wake(r, SyscallArgs::jinue_ok(n));
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    // Its buffers became unwritable: its RECEIVE fails.
                    if let Some(ep) = self.endpoints.get_mut(segment.endpoint.0) {
                        ep.receivers.remove(&mut self.threads, r);
                    }
                    self.wake(r, crate::ipc::failure(e));
                }
            }
        }
        id
    }

    /// The receiver `r` (with `capacity`) takes the endpoint's oldest
    /// kernel request if it is older than every thread's message. A request
    /// larger than the capacity breaks the protocol and ends (the receiver
    /// goes on). Returns the message size, or `None` if there is none to take.
    ///
    /// # Errors
    /// `BadPointer` if the receiver's buffers are not writable; the request stays queued.
    pub(crate) fn take_request(
        &mut self,
        e: crate::endpoint::EndpointId,
        r: ThreadId,
        capacity: u64,
        plat: &mut impl Platform,
    ) -> Result<Option<u64>, Error> {
        loop {
            let Some(ep) = self.endpoints.get(e.0) else {
                return Ok(None);
            };
            let Some(&id) = ep.requests.front() else {
                return Ok(None);
            };
            let thread_seq = ep
                .senders
                .front()
                .and_then(|s| self.threads.get(s.0))
                .map(|t| t.ipc.seq);
            let Some(req) = self.mappers.requests.get(&id) else {
                if let Some(ep) = self.endpoints.get_mut(e.0) {
                    ep.requests.pop_front();
                }
                continue;
            };
            if thread_seq.is_some_and(|s| s < req.seq) {
                return Ok(None);
            }
            if capacity < KnMpRequest::SIZE as u64 {
                if let Some(ep) = self.endpoints.get_mut(e.0) {
                    ep.requests.pop_front();
                }
                self.finish_request(id, Err(Failure::Protocol), plat);
                continue;
            }
            let message = KnMpRequest {
                key: key_of(req.segment.key),
                offset: req.first * PAGE_SIZE,
                size: req.npages * PAGE_SIZE,
                access: req.access,
            };
            let mut bytes = [0u8; KnMpRequest::SIZE];
            message.to_bytes(&mut bytes);
            let mut outputs = [0u8; 24];
            outputs[..8].copy_from_slice(&req.kind.function().to_le_bytes());
            outputs[16..].copy_from_slice(&REPLY_MAX.to_le_bytes());
            let th = self.threads.get(r.0).ok_or(Error::Dead)?;
            let space = self.processes.get(th.process.0).ok_or(Error::Dead)?.space;
            UserBytes::new(th.ipc.header.wrapping_add(MESSAGE_OUTPUTS_OFFSET), 24)
                .check_writable(&self.mem, space)?;
            crate::ipc::buffers::scatter(&mut self.mem, space, &th.ipc.landing, &bytes, plat)?;
            let header = th.ipc.header;
            UserBytes::new(header.wrapping_add(MESSAGE_OUTPUTS_OFFSET), 24).write(
                &mut self.mem,
                space,
                &outputs,
                plat,
            )?;
            if let Some(ep) = self.endpoints.get_mut(e.0) {
                ep.requests.pop_front();
            }
            if let Some(req) = self.mappers.requests.get_mut(&id) {
                req.holder = Some(r);
            }
            if let Some(th) = self.threads.get_mut(r.0) {
                th.ipc.request = Some(id);
            }
            return Ok(Some(KnMpRequest::SIZE as u64));
        }
    }

    /// Takes a request nobody has taken out of its endpoint's queue.
    pub(crate) fn withdraw_request(&mut self, id: RequestId) {
        let Some(req) = self.mappers.requests.get(&id) else {
            return;
        };
        if req.holder.is_none() {
            if let Some(ep) = self.endpoints.get_mut(req.segment.endpoint.0) {
                ep.requests.retain(|&r| r != id);
            }
        }
    }
}
