//! Ending a kernel request: the waiting threads resume, fail or die; a RGN_INIT whose last pull-in arrived completes.

use super::{Failure, PendingCall, PendingInit, RequestId, RequestKind, Wait};
use crate::error::Error;
use crate::platform::Platform;
use crate::thread::{ExitStatus, ThreadId, ThreadState};
use crate::usercopy::{apply_flush, UserPtr};
use crate::Kernel;
use abi::args::UserRange;
use abi::numbers::Convention;
use abi::types::KnRgnDesc;
use mm::PhysMem;

impl Failure {
    /// The error a call waiting for the request returns.
    pub const fn error(self) -> Error {
        match self {
            Failure::Protocol => Error::Mapper,
            Failure::Diag(d) => Error::MapperDiag(d),
        }
    }
}

impl<P: PhysMem> Kernel<P> {
    /// Ends request `id` with `outcome` (the transfer, if any, is done).
    pub(crate) fn finish_request(
        &mut self,
        id: RequestId,
        outcome: Result<(), Failure>,
        plat: &mut impl Platform,
    ) {
        self.withdraw_request(id);
        let Some(req) = self.mappers.requests.remove(&id) else {
            return;
        };
        if let Some(holder) = req.holder {
            if let Some(th) = self.threads.get_mut(holder.0) {
                if th.ipc.request == Some(id) {
                    th.ipc.request = None;
                }
            }
        }
        if req.orphan {
            for w in req.waiters {
                self.pull_in_ended(w, Err(Failure::Protocol), plat);
            }
            return;
        }
        match req.kind {
            RequestKind::PullIn => {
                for p in req.first..req.first + req.npages {
                    if self.mappers.in_flight.get(&(req.cache, p)) == Some(&id) {
                        self.mappers.in_flight.remove(&(req.cache, p));
                    }
                }
                if let Some(s) = self.mappers.segments.get_mut(&req.segment) {
                    s.pulls = s.pulls.saturating_sub(1);
                }
                for w in req.waiters {
                    self.pull_in_ended(w, outcome, plat);
                }
            }
            RequestKind::PushOut => {
                if outcome.is_ok() {
                    let flush =
                        self.mem
                            .segment_clean(req.cache, req.first, req.first + req.npages);
                    apply_flush(&self.mem, &flush, plat);
                }
                self.pushout_ended(req.segment, plat);
            }
            RequestKind::Release => self.release_ended(req.segment),
        }
    }

    /// A pull-in that thread `w` waited for ended.
    fn pull_in_ended(
        &mut self,
        w: ThreadId,
        outcome: Result<(), Failure>,
        plat: &mut impl Platform,
    ) {
        let parked = self
            .threads
            .get(w.0)
            .is_some_and(|t| t.state == ThreadState::Ipc(crate::ipc::IpcWait::Mapper));
        if !parked {
            self.mappers.waits.remove(&w);
            return;
        }
        match (self.mappers.waits.get(&w).copied(), outcome) {
            (None, _) => {}
            (Some(Wait::Fault { .. }), Ok(())) => {
                self.mappers.waits.remove(&w);
                if let Some(t) = self.threads.get_mut(w.0) {
                    // Resumes at the faulting instruction, which now finds the page.
                    t.state = ThreadState::Ready;
                    self.sched.enqueue(w);
                }
            }
            (Some(Wait::Fault { addr, rip }), Err(f)) => {
                self.mappers.waits.remove(&w);
                self.kill_for_pull_in(w, addr, rip, f, plat);
            }
            (Some(Wait::Call { call, outstanding }), Ok(())) => {
                if outstanding > 1 {
                    let outstanding = outstanding - 1;
                    self.mappers
                        .waits
                        .insert(w, Wait::Call { call, outstanding });
                    return;
                }
                self.mappers.waits.remove(&w);
                let result = match call {
                    PendingCall::Init(pending) => self.complete_init(&pending, plat),
                    PendingCall::Dup {
                        target,
                        source,
                        mode,
                    } => match self.dup_or_pull_in(w, target, source, mode, plat) {
                        // Pages went missing meanwhile: parked again.
                        Ok(None) => return,
                        Ok(Some(v)) => Ok(v),
                        Err(e) => Err(e),
                    },
                    PendingCall::Range(range) => match self.range_call_or_pull_in(w, range, plat) {
                        Ok(None) => return,
                        Ok(Some(v)) => Ok(v),
                        Err(e) => Err(e),
                    },
                };
                self.wake(w, crate::error::encode(Convention::Chorus, result));
            }
            (Some(Wait::Call { .. }), Err(f)) => {
                self.mappers.waits.remove(&w);
                self.wake(w, crate::error::encode(Convention::Chorus, Err(f.error())));
            }
        }
    }

