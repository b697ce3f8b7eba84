//! Memory objects: anonymous (demand-zero), physical, and frozen copy-on-write snapshots.
//!
//! Regions reference *live* objects (anonymous or physical). A private copy
//! of a live anonymous object `O` moves `O`'s frames into a new *frozen*
//! object `S`, makes `O` an empty child of `S` (so every sharer of `O` keeps
//! seeing `O`), and makes the copy another child of `S`. A frozen object never
//! changes content; when it is left with one child it is merged into it.

use crate::frames::FramePool;
use crate::pagemap::{PageMap, CHUNK_NPAGES};
use crate::ranges::RangeCounts;
use crate::{PhysAddr, PhysMem, PAGE_SIZE};
use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

/// Most frozen ancestors a live object may have. A private copy of an
/// object that deep copies the object's own frames (the pages written since
/// its last snapshot) into the copy instead of freezing them into one more
/// level: every level repeats the reference intervals of the objects below,
/// which a user can cut into as many pieces as it has regions, so chains as
/// deep as the object limit let reference counts fill the kernel heap.
pub(crate) const MAX_CHAIN_DEPTH: usize = 2;

/// Index of an object in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjId(u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Demand-zero memory from the frame pool.
    Anon,
    /// Fixed physical memory at `base_paddr` (device memory, and boot
    /// modules mapped by MMAP; the init loader copies the init program into
    /// anonymous memory instead): page `i` is `base_paddr + i * PAGE_SIZE`;
    /// always shared. `uncached`: mapped with caching disabled (MMAP
    /// outside RAM).
    Phys {
        base_paddr: PhysAddr,
        uncached: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Object {
    pub(crate) kind: Kind,
    /// A snapshot: content never changes, no region references it.
    pub(crate) frozen: bool,
    /// Frames this object owns (anonymous only).
    pub(crate) pages: PageMap,
    /// Page-range reference counts: one per region window and one per child
    /// window (a child contributes its own live set, shifted by its offset).
    pub(crate) refs: RangeCounts,
    /// `(parent, offset_npages)`: page `i` not owned here is page `i + offset` of the parent.
    pub(crate) parent: Option<(ObjId, u64)>,
    pub(crate) children: Vec<ObjId>,
    /// Frames promised to this object (live anonymous only): live pages it does not own.
    pub(crate) reserved_npages: u64,
    /// Number of regions referencing this object.
    pub(crate) map_count: u32,
    /// A segment's cache (ABI §4.5): its kernel holds and written pages.
    pub(crate) segment: Option<alloc::boxed::Box<crate::segment::CacheBooks>>,
}

impl Object {
    fn new(kind: Kind, parent: Option<(ObjId, u64)>) -> Self {
        Object {
            kind,
            frozen: false,
            pages: PageMap::default(),
            refs: RangeCounts::default(),
            parent,
            children: Vec::new(),
            reserved_npages: 0,
            map_count: 0,
            segment: None,
        }
    }

    /// Whether live pages without a frame hold a promise (live anonymous objects).
    pub(crate) fn reserves(&self) -> bool {
        self.kind == Kind::Anon && !self.frozen
    }
}

/// A frame found for a page, and where.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) owner: ObjId,
    pub(crate) idx: u64,
    pub(crate) paddr: PhysAddr,
}

/// All memory objects.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    slots: Vec<Option<Object>>,
    free_slots: Vec<u32>,
}

impl Objects {
    pub(crate) fn get(&self, id: ObjId) -> &Object {
        self.slots[id.0 as usize].as_ref().expect("live object")
    }

    pub(crate) fn get_mut(&mut self, id: ObjId) -> &mut Object {
        self.slots[id.0 as usize].as_mut().expect("live object")
    }

    fn exists(&self, id: ObjId) -> bool {
        self.slots
            .get(id.0 as usize)
            .is_some_and(|slot| slot.is_some())
    }

