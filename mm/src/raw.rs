//! Tests' shorthand: the memory calls from raw words, decoded as the kernel's handlers decode them.
//!
//! `Memory`'s operations take `abi::args` types; the tests written against
//! the ABI's words go through the same decoders the kernel uses, so every
//! word they pass is checked by the one rule that checks it in the kernel,
//! and a decoding failure is the `InvalidArgument` the kernel reports.

use crate::{Flush, Memory, MmError, PhysAddr, PhysMem, SpaceId, VirtAddr};
use abi::args::{
    Allocation, DupMode, Inherit, Invalid, MClone, PageRange, Prot, RegionOptions, UserRange,
};
use abi::types::{KnRgnDesc, KnRgnStat, MCloneArgs};
use alloc::vec::Vec;

impl From<Invalid> for MmError {
    fn from(_: Invalid) -> Self {
        MmError::InvalidArgument
    }
}

impl<P: PhysMem> Memory<P> {
    /// RGN_ALLOCATE from a region descriptor.
    pub(crate) fn allocate_raw(
        &mut self,
        space: SpaceId,
        desc: &KnRgnDesc,
    ) -> Result<VirtAddr, MmError> {
        self.allocate(space, &Allocation::decode(desc)?)
    }

    /// `map_physical` of `npages` at `vaddr` with raw protection and inherit bits.
    pub(crate) fn map_physical_raw(
        &mut self,
        space: SpaceId,
        vaddr: VirtAddr,
        paddr: PhysAddr,
        npages: u64,
        options: u64,
    ) -> Result<(), MmError> {
        let options = RegionOptions::from_attributes(options)?;
        self.map_physical(space, UserRange::pages(vaddr, npages)?, paddr, options)
    }

    /// RGN_FREE of `[start, start + size)`.
    pub(crate) fn free_raw(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
    ) -> Result<Flush, MmError> {
        self.free(space, UserRange::rounded(start, size)?)
    }

    /// RGN_SET_PROTECT with raw options.
    pub(crate) fn set_protect_raw(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        options: u64,
    ) -> Result<Flush, MmError> {
        let prot = Prot::from_options(options)?;
        self.set_protect(space, UserRange::rounded(start, size)?, prot)
    }

    /// RGN_SET_INHERIT with raw options.
    pub(crate) fn set_inherit_raw(
        &mut self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        options: u64,
    ) -> Result<(), MmError> {
        let inherit = Inherit::from_options(options)?;
        self.set_inherit(space, UserRange::rounded(start, size)?, inherit)
    }

    /// MCLONE from the words of its argument structure.
    pub(crate) fn clone_range_raw(
        &mut self,
        src: SpaceId,
        dst: SpaceId,
        src_addr: VirtAddr,
        dest_addr: VirtAddr,
        length: u64,
        prot: i32,
    ) -> Result<Flush, MmError> {
        let args = MCloneArgs {
            src_addr,
            dest_addr,
            length,
            prot,
            _pad: 0,
        };
        self.clone_range(src, dst, &MClone::decode(&args)?)
    }

    /// RGN_DUP with raw flags.
    pub(crate) fn dup_raw(
        &mut self,
        target: SpaceId,
        source: SpaceId,
        flags: u64,
    ) -> Result<Flush, MmError> {
        self.dup(target, source, DupMode::from_flags(flags)?)
    }

    /// Every RGN_STAT entry of `[start, start + size)` (cut at the top of
    /// the address space rather than wrapping).
    pub(crate) fn stat(&self, space: SpaceId, start: VirtAddr, size: u64) -> Vec<KnRgnStat> {
        let range = PageRange::covering(start, size.min(u64::MAX - start)).expect("no wrap");
        self.stat_first(space, range, usize::MAX)
    }

    /// How many RGN_STAT entries `[start, start + size)` holds.
    pub(crate) fn stat_count_raw(&self, space: SpaceId, start: VirtAddr, size: u64) -> usize {
        self.stat_count(space, PageRange::covering(start, size).expect("no wrap"))
    }

    /// The first `max` RGN_STAT entries of `[start, start + size)`.
    pub(crate) fn stat_first_raw(
        &self,
        space: SpaceId,
        start: VirtAddr,
        size: u64,
        max: usize,
    ) -> Vec<KnRgnStat> {
        self.stat_first(
            space,
            PageRange::covering(start, size).expect("no wrap"),
            max,
        )
    }
}
