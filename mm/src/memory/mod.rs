//! `Memory`: the operations of ABI §3.1, §4.3, §4.4, §5 and §7 over spaces, objects and page tables.
//!
//! Every operation takes arguments already decoded into `abi::args` types
//! (the system-call handlers decode them once), counts what it will need
//! (page tables, promised frames, regions, objects) against the limits, and
//! only then changes anything; past that point nothing can fail, so a
//! failure changes nothing. One file per job:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the struct, limits, spaces, MEMSTAT |
//! | `regions.rs` | RGN_ALLOCATE, `map_physical`, RGN_FREE, RGN_SET_* |
//! | `stat.rs` | RGN_STAT |
//! | `share.rs` | MCLONE |
//! | `dup.rs` | RGN_DUP |
//! | `segment.rs` | segment caches: RGN_MAP, RGN_INIT, pull-in, write-back |
//! | `from_actor.rs` | RGN_MAP_FROM_ACTOR, RGN_INIT_FROM_ACTOR |
//! | `fault.rs` | page faults |
//! | `usercopy.rs` | the kernel's copies from and to user memory |

mod dup;
mod fault;
mod from_actor;
mod regions;
mod segment;
mod share;
mod stat;
mod usercopy;

use crate::flush::Flush;
use crate::frames::FramePool;
use crate::object::Objects;
use crate::pagetable::{TableBooks, Walk, KERNEL_HALF_FIRST};
use crate::space::{Region, Space};
use crate::{Access, MmError, PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use abi::args::Prot;
use abi::memstat::MemStat;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
pub use segment::SegmentId;

/// The frame pool, the memory objects and the address spaces.
pub struct Memory<P: PhysMem> {
    pub(crate) phys: P,
    pub(crate) frames: FramePool,
    /// Shared leaf tables and table promises.
    pub(crate) tables: TableBooks,
    pub(crate) objects: Objects,
    pub(crate) spaces: BTreeMap<SpaceId, Space>,
    next_space: u64,
    /// The kernel half's present PML4 entries: (index in the PML4, entry).
    kernel_half: Vec<(u64, u64)>,
    /// Regions of every space together (kept equal to the sum of
    /// `Space::regions.len()`; checked by `check_invariants`).
    pub(crate) region_total: usize,
    /// Most regions all spaces may hold together ([`Memory::set_region_limit`]).
    region_limit: usize,
    /// Most live memory objects ([`Memory::set_object_limit`]).
    object_limit: usize,
    /// The last two spaces whose root was looked up, with their roots, the
    /// newest first (space ids are never reused and a root never changes;
    /// `destroy_space` forgets the space): spares the user copies' fast path
    /// and the kernel's switches a map lookup per call, also when two
    /// spaces take turns (IPC between two processes).
    root_cache: core::cell::Cell<[(SpaceId, PhysAddr); 2]>,
    /// Segment caches that lost their last region since the kernel last
    /// asked ([`Memory::take_unmapped_segments`]).
    pub(crate) unmapped_segments: alloc::vec::Vec<crate::object::ObjId>,
}

impl<P: PhysMem> core::fmt::Debug for Memory<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memory")
            .field("memstat", &self.memstat())
            .field("spaces", &self.spaces.len())
            .finish()
    }
}

/// Whether a region with protection `prot` allows a user `access`.
fn allows(prot: Prot, access: Access) -> bool {
    match access {
        Access::Read => !prot.no_access(),
        Access::Write => prot.writable(),
        Access::Execute => prot.executable(),
    }
}

