//! Property tests: random operation sequences over several spaces against a simple reference model.
//!
//! The model is deliberately naive: every virtual page of every space names
//! a *cell* (a 4 KiB byte array). Sharing (MCLONE, `K_INHERITSHARE`) makes
//! two pages name the same cell; a private copy makes a new cell with a copy
//! of the bytes at once (an eager snapshot). `mm` must be indistinguishable
//! from it: bytes, fault outcomes, region lists, residency; and after every
//! step its own invariants hold and every stale TLB translation is flushed.

use crate::sim::SimPhys;
use crate::{Access, FaultOutcome, Flush, Memory, MmError, SpaceId, PAGE_SIZE};
use abi::perms::JINUE_PROT_MASK;
use abi::region::{K_EXECUTABLE, K_INHERITCOPY, K_INHERITSHARE, K_NOACCESS, K_WRITABLE};
use abi::types::KnRgnDesc;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

extern crate std;

/// Pages of the window every operation works in: it straddles a 2 MiB
/// boundary so that one leaf table can be covered whole.
const WINDOW_NPAGES: u64 = 1024;
/// The usual window: low in the first directory.
const WINDOW_BASE: u64 = 0x40_0000 - 512 * PAGE_SIZE;
/// A window across a 512 GiB boundary (a PML4 entry, so every level of
/// table changes in the middle of it).
const WINDOW_BASE_PML4_EDGE: u64 = (1 << 39) - 512 * PAGE_SIZE;
/// The last window of user space: it ends at `USER_LIMIT`.
const WINDOW_BASE_TOP: u64 = abi::layout::USER_LIMIT - WINDOW_NPAGES * PAGE_SIZE;
const NSPACES: usize = 3;

std::thread_local! {
    /// Where this thread's harness puts the window (tests run in threads).
    static BASE: core::cell::Cell<u64> = const { core::cell::Cell::new(WINDOW_BASE) };
}

fn window_base() -> u64 {
    BASE.with(|b| b.get())
}

fn vaddr(page: u64) -> u64 {
    window_base() + page * PAGE_SIZE
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        space: usize,
        page: u64,
        npages: u64,
        options: u64,
    },
    Free {
        space: usize,
        page: u64,
        npages: u64,
    },
    FreeAll {
        space: usize,
    },
    Protect {
        space: usize,
        page: u64,
        npages: u64,
        prot: u64,
    },
    Inherit {
        space: usize,
        page: u64,
        npages: u64,
        inherit: u64,
    },
    Write {
        space: usize,
        page: u64,
        offset: u64,
        byte: u8,
    },
    Read {
        space: usize,
        page: u64,
    },
    Fault {
        space: usize,
        page: u64,
        access: Access,
    },
    Clone {
        src: usize,
        dst: usize,
        src_page: u64,
        dst_page: u64,
        npages: u64,
        prot: i32,
    },
    Dup {
        target: usize,
        source: usize,
        flags: u64,
    },
    Recreate {
        space: usize,
    },
    MapPhys {
        space: usize,
        page: u64,
        npages: u64,
        dev_page: u64,
        options: u64,
    },
}

/// Frames of simulated device memory (physical, never in the pool).
const DEVICE_NPAGES: u64 = 1024;

fn page() -> impl Strategy<Value = u64> {
    prop_oneof![0..12u64, 505..520u64, 0..WINDOW_NPAGES]
}

fn npages() -> impl Strategy<Value = u64> {
    prop_oneof![1..4u64, 1..40u64, 500..600u64]
}

fn space() -> impl Strategy<Value = usize> {
    0..NSPACES
}

