//! Reading a static x86_64 ELF executable (ABI §8) with the `elf` crate, every
//! rule checked before anything is mapped.

use abi::init::{
    AT_ENTRY, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, JINUE_AT_HOWSYSCALL, JINUE_AT_STACKBASE,
};
use abi::layout::{is_user_range, JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE};
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_EXECUTABLE, K_NOACCESS, K_WRITABLE};
use core::fmt;
use elf::abi::{EI_NIDENT, EM_X86_64, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use elf::endian::LittleEndian;
use elf::file::{parse_ident, Class, FileHeader};
use elf::parse::{ParseAt, ParseError};
use elf::segment::{ProgramHeader, SegmentTable};

/// Size of one ELF64 program header (the only `e_phentsize` accepted).
pub const PHDR_SIZE: usize = 56;

/// Why a file is not a loadable program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a well-formed little-endian ELF file (magic, version, a header or
    /// the program-header table cut off, another program-header size).
    Malformed,
    /// Not a 64-bit ELF.
    NotElf64,
    /// Not `ET_EXEC` (static executable).
    NotExecutable,
    /// Not for x86_64.
    WrongMachine,
    /// No `PT_LOAD` segment with memory.
    NoSegments,
    /// A segment's file bytes lie outside the file, or `p_filesz > p_memsz`.
    BadSegment,
    /// Two segments overlap, or the segments are not in ascending address order.
    SegmentsOverlap,
    /// A segment (or the entry point) is outside user space or overlaps the stack.
    OutsideUserSpace,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElfError::Malformed => "not a well-formed little-endian ELF file",
            ElfError::NotElf64 => "not a 64-bit ELF file",
            ElfError::NotExecutable => "not a static executable (ET_EXEC)",
            ElfError::WrongMachine => "not an x86_64 program",
            ElfError::NoSegments => "no PT_LOAD segment",
            ElfError::BadSegment => "a segment's sizes or file offsets are invalid",
            ElfError::SegmentsOverlap => "segments overlap or are out of order",
            ElfError::OutsideUserSpace => "a segment or the entry point is outside user space",
        })
    }
}

/// The ELF header fields a loader needs, checked: a 64-bit little-endian
/// x86_64 `ET_EXEC` with 56-byte program headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    pub phnum: u16,
}

impl Header {
    /// Reads the ELF header at the start of `data`.
    ///
    /// # Errors
    ///
    /// [`ElfError::Malformed`], [`ElfError::NotElf64`],
    /// [`ElfError::NotExecutable`] or [`ElfError::WrongMachine`].
    pub fn parse(data: &[u8]) -> Result<Header, ElfError> {
        let ident = data.get(..EI_NIDENT).ok_or(ElfError::Malformed)?;
        let ident = parse_ident::<LittleEndian>(ident).map_err(|_| ElfError::Malformed)?;
        if ident.1 != Class::ELF64 {
            return Err(ElfError::NotElf64);
        }
        let ehdr = FileHeader::parse_tail(ident, &data[EI_NIDENT..])
            .map_err(|_: ParseError| ElfError::Malformed)?;
        if ehdr.e_type != ET_EXEC {
            return Err(ElfError::NotExecutable);
        }
        if ehdr.e_machine != EM_X86_64 {
            return Err(ElfError::WrongMachine);
        }
        ProgramHeader::validate_entsize(Class::ELF64, usize::from(ehdr.e_phentsize))
            .map_err(|_| ElfError::Malformed)?;
        Ok(Header {
            entry: ehdr.e_entry,
            phoff: ehdr.e_phoff,
            phentsize: ehdr.e_phentsize,
            phnum: ehdr.e_phnum,
        })
    }

    /// Where the program-header table ends in the file.
    pub fn table_end(&self) -> Option<u64> {
        u64::from(self.phnum)
            .checked_mul(u64::from(self.phentsize))?
            .checked_add(self.phoff)
    }

