//! Case `mapper_chaos`: a mapper that answers at random (well, refusing, or against the protocol in every way ABI §4.5 lists, or dying) while threads map segments, take private copies, touch pages and free them, and the main thread destroys and recreates the endpoint; no panic, no leak, every return as the ABI documents it.

use super::layout::SAFE;
use super::rng::Rng;
use super::support::seeds;
use abi::errors::*;
use abi::layout::PAGE_SIZE;
use abi::mapper::{KnMpReply, KnObjDesc};
use abi::region::*;
use abi::types::{KnUniqueId, Wire};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::ipc;
use ferrite_rt::mapper::{endpoint_ui, rgn_init, rgn_map, segment};
use ferrite_rt::thread::spawn;
use ferrite_tests::*;

const EP: u64 = 70;
const WORKERS: usize = 3;
const STEPS: u64 = 40;
/// The diags the random mapper refuses with.
const DIAGS: [i64; 2] = [-7, -1000];

static SEED: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);
static FIRST_BAD: AtomicU64 = AtomicU64::new(0);
static XFER: AtomicU64 = AtomicU64::new(0);
/// Workers finished in the current round.
static DONE: AtomicU64 = AtomicU64::new(0);
/// Mappers still answering in the current round.
static MAPPERS: AtomicU64 = AtomicU64::new(0);

/// Runs a random mapper on a thread of its own, counted in `MAPPERS`.
fn spawn_mapper(seed: u64) -> Option<ferrite_rt::thread::JoinHandle> {
    MAPPERS.fetch_add(1, SeqCst);
    let h = spawn(move || {
        chaos_mapper(seed);
        MAPPERS.fetch_sub(1, SeqCst);
    });
    if h.is_err() {
        MAPPERS.fetch_sub(1, SeqCst);
    }
    h.ok()
}

fn reply_bytes(bytes: &[u8]) {
    let _ = ipc::reply(&[bytes]);
}

/// The random mapper: one answer per request, of a random kind.
fn chaos_mapper(seed: u64) {
    let mut rng = Rng(seed);
    let xfer = XFER.load(SeqCst);
    let mut req = [0u8; 64];
    while ipc::receive(EP, &mut [&mut req]).is_ok() {
        let mut out = [0u8; 16];
        let (diag, addr) = match rng.below(12) {
            0 => (DIAGS[rng.below(2) as usize], 0),
            1 => {
                reply_bytes(&[0u8; 8]);
                continue;
            }
            2 => (3, xfer),
            3 => (0, xfer + 8),
            4 => (0, 0xffff_8000_0000_0000),
            5 => {
                let _ = ipc::reply_error(5);
                continue;
            }
            6 => {
                reply_bytes(&[0u8; 24]);
                (0, xfer)
            }
            7 if rng.chance(1, 4) => return,
            _ => (0, xfer),
        };
        KnMpReply { diag, addr }.to_bytes(&mut out);
        reply_bytes(&out);
    }
}

fn documented(code: i64) -> bool {
    [
        K_EFAULT, K_EINVAL, K_EUNKNOWN, K_ENOMEM, K_EOVERLAP, K_EMAPPER,
    ]
    .contains(&code)
        || DIAGS.contains(&code)
}

fn note(code: i64) {
    if code != 0 && !documented(code) {
        BAD.fetch_add(1, SeqCst);
        let _ = FIRST_BAD.compare_exchange(0, code as u64, SeqCst, SeqCst);
    }
}

/// A worker: random RGN_MAP/RGN_INIT of small windows of four segments,
/// touches on threads of their own (they may be killed), frees.
fn worker(seed: u64, ui: KnUniqueId, area: u64) {
    let mut rng = Rng(seed);
    for _ in 0..STEPS {
        let npages = 1 + rng.below(4);
        let obj = KnObjDesc {
            dataObject: segment(ui, rng.below(4)),
            startOffset: rng.below(8) * PAGE_SIZE,
            size: 0,
        };
        let slot = area + rng.below(4) * 8 * PAGE_SIZE;
        let mut d = rgn(slot, npages * PAGE_SIZE, K_WRITABLE);
        let r = if rng.chance(1, 2) {
            rgn_map(Actor::Me, &mut d, &obj)
        } else {
            rgn_init(Actor::Me, &mut d, &obj)
        };
        note(r.err().unwrap_or(0));
        let page = slot + rng.below(npages) * PAGE_SIZE;
        let write = rng.chance(1, 2);
        if let Ok(t) = spawn(move || {
            if write {
                poke8(page, 1);
            } else {
                let _ = peek8(page);
            }
        }) {
            let _ = t.join();
        }
        if rng.chance(1, 2) {
            let _ = api::rgn_free(Actor::Me, &rgn(slot, 8 * PAGE_SIZE, 0));
        }
    }
    let _ = api::rgn_free(Actor::Me, &rgn(area, 32 * PAGE_SIZE, 0));
    DONE.fetch_add(1, SeqCst);
}

pub(super) fn mapper_chaos(c: &mut Case) {
    for seed in seeds(&[0x3a9_0001, 0x3a9_0002]) {
        SEED.store(seed, SeqCst);
        let Ok(xfer) = Region::anywhere(16, K_WRITABLE) else {
            return;
        };
        XFER.store(xfer.addr(), SeqCst);
        // In the SAFE window: nothing of the program (stacks included) lives there.
        let areas: [u64; WORKERS] = core::array::from_fn(|i| SAFE + i as u64 * 32 * PAGE_SIZE);
        let mut rng = Rng(seed);
        for round in 0..3u64 {
            DONE.store(0, SeqCst);
            if ipc::create_endpoint(EP).is_err() {
                c.fail(file!(), line!(), format_args!("CREATE_ENDPOINT"));
                return;
            }
            let Ok(ui) = endpoint_ui(EP) else {
                return;
            };
            let mappers = [spawn_mapper(seed ^ round), spawn_mapper(!seed ^ round)];
            let workers: [_; WORKERS] = core::array::from_fn(|i| {
                let s = rng.next();
                let area = areas[i];
                spawn(move || worker(s, ui, area))
            });
            // Both mappers may have ended with requests queued: the workers
            // then wait until the endpoint goes, which fails them all.
            let patience = Patience {
                yields: 20_000,
                cycles: 8 * TSC_SECOND,
            };
            wait_for(
                || DONE.load(SeqCst) == WORKERS as u64 || MAPPERS.load(SeqCst) == 0,
                patience,
            );
            let _ = api::destroy(EP);
            for w in workers.into_iter().flatten() {
                check_eq!(c, w.join(), Ok(0), "a worker was killed (seed {seed:#x})");
            }
            for m in mappers.into_iter().flatten() {
                let _ = m.join();
            }
            let _ = api::close(EP);
        }
        drop(xfer);
    }
    check_eq!(
        c,
        BAD.load(SeqCst),
        0,
        "undocumented return {} (seed {:#x})",
        FIRST_BAD.load(SeqCst) as i64,
        SEED.load(SeqCst)
    );
}
