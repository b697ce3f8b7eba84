//! Parsing the init program (ABI §8): a static x86_64 `ET_EXEC` ELF, checked before anything is mapped.

use abi::layout::{is_user_range, JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE};
use abi::region::{K_EXECUTABLE, K_NOACCESS, K_WRITABLE};
use alloc::vec::Vec;
use core::fmt;
use elf::abi::{EM_X86_64, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::ElfBytes;

/// Why the init program cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// Not a well-formed little-endian ELF file.
    Malformed,
    /// Not a 64-bit ELF.
    NotElf64,
    /// Not `ET_EXEC` (static executable).
    NotExecutable,
    /// Not for x86_64.
    WrongMachine,
    /// No `PT_LOAD` segment.
    NoSegments,
    /// A segment's file bytes lie outside the file, or `p_filesz > p_memsz`.
    BadSegment,
    /// A segment (or the entry point) is outside user space or overlaps the stack.
    OutsideUserSpace,
    /// The command line does not fit in the initial stack.
    CommandLineTooLong,
    /// Not enough memory (or kernel objects) to create the init process.
    NoMemory,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            InitError::Malformed => "not a well-formed little-endian ELF file",
            InitError::NotElf64 => "not a 64-bit ELF file",
            InitError::NotExecutable => "not a static executable (ET_EXEC)",
            InitError::WrongMachine => "not an x86_64 program",
            InitError::NoSegments => "no PT_LOAD segment",
            InitError::BadSegment => "a segment's sizes or file offsets are invalid",
            InitError::OutsideUserSpace => "a segment or the entry point is outside user space",
            InitError::CommandLineTooLong => "the command line does not fit in the stack",
            InitError::NoMemory => "out of memory",
        };
        f.write_str(s)
    }
}

/// One region to create: page-aligned `[start, end)` with its final protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionPlan {
    pub start: u64,
    pub end: u64,
    /// Protection options (`K_WRITABLE`, `K_EXECUTABLE`, `K_NOACCESS`).
    pub protection: u64,
}

/// Bytes of the file to copy to `vaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyPlan {
    pub vaddr: u64,
    pub file_offset: usize,
    pub len: usize,
}

/// Everything the loader needs, all checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub entry: u64,
    /// Address of the program headers in the loaded image (0 if not loaded).
    pub phdr_vaddr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// Regions in address order; segments sharing a page are merged.
    pub regions: Vec<RegionPlan>,
    pub copies: Vec<CopyPlan>,
}

/// `p_flags` → region protection (ABI §8).
fn protection(p_flags: u32) -> u64 {
    let mut p = 0;
    if p_flags & PF_W != 0 {
        p |= K_WRITABLE;
    }
    if p_flags & PF_X != 0 {
        p |= K_EXECUTABLE;
    }
    if p_flags & (PF_R | PF_W | PF_X) == 0 {
        p |= K_NOACCESS;
    }
    p
}