impl<P: PhysMem> Memory<P> {
    /// `free_ranges`: page-aligned physical `[start, end)` ranges mm owns.
    /// `kernel_half`: PML4 entries 256..512 that every address space shares.
    pub fn new(phys: P, free_ranges: &[(PhysAddr, PhysAddr)], kernel_half: &[u64; 256]) -> Self {
        Memory {
            phys,
            frames: FramePool::new(free_ranges),
            tables: TableBooks::default(),
            objects: Objects::default(),
            spaces: BTreeMap::new(),
            next_space: 1,
            kernel_half: kernel_half
                .iter()
                .enumerate()
                .filter(|&(_, &entry)| entry != 0)
                .map(|(i, &entry)| (KERNEL_HALF_FIRST + i as u64, entry))
                .collect(),
            region_total: 0,
            region_limit: usize::MAX,
            object_limit: usize::MAX,
            root_cache: core::cell::Cell::new([(SpaceId(0), 0); 2]),
            unmapped_segments: alloc::vec::Vec::new(),
        }
    }

    /// The root of a live space, through the two-entry cache.
    pub(crate) fn cached_root(&self, space: SpaceId) -> Option<PhysAddr> {
        let [newest, older] = self.root_cache.get();
        if space == SpaceId(0) {
            return self.spaces.get(&space).map(|sp| sp.root);
        }
        if newest.0 == space {
            return Some(newest.1);
        }
        if older.0 == space {
            self.root_cache.set([older, newest]);
            return Some(older.1);
        }
        let root = self.spaces.get(&space)?.root;
        self.root_cache.set([(space, root), newest]);
        Some(root)
    }

    /// Caps the regions of all spaces together at `limit` (no cap until
    /// called). Every operation that would end with more regions than the
    /// limit (a new region, a cut in the middle of one, MCLONE, RGN_DUP)
    /// fails with `NoMemory` and changes nothing; operations that do not add
    /// regions are never refused. The kernel sets it at boot from its heap
    /// size, so that region bookkeeping cannot exhaust the heap. A limit
    /// below the current total only refuses growth.
    pub fn set_region_limit(&mut self, limit: usize) {
        self.region_limit = limit;
    }

    /// The limit of [`Memory::set_region_limit`] (`usize::MAX` if never set).
    pub fn region_limit(&self) -> usize {
        self.region_limit
    }

    /// Regions of all spaces together.
    pub fn region_total(&self) -> usize {
        self.region_total
    }

    /// Caps the live memory objects at `limit` (no cap until called), as
    /// [`Memory::set_region_limit`] caps regions: RGN_ALLOCATE and
    /// `map_physical` make one object, a private copy of RGN_DUP up to two
    /// (the copy and, the first time an object with frames is copied, its
    /// frozen snapshot); an operation that could pass the limit fails with
    /// `NoMemory` and changes nothing. Objects cost far more kernel heap
    /// than regions (MCLONE and shared copies add regions, not objects).
    pub fn set_object_limit(&mut self, limit: usize) {
        self.object_limit = limit;
    }

    /// The limit of [`Memory::set_object_limit`] (`usize::MAX` if never set).
    pub fn object_limit(&self) -> usize {
        self.object_limit
    }

    /// Live memory objects (region-backing objects and frozen snapshots).
    pub fn object_total(&self) -> usize {
        self.objects.live()
    }

    /// Reference-count intervals of all objects together: kernel heap that
    /// no limit caps directly, bounded by the regions and objects because
    /// snapshot chains are at most `MAX_CHAIN_DEPTH` deep (for tests).
    pub fn reference_intervals(&self) -> usize {
        self.objects.iter().map(|(_, o)| o.refs.len()).sum()
    }

    /// `NoMemory` unless `added` more objects fit under the limit.
    fn check_object_room(&self, added: usize) -> Result<(), MmError> {
        match self.objects.live().checked_add(added) {
            Some(n) if n <= self.object_limit => Ok(()),
            _ => Err(MmError::NoMemory),
        }
    }

    /// `NoMemory` unless `added` more regions (net) fit under the limit.
    fn check_region_room(&self, added: usize) -> Result<(), MmError> {
        match self.region_total.checked_add(added) {
            Some(n) if n <= self.region_limit => Ok(()),
            _ => Err(MmError::NoMemory),
        }
    }

    /// `NoMemory` unless a net growth of `growth` regions fits.
    fn check_growth(&self, growth: isize) -> Result<(), MmError> {
        if growth > 0 {
            self.check_region_room(growth as usize)
        } else {
            Ok(())
        }
    }

