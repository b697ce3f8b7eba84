//! The initial stack (ABI §8): argc, argv, envp and the auxiliary vector.

use abi::init::AT_NULL;
use core::sync::atomic::{AtomicU64, Ordering};

/// Stack pointer at `_start` (0 before start-up or on the host).
static INITIAL_SP: AtomicU64 = AtomicU64::new(0);

/// Records the initial stack pointer; called once by the entry code.
pub fn set_initial_sp(sp: u64) {
    INITIAL_SP.store(sp, Ordering::Relaxed);
}

/// A view of the initial stack of the program.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    sp: *const u64,
}

impl Startup {
    /// The initial stack recorded at start-up, if the program started through `_start`.
    pub fn get() -> Option<Startup> {
        match INITIAL_SP.load(Ordering::Relaxed) {
            0 => None,
            sp => Some(Startup {
                sp: sp as *const u64,
            }),
        }
    }

    /// The stack pointer at entry.
    pub fn stack_pointer(&self) -> u64 {
        self.sp as u64
    }

    fn word(&self, index: usize) -> u64 {
        // SAFETY: the initial stack lies in the stack region the kernel (or
        // `spawn`) built, which stays mapped for the life of the process, and
        // the layout of ABI §8 puts every index we read inside it.
        unsafe { core::ptr::read(self.sp.add(index)) }
    }

    /// `argc`.
    pub fn argc(&self) -> usize {
        self.word(0) as usize
    }

    /// Raw pointer value of `argv[i]` (`i <= argc`; `argv[argc]` is NULL).
    pub fn argv_ptr(&self, i: usize) -> u64 {
        self.word(1 + i)
    }

    /// `argv[i]` as bytes, without the NUL.
    pub fn arg(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc() {
            return None;
        }
        let p = self.argv_ptr(i) as *const u8;
        if p.is_null() {
            return None;
        }
        // SAFETY: argv strings are NUL-terminated and live on the initial stack.
        Some(unsafe { cstr(p) })
    }

    /// Iterates over the arguments.
    pub fn args(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        (0..self.argc()).filter_map(|i| self.arg(i))
    }

    /// Index (in words from `sp`) of the first `envp` pointer.
    fn envp_index(&self) -> usize {
        1 + self.argc() + 1
    }

    /// Number of environment pointers.
    pub fn envc(&self) -> usize {
        let mut i = self.envp_index();
        while self.word(i) != 0 {
            i += 1;
        }
        i - self.envp_index()
    }

    /// Index of the first auxv pair.
    fn auxv_index(&self) -> usize {
        self.envp_index() + self.envc() + 1
    }

    /// The auxv pairs, up to (not including) `AT_NULL`.
    pub fn auxv(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let start = self.auxv_index();
        (0..)
            .map(move |k| (self.word(start + 2 * k), self.word(start + 2 * k + 1)))
            .take_while(|&(t, _)| t != AT_NULL)
    }

    /// The value of auxv entry `ty`.
    pub fn aux(&self, ty: u64) -> Option<u64> {
        self.auxv().find(|&(t, _)| t == ty).map(|(_, v)| v)
    }
}

/// The bytes of a NUL-terminated string.
///
/// # Safety
///
/// `p` must point at a readable NUL-terminated string that lives forever.
pub unsafe fn cstr(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: the caller promises the string is readable up to its NUL; the
    // volatile read keeps the compiler from turning the loop into `strlen`.
    while unsafe { p.add(n).read_volatile() } != 0 {
        n += 1;
    }
    // SAFETY: the n bytes before the NUL are readable and live forever.
    unsafe { core::slice::from_raw_parts(p, n) }
}