/// Union of two protections of segments that share a page: the page needs both.
fn merge_protection(a: u64, b: u64) -> u64 {
    let p = (a | b) & (K_WRITABLE | K_EXECUTABLE);
    if a & K_NOACCESS != 0 && b & K_NOACCESS != 0 {
        p | K_NOACCESS
    } else {
        p
    }
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Parses and checks the init program.
///
/// # Errors
/// See [`InitError`]: anything that is not a static x86_64 executable whose
/// segments lie in user space below the stack region.
pub fn parse(data: &[u8]) -> Result<Image, InitError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(data).map_err(|_| InitError::Malformed)?;
    let ehdr = file.ehdr;
    if ehdr.class != Class::ELF64 {
        return Err(InitError::NotElf64);
    }
    if ehdr.e_type != ET_EXEC {
        return Err(InitError::NotExecutable);
    }
    if ehdr.e_machine != EM_X86_64 {
        return Err(InitError::WrongMachine);
    }
    let segments = file.segments().ok_or(InitError::NoSegments)?;
    let stack_bottom = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    let mut loads = Vec::new();
    let mut phdr_vaddr = None;
    for ph in segments.iter() {
        if ph.p_type == PT_PHDR {
            phdr_vaddr = Some(ph.p_vaddr);
        }
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(InitError::BadSegment);
        }
        let file_end = ph
            .p_offset
            .checked_add(ph.p_filesz)
            .ok_or(InitError::BadSegment)?;
        if file_end > data.len() as u64 {
            return Err(InitError::BadSegment);
        }
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(InitError::OutsideUserSpace)?;
        let page_end = page_up(end).ok_or(InitError::OutsideUserSpace)?;
        let page_start = page_down(ph.p_vaddr);
        if !is_user_range(page_start, page_end - page_start) || page_end > stack_bottom {
            return Err(InitError::OutsideUserSpace);
        }
        loads.push(ph);
    }
    if loads.is_empty() {
        return Err(InitError::NoSegments);
    }
    loads.sort_by_key(|ph| ph.p_vaddr);

    let mut regions: Vec<RegionPlan> = Vec::new();
    let mut copies = Vec::new();
    for ph in &loads {
        let start = page_down(ph.p_vaddr);
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .and_then(page_up)
            .ok_or(InitError::OutsideUserSpace)?;
        let prot = protection(ph.p_flags);
        match regions.last_mut() {
            Some(last) if start < last.end => {
                last.end = last.end.max(end);
                last.protection = merge_protection(last.protection, prot);
            }
            _ => regions.push(RegionPlan {
                start,
                end,
                protection: prot,
            }),
        }
        if ph.p_filesz > 0 {
            copies.push(CopyPlan {
                vaddr: ph.p_vaddr,
                file_offset: usize::try_from(ph.p_offset).map_err(|_| InitError::BadSegment)?,
                len: usize::try_from(ph.p_filesz).map_err(|_| InitError::BadSegment)?,
            });
        }
    }

    let entry = ehdr.e_entry;
    if !regions.iter().any(|r| entry >= r.start && entry < r.end) {
        return Err(InitError::OutsideUserSpace);
    }

    // Where the program headers are in memory: PT_PHDR if present, else the
    // PT_LOAD segment whose file bytes contain them.
    let phdr_vaddr = phdr_vaddr.unwrap_or_else(|| {
        loads
            .iter()
            .find(|ph| {
                ehdr.e_phoff >= ph.p_offset
                    && ph
                        .p_offset
                        .checked_add(ph.p_filesz)
                        .is_some_and(|end| ehdr.e_phoff < end)
            })
            .and_then(|ph| ph.p_vaddr.checked_add(ehdr.e_phoff - ph.p_offset))
            .unwrap_or(0)
    });

    Ok(Image {
        entry,
        phdr_vaddr,
        phent: u64::from(ehdr.e_phentsize),
        phnum: u64::from(ehdr.e_phnum),
        regions,
        copies,
    })
}

/// The initial stack image (ABI §8), to be written at `[rsp, JINUE_STACK_BASE)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    pub rsp: u64,
    pub bytes: Vec<u8>,
}

/// Largest initial stack image the loader builds (the rest of the region
/// is left for the program).
pub const MAX_INITIAL_STACK_BYTES: u64 = 16 * 1024;

/// Lays out `argc`, `argv`, NULL, envp NULL, auxv, then the strings, with
/// `rsp` 16-byte aligned, for a stack whose exclusive top is `top`.
///
/// # Errors
/// `CommandLineTooLong` if the image would exceed [`MAX_INITIAL_STACK_BYTES`].
pub fn build_stack(
    top: u64,
    argv: &[&str],
    auxv: &[(u64, u64)],
) -> Result<InitialStack, InitError> {
    let strings_len: u64 = argv.iter().map(|a| a.len() as u64 + 1).sum();
    if strings_len > MAX_INITIAL_STACK_BYTES {
        return Err(InitError::CommandLineTooLong);
    }
    let too_long = InitError::CommandLineTooLong;
    let strings_start = top.checked_sub(strings_len).ok_or(too_long)? & !15;
    // argc, argv[..], NULL, envp NULL, auxv pairs, AT_NULL pair.
    let words = 1 + argv.len() as u64 + 1 + 1 + 2 * (auxv.len() as u64 + 1);
    let rsp = strings_start.checked_sub(words * 8).ok_or(too_long)? & !15;
    let size = top - rsp;
    if size > MAX_INITIAL_STACK_BYTES {
        return Err(InitError::CommandLineTooLong);
    }
    let mut bytes = alloc::vec![0u8; size as usize];
    let mut at = 0usize;
    let mut push = |bytes: &mut Vec<u8>, v: u64| {
        bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        at += 8;
    };
    push(&mut bytes, argv.len() as u64);
    let mut string_addr = strings_start;
    for a in argv {
        push(&mut bytes, string_addr);
        string_addr += a.len() as u64 + 1;
    }
    push(&mut bytes, 0);
    push(&mut bytes, 0);
    for &(t, v) in auxv {
        push(&mut bytes, t);
        push(&mut bytes, v);
    }
    push(&mut bytes, abi::init::AT_NULL);
    push(&mut bytes, 0);
    let mut off = (strings_start - rsp) as usize;
    for a in argv {
        bytes[off..off + a.len()].copy_from_slice(a.as_bytes());
        off += a.len() + 1;
    }
    Ok(InitialStack { rsp, bytes })
}

