//! `spawn`: a new process from an ELF image, loaded with MCLONE (the way Jinue's user-space loader used it).
//!
//! The image is read by [`loader::Program`] (the reader the kernel's init
//! loader uses). Every region of its segments is assembled in a staging
//! region of the loader's own process and then MCLONEd into the new process
//! at its address with its protection; the staging region is freed, the new
//! process keeps the memory. The initial stack (ABI §8, laid out by
//! [`loader::build_stack`]) is built the same way.

use crate::api::{self, rgn, Actor};
use crate::child::{new_child, Child};
use crate::error::Error;
use crate::sys::{self, Mechanism};
use crate::thread::SELF;
use abi::init::*;
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE};
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_ANYWHERE, K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;
use loader::{build_stack, Program};

/// A writable region of the own process, freed on drop.
#[derive(Debug)]
pub struct Staging {
    desc: KnRgnDesc,
}

impl Staging {
    /// Allocates `bytes` (rounded up to pages) anywhere, writable, `K_INHERITCOPY`.
    ///
    /// # Errors
    ///
    /// RGN_ALLOCATE's error.
    pub fn new(bytes: u64) -> Result<Self, Error> {
        let mut desc = rgn(0, bytes, K_ANYWHERE | K_WRITABLE | K_INHERITCOPY);
        api::rgn_allocate(Actor::Me, &mut desc)?;
        desc.size = desc.size.next_multiple_of(PAGE_SIZE);
        Ok(Staging { desc })
    }

    /// Start address.
    pub fn addr(&self) -> u64 {
        self.desc.startAddr
    }

    /// Size in bytes (whole pages).
    pub fn len(&self) -> u64 {
        self.desc.size
    }

    /// Whether the region is empty (never: regions have at least one page).
    pub fn is_empty(&self) -> bool {
        self.desc.size == 0
    }

    /// The region's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the region is mapped readable and writable for as long as
        // `self` lives, and only this object hands out views of it.
        unsafe { core::slice::from_raw_parts(self.addr() as *const u8, self.len() as usize) }
    }

    /// The region's bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the view exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.addr() as *mut u8, self.len() as usize) }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = api::rgn_free(Actor::Me, &rgn(self.desc.startAddr, self.desc.size, 0));
    }
}

/// Starts a new process running the ELF `image` with `argv`. The new process
/// gets descriptor 0 (itself) and 1 (its thread), like the init process.
///
/// # Errors
///
/// [`Error::BadElf`], [`Error::TooBig`], or the first failing call's error;
/// the half-built process is destroyed.
pub fn spawn(image: &[u8], argv: &[&[u8]]) -> Result<Child, Error> {
    let program = Program::parse(image)?;
    new_child(|p| load(&program, argv, p))
}

/// Maps `program`'s regions and its initial stack with `argv` into process
/// `p`; returns where its thread starts (`rip`, `rsp`).
fn load(program: &Program, argv: &[&[u8]], p: u64) -> Result<(u64, u64), Error> {
    for region in program.regions() {
        let mut staging = Staging::new(region.len())?;
        let inside = |s: &loader::Segment| (region.start..region.end).contains(&s.vaddr);
        for segment in program.segments().filter(inside) {
            let at = (segment.vaddr - region.start) as usize;
            staging.bytes_mut()[at..at + segment.bytes.len()].copy_from_slice(segment.bytes);
        }
        let prot = region.prot();
        api::mclone_range(SELF, p, staging.addr(), region.start, region.len(), prot)?;
    }
    let mut stack = Staging::new(JINUE_STACK_SIZE)?;
    let how = match sys::mechanism() {
        Mechanism::Syscall => HOWSYSCALL_SYSCALL,
        Mechanism::Interrupt => HOWSYSCALL_INTERRUPT,
    };
    let stack_bytes = &mut stack.bytes_mut()[..JINUE_STACK_SIZE as usize];
    let sp = initial_stack(stack_bytes, program, argv, how)?;
    let stack_bottom = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    api::mclone_range(
        SELF,
        p,
        stack.addr(),
        stack_bottom,
        JINUE_STACK_SIZE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    )?;
    Ok((program.entry(), sp))
}

/// Writes the initial stack of ABI §8 for `program` into `mem`, which the
/// new process will see at `[JINUE_STACK_BASE - mem.len(), JINUE_STACK_BASE)`;
/// returns the initial stack pointer there.
fn initial_stack(
    mem: &mut [u8],
    program: &Program,
    argv: &[&[u8]],
    how: u64,
) -> Result<u64, Error> {
    build_stack(mem, JINUE_STACK_BASE, argv, &program.auxv(how)).map_err(|_| Error::TooBig)
}

