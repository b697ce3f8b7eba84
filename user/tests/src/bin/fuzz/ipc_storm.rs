//! Case `ipc_storm`: threads and a child process make random SEND, RECEIVE, REPLY and REPLY_ERROR calls on a few endpoints while the main thread destroys, closes and recreates them and deletes the child; no panic, no leak, every return as ABI §3.2 documents it.

use super::rng::Rng;
use super::support::{seeds, touch_deep};
use abi::errors::*;
use abi::ipc::JinueMessage;
use abi::layout::{PAGE_SIZE, USER_LIMIT};
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::regs::SyscallArgs;
use abi::types::{JinueBuffer, Wire};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use ferrite_rt::api::{self, Actor};
use ferrite_rt::thread::{spawn, JoinHandle, SELF};
use ferrite_rt::{fork, Fork};
use ferrite_tests::*;

/// Endpoint owner descriptors (main thread); workers use these and
/// SEND/RECEIVE-only copies at `+ 10`.
const EPS: [u64; 3] = [60, 61, 62];
const WORKERS: usize = 6;
const STEPS: u64 = 150;
/// Scratch pages per worker: message structures, arrays and buffers live
/// here, so a random receive buffer never lands in memory the program uses.
const SCRATCH_PAGES: u64 = 2;

static DONE: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);
/// Messages RECEIVE took and replies SEND got: the storm must carry some.
static DELIVERED: AtomicU64 = AtomicU64::new(0);
/// The first bad return: call number, arg0, arg1, arg2.
static FIRST_BAD: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Errors ABI §3.2 documents for each IPC call.
fn documented(num: u64) -> &'static [u64] {
    match num {
        JINUE_SYS_RECEIVE => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_EBUSY,
        ],
        JINUE_SYS_REPLY => &[JINUE_EINVAL, JINUE_ENOMSG, JINUE_E2BIG],
        JINUE_SYS_REPLY_ERROR => &[JINUE_ENOMSG],
        _ => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_E2BIG,
            JINUE_EPROTO,
            JINUE_ENOSYS,
        ],
    }
}

/// Whether the registers a call left follow ABI §1.1 and §3.2.
fn return_ok(num: u64, r: SyscallArgs) -> bool {
    if r.arg0 == u64::MAX {
        // EPROTO is the one error that puts something in arg2 (the code).
        documented(num).contains(&r.arg1) && (r.arg1 == JINUE_EPROTO || r.arg2 == 0) && r.arg3 == 0
    } else {
        let size_ok = match num {
            JINUE_SYS_REPLY | JINUE_SYS_REPLY_ERROR => r.arg0 == 0,
            _ => r.arg0 <= abi::ipc::JINUE_MAX_MESSAGE_SIZE,
        };
        size_ok && r.arg1 == 0 && r.arg2 == 0 && r.arg3 == 0
    }
}

fn record(num: u64, r: SyscallArgs) {
    if r.arg0 != u64::MAX && num != JINUE_SYS_REPLY && num != JINUE_SYS_REPLY_ERROR {
        DELIVERED.fetch_add(1, SeqCst);
    }
    if !return_ok(num, r) && BAD.fetch_add(1, SeqCst) == 0 {
        for (slot, v) in FIRST_BAD.iter().zip([num, r.arg0, r.arg1, r.arg2]) {
            slot.store(v, SeqCst);
        }
    }
}

/// A random pointer: into the scratch area most of the time, else one the
/// kernel must refuse (page 0, the kernel half, past the scratch, read-only
/// text for a receive buffer).
fn pointer(rng: &mut Rng, scratch: u64) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => 0xffff_8000_0000_0000 + rng.below(1 << 20),
        2 => scratch + SCRATCH_PAGES * PAGE_SIZE + rng.below(PAGE_SIZE),
        3 => USER_LIMIT - rng.below(64),
        4 => ipc_storm as *const () as u64,
        _ => scratch + rng.below(SCRATCH_PAGES * PAGE_SIZE),
    }
}

/// Builds a random message structure (and its arrays) in the scratch area.
fn message(rng: &mut Rng, scratch: u64) -> u64 {
    let array = scratch + 1024 + rng.below(4) * 256;
    let n = [0, 1, 2, 3, 257][rng.below(5) as usize];
    for i in 0..n.min(8) {
        let size = [0, 1, 8, 64, 700, 2048, 2049, 1 << 27][rng.below(8) as usize];
        let b = JinueBuffer {
            addr: pointer(rng, scratch),
            size,
        };
        let mut bytes = [0u8; 16];
        b.to_bytes(&mut bytes);
        poke(
            array + 16 * i,
            u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()),
        );
        poke(
            array + 16 * i + 8,
            u64::from_le_bytes(bytes[8..].try_into().unwrap_or_default()),
        );
    }
    let m = JinueMessage {
        send_buffers: if rng.chance(1, 6) {
            pointer(rng, scratch)
        } else {
            array
        },
        send_buffers_length: n,
        recv_buffers: if rng.chance(1, 6) {
            pointer(rng, scratch)
        } else {
            array
        },
        recv_buffers_length: if rng.chance(1, 2) { n } else { rng.below(3) },
        ..JinueMessage::default()
    };
    let at = if rng.chance(1, 8) {
        pointer(rng, scratch)
    } else {
        scratch
    };
    if at == scratch {
        let mut bytes = [0u8; 56];
        m.to_bytes(&mut bytes);
        for (i, chunk) in bytes.chunks_exact(8).enumerate() {
            poke(
                scratch + 8 * i as u64,
                u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
            );
        }
    }
    at
}