fn op() -> impl Strategy<Value = Op> {
    let prot = prop_oneof![
        Just(0),
        Just(K_WRITABLE),
        Just(K_EXECUTABLE),
        Just(K_NOACCESS),
        Just(K_WRITABLE | K_EXECUTABLE)
    ];
    let inherit = prop_oneof![Just(0), Just(K_INHERITCOPY), Just(K_INHERITSHARE)];
    let access = prop_oneof![
        Just(Access::Read),
        Just(Access::Write),
        Just(Access::Execute)
    ];
    prop_oneof![
        3 => (space(), page(), npages(), prop_oneof![Just(0), Just(K_WRITABLE), Just(K_EXECUTABLE)], inherit.clone())
            .prop_map(|(space, page, npages, p, i)| Op::Alloc { space, page, npages, options: p | i }),
        1 => (space(), page(), npages()).prop_map(|(space, page, npages)| Op::Free { space, page, npages }),
        1 => space().prop_map(|space| Op::FreeAll { space }),
        1 => (space(), page(), npages(), prot).prop_map(|(space, page, npages, prot)| Op::Protect { space, page, npages, prot }),
        1 => (space(), page(), npages(), inherit).prop_map(|(space, page, npages, inherit)| Op::Inherit { space, page, npages, inherit }),
        6 => (space(), page(), 0..PAGE_SIZE, any::<u8>()).prop_map(|(space, page, offset, byte)| Op::Write { space, page, offset, byte }),
        2 => (space(), page()).prop_map(|(space, page)| Op::Read { space, page }),
        2 => (space(), page(), access).prop_map(|(space, page, access)| Op::Fault { space, page, access }),
        3 => (space(), space(), page(), page(), prop_oneof![0..4u64, npages()], 0..=JINUE_PROT_MASK)
            .prop_map(|(src, dst, src_page, dst_page, npages, prot)| Op::Clone { src, dst, src_page, dst_page, npages, prot }),
        3 => (space(), space(), prop_oneof![Just(0), Just(K_INHERITCOPY), Just(K_INHERITSHARE)])
            .prop_map(|(target, source, flags)| Op::Dup { target, source, flags }),
        1 => space().prop_map(|space| Op::Recreate { space }),
        1 => (space(), page(), npages(), prop_oneof![Just(0u64), Just(512), 0..8u64], prop_oneof![Just(0), Just(K_WRITABLE), Just(K_WRITABLE | K_INHERITCOPY), Just(K_INHERITSHARE)])
            .prop_map(|(space, page, npages, dev_page, options)| Op::MapPhys { space, page, npages, dev_page, options }),
    ]
}

/// One virtual page of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MPage {
    cell: usize,
    prot: u64,
    inherit: u64,
    opaque: u64,
    /// Pages with the same token and adjacent addresses form one region.
    token: u64,
    /// Device memory: shared by every duplication.
    phys: bool,
}

#[derive(Clone, Debug)]
struct Cell {
    bytes: Vec<u8>,
    backed: bool,
}

#[derive(Clone, Debug, Default)]
struct Model {
    spaces: Vec<BTreeMap<u64, MPage>>,
    cells: Vec<Cell>,
    next_token: u64,
    /// The cell of each device frame.
    device: Vec<usize>,
}

fn allows(prot: u64, access: Access) -> bool {
    prot & K_NOACCESS == 0
        && match access {
            Access::Read => true,
            Access::Write => prot & K_WRITABLE != 0,
            Access::Execute => prot & K_EXECUTABLE != 0,
        }
}

