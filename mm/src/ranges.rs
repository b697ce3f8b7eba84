//! `RangeCounts`: reference counts over page-index ranges, as disjoint intervals.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Counts per page index, stored as disjoint `[start, end) → count` intervals
/// (count ≥ 1; absent means 0). Adjacent intervals with equal counts are merged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RangeCounts {
    map: BTreeMap<u64, (u64, u32)>,
}

impl RangeCounts {
    /// Count 1 on each given disjoint interval.
    pub(crate) fn from_intervals(intervals: &[(u64, u64)]) -> Self {
        let mut map = BTreeMap::new();
        for &(start, end) in intervals {
            map.insert(start, (end, 1));
        }
        Self { map }
    }

    /// Number of intervals.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `idx` has a count ≥ 1.
    pub(crate) fn contains(&self, idx: u64) -> bool {
        self.map
            .range(..=idx)
            .next_back()
            .is_some_and(|(_, &(end, _))| idx < end)
    }

    /// The maximal intervals with count ≥ 1.
    pub(crate) fn live_intervals(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&start, &(end, _)) in &self.map {
            match out.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => out.push((start, end)),
            }
        }
        out
    }

    /// Number of indices with count ≥ 1.
    pub(crate) fn live_npages(&self) -> u64 {
        self.map.iter().map(|(&s, &(e, _))| e - s).sum()
    }

    /// Every interval with its count.
    pub(crate) fn intervals(&self) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        self.map.iter().map(|(&s, &(e, c))| (s, e, c))
    }

    /// Splits the interval that strictly contains `at`.
    fn split_at(&mut self, at: u64) {
        if let Some((&start, &(end, count))) = self.map.range(..at).next_back() {
            if at < end {
                self.map.insert(start, (at, count));
                self.map.insert(at, (end, count));
            }
        }
    }

    /// Merges equal-count neighbours around `[start, end]`.
    fn coalesce(&mut self, start: u64, end: u64) {
        let from = self
            .map
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let keys: Vec<u64> = self.map.range(from..=end).map(|(&k, _)| k).collect();
        let mut prev: Option<u64> = None;
        for key in keys {
            let (end_k, count_k) = self.map[&key];
            if let Some(p) = prev {
                let (end_p, count_p) = self.map[&p];
                if end_p == key && count_p == count_k {
                    self.map.insert(p, (end_k, count_p));
                    self.map.remove(&key);
                    continue;
                }
            }
            prev = Some(key);
        }
    }

    /// Splits the intervals at `start` and `end` and lists the `[s, e)` of
    /// those now inside `[start, end)`.
    fn split_around(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.split_at(start);
        self.split_at(end);
        self.map
            .range(start..end)
            .map(|(&s, &(e, _))| (s, e))
            .collect()
    }

    /// Adds 1 on `[start, end)`; pushes the sub-ranges that went from 0 to 1.
    pub(crate) fn add(&mut self, start: u64, end: u64, newly_live: &mut Vec<(u64, u64)>) {
        if start >= end {
            return;
        }
        let inside = self.split_around(start, end);
        let mut cursor = start;
        for (s, e) in inside {
            if s > cursor {
                self.map.insert(cursor, (s, 1));
                newly_live.push((cursor, s));
            }
            self.map.get_mut(&s).expect("interval").1 += 1;
            cursor = e;
        }
        if cursor < end {
            self.map.insert(cursor, (end, 1));
            newly_live.push((cursor, end));
        }
        self.coalesce(start, end);
    }

    /// Subtracts 1 on `[start, end)` (every index must be live); pushes the
    /// sub-ranges that went from 1 to 0.
    pub(crate) fn sub(&mut self, start: u64, end: u64, dead: &mut Vec<(u64, u64)>) {
        if start >= end {
            return;
        }
        let inside = self.split_around(start, end);
        let mut cursor = start;
        for (s, e) in inside {
            assert_eq!(s, cursor, "reference count underflow");
            let entry = self.map.get_mut(&s).expect("interval");
            entry.1 -= 1;
            if entry.1 == 0 {
                self.map.remove(&s);
                match dead.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ => dead.push((s, e)),
                }
            }
            cursor = e;
        }
        assert_eq!(cursor, end, "reference count underflow");
        self.coalesce(start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_sub_report_transitions() {
        let mut rc = RangeCounts::default();
        let mut live = Vec::new();
        rc.add(0, 10, &mut live);
        assert_eq!(live, [(0, 10)]);
        live.clear();
        rc.add(5, 15, &mut live);
        assert_eq!(live, [(10, 15)]);
        assert_eq!(
            rc.intervals().collect::<Vec<_>>(),
            [(0, 5, 1), (5, 10, 2), (10, 15, 1)]
        );
        let mut dead = Vec::new();
        rc.sub(0, 10, &mut dead);
        assert_eq!(dead, [(0, 5)]);
        assert_eq!(rc.intervals().collect::<Vec<_>>(), [(5, 15, 1)]);
        assert!(rc.contains(5) && !rc.contains(4) && !rc.contains(15));
        dead.clear();
        rc.sub(5, 15, &mut dead);
        assert_eq!(dead, [(5, 15)]);
        assert!(rc.is_empty());
    }

    #[test]
    #[should_panic(expected = "underflow")]
    fn sub_of_dead_range_panics() {
        let mut rc = RangeCounts::default();
        rc.add(0, 4, &mut Vec::new());
        rc.sub(2, 6, &mut Vec::new());
    }
}