/// One worker: `STEPS` random IPC calls.
fn worker(seed: u64, scratch: u64) {
    let mut rng = Rng(seed);
    for _ in 0..STEPS {
        let fd = match rng.below(6) {
            0 => EPS[rng.below(3) as usize],
            1 | 2 => EPS[rng.below(3) as usize] + 10,
            3 => SELF,
            4 => 500,
            _ => rng.next(),
        };
        let (num, r) = match rng.below(8) {
            0..=2 => {
                let f = [
                    JINUE_SYS_USER_BASE,
                    JINUE_SYS_USER_BASE + 7,
                    JINUE_SYS_SEND_LAST,
                ][rng.below(3) as usize];
                let m = message(&mut rng, scratch);
                (f, raw(f, fd, m, 0))
            }
            3..=5 => {
                let m = message(&mut rng, scratch);
                (JINUE_SYS_RECEIVE, raw(JINUE_SYS_RECEIVE, fd, m, 0))
            }
            6 => {
                let m = message(&mut rng, scratch);
                (JINUE_SYS_REPLY, raw(JINUE_SYS_REPLY, 0, m, 0))
            }
            _ => (
                JINUE_SYS_REPLY_ERROR,
                raw(JINUE_SYS_REPLY_ERROR, rng.next(), 0, 0),
            ),
        };
        record(num, r);
    }
    DONE.fetch_add(1, SeqCst);
}

/// Destroys (if alive) and recreates every endpoint, with its copies.
fn renew_endpoints() {
    for &e in &EPS {
        let _ = api::destroy(e);
        let _ = api::close(e);
        let _ = api::close(e + 10);
        if ferrite_rt::ipc::create_endpoint(e).is_ok() {
            let _ = api::mint_into(e, SELF, e + 10, ENDPOINT_PERMS, e);
        }
    }
}

pub(super) fn ipc_storm(c: &mut Case) {
    touch_deep();
    let base = usage();
    for seed in seeds(&[0x1bc0_0001, 0x1bc0_0002]) {
        BAD.store(0, SeqCst);
        DONE.store(0, SeqCst);
        let mut rng = Rng(seed);
        renew_endpoints();
        let scratch = Region::anywhere(WORKERS as u64 * (SCRATCH_PAGES + 1), K_WRITABLE);
        let Ok(scratch) = scratch else {
            return c.fail(file!(), line!(), format_args!("scratch"));
        };
        // Each worker's scratch is followed by a freed page (a hole).
        for w in 0..WORKERS as u64 {
            let _ = api::rgn_free(
                Actor::Me,
                &api::rgn(
                    scratch.page(w * (SCRATCH_PAGES + 1) + SCRATCH_PAGES),
                    PAGE_SIZE,
                    0,
                ),
            );
        }
        let mut hs: [Option<JoinHandle>; WORKERS] = [const { None }; WORKERS];
        for (w, h) in hs.iter_mut().enumerate() {
            let at = scratch.page(w as u64 * (SCRATCH_PAGES + 1));
            let s = rng.next();
            *h = spawn(move || worker(s, at)).ok();
        }
        // A child process blocked in IPC, deleted while it waits.
        let child = match fork() {
            Ok(Fork::Child) => {
                while api::destroy(70) == Err(JinueError::BadF) {
                    api::yield_thread();
                }
                let mut buf = [0u8; 8];
                let _ = ferrite_rt::ipc::receive(70, &mut [&mut buf]);
                let _ = ferrite_rt::ipc::call(JINUE_SYS_USER_BASE, 70, b"child", &mut buf);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => Some(child),
            Err(_) => None,
        };
        if let Some(ch) = &child {
            let _ = api::mint_into(EPS[0], ch.process, 70, ENDPOINT_PERMS, 7);
        }
        let mut round = 0u64;
        while DONE.load(SeqCst) < hs.iter().flatten().count() as u64 {
            round += 1;
            for _ in 0..1 + rng.below(6) {
                api::yield_thread();
            }
            match rng.below(6) {
                0 => renew_endpoints(),
                1 => {
                    let e = EPS[rng.below(3) as usize];
                    let _ = api::close(e);
                }
                2 if round > 20 => {
                    if let Some(ch) = &child {
                        if let Ok(cap) = api::actor_cap(ch.process) {
                            let _ = api::actor_delete(Actor::Cap(&cap));
                        }
                    }
                }
                _ => {}
            }
            if round > 2000 {
                // Nothing can be blocked for good: every destruction wakes.
                renew_endpoints();
            }
        }
        for h in hs.into_iter().flatten() {
            check!(c, h.join().is_ok(), "a worker could not be joined");
        }
        if let Some(ch) = child {
            let _ = api::destroy(ch.process);
            let _ = api::await_thread(ch.thread);
            ch.release();
        }
        for &e in &EPS {
            let _ = api::destroy(e);
            let _ = api::close(e);
            let _ = api::close(e + 10);
        }
        drop(scratch);
        let bad = BAD.load(SeqCst);
        let first: [u64; 4] = core::array::from_fn(|i| FIRST_BAD[i].load(SeqCst));
        check_eq!(
            c,
            bad,
            0,
            "seed {seed:#x}: undocumented returns, first (num, arg0, arg1, arg2) = {first:x?}"
        );
    }
    let delivered = DELIVERED.load(SeqCst);
    check!(
        c,
        delivered > 10,
        "only {delivered} messages and replies went through"
    );
    ferrite_rt::println!("fuzz: ipc_storm: {delivered} messages and replies went through");
    check_eq!(
        c,
        usage(),
        base,
        "MEMSTAT back at baseline after the storms"
    );
}
