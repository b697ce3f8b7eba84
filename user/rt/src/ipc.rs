//! IPC wrappers (ABI §3.2): CREATE_ENDPOINT, SEND, RECEIVE, REPLY, REPLY_ERROR, and a server loop.
//!
//! The wrappers build `jinue_message_t` and `jinue_buffer_t` arrays on the
//! stack from Rust slices; the kernel copies messages, so no buffer needs to
//! outlive a call. [`serve`] is the usual server: RECEIVE, let a handler
//! answer, REPLY (or REPLY_ERROR), again.

use crate::api::{jinue_decode, raw, JResult};
use abi::errors::JinueError;
use abi::ipc::JinueMessage;
use abi::numbers::{
    JINUE_SYS_CREATE_ENDPOINT, JINUE_SYS_RECEIVE, JINUE_SYS_REPLY, JINUE_SYS_REPLY_ERROR,
};
use abi::regs::SyscallArgs;
use abi::types::JinueBuffer;

/// Most buffers the slice-based wrappers take on each side (the raw calls take up to 256).
pub const MAX_SLICES: usize = 8;

/// Why a SEND failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The call failed with this error (`EPROTO` is reported as [`SendError::Refused`]).
    Jinue(JinueError),
    /// The server answered with REPLY_ERROR and this code.
    Refused(u64),
}

/// What RECEIVE reports about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes of the message (written into the receive buffers in order).
    pub size: usize,
    /// The function number the sender used (4096 or more for user SENDs).
    pub function: u64,
    /// The cookie of the descriptor the sender used.
    pub cookie: u64,
    /// The largest reply the sender takes.
    pub reply_max_size: usize,
}

fn buffers<const N: usize>(parts: &[&[u8]]) -> ([JinueBuffer; N], u64) {
    let mut b = [JinueBuffer::default(); N];
    for (slot, p) in b.iter_mut().zip(parts) {
        *slot = JinueBuffer {
            addr: p.as_ptr() as u64,
            size: p.len() as u64,
        };
    }
    (b, parts.len().min(N) as u64)
}

fn buffers_mut<const N: usize>(parts: &mut [&mut [u8]]) -> ([JinueBuffer; N], u64) {
    let mut b = [JinueBuffer::default(); N];
    for (slot, p) in b.iter_mut().zip(parts.iter_mut()) {
        *slot = JinueBuffer {
            addr: p.as_mut_ptr() as u64,
            size: p.len() as u64,
        };
    }
    (b, parts.len().min(N) as u64)
}

/// CREATE_ENDPOINT: a new endpoint owned through descriptor `fd` (`SEND|RECEIVE`, cookie 0).
///
/// # Errors
///
/// `EBADF` (number invalid or in use), `EAGAIN` (endpoint limit).
pub fn create_endpoint(fd: u64) -> JResult<()> {
    // SAFETY: plain numbers; no memory is touched.
    jinue_decode(unsafe { raw(JINUE_SYS_CREATE_ENDPOINT, fd, 0, 0) }).map(drop)
}

/// SEND with a message structure the caller built: all four registers back
/// (for `EPROTO`, `arg2` holds the server's code).
///
/// # Safety
///
/// Every buffer the structure names must be owned by the caller for the
/// call (the receive buffers are written behind the compiler's back).
pub unsafe fn send_message(function: u64, endpoint: u64, msg: &mut JinueMessage) -> SyscallArgs {
    // SAFETY: the caller vouches for the buffers.
    unsafe { raw(function, endpoint, msg as *mut JinueMessage as u64, 0) }
}

/// Decodes SEND's registers.
///
/// # Panics
///
/// On an error number the ABI does not define.
pub fn send_result(r: SyscallArgs) -> Result<usize, SendError> {
    match jinue_decode(r) {
        Ok(n) => Ok(n as usize),
        Err(JinueError::Proto) => Err(SendError::Refused(r.arg2)),
        Err(e) => Err(SendError::Jinue(e)),
    }
}

/// SEND of the concatenation of `parts` (at most [`MAX_SLICES`]) with
/// function number `function` (4096 … `0x7FFF_FFFF`) through `endpoint`;
/// the reply lands in `reply` (at most [`MAX_SLICES`] parts, in order).
/// Returns the reply's size.
///
/// # Errors
///
/// As ABI §3.2: `EBADF`, `EINVAL`, `EIO`, `EPERM`, `E2BIG` (bigger than the
/// server takes), [`SendError::Refused`] after REPLY_ERROR.
pub fn send(
    function: u64,
    endpoint: u64,
    parts: &[&[u8]],
    reply: &mut [&mut [u8]],
) -> Result<usize, SendError> {
    let (out, out_len) = buffers::<MAX_SLICES>(parts);
    let (into, into_len) = buffers_mut::<MAX_SLICES>(reply);
    let mut msg = JinueMessage {
        send_buffers: out.as_ptr() as u64,
        send_buffers_length: out_len,
        recv_buffers: into.as_ptr() as u64,
        recv_buffers_length: into_len,
        ..JinueMessage::default()
    };
    // SAFETY: the buffers are the caller's slices, borrowed for the call.
    send_result(unsafe { send_message(function, endpoint, &mut msg) })
}

