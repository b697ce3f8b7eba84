//! The ELF reader: good images, and every way an image is refused.

use crate::sample::{make_elf, phdr_offset, put_u64};
use crate::{ElfError, Program, Region, PHDR_SIZE};
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, USER_LIMIT};
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_EXECUTABLE, K_NOACCESS, K_WRITABLE};
use elf::abi::{ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_PHDR};
use std::vec::Vec;

const TEXT: &[u8] = &[0xc3];

fn one_segment() -> Vec<u8> {
    make_elf(0x40_0000, ET_EXEC, &[(0x40_0000, PF_R | PF_X, TEXT, 1)])
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
    let program = Program::parse(&elf).unwrap();
    assert_eq!(program.entry(), 0x40_0000);
    assert_eq!(program.header().phnum, 3);
    assert_eq!(program.header().phentsize, 56);
    let regions: Vec<Region> = program.regions().collect();
    assert_eq!(
        regions,
        [
            Region {
                start: 0x40_0000,
                end: 0x40_2000,
                flags: PF_R | PF_W | PF_X
            },
            Region {
                start: 0x50_0000,
                end: 0x50_2000,
                flags: PF_R
            },
        ]
    );
    assert_eq!(regions[0].options(), K_WRITABLE | K_EXECUTABLE);
    assert_eq!(regions[1].options(), 0);
    let segments: Vec<_> = program.segments().collect();
    assert_eq!(segments.len(), 3);
    assert_eq!(segments[1].vaddr, 0x40_0ff0);
    assert_eq!(segments[1].mem_size, 0x20);
    assert_eq!(segments[1].bytes, [1, 2, 3]);
    assert_eq!(&elf[segments[1].file_offset as usize..][..3], &[1, 2, 3]);
    // Headers are at file offset 0, inside no segment (segments' file bytes
    // start after them).
    assert_eq!(program.phdr_vaddr(), 0);
}

#[test]
fn finds_the_program_headers_in_memory() {
    // The first segment loads the file from offset 0: headers included.
    let mut elf = make_elf(
        0x40_0010,
        ET_EXEC,
        &[
            (0x40_0000, PF_R | PF_X, &[0; 0x300], 0x310),
            (0x40_1000, PF_R | PF_W, &[0; 0x80], 0x90),
        ],
    );
    put_u64(&mut elf, phdr_offset(0) + 8, 0);
    put_u64(&mut elf, phdr_offset(0) + 32, 0x300);
    let program = Program::parse(&elf).unwrap();
    assert_eq!(program.entry(), 0x40_0010);
    assert_eq!(program.phdr_vaddr(), 0x40_0040);
    let regions: Vec<Region> = program.regions().collect();
    assert_eq!((regions[1].start, regions[1].end), (0x40_1000, 0x40_2000));
    assert_eq!(program.segments().next().unwrap().bytes.len(), 0x300);
    // PT_PHDR, when there is one, says where they are.
    put_u64(
        &mut elf,
        phdr_offset(1),
        u64::from(PT_PHDR) | u64::from(PF_R) << 32,
    );
    put_u64(&mut elf, phdr_offset(1) + 16, 0x40_0040);
    let program = Program::parse(&elf).unwrap();
    assert_eq!(program.phdr_vaddr(), 0x40_0040);
    assert_eq!(program.segments().count(), 1, "PT_PHDR is not a segment");
}

#[test]
fn auxv_describes_the_program() {
    let program_file = make_elf(
        0x40_0000,
        ET_EXEC,
        &[
            (0x40_0000, PF_R | PF_X, TEXT, 1),
            (0x40_1000, PF_R, TEXT, 1),
        ],
    );
    let program = Program::parse(&program_file).unwrap();
    let auxv = program.auxv(1);
    use abi::init::*;
    assert_eq!(
        auxv,
        [
            (AT_PHDR, 0),
            (AT_PHENT, PHDR_SIZE as u64),
            (AT_PHNUM, 2),
            (AT_PAGESZ, 4096),
            (AT_ENTRY, 0x40_0000),
            (JINUE_AT_STACKBASE, JINUE_STACK_BASE),
            (JINUE_AT_HOWSYSCALL, 1),
        ]
    );
}

#[test]
fn protections_of_regions() {
    let region = |flags| Region {
        start: 0x40_0000,
        end: 0x40_1000,
        flags,
    };
    assert_eq!(region(PF_R).options(), 0);
    assert_eq!(region(PF_R).prot(), JINUE_PROT_READ);
    assert_eq!(region(PF_R | PF_W).options(), K_WRITABLE);
    assert_eq!(
        region(PF_R | PF_W).prot(),
        JINUE_PROT_READ | JINUE_PROT_WRITE
    );
    assert_eq!(region(PF_X).options(), K_EXECUTABLE);
    assert_eq!(region(PF_X).prot(), JINUE_PROT_EXEC);
    assert_eq!(region(0).options(), K_NOACCESS);
    assert_eq!(region(0).prot(), 0);
    assert_eq!(region(0).len(), 0x1000);
    assert!(!region(0).is_empty());
}

#[test]
fn segments_without_memory_are_ignored() {
    let elf = make_elf(
        0x40_0000,
        ET_EXEC,
        &[(0x40_0000, PF_R | PF_X, TEXT, 1), (0x30_0000, PF_R, &[], 0)],
    );
    let program = Program::parse(&elf).unwrap();
    assert_eq!(program.segments().count(), 1);
    let none = make_elf(0x40_0000, ET_EXEC, &[(0x40_0000, PF_R, &[], 0)]);
    assert_eq!(Program::parse(&none).err(), Some(ElfError::NoSegments));
}