/// A copy of the running program's own ELF file, rebuilt from its loaded
/// segments (the ELF and program headers are in the first one): what
/// `spawn` needs to start another instance of the same program. Writable
/// segments are copied as they are now (their `.bss` part comes back zeroed).
///
/// # Errors
///
/// RGN_ALLOCATE's error, or [`Error::BadElf`] if the headers are not loaded.
#[cfg(feature = "image")]
pub fn self_image() -> Result<(Staging, usize), Error> {
    extern "C" {
        /// Defined by the linker at the loaded ELF header (see `user.ld`).
        static __ehdr_start: [u8; 64];
    }
    // `user.ld` loads the ELF header in the text segment, readable for the
    // life of the program; only the address is taken here.
    let ehdr = core::ptr::addr_of!(__ehdr_start) as u64;
    // SAFETY: the header is 64 readable bytes.
    let header = unsafe { core::slice::from_raw_parts(ehdr as *const u8, 64) };
    let header = loader::Header::parse(header)?;
    let table_len = header
        .table_end()
        .ok_or(Error::BadElf(loader::ElfError::Malformed))?;
    // SAFETY: the program headers follow the ELF header in the same loaded
    // segment (`FILEHDR PHDRS` in `user.ld`).
    let table = unsafe { core::slice::from_raw_parts(ehdr as *const u8, table_len as usize) };
    let file_len = header
        .loads(table)?
        .map(|ph| ph.p_offset + ph.p_filesz)
        .max()
        .ok_or(Error::BadElf(loader::ElfError::NoSegments))? as usize;
    let mut out = Staging::new(file_len as u64)?;
    for ph in header.loads(table)? {
        // SAFETY: a loaded segment's file part is mapped readable at p_vaddr.
        let src =
            unsafe { core::slice::from_raw_parts(ph.p_vaddr as *const u8, ph.p_filesz as usize) };
        let at = ph.p_offset as usize;
        out.bytes_mut()[at..at + src.len()].copy_from_slice(src);
    }
    Ok((out, file_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader::sample::{make_elf, phdr_offset, put_u64};
    use loader::{ET_EXEC, PF_R, PF_W, PF_X, PHDR_SIZE};

    fn word(mem: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(mem[off..off + 8].try_into().unwrap())
    }

    /// Text at 0x400000 loading the file from offset 0 (headers included),
    /// data at 0x401000; entry 0x400010.
    fn sample() -> std::vec::Vec<u8> {
        let mut image = make_elf(
            0x40_0010,
            ET_EXEC,
            &[
                (0x40_0000, PF_R | PF_X, &[0; 0x200], 0x210),
                (0x40_1000, PF_R | PF_W, &[0; 0x100], 0x110),
            ],
        );
        put_u64(&mut image, phdr_offset(0) + 8, 0);
        image
    }

    #[test]
    fn initial_stack_layout() {
        let image = sample();
        let program = Program::parse(&image).unwrap();
        let mut mem = std::vec![0u8; JINUE_STACK_SIZE as usize];
        let argv: [&[u8]; 2] = [b"prog", b"arg one"];
        let sp = initial_stack(&mut mem, &program, &argv, HOWSYSCALL_SYSCALL).unwrap();
        let base = JINUE_STACK_BASE - JINUE_STACK_SIZE;
        assert_eq!(sp % 16, 0);
        assert!(sp >= base && sp < JINUE_STACK_BASE);
        let off = (sp - base) as usize;
        assert_eq!(word(&mem, off), 2, "argc");
        for (i, want) in argv.iter().enumerate() {
            let p = (word(&mem, off + 8 * (1 + i)) - base) as usize;
            assert_eq!(&mem[p..p + want.len()], *want);
            assert_eq!(mem[p + want.len()], 0, "NUL");
        }
        assert_eq!(word(&mem, off + 24), 0, "argv[argc]");
        assert_eq!(word(&mem, off + 32), 0, "empty envp");
        let mut aux = std::collections::BTreeMap::new();
        let mut at = off + 40;
        loop {
            let (t, v) = (word(&mem, at), word(&mem, at + 8));
            at += 16;
            if t == AT_NULL {
                break;
            }
            aux.insert(t, v);
        }
        assert_eq!(aux[&AT_PAGESZ], PAGE_SIZE);
        assert_eq!(aux[&AT_ENTRY], 0x40_0010);
        assert_eq!(aux[&AT_PHDR], 0x40_0040);
        assert_eq!(aux[&AT_PHENT], PHDR_SIZE as u64);
        assert_eq!(aux[&AT_PHNUM], 2);
        assert_eq!(aux[&JINUE_AT_STACKBASE], JINUE_STACK_BASE);
        assert_eq!(aux[&JINUE_AT_HOWSYSCALL], HOWSYSCALL_SYSCALL);
    }

    #[test]
    fn arguments_too_big() {
        let image = sample();
        let program = Program::parse(&image).unwrap();
        let mut mem = std::vec![0u8; 4096];
        let long = [b'x'; 5000];
        assert_eq!(
            initial_stack(&mut mem, &program, &[&long], HOWSYSCALL_SYSCALL),
            Err(Error::TooBig)
        );
    }
}