    /// The `PT_LOAD` headers with memory, in table order, read from `data`
    /// (the file, at least up to [`Self::table_end`]).
    ///
    /// # Errors
    ///
    /// [`ElfError::Malformed`] if the table is not inside `data`.
    pub fn loads<'a>(
        &self,
        data: &'a [u8],
    ) -> Result<impl Iterator<Item = ProgramHeader> + 'a, ElfError> {
        let start = usize::try_from(self.phoff).map_err(|_| ElfError::Malformed)?;
        let end = self
            .table_end()
            .and_then(|end| usize::try_from(end).ok())
            .ok_or(ElfError::Malformed)?;
        let table = data.get(start..end).ok_or(ElfError::Malformed)?;
        Ok(SegmentTable::new(LittleEndian, Class::ELF64, table)
            .into_iter()
            .filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0))
    }
}

/// A checked program: every `PT_LOAD` segment with memory lies in the file
/// and in user space below the stack region, in ascending address order
/// without overlap, and the entry point lies in one of them.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    data: &'a [u8],
    header: Header,
    phdr_vaddr: u64,
}

/// One `PT_LOAD` segment: `mem_size` bytes at `vaddr`, the first
/// `bytes.len()` of them from the file, the rest zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub vaddr: u64,
    pub mem_size: u64,
    /// `p_flags` (`PF_R`, `PF_W`, `PF_X`).
    pub flags: u32,
    /// Where `bytes` start in the file.
    pub file_offset: u64,
    pub bytes: &'a [u8],
}

/// The page-aligned `[start, end)` that one or more segments sharing pages
/// occupy, with the union of their `p_flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub flags: u32,
}

impl Region {
    fn of(s: &Segment) -> Region {
        Region {
            start: page_down(s.vaddr),
            end: page_up(s.vaddr + s.mem_size),
            flags: s.flags,
        }
    }

