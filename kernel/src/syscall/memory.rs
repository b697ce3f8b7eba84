//! The memory calls: MCLONE (ABI §3.1), RGN_ALLOCATE/FREE/STAT/SET_INHERIT/SET_PROTECT (§4.3), RGN_DUP (§4.4), MEMSTAT (§7).
//!
//! Each handler copies its structures in, decodes every raw word into an
//! `abi::args` type in the ABI's error order, resolves descriptors and
//! capabilities, and hands the types to one `mm` operation, which never
//! looks at a raw word again.

use super::{Caller, Outcome, SysResult};
use crate::descriptor::Slot;
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::{apply_flush, UserBytes, UserPtr};
use crate::Kernel;
use abi::args::{Allocation, DupMode, Inherit, MClone, PageRange, Prot, UserRange};
use abi::memstat::MemStat;
use abi::perms::JINUE_PERM_MAP;
use abi::region::{K_ANYWHERE, K_FREEALL};
use abi::types::{JinueBuffer, KnRgnDesc, KnRgnStat, MCloneArgs, Wire};
use alloc::vec;
use mm::{Flush, PhysMem, SpaceId};

/// Most `KnRgnStat` entries RGN_STAT builds at once (12 KiB of kernel heap).
const STAT_CHUNK: usize = 256;

impl<P: PhysMem> Kernel<P> {
    /// MCLONE (15): errors in exactly the ABI §3.1 order:
    ///
    /// 1. `EBADF`: descriptor numbers (value only);
    /// 2. `EINVAL`: argument structure unreadable;
    /// 3. `EINVAL`: misaligned ([`MClone::decode`], as 4 and 5);
    /// 4. `EINVAL`: `prot`;
    /// 5. `EINVAL`: a range in the kernel;
    /// 6. `EBADF`/`EIO`: source;
    /// 7. `EBADF`/`EIO`: destination;
    /// 8. `EPERM`: destination lacks `MAP`;
    /// 9. `ENOMEM` (mm).
    ///
    /// The structure is copied in once; all-or-nothing is mm's.
    pub(super) fn sys_mclone(
        &mut self,
        caller: Caller,
        src_fd: u64,
        dest_fd: u64,
        args_addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let src_slot = Slot::new(src_fd)?;
        let dest_slot = Slot::new(dest_fd)?;
        let args: MCloneArgs = UserPtr::new(args_addr).read(&mut self.mem, caller.space, plat)?;
        let request = MClone::decode(&args)?;
        let sd = self.descriptor(caller.process, src_slot)?;
        let src = self.process_of(&sd)?;
        let dd = self.descriptor(caller.process, dest_slot)?;
        let dest = self.process_of(&dd)?;
        if !dd.allows(JINUE_PERM_MAP) {
            return Err(Error::Permission);
        }
        let src_space = self.space_of(src)?;
        let dest_space = self.space_of(dest)?;
        let flush = self.mem.clone_range(src_space, dest_space, &request)?;
        self.flushed(&flush, plat)
    }

    /// Success after the TLB ranges an `mm` operation reported are flushed.
    fn flushed(&self, flush: &Flush, plat: &mut impl Platform) -> SysResult {
        apply_flush(&self.mem, flush, plat);
        Ok(Outcome::Return(0))
    }

