//! The kernel's copies from and to user memory, done as the user's own accesses would be.

use super::fault::Hit;
use super::{allows, Memory};
use crate::flush::Flush;
use crate::pagetable::{mapped_chunks, Mapped};
use crate::{Access, MmError, PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use abi::layout::is_user_range;

impl<P: PhysMem> Memory<P> {
    /// Checks that every page of `[addr, addr + len_bytes)` allows `access`.
    fn check_user_access(
        &self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
        access: Access,
    ) -> Result<(), MmError> {
        let len = len_bytes as u64;
        if !is_user_range(addr, len) {
            return Err(MmError::BadAddress);
        }
        let sp = self.spaces.get(&space).ok_or(MmError::BadAddress)?;
        let end = addr + len;
        let mut vaddr = addr & !(PAGE_SIZE - 1);
        while vaddr < end {
            let (s, r) = sp.find(vaddr).ok_or(MmError::BadAddress)?;
            if !allows(r.prot, access) {
                return Err(MmError::BadAddress);
            }
            let region_end = s + r.len_bytes();
            // A segment page not yet pulled in cannot be reached without
            // waiting for its mapper, which a copy inside a call cannot do.
            let mut page = vaddr;
            let is_segment = self.objects.get(r.obj).segment.is_some();
            while is_segment && page < end.min(region_end) {
                if self.segment_page_missing(r.obj, r.obj_off + (page - s) / PAGE_SIZE) {
                    return Err(MmError::BadAddress);
                }
                page += PAGE_SIZE;
            }
            vaddr = region_end;
        }
        Ok(())
    }

    /// Whether a user write of `[addr, addr + len_bytes)` would succeed
    /// (every byte in user space, in a region that allows writes); changes
    /// nothing. Lets the kernel check a whole output buffer before it
    /// writes any of it, or writes a long result in parts, all or nothing.
    ///
    /// # Errors
    /// `BadAddress` where [`Memory::write_user`] would fail.
    pub fn check_user_writable(
        &self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
    ) -> Result<(), MmError> {
        if len_bytes == 0 {
            return Ok(());
        }
        if self
            .mapped_for(space, addr, len_bytes, Access::Write)
            .is_some()
        {
            return Ok(());
        }
        self.check_user_access(space, addr, len_bytes, Access::Write)
    }

    /// The fast path: the physical chunks of a short user buffer whose
    /// pages are all mapped for `access` right now (see `pagetable::translate`).
    #[inline]
    fn mapped_for(
        &self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
        access: Access,
    ) -> Option<Mapped> {
        if !is_user_range(addr, len_bytes as u64) || access == Access::Execute {
            return None;
        }
        let root = self.cached_root(space)?;
        mapped_chunks(&self.phys, root, addr, len_bytes, access == Access::Write)
    }

    /// Calls `f(paddr, buffer_offset, chunk_len)` for each page-bounded chunk
    /// of `[addr, addr + len_bytes)`, faulting each page in for `access`.
    fn user_copy(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        len_bytes: usize,
        access: Access,
        mut f: impl FnMut(&mut P, PhysAddr, usize, usize),
    ) -> Result<Flush, MmError> {
        let mut flush = Flush::new();
        if len_bytes == 0 {
            return Ok(flush);
        }
        if let Some(mapped) = self.mapped_for(space, addr, len_bytes, access) {
            // Nothing to fault in, nothing to flush.
            for &(paddr, off, len) in mapped.chunks() {
                f(&mut self.phys, paddr, off, len);
            }
            return Ok(flush);
        }
        self.check_user_access(space, addr, len_bytes, access)?;
        let mut done = 0usize;
        while done < len_bytes {
            let vaddr = addr + done as u64;
            let page = vaddr & !(PAGE_SIZE - 1);
            let in_page = (vaddr - page) as usize;
            let chunk = (PAGE_SIZE as usize - in_page).min(len_bytes - done);
            let sp = &self.spaces[&space];
            let (start, region) = sp.find(page).expect("checked region");
            let hit = Hit {
                space,
                root: sp.root,
                start,
                region: *region,
            };
            let paddr = self.fault_in(&hit, page, access, &mut flush);
            f(&mut self.phys, paddr + in_page as u64, done, chunk);
            done += chunk;
        }
        Ok(flush)
    }

    /// Reads user memory as a user read would (demand-zero and copy-on-write
    /// resolved, protection enforced).
    ///
    /// # Errors
    /// `BadAddress` if some byte is outside user space, without region, or
    /// not readable; then nothing changed.
    pub fn read_user(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        out: &mut [u8],
    ) -> Result<Flush, MmError> {
        let len = out.len();
        self.user_copy(space, addr, len, Access::Read, |phys, paddr, off, n| {
            phys.read_bytes(paddr, &mut out[off..off + n]);
        })
    }

    /// Writes user memory as a user write would.
    ///
    /// # Errors
    /// `BadAddress` if some byte is outside user space, without region, or
    /// not writable; then nothing changed.
    pub fn write_user(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        data: &[u8],
    ) -> Result<Flush, MmError> {
        self.user_copy(
            space,
            addr,
            data.len(),
            Access::Write,
            |phys, paddr, off, n| {
                phys.write_bytes(paddr, &data[off..off + n]);
            },
        )
    }
}