impl Model {
    fn new() -> Self {
        let mut model = Model {
            spaces: vec![BTreeMap::new(); NSPACES],
            ..Default::default()
        };
        for _ in 0..DEVICE_NPAGES {
            let cell = model.new_cell(None);
            model.cells[cell].backed = true;
            model.device.push(cell);
        }
        model
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn new_cell(&mut self, from: Option<usize>) -> usize {
        let cell = match from {
            Some(c) => self.cells[c].clone(),
            None => Cell {
                bytes: vec![0; PAGE_SIZE as usize],
                backed: false,
            },
        };
        self.cells.push(cell);
        self.cells.len() - 1
    }

    /// Gives the pages of `[lo, hi)` of `space` new tokens, as mm cuts regions.
    fn cut(&mut self, space: usize, lo: u64, hi: u64) {
        let mut fresh: BTreeMap<(u64, u8), u64> = BTreeMap::new();
        let pages: Vec<u64> = self.spaces[space].keys().copied().collect();
        for p in pages {
            let part = if p < lo {
                continue;
            } else if p < hi {
                0
            } else {
                1
            };
            let old = self.spaces[space][&p].token;
            let touched = self.spaces[space]
                .range(lo..hi)
                .any(|(_, mp)| mp.token == old);
            if !touched {
                continue;
            }
            let next = self.next_token + 1;
            let t = *fresh.entry((old, part)).or_insert(next);
            if t == next {
                self.next_token = next;
            }
            self.spaces[space].get_mut(&p).unwrap().token = t;
        }
    }

    /// The region list as mm's `stat` reports it: (start page, npages, options, opaque, resident).
    fn regions(&self, space: usize) -> Vec<(u64, u64, u64, u64, u64)> {
        let mut out: Vec<(u64, u64, u64, u64, u64)> = Vec::new();
        let mut last: Option<(u64, u64)> = None;
        for (&p, mp) in &self.spaces[space] {
            let backed = u64::from(self.cells[mp.cell].backed);
            match (out.last_mut(), last) {
                (Some(r), Some((lp, lt))) if lp + 1 == p && lt == mp.token => {
                    r.1 += 1;
                    r.4 += backed;
                }
                _ => out.push((p, 1, mp.prot | mp.inherit, mp.opaque, backed)),
            }
            last = Some((p, mp.token));
        }
        out
    }
}

struct Harness {
    m: Memory<SimPhys>,
    device_paddr: u64,
    ids: Vec<Option<SpaceId>>,
    model: Model,
}

/// Every leaf of the window in every space, as (space, vaddr) → (entry, PDE writable).
type Leaves = BTreeMap<(SpaceId, u64), (u64, bool)>;

impl Harness {
    fn new(nframes: usize) -> Self {
        // The pool, then 2 MiB-aligned device memory after it.
        let pool_end = crate::sim::SIM_BASE + nframes as u64 * PAGE_SIZE;
        let device_paddr = (pool_end + 0x1f_ffff) & !0x1f_ffff;
        let total_end = device_paddr + DEVICE_NPAGES * PAGE_SIZE;
        let (phys, _) = SimPhys::new(((total_end - crate::sim::SIM_BASE) / PAGE_SIZE) as usize);
        let mut m = Memory::new(phys, &[(crate::sim::SIM_BASE, pool_end)], &[0; 256]);
        let ids = (0..NSPACES)
            .map(|_| Some(m.create_space().unwrap()))
            .collect();
        Harness {
            m,
            device_paddr,
            ids,
            model: Model::new(),
        }
    }

    fn leaves(&self) -> Leaves {
        let mut out = BTreeMap::new();
        for id in self.ids.iter().flatten() {
            for p in 0..WINDOW_NPAGES {
                let l = crate::pagetable::read_leaf(&self.m.phys, self.m.root(*id), vaddr(p));
                if l.0 != 0 {
                    out.insert((*id, vaddr(p)), l);
                }
            }
        }
        out
    }

    /// The bytes page `vaddr` of `space` reads, without faulting anything in.
    fn peek(&self, space: SpaceId, va: u64) -> Vec<u8> {
        let mut out = vec![0u8; PAGE_SIZE as usize];
        let sp = &self.m.spaces[&space];
        let (start, r) = sp.find(va).expect("region");
        let idx = r.obj_off + (va - start) / PAGE_SIZE;
        if let Some(found) = self.m.objects.lookup(r.obj, idx) {
            crate::PhysMem::read_bytes(&self.m.phys, found.paddr, &mut out);
        }
        out
    }

