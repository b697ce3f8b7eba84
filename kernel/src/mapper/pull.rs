//! Starting pull-ins: for a faulting thread (one page, one request however many threads touch it) and for RGN_INIT (every missing page).

use super::queue::RequestPages;
use super::{Failure, PendingCall, RequestKind, Wait};
use crate::error::Error;
use crate::ipc::IpcWait;
use crate::platform::Platform;
use crate::thread::{ThreadId, ThreadState};
use crate::Kernel;
use abi::layout::PAGE_SIZE;
use abi::mapper::{MP_ACCESS_READ, MP_ACCESS_WRITE, MP_MAX_REQUEST};
use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use mm::{Access, PhysMem, SegmentId};

impl<P: PhysMem> Kernel<P> {
    /// Thread `t` faulted on page `page` of `cache`, which lacks it: `t` is
    /// parked until the page is pulled in (joining a pull-in under way), or
    /// killed at once if the segment's mapper is gone.
    pub(crate) fn fault_pull_in(
        &mut self,
        t: ThreadId,
        cache: SegmentId,
        page: u64,
        access: Access,
        (addr, rip): (u64, u64),
        plat: &mut impl Platform,
    ) {
        let key = self.mappers.by_cache.get(&cache).copied();
        let Some(key) = key.filter(|k| self.endpoints.get(k.endpoint.0).is_some()) else {
            self.kill_for_pull_in(t, addr, rip, Failure::Protocol, plat);
            return;
        };
        self.mappers.waits.insert(t, Wait::Fault { addr, rip });
        if let Some(th) = self.threads.get_mut(t.0) {
            th.state = ThreadState::Ipc(IpcWait::Mapper);
        }
        if let Some(&id) = self.mappers.in_flight.get(&(cache, page)) {
            if let Some(req) = self.mappers.requests.get_mut(&id) {
                req.waiters.push(t);
                return;
            }
        }
        let access = if access == Access::Write {
            MP_ACCESS_WRITE
        } else {
            MP_ACCESS_READ
        };
        self.send_request(
            RequestKind::PullIn,
            RequestPages {
                segment: key,
                cache,
                first: page,
                npages: 1,
            },
            access,
            vec![t],
            plat,
        );
    }

    /// A call (RGN_INIT, RGN_DUP) found pages missing from caches (`gaps`:
    /// cache, first page, end page): the caller `t` is parked and completes
    /// when the last of their pull-ins has ended. Pages already coming in for
    /// someone else are waited for, not asked again.
    ///
    /// # Errors
    /// `Mapper` if a segment's mapper is gone (nothing parked, nothing
    /// sent), or if a request ended at once against the protocol (the
    /// caller is running again).
    pub(crate) fn call_pull_ins(
        &mut self,
        t: ThreadId,
        call: PendingCall,
        gaps: &[(SegmentId, u64, u64)],
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        let mut keys = Vec::with_capacity(gaps.len());
        for &(cache, _, _) in gaps {
            let key = self.mappers.by_cache.get(&cache).copied();
            match key.filter(|k| self.endpoints.get(k.endpoint.0).is_some()) {
                Some(k) => keys.push(k),
                None => return Err(Error::Mapper),
            }
        }
        let mut joined = BTreeSet::new();
        let mut fresh = Vec::new();
        for (&(cache, s, e), &key) in gaps.iter().zip(&keys) {
            let mut run_start = None;
            for p in s..=e {
                let busy = if p < e {
                    self.mappers.in_flight.get(&(cache, p)).copied()
                } else {
                    None
                };
                if let Some(id) = busy {
                    joined.insert(id);
                }
                match (run_start, p < e && busy.is_none()) {
                    (None, true) => run_start = Some(p),
                    (Some(a), false) => {
                        fresh.push((key, cache, a, p));
                        run_start = None;
                    }
                    _ => {}
                }
            }
        }
        let max = MP_MAX_REQUEST / PAGE_SIZE;
        let mut pieces = Vec::new();
        for (key, cache, a, b) in fresh {
            let mut s = a;
            while s < b {
                let e = (s + max).min(b);
                pieces.push((key, cache, s, e));
                s = e;
            }
        }
        let outstanding = (joined.len() + pieces.len()) as u32;
        self.mappers
            .waits
            .insert(t, Wait::Call { call, outstanding });
        if let Some(th) = self.threads.get_mut(t.0) {
            th.state = ThreadState::Ipc(IpcWait::Mapper);
        }
        for id in joined {
            if let Some(req) = self.mappers.requests.get_mut(&id) {
                req.waiters.push(t);
            }
        }
        for (key, cache, s, e) in pieces {
            self.send_request(
                RequestKind::PullIn,
                RequestPages {
                    segment: key,
                    cache,
                    first: s,
                    npages: e - s,
                },
                MP_ACCESS_READ,
                vec![t],
                plat,
            );
        }
        if let Some(th) = self.threads.get_mut(t.0) {
            if th.state == ThreadState::Ready {
                // A request ended at once (a receiver too small for it) and
                // woke the caller, which is still running this call: take it
                // back and fail the call the ordinary way.
                th.state = ThreadState::Running;
                self.sched.remove(t);
                return Err(Error::Mapper);
            }
        }
        Ok(())
    }
}