    /// Size in bytes (whole pages).
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the region is empty (never: segments have memory).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The protection of a ChorusOS region (`K_WRITABLE`, `K_EXECUTABLE`,
    /// `K_NOACCESS` if neither readable, writable nor executable).
    pub fn options(&self) -> u64 {
        let mut options = 0;
        if self.flags & PF_W != 0 {
            options |= K_WRITABLE;
        }
        if self.flags & PF_X != 0 {
            options |= K_EXECUTABLE;
        }
        if self.flags & (PF_R | PF_W | PF_X) == 0 {
            options |= K_NOACCESS;
        }
        options
    }

    /// The protection for MCLONE (`JINUE_PROT_*`).
    pub fn prot(&self) -> i32 {
        let mut prot = 0;
        if self.flags & PF_R != 0 {
            prot |= JINUE_PROT_READ;
        }
        if self.flags & PF_W != 0 {
            prot |= JINUE_PROT_WRITE;
        }
        if self.flags & PF_X != 0 {
            prot |= JINUE_PROT_EXEC;
        }
        prot
    }
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Rounds up (the callers checked that the result does not overflow).
fn page_up(x: u64) -> u64 {
    page_down(x + (PAGE_SIZE - 1))
}

/// Checks one `PT_LOAD` header against the file and the address space;
/// `prev_end` is where the previous segment's memory ends.
fn check_load(ph: &ProgramHeader, file_len: u64, prev_end: u64) -> Result<(), ElfError> {
    if ph.p_filesz > ph.p_memsz {
        return Err(ElfError::BadSegment);
    }
    let file_end = ph.p_offset.checked_add(ph.p_filesz);
    if file_end.is_none_or(|end| end > file_len) {
        return Err(ElfError::BadSegment);
    }
    let stack_bottom = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    let end = ph.p_vaddr.checked_add(ph.p_memsz);
    let page_end = end.and_then(|e| e.checked_add(PAGE_SIZE - 1));
    let start = page_down(ph.p_vaddr);
    match page_end.map(page_down) {
        Some(page_end) if is_user_range(start, page_end - start) && page_end <= stack_bottom => {}
        _ => return Err(ElfError::OutsideUserSpace),
    }
    if ph.p_vaddr < prev_end {
        return Err(ElfError::SegmentsOverlap);
    }
    Ok(())
}

impl<'a> Program<'a> {
    /// Reads and checks the program in `data`.
    ///
    /// # Errors
    ///
    /// See [`ElfError`]: anything that is not a static x86_64 executable whose
    /// segments lie, in order and apart, in user space below the stack region.
    pub fn parse(data: &'a [u8]) -> Result<Program<'a>, ElfError> {
        let header = Header::parse(data)?;
        let mut prev_end = 0;
        let mut any = false;
        for ph in header.loads(data)? {
            check_load(&ph, data.len() as u64, prev_end)?;
            prev_end = ph.p_vaddr + ph.p_memsz;
            any = true;
        }
        if !any {
            return Err(ElfError::NoSegments);
        }
        let mut program = Program {
            data,
            header,
            phdr_vaddr: 0,
        };
        let entry = header.entry;
        if !program.regions().any(|r| r.start <= entry && entry < r.end) {
            return Err(ElfError::OutsideUserSpace);
        }
        program.phdr_vaddr = program.find_phdr_vaddr();
        Ok(program)
    }

    /// Where the program headers are in the loaded image: `PT_PHDR`'s
    /// address if there is one, else where the segment whose file bytes hold
    /// the whole table loads it, else 0.
    fn find_phdr_vaddr(&self) -> u64 {
        let table = SegmentTable::new(LittleEndian, Class::ELF64, self.table());
        if let Some(ph) = table.iter().find(|ph| ph.p_type == PT_PHDR) {
            return ph.p_vaddr;
        }
        let (phoff, end) = (self.header.phoff, self.header.table_end().unwrap_or(0));
        self.segments()
            .find(|s| s.file_offset <= phoff && end <= s.file_offset + s.bytes.len() as u64)
            .map_or(0, |s| s.vaddr + (phoff - s.file_offset))
    }

    fn table(&self) -> &'a [u8] {
        let end = self.header.table_end().unwrap_or(0) as usize;
        &self.data[self.header.phoff as usize..end]
    }

    /// The checked ELF header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// `e_entry`.
    pub fn entry(&self) -> u64 {
        self.header.entry
    }

    /// Where the program headers are in the loaded image (`AT_PHDR`; 0 if
    /// no segment loads them).
    pub fn phdr_vaddr(&self) -> u64 {
        self.phdr_vaddr
    }

    /// The segments, in ascending address order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        let data = self.data;
        SegmentTable::new(LittleEndian, Class::ELF64, self.table())
            .into_iter()
            .filter(|ph| ph.p_type == PT_LOAD && ph.p_memsz > 0)
            .map(move |ph| Segment {
                vaddr: ph.p_vaddr,
                mem_size: ph.p_memsz,
                flags: ph.p_flags,
                file_offset: ph.p_offset,
                bytes: &data[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize],
            })
    }

    /// The regions to map, in ascending address order: segments that share
    /// a page are merged into one region with the union of their flags.
    pub fn regions(&self) -> impl Iterator<Item = Region> + '_ {
        let mut segments = self.segments().peekable();
        core::iter::from_fn(move || {
            let mut region = Region::of(&segments.next()?);
            while let Some(next) = segments.next_if(|s| page_down(s.vaddr) < region.end) {
                let next = Region::of(&next);
                region.end = region.end.max(next.end);
                region.flags |= next.flags;
            }
            Some(region)
        })
    }

    /// The auxiliary vector of ABI §8 for this program (without the
    /// closing `AT_NULL`), with `how_syscall` as `JINUE_AT_HOWSYSCALL`.
    pub fn auxv(&self, how_syscall: u64) -> [(u64, u64); 7] {
        [
            (AT_PHDR, self.phdr_vaddr),
            (AT_PHENT, u64::from(self.header.phentsize)),
            (AT_PHNUM, u64::from(self.header.phnum)),
            (AT_PAGESZ, PAGE_SIZE),
            (AT_ENTRY, self.header.entry),
            (JINUE_AT_STACKBASE, JINUE_STACK_BASE),
            (JINUE_AT_HOWSYSCALL, how_syscall),
        ]
    }
}
