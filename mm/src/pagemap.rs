//! `PageMap`: the frames a memory object owns, by page index, in chunks of 512.
//!
//! A chunk holding few pages is sparse (a short sorted list), so that the
//! kernel heap a resident page costs stays bounded whatever the pattern of
//! touched pages (`doc/memory.md` §11); a chunk holding many is a dense
//! array of 512 slots, as fast as before.

use crate::PhysAddr;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Pages per chunk: one leaf page table's worth, so that the chunks of an
/// object and the leaf tables of a region line up when offsets are aligned.
pub(crate) const CHUNK_NPAGES: u64 = 512;
/// A sparse chunk becomes dense when it would hold more pages than this.
const SPARSE_MAX: usize = 64;
/// A dense chunk becomes sparse again when it holds fewer pages than this,
/// so a dense chunk (4 KiB) always holds at least 32 pages (128 bytes each).
const DENSE_MIN: u32 = 32;

#[derive(Debug)]
struct Dense {
    /// `paddr | 1` for a present page, 0 for none (bit 0 marks presence so
    /// that physical address 0 is representable).
    slots: [u64; CHUNK_NPAGES as usize],
    used: u32,
}

#[derive(Debug)]
enum Chunk {
    /// At most `SPARSE_MAX` pages: (offset in the chunk, frame), sorted.
    Sparse(Vec<(u16, PhysAddr)>),
    Dense(Box<Dense>),
}

impl Chunk {
    fn used(&self) -> u32 {
        match self {
            Chunk::Sparse(v) => v.len() as u32,
            Chunk::Dense(d) => d.used,
        }
    }

    /// `off < CHUNK_NPAGES` (the `PageMap` methods pass `idx % CHUNK_NPAGES`
    /// or offsets inside one chunk), so `off as u16` and `slots[off]` hold.
    fn get(&self, off: u64) -> Option<PhysAddr> {
        match self {
            Chunk::Sparse(v) => v
                .binary_search_by_key(&(off as u16), |&(o, _)| o)
                .ok()
                .map(|i| v[i].1),
            Chunk::Dense(d) => {
                let slot = d.slots[off as usize];
                (slot & 1 != 0).then_some(slot & !1)
            }
        }
    }

    fn insert(&mut self, off: u64, paddr: PhysAddr) {
        match self {
            Chunk::Sparse(v) => {
                let i = match v.binary_search_by_key(&(off as u16), |&(o, _)| o) {
                    Ok(_) => panic!("page index already backed"),
                    Err(i) => i,
                };
                if v.len() < SPARSE_MAX {
                    v.insert(i, (off as u16, paddr));
                    return;
                }
                let mut d = Box::new(Dense {
                    slots: [0; CHUNK_NPAGES as usize],
                    used: 0,
                });
                for &(o, p) in v.iter() {
                    d.slots[o as usize] = p | 1;
                }
                d.used = v.len() as u32;
                *self = Chunk::Dense(d);
                self.insert(off, paddr);
            }
            Chunk::Dense(d) => {
                let slot = &mut d.slots[off as usize];
                assert!(*slot & 1 == 0, "page index already backed");
                *slot = paddr | 1;
                d.used += 1;
            }
        }
    }

    fn remove(&mut self, off: u64) -> Option<PhysAddr> {
        let paddr = match self {
            Chunk::Sparse(v) => {
                let i = v.binary_search_by_key(&(off as u16), |&(o, _)| o).ok()?;
                v.remove(i).1
            }
            Chunk::Dense(d) => {
                let slot = &mut d.slots[off as usize];
                if *slot & 1 == 0 {
                    return None;
                }
                let paddr = *slot & !1;
                *slot = 0;
                d.used -= 1;
                paddr
            }
        };
        self.settle();
        Some(paddr)
    }

    /// Keeps the heap per page bounded after removals: a dense chunk with
    /// few pages becomes sparse, a sparse list gives back unused capacity.
    fn settle(&mut self) {
        match self {
            Chunk::Dense(d) if d.used < DENSE_MIN && d.used > 0 => {
                let mut v = Vec::with_capacity(d.used as usize);
                for (i, &slot) in d.slots.iter().enumerate() {
                    if slot & 1 != 0 {
                        v.push((i as u16, slot & !1));
                    }
                }
                *self = Chunk::Sparse(v);
            }
            Chunk::Sparse(v) if v.len() * 4 <= v.capacity() && v.capacity() > 4 => {
                v.shrink_to((v.len() * 2).max(4));
            }
            _ => {}
        }
    }

