//! Case `memory_model`: sharing, copies, clones, frees and destroys
//! across processes, checked against a model; MEMSTAT back at the end.

use super::layout::{PG, SAFE};
use super::promises::hog_objects;
use super::rng::Rng;
use super::support::{alive, touch_deep};
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::perms::*;
use abi::region::*;
use abi::types::KnCap;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::println;
use ferrite_tests::memory_model::{MemoryModel, ModelPage, ObjectValues};
use ferrite_tests::*;

const MM_PROCS: usize = 4;

const MM_SLOTS: usize = 6;

/// Pages between two slots (a slot's range); regions use its first MM_PAGES pages.
const MM_SLOT_PAGES: u64 = 16;

const MM_PAGES: usize = 4;

/// Where the slots lie in every process.
const MM_GRID: u64 = 0x8000_0000;

/// The own window through which the test reads and writes other processes' slots.
const MM_WINDOW: u64 = SAFE + 0x1000_0000;

/// The values of the model's memory objects, one `u64` each (own memory).
const MM_CELLS: u64 = SAFE + 0x2000_0000;

const MM_MAX_CELLS: u64 = 16 * 1024;

/// Descriptors of the model's processes.
const MM_D: u64 = 20;

/// The model's pages of a process: slot `s`'s page `k` is page `at(s, k)`.
const MM_MODEL_PAGES: usize = MM_SLOTS * MM_PAGES;

/// The values of the model's memory objects, at [`MM_CELLS`].
struct Cells;

impl ObjectValues for Cells {
    fn capacity(&self) -> u64 {
        MM_MAX_CELLS
    }

    fn get(&self, object: u64) -> u64 {
        peek(MM_CELLS + 8 * object)
    }

    fn set(&mut self, object: u64, value: u64) {
        poke(MM_CELLS + 8 * object, value);
    }
}

struct Mem {
    live: [bool; MM_PROCS],
    caps: [KnCap; MM_PROCS],
    model: MemoryModel<Cells, MM_PROCS, MM_MODEL_PAGES>,
    value: u64,
}

/// The model's page index of slot `slot`'s page `k`.
fn at(slot: usize, k: usize) -> usize {
    slot * MM_PAGES + k
}

fn mm_slot(slot: usize) -> u64 {
    MM_GRID + slot as u64 * MM_SLOT_PAGES * PG
}

fn mm_window(slot: usize) -> u64 {
    MM_WINDOW + slot as u64 * MM_SLOT_PAGES * PG
}

impl Mem {
    /// Pages of slot `slot` of process `p` the model says are mapped.
    fn mapped(&self, p: usize, slot: usize) -> u64 {
        self.model.mapped(p, at(slot, 0), MM_PAGES)
    }
}

/// Maps slot `slot` of model process `p` at the own window with `prot`.
fn mm_map(p: usize, slot: usize, prot: i32) -> Result<(), JinueError> {
    api::mclone_range(
        MM_D + p as u64,
        ferrite_rt::thread::SELF,
        mm_slot(slot),
        mm_window(slot),
        MM_SLOT_PAGES * PG,
        prot,
    )
}

fn mm_unmap(slot: usize) {
    let _ = api::rgn_free(Actor::Me, &rgn(mm_window(slot), MM_SLOT_PAGES * PG, 0));
}

/// Pages mapped in `[start, start + size)` of `actor` (sum of RGN_STAT sizes).
fn mapped_pages(actor: Actor, start: u64, size: u64) -> Result<u64, ChorusError> {
    let mut st = [abi::types::KnRgnStat::default(); 16];
    let n = api::rgn_stat(actor, &rgn(start, size, 0), &mut st)?;
    Ok(st[..(n as usize).min(16)].iter().map(|s| s.size / PG).sum())
}

/// Fills all but about `spare` frames with a hog actor in descriptor `hog`.
pub(super) fn hog_memory(hog: u64, spare: u64) -> Result<(), JinueError> {
    api::create_process(hog)?;
    let cap = api::actor_cap(hog)?;
    let mut at = 0x1_0000_0000u64;
    while api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, 256 * PG, 0)).is_ok() {
        at += 256 * PG;
    }
    while api::rgn_allocate(Actor::Cap(&cap), &mut rgn(at, PG, 0)).is_ok() {
        at += PG;
    }
    let mut freed = 0;
    while freed < spare && at > 0x1_0000_0000 {
        at -= PG;
        if api::rgn_free(Actor::Cap(&cap), &rgn(at, PG, 0)).is_ok() {
            freed += 1;
        }
    }
    Ok(())
}