    fn check(&self, before: &Leaves, flush: &Flush) -> Result<(), TestCaseError> {
        self.m.check_invariants().map_err(TestCaseError::fail)?;
        for (i, id) in self.ids.iter().enumerate() {
            let Some(id) = *id else { continue };
            let got: Vec<_> = self
                .m
                .stat(id, vaddr(0), WINDOW_NPAGES * PAGE_SIZE)
                .iter()
                .map(|r| {
                    (
                        (r.startAddr - window_base()) / PAGE_SIZE,
                        r.size / PAGE_SIZE,
                        r.options,
                        r.opaque1,
                        r.resident,
                    )
                })
                .collect();
            prop_assert_eq!(&got, &self.model.regions(i), "regions of space {}", i);
            for (&p, mp) in &self.model.spaces[i] {
                let cell = &self.model.cells[mp.cell];
                if cell.backed && self.peek(id, vaddr(p)) != cell.bytes {
                    prop_assert!(false, "bytes of page {} of space {}", p, i);
                }
            }
        }
        // A translation that disappeared or lost rights must be flushed.
        let after = self.leaves();
        for (&(space, va), &(old, old_pde_w)) in before {
            let old_w = old & 2 != 0 && old_pde_w;
            let still = match after.get(&(space, va)) {
                Some(&(new, new_pde_w)) => {
                    let new_w = new & 2 != 0 && new_pde_w;
                    (new & crate::pagetable::PTE_ADDR_MASK)
                        == (old & crate::pagetable::PTE_ADDR_MASK)
                        && (new_w || !old_w)
                        && (new >> 63) <= (old >> 63)
                }
                None => false,
            };
            let alive = self.ids.contains(&Some(space));
            if !still && alive {
                prop_assert!(
                    flush.covers(space, va),
                    "stale translation at {:#x} not flushed",
                    va
                );
            }
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before = self.leaves();
        let mem_before = self.m.memstat();
        let flush = self.apply(op, mem_before)?;
        self.check(&before, &flush)
    }

    /// Applies `op` to both; returns the flush mm asked for.
    fn apply(
        &mut self,
        op: &Op,
        mem_before: abi::memstat::MemStat,
    ) -> Result<Flush, TestCaseError> {
        let model = &mut self.model;
        let no_memory = |m: &Memory<SimPhys>| -> Result<Flush, TestCaseError> {
            prop_assert_eq!(m.memstat(), mem_before, "NoMemory changed the counters");
            Ok(Flush::new())
        };
        match *op {
            Op::Alloc {
                space,
                page,
                npages,
                options,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let npages = npages.min(WINDOW_NPAGES - page);
                let desc = KnRgnDesc {
                    startAddr: vaddr(page),
                    size: npages * PAGE_SIZE,
                    options,
                    opaque1: page,
                    ..Default::default()
                };
                let overlap = (page..page + npages).any(|p| model.spaces[space].contains_key(&p));
                match self.m.allocate_raw(id, &desc) {
                    Err(MmError::NoMemory) if !overlap => return no_memory(&self.m),
                    Err(MmError::Overlap) if overlap => {}
                    Ok(_) if !overlap => {
                        let token = model.token();
                        for p in page..page + npages {
                            let cell = model.new_cell(None);
                            let mp = MPage {
                                cell,
                                prot: options & (K_WRITABLE | K_EXECUTABLE),
                                inherit: options & (K_INHERITCOPY | K_INHERITSHARE),
                                opaque: page,
                                token,
                                phys: false,
                            };
                            model.spaces[space].insert(p, mp);
                        }
                    }
                    other => prop_assert!(false, "allocate: {:?} (overlap {})", other, overlap),
                }
                Ok(Flush::new())
            }
            Op::Free {
                space,
                page,
                npages,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                // Within the window (at the top of user space, beyond it is invalid).
                let npages = npages.min(WINDOW_NPAGES - page);
                let flush = self
                    .m
                    .free_raw(id, vaddr(page), npages * PAGE_SIZE)
                    .unwrap();
                model.spaces[space].retain(|&p, _| p < page || p >= page + npages);
                model.cut(space, page, page + npages);
                Ok(flush)
            }
            Op::FreeAll { space } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                model.spaces[space].clear();
                Ok(self.m.free_all(id))
            }
            Op::Protect {
                space,
                page,
                npages,
                prot,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let npages = npages.min(WINDOW_NPAGES - page);
                let flush = self
                    .m
                    .set_protect_raw(id, vaddr(page), npages * PAGE_SIZE, prot)
                    .unwrap();
                model.cut(space, page, page + npages);
                for (_, mp) in model.spaces[space].range_mut(page..page + npages) {
                    mp.prot = prot;
                }
                Ok(flush)
            }
            Op::Inherit {
                space,
                page,
                npages,
                inherit,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let npages = npages.min(WINDOW_NPAGES - page);
                self.m
                    .set_inherit_raw(id, vaddr(page), npages * PAGE_SIZE, inherit)
                    .unwrap();
                model.cut(space, page, page + npages);
                for (_, mp) in model.spaces[space].range_mut(page..page + npages) {
                    mp.inherit = inherit;
                }
                Ok(Flush::new())
            }
            Op::Write {
                space,
                page,
                offset,
                byte,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let result = self.m.write_user(id, vaddr(page) + offset, &[byte]);
                match model.spaces[space].get(&page) {
                    Some(mp) if allows(mp.prot, Access::Write) => {
                        let cell = &mut model.cells[mp.cell];
                        cell.bytes[offset as usize] = byte;
                        cell.backed = true;
                        result.map_err(|e| TestCaseError::fail(alloc::format!("write: {e:?}")))
                    }
                    _ => {
                        prop_assert_eq!(result, Err(MmError::BadAddress));
                        Ok(Flush::new())
                    }
                }
            }
            Op::Read { space, page } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let mut out = vec![0u8; PAGE_SIZE as usize];
                let result = self.m.read_user(id, vaddr(page), &mut out);
                match model.spaces[space].get(&page) {
                    Some(mp) if allows(mp.prot, Access::Read) => {
                        let cell = &mut model.cells[mp.cell];
                        cell.backed = true;
                        prop_assert_eq!(&out, &cell.bytes);
                        result.map_err(|e| TestCaseError::fail(alloc::format!("read: {e:?}")))
                    }
                    _ => {
                        prop_assert_eq!(result, Err(MmError::BadAddress));
                        Ok(Flush::new())
                    }
                }
            }
            Op::Fault {
                space,
                page,
                access,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let outcome = self.m.resolve_fault(id, vaddr(page) + 8, access);
                match (model.spaces[space].get(&page), outcome) {
                    (Some(mp), FaultOutcome::Resolved(flush)) if allows(mp.prot, access) => {
                        model.cells[mp.cell].backed = true;
                        Ok(flush)
                    }
                    (Some(mp), FaultOutcome::Violation) if !allows(mp.prot, access) => {
                        Ok(Flush::new())
                    }
                    (None, FaultOutcome::Violation) => Ok(Flush::new()),
                    (mp, outcome) => {
                        prop_assert!(false, "fault {:?} on {:?}: {:?}", access, mp, outcome);
                        unreachable!()
                    }
                }
            }
            Op::Clone {
                src,
                dst,
                src_page,
                dst_page,
                npages,
                prot,
            } => {
                let (Some(s), Some(d)) = (self.ids[src], self.ids[dst]) else {
                    return Ok(Flush::new());
                };
                let npages = npages
                    .min(WINDOW_NPAGES - src_page)
                    .min(WINDOW_NPAGES - dst_page);
                match self.m.clone_range_raw(
                    s,
                    d,
                    vaddr(src_page),
                    vaddr(dst_page),
                    npages * PAGE_SIZE,
                    prot,
                ) {
                    Err(MmError::NoMemory) => no_memory(&self.m),
                    Err(e) => {
                        prop_assert!(false, "clone: {:?}", e);
                        unreachable!()
                    }
                    Ok(flush) => {
                        if npages > 0 {
                            let read: Vec<(u64, MPage)> = model.spaces[src]
                                .range(src_page..src_page + npages)
                                .map(|(&p, mp)| (p, *mp))
                                .collect();
                            model.spaces[dst]
                                .retain(|&p, _| p < dst_page || p >= dst_page + npages);
                            model.cut(dst, dst_page, dst_page + npages);
                            let mut tokens = BTreeMap::new();
                            let new_prot = crate::tests::prot_options(prot);
                            for (p, mp) in read {
                                let t = *tokens.entry(mp.token).or_insert_with(|| model.token());
                                let np = MPage {
                                    prot: new_prot,
                                    token: t,
                                    ..mp
                                };
                                model.spaces[dst].insert(p - src_page + dst_page, np);
                            }
                        }
                        Ok(flush)
                    }
                }
            }
            Op::Dup {
                target,
                source,
                flags,
            } => {
                let (Some(t), Some(s)) = (self.ids[target], self.ids[source]) else {
                    return Ok(Flush::new());
                };
                let empty = model.spaces[target].is_empty();
                match self.m.dup_raw(t, s, flags) {
                    Err(MmError::Overlap) if !empty => Ok(Flush::new()),
                    Err(MmError::NoMemory) if empty => {
                        prop_assert_eq!(self.m.region_count(t), 0);
                        no_memory(&self.m)
                    }
                    Ok(flush) if empty => {
                        if target != source {
                            let src: Vec<(u64, MPage)> = model.spaces[source]
                                .iter()
                                .map(|(&p, mp)| (p, *mp))
                                .collect();
                            let mut tokens = BTreeMap::new();
                            for (p, mp) in src {
                                let mode = if flags != 0 { flags } else { mp.inherit };
                                if mode == 0 {
                                    continue;
                                }
                                let cell = if mode == K_INHERITCOPY && !mp.phys {
                                    model.new_cell(Some(mp.cell))
                                } else {
                                    mp.cell
                                };
                                let t = *tokens.entry(mp.token).or_insert_with(|| model.token());
                                model.spaces[target].insert(
                                    p,
                                    MPage {
                                        cell,
                                        token: t,
                                        ..mp
                                    },
                                );
                            }
                        }
                        Ok(flush)
                    }
                    other => {
                        prop_assert!(false, "dup: {:?} (target empty {})", other, empty);
                        unreachable!()
                    }
                }
            }
            Op::MapPhys {
                space,
                page,
                npages,
                dev_page,
                options,
            } => {
                let Some(id) = self.ids[space] else {
                    return Ok(Flush::new());
                };
                let npages = npages
                    .min(WINDOW_NPAGES - page)
                    .min(DEVICE_NPAGES - dev_page);
                let overlap = (page..page + npages).any(|p| model.spaces[space].contains_key(&p));
                let paddr = self.device_paddr + dev_page * PAGE_SIZE;
                match self
                    .m
                    .map_physical_raw(id, vaddr(page), paddr, npages, options)
                {
                    Err(MmError::NoMemory) if !overlap => return no_memory(&self.m),
                    Err(MmError::Overlap) if overlap => {}
                    Ok(()) if !overlap => {
                        let token = model.token();
                        for i in 0..npages {
                            let mp = MPage {
                                cell: model.device[(dev_page + i) as usize],
                                prot: options & (K_WRITABLE | K_EXECUTABLE),
                                inherit: options & (K_INHERITCOPY | K_INHERITSHARE),
                                opaque: 0,
                                token,
                                phys: true,
                            };
                            model.spaces[space].insert(page + i, mp);
                        }
                    }
                    other => prop_assert!(false, "map_physical: {:?} (overlap {})", other, overlap),
                }
                Ok(Flush::new())
            }
            Op::Recreate { space } => {
                let mut flush = Flush::new();
                if let Some(id) = self.ids[space].take() {
                    flush = self.m.destroy_space(id);
                }
                model.spaces[space].clear();
                self.ids[space] = self.m.create_space().ok();
                Ok(flush)
            }
        }
    }

