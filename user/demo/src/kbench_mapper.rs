//! `kbench`'s mapper cases (ABI §4.5): `pull_in_fault` (first touch of a page of a mapper-backed region, the mapper's round trip included) and `dup_segment` (RGN_DUP copy of a fully resident mapper-backed region).

use super::{check_baseline, median, memstat, ok, Run, Stop, MAX_REPS};
use abi::init::INIT_SELF_DESCRIPTOR;
use abi::layout::PAGE_SIZE;
use abi::mapper::KnObjDesc;
use abi::region::{K_ANYWHERE, K_INHERITCOPY, K_WRITABLE};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::clock::cycles;
use ferrite_rt::mapper::{endpoint_ui, rgn_map, segment, Mapper};
use ferrite_rt::{fork, ipc, println, Fork};

/// The mapper's endpoint (the same number in the mapper process).
const ENDPOINT: u64 = 19;
/// The target process of `dup_segment`.
const TARGET: u64 = 24;
/// Pages per `pull_in_fault` repetition.
const FAULT_PAGES: u64 = 256;

/// Serves every page as a pattern of its offset.
struct Pattern;

impl Mapper for Pattern {
    fn pull_in(
        &mut self,
        _key: u64,
        offset: u64,
        data: &mut [u8],
        _access: u64,
    ) -> Result<(), i64> {
        for (i, chunk) in data.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&(offset + 8 * i as u64).to_le_bytes());
        }
        Ok(())
    }

    fn push_out(&mut self, _key: u64, _offset: u64, _data: &[u8]) -> Result<(), i64> {
        Ok(())
    }

    fn release(&mut self, _key: u64) {}
}

fn read_pages(base: u64, npages: u64) -> u64 {
    let mut sum = 0;
    for p in 0..npages {
        // SAFETY: the page lies in the mapper-backed region this case mapped
        // readable; the volatile read is the access being measured.
        sum += unsafe { ((base + p * PAGE_SIZE) as *const u64).read_volatile() };
    }
    sum
}

/// Touches 32 KiB of this thread's stack, so that stack pages first touched
/// by the calls measured below do not count as a leak.
#[inline(never)]
fn touch_stack() {
    let mut buf = [0u8; 32 * 1024];
    for i in (0..buf.len()).step_by(PAGE_SIZE as usize) {
        buf[i] = 1;
    }
    core::hint::black_box(&mut buf);
}

/// Maps `npages` of segment `key` anywhere; returns the start.
fn map(obj: &KnObjDesc, npages: u64) -> Run<u64> {
    let mut d = rgn(
        0,
        npages * PAGE_SIZE,
        K_WRITABLE | K_ANYWHERE | K_INHERITCOPY,
    );
    if let Err(code) = rgn_map(Actor::Me, &mut d, obj) {
        println!("kbench: FAILED RGN_MAP (pages={npages}): {code}");
        return Err(Stop);
    }
    Ok(d.startAddr)
}

/// Waits (yielding to the mapper) until MEMSTAT is back at `base`: the
/// write-back of a segment is asynchronous.
fn settle(base: &abi::memstat::MemStat, case: &str, npages: u64) -> Run<()> {
    for _ in 0..1000 {
        if check_quiet(base) {
            return Ok(());
        }
        api::yield_thread();
    }
    check_baseline(base, case, npages, 0)
}

fn check_quiet(base: &abi::memstat::MemStat) -> bool {
    api::memstat().is_ok_and(|now| {
        (now.user_frames, now.table_frames, now.committed_frames)
            == (base.user_frames, base.table_frames, base.committed_frames)
    })
}

