//! The ChorusOS family (ABI §4): capabilities, RGN_ALLOCATE/FREE/STAT/SET_INHERIT/SET_PROTECT, RGN_DUP, ACTOR_SELF/DELETE.

use super::{Caller, Outcome, SysResult};
use crate::capability::{decode, Decoded};
use crate::error::Error;
use crate::platform::Platform;
use crate::process::ProcessId;
use crate::usercopy::{apply_flush, UserBytes, UserPtr};
use crate::Kernel;
use abi::region::{
    has_at_most_one_inherit_bit, K_ANYWHERE, K_FREEALL, K_INHERITCOPY, K_INHERITSHARE,
    K_INHERIT_MASK, K_MYACTOR, K_PROT_MASK, K_SVACTOR,
};
use abi::types::{JinueBuffer, KnCap, KnRgnDesc, KnRgnStat, Wire};
use alloc::vec;

/// Most `KnRgnStat` entries RGN_STAT builds at once (12 KiB of kernel heap).
const STAT_CHUNK: usize = 256;
use mm::PhysMem;

/// A `KnCap *` argument after its pointer was read (step 1 of ABI §4.4).
#[derive(Clone, Copy)]
enum CapValue {
    MyActor,
    SvActor,
    Cap(KnCap),
}

/// What a capability names among the live actors (steps 2–3 of ABI §4.4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Actor(ProcessId),
    /// `K_EINVAL`: wrong type bits, wrong key for a live actor, or `K_SVACTOR`.
    Inconsistent,
    /// `K_EUNKNOWN`: no live actor with that unique id on this site.
    Unreachable,
}

impl<P: PhysMem> Kernel<P> {
    /// Reads a `KnCap *` argument. `K_MYACTOR` and `K_SVACTOR` are pointer
    /// values, not read.
    ///
    /// # Errors
    /// `BadPointer` (`K_EFAULT`) if the capability is unreadable (NULL included).
    fn read_cap(
        &mut self,
        caller: Caller,
        ptr: u64,
        plat: &mut impl Platform,
    ) -> Result<CapValue, Error> {
        match ptr {
            K_MYACTOR => Ok(CapValue::MyActor),
            K_SVACTOR => Ok(CapValue::SvActor),
            _ => Ok(CapValue::Cap(UserPtr::new(ptr).read(
                &mut self.mem,
                caller.space,
                plat,
            )?)),
        }
    }

    fn classify(&self, caller: Caller, cap: CapValue) -> Resolved {
        let (stamp, key) = match cap {
            CapValue::MyActor => return Resolved::Actor(caller.process),
            CapValue::SvActor => return Resolved::Inconsistent,
            CapValue::Cap(c) => match decode(&c) {
                Decoded::Inconsistent => return Resolved::Inconsistent,
                Decoded::OtherSite => return Resolved::Unreachable,
                Decoded::Actor { stamp, key } => (stamp, key),
            },
        };
        let Some(&id) = self.actors.get(&stamp) else {
            return Resolved::Unreachable;
        };
        match self.processes.get(id.0) {
            Some(p) if p.dying => Resolved::Unreachable,
            Some(p) if p.key != key => Resolved::Inconsistent,
            Some(_) => Resolved::Actor(id),
            None => Resolved::Unreachable,
        }
    }

    /// The actor a read capability names.
    ///
    /// # Errors
    /// `Invalid` (inconsistent) or `Unreachable`.
    fn resolve(&self, caller: Caller, cap: CapValue) -> Result<ProcessId, Error> {
        match self.classify(caller, cap) {
            Resolved::Actor(p) => Ok(p),
            Resolved::Inconsistent => Err(Error::Invalid),
            Resolved::Unreachable => Err(Error::Unreachable),
        }
    }

