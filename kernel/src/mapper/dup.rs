//! RGN_DUP of mapper-backed regions (ABI §4.4 rule 4): a private copy first pulls in every page its segment's cache lacks, then is a snapshot like any copy.

use super::PendingCall;
use crate::error::Error;
use crate::platform::Platform;
use crate::thread::ThreadId;
use crate::usercopy::apply_flush;
use crate::Kernel;
use abi::args::DupMode;
use abi::layout::PAGE_SIZE;
use abi::mapper::MP_MAX_REQUEST;
use mm::{PhysMem, SpaceId};

impl<P: PhysMem> Kernel<P> {
    /// RGN_DUP after the capability and flag checks: `Overlap` and
    /// `NoMemory` first; then, if privately copied segment regions lack
    /// pages, thread `t` is parked while they are pulled in (`Ok(None)`);
    /// else the duplication is done (`Ok(Some(0))`).
    ///
    /// # Errors
    /// `Overlap`, `NoMemory`, `Mapper` (a segment's mapper is gone).
    pub(crate) fn dup_or_pull_in(
        &mut self,
        t: ThreadId,
        target: SpaceId,
        source: SpaceId,
        mode: DupMode,
        plat: &mut impl Platform,
    ) -> Result<Option<u64>, Error> {
        let gaps = self
            .mem
            .dup_segment_gaps(target, source, mode, MP_MAX_REQUEST / PAGE_SIZE)?;
        if gaps.is_empty() {
            let flush = self.mem.dup(target, source, mode)?;
            apply_flush(&self.mem, &flush, plat);
            return Ok(Some(0));
        }
        let call = PendingCall::Dup {
            target,
            source,
            mode,
        };
        self.call_pull_ins(t, call, &gaps, plat)?;
        Ok(None)
    }
}
