//! CREATE_ENDPOINT, SEND, RECEIVE, REPLY, REPLY_ERROR (ABI §3.2), each check in the ABI's order.

use super::{Caller, Outcome, SysResult};
use crate::descriptor::{Descriptor, Object, Slot};
use crate::endpoint::{Endpoint, EndpointId};
use crate::error::Error;
use crate::ipc::buffers::{gather, landing};
use crate::ipc::{failure, protocol_error, IpcWait};
use crate::platform::Platform;
use crate::thread::ThreadState;
use crate::usercopy::UserPtr;
use crate::Kernel;
use abi::ipc::JinueMessage;
use abi::perms::{ENDPOINT_PERMS, JINUE_PERM_RECEIVE, JINUE_PERM_SEND};
use abi::regs::SyscallArgs;
use abi::types::Wire;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// CREATE_ENDPOINT (9): `EBADF` (slot invalid or in use), `EAGAIN`
    /// (endpoint limit). The new descriptor is the owner, `SEND|RECEIVE`, cookie 0.
    pub(super) fn sys_create_endpoint(&mut self, caller: Caller, fd: u64) -> SysResult {
        let slot = Slot::new(fd)?;
        self.check_free_slot(caller.process, slot)?;
        let stamp = self.mappers.stamps.take().ok_or(Error::Again)?;
        let e = self
            .endpoints
            .insert(Endpoint {
                stamp,
                ..Endpoint::default()
            })
            .map(EndpointId)
            .map_err(|_| Error::Again)?;
        self.mappers.ports.insert(stamp, e);
        self.install(
            caller.process,
            slot,
            Descriptor {
                object: Object::Endpoint(e),
                perms: ENDPOINT_PERMS,
                owner: true,
                cookie: 0,
            },
        );
        Ok(Outcome::Return(0))
    }

    /// The live endpoint a descriptor names.
    ///
    /// # Errors
    /// `BadDescriptor` if it names no endpoint; `Dead` if it was destroyed.
    pub(super) fn endpoint_of(&self, d: &Descriptor) -> Result<EndpointId, Error> {
        match d.object {
            Object::Endpoint(e) if self.endpoints.get(e.0).is_some() => Ok(e),
            Object::Endpoint(_) => Err(Error::Dead),
            Object::Process(_) | Object::Thread(_) => Err(Error::BadDescriptor),
        }
    }

    /// The caller's endpoint descriptor in `slot` with `perm`: `EBADF`/`EIO`, then `EPERM`.
    fn endpoint_with(
        &self,
        caller: Caller,
        slot: Slot,
        perm: u32,
    ) -> Result<(EndpointId, Descriptor), Error> {
        let d = self.descriptor(caller.process, slot)?;
        let e = self.endpoint_of(&d)?;
        if !d.allows(perm) {
            return Err(Error::Permission);
        }
        Ok((e, d))
    }

    /// Reads the caller's message structure and its receive buffers (and,
    /// for SEND and REPLY, gathers its send buffers into the kernel).
    fn read_message(
        &mut self,
        caller: Caller,
        addr: u64,
        with_send: bool,
        with_recv: bool,
        plat: &mut impl Platform,
    ) -> Result<JinueMessage, Error> {
        let header: JinueMessage = UserPtr::new(addr).read(&mut self.mem, caller.space, plat)?;
        let th = self.threads.get_mut(caller.thread.0).ok_or(Error::Dead)?;
        let mut message = core::mem::take(&mut th.ipc.message);
        let mut land = core::mem::take(&mut th.ipc.landing);
        let mut entries = core::mem::take(&mut th.ipc.entries);
        let mut result = Ok(());
        if with_send {
            let array = (header.send_buffers, header.send_buffers_length);
            result = gather(
                &mut self.mem,
                caller.space,
                array,
                &mut entries,
                &mut message,
                plat,
            );
        }
        if result.is_ok() && with_recv {
            let array = (header.recv_buffers, header.recv_buffers_length);
            result = landing(&mut self.mem, caller.space, array, &mut land, plat);
        }
        if let Some(th) = self.threads.get_mut(caller.thread.0) {
            th.ipc.message = message;
            th.ipc.landing = land;
            th.ipc.entries = entries;
        }
        result.map(|()| header)
    }

    /// SEND (4096 … `0x7FFF_FFFF`): errors in order `EBADF` (value),
    /// `EINVAL` (structure, buffer arrays, send buffers, receive buffers),
    /// `EBADF`/`EIO` (descriptor), `EPERM` (no `SEND`); then, with a
    /// receiver waiting, `E2BIG` if the message exceeds its capacity.
    /// The message is copied in now; the caller blocks until the reply.
    pub(super) fn sys_send(
        &mut self,
        caller: Caller,
        function: u64,
        fd: u64,
        addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let slot = Slot::new(fd)?;
        self.read_message(caller, addr, true, true, plat)?;
        let (e, d) = self.endpoint_with(caller, slot, JINUE_PERM_SEND)?;
        let me = caller.thread;
        let size = {
            let th = self.threads.get_mut(me.0).ok_or(Error::Dead)?;
            th.ipc.function = function;
            th.ipc.cookie = d.cookie;
            th.ipc.message.len() as u64
        };
        while let Some(r) = self.endpoints.get(e.0).and_then(|ep| ep.receivers.front()) {
            let capacity = self
                .threads
                .get(r.0)
                .map_or(0, |t| t.ipc.landing.capacity());
            if size > capacity {
                // The receiver goes on waiting for another message.
                return Err(Error::TooBig);
            }
            if let Some(ep) = self.endpoints.get_mut(e.0) {
                ep.receivers.pop_front(&mut self.threads);
            }
            match self.deliver(me, r, plat) {
                Ok(n) => {
                    self.hand_off(r, SyscallArgs::jinue_ok(n));
                    return Ok(Outcome::NoReturn);
                }
                // Its buffers became unwritable: its RECEIVE fails, the
                // message goes to the next receiver.
                Err(err) => self.wake(r, failure(err)),
            }
        }
        let seq = match self.endpoints.get_mut(e.0) {
            Some(ep) => {
                ep.next_seq += 1;
                ep.next_seq
            }
            None => 0,
        };
        if let Some(th) = self.threads.get_mut(me.0) {
            th.state = ThreadState::Ipc(IpcWait::Sending(e));
            th.ipc.seq = seq;
        }
        if let Some(ep) = self.endpoints.get_mut(e.0) {
            ep.senders.push_back(&mut self.threads, me);
        }
        Ok(Outcome::NoReturn)
    }

    /// RECEIVE (10): errors in order `EBADF` (value), `EINVAL` (structure
    /// unreadable or not writable, receive buffers bad), `EBADF`/`EIO`,
    /// `EPERM` (no `RECEIVE`), `EBUSY` (a message held), then `EINVAL` if
    /// the message cannot be written (it stays queued). Senders whose
    /// message exceeds the caller's capacity fail with `E2BIG`.
    pub(super) fn sys_receive(
        &mut self,
        caller: Caller,
        fd: u64,
        addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let slot = Slot::new(fd)?;
        self.mem
            .check_user_writable(caller.space, addr, JinueMessage::SIZE)
            .map_err(|_| Error::BadPointer)?;
        self.read_message(caller, addr, false, true, plat)?;
        let (e, _) = self.endpoint_with(caller, slot, JINUE_PERM_RECEIVE)?;
        let me = caller.thread;
        let capacity = {
            let th = self.threads.get_mut(me.0).ok_or(Error::Dead)?;
            if th.ipc.held.is_some() || th.ipc.request.is_some() {
                return Err(Error::Busy);
            }
            th.ipc.header = addr;
            th.ipc.landing.capacity()
        };
        loop {
            if let Some(n) = self.take_request(e, me, capacity, plat)? {
                return Ok(Outcome::Return(n));
            }
            let Some(s) = self.endpoints.get(e.0).and_then(|ep| ep.senders.front()) else {
                break;
            };
            let size = self.threads.get(s.0).map_or(0, |t| t.ipc.message.len()) as u64;
            if size > capacity {
                if let Some(ep) = self.endpoints.get_mut(e.0) {
                    ep.senders.pop_front(&mut self.threads);
                }
                if let Some(th) = self.threads.get_mut(s.0) {
                    th.ipc.message.clear();
                }
                self.wake(s, failure(Error::TooBig));
                continue;
            }
            let n = self.deliver(s, me, plat)?;
            if let Some(ep) = self.endpoints.get_mut(e.0) {
                ep.senders.pop_front(&mut self.threads);
            }
            return Ok(Outcome::Return(n));
        }
        if let Some(th) = self.threads.get_mut(me.0) {
            th.state = ThreadState::Ipc(IpcWait::Receiving(e));
        }
        if let Some(ep) = self.endpoints.get_mut(e.0) {
            ep.receivers.push_back(&mut self.threads, me);
        }
        Ok(Outcome::NoReturn)
    }

    /// REPLY (11): errors in order `EINVAL` (structure or send buffers),
    /// `ENOMSG` (no message held), `E2BIG` (above `reply_max_size`); a
    /// failed REPLY changes nothing. The reply is scattered into the
    /// sender's buffers (`EINVAL` to the sender if they became unwritable)
    /// and the processor goes straight to the sender.
    pub(super) fn sys_reply(
        &mut self,
        caller: Caller,
        addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        self.read_message(caller, addr, true, false, plat)?;
        let me = caller.thread;
        let th = self.threads.get(me.0).ok_or(Error::Dead)?;
        if let Some(request) = th.ipc.request {
            return self.answer_request(caller, request, plat);
        }
        let held = th.ipc.held.ok_or(Error::NoMessage)?;
        let size = th.ipc.message.len() as u64;
        if size > held.reply_max {
            return Err(Error::TooBig);
        }
        if let Some(th) = self.threads.get_mut(me.0) {
            th.ipc.held = None;
        }
        let Some(s) = self.waiting_sender(me, held) else {
            // The sender is gone: the reply is dropped.
            return Ok(Outcome::Return(0));
        };
        let ret = match self.scatter_reply(me, s, plat) {
            Ok(()) => SyscallArgs::jinue_ok(size),
            Err(e) => failure(e),
        };
        self.hand_off(s, ret);
        Ok(Outcome::Return(0))
    }

    /// Writes the reply gathered in `replier`'s buffer into `sender`'s receive buffers.
    fn scatter_reply(
        &mut self,
        replier: crate::thread::ThreadId,
        sender: crate::thread::ThreadId,
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        let (Some(r), Some(s)) = (self.threads.get(replier.0), self.threads.get(sender.0)) else {
            return Err(Error::Dead);
        };
        let space = self.processes.get(s.process.0).ok_or(Error::Dead)?.space;
        crate::ipc::buffers::scatter(&mut self.mem, space, &s.ipc.landing, &r.ipc.message, plat)
    }

    /// REPLY_ERROR (22): `ENOMSG` if no message is held; otherwise the
    /// sender's SEND fails with `EPROTO` and `arg2 = code`.
    pub(super) fn sys_reply_error(
        &mut self,
        caller: Caller,
        code: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let me = caller.thread;
        let th = self.threads.get_mut(me.0).ok_or(Error::Dead)?;
        if let Some(request) = th.ipc.request {
            // Against the protocol (ABI §4.5): the request fails with K_EMAPPER.
            self.refuse_request(caller, request, plat);
            return Ok(Outcome::Return(0));
        }
        let held = th.ipc.held.take().ok_or(Error::NoMessage)?;
        if let Some(s) = self.waiting_sender(me, held) {
            self.hand_off(s, protocol_error(code));
        }
        Ok(Outcome::Return(0))
    }
}