fn cases(obj: &KnObjDesc, reps: usize, dup_sizes: &[u64]) -> Run<()> {
    // Warm up: the mapper process allocates its buffer and touches its
    // stack on its first request; only then is MEMSTAT a baseline.
    let mut o = *obj;
    o.dataObject.key.head = 999;
    let at = map(&o, 1)?;
    core::hint::black_box(read_pages(at, 1));
    ok(
        "RGN_FREE",
        1,
        api::rgn_free(Actor::Me, &rgn(at, PAGE_SIZE, 0)),
    )?;
    for _ in 0..1000 {
        api::yield_thread();
    }
    // The fork shared this process's leaf tables with the mapper; the first
    // write in each span makes it private again (a promise goes back), which
    // must happen before the baseline.
    touch_stack();
    let base = memstat()?;
    let mut ns = [0u64; MAX_REPS];
    for (rep, n) in ns.iter_mut().take(reps).enumerate() {
        let mut o = *obj;
        o.dataObject.key.head = rep as u32 + 1;
        let at = map(&o, FAULT_PAGES)?;
        let t0 = cycles();
        core::hint::black_box(read_pages(at, FAULT_PAGES));
        *n = cycles() - t0;
        ok(
            "RGN_FREE",
            FAULT_PAGES,
            api::rgn_free(Actor::Me, &rgn(at, FAULT_PAGES * PAGE_SIZE, 0)),
        )?;
        settle(&base, "pull_in_fault", FAULT_PAGES)?;
    }
    let m = median(&mut ns[..reps]);
    println!(
        "KBENCH case=pull_in_fault pages={FAULT_PAGES} guest_ns={m} per_page_ns={:.2}",
        m as f64 / FAULT_PAGES as f64
    );
    for &npages in dup_sizes {
        // The mapping, its copy's worst-case promise, and slack.
        let free = memstat()?
            .free_frames
            .saturating_sub(memstat()?.committed_frames);
        if 3 * npages + 1024 > free {
            println!("kbench: dup_segment pages={npages} skipped: too little memory");
            continue;
        }
        let mut o = *obj;
        o.dataObject.key.head = 100;
        let at = map(&o, npages)?;
        core::hint::black_box(read_pages(at, npages));
        for n in ns.iter_mut().take(reps) {
            ok("CREATE_PROCESS", npages, api::create_process(TARGET))?;
            let cap = ok("ACTOR_CAP", npages, api::actor_cap(TARGET))?;
            let t0 = cycles();
            let r = api::rgn_dup(Actor::Cap(&cap), Actor::Me, K_INHERITCOPY);
            *n = cycles() - t0;
            ok("RGN_DUP", npages, r)?;
            ok("DESTROY", npages, api::destroy(TARGET))?;
            ok("CLOSE", npages, api::close(TARGET))?;
        }
        let m = median(&mut ns[..reps]);
        println!(
            "KBENCH case=dup_segment pages={npages} guest_ns={m} per_page_ns={:.2}",
            m as f64 / npages as f64
        );
        ok(
            "RGN_FREE",
            npages,
            api::rgn_free(Actor::Me, &rgn(at, npages * PAGE_SIZE, 0)),
        )?;
        settle(&base, "dup_segment", npages)?;
    }
    Ok(())
}

/// The mapper cases: a mapper process forked off, this process the client.
pub fn bench_mapper(reps: usize, dup_sizes: &[u64]) -> Run<()> {
    touch_stack();
    let base = memstat()?;
    ok("CREATE_ENDPOINT", 0, ipc::create_endpoint(ENDPOINT))?;
    let ui = ok("ENDPOINT_UI", 0, endpoint_ui(ENDPOINT))?;
    let child = match ok("fork", 0, fork())? {
        Fork::Child => {
            while api::destroy(ENDPOINT) == Err(abi::errors::JinueError::BadF) {
                api::yield_thread();
            }
            let _ = ferrite_rt::mapper::run(ENDPOINT, &mut Pattern);
            api::exit_thread()
        }
        Fork::Parent(child) => child,
    };
    let minted = ok(
        "MINT",
        0,
        api::mint_into(
            ENDPOINT,
            child.process,
            ENDPOINT,
            abi::perms::JINUE_PERM_RECEIVE,
            0,
        ),
    );
    let obj = KnObjDesc {
        dataObject: segment(ui, 1),
        startOffset: 0,
        size: 0,
    };
    let r = minted.and_then(|()| cases(&obj, reps, dup_sizes));
    let _ = api::destroy(ENDPOINT);
    let _ = api::close(ENDPOINT);
    let how = ok("AWAIT_THREAD", 0, child.wait())?;
    r?;
    if how != 0 {
        println!("kbench: FAILED mapper: the mapper was killed ({how})");
        return Err(Stop);
    }
    let _ = INIT_SELF_DESCRIPTOR;
    check_baseline(&base, "mapper", 0, 0)
}
