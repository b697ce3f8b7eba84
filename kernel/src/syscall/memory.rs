//! MCLONE (ABI §3.1): share a range of one process's memory into another.

use super::{Caller, Outcome, SysResult};
use crate::descriptor::Slot;
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::{apply_flush, UserPtr};
use crate::Kernel;
use abi::layout::{is_page_aligned, is_user_range};
use abi::perms::{JINUE_PERM_MAP, JINUE_PROT_MASK};
use abi::types::MCloneArgs;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// MCLONE (15): errors in exactly the ABI §3.1 order:
    ///
    /// 1. `EBADF`: descriptor numbers (value only);
    /// 2. `EINVAL`: argument structure unreadable;
    /// 3. `EINVAL`: misaligned;
    /// 4. `EINVAL`: `prot`;
    /// 5. `EINVAL`: a range in the kernel;
    /// 6. `EBADF`/`EIO`: source;
    /// 7. `EBADF`/`EIO`: destination;
    /// 8. `EPERM`: destination lacks `MAP`;
    /// 9. `ENOMEM`.
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
        if !is_page_aligned(args.src_addr)
            || !is_page_aligned(args.dest_addr)
            || !is_page_aligned(args.length)
        {
            return Err(Error::Invalid);
        }
        if args.prot & !JINUE_PROT_MASK != 0 {
            return Err(Error::Invalid);
        }
        if !is_user_range(args.src_addr, args.length) || !is_user_range(args.dest_addr, args.length)
        {
            return Err(Error::Invalid);
        }
        let sd = self.descriptor(caller.process, src_slot)?;
        let src = self.process_of(&sd)?;
        let dd = self.descriptor(caller.process, dest_slot)?;
        let dest = self.process_of(&dd)?;
        if !dd.allows(JINUE_PERM_MAP) {
            return Err(Error::Permission);
        }
        if args.length == 0 {
            return Ok(Outcome::Return(0));
        }
        let src_space = self.space_of(src)?;
        let dest_space = self.space_of(dest)?;
        let flush = self.mem.clone_range(
            src_space,
            dest_space,
            args.src_addr,
            args.dest_addr,
            args.length,
            args.prot,
        )?;
        apply_flush(&self.mem, &flush, plat);
        Ok(Outcome::Return(0))
    }
}
