//! The saved user-mode state of a thread (`UserContext`) and how a fresh one looks.

/// Offset of MXCSR inside an FXSAVE image (Intel SDM vol. 1 §10.5.1, table 10-2).
const FXSAVE_MXCSR_OFFSET: usize = 24;
/// x87 control word at reset/`FNINIT` (Intel SDM vol. 1 §8.1.5): all exceptions masked.
const DEFAULT_FCW: u16 = 0x037F;
/// MXCSR at reset (Intel SDM vol. 1 §10.2.3): all SIMD exceptions masked.
const DEFAULT_MXCSR: u32 = 0x1F80;
/// `rflags` of a new user thread: IF (bit 9) plus the always-one bit 1.
pub const USER_RFLAGS: u64 = 0x202;

/// The whole user-mode state of one thread, as the arch saves and restores it.
///
/// The layout is part of the arch contract (`doc/internals.md`): the arch's
/// entry code stores registers at these offsets, so fields must not move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct UserContext {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    pub fs_base: u64,
    /// Data segment selectors (ABI §1: each thread has its own); with `fs`
    /// and `gs` they also keep `fpu` 16-byte aligned (FXSAVE/FXRSTOR need it).
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    /// FXSAVE image (Intel SDM vol. 1 §10.5.1), 16-byte aligned by the struct.
    pub fpu: [u8; 512],
}

impl UserContext {
    /// All registers zero, FPU image zero.
    pub const fn zeroed() -> Self {
        Self {
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            rbp: 0,
            rsp: 0,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rip: 0,
            rflags: 0,
            fs_base: 0,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
            fpu: [0; 512],
        }
    }

    /// The state a thread starts with (ABI §3 START_THREAD, §8): every
    /// general-purpose register 0 except `rip` and `rsp`, interrupts enabled,
    /// a freshly initialised x87/SSE state.
    pub fn fresh(entry: u64, stack_pointer: u64) -> Self {
        let mut ctx = Self::zeroed();
        ctx.rip = entry;
        ctx.rsp = stack_pointer;
        ctx.rflags = USER_RFLAGS;
        ctx.fpu[0..2].copy_from_slice(&DEFAULT_FCW.to_le_bytes());
        ctx.fpu[FXSAVE_MXCSR_OFFSET..FXSAVE_MXCSR_OFFSET + 4]
            .copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
        ctx
    }

    /// Copies every register of `other` but the x87/SSE image (which the
    /// core moves through `Platform::save_fpu_into` / `load_fpu_from`, so
    /// that a switch does not copy 512 bytes the CPU holds anyway).
    pub fn copy_registers_from(&mut self, other: &UserContext) {
        let UserContext {
            rax,
            rbx,
            rcx,
            rdx,
            rsi,
            rdi,
            rbp,
            rsp,
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rip,
            rflags,
            fs_base,
            ds,
            es,
            fs,
            gs,
            fpu: _,
        } = *other;
        self.rax = rax;
        self.rbx = rbx;
        self.rcx = rcx;
        self.rdx = rdx;
        self.rsi = rsi;
        self.rdi = rdi;
        self.rbp = rbp;
        self.rsp = rsp;
        self.r8 = r8;
        self.r9 = r9;
        self.r10 = r10;
        self.r11 = r11;
        self.r12 = r12;
        self.r13 = r13;
        self.r14 = r14;
        self.r15 = r15;
        self.rip = rip;
        self.rflags = rflags;
        self.fs_base = fs_base;
        self.ds = ds;
        self.es = es;
        self.fs = fs;
        self.gs = gs;
    }

    /// The four logical system-call registers (ABI §1): `rax`, `rdi`, `rsi`, `rdx`.
    pub fn syscall_args(&self) -> abi::regs::SyscallArgs {
        abi::regs::SyscallArgs {
            arg0: self.rax,
            arg1: self.rdi,
            arg2: self.rsi,
            arg3: self.rdx,
        }
    }

    /// Writes the return registers; every other register is left as it is.
    pub fn set_return(&mut self, ret: abi::regs::SyscallArgs) {
        self.rax = ret.arg0;
        self.rdi = ret.arg1;
        self.rsi = ret.arg2;
        self.rdx = ret.arg3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[test]
    fn layout_is_the_arch_contract() {
        assert_eq!(offset_of!(UserContext, rax), 0);
        assert_eq!(offset_of!(UserContext, rdi), 40);
        assert_eq!(offset_of!(UserContext, r15), 120);
        assert_eq!(offset_of!(UserContext, rip), 128);
        assert_eq!(offset_of!(UserContext, rflags), 136);
        assert_eq!(offset_of!(UserContext, fs_base), 144);
        assert_eq!(offset_of!(UserContext, ds), 152);
        assert_eq!(offset_of!(UserContext, fpu), 160);
        assert_eq!(align_of::<UserContext>(), 16);
        assert_eq!(size_of::<UserContext>(), 672);
    }

    #[test]
    fn copy_registers_leaves_the_image() {
        let mut other = UserContext::fresh(0x40_1000, 0x7fff_fffe_fff0);
        other.rax = 1;
        other.r15 = 2;
        other.fs_base = 3;
        other.gs = 0x1b;
        let mut c = UserContext::zeroed();
        c.fpu[100] = 9;
        c.copy_registers_from(&other);
        let expected = UserContext {
            fpu: c.fpu,
            ..other
        };
        assert_eq!(c, expected);
        assert_eq!(c.fpu[100], 9);
        assert_eq!(c.fpu[0], 0);
    }

    #[test]
    fn fresh_context() {
        let c = UserContext::fresh(0x40_1000, 0x7fff_fffe_fff0);
        assert_eq!(c.rip, 0x40_1000);
        assert_eq!(c.rsp, 0x7fff_fffe_fff0);
        assert_eq!(c.rflags, 0x202);
        assert_eq!(c.rax | c.rbx | c.rcx | c.rdx | c.rsi | c.rdi | c.rbp, 0);
        assert_eq!(u16::from_le_bytes([c.fpu[0], c.fpu[1]]), 0x37F);
        assert_eq!(
            u32::from_le_bytes([c.fpu[24], c.fpu[25], c.fpu[26], c.fpu[27]]),
            0x1F80
        );
    }
}
