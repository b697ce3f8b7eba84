//! MCLONE (ABI §3.1): a range of one space made to reference the memory of a range of another.

use super::Memory;
use crate::flush::Flush;
use crate::pagetable;
use crate::space::Region;
use crate::{MmError, PhysMem, SpaceId, VirtAddr};
use abi::args::MClone;
use alloc::vec::Vec;

/// One source region (or part) of an MCLONE, read before anything changes.
#[derive(Clone, Copy)]
struct Piece {
    dst_start: VirtAddr,
    src_start: VirtAddr,
    region: Region,
}

impl<P: PhysMem> Memory<P> {
    /// MCLONE (ABI §3.1), after the kernel decoded steps 1–8: the
    /// destination range then references the same memory objects as the
    /// source range (holes stay holes), with the source regions' boundaries,
    /// inherit bits and opaque values and protection `req.prot`. Commits
    /// only the destination's page tables. Present source mappings are
    /// copied a leaf table at a time.
    ///
    /// # Errors
    /// `NoMemory` (page tables, regions); `InvalidArgument` for an unknown space.
    pub fn clone_range(
        &mut self,
        src: SpaceId,
        dst: SpaceId,
        req: &MClone,
    ) -> Result<Flush, MmError> {
        let src_space = self.space(src)?;
        let dst_space = self.space(dst)?;
        let mut flush = Flush::new();
        if req.src.is_empty() {
            return Ok(flush);
        }
        let (src_addr, dst_addr) = (req.src.start(), req.dest.start());
        let (src_end, dst_end) = (req.src.end(), req.dest.end());
        // Read the whole source first (ABI §3.1 rule 7).
        let pieces: Vec<Piece> = src_space
            .clipped(req.src.range())
            .map(|part| {
                let mut region = part.piece();
                region.prot = req.prot;
                Piece {
                    dst_start: dst_addr + (part.start - src_addr),
                    src_start: part.start,
                    region,
                }
            })
            .collect();
        let dst_ranges: Vec<(VirtAddr, VirtAddr)> = pieces
            .iter()
            .map(|p| (p.dst_start, p.dst_start + p.region.len_bytes()))
            .collect();
        let tables = pagetable::tables_needed(&dst_ranges, |a, b| dst_space.any_in(a, b));
        self.check_frames(tables)?;
        let growth = Self::cut_growth(dst_space, dst_addr, dst_end, true)
            .saturating_add_unsigned(pieces.len());
        self.check_growth(growth)?;
        let src_root = src_space.root;
        // Nothing fails from here on. Reference the source memory before the
        // destination's old memory is released: they may be the same.
        for p in &pieces {
            let r = &p.region;
            self.objects.get_mut(r.obj).map_count += 1;
            self.objects
                .add_ref(&mut self.frames, r.obj, r.obj_off, r.obj_off + r.npages);
        }
        self.tables.promises.make(&mut self.frames, dst, tables);
        let removed = self.remove_range(dst, dst_addr, dst_end, &mut flush);
        let overlapping = src == dst && src_addr < dst_end && dst_addr < src_end;
        let dst_space = self.spaces.get_mut(&dst).expect("space");
        for p in &pieces {
            dst_space.regions.insert(p.dst_start, p.region);
        }
        self.region_total += pieces.len();
        // Mappings are a cache of the objects: copy them where the source
        // mappings are intact (an overlapping clone just faults them back).
        if !overlapping && !req.prot.no_access() {
            let mut walk = self.walk(dst);
            for p in &pieces {
                walk.copy_leaves_from(
                    src_root,
                    p.src_start,
                    p.dst_start,
                    p.region.npages,
                    req.prot,
                );
            }
        }
        self.release_tables(dst, &removed);
        Ok(flush)
    }
}
