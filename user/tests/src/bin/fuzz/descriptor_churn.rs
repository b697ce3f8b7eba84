//! Case `descriptor_churn`: descriptor operations checked against a model.

use super::layout::{FUZZ_LO, PG};
use super::rng::Rng;
use super::support::touch_deep;
use abi::errors::{ChorusError, JinueError};
use abi::layout::*;
use abi::perms::*;
use abi::types::KnCap;
use ferrite_rt::api::{self, Actor};
use ferrite_rt::println;
use ferrite_tests::*;

const NS: usize = 12;

const MAXP: usize = 48;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Obj {
    Proc(usize),
    Thread,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct D {
    obj: Obj,
    owner: bool,
    perms: u32,
}

/// `Proc(usize::MAX)` stands for the init process itself (descriptor 0).
const SELF_PROC: usize = usize::MAX;

struct Model {
    /// Init's slots FUZZ_LO..FUZZ_LO + NS.
    init: [Option<D>; NS],
    /// Child processes: alive, capability, their table slots 0..NS.
    procs: [(bool, KnCap, [Option<D>; NS]); MAXP],
    nprocs: usize,
    threads: usize,
}

impl Model {
    fn slot(&self, s: usize) -> Option<D> {
        self.init[s]
    }

    fn alive(&self, o: Obj) -> bool {
        match o {
            Obj::Proc(SELF_PROC) => true,
            Obj::Proc(i) => self.procs[i].0,
            Obj::Thread => true,
        }
    }

    /// Init's descriptor for a target process: slot index or None for "0 (self)".
    fn target(&self, t: Option<usize>) -> Result<(Obj, u32), JinueError> {
        match t {
            None => Ok((Obj::Proc(SELF_PROC), PROCESS_PERMS)),
            Some(s) => match self.slot(s) {
                None => Err(JinueError::BadF),
                Some(D {
                    obj: Obj::Thread, ..
                }) => Err(JinueError::BadF),
                Some(d) if !self.alive(d.obj) => Err(JinueError::Io),
                Some(d) => Ok((d.obj, d.perms)),
            },
        }
    }

    fn table_mut(&mut self, p: Obj) -> Option<&mut [Option<D>; NS]> {
        match p {
            Obj::Proc(SELF_PROC) => Some(&mut self.init),
            Obj::Proc(i) => Some(&mut self.procs[i].2),
            Obj::Thread => None,
        }
    }
}

fn jerr<T>(r: Result<T, JinueError>) -> Result<(), JinueError> {
    r.map(drop)
}

pub(super) fn descriptor_churn(c: &mut Case) {
    touch_deep();
    let base = usage();
    let seed = 0xde5c_0001u64;
    println!("    fuzz::descriptor_churn: seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut m = Model {
        init: [None; NS],
        procs: [(false, KnCap::default(), [None; NS]); MAXP],
        nprocs: 0,
        threads: 0,
    };
    let num = |s: usize| FUZZ_LO + s as u64;
    let mut ops = [0u32; 8];
    for step in 0..20_000u32 {
        let s = rng.below(NS as u64) as usize;
        let op = rng.below(8) as usize;
        let (got, want, what): (Result<(), JinueError>, Result<(), JinueError>, &str) = match op {
            0 => {
                let live = m.procs[..m.nprocs].iter().filter(|p| p.0).count();
                if m.nprocs >= MAXP || live >= 8 {
                    continue;
                }
                let want = if m.init[s].is_some() {
                    Err(JinueError::BadF)
                } else {
                    Ok(())
                };
                let got = api::create_process(num(s));
                if got.is_ok() && want.is_ok() {
                    let i = m.nprocs;
                    m.nprocs += 1;
                    m.procs[i] = (true, api::actor_cap(num(s)).unwrap_or_default(), [None; NS]);
                    m.init[s] = Some(D {
                        obj: Obj::Proc(i),
                        owner: true,
                        perms: PROCESS_PERMS,
                    });
                }
                (got, want, "CREATE_PROCESS")
            }
            1 => {
                let want = match m.slot(s) {
                    None => Err(JinueError::BadF),
                    Some(_) => Ok(()),
                };
                let got = api::close(num(s));
                if got.is_ok() {
                    m.init[s] = None;
                }
                (got, want, "CLOSE")
            }
            2 => {
                let want = match m.slot(s) {
                    None => Err(JinueError::BadF),
                    Some(D {
                        obj: Obj::Thread,
                        owner,
                        ..
                    }) => {
                        if owner {
                            Err(JinueError::BadF)
                        } else {
                            Err(JinueError::Perm)
                        }
                    }
                    Some(d) if !m.alive(d.obj) => Err(JinueError::Io),
                    Some(d) if !d.owner => Err(JinueError::Perm),
                    Some(_) => Ok(()),
                };
                let got = api::destroy(num(s));
                if got.is_ok() {
                    if let Some(D {
                        obj: Obj::Proc(i), ..
                    }) = m.init[s]
                    {
                        m.procs[i].0 = false;
                        m.procs[i].2 = [None; NS];
                    }
                }
                (got, want, "DESTROY")
            }
            3 | 4 => {
                // MINT from slot s into a target (self or a slot), at fd.
                let t = if rng.chance(1, 3) {
                    None
                } else {
                    Some(rng.below(NS as u64) as usize)
                };
                let fd = rng.below(NS as u64) as usize;
                let perms = if rng.chance(1, 6) {
                    rng.below(128) as u32
                } else {
                    let set = match m.slot(s) {
                        Some(D {
                            obj: Obj::Thread, ..
                        }) => THREAD_PERMS,
                        _ => PROCESS_PERMS,
                    };
                    let p = rng.next() as u32 & set;
                    if p == 0 {
                        set
                    } else {
                        p
                    }
                };
                let want = (|| {
                    let d = m.slot(s).ok_or(JinueError::BadF)?;
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if !d.owner {
                        return Err(JinueError::Perm);
                    }
                    let set = match d.obj {
                        Obj::Thread => THREAD_PERMS,
                        Obj::Proc(_) => PROCESS_PERMS,
                    };
                    if perms == 0 || perms & !set != 0 {
                        return Err(JinueError::Inval);
                    }
                    let (tobj, tperms) = m.target(t)?;
                    if tperms & JINUE_PERM_OPEN == 0 {
                        return Err(JinueError::Perm);
                    }
                    let table = m.table_mut(tobj).ok_or(JinueError::BadF)?;
                    if table[fd].is_some() {
                        return Err(JinueError::BadF);
                    }
                    Ok(())
                })();
                let tnum = t.map_or(0, num);
                let (tobj, _) = m.target(t).unwrap_or((Obj::Thread, 0));
                let fdnum = if tobj == Obj::Proc(SELF_PROC) {
                    num(fd)
                } else {
                    fd as u64
                };
                let got = api::mint_into(num(s), tnum, fdnum, perms, 0);
                if got.is_ok() {
                    let obj = m.init[s].map(|d| d.obj).unwrap_or(Obj::Thread);
                    if let Some(table) = m.table_mut(tobj) {
                        table[fd] = Some(D {
                            obj,
                            owner: false,
                            perms,
                        });
                    }
                }
                (got, want, "MINT")
            }
            5 => {
                // DUP init's slot s into a target at fd.
                let t = if rng.chance(1, 3) {
                    None
                } else {
                    Some(rng.below(NS as u64) as usize)
                };
                let fd = rng.below(NS as u64) as usize;
                let want = (|| {
                    let (tobj, tperms) = m.target(t)?;
                    let d = m.slot(s).ok_or(JinueError::BadF)?;
                    if d.owner {
                        return Err(JinueError::BadF);
                    }
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if tperms & JINUE_PERM_OPEN == 0 {
                        return Err(JinueError::Perm);
                    }
                    let table = m.table_mut(tobj).ok_or(JinueError::BadF)?;
                    if table[fd].is_some() {
                        return Err(JinueError::BadF);
                    }
                    Ok(())
                })();
                let tnum = t.map_or(0, num);
                let (tobj, _) = m.target(t).unwrap_or((Obj::Thread, 0));
                let fdnum = if tobj == Obj::Proc(SELF_PROC) {
                    num(fd)
                } else {
                    fd as u64
                };
                let got = api::dup(tnum, num(s), fdnum);
                if got.is_ok() {
                    let d = m.init[s];
                    if let Some(table) = m.table_mut(tobj) {
                        table[fd] = d;
                    }
                }
                (got, want, "DUP")
            }
            6 => {
                let want = match m.slot(s) {
                    None
                    | Some(D {
                        obj: Obj::Thread, ..
                    }) => Err(JinueError::BadF),
                    Some(d) if !m.alive(d.obj) => Err(JinueError::Io),
                    Some(d) if d.perms & JINUE_PERM_OPEN == 0 => Err(JinueError::Perm),
                    Some(_) => Ok(()),
                };
                let got = api::actor_cap(num(s));
                if let (
                    Ok(cap),
                    Some(D {
                        obj: Obj::Proc(i), ..
                    }),
                ) = (got, m.slot(s))
                {
                    check!(
                        c,
                        i == SELF_PROC || cap == m.procs[i].1,
                        "step {step}: ACTOR_CAP names another actor"
                    );
                }
                (jerr(got), want, "ACTOR_CAP")
            }
            _ => {
                // CREATE_THREAD into the process of slot p, new descriptor in slot s.
                if m.threads >= 40 {
                    continue;
                }
                let p = rng.below(NS as u64) as usize;
                let want = (|| {
                    if m.init[s].is_some() {
                        return Err(JinueError::BadF);
                    }
                    let d = m.slot(p).ok_or(JinueError::BadF)?;
                    if d.obj == Obj::Thread {
                        return Err(JinueError::BadF);
                    }
                    if !m.alive(d.obj) {
                        return Err(JinueError::Io);
                    }
                    if d.perms & (JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN)
                        != (JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN)
                    {
                        return Err(JinueError::Perm);
                    }
                    Ok(())
                })();
                let got = api::create_thread(num(s), num(p));
                if got.is_ok() {
                    m.threads += 1;
                    m.init[s] = Some(D {
                        obj: Obj::Thread,
                        owner: true,
                        perms: THREAD_PERMS,
                    });
                }
                (got, want, "CREATE_THREAD")
            }
        };
        ops[op] += 1;
        if got != want {
            c.fail(
                file!(),
                line!(),
                format_args!(
                    "step {step}: {what} slot {}: got {:?}, the ABI says {:?}",
                    num(s),
                    got,
                    want
                ),
            );
            break;
        }
    }
    println!("    fuzz::descriptor_churn: ops {:?}", ops);
    // Stale capabilities of destroyed processes are unreachable.
    for p in &m.procs[..m.nprocs] {
        if !p.0 {
            check_eq!(
                c,
                stat(Actor::Cap(&p.1), USER_BASE, PG).0,
                Err(ChorusError::Unknown),
                "capability of a destroyed process"
            );
        }
    }
    for s in 0..NS {
        let _ = api::destroy(num(s));
    }
    for s in 0..NS {
        let _ = api::close(num(s));
    }
    for p in &m.procs[..m.nprocs] {
        let _ = api::actor_delete(Actor::Cap(&p.1));
    }
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
