//! Small ELF files for tests (feature `sample`; the loader's own tests too).

extern crate alloc;

use abi::layout::PAGE_SIZE;
use alloc::vec::Vec;
use elf::abi::{EM_X86_64, PT_LOAD};

/// Where program header `i` of a [`make_elf`] file starts.
pub const fn phdr_offset(i: usize) -> usize {
    64 + 56 * i
}

/// Builds a minimal x86_64 ELF64 file of type `e_type` with the given
/// `PT_LOAD` segments `(vaddr, p_flags, file bytes, memsz)`: the headers at
/// file offset 0, inside no segment; the segments' bytes after them.
pub fn make_elf(entry: u64, e_type: u16, segs: &[(u64, u32, &[u8], u64)]) -> Vec<u8> {
    let phoff = 64u64;
    let phnum = segs.len() as u64;
    let mut data_off = phoff + 56 * phnum;
    let mut out = alloc::vec![0u8; data_off as usize];
    out[0..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // little endian
    out[6] = 1; // EV_CURRENT
    out[16..18].copy_from_slice(&e_type.to_le_bytes());
    out[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&entry.to_le_bytes());
    out[32..40].copy_from_slice(&phoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[54..56].copy_from_slice(&56u16.to_le_bytes());
    out[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    for (i, (vaddr, flags, bytes, memsz)) in segs.iter().enumerate() {
        let p = phdr_offset(i);
        out[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        out[p + 4..p + 8].copy_from_slice(&flags.to_le_bytes());
        out[p + 8..p + 16].copy_from_slice(&data_off.to_le_bytes());
        out[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
        out[p + 24..p + 32].copy_from_slice(&vaddr.to_le_bytes());
        out[p + 32..p + 40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        out[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        out[p + 48..p + 56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
        data_off += bytes.len() as u64;
    }
    for (_, _, bytes, _) in segs {
        out.extend_from_slice(bytes);
    }
    out
}

/// Writes `value` at byte `at` of `file` (to spoil a field).
pub fn put_u64(file: &mut [u8], at: usize, value: u64) {
    file[at..at + 8].copy_from_slice(&value.to_le_bytes());
}
