//! The user side of a message (ABI §3.2): buffer arrays read and checked, send buffers gathered into the kernel, a message scattered into receive buffers.
//!
//! Every check of a buffer array lives here: at most 256 entries, readable;
//! send buffers readable and at most 2048 bytes together; receive buffers at
//! most 64 MiB each and writable. Any failure is `BadPointer` (`EINVAL`).

use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::UserBytes;
use abi::ipc::{JINUE_MAX_BUFFERS_IN_ARRAY, JINUE_MAX_BUFFER_SIZE, JINUE_MAX_MESSAGE_SIZE};
use abi::types::{JinueBuffer, Wire};
use alloc::vec::Vec;
use mm::{Memory, PhysMem, SpaceId};

const ARRAY_BYTES: usize = JINUE_MAX_BUFFERS_IN_ARRAY as usize * JinueBuffer::SIZE;

/// Where messages (or replies) to a thread land: its non-empty receive
/// buffers, cut so that together they hold at most
/// [`JINUE_MAX_MESSAGE_SIZE`] bytes, and that total (the receive capacity).
#[derive(Default)]
pub struct Landing {
    buffers: Vec<JinueBuffer>,
    capacity: u64,
}

impl Landing {
    /// The receive capacity: the buffers' sizes together, capped at 2048.
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// Reads a buffer array of `len` entries at `addr` (not read when `len` is 0).
fn read_array<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    addr: u64,
    len: u64,
    raw: &mut [u8; ARRAY_BYTES],
    plat: &mut impl Platform,
) -> Result<usize, Error> {
    if len > JINUE_MAX_BUFFERS_IN_ARRAY {
        return Err(Error::BadPointer);
    }
    let n = len as usize;
    let bytes = &mut raw[..n * JinueBuffer::SIZE];
    UserBytes::new(addr, bytes.len() as u64).read_into(mem, space, bytes, plat)?;
    Ok(n)
}

fn entry(raw: &[u8], i: usize) -> JinueBuffer {
    JinueBuffer::from_bytes(&raw[i * JinueBuffer::SIZE..(i + 1) * JinueBuffer::SIZE])
}

/// Copies the send buffers `[addr; len]` of `space` into `out`, in order.
///
/// # Errors
/// `BadPointer`: array too long or unreadable, a buffer unreadable, more than
/// 2048 bytes together. `out` then holds no meaningful data.
pub fn gather<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    addr: u64,
    len: u64,
    out: &mut Vec<u8>,
    plat: &mut impl Platform,
) -> Result<(), Error> {
    out.clear();
    if len == 0 {
        return Ok(());
    }
    let mut raw = [0u8; ARRAY_BYTES];
    let n = read_array(mem, space, addr, len, &mut raw, plat)?;
    let mut total = 0u64;
    for i in 0..n {
        total = total
            .checked_add(entry(&raw, i).size)
            .filter(|t| *t <= JINUE_MAX_MESSAGE_SIZE)
            .ok_or(Error::BadPointer)?;
    }
    if out.capacity() < JINUE_MAX_MESSAGE_SIZE as usize {
        out.reserve_exact(JINUE_MAX_MESSAGE_SIZE as usize);
    }
    out.resize(total as usize, 0);
    let mut at = 0usize;
    for i in 0..n {
        let b = entry(&raw, i);
        let len = b.size as usize;
        UserBytes::new(b.addr, b.size).read_into(mem, space, &mut out[at..at + len], plat)?;
        at += len;
    }
    Ok(())
}

/// Reads and checks the receive buffers `[addr; len]` of `space` into `out`.
///
/// # Errors
/// `BadPointer`: array too long or unreadable, a buffer above 64 MiB or not
/// writable. `out` is then empty.
pub fn landing<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    addr: u64,
    len: u64,
    out: &mut Landing,
    plat: &mut impl Platform,
) -> Result<(), Error> {
    out.buffers.clear();
    out.capacity = 0;
    if len == 0 {
        return Ok(());
    }
    let mut raw = [0u8; ARRAY_BYTES];
    let n = read_array(mem, space, addr, len, &mut raw, plat)?;
    for i in 0..n {
        let b = entry(&raw, i);
        if b.size > JINUE_MAX_BUFFER_SIZE
            || (b.size > 0 && !UserBytes::new(b.addr, b.size).is_user())
            || mem
                .check_user_writable(space, b.addr, b.size as usize)
                .is_err()
        {
            return Err(Error::BadPointer);
        }
    }
    // At most 256 entries ever: the heap this costs per thread is bounded.
    out.buffers.reserve_exact(n);
    let mut capacity = 0u64;
    for i in 0..n {
        let b = entry(&raw, i);
        let room = JINUE_MAX_MESSAGE_SIZE - capacity;
        if room == 0 {
            break;
        }
        if b.size > 0 {
            let size = b.size.min(room);
            out.buffers.push(JinueBuffer { addr: b.addr, size });
            capacity += size;
        }
    }
    out.capacity = capacity;
    Ok(())
}

/// Writes `data` (at most the landing's capacity) into the landing buffers
/// of `space`, in order.
///
/// # Errors
/// `BadPointer` if a buffer is no longer writable (some bytes may have
/// been written before it).
pub fn scatter<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    landing: &Landing,
    data: &[u8],
    plat: &mut impl Platform,
) -> Result<(), Error> {
    let mut at = 0usize;
    for b in &landing.buffers {
        if at == data.len() {
            break;
        }
        let n = (b.size as usize).min(data.len() - at);
        UserBytes::new(b.addr, n as u64).write(mem, space, &data[at..at + n], plat)?;
        at += n;
    }
    if at == data.len() {
        Ok(())
    } else {
        Err(Error::BadPointer)
    }
}
