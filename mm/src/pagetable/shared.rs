//! Leaf tables several address spaces reference at once (On-Demand-Fork), and who holds them.

use crate::{PhysAddr, SpaceId};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Leaf tables that several address spaces reference (On-Demand-Fork): a
/// private copy hands the child the parent's leaf table itself, R/W cleared
/// in both PDEs, and whoever first has to change an entry in the span takes
/// a copy of the table.
///
/// Accounting: each holder of a shared table keeps its promise of a table
/// for that span, so taking a copy can never fail. When a table is left with
/// one holder it becomes that holder's own again at once, and the holder's
/// spare promise goes back to the pool (the page-table context does that,
/// `Walk::leave_shared`): counters return to their baselines as soon as the
/// other holders are gone.
#[derive(Debug, Default)]
pub(crate) struct SharedTables {
    /// Leaf-table frame → the spaces whose PDEs point to it (two or more).
    holders: BTreeMap<PhysAddr, Holders>,
}

/// The holders of one shared table: two inline (the common fork case
/// allocates nothing), any further ones in `more`.
#[derive(Debug)]
struct Holders {
    pair: [SpaceId; 2],
    more: Vec<SpaceId>,
}

impl Holders {
    fn iter(&self) -> impl Iterator<Item = SpaceId> + '_ {
        self.pair.iter().chain(self.more.iter()).copied()
    }
}

impl SharedTables {
    pub(crate) fn is_shared(&self, pt: PhysAddr) -> bool {
        self.holders.contains_key(&pt)
    }

    /// Every shared table with its holders.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (PhysAddr, Vec<SpaceId>)> + '_ {
        self.holders.iter().map(|(&pt, h)| (pt, h.iter().collect()))
    }

    /// `space`, whose PDE now points to `pt` too, shares it with `owner`
    /// (its only holder so far) or with the holders it already has.
    pub(super) fn add_holder(&mut self, pt: PhysAddr, owner: SpaceId, space: SpaceId) {
        match self.holders.get_mut(&pt) {
            Some(h) => h.more.push(space),
            None => {
                self.holders.insert(
                    pt,
                    Holders {
                        pair: [owner, space],
                        more: Vec::new(),
                    },
                );
            }
        }
    }

    /// `space` stops referencing the shared table `pt`; returns the holder
    /// left alone, if any (its table is its own again).
    pub(super) fn drop_holder(&mut self, pt: PhysAddr, space: SpaceId) -> Option<SpaceId> {
        let h = self.holders.get_mut(&pt).expect("shared table");
        if let Some(i) = h.more.iter().position(|&s| s == space) {
            h.more.swap_remove(i);
            return None;
        }
        let i = h
            .pair
            .iter()
            .position(|&s| s == space)
            .expect("holder of a shared table");
        match h.more.pop() {
            Some(next) => {
                h.pair[i] = next;
                None
            }
            None => {
                let alone = h.pair[1 - i];
                self.holders.remove(&pt);
                Some(alone)
            }
        }
    }
}
