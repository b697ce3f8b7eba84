//! A mapper's answer to a kernel request (ABI §4.5): REPLY with one `KnMpReply`, the copy done during the REPLY, and every way to break the protocol.

use super::{Failure, RequestId, RequestKind};
use crate::error::Error;
use crate::platform::Platform;
use crate::syscall::{Caller, Outcome};
use crate::usercopy::UserBytes;
use crate::Kernel;
use abi::layout::{is_page_aligned, PAGE_SIZE};
use abi::mapper::KnMpReply;
use abi::types::Wire;
use alloc::vec;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// REPLY by a thread holding kernel request `id`, its reply already
    /// gathered: longer than 16 bytes → `E2BIG` (the request stays held);
    /// otherwise the request ends, with `EINVAL` to the mapper if the
    /// answer broke the protocol.
    pub(crate) fn answer_request(
        &mut self,
        caller: Caller,
        id: RequestId,
        plat: &mut impl Platform,
    ) -> Result<Outcome, Error> {
        let th = self.threads.get_mut(caller.thread.0).ok_or(Error::Dead)?;
        let size = th.ipc.message.len();
        if size > KnMpReply::SIZE {
            return Err(Error::TooBig);
        }
        th.ipc.request = None;
        let outcome = if size < KnMpReply::SIZE {
            Err(Failure::Protocol)
        } else {
            let reply = KnMpReply::from_bytes(&th.ipc.message[..KnMpReply::SIZE]);
            self.transfer(caller, id, reply, plat)
        };
        if let Some(req) = self.mappers.requests.get_mut(&id) {
            req.holder = None;
        }
        self.finish_request(id, outcome, plat);
        match outcome {
            Err(Failure::Protocol) => Err(Error::Invalid),
            _ => Ok(Outcome::Return(0)),
        }
    }

    /// REPLY_ERROR by a thread holding kernel request `id`: against the
    /// protocol; the request ends with `K_EMAPPER`.
    pub(crate) fn refuse_request(
        &mut self,
        caller: Caller,
        id: RequestId,
        plat: &mut impl Platform,
    ) {
        if let Some(th) = self.threads.get_mut(caller.thread.0) {
            th.ipc.request = None;
        }
        if let Some(req) = self.mappers.requests.get_mut(&id) {
            req.holder = None;
        }
        self.finish_request(id, Err(Failure::Protocol), plat);
    }

    /// Checks the answer and moves the data: from the mapper's buffer into
    /// the cache (pull-in) or from the cache into it (push-out).
    fn transfer(
        &mut self,
        caller: Caller,
        id: RequestId,
        reply: KnMpReply,
        plat: &mut impl Platform,
    ) -> Result<(), Failure> {
        if reply.diag > 0 {
            return Err(Failure::Protocol);
        }
        if reply.diag < 0 {
            return Err(Failure::Diag(reply.diag));
        }
        let req = self.mappers.requests.get(&id).ok_or(Failure::Protocol)?;
        let (kind, cache, first, npages) = (req.kind, req.cache, req.first, req.npages);
        if kind == RequestKind::Release || req.orphan {
            return Ok(());
        }
        if !is_page_aligned(reply.addr) {
            return Err(Failure::Protocol);
        }
        let page = PAGE_SIZE as usize;
        let mut data = vec![0u8; npages as usize * page];
        let buffer = UserBytes::new(reply.addr, npages * PAGE_SIZE);
        match kind {
            RequestKind::PullIn => {
                buffer
                    .read_into(&mut self.mem, caller.space, &mut data, plat)
                    .map_err(|_| Failure::Protocol)?;
                for (i, chunk) in data.chunks_exact(page).enumerate() {
                    self.mem.segment_fill(cache, first + i as u64, chunk);
                }
            }
            RequestKind::PushOut => {
                buffer
                    .check_writable(&self.mem, caller.space)
                    .map_err(|_| Failure::Protocol)?;
                for (i, chunk) in data.chunks_exact_mut(page).enumerate() {
                    self.mem.segment_read(cache, first + i as u64, chunk);
                }
                buffer
                    .write(&mut self.mem, caller.space, &data, plat)
                    .map_err(|_| Failure::Protocol)?;
            }
            RequestKind::Release => {}
        }
        Ok(())
    }
}