    /// Reads the capability and the region descriptor, then resolves the
    /// actor: its address space and the descriptor.
    fn space_and_desc(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> Result<(SpaceId, KnRgnDesc), Error> {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let desc: KnRgnDesc = UserPtr::new(desc_ptr).read(&mut self.mem, caller.space, plat)?;
        let actor = self.resolve(caller, cap)?;
        Ok((self.space_of(actor)?, desc))
    }

    /// RGN_ALLOCATE (64): the descriptor decoded by [`Allocation::decode`]
    /// (ABI §4.3). With `K_ANYWHERE` the chosen address is written back to
    /// `startAddr`; the descriptor is checked writable before anything is
    /// decoded or allocated.
    pub(super) fn sys_rgn_allocate(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (space, desc) = self.space_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let out = UserPtr::<KnRgnDesc>::new(desc_ptr);
        let anywhere = desc.options & K_ANYWHERE != 0;
        if anywhere {
            // Writing back what was read changes nothing, and proves the
            // final write-back cannot fail.
            out.write(&mut self.mem, caller.space, &desc, plat)?;
        }
        let request = Allocation::decode(&desc)?;
        let start = self.mem.allocate(space, &request)?;
        if anywhere {
            let mut updated = desc;
            updated.startAddr = start;
            if let Err(e) = out.write(&mut self.mem, caller.space, &updated, plat) {
                // Unreachable after the probe above; undo rather than leak.
                let range = UserRange::pages(start, request.npages)?;
                if let Ok(flush) = self.mem.free(space, range) {
                    apply_flush(&self.mem, &flush, plat);
                }
                return Err(e);
            }
        }
        Ok(Outcome::Return(0))
    }

    /// RGN_FREE (65): `options == K_FREEALL` frees everything; otherwise
    /// `options` must be 0 (`K_EINVAL`) and the range is decoded by
    /// [`UserRange::rounded`].
    pub(super) fn sys_rgn_free(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (space, desc) = self.space_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let flush = match desc.options {
            K_FREEALL => self.mem.free_all(space),
            0 => {
                let range = UserRange::rounded(desc.startAddr, desc.size)?;
                self.mem.free(space, range)?
            }
            _ => return Err(Error::Invalid),
        };
        self.flushed(&flush, plat)
    }

    /// RGN_STAT (66): writes as many `KnRgnStat` as fit in the buffer and
    /// returns how many regions (or parts) the range holds. The whole
    /// described buffer `[addr, addr + size)` is checked writable with the
    /// other pointers, before the capability is resolved and before
    /// anything is written (ABI §1.2: `K_EFAULT`, even when nothing would be
    /// written; an empty buffer is never refused). The range's `options`
    /// are ignored; a range that wraps around is `K_EINVAL`.
    pub(super) fn sys_rgn_stat(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        buffer_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let desc: KnRgnDesc = UserPtr::new(desc_ptr).read(&mut self.mem, caller.space, plat)?;
        let buffer: JinueBuffer =
            UserPtr::new(buffer_ptr).read(&mut self.mem, caller.space, plat)?;
        UserBytes::new(buffer.addr, buffer.size).check_writable(&self.mem, caller.space)?;
        let actor = self.resolve(caller, cap)?;
        let space = self.space_of(actor)?;
        let range = PageRange::covering(desc.startAddr, desc.size)?;
        let total = self.mem.stat_count(space, range);
        let fit =
            total.min(usize::try_from(buffer.size / KnRgnStat::SIZE as u64).unwrap_or(usize::MAX));
        // Written in parts of at most STAT_CHUNK entries, so that a user
        // with many regions cannot make the kernel allocate a buffer for
        // all of them.
        let mut bytes = vec![0u8; fit.min(STAT_CHUNK) * KnRgnStat::SIZE];
        let mut at = range.start();
        let mut written = 0usize;
        while written < fit {
            let max = (fit - written).min(STAT_CHUNK);
            let part = self.mem.stat_first(space, range.from(at), max);
            let Some(last) = part.last() else {
                break;
            };
            // Entries are parts of regions, which end at most at USER_LIMIT.
            at = last.startAddr + last.size;
            let part_bytes = &mut bytes[..part.len() * KnRgnStat::SIZE];
            for (s, chunk) in part
                .iter()
                .zip(part_bytes.chunks_exact_mut(KnRgnStat::SIZE))
            {
                s.to_bytes(chunk);
            }
            // Inside the buffer checked above (written < fit).
            let addr = buffer.addr + (written * KnRgnStat::SIZE) as u64;
            UserBytes::new(addr, part_bytes.len() as u64).write(
                &mut self.mem,
                caller.space,
                part_bytes,
                plat,
            )?;
            written += part.len();
        }
        Ok(Outcome::Return(total as u64))
    }

    /// RGN_SET_INHERIT (67): options decoded by [`Inherit::from_options`].
    pub(super) fn sys_rgn_set_inherit(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (space, desc) = self.space_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let inherit = Inherit::from_options(desc.options)?;
        let range = UserRange::rounded(desc.startAddr, desc.size)?;
        self.mem.set_inherit(space, range, inherit)?;
        Ok(Outcome::Return(0))
    }

    /// RGN_SET_PROTECT (68): options decoded by [`Prot::from_options`];
    /// lowering takes effect at once (the TLB ranges mm reports are flushed
    /// before returning).
    pub(super) fn sys_rgn_set_protect(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (space, desc) = self.space_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let prot = Prot::from_options(desc.options)?;
        let range = UserRange::rounded(desc.startAddr, desc.size)?;
        let flush = self.mem.set_protect(space, range, prot)?;
        self.flushed(&flush, plat)
    }

    /// RGN_DUP (69): errors in exactly the ABI §4.4 order: `K_EFAULT`
    /// (either capability unreadable), `K_EINVAL` (either inconsistent, or
    /// `K_SVACTOR`), `K_EUNKNOWN` (either unreachable), `K_EINVAL` (flags,
    /// [`DupMode::from_flags`]), then mm's `K_EOVERLAP` (target has a
    /// region) and `K_ENOMEM`.
    pub(super) fn sys_rgn_dup(
        &mut self,
        caller: Caller,
        target_ptr: u64,
        source_ptr: u64,
        flags: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let target_cap = self.read_cap(caller, target_ptr, plat)?;
        let source_cap = self.read_cap(caller, source_ptr, plat)?;
        let (target, source) = self.resolve_pair(caller, target_cap, source_cap)?;
        let mode = DupMode::from_flags(flags)?;
        let target_space = self.space_of(target)?;
        let source_space = self.space_of(source)?;
        // Mapper-backed regions copied privately may need pull-ins first (§4.4 rule 4).
        match self.dup_or_pull_in(caller.thread, target_space, source_space, mode, plat)? {
            Some(value) => Ok(Outcome::Return(value)),
            None => Ok(Outcome::NoReturn),
        }
    }

    /// MEMSTAT (96): writes the first `min(size, 48)` bytes of the
    /// statistics. The whole described buffer `[addr, addr + size)` is
    /// checked writable first (ABI §1.2; `EINVAL`, the Jinue family's error
    /// for bad buffers); an empty one is never refused.
    pub(super) fn sys_memstat(
        &mut self,
        caller: Caller,
        addr: u64,
        size: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        UserBytes::new(addr, size).check_writable(&self.mem, caller.space)?;
        let n = size.min(MemStat::SIZE as u64) as usize;
        let mut bytes = [0u8; MemStat::SIZE];
        self.mem.memstat().to_bytes(&mut bytes);
        UserBytes::new(addr, n as u64).write(&mut self.mem, caller.space, &bytes[..n], plat)?;
        Ok(Outcome::Return(0))
    }
}
