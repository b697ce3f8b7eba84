//! Physical-memory wrappers (ABI §3.3): GET_ADDRESS_MAP and MMAP.

use crate::api::{jinue_decode, raw, JResult};
use abi::errors::JinueError;
use abi::numbers::{JINUE_SYS_GET_ADDRESS_MAP, JINUE_SYS_MMAP};
use abi::physmem::{AddrMapEntry, MmapArgs, ADDR_MAP_HEADER_SIZE};
use abi::types::Wire;

/// GET_ADDRESS_MAP into `buf` (a `jinue_addr_map_t`): returns the number of
/// entries; read them with [`address_map_entry`].
///
/// # Errors
///
/// `EINVAL` (buffer unwritable), `E2BIG` (too small: then
/// [`address_map_count`] still works if `buf` has 4 bytes).
pub fn get_address_map(buf: &mut [u8]) -> JResult<usize> {
    // SAFETY: the kernel writes only inside `buf`, which is borrowed for the call.
    jinue_decode(unsafe {
        raw(
            JINUE_SYS_GET_ADDRESS_MAP,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            0,
        )
    })?;
    address_map_count(core::hint::black_box(buf)).ok_or(JinueError::Inval)
}

/// `num_entries` of a map GET_ADDRESS_MAP wrote (`None` if `buf` is shorter than 4 bytes).
pub fn address_map_count(buf: &[u8]) -> Option<usize> {
    let b: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// Entry `i` of a map GET_ADDRESS_MAP wrote, if `buf` holds it.
pub fn address_map_entry(buf: &[u8], i: usize) -> Option<AddrMapEntry> {
    let at = ADDR_MAP_HEADER_SIZE + i * AddrMapEntry::SIZE;
    buf.get(at..at + AddrMapEntry::SIZE)
        .map(AddrMapEntry::from_bytes)
}

/// MMAP: maps physical `[paddr, paddr + length)` at `[addr, addr + length)`
/// of the process named by `process` with `prot` (init only).
///
/// # Errors
///
/// `EBADF`, `EINVAL`, `EIO`, `EPERM`, `ENOMEM` (ABI §3.3).
pub fn mmap(process: u64, addr: u64, length: u64, prot: i32, paddr: u64) -> JResult<()> {
    let args = MmapArgs {
        addr,
        length,
        prot,
        _pad: 0,
        paddr,
    };
    // SAFETY: the structure is only read; the mapping replaces memory the
    // caller names (module documentation of `api`).
    jinue_decode(unsafe { raw(JINUE_SYS_MMAP, process, &args as *const MmapArgs as u64, 0) })
        .map(drop)
}