/// Random model operations; every read compares the memory with the model.
/// With `spare`, an actor holds all but about that many frames first, so
/// that many calls fail with ENOMEM (and must change nothing).
/// In `memory_model_run`'s `spare`: the hog takes memory objects, not frames.
const OBJECTS: u64 = 1 << 63;

fn memory_model_run(c: &mut Case, seed: u64, steps: u32, spare: Option<u64>) {
    let mut rng = Rng(seed);
    const HOG: u64 = 30;
    if let Some(spare) = spare {
        let hog = if spare & OBJECTS != 0 {
            hog_objects(HOG).map(|n| {
                // Give `spare` memory objects back.
                let cap = api::actor_cap(HOG).unwrap_or_default();
                for k in 0..(spare & !OBJECTS).min(n) {
                    let _ =
                        api::rgn_free(Actor::Cap(&cap), &rgn(0x1_0000_0000 + 2 * k * PG, PG, 0));
                }
            })
        } else {
            hog_memory(HOG, spare)
        };
        if let Err(e) = hog {
            return c.fail(file!(), line!(), format_args!("hog: {e:?}"));
        }
    }
    let pressure = spare.is_some();
    let mut m = Mem {
        live: [false; MM_PROCS],
        caps: [KnCap::default(); MM_PROCS],
        model: MemoryModel::new(Cells),
        value: seed << 16,
    };
    let mut ops = [0u32; 11];
    let mut nomem = 0u32;
    for step in 0..steps {
        if m.model.full() {
            break;
        }
        let p = rng.below(MM_PROCS as u64) as usize;
        let slot = rng.below(MM_SLOTS as u64) as usize;
        let d = MM_D + p as u64;
        let op = rng.below(11) as usize;
        if !m.live[p] && op != 0 {
            continue;
        }
        ops[op] += 1;
        match op {
            0 => {
                if m.live[p] {
                    continue;
                }
                match api::create_process(d) {
                    Ok(()) => {
                        m.live[p] = true;
                        m.caps[p] = api::actor_cap(d).unwrap_or_default();
                        m.model.clear(p);
                    }
                    Err(JinueError::Again) if pressure => nomem += 1,
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: CREATE_PROCESS {e:?}"),
                        );
                    }
                }
            }
            1 => {
                if rng.chance(2, 3) {
                    continue;
                }
                check_eq!(c, api::destroy(d), Ok(()), "step {step}: DESTROY");
                check_eq!(c, api::close(d), Ok(()), "step {step}: CLOSE");
                m.live[p] = false;
            }
            2 => {
                // RGN_ALLOCATE pages [first, first + n) of the slot.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let inherit = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_allocate(
                    Actor::Cap(&m.caps[p]),
                    &mut rgn(
                        mm_slot(slot) + first as u64 * PG,
                        n as u64 * PG,
                        K_WRITABLE | inherit,
                    ),
                );
                let overlap = m.model.mapped(p, at(slot, first), n) != 0;
                match r {
                    Ok(()) if !overlap => m.model.allocate(p, at(slot, first), n, inherit),
                    Err(ChorusError::Overlap) if overlap => {}
                    Err(ChorusError::NoMem) if pressure && !overlap => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_ALLOCATE {r:?} (overlap {overlap})"),
                    ),
                }
            }
            3 | 4 => {
                // Write (3) or read (4) the slot through the own window.
                if m.mapped(p, slot) == 0 {
                    continue;
                }
                let prot = JINUE_PROT_READ | if op == 3 { JINUE_PROT_WRITE } else { 0 };
                match mm_map(p, slot, prot) {
                    Ok(()) => {}
                    Err(JinueError::NoMem) if pressure => {
                        nomem += 1;
                        continue;
                    }
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: MCLONE into the window {e:?}"),
                        );
                        continue;
                    }
                }
                check_eq!(
                    c,
                    mapped_pages(Actor::Me, mm_window(slot), MM_SLOT_PAGES * PG),
                    Ok(m.mapped(p, slot)),
                    "step {step}: pages in the window"
                );
                let slotp: [Option<ModelPage>; MM_PAGES] =
                    core::array::from_fn(|k| m.model.page(p, at(slot, k)));
                if op == 3 {
                    let mapped: [usize; MM_PAGES] = core::array::from_fn(|k| k);
                    let choices = mapped.iter().filter(|&&k| slotp[k].is_some()).count() as u64;
                    let pick = rng.below(choices) as usize;
                    let k = *mapped
                        .iter()
                        .filter(|&&k| slotp[k].is_some())
                        .nth(pick)
                        .unwrap_or(&0);
                    if let Some(pg) = slotp[k] {
                        m.value += 1;
                        poke(
                            mm_window(slot) + k as u64 * PG + 8 * (1 + rng.below(4)),
                            m.value,
                        );
                        poke(mm_window(slot) + k as u64 * PG, m.value);
                        m.model.write(pg, m.value);
                    }
                } else {
                    for (k, pg) in slotp.iter().enumerate() {
                        let Some(pg) = pg else { continue };
                        let got = peek(mm_window(slot) + k as u64 * PG);
                        let want = m.model.value(*pg);
                        if got != want {
                            c.fail(
                                file!(),
                                line!(),
                                format_args!(
                                    "step {step}: process {p} slot {slot} page {k}: read {got:#x}, the model says {want:#x}"
                                ),
                            );
                        }
                    }
                }
                mm_unmap(slot);
            }
            5 => {
                // RGN_DUP of p into a fresh process q.
                let q = rng.below(MM_PROCS as u64) as usize;
                if q == p {
                    continue;
                }
                let dq = MM_D + q as u64;
                if m.live[q] {
                    let _ = api::destroy(dq);
                    let _ = api::close(dq);
                    m.live[q] = false;
                }
                match api::create_process(dq) {
                    Ok(()) => {}
                    Err(JinueError::Again) if pressure => {
                        nomem += 1;
                        continue;
                    }
                    Err(e) => {
                        c.fail(
                            file!(),
                            line!(),
                            format_args!("step {step}: CREATE_PROCESS {e:?}"),
                        );
                        continue;
                    }
                }
                m.live[q] = true;
                m.caps[q] = api::actor_cap(dq).unwrap_or_default();
                m.model.clear(q);
                let flags = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                match api::rgn_dup(Actor::Cap(&m.caps[q]), Actor::Cap(&m.caps[p]), flags) {
                    Ok(()) => m.model.dup(q, p, flags),
                    Err(ChorusError::NoMem) if pressure => {
                        nomem += 1;
                        check_eq!(
                            c,
                            stat(Actor::Cap(&m.caps[q]), USER_BASE, USER_LIMIT - USER_BASE).0,
                            Ok(0),
                            "step {step}: a failed RGN_DUP leaves the target empty"
                        );
                    }
                    Err(e) => c.fail(file!(), line!(), format_args!("step {step}: RGN_DUP {e:?}")),
                }
            }
            6 => {
                // MCLONE k slots of p (from `slot`) onto k slots of q (from
                // `to`); the same process and overlapping ranges included.
                let q = rng.below(MM_PROCS as u64) as usize;
                if !m.live[q] {
                    continue;
                }
                let k = 1 + rng.below(2) as usize;
                let from = rng.below((MM_SLOTS - k + 1) as u64) as usize;
                let to = rng.below((MM_SLOTS - k + 1) as u64) as usize;
                let prot =
                    [JINUE_PROT_READ, JINUE_PROT_READ | JINUE_PROT_WRITE, 0][rng.below(3) as usize];
                let len = k as u64 * MM_SLOT_PAGES * PG;
                match api::mclone_range(d, MM_D + q as u64, mm_slot(from), mm_slot(to), len, prot) {
                    Ok(()) => m.model.mclone(p, at(from, 0), q, at(to, 0), k * MM_PAGES),
                    Err(JinueError::NoMem) if pressure => nomem += 1,
                    Err(e) => c.fail(file!(), line!(), format_args!("step {step}: MCLONE {e:?}")),
                }
            }
            7 => {
                // RGN_FREE of some pages of the slot (regions are cut).
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let r = api::rgn_free(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, 0),
                );
                check_eq!(c, r, Ok(()), "step {step}: RGN_FREE");
                m.model.free(p, at(slot, first), n);
            }
            8 => {
                // RGN_SET_INHERIT of some pages.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let inherit = [0, K_INHERITCOPY, K_INHERITSHARE][rng.below(3) as usize];
                let r = api::rgn_set_inherit(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, inherit),
                );
                match r {
                    Ok(()) => m.model.set_inherit(p, at(slot, first), n, inherit),
                    Err(ChorusError::NoMem) if pressure => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_SET_INHERIT {r:?}"),
                    ),
                }
            }
            9 => {
                // RGN_SET_PROTECT of some pages: data unchanged, regions cut.
                let first = rng.below(MM_PAGES as u64) as usize;
                let n = 1 + rng.below((MM_PAGES - first) as u64) as usize;
                let prot = [0, K_WRITABLE, K_NOACCESS, K_EXECUTABLE][rng.below(4) as usize];
                let r = api::rgn_set_protect(
                    Actor::Cap(&m.caps[p]),
                    &rgn(mm_slot(slot) + first as u64 * PG, n as u64 * PG, prot),
                );
                match r {
                    Ok(()) => {}
                    Err(ChorusError::NoMem) if pressure => nomem += 1,
                    r => c.fail(
                        file!(),
                        line!(),
                        format_args!("step {step}: RGN_SET_PROTECT {r:?}"),
                    ),
                }
            }
            _ => {
                // The mapped pages of every slot of p match the model.
                for s in 0..MM_SLOTS {
                    check_eq!(
                        c,
                        mapped_pages(Actor::Cap(&m.caps[p]), mm_slot(s), MM_SLOT_PAGES * PG),
                        Ok(m.mapped(p, s)),
                        "step {step}: mapped pages of process {p} slot {s}"
                    );
                }
            }
        }
        if !c.ok() {
            break;
        }
    }
    println!(
        "    fuzz::memory_model: seed {seed:#x}{}: ops {:?}, {} cells, {} ENOMEM",
        if pressure { " under pressure" } else { "" },
        ops,
        m.model.objects(),
        nomem
    );
    for p in 0..MM_PROCS {
        let _ = api::destroy(MM_D + p as u64);
        let _ = api::close(MM_D + p as u64);
    }
    if pressure {
        let _ = api::destroy(HOG);
        let _ = api::close(HOG);
    }
}

