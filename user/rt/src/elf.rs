//! A minimal bounds-checked reader of static x86_64 ELF executables (ET_EXEC).

use crate::error::Error;
use abi::layout::{PAGE_SIZE, USER_BASE, USER_LIMIT};

const EHDR_SIZE: usize = 64;
/// Size of one ELF64 program header.
pub const PHDR_SIZE: usize = 56;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_flags` bits.
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
}

impl Phdr {
    /// First page of the segment.
    pub fn page_start(&self) -> u64 {
        self.p_vaddr & !(PAGE_SIZE - 1)
    }

    /// End of the segment's last page (exclusive).
    pub fn page_end(&self) -> u64 {
        (self.p_vaddr + self.p_memsz).next_multiple_of(PAGE_SIZE)
    }
}

/// A checked ELF image.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    /// `e_entry`.
    pub entry: u64,
    /// `e_phoff`.
    pub phoff: u64,
    /// `e_phentsize`.
    pub phentsize: u16,
    /// `e_phnum`.
    pub phnum: u16,
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

impl<'a> Elf<'a> {
    /// Checks the header and every program header.
    ///
    /// # Errors
    ///
    /// [`Error::BadElf`] naming the first problem.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < EHDR_SIZE {
            return Err(Error::BadElf("shorter than an ELF header"));
        }
        if bytes[..4] != *b"\x7fELF" {
            return Err(Error::BadElf("no ELF magic"));
        }
        if bytes[4] != 2 || bytes[5] != 1 {
            return Err(Error::BadElf("not 64-bit little-endian"));
        }
        if u16_at(bytes, 16) != ET_EXEC || u16_at(bytes, 18) != EM_X86_64 {
            return Err(Error::BadElf("not an x86_64 ET_EXEC"));
        }
        let elf = Elf {
            bytes,
            entry: u64_at(bytes, 24),
            phoff: u64_at(bytes, 32),
            phentsize: u16_at(bytes, 54),
            phnum: u16_at(bytes, 56),
        };
        if usize::from(elf.phentsize) != PHDR_SIZE {
            return Err(Error::BadElf("unexpected program header size"));
        }
        let table_end = (elf.phnum as u64)
            .checked_mul(PHDR_SIZE as u64)
            .and_then(|n| n.checked_add(elf.phoff));
        if table_end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(Error::BadElf("program headers outside the file"));
        }
        let mut prev_end = USER_BASE;
        let mut any = false;
        for ph in elf.loads() {
            let file_end = ph.p_offset.checked_add(ph.p_filesz);
            if ph.p_filesz > ph.p_memsz || file_end.is_none_or(|e| e > bytes.len() as u64) {
                return Err(Error::BadElf("segment outside the file"));
            }
            let mem_end = ph.p_vaddr.checked_add(ph.p_memsz);
            if mem_end.is_none_or(|e| e > USER_LIMIT) || ph.p_vaddr < USER_BASE {
                return Err(Error::BadElf("segment outside user space"));
            }
            if ph.page_start() < prev_end {
                return Err(Error::BadElf("segments overlap or are out of order"));
            }
            prev_end = ph.page_end();
            any = true;
        }
        if !any {
            return Err(Error::BadElf("no loadable segment"));
        }
        Ok(elf)
    }

    /// Program header `i` (`i < phnum`, checked by `parse`).
    pub fn phdr(&self, i: usize) -> Phdr {
        let o = self.phoff as usize + i * PHDR_SIZE;
        let b = self.bytes;
        Phdr {
            p_type: u32_at(b, o),
            p_flags: u32_at(b, o + 4),
            p_offset: u64_at(b, o + 8),
            p_vaddr: u64_at(b, o + 16),
            p_filesz: u64_at(b, o + 32),
            p_memsz: u64_at(b, o + 40),
        }
    }

    /// The `PT_LOAD` headers, in file order.
    pub fn loads(&self) -> impl Iterator<Item = Phdr> + '_ {
        (0..usize::from(self.phnum))
            .map(|i| self.phdr(i))
            .filter(|p| p.p_type == PT_LOAD)
    }

    /// The file bytes of a segment (bounds checked by `parse`).
    pub fn file_bytes(&self, ph: &Phdr) -> &'a [u8] {
        &self.bytes[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize]
    }

    /// Where the program headers are in the loaded image (`AT_PHDR`), if a
    /// segment loads them.
    pub fn phdr_vaddr(&self) -> Option<u64> {
        let len = u64::from(self.phnum) * PHDR_SIZE as u64;
        self.loads()
            .find(|p| p.p_offset <= self.phoff && self.phoff + len <= p.p_offset + p.p_filesz)
            .map(|p| p.p_vaddr + (self.phoff - p.p_offset))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec::Vec;

    /// A small ET_EXEC image with PT_LOAD segments `(vaddr, size, flags)`,
    /// file offsets following the headers, entry at 0x400010.
    pub(crate) fn sample(segments: &[(u64, u64, u32)]) -> Vec<u8> {
        let phoff = 64u64;
        let mut b = std::vec![0u8; 64 + segments.len() * PHDR_SIZE];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[24..32].copy_from_slice(&0x40_0010u64.to_le_bytes());
        b[32..40].copy_from_slice(&phoff.to_le_bytes());
        b[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut offset = 0u64;
        for (i, &(vaddr, size, flags)) in segments.iter().enumerate() {
            let o = 64 + i * PHDR_SIZE;
            b[o..o + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[o + 4..o + 8].copy_from_slice(&flags.to_le_bytes());
            b[o + 8..o + 16].copy_from_slice(&offset.to_le_bytes());
            b[o + 16..o + 24].copy_from_slice(&vaddr.to_le_bytes());
            b[o + 32..o + 40].copy_from_slice(&size.to_le_bytes());
            b[o + 40..o + 48].copy_from_slice(&(size + 16).to_le_bytes());
            offset += size.max(b.len() as u64);
        }
        let len = b.len().max(offset as usize);
        b.resize(len, 0xab);
        b
    }

    #[test]
    fn parses_a_good_image() {
        let img = sample(&[
            (0x40_0000, 0x300, PF_R | PF_X),
            (0x40_1000, 0x80, PF_R | PF_W),
        ]);
        let elf = Elf::parse(&img).unwrap();
        assert_eq!(elf.entry, 0x40_0010);
        let loads: Vec<Phdr> = elf.loads().collect();
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[1].p_vaddr, 0x40_1000);
        assert_eq!(loads[1].page_start(), 0x40_1000);
        assert_eq!(loads[1].page_end(), 0x40_2000);
        assert_eq!(elf.file_bytes(&loads[0]).len(), 0x300);
        assert_eq!(elf.phdr_vaddr(), Some(0x40_0040));
    }

    fn bad(img: &[u8]) -> &'static str {
        match Elf::parse(img) {
            Err(Error::BadElf(why)) => why,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_images() {
        let good = sample(&[(0x40_0000, 0x300, PF_R)]);
        assert_eq!(bad(&good[..63]), "shorter than an ELF header");
        let mut b = good.clone();
        b[0] = 0;
        assert_eq!(bad(&b), "no ELF magic");
        let mut b = good.clone();
        b[4] = 1;
        assert_eq!(bad(&b), "not 64-bit little-endian");
        let mut b = good.clone();
        b[16] = 3; // ET_DYN
        assert_eq!(bad(&b), "not an x86_64 ET_EXEC");
        let mut b = good.clone();
        b[54] = 32;
        assert_eq!(bad(&b), "unexpected program header size");
        let mut b = good.clone();
        b[56] = 200;
        assert_eq!(bad(&b), "program headers outside the file");
        let mut b = good.clone();
        b[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(bad(&b), "segment outside the file");
        let mut b = good.clone();
        b[64 + 16..64 + 24].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(bad(&b), "segment outside user space");
        let mut b = good.clone();
        b[64 + 16..64 + 24].copy_from_slice(&(USER_LIMIT - 8).to_le_bytes());
        assert_eq!(bad(&b), "segment outside user space");
        let overlap = sample(&[(0x40_1000, 0x300, PF_R), (0x40_1800, 0x10, PF_R)]);
        assert_eq!(bad(&overlap), "segments overlap or are out of order");
        let none = sample(&[]);
        assert_eq!(bad(&none), "no loadable segment");
    }
}
