//! A raw call that also checks every register the kernel must preserve.

/// In/out block of `fuzz_checked_call`: `args` in (rax, rdi, rsi, rdx) and
/// out; `via_int` selects `int 0x80`; `after` receives rbx, rbp, rcx, r8,
/// r9, r10, r11, r12, r13, r14, r15 and the low halves of xmm0, xmm8, xmm15.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct Probe {
    pub(super) args: [u64; 4],
    pub(super) via_int: u64,
    pub(super) after: [u64; 14],
}

pub(super) const REG_NAMES: [&str; 14] = [
    "rbx", "rbp", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm8",
    "xmm15",
];

/// Values loaded before the call (see the asm); rcx and r11 only survive `int 0x80`.
pub(super) const PATTERNS: [u64; 14] = [
    0x0b0b_0b0b_1111_0001,
    0x0b0b_0b0b_1111_0002,
    0x0b0b_0b0b_1111_0003,
    0x0b0b_0b0b_1111_0004,
    0x0b0b_0b0b_1111_0005,
    0x0b0b_0b0b_1111_0006,
    0x0b0b_0b0b_1111_0007,
    0x0b0b_0b0b_1111_0008,
    0x0b0b_0b0b_1111_0009,
    0x0b0b_0b0b_1111_000a,
    0x0b0b_0b0b_1111_000b,
    0x0b0b_0b0b_1111_000c,
    0x0b0b_0b0b_1111_000d,
    0x0b0b_0b0b_1111_000e,
];

core::arch::global_asm!(
    ".globl fuzz_checked_call",
    ".type fuzz_checked_call,@function",
    "fuzz_checked_call:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov rax, 0x0b0b0b0b1111000c",
    "movq xmm0, rax",
    "mov rax, 0x0b0b0b0b1111000d",
    "movq xmm8, rax",
    "mov rax, 0x0b0b0b0b1111000e",
    "movq xmm15, rax",
    "mov rbx, 0x0b0b0b0b11110001",
    "mov rbp, 0x0b0b0b0b11110002",
    "mov r8, 0x0b0b0b0b11110004",
    "mov r9, 0x0b0b0b0b11110005",
    "mov r10, 0x0b0b0b0b11110006",
    "mov r12, 0x0b0b0b0b11110008",
    "mov r13, 0x0b0b0b0b11110009",
    "mov r14, 0x0b0b0b0b1111000a",
    "mov r15, 0x0b0b0b0b1111000b",
    "mov rax, [rdi]",
    "mov rsi, [rdi + 16]",
    "mov rdx, [rdi + 24]",
    "mov rcx, [rdi + 32]",
    "mov rdi, [rdi + 8]",
    "test rcx, rcx",
    "mov rcx, 0x0b0b0b0b11110003",
    "mov r11, 0x0b0b0b0b11110007",
    "jnz fuzz_checked_call_int",
    "syscall",
    "jmp fuzz_checked_call_done",
    "fuzz_checked_call_int:",
    "int 0x80",
    "fuzz_checked_call_done:",
    "push rdi",
    "mov rdi, [rsp + 8]",
    "mov [rdi], rax",
    "pop rax",
    "mov [rdi + 8], rax",
    "mov [rdi + 16], rsi",
    "mov [rdi + 24], rdx",
    "mov [rdi + 40], rbx",
    "mov [rdi + 48], rbp",
    "mov [rdi + 56], rcx",
    "mov [rdi + 64], r8",
    "mov [rdi + 72], r9",
    "mov [rdi + 80], r10",
    "mov [rdi + 88], r11",
    "mov [rdi + 96], r12",
    "mov [rdi + 104], r13",
    "mov [rdi + 112], r14",
    "mov [rdi + 120], r15",
    "movq rax, xmm0",
    "mov [rdi + 128], rax",
    "movq rax, xmm8",
    "mov [rdi + 136], rax",
    "movq rax, xmm15",
    "mov [rdi + 144], rax",
    "pop rdi",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
    ".size fuzz_checked_call, . - fuzz_checked_call",
    // 256 stubs of 4 bytes: `int N; ret; nop` for N = 0..=255.
    ".globl fuzz_int_table",
    "fuzz_int_table:",
    ".set fuzz_vec, 0",
    ".rept 256",
    ".byte 0xcd, fuzz_vec, 0xc3, 0x90",
    ".set fuzz_vec, fuzz_vec + 1",
    ".endr",
);

extern "C" {
    fn fuzz_checked_call(p: *mut Probe);
    pub(super) fn fuzz_int_table();
}

/// Issues `args` as one raw call and returns the probe with what came back.
///
/// The caller has made sure (see [`Fuzzer::harmless`]) that the call cannot
/// take away or change memory the program uses through Rust references.
pub(super) fn checked_call(args: [u64; 4], via_int: bool) -> Probe {
    let mut p = Probe {
        args,
        via_int: u64::from(via_int),
        after: [0; 14],
    };
    // SAFETY: the stub saves and restores every callee-saved register it
    // uses, touches only `p` and its own stack, and is a plain C function;
    // the call's memory effects are vetted by the caller (see above).
    unsafe { fuzz_checked_call(&mut p) };
    p
}
