//! `Memory::check_invariants`: every structural invariant of `doc/memory.md`, checked in full.

use crate::memory::Memory;
use crate::object::{Kind, ObjId};
use crate::pagetable::{
    self, PDPT_SPAN_BYTES, PD_SPAN_BYTES, PTE_ADDR_MASK, PTE_PRESENT, PTE_WRITABLE, PT_SPAN_BYTES,
};
use crate::ranges::RangeCounts;
use crate::{PhysAddr, PhysMem, SpaceId, VirtAddr, PAGE_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

impl<P: PhysMem> Memory<P> {
    /// Checks every invariant of the frame pool, the objects, the regions and
    /// the page tables; slow (it visits every page), for tests and debugging.
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let f = &self.frames;
        if f.total_npages() != f.free_npages() + f.user_npages() + f.table_npages() {
            return Err(format!(
                "frames: total != free + user + table ({:?})",
                self.memstat()
            ));
        }
        if f.committed_npages() > f.free_npages() {
            return Err("frames: committed exceeds free".into());
        }
        let regions: usize = self.spaces.values().map(|sp| sp.regions.len()).sum();
        if regions != self.region_total {
            return Err(format!(
                "regions: {regions} in the spaces, {} counted",
                self.region_total
            ));
        }
        self.check_objects()?;
        self.check_tables()
    }

    fn check_objects(&self) -> Result<(), String> {
        // Expected reference counts: region windows plus child live sets.
        let mut expected: BTreeMap<ObjId, RangeCounts> = BTreeMap::new();
        let mut map_counts: BTreeMap<ObjId, u32> = BTreeMap::new();
        for sp in self.spaces.values() {
            for r in sp.regions.values() {
                expected.entry(r.obj).or_default().add(
                    r.obj_off,
                    r.obj_off + r.npages,
                    &mut Vec::new(),
                );
                *map_counts.entry(r.obj).or_default() += 1;
            }
        }
        for (id, obj) in self.objects.iter() {
            if let Some(books) = &obj.segment {
                for (s, e) in books.held.live_intervals() {
                    expected.entry(id).or_default().add(s, e, &mut Vec::new());
                }
            }
        }
        let mut own_total = 0;
        let mut reserved_total = 0;
        for (id, obj) in self.objects.iter() {
            if let Some((pid, off)) = obj.parent {
                let parent = self.objects.get(pid);
                if !parent.frozen || !parent.children.contains(&id) {
                    return Err(format!("{id:?}: parent {pid:?} not a snapshot listing it"));
                }
                for (s, e) in obj.refs.live_intervals() {
                    expected
                        .entry(pid)
                        .or_default()
                        .add(s + off, e + off, &mut Vec::new());
                }
            }
            if obj.frozen && obj.children.len() < 2 {
                return Err(format!(
                    "{id:?}: snapshot with {} children",
                    obj.children.len()
                ));
            }
            if !obj.frozen && !obj.children.is_empty() {
                return Err(format!("{id:?}: live object with children"));
            }
            if !obj.frozen && self.objects.depth(id) > crate::object::MAX_CHAIN_DEPTH {
                return Err(format!(
                    "{id:?}: {} frozen ancestors",
                    self.objects.depth(id)
                ));
            }
            if obj.frozen && obj.map_count != 0 {
                return Err(format!("{id:?}: snapshot mapped by a region"));
            }
            if map_counts.get(&id).copied().unwrap_or(0) != obj.map_count {
                return Err(format!("{id:?}: map_count {} wrong", obj.map_count));
            }
            if matches!(obj.kind, Kind::Phys { .. })
                && (!obj.pages.is_empty() || obj.parent.is_some())
            {
                return Err(format!("{id:?}: physical object with frames or parent"));
            }
            let mut own_live = 0;
            for (s, e) in obj.refs.live_intervals() {
                own_live += obj.pages.count_range(s, e);
            }
            if own_live != obj.pages.len() {
                return Err(format!("{id:?}: owns frames outside its live range"));
            }
            own_total += obj.pages.len();
            let want_reserved = if obj.reserves() {
                obj.refs.live_npages() - obj.pages.len()
            } else {
                0
            };
            if obj.reserved_npages != want_reserved {
                return Err(format!(
                    "{id:?}: reserved {} but should be {want_reserved}",
                    obj.reserved_npages
                ));
            }
            reserved_total += obj.reserved_npages;
        }
        for (id, obj) in self.objects.iter() {
            let want = expected.remove(&id).unwrap_or_default();
            let got: Vec<_> = obj.refs.intervals().collect();
            let want: Vec<_> = want.intervals().collect();
            if got != want {
                return Err(format!("{id:?}: refs {got:?} expected {want:?}"));
            }
            if obj.refs.is_empty() {
                return Err(format!("{id:?}: unreferenced object alive"));
            }
        }
        if !expected.is_empty() {
            return Err("a region or child references a dead object".into());
        }
        if own_total != self.frames.user_npages() {
            return Err(format!(
                "user frames {} but objects own {own_total}",
                self.frames.user_npages()
            ));
        }
        let tables_reserved: u64 = self.tables.promises.total();
        if reserved_total + tables_reserved != self.frames.committed_npages() {
            return Err(format!(
                "committed {} but objects reserve {reserved_total} and spaces {tables_reserved}",
                self.frames.committed_npages()
            ));
        }
        Ok(())
    }

    fn check_tables(&self) -> Result<(), String> {
        // Every table frame once, however many spaces reference it.
        let mut frames: BTreeSet<PhysAddr> = BTreeSet::new();
        // Leaf table → PDEs pointing to it, and whether one grants writes.
        let mut leaf_refs: BTreeMap<PhysAddr, (u32, bool)> = BTreeMap::new();
        for (&sid, sp) in &self.spaces {
            frames.insert(sp.root);
            let present = self.check_space_tables(sid, sp.root, &mut frames, &mut leaf_refs)?;
            let mut covered = 0;
            for span_bytes in [PDPT_SPAN_BYTES, PD_SPAN_BYTES, PT_SPAN_BYTES] {
                let mut last = None;
                for (&s, r) in &sp.regions {
                    let mut span = s & !(span_bytes - 1);
                    while span < s + r.len_bytes() {
                        if last != Some(span) {
                            covered += 1;
                            last = Some(span);
                        }
                        span += span_bytes;
                    }
                }
            }
            if present + self.tables.promises.of(sid) != covered {
                return Err(format!(
                    "{sid:?}: {present} tables + {} promised, but regions cover {covered} spans",
                    self.tables.promises.of(sid)
                ));
            }
        }
        if frames.len() as u64 != self.frames.table_npages() {
            return Err(format!(
                "table frames {} but spaces hold {}",
                self.frames.table_npages(),
                frames.len()
            ));
        }
        for (pt, holders) in self.tables.shared.iter() {
            match leaf_refs.get(&pt) {
                Some(&(n, writable)) if n as usize == holders.len() && n >= 2 && !writable => {}
                other => {
                    return Err(format!(
                        "shared table {pt:#x}: holders {holders:?}, PDEs {other:?}"
                    ))
                }
            }
            for space in &holders {
                let sp = self
                    .spaces
                    .get(space)
                    .ok_or("dead holder of a shared table")?;
                if !sp.regions.is_empty() && self.tables.promises.of(*space) == 0 {
                    return Err(format!("{space:?} holds a shared table without a promise"));
                }
            }
        }
        if let Some((pt, _)) = leaf_refs
            .iter()
            .find(|(pt, &(n, _))| n > 1 && !self.tables.shared.is_shared(**pt))
        {
            return Err(format!("table {pt:#x} referenced twice but not shared"));
        }
        Ok(())
    }

    /// Walks the user half of one space; returns the number of tables below
    /// its PML4 that are its own (shared leaf tables excluded), records every
    /// table frame in `frames` and every leaf table's references in `leaf_refs`.
    fn check_space_tables(
        &self,
        sid: SpaceId,
        root: PhysAddr,
        frames: &mut BTreeSet<PhysAddr>,
        leaf_refs: &mut BTreeMap<PhysAddr, (u32, bool)>,
    ) -> Result<u64, String> {
        let sp = &self.spaces[&sid];
        let phys = &self.phys;
        let mut count = 0;
        for i4 in 0..256u64 {
            let v4 = i4 * PDPT_SPAN_BYTES;
            let e4 = phys.read_u64(root + 8 * i4);
            let used = sp.any_in(v4, v4 + PDPT_SPAN_BYTES);
            if e4 & PTE_PRESENT == 0 {
                continue;
            }
            if !used {
                return Err(format!("{sid:?}: table at level 4 without region"));
            }
            count += 1;
            frames.insert(e4 & PTE_ADDR_MASK);
            for i3 in 0..512u64 {
                let v3 = v4 + i3 * PD_SPAN_BYTES;
                let e3 = phys.read_u64((e4 & PTE_ADDR_MASK) + 8 * i3);
                let used = sp.any_in(v3, v3 + PD_SPAN_BYTES);
                if e3 & PTE_PRESENT == 0 {
                    continue;
                }
                if !used {
                    return Err(format!("{sid:?}: table at level 3 without region"));
                }
                count += 1;
                frames.insert(e3 & PTE_ADDR_MASK);
                for i2 in 0..512u64 {
                    let v2 = v3 + i2 * PT_SPAN_BYTES;
                    let e2 = phys.read_u64((e3 & PTE_ADDR_MASK) + 8 * i2);
                    let used = sp.any_in(v2, v2 + PT_SPAN_BYTES);
                    if e2 & PTE_PRESENT == 0 {
                        continue;
                    }
                    if !used {
                        return Err(format!("{sid:?}: table at level 2 without region"));
                    }
                    if e2 & pagetable::PTE_HUGE != 0 {
                        // A 2 MiB leaf: each 4 KiB page of it must be right.
                        for i1 in 0..512u64 {
                            let page = (e2 & PTE_ADDR_MASK) + i1 * PAGE_SIZE;
                            let pte = (e2 & !PTE_ADDR_MASK & !pagetable::PTE_HUGE) | page;
                            self.check_leaf(sid, v2 + i1 * PAGE_SIZE, pte, true)?;
                        }
                        continue;
                    }
                    let pt = e2 & PTE_ADDR_MASK;
                    let pde_writable = e2 & PTE_WRITABLE != 0;
                    if !self.tables.shared.is_shared(pt) {
                        count += 1;
                    }
                    frames.insert(pt);
                    let refs = leaf_refs.entry(pt).or_insert((0, false));
                    refs.0 += 1;
                    refs.1 |= pde_writable;
                    for i1 in 0..512u64 {
                        let v1 = v2 + i1 * PAGE_SIZE;
                        let pte = phys.read_u64((e2 & PTE_ADDR_MASK) + 8 * i1);
                        if pte != 0 {
                            self.check_leaf(sid, v1, pte, pde_writable)?;
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    /// A present leaf maps what the region's object reads, with no more rights
    /// than the region has, writable only onto the object's own frame.
    fn check_leaf(
        &self,
        sid: SpaceId,
        vaddr: VirtAddr,
        pte: u64,
        pde_writable: bool,
    ) -> Result<(), String> {
        let sp = &self.spaces[&sid];
        let Some((start, r)) = sp.find(vaddr) else {
            return Err(format!("{sid:?}: leaf at {vaddr:#x} outside every region"));
        };
        if r.prot.no_access() {
            return Err(format!("{sid:?}: leaf at {vaddr:#x} in a no-access region"));
        }
        let idx = r.obj_off + (vaddr - start) / PAGE_SIZE;
        let found = self.objects.lookup(r.obj, idx);
        let paddr = pte & PTE_ADDR_MASK;
        if found.map(|f| f.paddr) != Some(paddr) {
            return Err(format!(
                "{sid:?}: leaf at {vaddr:#x} maps {paddr:#x}, object reads {found:?}"
            ));
        }
        let writable = pte & PTE_WRITABLE != 0 && pde_writable;
        if writable {
            let own = match self.objects.get(r.obj).kind {
                Kind::Phys { .. } => true,
                Kind::Anon => self.objects.get(r.obj).pages.get(idx) == Some(paddr),
            };
            if !r.prot.write_bit() || !own {
                return Err(format!(
                    "{sid:?}: leaf at {vaddr:#x} writable without right or ownership"
                ));
            }
        }
        let executable = pte & pagetable::PTE_NO_EXECUTE == 0;
        if executable && !r.prot.exec_bit() {
            return Err(format!(
                "{sid:?}: leaf at {vaddr:#x} executable without right"
            ));
        }
        if pte & pagetable::PTE_USER == 0 {
            return Err(format!("{sid:?}: leaf at {vaddr:#x} without user bit"));
        }
        Ok(())
    }
}
