//! `ipc` (issue 9): endpoints, SEND, RECEIVE, REPLY, REPLY_ERROR (ABI §2, §3.2), every error in order, between threads and processes.
#![no_std]
#![no_main]

use abi::errors::JinueError;
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::ipc::*;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::regs::SyscallArgs;
use abi::types::JinueBuffer;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::ipc::{self, SendError};
use ferrite_rt::thread::{spawn, JoinHandle, SELF};
use ferrite_rt::{fork, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

use JinueError::{Again, BadF, Busy, Inval, Io, NoMsg, NoSys, Perm, TooBig};

/// Descriptor numbers picked by hand (below the runtime's range).
const E: u64 = 10;
const E2: u64 = 11;
const SEND_ONLY: u64 = 12;
const RECV_ONLY: u64 = 13;
const CHILD_E: u64 = 14;
const FREE: u64 = 400;
const INVALID: [u64; 4] = [u64::MAX, JINUE_DESC_NUM, 1 << 31, 1 << 32];
const KERNEL: u64 = 0xffff_8000_0000_0000;
const F: u64 = JINUE_SYS_USER_BASE;
/// A function number other than [`F`], to see it travel.
const F2: u64 = 0x7FFF_FFFF;
/// The kernel's endpoint limit (`kernel::MAX_ENDPOINTS`, a project choice).
const MAX_ENDPOINTS: u64 = 512;

fn b(p: &[u8]) -> JinueBuffer {
    JinueBuffer {
        addr: p.as_ptr() as u64,
        size: p.len() as u64,
    }
}

fn bm(p: &mut [u8]) -> JinueBuffer {
    JinueBuffer {
        addr: p.as_mut_ptr() as u64,
        size: p.len() as u64,
    }
}

fn message(send: &[JinueBuffer], recv: &[JinueBuffer]) -> JinueMessage {
    JinueMessage {
        send_buffers: send.as_ptr() as u64,
        send_buffers_length: send.len() as u64,
        recv_buffers: recv.as_ptr() as u64,
        recv_buffers_length: recv.len() as u64,
        ..JinueMessage::default()
    }
}

fn send_at(function: u64, fd: u64, m: u64) -> SyscallArgs {
    raw(function, fd, m, 0)
}

fn send_m(function: u64, fd: u64, m: &JinueMessage) -> SyscallArgs {
    send_at(function, fd, m as *const JinueMessage as u64)
}

fn jr(r: SyscallArgs) -> Result<u64, JinueError> {
    api::jinue_decode(r)
}

fn receive_at(fd: u64, m: u64) -> Result<u64, JinueError> {
    jraw(JINUE_SYS_RECEIVE, fd, m, 0)
}

fn receive_m(fd: u64, m: &mut JinueMessage) -> Result<u64, JinueError> {
    let r = receive_at(fd, m as *mut JinueMessage as u64);
    *m = core::hint::black_box(*m);
    r
}

fn reply_at(m: u64) -> Result<u64, JinueError> {
    jraw(JINUE_SYS_REPLY, 0, m, 0)
}

fn reply_m(m: &JinueMessage) -> Result<u64, JinueError> {
    reply_at(m as *const JinueMessage as u64)
}

fn reply_error(code: u64) -> Result<u64, JinueError> {
    jraw(JINUE_SYS_REPLY_ERROR, code, 0, 0)
}

/// Byte `i` of test pattern `seed`.
fn pat(seed: u64, i: usize) -> u8 {
    (seed as u8)
        .wrapping_mul(31)
        .wrapping_add((i as u8).wrapping_mul(7))
        ^ (i >> 8) as u8
}

fn fill(buf: &mut [u8], seed: u64) {
    for (i, x) in buf.iter_mut().enumerate() {
        *x = pat(seed, i);
    }
}

fn is_pat(buf: &[u8], seed: u64) -> bool {
    buf.iter().enumerate().all(|(i, x)| *x == pat(seed, i))
}

/// Per-slot results of helper threads.
static READY: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static RET: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static ERR: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static ARG2: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static GOOD: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static FUNC: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static COOKIE: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static MAXR: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// Order in which receivers got messages.
static ORDER: AtomicU64 = AtomicU64::new(0);

fn reset() {
    for a in [&READY, &RET, &ERR, &ARG2, &GOOD, &FUNC, &COOKIE, &MAXR] {
        for x in a.iter() {
            x.store(0, SeqCst);
        }
    }
    ORDER.store(0, SeqCst);
}

fn record(slot: usize, r: SyscallArgs) {
    RET[slot].store(r.arg0, SeqCst);
    ERR[slot].store(r.arg1, SeqCst);
    ARG2[slot].store(r.arg2, SeqCst);
}

/// What a helper's call returned, decoded.
fn result(slot: usize) -> Result<u64, JinueError> {
    jr(SyscallArgs {
        arg0: RET[slot].load(SeqCst),
        arg1: ERR[slot].load(SeqCst),
        arg2: 0,
        arg3: 0,
    })
}

/// Yields until the helper in `slot` is about to block, then a few more
/// times so that it reaches its call.
fn settle(slot: usize) {
    while READY[slot].load(SeqCst) == 0 {
        api::yield_thread();
    }
    for _ in 0..4 {
        api::yield_thread();
    }
}

/// A thread that SENDs `len` bytes of pattern `function - F` with
/// `function` through `fd`, offering `cap` bytes for the reply, and records
/// the outcome; GOOD = whether the reply is pattern `function - F + 100`.
fn client(slot: usize, fd: u64, function: u64, len: usize, cap: usize) -> JoinHandle {
    spawn(move || {
        let mut data = [0u8; 2048];
        let seed = function.wrapping_sub(F);
        fill(&mut data, seed);
        let mut reply = [0u8; 4096];
        let m_send = [b(&data[..len])];
        let m_recv = [bm(&mut reply[..cap])];
        let m = message(&m_send, &m_recv);
        READY[slot].store(1, SeqCst);
        let r = send_m(function, fd, &m);
        record(slot, r);
        let reply = core::hint::black_box(reply);
        if let Ok(n) = jr(r) {
            GOOD[slot].store(u64::from(is_pat(&reply[..n as usize], seed + 100)), SeqCst);
        }
    })
    .expect("spawn client")
}

/// A thread that RECEIVEs on `fd` with `cap` bytes, records what it got
/// (GOOD = the data is pattern `function - F`), then REPLYs `reply_len`
/// bytes of pattern `(function - F) + 100` (or does nothing if `reply_len`
/// is `usize::MAX`).
fn server(slot: usize, fd: u64, cap: usize, reply_len: usize) -> JoinHandle {
    spawn(move || {
        let mut buf = [0u8; 2048];
        let m_recv = [bm(&mut buf[..cap])];
        let mut m = message(&[], &m_recv);
        READY[slot].store(1, SeqCst);
        let r = receive_m(fd, &mut m);
        let buf = core::hint::black_box(buf);
        ORDER.fetch_add(1, SeqCst);
        record(
            slot,
            match r {
                Ok(n) => SyscallArgs::jinue_ok(n),
                Err(e) => SyscallArgs::jinue_err(e),
            },
        );
        let Ok(n) = r else { return };
        let seed = m.recv_function.wrapping_sub(F);
        FUNC[slot].store(m.recv_function, SeqCst);
        COOKIE[slot].store(m.recv_cookie, SeqCst);
        MAXR[slot].store(m.reply_max_size, SeqCst);
        GOOD[slot].store(u64::from(is_pat(&buf[..n as usize], seed)), SeqCst);
        if reply_len != usize::MAX {
            let mut out = [0u8; 2048];
            fill(&mut out, seed + 100);
            let _ = ipc::reply(&[&out[..reply_len]]);
        }
    })
    .expect("spawn server")
}

fn join(h: JoinHandle) -> u64 {
    h.join().unwrap_or(99)
}

/// Creates endpoint `E` plus a SEND-only copy (cookie 0x5E) and a
/// RECEIVE-only copy (cookie 0xEC) in the own table.
fn endpoint_with_copies() {
    api::close(E).ok();
    api::close(SEND_ONLY).ok();
    api::close(RECV_ONLY).ok();
    ipc::create_endpoint(E).expect("CREATE_ENDPOINT");
    api::mint_into(E, SELF, SEND_ONLY, JINUE_PERM_SEND, 0x5E).expect("MINT send");
    api::mint_into(E, SELF, RECV_ONLY, JINUE_PERM_RECEIVE, 0xEC).expect("MINT receive");
}

fn close_all() {
    for d in [E, E2, SEND_ONLY, RECV_ONLY, CHILD_E] {
        let _ = api::close(d);
    }
}

fn main(_: &Startup) -> i32 {
    let mut s = Suite::new("ipc");
    both_mechanisms(&mut s, errors);
    messages(&mut s);
    disappearing(&mut s);
    s.finish()
}

/// Every error of every call, in order.
fn errors(s: &mut Suite) {
    s.isolated("create_endpoint_errors_and_descriptor", |c| {
        touch_stack();
        let base = usage();
        for n in INVALID {
            check_eq!(c, ipc::create_endpoint(n), Err(BadF), "{n:#x}");
        }
        check_eq!(
            c,
            ipc::create_endpoint(INIT_THREAD_DESCRIPTOR),
            Err(BadF),
            "slot in use"
        );
        check_eq!(c, ipc::create_endpoint(E), Ok(()));
        // The owner may not be DUPed; MINT makes non-owners within SEND|RECEIVE.
        check_eq!(c, api::dup(SELF, E, E2), Err(BadF));
        check_eq!(
            c,
            api::mint_into(E, SELF, E2, JINUE_PERM_MAP, 0),
            Err(Inval)
        );
        check_eq!(c, api::mint_into(E, SELF, E2, 0, 0), Err(Inval));
        check_eq!(c, api::mint_into(E, SELF, E2, ENDPOINT_PERMS, 9), Ok(()));
        check_eq!(
            c,
            api::mint_into(E2, SELF, SEND_ONLY, JINUE_PERM_SEND, 0),
            Err(Perm)
        );
        check_eq!(c, api::destroy(E2), Err(Perm), "not the owner");
        check_eq!(c, api::dup(SELF, E2, SEND_ONLY), Ok(()));
        // Endpoints are not processes or threads.
        check_eq!(c, api::create_thread(FREE, E), Err(BadF));
        check_eq!(c, api::await_thread(E), Err(BadF));
        check_eq!(c, api::actor_cap(E).map(drop), Err(BadF));
        check_eq!(c, api::destroy(E), Ok(()));
        check_eq!(c, api::destroy(E), Err(Io), "destroyed");
        check_eq!(
            c,
            api::mint_into(E, SELF, FREE, JINUE_PERM_SEND, 0),
            Err(Io)
        );
        check_eq!(c, api::dup(SELF, E2, FREE), Err(Io));
        close_all();
        // The endpoint limit: EAGAIN, and every endpoint is given back.
        // Slots 100..500 and 700..1000 (the runtime's own numbers start at 512
        // and are taken from the bottom).
        let mut made = [0u64; 2];
        let mut last = Ok(());
        'fill: for (i, range) in [100..500u64, 700..1000].into_iter().enumerate() {
            for fd in range {
                last = ipc::create_endpoint(fd);
                match last {
                    Ok(()) => made[i] += 1,
                    Err(BadF) => {}
                    Err(_) => break 'fill,
                }
            }
        }
        check_eq!(c, last, Err(Again));
        check_eq!(c, made[0] + made[1], MAX_ENDPOINTS);
        for fd in (100..100 + made[0]).chain(700..700 + made[1]) {
            check_eq!(c, api::close(fd), Ok(()));
        }
        check_eq!(c, ipc::create_endpoint(E), Ok(()), "room again");
        close_all();
        check_eq!(c, usage(), base);
    });
    s.isolated("send_errors_in_order", |c| {
        endpoint_with_copies();
        let data = [7u8; 2049];
        let mut rb = [0u8; 64];
        let good_send = [b(&data[..8])];
        let good_recv = [bm(&mut rb)];
        let good = message(&good_send, &good_recv);
        let hole = hole();
        let text = main as *const () as u64 & !(PAGE_SIZE - 1);
        // 1. EBADF (value) beats a bad structure.
        for n in INVALID {
            check_eq!(c, jr(send_at(F, n, 0)), Err(BadF), "{n:#x}");
        }
        // 2. EINVAL (structure) beats a free descriptor.
        for at in [0, hole, KERNEL, USER_LIMIT - 8, u64::MAX - 8] {
            check_eq!(
                c,
                jr(send_at(F, FREE, at)),
                Err(Inval),
                "structure at {at:#x}"
            );
        }
        // 3. EINVAL (buffers) beats a free descriptor, for every kind of bad buffer.
        let many = [JinueBuffer::default(); 257];
        let bad_arrays = [
            message(&many, &[]),
            message(&[], &many),
            message(&many[..256], &many),
            JinueMessage {
                send_buffers: hole,
                send_buffers_length: 1,
                ..good
            },
            JinueMessage {
                recv_buffers: hole,
                recv_buffers_length: 1,
                ..good
            },
            JinueMessage {
                send_buffers: KERNEL,
                send_buffers_length: 1,
                ..good
            },
            JinueMessage {
                send_buffers_length: u64::MAX,
                ..good
            },
        ];
        for (i, m) in bad_arrays.iter().enumerate() {
            check_eq!(c, jr(send_m(F, FREE, m)), Err(Inval), "array {i}");
            check_eq!(
                c,
                jr(send_m(F, E, m)),
                Err(Inval),
                "array {i}, good descriptor"
            );
        }
        let bad_buffers = [
            [
                JinueBuffer {
                    addr: hole,
                    size: 1,
                },
                bm(&mut rb),
            ],
            [
                JinueBuffer {
                    addr: KERNEL,
                    size: 8,
                },
                bm(&mut rb),
            ],
            [b(&data[..2049]), bm(&mut rb)],
            [b(&data[..1025]), b(&data[..1024])],
            [
                JinueBuffer {
                    addr: 0x1000,
                    size: u64::MAX,
                },
                bm(&mut rb),
            ],
        ];
        for (i, pair) in bad_buffers.iter().enumerate() {
            let m_recv = [bm(&mut rb)];
            let m = message(if i == 3 { &pair[..] } else { &pair[..1] }, &m_recv);
            check_eq!(c, jr(send_m(F, E, &m)), Err(Inval), "send buffer {i}");
        }
        let bad_recv = [
            JinueBuffer {
                addr: rb.as_ptr() as u64,
                size: JINUE_MAX_BUFFER_SIZE + 1,
            },
            JinueBuffer {
                addr: text,
                size: 16,
            },
            JinueBuffer {
                addr: hole,
                size: 16,
            },
            JinueBuffer {
                addr: KERNEL,
                size: 16,
            },
            JinueBuffer {
                addr: USER_LIMIT - 8,
                size: 16,
            },
        ];
        for (i, r) in bad_recv.iter().enumerate() {
            let m_send = [b(&data[..8])];
            let m_recv = [bm(&mut rb), *r];
            let m = message(&m_send, &m_recv);
            check_eq!(c, jr(send_m(F, FREE, &m)), Err(Inval), "receive buffer {i}");
        }
        // A NULL array with 0 entries is not read.
        let null_arrays = JinueMessage::default();
        check_eq!(c, jr(send_m(F, FREE, &null_arrays)), Err(BadF));
        // 4. EBADF / EIO: free, not an endpoint, destroyed.
        check_eq!(c, jr(send_m(F, FREE, &good)), Err(BadF));
        check_eq!(c, jr(send_m(F, SELF, &good)), Err(BadF), "a process");
        check_eq!(
            c,
            jr(send_m(F, INIT_THREAD_DESCRIPTOR, &good)),
            Err(BadF),
            "a thread"
        );
        // 5. EPERM: no SEND.
        check_eq!(c, jr(send_m(F, RECV_ONLY, &good)), Err(Perm));
        // SEND's numbers end at 0x7FFF_FFFF.
        check_eq!(c, jr(send_m(F - 1, E, &good)), Err(NoSys));
        check_eq!(c, jr(send_m(F2 + 1, E, &good)), Err(NoSys));
        check_eq!(c, api::destroy(E), Ok(()));
        check_eq!(c, jr(send_m(F, E, &good)), Err(Io), "destroyed");
        check_eq!(
            c,
            jr(send_m(F, SEND_ONLY, &good)),
            Err(Io),
            "copy of destroyed"
        );
        check_eq!(c, api::close(E), Ok(()));
        check_eq!(c, jr(send_m(F, E, &good)), Err(BadF), "closed");
        close_all();
    });
    s.isolated("receive_errors_in_order", |c| {
        endpoint_with_copies();
        let mut rb = [0u8; 64];
        let recv = [bm(&mut rb)];
        let mut good = message(&[], &recv);
        let hole = hole();
        let text = main as *const () as u64 & !(PAGE_SIZE - 1);
        for n in INVALID {
            check_eq!(c, receive_at(n, 0), Err(BadF), "{n:#x}");
        }
        // The structure must be writable: text is readable only.
        for at in [0, hole, KERNEL, text, USER_LIMIT - 8] {
            check_eq!(c, receive_at(FREE, at), Err(Inval), "structure at {at:#x}");
        }
        let many = [JinueBuffer::default(); 257];
        let big = [JinueBuffer {
            addr: rb.as_ptr() as u64,
            size: JINUE_MAX_BUFFER_SIZE + 1,
        }];
        let ro = [JinueBuffer {
            addr: text,
            size: 8,
        }];
        for (i, r) in [&many[..], &big[..], &ro[..]].iter().enumerate() {
            let mut m = message(&[], r);
            check_eq!(
                c,
                receive_m(FREE, &mut m),
                Err(Inval),
                "receive buffers {i}"
            );
        }
        let mut m = JinueMessage {
            recv_buffers: hole,
            recv_buffers_length: 1,
            ..good
        };
        check_eq!(c, receive_m(E, &mut m), Err(Inval), "array unreadable");
        // Send fields are ignored by RECEIVE.
        let mut m = JinueMessage {
            send_buffers: hole,
            send_buffers_length: 1000,
            ..good
        };
        check_eq!(c, receive_m(FREE, &mut m), Err(BadF));
        check_eq!(c, receive_m(SELF, &mut good), Err(BadF), "a process");
        check_eq!(c, receive_m(SEND_ONLY, &mut good), Err(Perm));
        // EBUSY: a message held and not answered.
        reset();
        let h = client(0, SEND_ONLY, F, 8, 8);
        settle(0);
        check_eq!(c, receive_m(RECV_ONLY, &mut good), Ok(8));
        check_eq!(c, good.recv_cookie, 0x5E);
        check_eq!(c, receive_m(E, &mut good), Err(Busy));
        check_eq!(
            c,
            receive_m(SEND_ONLY, &mut good),
            Err(Perm),
            "EPERM before EBUSY"
        );
        check_eq!(c, ipc::reply(&[&[0u8; 3]]), Ok(()));
        check_eq!(c, join(h), 0);
        check_eq!(c, result(0), Ok(3));
        check_eq!(c, api::destroy(E), Ok(()));
        check_eq!(c, receive_m(E, &mut good), Err(Io));
        check_eq!(c, receive_m(RECV_ONLY, &mut good), Err(Io));
        close_all();
    });
    s.isolated("reply_errors_in_order", |c| {
        endpoint_with_copies();
        let hole = hole();
        let data = [1u8; 2049];
        let many = [JinueBuffer::default(); 257];
        // Without a message: EINVAL beats ENOMSG.
        check_eq!(c, reply_at(0), Err(Inval));
        check_eq!(c, reply_at(KERNEL), Err(Inval));
        check_eq!(c, reply_m(&message(&many, &[])), Err(Inval));
        check_eq!(
            c,
            reply_m(&message(&[b(&data)], &[])),
            Err(Inval),
            "2049 bytes"
        );
        check_eq!(
            c,
            reply_m(&message(
                &[JinueBuffer {
                    addr: hole,
                    size: 4
                }],
                &[]
            )),
            Err(Inval)
        );
        check_eq!(c, reply_m(&message(&[b(&data[..4])], &[])), Err(NoMsg));
        check_eq!(c, reply_m(&JinueMessage::default()), Err(NoMsg));
        check_eq!(c, reply_error(5), Err(NoMsg));
        // Receive buffers are ignored by REPLY.
        let odd = JinueMessage {
            recv_buffers: hole,
            recv_buffers_length: 999,
            ..JinueMessage::default()
        };
        check_eq!(c, reply_m(&odd), Err(NoMsg));
        // With a message of reply_max_size 16: E2BIG, then the message is still held.
        reset();
        let h = client(0, E, F, 4, 16);
        settle(0);
        let mut buf = [0u8; 64];
        let m_recv = [bm(&mut buf)];
        let mut m = message(&[], &m_recv);
        check_eq!(c, receive_m(E, &mut m), Ok(4));
        check_eq!(c, m.reply_max_size, 16);
        check_eq!(c, reply_m(&message(&[b(&data[..17])], &[])), Err(TooBig));
        check_eq!(
            c,
            reply_m(&message(&[b(&data[..2049])], &[])),
            Err(Inval),
            "EINVAL before E2BIG"
        );
        check_eq!(c, receive_m(E, &mut m), Err(Busy), "still held");
        let mut out = [0u8; 16];
        fill(&mut out, 100);
        check_eq!(c, reply_m(&message(&[b(&out)], &[])), Ok(0), "retry");
        check_eq!(c, join(h), 0);
        check_eq!(c, result(0), Ok(16));
        check_eq!(c, GOOD[0].load(SeqCst), 1);
        check_eq!(
            c,
            reply_m(&message(&[b(&out)], &[])),
            Err(NoMsg),
            "answered"
        );
        check_eq!(c, reply_error(1), Err(NoMsg));
        close_all();
    });
}

