//! Starting pull-ins: for a faulting thread (one page, one request however many threads touch it) and for RGN_INIT (every missing page).

use super::{Failure, PendingInit, RequestKind, Wait};
use crate::ipc::IpcWait;
use crate::platform::Platform;
use crate::thread::{ThreadId, ThreadState};
use crate::Kernel;
use abi::layout::PAGE_SIZE;
use abi::mapper::{MP_ACCESS_READ, MP_ACCESS_WRITE, MP_MAX_REQUEST};
use alloc::vec;
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
            key,
            cache,
            page,
            1,
            access,
            vec![t],
            plat,
        );
    }

    /// RGN_INIT found pages `runs` missing from the cache: the caller `t`
    /// is parked and completes when the last of their pull-ins has ended.
    pub(crate) fn init_pull_ins(
        &mut self,
        t: ThreadId,
        mut pending: PendingInit,
        runs: &[(u64, u64)],
        plat: &mut impl Platform,
    ) {
        let Some(cache) = self.mappers.segments.get(&pending.segment).map(|s| s.cache) else {
            return;
        };
        // Pages already coming in for someone else are waited for, not asked again.
        let mut joined = alloc::collections::BTreeSet::new();
        let mut fresh = alloc::vec::Vec::new();
        for &(s, e) in runs {
            let mut run_start = None;
            for p in s..=e {
                let busy = p < e && self.mappers.in_flight.contains_key(&(cache, p));
                if p < e && busy {
                    joined.insert(self.mappers.in_flight[&(cache, p)]);
                }
                match (run_start, p < e && !busy) {
                    (None, true) => run_start = Some(p),
                    (Some(a), false) => {
                        fresh.push((a, p));
                        run_start = None;
                    }
                    _ => {}
                }
            }
        }
        let max = MP_MAX_REQUEST / PAGE_SIZE;
        let mut pieces = alloc::vec::Vec::new();
        for (a, b) in fresh {
            let mut s = a;
            while s < b {
                let e = (s + max).min(b);
                pieces.push((s, e));
                s = e;
            }
        }
        pending.outstanding = (joined.len() + pieces.len()) as u32;
        self.mappers.waits.insert(t, Wait::Init(pending));
        if let Some(th) = self.threads.get_mut(t.0) {
            th.state = ThreadState::Ipc(IpcWait::Mapper);
        }
        for id in joined {
            if let Some(req) = self.mappers.requests.get_mut(&id) {
                req.waiters.push(t);
            }
        }
        for (s, e) in pieces {
            self.send_request(
                RequestKind::PullIn,
                pending.segment,
                cache,
                s,
                e - s,
                MP_ACCESS_READ,
                vec![t],
                plat,
            );
        }
    }
}