    /// Kills a thread whose fault could not be resolved because the pull-in
    /// failed, with one console line naming the mapper's answer.
    pub(crate) fn kill_for_pull_in(
        &mut self,
        w: ThreadId,
        addr: u64,
        rip: u64,
        f: Failure,
        plat: &mut impl Platform,
    ) {
        let Some(t) = self.threads.get(w.0) else {
            return;
        };
        let (number, process) = (t.number, t.process);
        let mut line = crate::console::Line::new();
        line.push_bytes(b"ferrite: ");
        match self.processes.get(process.0) {
            Some(p) if p.is_init => line.push_bytes(b"[init]"),
            Some(p) => {
                let _ = core::fmt::Write::write_fmt(&mut line, format_args!("[p{}]", p.stamp));
            }
            None => line.push_bytes(b"[?]"),
        }
        let _ = match f {
            Failure::Protocol => core::fmt::Write::write_fmt(
                &mut line,
                format_args!(
                    " thread {number} killed: #PF page fault (pull-in failed: the mapper broke the protocol, K_EMAPPER) at address {addr:#x}, rip {rip:#x}"
                ),
            ),
            Failure::Diag(d) => core::fmt::Write::write_fmt(
                &mut line,
                format_args!(
                    " thread {number} killed: #PF page fault (pull-in failed: the mapper refused with diag {d}) at address {addr:#x}, rip {rip:#x}"
                ),
            ),
        };
        line.emit(plat);
        self.end_thread(w, ExitStatus::Killed, plat);
    }

    /// RGN_INIT after its pull-ins: the snapshot, and `startAddr` written
    /// back for `K_ANYWHERE` (all or nothing).
    pub(crate) fn complete_init(
        &mut self,
        pending: &PendingInit,
        plat: &mut impl Platform,
    ) -> Result<u64, Error> {
        let cache = self
            .mappers
            .segments
            .get(&pending.segment)
            .map(|s| s.cache)
            .ok_or(Error::Mapper)?;
        let (start, flush) =
            self.mem
                .segment_init(pending.space, &pending.req, cache, pending.first)?;
        apply_flush(&self.mem, &flush, plat);
        if matches!(pending.req.place, abi::args::Placement::Anywhere) {
            let updated = KnRgnDesc {
                startAddr: start,
                ..pending.desc
            };
            let out = UserPtr::<KnRgnDesc>::new(pending.desc_ptr);
            if let Err(e) = out.write(&mut self.mem, pending.space, &updated, plat) {
                let range = UserRange::pages(start, pending.req.npages)?;
                if let Ok(flush) = self.mem.free(pending.space, range) {
                    apply_flush(&self.mem, &flush, plat);
                }
                return Err(e);
            }
        }
        Ok(0)
    }

    /// A thread ends: it no longer waits for a pull-in, and a request it
    /// held ends with `K_EMAPPER` (it took the request and never answered).
    pub(crate) fn mapper_thread_ended(
        &mut self,
        t: ThreadId,
        held: Option<RequestId>,
        plat: &mut impl Platform,
    ) {
        self.mappers.waits.remove(&t);
        if let Some(id) = held {
            if let Some(req) = self.mappers.requests.get_mut(&id) {
                req.holder = None;
            }
            self.finish_request(id, Err(Failure::Protocol), plat);
        }
    }
}
