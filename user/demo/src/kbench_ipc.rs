//! `kbench`'s IPC cases (`ipc_rtt_0b`, `ipc_rtt_64b`): round trips between a client and a server process, timed with RDTSC.

use super::{check_baseline, median, memstat, ok, Run, Stop, MAX_REPS};
use abi::init::INIT_SELF_DESCRIPTOR;
use abi::ipc::JinueMessage;
use abi::numbers::JINUE_SYS_USER_BASE;
use abi::perms::JINUE_PERM_SEND;
use abi::types::JinueBuffer;
use ferrite_rt::api;
use ferrite_rt::clock::cycles;
use ferrite_rt::ipc;
use ferrite_rt::{fork, println, Fork};

/// The IPC cases' endpoint (the server's RECEIVE copy has the same number)
/// and the client's SEND copy.
const ENDPOINT: u64 = 17;
const CLIENT_ENDPOINT: u64 = 18;
/// Round trips per timed repetition of an IPC case.
const IPC_ROUND_TRIPS: u64 = 2000;

/// The server side of the IPC cases (a forked child): RECEIVE, REPLY with
/// as many bytes as came in, until the endpoint is destroyed.
fn ipc_server() -> ! {
    // The descriptor arrives by MINT after the fork (a non-owner: DESTROY is EPERM).
    while api::destroy(ENDPOINT) == Err(abi::errors::JinueError::BadF) {
        api::yield_thread();
    }
    let mut buf = [0u8; 64];
    let into = [JinueBuffer {
        addr: buf.as_mut_ptr() as u64,
        size: 64,
    }];
    let mut msg = JinueMessage {
        recv_buffers: into.as_ptr() as u64,
        recv_buffers_length: 1,
        ..JinueMessage::default()
    };
    let mut out = [JinueBuffer {
        addr: buf.as_ptr() as u64,
        size: 0,
    }];
    let reply = JinueMessage {
        send_buffers: out.as_mut_ptr() as u64,
        send_buffers_length: 1,
        ..JinueMessage::default()
    };
    loop {
        let size = ferrite_rt::api::jinue_decode(
            // SAFETY: the structure and buffers are this frame's.
            unsafe {
                ferrite_rt::api::raw(
                    abi::numbers::JINUE_SYS_RECEIVE,
                    ENDPOINT,
                    &mut msg as *mut JinueMessage as u64,
                    0,
                )
            },
        );
        let Ok(size) = size else { api::exit_thread() };
        // SAFETY: `out` is this frame's; the kernel reads it during REPLY.
        unsafe { core::ptr::write_volatile(&mut out[0].size, size) };
        // SAFETY: as above.
        let _ = unsafe {
            ferrite_rt::api::raw(
                abi::numbers::JINUE_SYS_REPLY,
                0,
                &reply as *const JinueMessage as u64,
                0,
            )
        };
    }
}

/// Times `IPC_ROUND_TRIPS` round trips of `len` bytes each way, `reps` times.
fn ipc_case(name: &str, len: u64, reps: usize) -> Run<()> {
    let mut data = [7u8; 64];
    let send = [JinueBuffer {
        addr: data.as_ptr() as u64,
        size: len,
    }];
    let recv = [JinueBuffer {
        addr: data.as_mut_ptr() as u64,
        size: 64,
    }];
    let mut msg = JinueMessage {
        send_buffers: send.as_ptr() as u64,
        send_buffers_length: 1,
        recv_buffers: recv.as_ptr() as u64,
        recv_buffers_length: 1,
        ..JinueMessage::default()
    };
    let mut round_trips = |n: u64| -> Run<()> {
        for _ in 0..n {
            // SAFETY: `data` is this frame's, named by the structure.
            let r = unsafe { ipc::send_message(JINUE_SYS_USER_BASE, CLIENT_ENDPOINT, &mut msg) };
            if ipc::send_result(r) != Ok(len as usize) {
                println!("kbench: FAILED {name}: SEND gave {:?}", ipc::send_result(r));
                return Err(Stop);
            }
        }
        Ok(())
    };
    round_trips(IPC_ROUND_TRIPS)?;
    let mut ns = [0u64; MAX_REPS];
    for n in ns.iter_mut().take(reps) {
        let t0 = cycles();
        round_trips(IPC_ROUND_TRIPS)?;
        *n = (cycles() - t0) / IPC_ROUND_TRIPS;
    }
    core::hint::black_box(&mut data);
    println!(
        "KBENCH case={name} round_trips={IPC_ROUND_TRIPS} guest_ns={}",
        median(&mut ns[..reps])
    );
    Ok(())
}

/// The IPC cases: a server process forked off, this process the client.
pub fn bench_ipc(reps: usize) -> Run<()> {
    let base = memstat()?;
    ok("CREATE_ENDPOINT", 0, ipc::create_endpoint(ENDPOINT))?;
    let child = match ok("fork", 0, fork())? {
        Fork::Child => ipc_server(),
        Fork::Parent(child) => child,
    };
    // The server receives on the owner's copy made here; the client sends
    // through a SEND-only copy of its own.
    let r = ok(
        "MINT",
        0,
        api::mint_into(
            ENDPOINT,
            child.process,
            ENDPOINT,
            abi::perms::JINUE_PERM_RECEIVE,
            0,
        ),
    )
    .and_then(|()| {
        ok(
            "MINT",
            0,
            api::mint_into(
                ENDPOINT,
                INIT_SELF_DESCRIPTOR,
                CLIENT_ENDPOINT,
                JINUE_PERM_SEND,
                1,
            ),
        )
    })
    .and_then(|()| ipc_case("ipc_rtt_0b", 0, reps))
    .and_then(|()| ipc_case("ipc_rtt_64b", 64, reps));
    let _ = api::destroy(ENDPOINT);
    let _ = api::close(ENDPOINT);
    let _ = api::close(CLIENT_ENDPOINT);
    let how = ok("AWAIT_THREAD", 0, child.wait())?;
    r?;
    if how != 0 {
        println!("kbench: FAILED ipc: the server was killed ({how})");
        return Err(Stop);
    }
    check_baseline(&base, "ipc", 0, 0)
}
