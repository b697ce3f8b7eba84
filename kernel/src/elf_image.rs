//! The init program's image (ABI §8): its checked ELF file ([`loader::Program`]), its
//! arguments and its initial stack.

use abi::layout::JINUE_STACK_BASE;
use alloc::vec::Vec;
use core::fmt;
use loader::{build_stack, ElfError, Program};

/// Why the init program cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The module is not a loadable static x86_64 executable.
    Elf(ElfError),
    /// The command line does not fit in the initial stack.
    CommandLineTooLong,
    /// Not enough memory (or kernel objects) to create the init process.
    NoMemory,
}

impl From<ElfError> for InitError {
    fn from(e: ElfError) -> Self {
        InitError::Elf(e)
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Elf(e) => e.fmt(f),
            InitError::CommandLineTooLong => {
                f.write_str("the command line does not fit in the stack")
            }
            InitError::NoMemory => f.write_str("out of memory"),
        }
    }
}

/// The initial stack image (ABI §8), to be written at `[rsp, JINUE_STACK_BASE)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    pub rsp: u64,
    pub bytes: Vec<u8>,
}

/// Largest initial stack image the loader builds (the rest of the region
/// is left for the program).
pub const MAX_INITIAL_STACK_BYTES: usize = 16 * 1024;

/// The initial stack of `program` with `argv` and `how_syscall` as
/// `JINUE_AT_HOWSYSCALL`, laid out by [`loader::build_stack`].
///
/// # Errors
/// `CommandLineTooLong` if it would exceed [`MAX_INITIAL_STACK_BYTES`].
pub fn initial_stack(
    program: &Program,
    argv: &[&str],
    how_syscall: u64,
) -> Result<InitialStack, InitError> {
    let mut bytes = alloc::vec![0u8; MAX_INITIAL_STACK_BYTES];
    let rsp = build_stack(
        &mut bytes,
        JINUE_STACK_BASE,
        argv,
        &program.auxv(how_syscall),
    )
    .map_err(|_| InitError::CommandLineTooLong)?;
    bytes.drain(..MAX_INITIAL_STACK_BYTES - (JINUE_STACK_BASE - rsp) as usize);
    Ok(InitialStack { rsp, bytes })
}

/// Splits the module command line at spaces (empty words dropped).
pub fn split_args(cmdline: &str) -> Vec<&str> {
    cmdline.split(' ').filter(|w| !w.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use elf::abi::{ET_EXEC, PF_R, PF_X};
    use loader::sample::make_elf;

    #[test]
    fn stack_layout() {
        let top = JINUE_STACK_BASE;
        let argv = split_args("init  -v x");
        assert_eq!(argv, ["init", "-v", "x"]);
        let file = make_elf(0x40_0000, ET_EXEC, &[(0x40_0000, PF_R | PF_X, &[0xc3], 1)]);
        let program = Program::parse(&file).unwrap();
        let st = initial_stack(&program, &argv, 1).unwrap();
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
        let auxv = program.auxv(1);
        for (i, &(kind, value)) in auxv.iter().enumerate() {
            assert_eq!((word(6 + 2 * i), word(7 + 2 * i)), (kind, value));
        }
        assert_eq!((word(20), word(21)), (0, 0));
        assert_eq!(
            initial_stack(&program, &["a"; 20_000], 1),
            Err(InitError::CommandLineTooLong)
        );
    }
}