    /// Calls `f(offset, paddr)` for every present page with offset in `[lo, hi)`.
    fn for_each_in(&self, lo: u64, hi: u64, mut f: impl FnMut(u64, PhysAddr)) {
        match self {
            Chunk::Sparse(v) => {
                for &(o, p) in v {
                    let o = u64::from(o);
                    if o >= lo && o < hi {
                        f(o, p);
                    }
                }
            }
            Chunk::Dense(d) => {
                if d.used == CHUNK_NPAGES as u32 && lo == 0 && hi == CHUNK_NPAGES {
                    for (i, slot) in d.slots.iter().enumerate() {
                        f(i as u64, slot & !1);
                    }
                    return;
                }
                for i in lo..hi {
                    let slot = d.slots[i as usize];
                    if slot & 1 != 0 {
                        f(i, slot & !1);
                    }
                }
            }
        }
    }

    /// Removes every page with offset in `[lo, hi)`, calling `f(offset,
    /// paddr)` for each; returns how many.
    fn drain_in(&mut self, lo: u64, hi: u64, mut f: impl FnMut(u64, PhysAddr)) -> u64 {
        let mut n = 0;
        match self {
            Chunk::Sparse(v) => v.retain(|&(o, p)| {
                let o = u64::from(o);
                let inside = o >= lo && o < hi;
                if inside {
                    f(o, p);
                    n += 1;
                }
                !inside
            }),
            Chunk::Dense(d) => {
                for i in lo..hi {
                    let slot = &mut d.slots[i as usize];
                    if *slot & 1 != 0 {
                        f(i, *slot & !1);
                        *slot = 0;
                        n += 1;
                    }
                }
                d.used -= n as u32;
            }
        }
        self.settle();
        n
    }
}

/// A sparse map page index → frame.
#[derive(Debug, Default)]
pub(crate) struct PageMap {
    chunks: BTreeMap<u64, Chunk>,
    len: u64,
}

impl PageMap {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn get(&self, idx: u64) -> Option<PhysAddr> {
        self.chunks
            .get(&(idx / CHUNK_NPAGES))?
            .get(idx % CHUNK_NPAGES)
    }

    /// Inserts a frame at a free index.
    pub(crate) fn insert(&mut self, idx: u64, paddr: PhysAddr) {
        self.chunks
            .entry(idx / CHUNK_NPAGES)
            .or_insert_with(|| Chunk::Sparse(Vec::new()))
            .insert(idx % CHUNK_NPAGES, paddr);
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, idx: u64) -> Option<PhysAddr> {
        let key = idx / CHUNK_NPAGES;
        let chunk = self.chunks.get_mut(&key)?;
        let paddr = chunk.remove(idx % CHUNK_NPAGES)?;
        self.len -= 1;
        if chunk.used() == 0 {
            self.chunks.remove(&key);
        }
        Some(paddr)
    }

    /// Number of present pages in `[start, end)`: whole chunks by their
    /// count, the partial ones at the edges page by page.
    pub(crate) fn count_range(&self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let mut count = 0;
        for (&key, chunk) in self
            .chunks
            .range(start / CHUNK_NPAGES..=(end - 1) / CHUNK_NPAGES)
        {
            let base = key * CHUNK_NPAGES;
            let lo = start.max(base) - base;
            let hi = end.min(base + CHUNK_NPAGES) - base;
            if lo == 0 && hi == CHUNK_NPAGES {
                count += u64::from(chunk.used());
            } else {
                chunk.for_each_in(lo, hi, |_, _| count += 1);
            }
        }
        count
    }

    /// Calls `f(idx, paddr)` for every present page in `[start, end)`, in order.
    pub(crate) fn for_each_in(&self, start: u64, end: u64, mut f: impl FnMut(u64, PhysAddr)) {
        if start >= end {
            return;
        }
        for (&key, chunk) in self
            .chunks
            .range(start / CHUNK_NPAGES..=(end - 1) / CHUNK_NPAGES)
        {
            let base = key * CHUNK_NPAGES;
            let lo = start.max(base) - base;
            let hi = end.min(base + CHUNK_NPAGES) - base;
            chunk.for_each_in(lo, hi, |i, p| f(base + i, p));
        }
    }

