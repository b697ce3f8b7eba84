//! User page faults: demand-zero, copy-on-write, and 2 MiB mappings of physical memory.

use super::{allows, Memory};
use crate::flush::Flush;
use crate::object::{Kind, ObjId};
use crate::pagetable;
use crate::space::Region;
use crate::{Access, FaultOutcome, PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};

/// The region a user access hit: which space, its PML4, where the region
/// starts, and a copy of it.
#[derive(Clone, Copy)]
pub(super) struct Hit {
    pub(super) space: SpaceId,
    pub(super) root: PhysAddr,
    pub(super) start: VirtAddr,
    pub(super) region: Region,
}

impl<P: PhysMem> Memory<P> {
    /// A user-mode page fault at `addr`.
    pub fn resolve_fault(
        &mut self,
        space: SpaceId,
        addr: VirtAddr,
        access: Access,
    ) -> FaultOutcome {
        let vaddr = addr & !(PAGE_SIZE - 1);
        let Some(sp) = self.spaces.get(&space) else {
            return FaultOutcome::Violation;
        };
        let Some((start, region)) = sp.find(vaddr) else {
            return FaultOutcome::Violation;
        };
        if !allows(region.prot, access) {
            return FaultOutcome::Violation;
        }
        let idx = region.obj_off + (vaddr - start) / PAGE_SIZE;
        if self.segment_page_missing(region.obj, idx) {
            return FaultOutcome::PullIn {
                segment: super::SegmentId(region.obj),
                page: idx,
            };
        }
        let hit = Hit {
            space,
            root: sp.root,
            start,
            region: *region,
        };
        let mut flush = Flush::new();
        self.fault_in(&hit, vaddr, access, &mut flush);
        FaultOutcome::Resolved(flush)
    }

    /// Maps page `vaddr` of `hit.region` for `access`, which the region
    /// allows; returns the frame now mapped. Never fails: every frame it
    /// may take was promised.
    pub(super) fn fault_in(
        &mut self,
        hit: &Hit,
        vaddr: VirtAddr,
        access: Access,
        flush: &mut Flush,
    ) -> PhysAddr {
        let region = &hit.region;
        let idx = region.obj_off + (vaddr - hit.start) / PAGE_SIZE;
        let writable = region.prot.write_bit();
        let obj_id = region.obj;
        let obj = self.objects.get(obj_id);
        let cache_bits = match obj.kind {
            Kind::Phys { uncached: true, .. } => pagetable::PTE_UNCACHED,
            _ => 0,
        };
        if let Kind::Phys { base_paddr, .. } = obj.kind {
            if let Some(paddr) = self.map_huge(hit, vaddr, base_paddr, cache_bits, flush) {
                return paddr;
            }
        }
        let obj = self.objects.get(obj_id);
        // `was_mapped`: whether a translation of `vaddr` may be cached. A
        // page neither the object nor an ancestor holds was never mapped
        // (mappings are a cache of the objects), and the CPU caches no
        // not-present entry (Intel SDM vol. 3 §4.10.2.3), so mapping a
        // fresh zeroed page needs no TLB flush, as in Linux.
        // A segment page is writable in the tables only once written, so
        // that its first write marks it for write-back.
        let clean_segment_page = obj
            .segment
            .as_ref()
            .is_some_and(|books| access != Access::Write && !books.dirty.contains(&idx));
        let (paddr, map_writable, changed, was_mapped) = match obj.kind {
            Kind::Phys { base_paddr, .. } => (base_paddr + idx * PAGE_SIZE, writable, false, true),
            Kind::Anon => match obj.pages.get(idx) {
                Some(paddr) => (paddr, writable && !clean_segment_page, false, true),
                // Not in the object itself: look in its ancestors.
                None => match (
                    obj.parent
                        .and_then(|(parent, off)| self.objects.lookup(parent, idx + off)),
                    access,
                ) {
                    (Some(found), Access::Read | Access::Execute) => {
                        (found.paddr, false, false, true)
                    }
                    (Some(found), Access::Write) => {
                        let direct_parent = obj.parent.map(|(p, _)| p) == Some(found.owner);
                        let paddr = if direct_parent
                            && self.objects.sole_viewer(found.owner, obj_id, found.idx)
                        {
                            self.objects.take_page(
                                &mut self.frames,
                                found.owner,
                                found.idx,
                                obj_id,
                                idx,
                            )
                        } else {
                            let new = self.frames.alloc_user_reserved();
                            self.phys.copy_frame(new, found.paddr);
                            let obj = self.objects.get_mut(obj_id);
                            obj.pages.insert(idx, new);
                            obj.reserved_npages -= 1;
                            new
                        };
                        (paddr, true, true, true)
                    }
                    (None, _) => {
                        let new = self.frames.alloc_user_reserved();
                        self.phys.zero_frame(new);
                        let obj = self.objects.get_mut(obj_id);
                        obj.pages.insert(idx, new);
                        obj.reserved_npages -= 1;
                        (new, writable, true, false)
                    }
                },
            },
        };
        if changed {
            self.unmap_other_mappers(obj_id, idx, hit.space, vaddr, flush);
        }
        if access == Access::Write {
            if let Some(books) = self.objects.get_mut(obj_id).segment.as_mut() {
                books.dirty.insert(idx);
            }
        }
        let executable = region.prot.exec_bit();
        let mut walk = self.walk_at(hit.space, hit.root);
        if walk.map_page(vaddr, paddr, map_writable, executable, cache_bits) {
            let span = vaddr & !(pagetable::PT_SPAN_BYTES - 1);
            flush.add(hit.space, span, span + pagetable::PT_SPAN_BYTES);
        }
        if was_mapped {
            flush.add(hit.space, vaddr, vaddr + PAGE_SIZE);
        }
        paddr
    }