    /// Every live object (for invariant checks).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ObjId, &Object)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|o| (ObjId(i as u32), o)))
    }

    /// Number of live objects.
    pub(crate) fn live(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    fn insert(&mut self, obj: Object) -> ObjId {
        match self.free_slots.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(obj);
                ObjId(i)
            }
            None => {
                self.slots.push(Some(obj));
                ObjId((self.slots.len() - 1) as u32)
            }
        }
    }

    /// A new anonymous object with no reference yet.
    pub(crate) fn new_anon(&mut self) -> ObjId {
        self.insert(Object::new(Kind::Anon, None))
    }

    /// A new segment cache with no reference yet.
    pub(crate) fn new_segment(&mut self) -> ObjId {
        let mut obj = Object::new(Kind::Anon, None);
        obj.segment = Some(alloc::boxed::Box::default());
        self.insert(obj)
    }

    /// A new physical object with no reference yet.
    pub(crate) fn new_phys(&mut self, base_paddr: PhysAddr, uncached: bool) -> ObjId {
        self.insert(Object::new(
            Kind::Phys {
                base_paddr,
                uncached,
            },
            None,
        ))
    }

    /// References `[start, end)` of `id` once more. Newly live pages of a live
    /// anonymous object are promised a frame (the caller has checked the
    /// pool); newly live pages of a child reference its parent.
    pub(crate) fn add_ref(&mut self, frames: &mut FramePool, id: ObjId, start: u64, end: u64) {
        // A work list instead of recursion: the kernel stack use stays flat
        // (chains are at most MAX_CHAIN_DEPTH frozen levels deep anyway).
        let mut work = vec![(id, start, end)];
        while let Some((id, start, end)) = work.pop() {
            let mut newly = Vec::new();
            let obj = self.get_mut(id);
            obj.refs.add(start, end, &mut newly);
            if obj.reserves() {
                for &(s, e) in &newly {
                    let npages = (e - s) - obj.pages.count_range(s, e);
                    obj.reserved_npages += npages;
                    frames.reserve(npages);
                }
            }
            if let Some((parent, off)) = obj.parent {
                work.extend(newly.into_iter().map(|(s, e)| (parent, s + off, e + off)));
            }
        }
    }

    /// Drops one reference on `[start, end)` of `id`. Pages nobody references
    /// any more give back their frames and promises; an object nobody
    /// references is destroyed, and a snapshot left with one child is merged
    /// into it.
    pub(crate) fn drop_ref(&mut self, frames: &mut FramePool, id: ObjId, start: u64, end: u64) {
        /// One step of the release, run from an explicit stack in the order
        /// a recursion would: every drop on the parent finishes before the
        /// child is destroyed (destroying may merge the parent into its last
        /// child, which must see the parent's references already gone).
        enum Step {
            Drop(ObjId, u64, u64),
            Destroy(ObjId),
        }
        // A stack instead of recursion: the kernel stack use stays flat
        // (chains are at most MAX_CHAIN_DEPTH frozen levels deep anyway).
        let mut steps = vec![Step::Drop(id, start, end)];
        while let Some(step) = steps.pop() {
            let (id, start, end) = match step {
                Step::Destroy(id) => {
                    self.destroy(frames, id);
                    continue;
                }
                Step::Drop(id, start, end) => (id, start, end),
            };
            let mut dead = Vec::new();
            let obj = self.get_mut(id);
            obj.refs.sub(start, end, &mut dead);
            for &(s, e) in &dead {
                let mut freed_npages = 0;
                obj.pages.drain_range(s, e, |_, paddr| {
                    frames.free_user(paddr);
                    freed_npages += 1;
                });
                if obj.reserves() {
                    let npages = (e - s) - freed_npages;
                    obj.reserved_npages -= npages;
                    frames.unreserve(npages);
                }
            }
            let parent = obj.parent;
            if obj.refs.is_empty() {
                steps.push(Step::Destroy(id));
            }
            if let Some((pid, off)) = parent {
                // Reversed so the drops run in the original order.
                steps.extend(
                    dead.into_iter()
                        .rev()
                        .map(|(s, e)| Step::Drop(pid, s + off, e + off)),
                );
            }
        }
    }

    fn destroy(&mut self, frames: &mut FramePool, id: ObjId) {
        let obj = self.slots[id.0 as usize].take().expect("live object");
        debug_assert!(obj.pages.is_empty() && obj.reserved_npages == 0 && obj.map_count == 0);
        self.free_slots.push(id.0);
        if let Some((pid, _)) = obj.parent {
            // The parent may already be gone: it died of this same release.
            if self.exists(pid) {
                let parent = self.get_mut(pid);
                parent.children.retain(|&c| c != id);
                if parent.children.len() == 1 {
                    self.collapse(frames, pid);
                }
            }
        }
    }

    /// Merges the snapshot `sid`, which has exactly one child, into that child.
    fn collapse(&mut self, frames: &mut FramePool, sid: ObjId) {
        let mut snap = self.slots[sid.0 as usize].take().expect("live object");
        self.free_slots.push(sid.0);
        let cid = snap.children[0];
        let child_off = self.get(cid).parent.expect("child of snapshot").1;
        let child = self.get_mut(cid);
        // The snapshot's live set is exactly the child's live set shifted by
        // `child_off`, so every frame it holds is visible to the child only.
        let mut moved_npages = 0;
        if child_off.is_multiple_of(CHUNK_NPAGES) {
            moved_npages += snap.pages.move_chunks_into(&mut child.pages, child_off);
        }
        snap.pages.drain_all(|q, paddr| {
            // q >= child_off: the snapshot's frames lie in its live set,
            // which is the child's live set shifted up by `child_off`.
            let p = q - child_off;
            if child.pages.get(p).is_some() {
                frames.free_user(paddr);
            } else {
                child.pages.insert(p, paddr);
                moved_npages += 1;
            }
        });
        if child.reserves() {
            child.reserved_npages -= moved_npages;
            frames.unreserve(moved_npages);
        }
        child.parent = snap.parent.map(|(g, goff)| (g, goff + child_off));
        if let Some((gid, _)) = snap.parent {
            for c in self.get_mut(gid).children.iter_mut() {
                if *c == sid {
                    *c = cid;
                }
            }
        }
    }

    /// Number of frozen ancestors of `id` (at most [`MAX_CHAIN_DEPTH`] for a
    /// live object).
    pub(crate) fn depth(&self, id: ObjId) -> usize {
        let mut depth = 0;
        let mut cur = self.get(id).parent;
        while let Some((p, _)) = cur {
            depth += 1;
            cur = self.get(p).parent;
        }
        depth
    }

    /// Whether [`Objects::private_copy`] of `id` copies its own frames
    /// (instead of freezing them into a new snapshot): an anonymous object
    /// with frames whose chain is already [`MAX_CHAIN_DEPTH`] deep.
    pub(crate) fn copies_eagerly(&self, id: ObjId) -> bool {
        let obj = self.get(id);
        obj.kind == Kind::Anon && !obj.pages.is_empty() && self.depth(id) >= MAX_CHAIN_DEPTH
    }

    /// Frames a private copy of `npages` pages of `id` promises, given the
    /// objects already snapshotted by the same operation (`seen`).
    pub(crate) fn copy_cost_npages(
        &self,
        id: ObjId,
        npages: u64,
        seen: &mut BTreeSet<ObjId>,
    ) -> u64 {
        let obj = self.get(id);
        match obj.kind {
            Kind::Phys { .. } => 0,
            Kind::Anon => {
                let mut cost = npages;
                if !obj.pages.is_empty() && seen.insert(id) {
                    cost += obj.pages.len();
                }
                cost
            }
        }
    }

    /// A private copy of pages `[off, off + npages)` of the live object `id`:
    /// a new object whose page `i` reads as page `off + i` of `id` reads now,
    /// and never changes through anyone else. Physical objects are shared
    /// instead. Returns the object the copy's region references and whether
    /// `id`'s frames moved into a new snapshot (then every mapping of `id`
    /// must be write-protected).
    pub(crate) fn private_copy<P: PhysMem>(
        &mut self,
        frames: &mut FramePool,
        phys: &mut P,
        id: ObjId,
        off: u64,
        npages: u64,
    ) -> (ObjId, bool) {
        let obj = self.get(id);
        if let Kind::Phys { .. } = obj.kind {
            self.add_ref(frames, id, off, off + npages);
            return (id, false);
        }
        if self.copies_eagerly(id) {
            return (self.eager_copy(frames, phys, id, off, npages), false);
        }
        if obj.pages.is_empty() {
            // `id` reads exactly as its (frozen) parent: hang the copy there.
            let parent = obj.parent;
            let copy = self.insert(Object::new(
                Kind::Anon,
                parent.map(|(p, poff)| (p, poff + off)),
            ));
            if let Some((p, _)) = parent {
                self.get_mut(p).children.push(copy);
            }
            self.add_ref(frames, copy, 0, npages);
            return (copy, false);
        }
        let obj = self.get_mut(id);
        let pages = core::mem::take(&mut obj.pages);
        let moved_npages = pages.len();
        let live = obj.refs.live_intervals();
        let old_parent = obj.parent;
        let snap = self.insert(Object {
            kind: Kind::Anon,
            frozen: true,
            pages,
            refs: RangeCounts::from_intervals(&live),
            parent: old_parent,
            children: vec![id],
            reserved_npages: 0,
            map_count: 0,
            segment: None,
        });
        if let Some((gid, _)) = old_parent {
            for c in self.get_mut(gid).children.iter_mut() {
                if *c == id {
                    *c = snap;
                }
            }
        }
        let obj = self.get_mut(id);
        obj.parent = Some((snap, 0));
        obj.reserved_npages += moved_npages;
        frames.reserve(moved_npages);
        let copy = self.insert(Object::new(Kind::Anon, Some((snap, off))));
        self.get_mut(snap).children.push(copy);
        self.add_ref(frames, copy, 0, npages);
        (copy, true)
    }

    /// The private copy of an object whose chain is [`MAX_CHAIN_DEPTH`] deep:
    /// a child of its parent (so it reads what `id` reads from there) that
    /// owns copies of `id`'s own frames in the window. `id` keeps its frames
    /// and its place; no snapshot, no write protection. Takes one frame per
    /// copied page and promises the rest of the window: `npages` in all,
    /// within what [`Objects::copy_cost_npages`] charged.
    fn eager_copy<P: PhysMem>(
        &mut self,
        frames: &mut FramePool,
        phys: &mut P,
        id: ObjId,
        off: u64,
        npages: u64,
    ) -> ObjId {
        let parent = self.get(id).parent;
        let copy = self.insert(Object::new(
            Kind::Anon,
            parent.map(|(p, poff)| (p, poff + off)),
        ));
        if let Some((p, _)) = parent {
            self.get_mut(p).children.push(copy);
        }
        // Out for the walk, back right after: nothing else reads `id` meanwhile.
        let own = core::mem::take(&mut self.get_mut(id).pages);
        let mut copied = PageMap::default();
        own.for_each_in(off, off + npages, |i, paddr| {
            frames.reserve(1);
            let new = frames.alloc_user_reserved();
            phys.copy_frame(new, paddr);
            copied.insert(i - off, new);
        });
        self.get_mut(id).pages = own;
        self.get_mut(copy).pages = copied;
        // Promises the pages of the window the copy does not own.
        self.add_ref(frames, copy, 0, npages);
        copy
    }

    /// The frame page `idx` of `id` reads from, following the parents.
    pub(crate) fn lookup(&self, id: ObjId, idx: u64) -> Option<Found> {
        let mut cur = id;
        let mut i = idx;
        loop {
            let obj = self.get(cur);
            if let Kind::Phys { base_paddr, .. } = obj.kind {
                return Some(Found {
                    owner: cur,
                    idx: i,
                    paddr: base_paddr + i * PAGE_SIZE,
                });
            }
            if let Some(paddr) = obj.pages.get(i) {
                return Some(Found {
                    owner: cur,
                    idx: i,
                    paddr,
                });
            }
            let (parent, off) = obj.parent?;
            cur = parent;
            i += off;
        }
    }

    /// Whether page `q` of snapshot `sid` is visible to no child but `cid`.
    pub(crate) fn sole_viewer(&self, sid: ObjId, cid: ObjId, q: u64) -> bool {
        self.get(sid).children.iter().all(|&other| {
            if other == cid {
                return true;
            }
            let o = self.get(other);
            let off = o.parent.expect("child").1;
            match q.checked_sub(off) {
                Some(i) => !o.refs.contains(i) || o.pages.get(i).is_some(),
                None => true,
            }
        })
    }

    /// Moves page `q` of snapshot `sid` to page `p` of its child `cid`, whose
    /// promise for that page is given back.
    pub(crate) fn take_page(
        &mut self,
        frames: &mut FramePool,
        sid: ObjId,
        q: u64,
        cid: ObjId,
        p: u64,
    ) -> PhysAddr {
        let paddr = self.get_mut(sid).pages.remove(q).expect("snapshot page");
        let child = self.get_mut(cid);
        child.pages.insert(p, paddr);
        child.reserved_npages -= 1;
        frames.unreserve(1);
        paddr
    }

    /// Pages of `[start, end)` of `id` backed by a frame (its own or an ancestor's).
    ///
    /// Works a chunk of indices at a time, marking the pages each level of
    /// the chain backs: time in windows × chain depth plus frames found,
    /// instead of a chain walk per page (117 ms on the host for one
    /// 8192-page region under 3000 levels, before chains were capped at
    /// [`MAX_CHAIN_DEPTH`]; under 1 ms this way).
    pub(crate) fn resident_npages(&self, id: ObjId, start: u64, end: u64) -> u64 {
        let obj = self.get(id);
        match (obj.kind, obj.parent) {
            (Kind::Phys { .. }, _) => end - start,
            (Kind::Anon, None) => obj.pages.count_range(start, end),
            (Kind::Anon, Some(_)) => {
                const WORDS: usize = (CHUNK_NPAGES / 64) as usize;
                let mut total = 0;
                let mut lo = start;
                while lo < end {
                    // One chunk of `id`'s indices: at most CHUNK_NPAGES pages.
                    let hi = (lo - lo % CHUNK_NPAGES + CHUNK_NPAGES).min(end);
                    let want = hi - lo;
                    let mut backed = [0u64; WORDS];
                    let mut found = 0;
                    let mut level = Some((id, 0u64));
                    while let Some((cur, shift)) = level {
                        let o = self.get(cur);
                        if let Kind::Phys { .. } = o.kind {
                            // Physical memory backs every page (never a parent
                            // today, but it would read as fully resident).
                            found = want;
                            break;
                        }
                        // Indices of `cur` are `id`'s shifted by `shift`
                        // (offsets stay within object sizes: no overflow).
                        o.pages.for_each_in(lo + shift, hi + shift, |i, _| {
                            let bit = i - shift - lo;
                            let (w, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
                            if backed[w] & mask == 0 {
                                backed[w] |= mask;
                                found += 1;
                            }
                        });
                        if found == want {
                            break;
                        }
                        level = o.parent.map(|(p, off)| (p, shift + off));
                    }
                    total += found;
                    lo = hi;
                }
                total
            }
        }
    }
}
