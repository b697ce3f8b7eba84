//! IPC through the whole core (ABI §3.2): endpoints, SEND/RECEIVE/REPLY between two processes, the direct switch, EIO on destruction.

use super::harness::*;
use abi::errors::*;
use abi::ipc::JinueMessage;
use abi::numbers::*;
use abi::perms::*;
use abi::types::JinueBuffer;

const E: u64 = 5;
const CHILD: u64 = 10;
const CHILD_THREAD: u64 = 11;
/// Message structure, buffer arrays and buffers in the scratch area.
const MSG: u64 = S + 0x100;
const ARRAY: u64 = S + 0x180;
const DATA_OUT: u64 = S + 0x300;
const DATA_IN: u64 = S + 0x400;
const F: u64 = JINUE_SYS_USER_BASE;

impl World {
    /// Writes a message structure with one send and one receive buffer.
    fn message(&mut self, send_len: u64, recv_len: u64) -> u64 {
        self.put(
            ARRAY,
            &JinueBuffer {
                addr: DATA_OUT,
                size: send_len,
            },
        );
        self.put(
            ARRAY + 16,
            &JinueBuffer {
                addr: DATA_IN,
                size: recv_len,
            },
        );
        self.put(
            MSG,
            &JinueMessage {
                send_buffers: ARRAY,
                send_buffers_length: 1,
                recv_buffers: ARRAY + 16,
                recv_buffers_length: 1,
                ..JinueMessage::default()
            },
        );
        MSG
    }
}

/// Init with endpoint `E`, a child process whose thread (not yet run) has
/// a RECEIVE copy of it at the same number.
fn world_with_server() -> (World, u64, u64) {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_ENDPOINT, E, 0, 0), OK);
    w.spawn(CHILD, CHILD_THREAD);
    let mint = S + 0x80;
    w.put(
        mint,
        &abi::types::MintArgs {
            process: CHILD as i32,
            fd: E as i32,
            perms: JINUE_PERM_RECEIVE as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, E, mint, 0), OK);
    let init = w.current_number();
    w.yield_now();
    let child = w.current_number();
    assert_ne!(init, child);
    (w, init, child)
}

#[test]
fn round_trips_switch_directly_between_client_and_server() {
    let (mut w, init, child) = world_with_server();
    // The server waits in RECEIVE: the processor goes back to init.
    let m = w.message(0, 64);
    w.call(JINUE_SYS_RECEIVE, E, m, 0);
    assert_eq!(w.current_number(), init);
    for round in 0..50u8 {
        w.poke(DATA_OUT, &[round; 64]);
        let m = w.message(64, 32);
        // SEND finds the server waiting (after the first round, queued).
        let r = w.call(F + 7, E, m, 0);
        if w.current_number() == child && r.arg0 != 64 {
            // The server returned from REPLY (0) and now calls RECEIVE.
            assert_eq!(r.jinue_result(), Ok(0));
            let m = w.message(0, 64);
            let r = w.call(JINUE_SYS_RECEIVE, E, m, 0);
            assert_eq!(
                r.jinue_result(),
                Ok(64),
                "the queued message is taken at once"
            );
        } else {
            assert_eq!(w.current_number(), child, "straight to the waiting server");
            assert_eq!(r.jinue_result(), Ok(64));
        }
        assert_eq!(w.peek(DATA_IN, 64), [round; 64]);
        let out: JinueMessage = w.get(MSG);
        assert_eq!(
            (out.recv_function, out.recv_cookie, out.reply_max_size),
            (F + 7, 0, 32)
        );
        w.poke(DATA_OUT, &[round ^ 0xff; 16]);
        let m = w.message(16, 0);
        let r = w.call(JINUE_SYS_REPLY, 0, m, 0);
        assert_eq!(
            w.current_number(),
            init,
            "REPLY goes straight to the client"
        );
        assert_eq!(r.jinue_result(), Ok(16));
        assert_eq!(w.peek(DATA_IN, 16), [round ^ 0xff; 16]);
    }
    w.assert_teardown_restores_baseline();
}

#[test]
fn destroying_the_endpoint_fails_the_waiting_server_with_eio() {
    let (mut w, init, child) = world_with_server();
    let m = w.message(0, 64);
    w.call(JINUE_SYS_RECEIVE, E, m, 0);
    assert_eq!(w.current_number(), init);
    assert_eq!(w.j(JINUE_SYS_DESTROY, E, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_DESTROY, E, 0, 0), Err(JINUE_EIO));
    w.call(JINUE_SYS_YIELD_THREAD, 0, 0, 0);
    assert_eq!(w.current_number(), child);
    assert_eq!(w.ctx.syscall_args().jinue_result(), Err(JINUE_EIO));
    let m = w.message(0, 64);
    assert_eq!(w.j(JINUE_SYS_RECEIVE, E, m, 0), Err(JINUE_EIO));
    w.assert_teardown_restores_baseline();
}

#[test]
fn a_server_killed_while_holding_a_message_fails_the_client_with_eio() {
    let (mut w, init, child) = world_with_server();
    let m = w.message(0, 64);
    w.call(JINUE_SYS_RECEIVE, E, m, 0);
    let m = w.message(8, 8);
    let r = w.call(F, E, m, 0);
    assert_eq!((w.current_number(), r.jinue_result()), (child, Ok(8)));
    // The server faults: the client's SEND fails with EIO.
    let next = w.trap(crate::Trap::Exception {
        vector: 13,
        error_code: 0,
        fault_addr: 0,
    });
    assert_eq!(next, crate::Next::RunUser);
    assert_eq!(w.current_number(), init);
    assert_eq!(w.ctx.syscall_args().jinue_result(), Err(JINUE_EIO));
    w.assert_teardown_restores_baseline();
}

#[test]
fn reply_error_puts_the_code_in_arg2() {
    let (mut w, init, child) = world_with_server();
    let m = w.message(0, 64);
    w.call(JINUE_SYS_RECEIVE, E, m, 0);
    let m = w.message(8, 8);
    w.call(F, E, m, 0);
    assert_eq!(w.current_number(), child);
    let r = w.call(JINUE_SYS_REPLY_ERROR, u64::MAX - 3, 0, 0);
    assert_eq!(w.current_number(), init);
    assert_eq!(
        (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
        (-1, JINUE_EPROTO, u64::MAX - 3, 0)
    );
    w.assert_teardown_restores_baseline();
}