    /// Destroys everything; the counters must be back to their baselines.
    fn teardown(&mut self) -> Result<(), TestCaseError> {
        for id in self.ids.iter_mut() {
            if let Some(id) = id.take() {
                self.m.destroy_space(id);
            }
        }
        self.m.check_invariants().map_err(TestCaseError::fail)?;
        let st = self.m.memstat();
        prop_assert_eq!(
            (st.user_frames, st.table_frames, st.committed_frames),
            (0, 0, 0)
        );
        prop_assert_eq!(st.free_frames, st.total_frames);
        prop_assert_eq!(self.m.objects.iter().count(), 0, "leaked objects");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn mm_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::new(8192);
        for op in &ops {
            h.step(op)?;
        }
        h.teardown()?;
    }

    #[test]
    fn mm_matches_the_model_across_a_pml4_boundary(ops in proptest::collection::vec(op(), 1..40)) {
        BASE.with(|b| b.set(WINDOW_BASE_PML4_EDGE));
        let mut h = Harness::new(8192);
        for op in &ops {
            h.step(op)?;
        }
        h.teardown()?;
    }

    #[test]
    fn mm_matches_the_model_at_the_top_of_user_space(ops in proptest::collection::vec(op(), 1..40)) {
        BASE.with(|b| b.set(WINDOW_BASE_TOP));
        let mut h = Harness::new(8192);
        for op in &ops {
            h.step(op)?;
        }
        h.teardown()?;
    }

    #[test]
    fn mm_matches_the_model_when_memory_is_short(ops in proptest::collection::vec(op(), 1..30), nframes in 8usize..200) {
        let mut h = Harness::new(nframes);
        for op in &ops {
            h.step(op)?;
        }
        h.teardown()?;
    }
}
