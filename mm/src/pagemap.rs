//! `PageMap`: the frames a memory object owns, by page index, in chunks of 512.

use crate::PhysAddr;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;

/// Pages per chunk: one leaf page table's worth, so that the chunks of an
/// object and the leaf tables of a region line up when offsets are aligned.
pub(crate) const CHUNK_NPAGES: u64 = 16;

#[derive(Debug)]
struct Chunk {
    /// `paddr | 1` for a present page, 0 for none (bit 0 marks presence so
    /// that physical address 0 is representable).
    slots: [u64; CHUNK_NPAGES as usize],
    used: u32,
}

impl Chunk {
    fn new() -> Box<Self> {
        Box::new(Chunk {
            slots: [0; CHUNK_NPAGES as usize],
            used: 0,
        })
    }
}

/// A sparse map page index → frame.
#[derive(Debug, Default)]
pub(crate) struct PageMap {
    chunks: BTreeMap<u64, Box<Chunk>>,
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
        let chunk = self.chunks.get(&(idx / CHUNK_NPAGES))?;
        let slot = chunk.slots[(idx % CHUNK_NPAGES) as usize];
        (slot & 1 != 0).then_some(slot & !1)
    }

    /// Inserts a frame at a free index.
    pub(crate) fn insert(&mut self, idx: u64, paddr: PhysAddr) {
        let chunk = self
            .chunks
            .entry(idx / CHUNK_NPAGES)
            .or_insert_with(Chunk::new);
        let slot = &mut chunk.slots[(idx % CHUNK_NPAGES) as usize];
        assert!(*slot & 1 == 0, "page index already backed");
        *slot = paddr | 1;
        chunk.used += 1;
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, idx: u64) -> Option<PhysAddr> {
        let key = idx / CHUNK_NPAGES;
        let chunk = self.chunks.get_mut(&key)?;
        let slot = &mut chunk.slots[(idx % CHUNK_NPAGES) as usize];
        if *slot & 1 == 0 {
            return None;
        }
        let paddr = *slot & !1;
        *slot = 0;
        chunk.used -= 1;
        self.len -= 1;
        if chunk.used == 0 {
            self.chunks.remove(&key);
        }
        Some(paddr)
    }

    /// Number of present pages in `[start, end)`.
    pub(crate) fn count_range(&self, start: u64, end: u64) -> u64 {
        let mut count = 0;
        self.for_each_in(start, end, |_, _| count += 1);
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
            if chunk.used == CHUNK_NPAGES as u32 && base >= start && base + CHUNK_NPAGES <= end {
                for (i, slot) in chunk.slots.iter().enumerate() {
                    f(base + i as u64, slot & !1);
                }
                continue;
            }
            let lo = start.max(base) - base;
            let hi = end.min(base + CHUNK_NPAGES) - base;
            for i in lo..hi {
                let slot = chunk.slots[i as usize];
                if slot & 1 != 0 {
                    f(base + i, slot & !1);
                }
            }
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
                for (i, &slot) in chunk.slots.iter().enumerate() {
                    if slot & 1 != 0 {
                        f(base + i as u64, slot & !1);
                    }
                }
            }
            self.len = 0;
            return;
        }
        let keys: alloc::vec::Vec<u64> = self
            .chunks
            .range(start / CHUNK_NPAGES..=(end - 1) / CHUNK_NPAGES)
            .map(|(&k, _)| k)
            .collect();
        for key in keys {
            let base = key * CHUNK_NPAGES;
            let lo = start.max(base) - base;
            let hi = end.min(base + CHUNK_NPAGES) - base;
            let chunk = self.chunks.get_mut(&key).expect("chunk");
            for i in lo..hi {
                let slot = &mut chunk.slots[i as usize];
                if *slot & 1 != 0 {
                    f(base + i, *slot & !1);
                    *slot = 0;
                    chunk.used -= 1;
                    self.len -= 1;
                }
            }
            if chunk.used == 0 {
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
        let movable: alloc::vec::Vec<u64> = self
            .chunks
            .keys()
            .copied()
            .filter(|&k| k >= shift_chunks && !dst.chunks.contains_key(&(k - shift_chunks)))
            .collect();
        let mut moved = 0;
        for key in movable {
            let chunk = self.chunks.remove(&key).expect("chunk");
            let npages = u64::from(chunk.used);
            self.len -= npages;
            dst.len += npages;
            moved += npages;
            dst.chunks.insert(key - shift_chunks, chunk);
        }
        moved
    }
}
