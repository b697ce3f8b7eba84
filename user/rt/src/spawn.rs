//! `spawn`: a new process from an ELF image, loaded with MCLONE (the way Jinue's user-space loader used it).
//!
//! Every `PT_LOAD` segment is assembled in a staging region of the loader's own
//! process and then MCLONEd into the new process at its address with its
//! protection; the staging region is freed, the new process keeps the memory.
//! The initial stack (ABI §8) is built the same way.

use crate::api::{self, rgn, Actor};
use crate::desc;
use crate::elf::{Elf, Phdr, PF_R, PF_W, PF_X, PHDR_SIZE};
use crate::error::Error;
use crate::fork::{discard, Child};
use crate::sys::{self, Mechanism};
use crate::thread::SELF;
use abi::init::*;
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE};
use abi::perms::{JINUE_PROT_EXEC, JINUE_PROT_READ, JINUE_PROT_WRITE, PROCESS_PERMS, THREAD_PERMS};
use abi::region::{K_ANYWHERE, K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;

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

fn prot_of(ph: &Phdr) -> i32 {
    let mut prot = 0;
    if ph.p_flags & PF_R != 0 {
        prot |= JINUE_PROT_READ;
    }
    if ph.p_flags & PF_W != 0 {
        prot |= JINUE_PROT_WRITE;
    }
    if ph.p_flags & PF_X != 0 {
        prot |= JINUE_PROT_EXEC;
    }
    prot
}

/// Starts a new process running the ELF `image` with `argv`. The new process
/// gets descriptor 0 (itself) and 1 (its thread), like the init process.
///
/// # Errors
///
/// [`Error::BadElf`], [`Error::TooBig`], or the first failing call's error;
/// the half-built process is destroyed.
pub fn spawn(image: &[u8], argv: &[&[u8]]) -> Result<Child, Error> {
    let elf = Elf::parse(image)?;
    let p = desc::alloc().ok_or(Error::NoDescriptor)?;
    if let Err(e) = api::create_process(p) {
        desc::free(p);
        return Err(e.into());
    }
    let Some(t) = desc::alloc() else {
        discard(p, None);
        return Err(Error::NoDescriptor);
    };
    match load(&elf, argv, p, t) {
        Ok(()) => Ok(Child {
            process: p,
            thread: t,
        }),
        Err(e) => {
            discard(p, Some(t));
            Err(e)
        }
    }
}

fn load(elf: &Elf, argv: &[&[u8]], p: u64, t: u64) -> Result<(), Error> {
    for ph in elf.loads() {
        let len = ph.page_end() - ph.page_start();
        let mut staging = Staging::new(len)?;
        let at = (ph.p_vaddr - ph.page_start()) as usize;
        let data = elf.file_bytes(&ph);
        staging.bytes_mut()[at..at + data.len()].copy_from_slice(data);
        api::mclone_range(SELF, p, staging.addr(), ph.page_start(), len, prot_of(&ph))?;
    }
    let mut stack = Staging::new(JINUE_STACK_SIZE)?;
    let how = match sys::mechanism() {
        Mechanism::Syscall => HOWSYSCALL_SYSCALL,
        Mechanism::Interrupt => HOWSYSCALL_INTERRUPT,
    };
    let sp = build_stack(stack.bytes_mut(), elf, argv, how)?;
    let stack_bottom = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    api::mclone_range(
        SELF,
        p,
        stack.addr(),
        stack_bottom,
        JINUE_STACK_SIZE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    )?;
    drop(stack);
    api::mint_into(p, p, SELF, PROCESS_PERMS, 0)?;
    api::create_thread(t, p)?;
    api::mint_into(t, p, INIT_THREAD_DESCRIPTOR, THREAD_PERMS, 0)?;
    api::start_thread(t, elf.entry, sp)?;
    Ok(())
}

/// Writes argc, argv, an empty envp and the auxv (ABI §8) into `mem` (the
/// `JINUE_STACK_SIZE` bytes of the staging stack), which
/// the new process will see at `[JINUE_STACK_BASE - JINUE_STACK_SIZE,
/// JINUE_STACK_BASE)`; returns the initial stack pointer there.
fn build_stack(mem: &mut [u8], elf: &Elf, argv: &[&[u8]], how: u64) -> Result<u64, Error> {
    let auxv = [
        (AT_PHDR, elf.phdr_vaddr().unwrap_or(0)),
        (AT_PHENT, PHDR_SIZE as u64),
        (AT_PHNUM, u64::from(elf.phnum)),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, elf.entry),
        (JINUE_AT_STACKBASE, JINUE_STACK_BASE),
        (JINUE_AT_HOWSYSCALL, how),
        (AT_NULL, 0),
    ];
    let size = mem.len();
    let strings: usize = argv.iter().map(|a| a.len() + 1).sum();
    let words = 1 + argv.len() + 1 + 1 + 2 * auxv.len();
    if strings + words * 8 + 32 > size {
        return Err(Error::TooBig);
    }
    let base = JINUE_STACK_BASE - JINUE_STACK_SIZE;
    let str_lo = (size - strings) & !7;
    let sp_off = (str_lo - words * 8) & !15;
    let mut word_at = sp_off;
    let mut put = |mem: &mut [u8], v: u64| {
        mem[word_at..word_at + 8].copy_from_slice(&v.to_le_bytes());
        word_at += 8;
    };
    put(mem, argv.len() as u64);
    let mut s = str_lo;
    for a in argv {
        put(mem, base + s as u64);
        mem[s..s + a.len()].copy_from_slice(a);
        mem[s + a.len()] = 0;
        s += a.len() + 1;
    }
    put(mem, 0);
    put(mem, 0);
    for (ty, v) in auxv {
        put(mem, ty);
        put(mem, v);
    }
    Ok(base + sp_off as u64)
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
    use crate::elf::{u16_at, u64_at, PT_LOAD};
    extern "C" {
        /// Defined by the linker at the loaded ELF header (see `user.ld`).
        static __ehdr_start: [u8; 64];
    }
    // `user.ld` loads the ELF header in the text segment, readable for the
    // life of the program; only the address is taken here.
    let ehdr = core::ptr::addr_of!(__ehdr_start) as u64;
    // SAFETY: the header is 64 readable bytes.
    let header = unsafe { core::slice::from_raw_parts(ehdr as *const u8, 64) };
    let phoff = u64_at(header, 32);
    let phnum = usize::from(u16_at(header, 56));
    let table_len = phoff as usize + phnum * PHDR_SIZE;
    // SAFETY: the program headers follow the ELF header in the same loaded
    // segment (`FILEHDR PHDRS` in `user.ld`).
    let table = unsafe { core::slice::from_raw_parts(ehdr as *const u8, table_len) };
    let phdr = |i: usize| {
        let o = phoff as usize + i * PHDR_SIZE;
        (
            crate::elf::u32_at(table, o),
            u64_at(table, o + 8),
            u64_at(table, o + 16),
            u64_at(table, o + 32),
        )
    };
    let file_len = (0..phnum)
        .map(phdr)
        .filter(|&(ty, ..)| ty == PT_LOAD)
        .map(|(_, off, _, filesz)| off + filesz)
        .max()
        .ok_or(Error::BadElf("no loadable segment"))? as usize;
    let mut out = Staging::new(file_len as u64)?;
    for (ty, off, vaddr, filesz) in (0..phnum).map(phdr) {
        if ty != PT_LOAD {
            continue;
        }
        // SAFETY: a loaded segment's file part is mapped readable at p_vaddr.
        let src = unsafe { core::slice::from_raw_parts(vaddr as *const u8, filesz as usize) };
        out.bytes_mut()[off as usize..(off + filesz) as usize].copy_from_slice(src);
    }
    Ok((out, file_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::sample;

    fn word(mem: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(mem[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn initial_stack_layout() {
        let image = sample(&[(0x40_0000, 0x200, 5), (0x40_1000, 0x100, 6)]);
        let elf = Elf::parse(&image).unwrap();
        let mut mem = std::vec![0u8; JINUE_STACK_SIZE as usize];
        let sp = build_stack(&mut mem, &elf, &[b"prog", b"arg one"], HOWSYSCALL_SYSCALL).unwrap();
        let base = JINUE_STACK_BASE - JINUE_STACK_SIZE;
        assert_eq!(sp % 16, 0);
        assert!(sp >= base && sp < JINUE_STACK_BASE);
        let off = (sp - base) as usize;
        assert_eq!(word(&mem, off), 2, "argc");
        for (i, want) in [&b"prog"[..], b"arg one"].iter().enumerate() {
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
        let image = sample(&[(0x40_0000, 0x200, 5)]);
        let elf = Elf::parse(&image).unwrap();
        let mut mem = std::vec![0u8; 4096];
        let long = [b'x'; 5000];
        assert_eq!(
            build_stack(&mut mem, &elf, &[&long], HOWSYSCALL_SYSCALL),
            Err(Error::TooBig)
        );
    }
}
