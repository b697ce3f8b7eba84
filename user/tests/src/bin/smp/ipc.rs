//! `ipc_between_cpus`: SEND/RECEIVE/REPLY between two processes with clients and servers on every CPU.
//!
//! A forked child serves one endpoint with as many threads as there are
//! clients in the parent; every client makes `CALLS` round trips with a
//! message of its own (its number, the sequence number, a varying length)
//! and checks each reply byte for byte. A message delivered to the wrong
//! client, torn, lost or answered twice shows up as a wrong reply, a wrong
//! count of served requests, or a client that never returns (the program's
//! time limit). Then the endpoint is destroyed under the waiting servers
//! (each RECEIVE ends with `EIO`) and MEMSTAT must be back at its baseline.

use super::{writers, MAX_WRITERS};
use abi::numbers::JINUE_SYS_USER_BASE;
use abi::perms::ENDPOINT_PERMS;
use abi::region::{K_INHERITSHARE, K_WRITABLE};
use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api;
use ferrite_rt::ipc;
use ferrite_rt::thread::{self, JoinHandle};
use ferrite_rt::{fork, Fork};
use ferrite_tests::*;

/// The parent's endpoint descriptor, and the one minted into the child.
const EP: u64 = 40;
const CHILD_EP: u64 = 41;
/// Round trips per client.
const CALLS: u64 = 300;
/// Longest request (bytes).
const MAX_LEN: usize = 96;
const FUNCTION: u64 = JINUE_SYS_USER_BASE + 7;

/// Words of the page parent and child share (`K_INHERITSHARE`).
struct Shared {
    page: Region,
}

impl Shared {
    fn word(&self, i: u64) -> &'static AtomicU64 {
        // SAFETY: the page is mapped writable in both processes until the
        // child has ended and the parent drops it; aligned words only.
        unsafe { &*((self.page.addr() + 8 * i) as *const AtomicU64) }
    }
    /// Set by the parent once the endpoint is in the child.
    fn minted(&self) -> &'static AtomicU64 {
        self.word(0)
    }
    /// Requests the child's servers answered.
    fn served(&self) -> &'static AtomicU64 {
        self.word(1)
    }
    /// Requests that arrived with the wrong function number.
    fn wrong_function(&self) -> &'static AtomicU64 {
        self.word(2)
    }
    /// Replies the parent's clients found wrong.
    fn bad_replies(&self) -> &'static AtomicU64 {
        self.word(3)
    }
}

/// Client `client`'s request number `seq`: its bytes and length.
fn request(client: u64, seq: u64, out: &mut [u8; MAX_LEN]) -> usize {
    let len = 16 + ((client * 7 + seq * 13) % (MAX_LEN as u64 - 16)) as usize;
    out[..8].copy_from_slice(&client.to_le_bytes());
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in out.iter_mut().enumerate().take(len).skip(16) {
        *b = (client as u8).wrapping_mul(31) ^ (seq as u8).wrapping_add(i as u8);
    }
    len
}

/// The server's answer: every byte of the request plus one, then its length.
fn answer(request: &[u8], out: &mut [u8]) -> usize {
    for (o, r) in out.iter_mut().zip(request) {
        *o = r.wrapping_add(1);
    }
    out[request.len()] = request.len() as u8;
    request.len() + 1
}

/// The child: `n` server threads on `CHILD_EP` until it is destroyed.
fn child_body(shared: &Shared, n: usize) -> ! {
    while shared.minted().load(Ordering::SeqCst) == 0 {
        api::yield_thread();
    }
    let served = shared.served();
    let wrong = shared.wrong_function();
    let servers: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|i| {
        (i < n)
            .then(|| {
                thread::spawn(move || {
                    let mut req = [0u8; MAX_LEN];
                    let mut rep = [0u8; MAX_LEN + 1];
                    let _ = ipc::serve(CHILD_EP, &mut req, &mut rep, |got, bytes, out, _| {
                        if got.function != FUNCTION {
                            wrong.fetch_add(1, Ordering::SeqCst);
                        }
                        served.fetch_add(1, Ordering::SeqCst);
                        Ok(answer(bytes, out))
                    });
                })
                .ok()
            })
            .flatten()
    });
    for s in servers.into_iter().flatten() {
        let _ = s.join();
    }
    api::exit_thread()
}

/// One client's round trips; returns how many replies were wrong.
fn client_body(client: u64) -> u64 {
    let mut bad = 0;
    let mut req = [0u8; MAX_LEN];
    let mut want = [0u8; MAX_LEN + 1];
    let mut got = [0u8; MAX_LEN + 1];
    for seq in 0..CALLS {
        let len = request(client, seq, &mut req);
        let want_len = answer(&req[..len], &mut want);
        match ipc::call(FUNCTION, EP, &req[..len], &mut got) {
            Ok(n) if n == want_len && got[..n] == want[..n] => {}
            _ => bad += 1,
        }
    }
    bad
}

pub(super) fn ipc_between_cpus(c: &mut Case, ncpu: u64) {
    touch_stack();
    let base = usage();
    let n = writers(ncpu);
    let Ok(page) = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE) else {
        return c.fail(file!(), line!(), format_args!("shared page"));
    };
    let shared = Shared { page };
    for i in 0..4 {
        shared.word(i).store(0, Ordering::SeqCst);
    }
    check_eq!(c, ipc::create_endpoint(EP), Ok(()));
    let child = match fork() {
        Ok(Fork::Child) => child_body(&shared, n),
        Ok(Fork::Parent(child)) => child,
        Err(e) => return c.fail(file!(), line!(), format_args!("fork: {e}")),
    };
    check_eq!(
        c,
        api::mint_into(EP, child.process, CHILD_EP, ENDPOINT_PERMS, 0),
        Ok(())
    );
    shared.minted().store(1, Ordering::SeqCst);
    let bad = shared.bad_replies();
    let clients: [Option<JoinHandle>; MAX_WRITERS] = core::array::from_fn(|i| {
        (i < n)
            .then(|| {
                thread::spawn(move || {
                    bad.fetch_add(client_body(i as u64), Ordering::SeqCst);
                })
                .ok()
            })
            .flatten()
    });
    let started = clients.iter().flatten().count();
    check_eq!(c, started, n, "clients started");
    for h in clients.into_iter().flatten() {
        check_eq!(c, h.join().ok(), Some(0), "a client was killed");
    }
    check_eq!(c, bad.load(Ordering::SeqCst), 0, "wrong replies");
    check_eq!(
        c,
        shared.served().load(Ordering::SeqCst),
        CALLS * started as u64,
        "requests served"
    );
    check_eq!(c, shared.wrong_function().load(Ordering::SeqCst), 0);
    // The servers wait in RECEIVE: destroying the endpoint ends them (EIO).
    check_eq!(c, api::destroy(EP), Ok(()));
    check_eq!(
        c,
        child.wait().ok(),
        Some(0),
        "the child's main thread exits"
    );
    let _ = api::close(EP);
    drop(shared);
    check_eq!(c, usage(), base, "MEMSTAT back at baseline");
}