fn refused(elf: &[u8]) -> ElfError {
    match Program::parse(elf) {
        Err(e) => e,
        Ok(p) => panic!("accepted: {p:?}"),
    }
}

#[test]
fn rejects_what_it_cannot_load() {
    assert_eq!(
        refused(&make_elf(0x40_0000, ET_DYN, &[(0x40_0000, PF_X, TEXT, 1)])),
        ElfError::NotExecutable
    );
    assert_eq!(
        refused(&make_elf(0x0, ET_EXEC, &[(0x0, PF_X, TEXT, 1)])),
        ElfError::OutsideUserSpace
    );
    assert_eq!(
        refused(&make_elf(
            0x7fff_ffff_f000,
            ET_EXEC,
            &[(0x7fff_ffff_f000, PF_X, TEXT, 0x2000)]
        )),
        ElfError::OutsideUserSpace
    );
    assert_eq!(
        refused(&make_elf(0x50_0000, ET_EXEC, &[(0x40_0000, PF_X, TEXT, 1)])),
        ElfError::OutsideUserSpace,
        "entry outside every segment"
    );
    assert_eq!(
        refused(&make_elf(
            0x40_0000,
            ET_EXEC,
            &[(0x40_0000, PF_X, &[1, 2], 1)]
        )),
        ElfError::BadSegment,
        "p_filesz > p_memsz"
    );
    assert_eq!(refused(b"not an elf"), ElfError::Malformed);
    let mut wrong = one_segment();
    wrong[18] = 3; // EM_386
    assert_eq!(refused(&wrong), ElfError::WrongMachine);
}

#[test]
fn rejects_bad_headers() {
    let good = one_segment();
    assert!(Program::parse(&good).is_ok());
    assert_eq!(
        refused(&good[..63]),
        ElfError::Malformed,
        "truncated header"
    );
    assert_eq!(
        refused(&good[..phdr_offset(1) - 1]),
        ElfError::Malformed,
        "truncated program-header table"
    );
    let spoil = |at: usize, value: u8| {
        let mut b = good.clone();
        b[at] = value;
        refused(&b)
    };
    assert_eq!(spoil(0, 0), ElfError::Malformed, "no ELF magic");
    assert_eq!(spoil(4, 1), ElfError::NotElf64, "ELFCLASS32");
    assert_eq!(spoil(4, 3), ElfError::Malformed, "no such class");
    assert_eq!(spoil(5, 2), ElfError::Malformed, "big-endian");
    assert_eq!(spoil(6, 0), ElfError::Malformed, "EI_VERSION");
    assert_eq!(spoil(16, 1), ElfError::NotExecutable, "ET_REL");
    assert_eq!(spoil(54, 32), ElfError::Malformed, "e_phentsize");
    assert_eq!(
        spoil(56, 200),
        ElfError::Malformed,
        "table outside the file"
    );
    let mut b = good.clone();
    put_u64(&mut b, 32, u64::MAX - 8);
    assert_eq!(refused(&b), ElfError::Malformed, "e_phoff wraps");
}

#[test]
fn rejects_bad_segments() {
    let good = one_segment();
    let spoil = |field: usize, value: u64| {
        let mut b = good.clone();
        put_u64(&mut b, phdr_offset(0) + field, value);
        refused(&b)
    };
    assert_eq!(spoil(32, u64::MAX), ElfError::BadSegment, "p_filesz");
    assert_eq!(spoil(8, u64::MAX), ElfError::BadSegment, "p_offset wraps");
    assert_eq!(
        spoil(8, good.len() as u64),
        ElfError::BadSegment,
        "p_offset"
    );
    assert_eq!(spoil(16, 0), ElfError::OutsideUserSpace, "page 0");
    assert_eq!(
        spoil(16, USER_LIMIT - 8),
        ElfError::OutsideUserSpace,
        "end beyond user space"
    );
    assert_eq!(
        spoil(40, u64::MAX),
        ElfError::OutsideUserSpace,
        "p_memsz wraps"
    );
    let stack_bottom = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    let into_stack = make_elf(
        0x40_0000,
        ET_EXEC,
        &[
            (0x40_0000, PF_X, TEXT, 1),
            (stack_bottom - 0x10, PF_R | PF_W, &[], 0x20),
        ],
    );
    assert_eq!(refused(&into_stack), ElfError::OutsideUserSpace);
}

#[test]
fn rejects_overlapping_or_unordered_segments() {
    let overlap = make_elf(
        0x40_1000,
        ET_EXEC,
        &[
            (0x40_1000, PF_R, TEXT, 0x900),
            (0x40_1800, PF_R, TEXT, 0x10),
        ],
    );
    assert_eq!(refused(&overlap), ElfError::SegmentsOverlap);
    let unordered = make_elf(
        0x40_0000,
        ET_EXEC,
        &[(0x40_2000, PF_R, TEXT, 1), (0x40_0000, PF_X, TEXT, 1)],
    );
    assert_eq!(refused(&unordered), ElfError::SegmentsOverlap);
    // Sharing a page without overlapping is fine: one region.
    let adjacent = make_elf(
        0x40_1000,
        ET_EXEC,
        &[
            (0x40_1000, PF_R, TEXT, 0x800),
            (0x40_1800, PF_R | PF_W, TEXT, 0x10),
        ],
    );
    let program = Program::parse(&adjacent).unwrap();
    assert_eq!(program.regions().count(), 1);
}