    /// Removes every page in `[start, end)`, calling `f(idx, paddr)` for each.
    pub(crate) fn drain_range(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, PhysAddr)) {
        if start >= end {
            return;
        }
        let covers_all = match (self.chunks.first_key_value(), self.chunks.last_key_value()) {
            (Some((&first, _)), Some((&last, _))) => {
                start <= first * CHUNK_NPAGES
                    && end >= last.saturating_add(1).saturating_mul(CHUNK_NPAGES)
            }
            _ => return,
        };
        if covers_all {
            // Teardown: every chunk goes, without a lookup per chunk.
            for (key, chunk) in core::mem::take(&mut self.chunks) {
                let base = key * CHUNK_NPAGES;
                chunk.for_each_in(0, CHUNK_NPAGES, |i, p| f(base + i, p));
            }
            self.len = 0;
            return;
        }
        let keys: Vec<u64> = self
            .chunks
            .range(start / CHUNK_NPAGES..=(end - 1) / CHUNK_NPAGES)
            .map(|(&k, _)| k)
            .collect();
        for key in keys {
            let base = key * CHUNK_NPAGES;
            let lo = start.max(base) - base;
            let hi = end.min(base + CHUNK_NPAGES) - base;
            let chunk = self.chunks.get_mut(&key).expect("chunk");
            self.len -= chunk.drain_in(lo, hi, |i, p| f(base + i, p));
            if chunk.used() == 0 {
                self.chunks.remove(&key);
            }
        }
    }

    /// Removes every page, calling `f(idx, paddr)` for each.
    pub(crate) fn drain_all(&mut self, f: impl FnMut(u64, PhysAddr)) {
        self.drain_range(0, u64::MAX, f);
    }

    /// Moves whole chunks of `self`, shifted down by `shift_npages` (a multiple
    /// of [`CHUNK_NPAGES`]), into `dst` where `dst` has no chunk at all; the
    /// pages left behind are those `dst` already had a chunk for.
    /// Returns how many pages moved.
    pub(crate) fn move_chunks_into(&mut self, dst: &mut PageMap, shift_npages: u64) -> u64 {
        debug_assert_eq!(shift_npages % CHUNK_NPAGES, 0);
        let shift_chunks = shift_npages / CHUNK_NPAGES;
        let movable: Vec<u64> = self
            .chunks
            .keys()
            .copied()
            .filter(|&k| k >= shift_chunks && !dst.chunks.contains_key(&(k - shift_chunks)))
            .collect();
        let mut moved = 0;
        for key in movable {
            let chunk = self.chunks.remove(&key).expect("chunk");
            let npages = u64::from(chunk.used());
            self.len -= npages;
            dst.len += npages;
            moved += npages;
            dst.chunks.insert(key - shift_chunks, chunk);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap as Model;

    fn check(m: &PageMap, model: &Model<u64, PhysAddr>) {
        assert_eq!(m.len(), model.len() as u64);
        let mut seen = Vec::new();
        m.for_each_in(0, u64::MAX, |i, p| seen.push((i, p)));
        assert_eq!(
            seen,
            model.iter().map(|(&i, &p)| (i, p)).collect::<Vec<_>>()
        );
        for (&key, chunk) in &m.chunks {
            let used = chunk.used();
            assert!(used > 0, "empty chunk {key} kept");
            match chunk {
                Chunk::Sparse(v) => assert!(v.len() <= SPARSE_MAX),
                Chunk::Dense(_) => assert!(used >= DENSE_MIN, "dense chunk with {used} pages"),
            }
        }
    }

    #[test]
    fn chunks_go_dense_and_sparse_again_and_keep_every_page() {
        let mut m = PageMap::default();
        let mut model = Model::new();
        // Fill one chunk past the sparse limit, out of order, and a second one sparsely.
        for k in 0..200u64 {
            let idx = (k * 37) % 512;
            m.insert(idx, 0x1000 * (idx + 1));
            model.insert(idx, 0x1000 * (idx + 1));
            assert_eq!(m.get(idx), Some(0x1000 * (idx + 1)));
        }
        for idx in [512 + 3, 512 + 500, 4096] {
            m.insert(idx, idx << 12);
            model.insert(idx, idx << 12);
        }
        check(&m, &model);
        assert!(matches!(m.chunks[&0], Chunk::Dense(_)));
        // Remove down below the dense minimum, page by page and by range.
        for k in 0..150u64 {
            let idx = (k * 37) % 512;
            assert_eq!(m.remove(idx), model.remove(&idx));
        }
        check(&m, &model);
        let mut drained = Vec::new();
        m.drain_range(100, 515, |i, p| drained.push((i, p)));
        let expected: Vec<_> = model.range(100..515).map(|(&i, &p)| (i, p)).collect();
        assert_eq!(drained, expected);
        model.retain(|&i, _| !(100..515).contains(&i));
        check(&m, &model);
        assert_eq!(m.count_range(0, 4097), model.len() as u64);
        let mut all = Vec::new();
        m.drain_all(|i, p| all.push((i, p)));
        assert_eq!(all.len(), model.len());
        assert!(m.is_empty() && m.chunks.is_empty());
    }
}