/// A one-buffer request and one-buffer reply: [`send`] for the common case.
///
/// # Errors
///
/// As [`send`].
pub fn call(
    function: u64,
    endpoint: u64,
    request: &[u8],
    reply: &mut [u8],
) -> Result<usize, SendError> {
    send(function, endpoint, &[request], &mut [reply])
}

/// RECEIVE into `parts` (at most [`MAX_SLICES`], in order): blocks until a
/// message arrives on `endpoint`.
///
/// # Errors
///
/// `EBADF`, `EINVAL`, `EIO` (endpoint destroyed), `EPERM`, `EBUSY` (a
/// message not yet answered).
pub fn receive(endpoint: u64, parts: &mut [&mut [u8]]) -> JResult<Received> {
    let (into, into_len) = buffers_mut::<MAX_SLICES>(parts);
    let mut msg = JinueMessage {
        recv_buffers: into.as_ptr() as u64,
        recv_buffers_length: into_len,
        ..JinueMessage::default()
    };
    // SAFETY: the structure and buffers are the caller's, borrowed for the call.
    let size = jinue_decode(unsafe {
        raw(
            JINUE_SYS_RECEIVE,
            endpoint,
            &mut msg as *mut JinueMessage as u64,
            0,
        )
    })?;
    // The kernel wrote the outputs behind the compiler's back.
    let msg = core::hint::black_box(msg);
    Ok(Received {
        size: size as usize,
        function: msg.recv_function,
        cookie: msg.recv_cookie,
        reply_max_size: msg.reply_max_size as usize,
    })
}

/// REPLY with the concatenation of `parts` (at most [`MAX_SLICES`]).
///
/// # Errors
///
/// `EINVAL`, `ENOMSG` (no message held), `E2BIG` (above `reply_max_size`;
/// the message is still held).
pub fn reply(parts: &[&[u8]]) -> JResult<()> {
    let (out, out_len) = buffers::<MAX_SLICES>(parts);
    let msg = JinueMessage {
        send_buffers: out.as_ptr() as u64,
        send_buffers_length: out_len,
        ..JinueMessage::default()
    };
    // SAFETY: only read by the kernel.
    jinue_decode(unsafe { raw(JINUE_SYS_REPLY, 0, &msg as *const JinueMessage as u64, 0) })
        .map(drop)
}

/// REPLY_ERROR: the sender's SEND fails with `EPROTO` and `code`.
///
/// # Errors
///
/// `ENOMSG` if no message is held.
pub fn reply_error(code: u64) -> JResult<()> {
    // SAFETY: a plain number.
    jinue_decode(unsafe { raw(JINUE_SYS_REPLY_ERROR, code, 0, 0) }).map(drop)
}

/// A server loop on `endpoint`: receives each message into `request`,
/// calls `handle(&received, &request[..size], reply_buffer)`, and answers
/// with `Ok(n)` → REPLY of the first `n` bytes of the reply buffer, or
/// `Err(code)` → REPLY_ERROR. A reply the sender cannot take becomes
/// REPLY_ERROR with `JINUE_E2BIG`. Returns when RECEIVE fails (the endpoint
/// was destroyed: `EIO`), or with `Ok(())` when `handle` sets `*stop`.
///
/// # Errors
///
/// The RECEIVE or REPLY error that ended the loop.
pub fn serve(
    endpoint: u64,
    request: &mut [u8],
    reply_buffer: &mut [u8],
    mut handle: impl FnMut(&Received, &[u8], &mut [u8], &mut bool) -> Result<usize, u64>,
) -> JResult<()> {
    let mut stop = false;
    while !stop {
        let got = receive(endpoint, &mut [&mut *request])?;
        let size = got.size.min(request.len());
        match handle(&got, &request[..size], reply_buffer, &mut stop) {
            Ok(n) => {
                let n = n.min(reply_buffer.len());
                match reply(&[&reply_buffer[..n]]) {
                    Err(JinueError::TooBig) => reply_error(JinueError::TooBig.number())?,
                    other => other?,
                }
            }
            Err(code) => reply_error(code)?,
        }
    }
    Ok(())
}