pub(super) fn memory_model(c: &mut Case) {
    touch_deep();
    let cells = api::rgn_allocate(Actor::Me, &mut rgn(MM_CELLS, MM_MAX_CELLS * 8, K_WRITABLE));
    check_eq!(c, cells, Ok(()), "the model's cell table");
    if cells.is_err() {
        return;
    }
    // Touch it now: its pages are not the model's business.
    for k in (0..MM_MAX_CELLS * 8).step_by(PG as usize) {
        poke(MM_CELLS + k, 0);
    }
    let base = usage();
    for (seed, steps, spare) in [
        (0x3e30_0001, 12_000, None),
        (0x3e30_0004, 12_000, None),
        (0x3e30_0002, 12_000, Some(64)),
        (0x3e30_0003, 12_000, Some(24)),
        (0x3e30_0005, 12_000, Some(OBJECTS | 24)),
    ] {
        memory_model_run(c, seed, steps, spare);
        check_eq!(
            c,
            usage(),
            base,
            "MEMSTAT back to baseline after seed {:#x}",
            seed
        );
        if !c.ok() {
            break;
        }
    }
    let _ = api::rgn_free(Actor::Me, &rgn(MM_CELLS, MM_MAX_CELLS * 8, 0));
    let _ = api::rgn_free(
        Actor::Me,
        &rgn(MM_WINDOW, MM_SLOTS as u64 * MM_SLOT_PAGES * PG, 0),
    );
    alive(c);
}