    /// Reads the capability and the region descriptor, then resolves the actor.
    fn cap_and_desc(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> Result<(ProcessId, KnRgnDesc), Error> {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let desc: KnRgnDesc = UserPtr::new(desc_ptr).read(&mut self.mem, caller.space, plat)?;
        Ok((self.resolve(caller, cap)?, desc))
    }

    /// RGN_ALLOCATE (64): mm validates the options and range (ABI §4.3).
    /// With `K_ANYWHERE` the chosen address is written back to `startAddr`;
    /// the descriptor is checked writable before anything is allocated.
    pub(super) fn sys_rgn_allocate(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (actor, desc) = self.cap_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let space = self.space_of(actor)?;
        let out = UserPtr::<KnRgnDesc>::new(desc_ptr);
        let anywhere = desc.options & K_ANYWHERE != 0;
        if anywhere {
            // Writing back what was read changes nothing, and proves the
            // final write-back cannot fail.
            out.write(&mut self.mem, caller.space, &desc, plat)?;
        }
        let start = self.mem.allocate(space, &desc)?;
        if anywhere {
            let mut updated = desc;
            updated.startAddr = start;
            if let Err(e) = out.write(&mut self.mem, caller.space, &updated, plat) {
                // Unreachable after the probe above; undo rather than leak.
                if let Ok(flush) = self.mem.free(space, start, desc.size) {
                    apply_flush(&self.mem, &flush, plat);
                }
                return Err(e);
            }
        }
        Ok(Outcome::Return(0))
    }

    /// RGN_FREE (65): `options == K_FREEALL` frees everything; otherwise
    /// `options` must be 0 (`K_EINVAL`).
    pub(super) fn sys_rgn_free(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (actor, desc) = self.cap_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let space = self.space_of(actor)?;
        let flush = match desc.options {
            K_FREEALL => self.mem.free_all(space),
            0 => self.mem.free(space, desc.startAddr, desc.size)?,
            _ => return Err(Error::Invalid),
        };
        apply_flush(&self.mem, &flush, plat);
        Ok(Outcome::Return(0))
    }

    /// RGN_STAT (66): writes as many `KnRgnStat` as fit in the buffer and
    /// returns how many regions (or parts) the range holds. The range's
    /// `options` are ignored; a range that wraps around is `K_EINVAL`.
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
        let actor = self.resolve(caller, cap)?;
        let space = self.space_of(actor)?;
        let Some(end) = desc.startAddr.checked_add(desc.size) else {
            return Err(Error::Invalid);
        };
        let total = self.mem.stat_count(space, desc.startAddr, desc.size);
        let fit =
            total.min(usize::try_from(buffer.size / KnRgnStat::SIZE as u64).unwrap_or(usize::MAX));
        if fit > 0 {
            // Checked whole first, then written in parts of at most
            // STAT_CHUNK entries, so that a user with many regions cannot
            // make the kernel allocate a buffer for all of them.
            let len_bytes = fit.checked_mul(KnRgnStat::SIZE).ok_or(Error::NoMemory)?;
            if !UserBytes::new(buffer.addr, len_bytes as u64).is_user() {
                return Err(Error::BadPointer);
            }
            self.mem
                .check_user_writable(caller.space, buffer.addr, len_bytes)
                .map_err(|_| Error::BadPointer)?;
            let mut bytes = vec![0u8; fit.min(STAT_CHUNK) * KnRgnStat::SIZE];
            let mut at = desc.startAddr;
            let mut written = 0usize;
            while written < fit {
                let part = self.mem.stat_first(
                    space,
                    at,
                    end.saturating_sub(at),
                    (fit - written).min(STAT_CHUNK),
                );
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
        }
        Ok(Outcome::Return(total as u64))
    }

    /// RGN_SET_INHERIT (67): at most one inherit bit and nothing else.
    pub(super) fn sys_rgn_set_inherit(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (actor, desc) = self.cap_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let space = self.space_of(actor)?;
        if desc.options & !K_INHERIT_MASK != 0 || !has_at_most_one_inherit_bit(desc.options) {
            return Err(Error::Invalid);
        }
        self.mem
            .set_inherit(space, desc.startAddr, desc.size, desc.options)?;
        Ok(Outcome::Return(0))
    }

    /// RGN_SET_PROTECT (68): protection bits only; lowering takes effect at
    /// once (the TLB ranges mm reports are flushed before returning).
    pub(super) fn sys_rgn_set_protect(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        desc_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let (actor, desc) = self.cap_and_desc(caller, cap_ptr, desc_ptr, plat)?;
        let space = self.space_of(actor)?;
        if desc.options & !K_PROT_MASK != 0 {
            return Err(Error::Invalid);
        }
        let flush = self
            .mem
            .set_protect(space, desc.startAddr, desc.size, desc.options)?;
        apply_flush(&self.mem, &flush, plat);
        Ok(Outcome::Return(0))
    }

    /// RGN_DUP (69): errors in exactly the ABI §4.4 order: `K_EFAULT`
    /// (either capability unreadable), `K_EINVAL` (either inconsistent, or
    /// `K_SVACTOR`), `K_EUNKNOWN` (either unreachable), `K_EINVAL` (flags),
    /// `K_EOVERLAP` (target has a region), `K_ENOMEM`.
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
        let target = self.classify(caller, target_cap);
        let source = self.classify(caller, source_cap);
        if target == Resolved::Inconsistent || source == Resolved::Inconsistent {
            return Err(Error::Invalid);
        }
        let (Resolved::Actor(target), Resolved::Actor(source)) = (target, source) else {
            return Err(Error::Unreachable);
        };
        if !matches!(flags, 0 | K_INHERITCOPY | K_INHERITSHARE) {
            return Err(Error::Invalid);
        }
        let target_space = self.space_of(target)?;
        let source_space = self.space_of(source)?;
        if self.mem.region_count(target_space) != 0 {
            return Err(Error::Overlap);
        }
        let flush = self.mem.dup(target_space, source_space, flags)?;
        apply_flush(&self.mem, &flush, plat);
        Ok(Outcome::Return(0))
    }

    /// ACTOR_SELF (70): writes the caller's capability (`K_EFAULT` if it cannot).
    pub(super) fn sys_actor_self(
        &mut self,
        caller: Caller,
        out: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let cap = self
            .processes
            .get(caller.process.0)
            .ok_or(Error::Dead)?
            .capability();
        UserPtr::<KnCap>::new(out).write(&mut self.mem, caller.space, &cap, plat)?;
        Ok(Outcome::Return(0))
    }

    /// ACTOR_DELETE (72): destroys the actor as DESTROY does; deleting the
    /// caller's own actor does not return.
    pub(super) fn sys_actor_delete(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let actor = self.resolve(caller, cap)?;
        self.destroy_process(actor, plat);
        if actor == caller.process {
            Ok(Outcome::NoReturn)
        } else {
            Ok(Outcome::Return(0))
        }
    }
}