    /// `NoMemory` unless `npages` more frames can be promised.
    fn check_frames(&self, npages: u64) -> Result<(), MmError> {
        if npages > self.frames.available_npages() {
            return Err(MmError::NoMemory);
        }
        Ok(())
    }

    pub fn phys(&self) -> &P {
        &self.phys
    }

    pub fn phys_mut(&mut self) -> &mut P {
        &mut self.phys
    }

    /// The counters of MEMSTAT (ABI §7).
    pub fn memstat(&self) -> MemStat {
        MemStat {
            page_size: PAGE_SIZE,
            total_frames: self.frames.total_npages(),
            free_frames: self.frames.free_npages(),
            user_frames: self.frames.user_npages(),
            table_frames: self.frames.table_npages(),
            committed_frames: self.frames.committed_npages(),
        }
    }

    fn space(&self, id: SpaceId) -> Result<&Space, MmError> {
        self.spaces.get(&id).ok_or(MmError::InvalidArgument)
    }

    /// The page-table context of `space` (which exists).
    #[inline]
    fn walk(&mut self, space: SpaceId) -> Walk<'_, P> {
        let root = self.spaces[&space].root;
        self.walk_at(space, root)
    }

    /// The page-table context of `space`, whose PML4 is `root`.
    #[inline]
    fn walk_at(&mut self, space: SpaceId, root: PhysAddr) -> Walk<'_, P> {
        Walk::new(
            &mut self.phys,
            &mut self.frames,
            &mut self.tables,
            space,
            root,
        )
    }

    /// Calls `f(walk, space, start, region)` for every region of every
    /// space, with the page-table context of that space (the mappings of
    /// one object may be anywhere).
    fn for_each_mapping(
        &mut self,
        mut f: impl FnMut(&mut Walk<'_, P>, SpaceId, VirtAddr, &Region),
    ) {
        for (&sid, sp) in &self.spaces {
            let mut walk = Walk::new(
                &mut self.phys,
                &mut self.frames,
                &mut self.tables,
                sid,
                sp.root,
            );
            for (&s, r) in &sp.regions {
                f(&mut walk, sid, s, r);
            }
        }
    }

    /// A new, empty address space: a PML4 whose upper half is `kernel_half`.
    ///
    /// # Errors
    /// `NoMemory` if no frame is available for the PML4.
    pub fn create_space(&mut self) -> Result<SpaceId, MmError> {
        self.check_frames(1)?;
        let root = self.frames.alloc_table();
        self.phys.zero_frame(root);
        // The root was just cleared: only the kernel half's present entries
        // (a handful of its 256) need writing.
        for &(index, entry) in &self.kernel_half {
            self.phys.write_u64(root + 8 * index, entry);
        }
        let id = SpaceId(self.next_space);
        self.next_space += 1;
        self.spaces.insert(
            id,
            Space {
                root,
                regions: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Releases every region, page table and commitment of the space, then
    /// the space itself. An unknown space is ignored.
    pub fn destroy_space(&mut self, space: SpaceId) -> Flush {
        if !self.spaces.contains_key(&space) {
            return Flush::new();
        }
        let flush = self.free_all(space);
        let cache = self.root_cache.get().map(|entry| {
            if entry.0 == space {
                (SpaceId(0), 0)
            } else {
                entry
            }
        });
        self.root_cache.set(cache);
        let sp = self.spaces.remove(&space).expect("space");
        self.tables.promises.close(&mut self.frames, space);
        self.frames.free_table(sp.root);
        flush
    }

    /// Physical address of the space's PML4 (for CR3).
    ///
    /// # Panics
    /// If the space does not exist.
    pub fn root(&self, space: SpaceId) -> PhysAddr {
        self.cached_root(space).expect("space")
    }

    /// Number of regions of the space (0 for an unknown space).
    pub fn region_count(&self, space: SpaceId) -> usize {
        self.spaces.get(&space).map_or(0, |sp| sp.regions.len())
    }
}