    /// Maps the 2 MiB span around `vaddr` with one 2 MiB leaf when the
    /// region (physical memory at `base_paddr`) covers it whole, the
    /// physical side is 2 MiB-aligned too, and no leaf table is there yet;
    /// returns the frame of `vaddr` if it did. Reached through regions of
    /// [`Memory::map_physical`] and [`Memory::mmap`].
    fn map_huge(
        &mut self,
        hit: &Hit,
        vaddr: VirtAddr,
        base_paddr: PhysAddr,
        cache_bits: u64,
        flush: &mut Flush,
    ) -> Option<PhysAddr> {
        let region = &hit.region;
        let span = vaddr & !(pagetable::PT_SPAN_BYTES - 1);
        let span_end = span.checked_add(pagetable::PT_SPAN_BYTES)?;
        if span < hit.start || span_end > hit.start + region.len_bytes() {
            return None;
        }
        let span_paddr = base_paddr + (region.obj_off + (span - hit.start) / PAGE_SIZE) * PAGE_SIZE;
        if span_paddr & (pagetable::PT_SPAN_BYTES - 1) != 0 {
            return None;
        }
        let entry =
            pagetable::huge_entry(span_paddr, region.prot.write_bit(), region.prot.exec_bit())
                | cache_bits;
        if !self.walk_at(hit.space, hit.root).map_huge(span, entry) {
            return None;
        }
        flush.add(hit.space, span, span_end);
        Some(span_paddr + (vaddr - span))
    }

    /// Page `idx` of `obj` got a new frame: clears every other mapping of it
    /// (they may map the ancestor frame it replaced).
    fn unmap_other_mappers(
        &mut self,
        obj: ObjId,
        idx: u64,
        space: SpaceId,
        vaddr: VirtAddr,
        flush: &mut Flush,
    ) {
        if self.objects.get(obj).map_count <= 1 {
            return;
        }
        self.for_each_mapping(|walk, sid, s, r| {
            if r.obj != obj || idx < r.obj_off || idx >= r.obj_off + r.npages {
                return;
            }
            let v = s + (idx - r.obj_off) * PAGE_SIZE;
            if (sid, v) == (space, vaddr) {
                return;
            }
            if let Some((a, b)) = walk.clear_leaves(v, v + PAGE_SIZE) {
                flush.add(sid, a, b);
            }
        });
    }
}
