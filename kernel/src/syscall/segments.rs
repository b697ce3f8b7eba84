//! ENDPOINT_UI (ABI §7), RGN_MAP and RGN_INIT (ABI §4.5), each check in the ABI's order.

use super::{Caller, Outcome, SysResult};
use crate::descriptor::Slot;
use crate::error::Error;
use crate::mapper::{PendingCall, PendingInit, Segment, SegmentKey};
use crate::platform::Platform;
use crate::process::ProcessId;
use crate::usercopy::{apply_flush, UserBytes, UserPtr};
use crate::Kernel;
use abi::args::UserRange;
use abi::layout::PAGE_SIZE;
use abi::mapper::{
    port_ui_head, segment_name, KnObjDesc, SegmentName, SegmentWindow, MP_MAX_REQUEST,
};
use abi::perms::JINUE_PERM_RECEIVE;
use abi::region::{K_ANYWHERE, SITE_NUMBER};
use abi::types::KnRgnDesc;
use mm::{PhysMem, SpaceId};

/// RGN_MAP and RGN_INIT after their checks.
struct Checked {
    space: SpaceId,
    window: SegmentWindow,
    segment: SegmentKey,
    desc: KnRgnDesc,
}

impl<P: PhysMem> Kernel<P> {
    /// ENDPOINT_UI (99): `EBADF` (number, slot free, not an endpoint),
    /// `EIO` (destroyed), `EPERM` (no `RECEIVE`), `EINVAL` (out pointer).
    pub(super) fn sys_endpoint_ui(
        &mut self,
        caller: Caller,
        fd: u64,
        out: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let slot = Slot::new(fd)?;
        let d = self.descriptor(caller.process, slot)?;
        let e = self.endpoint_of(&d)?;
        if !d.allows(JINUE_PERM_RECEIVE) {
            return Err(Error::Permission);
        }
        let stamp = self.endpoints.get(e.0).ok_or(Error::Dead)?.stamp;
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&port_ui_head(stamp).to_le_bytes());
        bytes[4..].copy_from_slice(&SITE_NUMBER.to_le_bytes());
        UserBytes::new(out, 8).write(&mut self.mem, caller.space, &bytes, plat)?;
        Ok(Outcome::Return(0))
    }

    /// The checks RGN_MAP and RGN_INIT share, in the ABI §4.5 order:
    /// `K_EFAULT` (the three pointers; the descriptor writable for
    /// `K_ANYWHERE`), `K_EINVAL`/`K_EUNKNOWN` (actor), `K_EINVAL` (segment
    /// capability type or site), `K_EUNKNOWN` (no live endpoint), `K_EINVAL`
    /// (the descriptors).
    fn check_segment_call(
        &mut self,
        caller: Caller,
        (cap_ptr, desc_ptr, obj_ptr): (u64, u64, u64),
        plat: &mut impl Platform,
    ) -> Result<Checked, Error> {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let desc: KnRgnDesc = UserPtr::new(desc_ptr).read(&mut self.mem, caller.space, plat)?;
        let obj: KnObjDesc = UserPtr::new(obj_ptr).read(&mut self.mem, caller.space, plat)?;
        if desc.options & K_ANYWHERE != 0 {
            UserPtr::<KnRgnDesc>::new(desc_ptr).write(&mut self.mem, caller.space, &desc, plat)?;
        }
        let actor: ProcessId = self.resolve(caller, cap)?;
        let SegmentName::Port { stamp, key } = segment_name(&obj.dataObject) else {
            return Err(Error::Invalid);
        };
        let endpoint = *self.mappers.ports.get(&stamp).ok_or(Error::Unreachable)?;
        let window = SegmentWindow::decode(&desc, &obj)?;
        Ok(Checked {
            space: self.space_of(actor)?,
            window,
            segment: SegmentKey { endpoint, key },
            desc,
        })
    }

    /// Writes the chosen start back for `K_ANYWHERE`; on failure (the
    /// descriptor became unwritable) the new region is freed again.
    fn write_back_start(
        &mut self,
        caller: Caller,
        c: &Checked,
        desc_ptr: u64,
        start: u64,
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        if c.desc.options & K_ANYWHERE == 0 {
            return Ok(());
        }
        let updated = KnRgnDesc {
            startAddr: start,
            ..c.desc
        };
        if let Err(e) = UserPtr::new(desc_ptr).write(&mut self.mem, caller.space, &updated, plat) {
            let range = UserRange::pages(start, c.window.region.npages)?;
            if let Ok(flush) = self.mem.free(c.space, range) {
                apply_flush(&self.mem, &flush, plat);
            }
            return Err(e);
        }
        Ok(())
    }

    /// RGN_MAP (73): a region over the segment's cache (created on first
    /// use; a cache under write-back is taken back). No mapper transaction.
    pub(super) fn sys_rgn_map(
        &mut self,
        caller: Caller,
        (cap_ptr, desc_ptr, obj_ptr): (u64, u64, u64),
        plat: &mut impl Platform,
    ) -> SysResult {
        let c = self.check_segment_call(caller, (cap_ptr, desc_ptr, obj_ptr), plat)?;
        let cache = self.mappers.segments.get(&c.segment).map(|s| s.cache);
        let (start, cache) =
            self.mem
                .segment_map(c.space, &c.window.region, cache, c.window.first_page)?;
        self.note_segment(c.segment, cache);
        self.cancel_writeback(c.segment);
        self.write_back_start(caller, &c, desc_ptr, start, plat)?;
        Ok(Outcome::Return(0))
    }

    /// Records the cache of a segment the first time it is used.
    fn note_segment(&mut self, key: SegmentKey, cache: mm::SegmentId) {
        if let alloc::collections::btree_map::Entry::Vacant(slot) = self.mappers.segments.entry(key)
        {
            slot.insert(Segment {
                cache,
                pulls: 0,
                pushouts: 0,
                releasing: false,
            });
            self.mappers.by_cache.insert(cache, key);
        }
    }

    /// RGN_INIT (74): the window is held in the cache, its missing pages
    /// are pulled in (the caller waits), then the region is a private
    /// snapshot. `K_EOVERLAP` and `K_ENOMEM` come before any pull-in;
    /// `K_EMAPPER` or the mapper's negative diag after.
    pub(super) fn sys_rgn_init(
        &mut self,
        caller: Caller,
        (cap_ptr, desc_ptr, obj_ptr): (u64, u64, u64),
        plat: &mut impl Platform,
    ) -> SysResult {
        let c = self.check_segment_call(caller, (cap_ptr, desc_ptr, obj_ptr), plat)?;
        self.mem.segment_check_place(c.space, &c.window.region)?;
        let cache = self.mappers.segments.get(&c.segment).map(|s| s.cache);
        let npages = c.window.region.npages;
        let first = c.window.first_page;
        let cache = self.mem.segment_hold(cache, first, npages)?;
        self.note_segment(c.segment, cache);
        // A cache under write-back is taken back, as by RGN_MAP.
        self.cancel_writeback(c.segment);
        let pending = PendingInit {
            space: c.space,
            req: c.window.region,
            segment: c.segment,
            first,
            desc_ptr,
            desc: c.desc,
        };
        let runs = self
            .mem
            .segment_missing(cache, first, npages, MP_MAX_REQUEST / PAGE_SIZE);
        if runs.is_empty() {
            return self.complete_init(&pending, plat).map(Outcome::Return);
        }
        let gaps: alloc::vec::Vec<_> = runs.iter().map(|&(s, e)| (cache, s, e)).collect();
        self.call_pull_ins(caller.thread, PendingCall::Init(pending), &gaps, plat)?;
        Ok(Outcome::NoReturn)
    }
}
