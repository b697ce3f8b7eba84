//! RGN_MAP_FROM_ACTOR (75) and RGN_INIT_FROM_ACTOR (76): ChorusOS's range calls (ABI §4.3), each check in the ABI's order.

use super::{Caller, Outcome, SysResult};
use crate::error::Error;
use crate::mapper::PendingCall;
use crate::platform::Platform;
use crate::usercopy::{apply_flush, UserPtr};
use crate::Kernel;
use abi::args::{Allocation, UserRange};
use abi::layout::{is_page_aligned, PAGE_SIZE};
use abi::mapper::{KnRgnFromActorArgs, MP_MAX_REQUEST};
use abi::region::K_ANYWHERE;
use abi::types::KnRgnDesc;
use mm::{PhysMem, SpaceId};

/// A range call after its checks.
#[derive(Clone, Copy)]
pub(crate) struct RangeCall {
    pub target: SpaceId,
    pub req: Allocation,
    pub source: SpaceId,
    pub src_start: u64,
    pub copy: bool,
    /// Where the target descriptor is (in the caller's space) and what it held.
    pub caller_space: SpaceId,
    pub desc_ptr: u64,
    pub desc: KnRgnDesc,
}

impl<P: PhysMem> Kernel<P> {
    /// RGN_MAP_FROM_ACTOR (`copy` false) and RGN_INIT_FROM_ACTOR (`copy`
    /// true). Errors in order: `K_EFAULT` (the argument structure, the two
    /// capabilities, the two descriptors; the target descriptor writable for
    /// `K_ANYWHERE`), `K_EINVAL` (a capability inconsistent or `K_SVACTOR`),
    /// `K_EUNKNOWN`, `K_EINVAL` (the target descriptor as for RGN_ALLOCATE,
    /// `src.startAddr` unaligned, `src.size` neither 0 nor the target's
    /// size, the source range outside user space or with holes),
    /// `K_EOVERLAP`, `K_ENOMEM`; then, for a copy, `K_EMAPPER` or a mapper's
    /// negative diag.
    pub(super) fn sys_rgn_from_actor(
        &mut self,
        caller: Caller,
        args_ptr: u64,
        copy: bool,
        plat: &mut impl Platform,
    ) -> SysResult {
        let args: KnRgnFromActorArgs =
            UserPtr::new(args_ptr).read(&mut self.mem, caller.space, plat)?;
        let tgt_cap = self.read_cap(caller, args.tgtactorcap, plat)?;
        let desc: KnRgnDesc =
            UserPtr::new(args.tgtrgndesc).read(&mut self.mem, caller.space, plat)?;
        let src_cap = self.read_cap(caller, args.srcactorcap, plat)?;
        let src: KnRgnDesc =
            UserPtr::new(args.srcrgndesc).read(&mut self.mem, caller.space, plat)?;
        if desc.options & K_ANYWHERE != 0 {
            UserPtr::<KnRgnDesc>::new(args.tgtrgndesc).write(
                &mut self.mem,
                caller.space,
                &desc,
                plat,
            )?;
        }
        let (target, source) = self.resolve_pair(caller, tgt_cap, src_cap)?;
        let req = Allocation::decode(&desc)?;
        let len = req.npages * PAGE_SIZE;
        if !is_page_aligned(src.startAddr) || (src.size != 0 && src.size != len) {
            return Err(Error::Invalid);
        }
        UserRange::pages(src.startAddr, req.npages)?;
        let call = RangeCall {
            target: self.space_of(target)?,
            req,
            source: self.space_of(source)?,
            src_start: src.startAddr,
            copy,
            caller_space: caller.space,
            desc_ptr: args.tgtrgndesc,
            desc,
        };
        match self.range_call_or_pull_in(caller.thread, call, plat)? {
            Some(v) => Ok(Outcome::Return(v)),
            None => Ok(Outcome::NoReturn),
        }
    }

    /// Runs a checked range call, or parks thread `t` while the segment
    /// pages a copy needs are pulled in (`Ok(None)`; it completes when the
    /// last arrives).
    ///
    /// # Errors
    /// `Invalid` (source holes), `Overlap`, `NoMemory`, `BadPointer` (the
    /// start could not be written back), `Mapper` (a segment's mapper is gone).
    pub(crate) fn range_call_or_pull_in(
        &mut self,
        t: crate::thread::ThreadId,
        call: RangeCall,
        plat: &mut impl Platform,
    ) -> Result<Option<u64>, Error> {
        let gaps = self.mem.range_call_check(
            call.target,
            &call.req,
            call.source,
            call.src_start,
            call.copy,
            MP_MAX_REQUEST / PAGE_SIZE,
        )?;
        if !gaps.is_empty() {
            self.call_pull_ins(t, PendingCall::Range(call), &gaps, plat)?;
            return Ok(None);
        }
        let (start, flush) = self.mem.range_call(
            call.target,
            &call.req,
            call.source,
            call.src_start,
            call.copy,
        )?;
        apply_flush(&self.mem, &flush, plat);
        if call.desc.options & K_ANYWHERE != 0 {
            let updated = KnRgnDesc {
                startAddr: start,
                ..call.desc
            };
            if let Err(e) =
                UserPtr::new(call.desc_ptr).write(&mut self.mem, call.caller_space, &updated, plat)
            {
                let range = UserRange::pages(start, call.req.npages)?;
                if let Ok(flush) = self.mem.free(call.target, range) {
                    apply_flush(&self.mem, &flush, plat);
                }
                return Err(e);
            }
        }
        Ok(Some(0))
    }
}
