//! GET_ADDRESS_MAP and MMAP (ABI §3.3): the physical address map, and physical memory mapped into a process.

use super::{Caller, Outcome, SysResult};
use crate::address_map::Caching;
use crate::descriptor::Slot;
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::{apply_flush, UserBytes, UserPtr};
use crate::Kernel;
use abi::args::{Inherit, RegionOptions};
use abi::perms::JINUE_PERM_MAP;
use abi::physmem::{AddrMapEntry, Mmap, MmapArgs, ADDR_MAP_HEADER_SIZE};
use abi::types::Wire;
use alloc::vec;
use mm::PhysMem;

/// Bytes of `num_entries`, written even when the whole map does not fit.
const NUM_ENTRIES_SIZE: u64 = 4;

impl<P: PhysMem> Kernel<P> {
    /// GET_ADDRESS_MAP (8): `EINVAL` if the buffer belongs to the kernel or
    /// is not writable; `E2BIG` if it is too small for the whole map (then
    /// `num_entries` is written if 4 bytes fit). Needs no permission.
    pub(super) fn sys_get_address_map(
        &mut self,
        caller: Caller,
        addr: u64,
        size: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        UserBytes::new(addr, size).check_writable(&self.mem, caller.space)?;
        let entries = self.address_map.entries();
        let needed = ADDR_MAP_HEADER_SIZE + entries.len() * AddrMapEntry::SIZE;
        let mut bytes = vec![0u8; needed];
        let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        for (e, out) in entries
            .iter()
            .zip(bytes[ADDR_MAP_HEADER_SIZE..].chunks_exact_mut(AddrMapEntry::SIZE))
        {
            e.to_bytes(out);
        }
        if size < needed as u64 {
            if size >= NUM_ENTRIES_SIZE {
                UserBytes::new(addr, NUM_ENTRIES_SIZE).write(
                    &mut self.mem,
                    caller.space,
                    &bytes[..4],
                    plat,
                )?;
            }
            return Err(Error::TooBig);
        }
        UserBytes::new(addr, needed as u64).write(&mut self.mem, caller.space, &bytes, plat)?;
        Ok(Outcome::Return(0))
    }

    /// MMAP (13): errors in the ABI §3.3 order: `EBADF` (value); `EINVAL`
    /// (structure unreadable; alignment; `prot`; virtual range in the
    /// kernel, physical range wrapping or reaching 2^52); `EBADF`/`EIO`
    /// (process descriptor); `EPERM` (no `MAP`); `EPERM` (the caller is not
    /// init, or the physical range overlaps memory the kernel manages);
    /// `ENOMEM`. The region shares under every kind of duplication
    /// (`K_INHERITSHARE`); outside boot modules it is uncached.
    pub(super) fn sys_mmap(
        &mut self,
        caller: Caller,
        fd: u64,
        args_addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let slot = Slot::new(fd)?;
        let args: MmapArgs = UserPtr::new(args_addr).read(&mut self.mem, caller.space, plat)?;
        let request = Mmap::decode(&args)?;
        let d = self.descriptor(caller.process, slot)?;
        let target = self.process_of(&d)?;
        if !d.allows(JINUE_PERM_MAP) || !self.is_init(caller.process) {
            return Err(Error::Permission);
        }
        if request.range.is_empty() {
            return Ok(Outcome::Return(0));
        }
        let caching = self
            .address_map
            .mmap_caching(request.paddr, request.phys_end())
            .ok_or(Error::Permission)?;
        let options = RegionOptions {
            prot: request.prot,
            inherit: Inherit::Share,
        };
        let space = self.space_of(target)?;
        let flush = self.mem.mmap(
            space,
            request.range,
            request.paddr,
            options,
            caching == Caching::Uncached,
        )?;
        apply_flush(&self.mem, &flush, plat);
        Ok(Outcome::Return(0))
    }
}
