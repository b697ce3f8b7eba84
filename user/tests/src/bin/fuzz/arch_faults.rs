//! Case `arch_faults`: faulting instructions, each on a thread of a child.

use super::layout::PG;
use super::probe::fuzz_int_table;
use super::support::{alive, touch_deep};
use abi::layout::*;
use abi::numbers::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::{fork_with, Fork};
use ferrite_tests::*;

/// What a fault kind must do to its thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expect {
    /// The kernel kills the thread (AWAIT_THREAD = 1).
    Kill,
    /// It may or may not fault (CPU or emulator dependent); either way no panic.
    Either,
    /// A legitimate instruction sequence: the thread goes on and exits (0).
    Run,
}

use Expect::{Either, Kill, Run};

pub(super) const FAULTS: [(&str, Expect); 60] = [
    ("ud2", Kill),
    ("hlt", Kill),
    ("cli", Kill),
    ("in", Kill),
    ("out 0xf4 (isa-debug-exit)", Kill),
    ("rdmsr", Kill),
    ("wrmsr", Kill),
    ("mov cr3", Kill),
    ("lgdt", Kill),
    ("invlpg", Kill),
    ("swapgs", Kill),
    ("sysretq", Kill),
    ("int3", Kill),
    ("icebp", Kill),
    ("div by 0", Kill),
    ("idiv overflow", Kill),
    ("read kernel", Kill),
    ("write kernel", Kill),
    ("read non-canonical", Kill),
    ("jmp non-canonical", Kill),
    ("jmp kernel", Kill),
    ("jmp 0", Kill),
    ("push, rsp in kernel", Kill),
    ("push, rsp non-canonical", Kill),
    ("call, rsp 0", Kill),
    ("write text", Kill),
    ("exec stack", Kill),
    ("TF then nop", Kill),
    ("TF then syscall", Kill),
    ("TF, mov ss, int 0x80", Kill),
    ("TF, mov ss, syscall", Kill),
    ("ldmxcsr reserved", Either),
    ("unmasked SSE div 0", Either),
    ("sysenter", Kill),
    ("mov ds, bad selector", Kill),
    ("lretq to ring 0", Kill),
    ("iretq to ring 0", Kill),
    ("mov dr7", Kill),
    ("AC + misaligned", Either),
    ("x87 unmasked div 0, syscall, fwait", Either),
    ("iretq to ring 3 (legitimate)", Run),
    ("retfq to ring 3 (legitimate)", Run),
    ("retfq, null selector", Kill),
    ("retfq, selector beyond the GDT", Kill),
    ("retfq, data selector", Kill),
    ("retfq, TSS selector", Kill),
    ("retfq, kernel code selector with RPL 3", Kill),
    ("retfq to ring 3, non-canonical rip", Kill),
    ("iretq to ring 3, null SS", Kill),
    ("iretq with NT set", Kill),
    ("into (invalid in 64-bit mode)", Kill),
    ("lcall to ring 0", Kill),
    ("lcall and retfq in ring 3 (legitimate)", Run),
    ("lcall and retfq, untouched stack page (legitimate)", Run),
    ("syscall with rsp in the kernel half", Run),
    ("syscall with rsp non-canonical", Run),
    ("syscall with rsp 0", Run),
    ("int 0x80 with rsp in the kernel half", Kill),
    ("syscall with every register garbage", Run),
    ("int 0x80 with rsp 0", Kill),
];