/// Messages that arrive: contents, buffers, limits, cookies, order.
fn messages(s: &mut Suite) {
    s.isolated("round_trip_between_threads", |c| {
        touch_stack();
        let base = usage();
        endpoint_with_copies();
        for (function, len, cap) in [(F, 0usize, 0usize), (F + 1, 64, 64), (F2, 2048, 2048)] {
            reset();
            let srv = server(1, RECV_ONLY, 2048, cap);
            settle(1);
            let cl = client(0, SEND_ONLY, function, len, cap);
            check_eq!(c, join(cl), 0);
            check_eq!(c, join(srv), 0);
            check_eq!(c, result(1), Ok(len as u64), "receive size");
            check_eq!(c, FUNC[1].load(SeqCst), function);
            check_eq!(c, COOKIE[1].load(SeqCst), 0x5E);
            check_eq!(c, MAXR[1].load(SeqCst), cap as u64);
            check_eq!(c, result(0), Ok(cap as u64), "reply size");
            check_eq!(
                c,
                GOOD[0].load(SeqCst) + GOOD[1].load(SeqCst),
                2,
                "{len} bytes"
            );
        }
        close_all();
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.isolated("queued_message_waits_for_a_receiver", |c| {
        endpoint_with_copies();
        reset();
        let cl = client(0, E, F + 5, 100, 30);
        settle(0);
        let mut buf = [0u8; 200];
        let m_recv = [bm(&mut buf)];
        let mut m = message(&[], &m_recv);
        check_eq!(c, receive_m(E, &mut m), Ok(100));
        check!(c, is_pat(&buf[..100], 5));
        check_eq!(
            c,
            (m.recv_function, m.recv_cookie, m.reply_max_size),
            (F + 5, 0, 30)
        );
        let mut out = [0u8; 30];
        fill(&mut out, 105);
        check_eq!(c, ipc::reply(&[&out]), Ok(()));
        check_eq!(c, join(cl), 0);
        check_eq!(c, result(0), Ok(30));
        check_eq!(c, GOOD[0].load(SeqCst), 1);
        close_all();
    });
    s.isolated("several_buffers_gather_and_scatter", |c| {
        endpoint_with_copies();
        let h = spawn(|| {
            let parts = [[1u8; 5], [2u8; 5], [3u8; 5]];
            let mut r0 = [0u8; 3];
            let mut r1 = [0u8; 0];
            let mut r2 = [0u8; 100];
            let n = ipc::send(
                F,
                E,
                &[&parts[0], &parts[1][..0], &parts[1], &parts[2]],
                &mut [&mut r0, &mut r1, &mut r2],
            );
            let ok = n == Ok(7) && r0 == [9, 8, 7] && r2[..4] == [6, 5, 4, 3] && r2[4] == 0;
            GOOD[0].store(u64::from(ok), SeqCst);
        })
        .expect("spawn");
        let mut a = [0u8; 4];
        let mut z = [0u8; 0];
        let mut bb = [0u8; 7];
        let mut cc = [0u8; 100];
        let got = ipc::receive(E, &mut [&mut a, &mut z, &mut bb, &mut cc]);
        check_eq!(c, got.map(|g| (g.size, g.reply_max_size)), Ok((15, 103)));
        check_eq!(c, a, [1, 1, 1, 1]);
        check_eq!(c, bb, [1, 2, 2, 2, 2, 2, 3]);
        check_eq!(c, cc[..4], [3, 3, 3, 3]);
        check_eq!(c, cc[4], 0, "nothing beyond the message");
        check_eq!(c, ipc::reply(&[&[9, 8], &[7, 6, 5], &[], &[4, 3]]), Ok(()));
        check_eq!(c, join(h), 0);
        check_eq!(c, GOOD[0].load(SeqCst), 1);
        close_all();
    });
    s.isolated("limits_2048_bytes_256_buffers_64_mib", |c| {
        endpoint_with_copies();
        // 256 buffers of 8 bytes: 2048 bytes, accepted on both sides.
        static PARTS: [[u8; 8]; 256] = {
            let mut p = [[0u8; 8]; 256];
            let mut i = 0;
            while i < 256 {
                p[i] = [i as u8; 8];
                i += 1;
            }
            p
        };
        reset();
        let h = spawn(|| {
            let mut send = [JinueBuffer::default(); 256];
            for (s, p) in send.iter_mut().zip(PARTS.iter()) {
                *s = b(p);
            }
            let mut r = [0u8; 4096];
            let m_recv = [bm(&mut r)];
            let m = message(&send, &m_recv);
            READY[0].store(1, SeqCst);
            record(0, send_m(F, E, &m));
        })
        .expect("spawn");
        let mut parts = [[0u8; 8]; 256];
        let mut recv = [JinueBuffer::default(); 256];
        for (r, p) in recv.iter_mut().zip(parts.iter_mut()) {
            *r = bm(p);
        }
        let mut m = message(&[], &recv);
        check_eq!(c, receive_m(E, &mut m), Ok(2048));
        let parts = core::hint::black_box(parts);
        check!(
            c,
            parts.iter().enumerate().all(|(i, p)| *p == [i as u8; 8]),
            "256 buffers in order"
        );
        check_eq!(c, m.reply_max_size, 2048, "capacity capped at 2048");
        check_eq!(c, reply_m(&message(&[b(&[0u8; 2048])], &[])), Ok(0));
        check_eq!(c, join(h), 0);
        check_eq!(c, result(0), Ok(2048));
        // A 64 MiB receive buffer is accepted (the region is committed, never touched).
        let mut big = rgn(
            0,
            JINUE_MAX_BUFFER_SIZE + PAGE_SIZE,
            K_ANYWHERE | K_WRITABLE,
        );
        if api::rgn_allocate(Actor::Me, &mut big).is_ok() {
            let exact = JinueBuffer {
                addr: big.startAddr,
                size: JINUE_MAX_BUFFER_SIZE,
            };
            let m_recv = [exact];
            let mut m = message(&[], &m_recv);
            check_eq!(
                c,
                receive_m(SEND_ONLY, &mut m),
                Err(Perm),
                "64 MiB passes the checks"
            );
            let over = JinueBuffer {
                size: JINUE_MAX_BUFFER_SIZE + 1,
                ..exact
            };
            let m_recv = [over];
            let mut m = message(&[], &m_recv);
            check_eq!(c, receive_m(SEND_ONLY, &mut m), Err(Inval));
            let _ = api::rgn_free(Actor::Me, &big);
        } else {
            c.fail(file!(), line!(), format_args!("no 64 MiB region"));
        }
        close_all();
    });
    s.isolated("e2big_both_ways_and_the_retry", |c| {
        endpoint_with_copies();
        // A waiting receiver with room for 50: a 100-byte SEND fails at once,
        // the receiver goes on waiting and takes the next message.
        reset();
        let srv = server(1, E, 50, 8);
        settle(1);
        let mut r = [0u8; 8];
        check_eq!(
            c,
            ipc::call(F, E, &[0u8; 100], &mut r),
            Err(SendError::Jinue(TooBig))
        );
        check_eq!(c, ORDER.load(SeqCst), 0, "the receiver still waits");
        let cl = client(0, E, F, 50, 8);
        check_eq!(c, join(cl), 0);
        check_eq!(c, join(srv), 0);
        check_eq!(c, (result(1), GOOD[1].load(SeqCst)), (Ok(50), 1));
        check_eq!(c, (result(0), GOOD[0].load(SeqCst)), (Ok(8), 1));
        // A queued message too big for the receiver: its sender gets E2BIG,
        // the receiver takes the next one.
        reset();
        let big = client(0, E, F, 100, 8);
        settle(0);
        let small = client(2, E, F + 2, 10, 8);
        settle(2);
        let mut buf = [0u8; 50];
        let m_recv = [bm(&mut buf)];
        let mut m = message(&[], &m_recv);
        check_eq!(c, receive_m(E, &mut m), Ok(10));
        check_eq!(c, m.recv_function, F + 2);
        check_eq!(c, join(big), 0);
        check_eq!(c, result(0), Err(TooBig));
        let mut out = [0u8; 8];
        fill(&mut out, 102);
        check_eq!(c, ipc::reply(&[&out]), Ok(()));
        check_eq!(c, join(small), 0);
        check_eq!(c, (result(2), GOOD[2].load(SeqCst)), (Ok(8), 1));
        close_all();
    });
    s.isolated("reply_error_gives_eproto_and_the_code", |c| {
        endpoint_with_copies();
        for code in [0u64, 1, 12345, u64::MAX] {
            reset();
            let cl = client(0, E, F, 4, 4);
            settle(0);
            let mut buf = [0u8; 8];
            let m_recv = [bm(&mut buf)];
            let mut m = message(&[], &m_recv);
            check_eq!(c, receive_m(E, &mut m), Ok(4), "{code}");
            check_eq!(c, reply_error(code), Ok(0));
            check_eq!(c, join(cl), 0);
            check_eq!(c, result(0), Err(JinueError::Proto));
            check_eq!(c, ARG2[0].load(SeqCst), code, "arg2 holds the code");
        }
        close_all();
    });
    s.isolated("cookies_of_minted_and_duped_descriptors", |c| {
        endpoint_with_copies();
        check_eq!(
            c,
            api::mint_into(E, SELF, E2, JINUE_PERM_SEND, u64::MAX),
            Ok(())
        );
        check_eq!(c, api::dup(SELF, E2, CHILD_E), Ok(()));
        for (fd, cookie) in [
            (E, 0),
            (SEND_ONLY, 0x5E),
            (E2, u64::MAX),
            (CHILD_E, u64::MAX),
        ] {
            reset();
            let cl = client(0, fd, F, 1, 0);
            settle(0);
            let mut buf = [0u8; 4];
            let m_recv = [bm(&mut buf)];
            let mut m = message(&[], &m_recv);
            check_eq!(c, receive_m(RECV_ONLY, &mut m), Ok(1));
            check_eq!(c, m.recv_cookie, cookie, "descriptor {fd}");
            check_eq!(c, reply_m(&message(&[], &[])), Ok(0));
            check_eq!(c, join(cl), 0);
        }
        close_all();
    });
    s.isolated("fifo_senders_and_fifo_receivers", |c| {
        endpoint_with_copies();
        reset();
        let mut hs: [Option<JoinHandle>; 5] = [None, None, None, None, None];
        for (i, h) in hs.iter_mut().enumerate() {
            *h = Some(client(i, E, F + i as u64, 4 + i, 4));
            settle(i);
        }
        for i in 0..5u64 {
            let mut buf = [0u8; 16];
            let m_recv = [bm(&mut buf)];
            let mut m = message(&[], &m_recv);
            check_eq!(c, receive_m(E, &mut m), Ok(4 + i));
            check_eq!(c, m.recv_function, F + i, "senders in the order they sent");
            let mut out = [0u8; 4];
            fill(&mut out, 100 + i);
            check_eq!(c, ipc::reply(&[&out]), Ok(()));
        }
        for h in hs.into_iter().flatten() {
            check_eq!(c, join(h), 0);
        }
        for (i, good) in GOOD.iter().enumerate().take(5) {
            check_eq!(c, (result(i), good.load(SeqCst)), (Ok(4), 1), "client {i}");
        }
        // Receivers: served in the order they arrived.
        reset();
        let mut hs: [Option<JoinHandle>; 3] = [None, None, None];
        for (i, h) in hs.iter_mut().enumerate() {
            *h = Some(server(i, E, 64, 0));
            settle(i);
        }
        for i in 0..3u64 {
            let mut data = [0u8; 8];
            fill(&mut data, i);
            check_eq!(c, ipc::call(F + i, E, &data, &mut []), Ok(0));
        }
        for h in hs.into_iter().flatten() {
            check_eq!(c, join(h), 0);
        }
        for (i, func) in FUNC.iter().enumerate().take(3) {
            check_eq!(
                c,
                func.load(SeqCst),
                F + i as u64,
                "receiver {i} got message {i}"
            );
        }
        close_all();
    });
    s.isolated("round_trip_between_processes", |c| {
        touch_stack();
        let base = usage();
        check_eq!(c, ipc::create_endpoint(E), Ok(()));
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
        let flag = shared.addr();
        poke(flag, 0);
        match fork() {
            Ok(Fork::Child) => {
                // The child is the client; it waits for its descriptor.
                while api::destroy(CHILD_E) == Err(BadF) {
                    api::yield_thread();
                }
                let mut good = 0;
                for i in 0..10u64 {
                    let mut req = [0u8; 64];
                    fill(&mut req, i);
                    let mut rep = [0u8; 64];
                    let r = ipc::call(F + i, CHILD_E, &req, &mut rep);
                    if r == Ok(64) && is_pat(&rep, i + 100) {
                        good += 1;
                    }
                }
                poke(flag, 1000 + good);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(
                    c,
                    api::mint_into(E, child.process, CHILD_E, JINUE_PERM_SEND, 77),
                    Ok(())
                );
                let mut req = [0u8; 64];
                let mut rep = [0u8; 64];
                let mut seen = 0;
                for i in 0..10u64 {
                    let got = ipc::receive(E, &mut [&mut req]);
                    let g = got.unwrap_or(ipc::Received {
                        size: 0,
                        function: 0,
                        cookie: 0,
                        reply_max_size: 0,
                    });
                    if g.size == 64
                        && g.function == F + i
                        && g.cookie == 77
                        && g.reply_max_size == 64
                        && is_pat(&req, i)
                    {
                        seen += 1;
                    }
                    fill(&mut rep, i + 100);
                    check_eq!(c, ipc::reply(&[&rep]), Ok(()));
                }
                check_eq!(c, seen, 10);
                check_eq!(c, child.wait().ok(), Some(0));
                check_eq!(c, peek(flag), 1010, "the child got every reply");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
        drop(shared);
        close_all();
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.isolated(
        "reply_into_unwritable_buffers_is_einval_for_the_sender",
        |c| {
            endpoint_with_copies();
            let region = Region::anywhere(1, K_WRITABLE).expect("region");
            let at = region.addr();
            region.forget();
            reset();
            let h = spawn(move || {
                let req = [1u8; 4];
                let m_send = [b(&req)];
                let m_recv = [JinueBuffer { addr: at, size: 16 }];
                let m = message(&m_send, &m_recv);
                READY[0].store(1, SeqCst);
                record(0, send_m(F, E, &m));
            })
            .expect("spawn");
            let mut buf = [0u8; 4];
            let m_recv = [bm(&mut buf)];
            let mut m = message(&[], &m_recv);
            check_eq!(c, receive_m(E, &mut m), Ok(4));
            check_eq!(c, api::rgn_free(Actor::Me, &rgn(at, PAGE_SIZE, 0)), Ok(()));
            check_eq!(
                c,
                reply_m(&message(&[b(&[5u8; 16])], &[])),
                Ok(0),
                "REPLY itself succeeds"
            );
            check_eq!(c, join(h), 0);
            check_eq!(c, result(0), Err(Inval));
            close_all();
        },
    );
}

/// EIO in every way an endpoint or a receiver can disappear; blocked threads killed.
fn disappearing(s: &mut Suite) {
    s.isolated("endpoint_destroyed_fails_waiters_with_eio", |c| {
        touch_stack();
        let base = usage();
        for how in 0..3 {
            endpoint_with_copies();
            reset();
            let srv = server(1, RECV_ONLY, 64, 0);
            settle(1);
            let srv2 = server(2, RECV_ONLY, 64, 0);
            settle(2);
            // Two receivers wait; a third thread sends to a second endpoint nobody serves.
            check_eq!(c, ipc::create_endpoint(E2), Ok(()));
            let cl = client(0, E2, F, 4, 4);
            settle(0);
            match how {
                0 => {
                    check_eq!(c, api::destroy(E), Ok(()));
                    check_eq!(c, api::destroy(E2), Ok(()));
                }
                _ => {
                    check_eq!(c, api::close(E), Ok(()), "closing the owner destroys");
                    check_eq!(c, api::close(E2), Ok(()));
                }
            }
            for h in [srv, srv2, cl] {
                check_eq!(c, join(h), 0);
            }
            check_eq!(
                c,
                (result(0), result(1), result(2)),
                (Err(Io), Err(Io), Err(Io)),
                "way {how}"
            );
            check_eq!(
                c,
                jr(send_m(F, SEND_ONLY, &message(&[], &[]))),
                Err(Io),
                "later use"
            );
            close_all();
        }
        check_eq!(c, usage(), base);
    });
    s.isolated("taken_message_survives_endpoint_destruction", |c| {
        endpoint_with_copies();
        reset();
        let cl = client(0, E, F, 4, 8);
        settle(0);
        let mut buf = [0u8; 8];
        let m_recv = [bm(&mut buf)];
        let mut m = message(&[], &m_recv);
        check_eq!(c, receive_m(E, &mut m), Ok(4));
        check_eq!(c, api::destroy(E), Ok(()));
        let mut out = [0u8; 8];
        fill(&mut out, 100);
        check_eq!(c, ipc::reply(&[&out]), Ok(()));
        check_eq!(c, join(cl), 0);
        check_eq!(c, (result(0), GOOD[0].load(SeqCst)), (Ok(8), 1));
        close_all();
    });
    s.isolated("receiver_ends_without_replying", |c| {
        // exit, fault.
        for fault in [false, true] {
            endpoint_with_copies();
            reset();
            let srv = spawn(move || {
                let mut buf = [0u8; 8];
                let m_recv = [bm(&mut buf)];
                let mut m = message(&[], &m_recv);
                READY[1].store(1, SeqCst);
                let _ = receive_m(E, &mut m);
                if fault {
                    // SAFETY: deliberately reads page 0 to be killed by a fault.
                    unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
                }
            })
            .expect("spawn");
            settle(1);
            let cl = client(0, E, F, 4, 8);
            check_eq!(c, join(srv), u64::from(fault));
            check_eq!(c, join(cl), 0);
            check_eq!(c, result(0), Err(Io), "fault {fault}");
            close_all();
        }
    });
    s.isolated("processes_destroyed_while_blocked", |c| {
        touch_stack();
        let base = usage();
        // way 0: DESTROY; 1: ACTOR_DELETE; 2: the child's server holds a message.
        for way in 0..3u64 {
            check_eq!(c, ipc::create_endpoint(E), Ok(()));
            check_eq!(c, ipc::create_endpoint(E2), Ok(()));
            let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
            let flag = shared.addr();
            poke(flag, 0);
            match fork() {
                Ok(Fork::Child) => {
                    while api::destroy(CHILD_E) == Err(BadF)
                        || api::destroy(CHILD_E + 1) == Err(BadF)
                    {
                        api::yield_thread();
                    }
                    if way == 2 {
                        let mut buf = [0u8; 8];
                        poke(flag, 1);
                        let _ = ipc::receive(CHILD_E + 1, &mut [&mut buf]);
                        poke(flag, 2);
                        loop {
                            api::yield_thread();
                        }
                    }
                    // A second thread waits in RECEIVE on E2, this one in SEND on E.
                    let _ = spawn(|| {
                        let mut buf = [0u8; 8];
                        let _ = ipc::receive(CHILD_E + 1, &mut [&mut buf]);
                    });
                    poke(flag, 1);
                    let _ = ipc::call(F, CHILD_E, b"withdrawn", &mut []);
                    poke(flag, 99);
                    api::exit_thread()
                }
                Ok(Fork::Parent(child)) => {
                    check_eq!(
                        c,
                        api::mint_into(E, child.process, CHILD_E, JINUE_PERM_SEND, 0),
                        Ok(())
                    );
                    check_eq!(
                        c,
                        api::mint_into(E2, child.process, CHILD_E + 1, ENDPOINT_PERMS, 0),
                        Ok(())
                    );
                    while peek(flag) == 0 {
                        api::yield_thread();
                    }
                    for _ in 0..8 {
                        api::yield_thread();
                    }
                    let mut held_client = None;
                    if way == 2 {
                        reset();
                        held_client = Some(client(0, E2, F, 4, 4));
                        while peek(flag) != 2 {
                            api::yield_thread();
                        }
                    }
                    match way {
                        1 => {
                            let cap = api::actor_cap(child.process).expect("ACTOR_CAP");
                            check_eq!(c, api::actor_delete(Actor::Cap(&cap)), Ok(()));
                        }
                        _ => check_eq!(c, api::destroy(child.process), Ok(())),
                    }
                    check_eq!(c, api::await_thread(child.thread).ok(), Some(1), "killed");
                    child.release();
                    if let Some(h) = held_client {
                        check_eq!(c, join(h), 0);
                        check_eq!(c, result(0), Err(Io), "the receiver's process ended");
                    } else {
                        check!(c, peek(flag) != 99, "the blocked SEND never returned");
                        // The withdrawn message is gone: the next one received is ours.
                        reset();
                        let cl = client(0, E, F + 9, 4, 0);
                        let mut buf = [0u8; 16];
                        let got = ipc::receive(E, &mut [&mut buf]);
                        check_eq!(
                            c,
                            got.map(|g| (g.function, g.size)),
                            Ok((F + 9, 4)),
                            "way {way}"
                        );
                        check_eq!(c, ipc::reply(&[]), Ok(()));
                        check_eq!(c, join(cl), 0);
                    }
                }
                Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
            }
            drop(shared);
            close_all();
        }
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.isolated("reply_to_a_destroyed_sender_is_dropped", |c| {
        check_eq!(c, ipc::create_endpoint(E), Ok(()));
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
        let flag = shared.addr();
        poke(flag, 0);
        match fork() {
            Ok(Fork::Child) => {
                while api::destroy(CHILD_E) == Err(BadF) {
                    api::yield_thread();
                }
                poke(flag, 1);
                let _ = ipc::call(F, CHILD_E, b"hello", &mut [0u8; 8]);
                poke(flag, 99);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(
                    c,
                    api::mint_into(E, child.process, CHILD_E, JINUE_PERM_SEND, 0),
                    Ok(())
                );
                let mut buf = [0u8; 8];
                let got = ipc::receive(E, &mut [&mut buf]);
                check_eq!(c, got.map(|g| g.size), Ok(5));
                check_eq!(c, api::destroy(child.process), Ok(()));
                check_eq!(
                    c,
                    ipc::reply(&[b"late"]),
                    Ok(()),
                    "dropped, still a success"
                );
                check_eq!(c, ipc::reply(&[b"late"]), Err(NoMsg));
                check!(c, peek(flag) != 99);
                child.release();
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
        drop(shared);
        close_all();
    });
}
