//! A fixed-capacity set of physical address ranges, usable before the heap exists.

/// Page size in bytes.
pub const PAGE_SIZE: u64 = 4096;

const CAPACITY: usize = 128;

/// Sorted, disjoint, non-empty half-open ranges `[start, end)`.
#[derive(Clone, Debug)]
pub struct Ranges {
    items: [(u64, u64); CAPACITY],
    len: usize,
}

impl Default for Ranges {
    fn default() -> Self {
        Self::new()
    }
}

impl Ranges {
    /// The empty set.
    pub const fn new() -> Self {
        Self {
            items: [(0, 0); CAPACITY],
            len: 0,
        }
    }

    /// The ranges, in address order.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.items[..self.len]
    }

    /// Adds `[start, end)`, merging with neighbours.
    ///
    /// # Panics
    ///
    /// If more than the fixed capacity of disjoint ranges would be needed.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        let mut out = Self::new();
        for &(s, e) in self.as_slice() {
            if e < start || s > end {
                out.push(s, e);
            } else {
                start = start.min(s);
                end = end.max(e);
            }
        }
        out.push(start, end);
        out.items[..out.len].sort_unstable();
        *self = out;
    }

    /// Removes `[start, end)`, splitting ranges.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut out = Self::new();
        for &(s, e) in self.as_slice() {
            if e <= start || s >= end {
                out.push(s, e);
            } else {
                if s < start {
                    out.push(s, start);
                }
                if e > end {
                    out.push(end, e);
                }
            }
        }
        *self = out;
    }

    /// Removes every range of `other`.
    pub fn remove_all(&mut self, other: &Ranges) {
        for &(s, e) in other.as_slice() {
            self.remove(s, e);
        }
    }

    /// Shrinks every range to whole pages.
    pub fn page_align_inward(&mut self) {
        let mut out = Self::new();
        for &(s, e) in self.as_slice() {
            let s = s.next_multiple_of(PAGE_SIZE);
            let e = e & !(PAGE_SIZE - 1);
            if s < e {
                out.push(s, e);
            }
        }
        *self = out;
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(|&(s, e)| e - s).sum()
    }

    /// Highest end address, 0 if empty.
    pub fn max_end(&self) -> u64 {
        self.as_slice().last().map_or(0, |&(_, e)| e)
    }

    /// Takes one page from the lowest range below `limit`.
    pub fn take_page_below(&mut self, limit: u64) -> Option<u64> {
        let i =
            (0..self.len).find(|&i| self.items[i].0 + PAGE_SIZE <= limit.min(self.items[i].1))?;
        let page = self.items[i].0;
        self.remove(page, page + PAGE_SIZE);
        Some(page)
    }

    /// Takes `len` bytes (a page multiple) from the end of the largest range.
    pub fn take_from_largest(&mut self, len: u64) -> Option<u64> {
        let &(s, e) = self.as_slice().iter().max_by_key(|&&(s, e)| e - s)?;
        if e - s < len {
            return None;
        }
        self.remove(e - len, e);
        Some(e - len)
    }

    fn push(&mut self, start: u64, end: u64) {
        assert!(self.len < CAPACITY, "too many physical memory ranges");
        self.items[self.len] = (start, end);
        self.len += 1;
    }
}
