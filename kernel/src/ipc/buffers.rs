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

/// Entries read per user copy (one 128-byte chunk of a buffer array).
const CHUNK_ENTRIES: usize = 8;

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

/// Reads the buffer array of `len` entries at `addr` into `out` (nothing
/// is read when `len` is 0). `out` never holds more than 256 entries, so
/// the heap it keeps per thread is bounded.
///
/// # Errors
/// `BadPointer`: more than 256 entries, or the array is unreadable.
fn read_array<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    addr: u64,
    len: u64,
    out: &mut Vec<JinueBuffer>,
    plat: &mut impl Platform,
) -> Result<(), Error> {
    out.clear();
    if len > JINUE_MAX_BUFFERS_IN_ARRAY {
        return Err(Error::BadPointer);
    }
    let n = len as usize;
    out.reserve_exact(n);
    let mut raw = [0u8; CHUNK_ENTRIES * JinueBuffer::SIZE];
    let mut done = 0usize;
    while done < n {
        let count = (n - done).min(CHUNK_ENTRIES);
        let bytes = &mut raw[..count * JinueBuffer::SIZE];
        let at = addr.wrapping_add((done * JinueBuffer::SIZE) as u64);
        UserBytes::new(at, bytes.len() as u64).read_into(mem, space, bytes, plat)?;
        out.extend(
            bytes
                .chunks_exact(JinueBuffer::SIZE)
                .map(JinueBuffer::from_bytes),
        );
        done += count;
    }
    Ok(())
}

/// Copies the send buffers `[addr; len]` of `space` into `out`, in order
/// (`entries` is scratch space for the array).
///
/// # Errors
/// `BadPointer`: array too long or unreadable, a buffer unreadable, more than
/// 2048 bytes together. `out` then holds no meaningful data.
pub fn gather<P: PhysMem>(
    mem: &mut Memory<P>,
    space: SpaceId,
    (addr, len): (u64, u64),
    entries: &mut Vec<JinueBuffer>,
    out: &mut Vec<u8>,
    plat: &mut impl Platform,
) -> Result<(), Error> {
    out.clear();
    read_array(mem, space, addr, len, entries, plat)?;
    let mut total = 0u64;
    for b in entries.iter() {
        total = total
            .checked_add(b.size)
            .filter(|t| *t <= JINUE_MAX_MESSAGE_SIZE)
            .ok_or(Error::BadPointer)?;
    }
    if out.capacity() < JINUE_MAX_MESSAGE_SIZE as usize {
        out.reserve_exact(JINUE_MAX_MESSAGE_SIZE as usize);
    }
    // Within the capacity just reserved: no allocation, and no byte is
    // left unwritten (each buffer below fills its part or the call fails).
    out.resize(total as usize, 0);
    let mut at = 0usize;
    for b in entries.iter() {
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
    (addr, len): (u64, u64),
    out: &mut Landing,
    plat: &mut impl Platform,
) -> Result<(), Error> {
    out.capacity = 0;
    let result = read_array(mem, space, addr, len, &mut out.buffers, plat).and_then(|()| {
        for b in &out.buffers {
            if b.size > JINUE_MAX_BUFFER_SIZE
                || (b.size > 0 && !UserBytes::new(b.addr, b.size).is_user())
                || mem
                    .check_user_writable(space, b.addr, b.size as usize)
                    .is_err()
            {
                return Err(Error::BadPointer);
            }
        }
        Ok(())
    });
    if result.is_err() {
        out.buffers.clear();
        return result;
    }
    // Keep the non-empty buffers up to 2048 bytes together, the last one cut.
    let mut capacity = 0u64;
    out.buffers.retain_mut(|b| {
        let room = JINUE_MAX_MESSAGE_SIZE - capacity;
        b.size = b.size.min(room);
        capacity += b.size;
        b.size > 0
    });
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