#[inline(never)]
pub(super) fn do_fault(kind: usize) {
    let yield_nr = JINUE_SYS_YIELD_THREAD;
    let mut local = [0u8; 32];
    core::hint::black_box(&mut local);
    let stack_code = local.as_ptr() as u64;
    // SAFETY: each instruction sequence deliberately traps in ring 3 (or, for
    // the `Either` and `Run` kinds, may run on harmlessly); the kernel kills
    // this thread, which owns nothing the rest of the program uses.
    unsafe {
        match kind {
            0 => core::arch::asm!("ud2"),
            1 => core::arch::asm!("hlt"),
            2 => core::arch::asm!("cli"),
            3 => core::arch::asm!("in al, dx", out("al") _, in("dx") 0x3f8u16),
            4 => core::arch::asm!("out dx, al", in("al") 0u8, in("dx") 0xf4u16),
            5 => core::arch::asm!("rdmsr", in("ecx") 0xc000_0080u32, out("eax") _, out("edx") _),
            6 => {
                core::arch::asm!("wrmsr", in("ecx") 0xc000_0100u32, in("eax") 0u32, in("edx") 0u32)
            }
            7 => core::arch::asm!("mov cr3, {}", in(reg) 0u64),
            8 => core::arch::asm!("lgdt [{}]", in(reg) stack_code),
            9 => core::arch::asm!("invlpg [{}]", in(reg) stack_code),
            10 => core::arch::asm!("swapgs"),
            11 => core::arch::asm!("sysretq"),
            12 => core::arch::asm!("int3"),
            13 => core::arch::asm!(".byte 0xf1"),
            14 => {
                core::arch::asm!("div {d}", d = in(reg) 0u64, inout("rax") 1u64 => _, inout("rdx") 0u64 => _)
            }
            15 => {
                core::arch::asm!("idiv {d}", d = in(reg) -1i64, inout("rax") i64::MIN => _, inout("rdx") -1i64 => _)
            }
            16 => {
                core::ptr::read_volatile(0xffff_8000_0010_0000 as *const u64);
            }
            17 => core::ptr::write_volatile(0xffff_8000_0010_0000 as *mut u64, 1),
            18 => {
                core::ptr::read_volatile(0x0000_8000_0000_0000 as *const u64);
            }
            19 => core::arch::asm!("jmp {}", in(reg) 0x0000_8000_0000_0000u64),
            20 => core::arch::asm!("jmp {}", in(reg) 0xffff_8000_0010_0000u64),
            21 => core::arch::asm!("jmp {}", in(reg) 0u64),
            22 => core::arch::asm!("mov rsp, {}", "push rax", in(reg) 0xffff_8000_0010_0000u64),
            23 => core::arch::asm!("mov rsp, {}", "push rax", in(reg) 0x1234_0000_0000_0000u64),
            24 => core::arch::asm!("xor esp, esp", "call 2f", "2:"),
            25 => core::ptr::write_volatile(do_fault as *const () as *mut u8, 0xcc),
            26 => core::arch::asm!("call {}", in(reg) stack_code),
            27 => core::arch::asm!(
                "pushfq",
                "or qword ptr [rsp], 0x100",
                "popfq",
                "nop",
                "nop",
                "nop"
            ),
            28 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "syscall", "nop", "nop",
                inout("rax") yield_nr => _, out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            29 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "mov {s:x}, ss", "mov ss, {s:x}", "int 0x80", "nop",
                s = out(reg) _, inout("rax") yield_nr => _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            30 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x100", "popfq", "mov {s:x}, ss", "mov ss, {s:x}", "syscall", "nop",
                s = out(reg) _, inout("rax") yield_nr => _, out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
            ),
            31 => {
                local[..4].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
                core::arch::asm!("ldmxcsr [{}]", in(reg) stack_code);
            }
            32 => {
                // Unmask every SIMD exception, then divide by zero.
                local[..4].copy_from_slice(&0x0000_0000u32.to_le_bytes());
                core::arch::asm!(
                    "ldmxcsr [{p}]", "xorps xmm1, xmm1", "mov {t}, 1", "cvtsi2ss xmm2, {t}", "divss xmm2, xmm1",
                    p = in(reg) stack_code, t = out(reg) _, out("xmm1") _, out("xmm2") _,
                );
            }
            33 => core::arch::asm!("sysenter"),
            34 => core::arch::asm!("mov ds, {:x}", in(reg) 0x2bu16),
            35 => {
                core::arch::asm!("push 0x08", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            36 => core::arch::asm!(
                "mov rax, rsp", "push 0x10", "push rax", "pushfq", "push 0x08", "lea rax, [rip]", "push rax", "iretq",
                out("rax") _,
            ),
            37 => core::arch::asm!("mov dr7, {}", in(reg) 0x1u64),
            38 => core::arch::asm!(
                "pushfq", "or dword ptr [rsp], 0x40000", "popfq", "mov {t}, [{p} + 1]", "mov {t}, [{p} + 3]",
                "pushfq", "and dword ptr [rsp], 0xfffbffff", "popfq",
                p = in(reg) stack_code, t = out(reg) _,
            ),
            40 => core::arch::asm!(
                "mov {t}, rsp", "push 0x1b", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            41 => core::arch::asm!(
                "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "retfq", "2:",
                t = out(reg) _,
            ),
            39 => {
                // x87 control word with every exception unmasked.
                local[..2].copy_from_slice(&0x0340u16.to_le_bytes());
                core::arch::asm!(
                    "fninit", "fldcw [{p}]", "fld1", "fldz", "fdivp", "syscall", "fwait", "fninit",
                    p = in(reg) stack_code, inout("rax") yield_nr => _, out("rcx") _, out("r11") _,
                    out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            // Far returns with a bad return selector: #GP(selector) (Intel SDM
            // vol. 2 RET, IRET); under QEMU TCG up to 9.0 the frame is popped
            // with supervisor accesses first (the #PF livelock under SMAP).
            42 => core::arch::asm!("push 0", "lea rax, [rip]", "push rax", "retfq", out("rax") _),
            43 => {
                core::arch::asm!("push 0x103", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            44 => {
                core::arch::asm!("push 0x1b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            45 => {
                core::arch::asm!("push 0x2b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            46 => {
                core::arch::asm!("push 0x0b", "lea rax, [rip]", "push rax", "retfq", out("rax") _)
            }
            47 => core::arch::asm!(
                "push 0x23", "mov rax, 0x0000800000000000", "push rax", "retfq",
                out("rax") _,
            ),
            48 => core::arch::asm!(
                "mov {t}, rsp", "push 0", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            49 => core::arch::asm!(
                "pushfq", "or qword ptr [rsp], 0x4000", "popfq",
                "mov {t}, rsp", "push 0x1b", "push {t}", "pushfq", "push 0x23", "lea {t}, [rip + 2f]", "push {t}", "iretq", "2:",
                t = out(reg) _,
            ),
            50 => core::arch::asm!(".byte 0xce"),
            // lcall m16:64 through [rdi] (REX.W FF /3).
            51 => {
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x08",
                    ".byte 0x48, 0xff, 0x1f", "2:",
                    t = out(reg) _, in("rdi") p,
                );
            }
            52 => {
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x23",
                    ".byte 0x48, 0xff, 0x1f", "jmp 3f", "2:", "retfq", "3:",
                    t = out(reg) _, in("rdi") p,
                );
            }
            // The same with the stack on a demand-zero page nothing touched
            // yet: the far CALL's own pushes map it.
            // SYSCALL does not switch stacks: the kernel must never use the
            // user's rsp. INT does switch (ring 0 stack from the TSS), but
            // the CPU pushes the user frame only after the switch; with a
            // bad user rsp the thread just returns to a bad stack, and its
            // next use of it faults (the `Kill` kinds).
            54..=56 => {
                let sp = [0xffff_8000_0010_0000u64, 0x0123_4567_89ab_cdef, 0][kind - 54];
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {sp}", "syscall", "mov rsp, {s}",
                    s = out(reg) _, sp = in(reg) sp, inout("rax") yield_nr => _,
                    out("rcx") _, out("r11") _, out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            57 | 59 => {
                let sp = if kind == 57 {
                    0xffff_8000_0010_0000u64
                } else {
                    0
                };
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {sp}", "int 0x80", "push rax", "mov rsp, {s}",
                    s = out(reg) _, sp = in(reg) sp, inout("rax") yield_nr => _,
                    out("rdi") _, out("rsi") _, out("rdx") _,
                );
            }
            58 => core::arch::asm!(
                "push rbx", "push rbp", "mov r12, rsp",
                "mov rbx, -1", "mov rbp, -1", "mov r8, -1", "mov r9, -1", "mov r10, -1",
                "mov rsp, -1", "syscall", "mov rsp, r12", "pop rbp", "pop rbx",
                out("r12") _, inout("rax") yield_nr => _, out("rcx") _, out("r11") _,
                out("rdi") _, out("rsi") _, out("rdx") _, out("r8") _, out("r9") _, out("r10") _,
            ),
            53 => {
                let Ok(page) = Region::anywhere(1, K_WRITABLE) else {
                    return;
                };
                let p = local.as_mut_ptr();
                core::arch::asm!(
                    "mov {s}, rsp", "mov rsp, {top}",
                    "lea {t}, [rip + 2f]", "mov [rdi], {t}", "mov word ptr [rdi + 8], 0x23",
                    ".byte 0x48, 0xff, 0x1f", "jmp 3f", "2:", "retfq", "3:",
                    "mov rsp, {s}",
                    s = out(reg) _, t = out(reg) _, top = in(reg) page.addr() + PG, in("rdi") p,
                );
                drop(page);
            }
            _ => {}
        }
    }
    core::hint::black_box(&local);
}

/// Executes `int vector` (through the stub table).
pub(super) fn int_n(vector: u64) {
    let stub = fuzz_int_table as *const () as u64 + 4 * vector;
    // SAFETY: the stub is `int N; ret`; the interrupt either traps (the
    // kernel kills this thread) or, for 0x80, is a system call with whatever
    // rax holds, which the clobbers cover.
    unsafe {
        core::arch::asm!("call {s}", s = in(reg) stub, inout("rax") JINUE_SYS_YIELD_THREAD => _, clobber_abi("C"));
    }
}

/// What the parent gives a child's faulting thread before calling it stuck.
const STUCK: Patience = Patience {
    yields: 400,
    cycles: 2 * TSC_SECOND,
};

/// Runs fault kind `k` on a thread of a forked child, so that a thread the
/// kernel neither kills nor lets progress cannot hang the program: the
/// child's AWAIT_THREAD value (0 or 1), or `Err(what)`.
fn fault_in_child(k: usize, flag: u64) -> Result<u64, &'static str> {
    poke(flag, u64::MAX);
    match fork_with(0) {
        Ok(Fork::Child) => {
            let r = on_thread(|| do_fault(k));
            poke(flag, r.unwrap_or(2));
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            wait_for(|| peek(flag) != u64::MAX, STUCK);
            let v = peek(flag);
            if v == u64::MAX {
                let _ = api::destroy(child.process);
                let _ = child.wait();
                return Err("stuck: neither killed nor finished (livelock)");
            }
            let _ = child.wait();
            match v {
                0 | 1 => Ok(v),
                _ => Err("the child could not run a thread"),
            }
        }
        Err(_) => Err("fork failed"),
    }
}

pub(super) fn arch_faults(c: &mut Case) {
    touch_deep();
    let base = usage();
    let flag = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
    let Ok(flag) = flag else {
        return c.fail(
            file!(),
            line!(),
            format_args!("shared page: {:?}", flag.err()),
        );
    };
    for (k, &(name, expect)) in FAULTS.iter().enumerate() {
        let r = fault_in_child(k, flag.addr());
        match expect {
            Kill => check_eq!(c, r, Ok(1), "fault '{}' kills the thread", name),
            Run => check_eq!(c, r, Ok(0), "'{}' runs on", name),
            Either => check!(c, r == Ok(0) || r == Ok(1), "'{}': {:?}", name, r),
        }
    }
    drop(flag);
    for v in 0..=255u64 {
        let r = on_thread(|| int_n(v));
        let want = if v == 0x80 { 0 } else { 1 };
        check_eq!(c, r, Some(want), "int {:#x}", v);
    }
    // The last bytes of user space: the instruction after them is at USER_LIMIT.
    let last = USER_LIMIT - PG;
    let mapped = api::rgn_allocate(Actor::Me, &mut rgn(last, PG, K_WRITABLE | K_EXECUTABLE));
    check_eq!(c, mapped, Ok(()), "the last user page");
    if mapped.is_ok() {
        for (name, code) in [
            ("syscall", [0x0fu8, 0x05]),
            ("int 0x80", [0xcd, 0x80]),
            ("nop; nop", [0x90, 0x90]),
        ] {
            poke8(USER_LIMIT - 2, code[0]);
            poke8(USER_LIMIT - 1, code[1]);
            let r = on_thread(|| {
                // SAFETY: jumps to the two bytes at the top of user space;
                // the thread cannot continue past USER_LIMIT and is killed.
                unsafe {
                    core::arch::asm!("jmp {t}", t = in(reg) USER_LIMIT - 2, in("rax") JINUE_SYS_YIELD_THREAD, options(noreturn));
                }
            });
            check_eq!(c, r, Some(1), "'{}' at USER_LIMIT - 2", name);
        }
        check_eq!(c, api::rgn_free(Actor::Me, &rgn(last, PG, 0)), Ok(()));
    }
    alive(c);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
