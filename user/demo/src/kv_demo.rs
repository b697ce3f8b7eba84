//! The demo's IPC part: a key-value server process and two client processes talking through one endpoint (ABI §3.2).
//!
//! The server answers PUT, GET and SUM requests in a `serve` loop; each
//! client reaches it through a SEND-only descriptor whose cookie names the
//! client. Client 1 stores and fetches small values (a GET of a missing key
//! is refused with REPLY_ERROR). Client 2 passes a large buffer the way IPC
//! and MCLONE are meant to be used together: it MCLONEs 1 MiB of its memory
//! into the server (no copy) and SENDs only a small request naming where it
//! put it; the server sums the shared pages and replies with 8 bytes.

use abi::errors::JinueError;
use abi::numbers::JINUE_SYS_USER_BASE;
use abi::perms::{JINUE_PERM_MAP, JINUE_PERM_RECEIVE, JINUE_PERM_SEND};
use abi::region::{K_ANYWHERE, K_WRITABLE};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::ipc::{self, Received, SendError};
use ferrite_rt::thread::SELF;
use ferrite_rt::{fork, println, Child, Fork};

/// The endpoint's owner descriptor in the demo (init).
const ENDPOINT: u64 = 40;
/// In the server: the RECEIVE copy. In the clients: the SEND copy.
const CHANNEL: u64 = 41;
/// In client 2: the server process, with `MAP` only.
const SERVER_PROCESS: u64 = 42;

const PUT: u64 = JINUE_SYS_USER_BASE;
const GET: u64 = JINUE_SYS_USER_BASE + 1;
const SUM: u64 = JINUE_SYS_USER_BASE + 2;
/// REPLY_ERROR codes of the server.
const NOT_FOUND: u64 = 1;
const BAD_REQUEST: u64 = 2;

/// Where client 2's buffer appears in the server, and its size.
const WINDOW: u64 = 0x5000_0000;
const BIG_BYTES: u64 = 1 << 20;

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 48;
const SLOTS: usize = 16;

/// Waits until a descriptor MINTed by the parent is in the table (DESTROY
/// of a non-owner descriptor is `EPERM`; of a free slot, `EBADF`).
fn wait_for(desc: u64) {
    while api::destroy(desc) == Err(JinueError::BadF) {
        api::yield_thread();
    }
}

/// The server: a table of (key, value) in its own memory, filled by PUT.
fn server() -> ! {
    wait_for(CHANNEL);
    let mut keys = [[0u8; KEY_BYTES]; SLOTS];
    let mut values = [([0u8; VALUE_BYTES], 0usize); SLOTS];
    let mut used = 0usize;
    let mut request = [0u8; KEY_BYTES + VALUE_BYTES];
    let mut reply = [0u8; VALUE_BYTES];
    let end = ipc::serve(
        CHANNEL,
        &mut request,
        &mut reply,
        |got: &Received, msg: &[u8], out: &mut [u8], _stop| {
            let key = key_of(msg);
            match got.function {
                PUT if msg.len() > KEY_BYTES => {
                    let value = &msg[KEY_BYTES..];
                    let slot = keys[..used].iter().position(|k| *k == key).unwrap_or(used);
                    if slot == SLOTS {
                        return Err(BAD_REQUEST);
                    }
                    keys[slot] = key;
                    values[slot].0[..value.len()].copy_from_slice(value);
                    values[slot].1 = value.len();
                    used = used.max(slot + 1);
                    println!(
                        "[kv server] client {}: PUT {} = {}",
                        got.cookie,
                        text(&key),
                        text(value)
                    );
                    Ok(0)
                }
                GET => match keys[..used].iter().position(|k| *k == key) {
                    Some(i) => {
                        let (v, n) = &values[i];
                        out[..*n].copy_from_slice(&v[..*n]);
                        println!(
                            "[kv server] client {}: GET {} -> {}",
                            got.cookie,
                            text(&key),
                            text(&v[..*n])
                        );
                        Ok(*n)
                    }
                    None => {
                        println!(
                            "[kv server] client {}: GET {} -> not found (REPLY_ERROR)",
                            got.cookie,
                            text(&key)
                        );
                        Err(NOT_FOUND)
                    }
                },
                SUM if msg.len() == 16 => {
                    let at = u64::from_le_bytes(msg[..8].try_into().unwrap_or_default());
                    let len = u64::from_le_bytes(msg[8..16].try_into().unwrap_or_default());
                    let sum = sum_shared(at, len);
                    println!(
                        "[kv server] client {}: SUM of {} KiB it MCLONEd at {at:#x} -> {sum:#x} (read in place, nothing copied)",
                        got.cookie,
                        len / 1024
                    );
                    out[..8].copy_from_slice(&sum.to_le_bytes());
                    Ok(8)
                }
                _ => Err(BAD_REQUEST),
            }
        },
    );
    println!(
        "[kv server] RECEIVE ended with {:?}: the endpoint is gone, exiting",
        end.err().map(JinueError::name)
    );
    api::exit_thread()
}

fn key_of(msg: &[u8]) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    let n = msg.len().min(KEY_BYTES);
    key[..n].copy_from_slice(&msg[..n]);
    key
}

fn text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("?")
}

