//! Write-back (ABI §4.5): when no region maps a cache any more, push out its written pages, then release it, then free it — never making anyone wait.

use super::queue::RequestPages;
use super::{Failure, RequestKind, SegmentKey};
use crate::endpoint::EndpointId;
use crate::platform::Platform;
use crate::Kernel;
use abi::layout::PAGE_SIZE;
use abi::mapper::{MP_ACCESS_NONE, MP_MAX_REQUEST};
use alloc::vec::Vec;
use mm::{PhysMem, SegmentId};

impl<P: PhysMem> Kernel<P> {
    /// After every trap: caches that lost their last region start their
    /// write-back once no pull-in for them is under way.
    pub(crate) fn mapper_housekeeping(&mut self, plat: &mut impl Platform) {
        if self.mappers.dead_endpoints.is_empty()
            && self.mappers.unmapped.is_empty()
            && !self.mem.has_unmapped_segments()
        {
            // The common case, after almost every trap: nothing to do.
            return;
        }
        for e in core::mem::take(&mut self.mappers.dead_endpoints) {
            self.mapper_endpoint_destroyed(e, plat);
        }
        for cache in self.mem.take_unmapped_segments() {
            self.mappers.unmapped.insert(cache);
        }
        if self.mappers.unmapped.is_empty() {
            return;
        }
        let ready: Vec<_> = self
            .mappers
            .unmapped
            .iter()
            .copied()
            .filter(|cache| {
                self.mappers
                    .by_cache
                    .get(cache)
                    .and_then(|k| self.mappers.segments.get(k))
                    .is_none_or(|s| s.pulls == 0)
            })
            .collect();
        for cache in ready {
            self.mappers.unmapped.remove(&cache);
            if self.mem.segment_mapped(cache) {
                continue;
            }
            match self.mappers.by_cache.get(&cache).copied() {
                Some(key) => self.start_writeback(key, plat),
                None => {
                    self.mem.segment_drop(cache);
                }
            }
        }
    }

    /// Sends a push-out for every run of written pages (at most 64 KiB
    /// each), then the release once they have ended.
    fn start_writeback(&mut self, key: SegmentKey, plat: &mut impl Platform) {
        let Some(seg) = self.mappers.segments.get_mut(&key) else {
            return;
        };
        if seg.releasing {
            return;
        }
        seg.releasing = true;
        let cache = seg.cache;
        if self.endpoints.get(key.endpoint.0).is_none() {
            self.forget_segment(key);
            return;
        }
        let runs = self
            .mem
            .segment_dirty_runs(cache, MP_MAX_REQUEST / PAGE_SIZE);
        if let Some(seg) = self.mappers.segments.get_mut(&key) {
            seg.pushouts = runs.len() as u32;
        }
        if runs.is_empty() {
            self.send_writeback(RequestKind::Release, key, cache, (0, 0), plat);
            return;
        }
        for run in runs {
            self.send_writeback(RequestKind::PushOut, key, cache, run, plat);
        }
    }

    /// Sends the write-back request `kind` for segment `key`: MP_PUSH_OUT
    /// of cache pages `[start, end)`, or MP_RELEASE with `(0, 0)`.
    fn send_writeback(
        &mut self,
        kind: RequestKind,
        key: SegmentKey,
        cache: SegmentId,
        (start, end): (u64, u64),
        plat: &mut impl Platform,
    ) {
        let pages = RequestPages {
            segment: key,
            cache,
            first: start,
            npages: end - start,
        };
        self.send_request(kind, pages, MP_ACCESS_NONE, Vec::new(), plat);
    }

    /// A push-out of the write-back ended (written, refused or failed): the
    /// release follows the last one.
    pub(crate) fn pushout_ended(&mut self, key: SegmentKey, plat: &mut impl Platform) {
        let Some(seg) = self.mappers.segments.get_mut(&key) else {
            return;
        };
        seg.pushouts = seg.pushouts.saturating_sub(1);
        if seg.pushouts == 0 && seg.releasing {
            let cache = seg.cache;
            self.send_writeback(RequestKind::Release, key, cache, (0, 0), plat);
        }
    }

    /// The release ended: the cache is freed, unless a region maps it again
    /// or a call is pulling pages into it (then the next housekeeping
    /// starts a new write-back).
    pub(crate) fn release_ended(&mut self, key: SegmentKey) {
        let Some(seg) = self.mappers.segments.get(&key) else {
            return;
        };
        if seg.releasing && !self.mem.segment_mapped(seg.cache) {
            if seg.pulls == 0 {
                self.forget_segment(key);
            } else if let Some(seg) = self.mappers.segments.get_mut(&key) {
                seg.releasing = false;
                self.mappers.unmapped.insert(seg.cache);
            }
        }
    }

    /// Frees the cache and forgets the segment. Requests still about it are
    /// withdrawn, or, if a mapper thread holds them, orphaned: their
    /// answer no longer touches anything.
    fn forget_segment(&mut self, key: SegmentKey) {
        let ids: Vec<_> = self
            .mappers
            .requests
            .iter()
            .filter(|(_, r)| r.segment == key)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.withdraw_request(id);
            let taken = self
                .mappers
                .requests
                .get(&id)
                .is_some_and(|r| r.holder.is_some());
            if taken {
                if let Some(r) = self.mappers.requests.get_mut(&id) {
                    r.orphan = true;
                }
            } else {
                self.mappers.requests.remove(&id);
            }
        }
        if let Some(seg) = self.mappers.segments.remove(&key) {
            self.mappers.by_cache.remove(&seg.cache);
            self.mappers.unmapped.remove(&seg.cache);
            self.mem.segment_drop(seg.cache);
        }
    }

    /// A RGN_MAP of a cache under write-back: the write-back stops (what
    /// the mapper has not taken is withdrawn) and the cache lives on.
    pub(crate) fn cancel_writeback(&mut self, key: SegmentKey) {
        let Some(seg) = self.mappers.segments.get_mut(&key) else {
            return;
        };
        if !seg.releasing {
            return;
        }
        seg.releasing = false;
        seg.pushouts = 0;
        let queued: Vec<_> = self
            .mappers
            .requests
            .iter()
            .filter(|(_, r)| {
                r.segment == key && r.kind != RequestKind::PullIn && r.holder.is_none()
            })
            .map(|(&id, _)| id)
            .collect();
        for id in queued {
            self.withdraw_request(id);
            self.mappers.requests.remove(&id);
        }
    }

    /// The mapper's endpoint is destroyed: every request to it fails with
    /// `K_EMAPPER` (pages not yet pushed out are dropped), caches no region
    /// maps are freed, and its stamp names nothing any more.
    fn mapper_endpoint_destroyed(&mut self, e: EndpointId, plat: &mut impl Platform) {
        let ids: Vec<_> = self
            .mappers
            .requests
            .iter()
            .filter(|(_, r)| r.segment.endpoint == e)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.finish_request(id, Err(Failure::Protocol), plat);
        }
        let keys: Vec<_> = self
            .mappers
            .segments
            .keys()
            .copied()
            .filter(|k| k.endpoint == e)
            .collect();
        for key in keys {
            if let Some(seg) = self.mappers.segments.get(&key) {
                if !self.mem.segment_mapped(seg.cache) {
                    self.forget_segment(key);
                }
            }
        }
    }
}