/// Splits the module command line at spaces (empty words dropped).
pub fn split_args(cmdline: &str) -> Vec<&str> {
    cmdline.split(' ').filter(|w| !w.is_empty()).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a minimal static x86_64 ELF with the given PT_LOAD segments
    /// `(vaddr, p_flags, file bytes, memsz)`, headers at file offset 0.
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
            let p = (phoff + 56 * i as u64) as usize;
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

    #[test]
    fn parses_segments_and_merges_shared_pages() {
        let elf = make_elf(
            0x40_0000,
            ET_EXEC,
            &[
                (0x40_0000, PF_R | PF_X, &[0x90, 0xc3], 2),
                (0x40_0ff0, PF_R | PF_W, &[1, 2, 3], 0x20),
                (0x50_0000, PF_R, &[9], 0x2000),
            ],
        );
        let img = parse(&elf).unwrap();
        assert_eq!(img.entry, 0x40_0000);
        assert_eq!(img.phnum, 3);
        assert_eq!(img.phent, 56);
        assert_eq!(
            img.regions,
            alloc::vec![
                RegionPlan {
                    start: 0x40_0000,
                    end: 0x40_2000,
                    protection: K_WRITABLE | K_EXECUTABLE
                },
                RegionPlan {
                    start: 0x50_0000,
                    end: 0x50_2000,
                    protection: 0
                },
            ]
        );
        assert_eq!(img.copies.len(), 3);
        assert_eq!(img.copies[1].vaddr, 0x40_0ff0);
        assert_eq!(&elf[img.copies[1].file_offset..][..3], &[1, 2, 3]);
        // Headers are at file offset 0, inside no segment (segments' file
        // bytes start after them).
        assert_eq!(img.phdr_vaddr, 0);
    }

    #[test]
    fn rejects_what_it_cannot_load() {
        let text: &[u8] = &[0xc3];
        assert_eq!(
            parse(&make_elf(
                0x40_0000,
                elf::abi::ET_DYN,
                &[(0x40_0000, PF_X, text, 1)]
            )),
            Err(InitError::NotExecutable)
        );
        assert_eq!(
            parse(&make_elf(0x0, ET_EXEC, &[(0x0, PF_X, text, 1)])),
            Err(InitError::OutsideUserSpace)
        );
        assert_eq!(
            parse(&make_elf(
                0x7fff_ffff_f000,
                ET_EXEC,
                &[(0x7fff_ffff_f000, PF_X, text, 0x2000)]
            )),
            Err(InitError::OutsideUserSpace)
        );
        assert_eq!(
            parse(&make_elf(0x50_0000, ET_EXEC, &[(0x40_0000, PF_X, text, 1)])),
            Err(InitError::OutsideUserSpace),
            "entry outside every segment"
        );
        assert_eq!(
            parse(&make_elf(
                0x40_0000,
                ET_EXEC,
                &[(0x40_0000, PF_X, &[1, 2], 1)]
            )),
            Err(InitError::BadSegment)
        );
        assert_eq!(parse(b"not an elf"), Err(InitError::Malformed));
        let mut wrong = make_elf(0x40_0000, ET_EXEC, &[(0x40_0000, PF_X, text, 1)]);
        wrong[18] = 3; // EM_386
        assert_eq!(parse(&wrong), Err(InitError::WrongMachine));
    }

    #[test]
    fn stack_layout() {
        let top = JINUE_STACK_BASE;
        let argv = split_args("init  -v x");
        assert_eq!(argv, ["init", "-v", "x"]);
        let st = build_stack(top, &argv, &[(5, 4096), (8, 1)]).unwrap();
        assert_eq!(st.rsp % 16, 0);
        assert_eq!(st.rsp + st.bytes.len() as u64, top);
        let word = |i: usize| u64::from_le_bytes(st.bytes[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(word(0), 3);
        let cstr = |addr: u64| {
            let off = (addr - st.rsp) as usize;
            let end = st.bytes[off..].iter().position(|b| *b == 0).unwrap();
            core::str::from_utf8(&st.bytes[off..off + end]).unwrap()
        };
        assert_eq!(cstr(word(1)), "init");
        assert_eq!(cstr(word(2)), "-v");
        assert_eq!(cstr(word(3)), "x");
        assert_eq!(word(4), 0, "argv NULL");
        assert_eq!(word(5), 0, "envp NULL");
        assert_eq!((word(6), word(7)), (5, 4096));
        assert_eq!((word(8), word(9)), (8, 1));
        assert_eq!((word(10), word(11)), (0, 0));
        assert!(build_stack(top, &["a"; 20_000], &[]).is_err());
    }
}