/// Sums the 64-bit words of `[at, at + len)` in the server's window, if it
/// lies there (a client cannot make the server read anything else).
fn sum_shared(at: u64, len: u64) -> u64 {
    if at < WINDOW || at.saturating_add(len) > WINDOW + 4 * BIG_BYTES {
        return 0;
    }
    let mut sum = 0u64;
    for i in 0..len / 8 {
        // SAFETY: the range lies in the window clients MCLONE into; the
        // client mapped it before sending, and it stays mapped until the
        // client frees it after our reply. Volatile: another process wrote it.
        sum = sum.wrapping_add(unsafe { ((at + 8 * i) as *const u64).read_volatile() });
    }
    sum
}

fn request(key: &str, value: &str) -> ([u8; KEY_BYTES + VALUE_BYTES], usize) {
    let mut m = [0u8; KEY_BYTES + VALUE_BYTES];
    m[..key.len()].copy_from_slice(key.as_bytes());
    m[KEY_BYTES..KEY_BYTES + value.len()].copy_from_slice(value.as_bytes());
    (m, KEY_BYTES + value.len())
}

/// Client 1: PUTs and GETs of small values.
fn small_client() -> ! {
    wait_for(CHANNEL);
    for (k, v) in [
        ("apple", "red"),
        ("sky", "blue"),
        ("ferrite", "a microkernel"),
    ] {
        let (m, n) = request(k, v);
        let r = ipc::call(PUT, CHANNEL, &m[..n], &mut []);
        println!("[client 1] PUT {k}: {r:?}");
    }
    for k in ["sky", "pear"] {
        let (m, _) = request(k, "");
        let mut value = [0u8; VALUE_BYTES];
        match ipc::call(GET, CHANNEL, &m[..KEY_BYTES], &mut value) {
            Ok(n) => println!("[client 1] GET {k} = {}", text(&value[..n])),
            Err(SendError::Refused(code)) => {
                println!("[client 1] GET {k}: refused by the server (EPROTO, code {code})")
            }
            Err(e) => println!("[client 1] GET {k}: {e:?}"),
        }
    }
    api::exit_thread()
}

/// Client 2: 1 MiB passed by MCLONE, a 16-byte request passed by SEND.
fn big_client() -> ! {
    wait_for(CHANNEL);
    wait_for(SERVER_PROCESS);
    let mut d = rgn(0, BIG_BYTES, K_ANYWHERE | K_WRITABLE);
    if api::rgn_allocate(Actor::Me, &mut d).is_err() {
        println!("[client 2] no memory for the buffer");
        api::exit_thread()
    }
    let mut expected = 0u64;
    for i in 0..BIG_BYTES / 8 {
        let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // SAFETY: inside the region just allocated, touched only through raw pointers.
        unsafe { ((d.startAddr + 8 * i) as *mut u64).write_volatile(v) };
        expected = expected.wrapping_add(v);
    }
    let at = WINDOW + BIG_BYTES;
    let shared = api::mclone_range(
        SELF,
        SERVER_PROCESS,
        d.startAddr,
        at,
        BIG_BYTES,
        abi::perms::JINUE_PROT_READ,
    );
    println!(
        "[client 2] MCLONE of {} KiB into the server at {at:#x}: {shared:?}",
        BIG_BYTES / 1024
    );
    let mut req = [0u8; 16];
    req[..8].copy_from_slice(&at.to_le_bytes());
    req[8..].copy_from_slice(&BIG_BYTES.to_le_bytes());
    let mut sum = [0u8; 8];
    let r = ipc::call(SUM, CHANNEL, &req, &mut sum);
    let got = u64::from_le_bytes(sum);
    println!(
        "[client 2] SUM request of {} bytes answered ({r:?}): {got:#x}, expected {expected:#x}: {}",
        req.len(),
        if got == expected { "match" } else { "MISMATCH" }
    );
    let _ = api::rgn_free(Actor::Me, &rgn(d.startAddr, BIG_BYTES, 0));
    api::exit_thread()
}

/// Runs the server and both clients; returns once all three have ended.
pub fn key_value_demo() -> Result<(), ferrite_rt::Error> {
    println!("--- IPC: a key-value server process and two clients on one endpoint ---");
    ipc::create_endpoint(ENDPOINT)?;
    let server = match fork()? {
        Fork::Child => server(),
        Fork::Parent(child) => child,
    };
    api::mint_into(ENDPOINT, server.process, CHANNEL, JINUE_PERM_RECEIVE, 0)?;
    let mut clients = [None::<Child>; 2];
    for id in 1..=2u64 {
        let child = match fork()? {
            Fork::Child if id == 1 => small_client(),
            Fork::Child => big_client(),
            Fork::Parent(child) => child,
        };
        api::mint_into(ENDPOINT, child.process, CHANNEL, JINUE_PERM_SEND, id)?;
        if id == 2 {
            // The server's process descriptor, MAP only: client 2 may map into it.
            api::mint_into(
                server.process,
                child.process,
                SERVER_PROCESS,
                JINUE_PERM_MAP,
                0,
            )?;
        }
        clients[id as usize - 1] = Some(child);
    }
    for child in clients.into_iter().flatten() {
        child.wait()?;
    }
    // Destroying the endpoint ends the server's RECEIVE with EIO.
    api::destroy(ENDPOINT)?;
    api::close(ENDPOINT)?;
    let how = server.wait()?;
    println!("server ended: AWAIT_THREAD = {how}");
    Ok(())
}
