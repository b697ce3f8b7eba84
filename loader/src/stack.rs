//! The initial stack of a new program (ABI §8), written into a byte buffer.

use abi::init::AT_NULL;
use core::fmt;

/// The initial stack does not fit in the memory given for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackTooSmall;

impl fmt::Display for StackTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the arguments do not fit in the initial stack")
    }
}

/// Writes the initial stack of ABI §8 into `mem`, the bytes
/// `[top - mem.len(), top)` of the new program's address space, and returns
/// the initial `rsp` (16-byte aligned).
///
/// At `rsp`: `argc`, the `argv` pointers, NULL, an empty `envp` (NULL), the
/// `auxv` pairs, `(AT_NULL, 0)`, and right after it the argument strings,
/// each with its NUL (`doc/decisions.md`, "Initial stack"). The bytes from
/// the last NUL up to `top` (fewer than 16) are zeroed; the bytes below
/// `rsp` are left as they are.
///
/// # Errors
///
/// [`StackTooSmall`] if all this needs more than `mem.len()` bytes.
pub fn build_stack<A: AsRef<[u8]>>(
    mem: &mut [u8],
    top: u64,
    argv: &[A],
    auxv: &[(u64, u64)],
) -> Result<u64, StackTooSmall> {
    let strings = argv
        .iter()
        .try_fold(0u64, |sum, a| sum.checked_add(a.as_ref().len() as u64 + 1))
        .ok_or(StackTooSmall)?;
    // argc, argv pointers, NULL, envp NULL, auxv pairs, the AT_NULL pair.
    let words = 1 + argv.len() as u64 + 1 + 1 + 2 * (auxv.len() as u64 + 1);
    let size = words
        .checked_mul(8)
        .and_then(|w| w.checked_add(strings))
        .ok_or(StackTooSmall)?;
    let bottom = top.checked_sub(mem.len() as u64).ok_or(StackTooSmall)?;
    let rsp = top.checked_sub(size).ok_or(StackTooSmall)? & !15;
    if rsp < bottom {
        return Err(StackTooSmall);
    }
    let mut out = Writer {
        mem,
        at: (rsp - bottom) as usize,
    };
    out.word(argv.len() as u64);
    let mut string = rsp + words * 8;
    for a in argv {
        out.word(string);
        string += a.as_ref().len() as u64 + 1;
    }
    out.word(0);
    out.word(0);
    for &(kind, value) in auxv.iter().chain([(AT_NULL, 0)].iter()) {
        out.word(kind);
        out.word(value);
    }
    for a in argv {
        out.bytes(a.as_ref());
        out.bytes(&[0]);
    }
    out.mem[out.at..].fill(0);
    Ok(rsp)
}

/// Appends to `mem` from `at` (the bounds were checked by the caller).
struct Writer<'m> {
    mem: &'m mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.mem[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }

    fn word(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}
