//! x87/SSE state across moves between CPUs of threads of several processes
//! (yields, IPC round trips), and across `fork`.
//!
//! The kernel leaves a thread's x87/SSE state in the registers of the CPU it
//! runs on and saves it only when the thread stops running there, so a thread
//! that resumes on another CPU, or on the same CPU after other threads ran
//! there, must get exactly its own values back.

use core::arch::asm;

use abi::ipc::JinueMessage;
use abi::numbers::{
    JINUE_SYS_RECEIVE, JINUE_SYS_REPLY, JINUE_SYS_USER_BASE, JINUE_SYS_YIELD_THREAD,
};
use abi::perms::JINUE_PERM_SEND;
use abi::region::{K_INHERITSHARE, K_WRITABLE};
use abi::types::JinueBuffer;
use ferrite_rt::{api, fork, ipc, println, thread, Fork};
use ferrite_tests::*;

use super::{pattern, NCPU};
use core::sync::atomic::Ordering;

/// Processes forked for the migration case, threads spawned in the case's
/// own process besides the case's thread, and the yields of each thread:
/// six threads, more than the CPUs of the suite's boots, so every yield
/// switches and threads keep moving between CPUs.
const CHILDREN: u64 = 3;
const LOCAL_THREADS: u64 = 2;
const WORKERS: u64 = CHILDREN + LOCAL_THREADS + 1;
const ROUNDS: u64 = 300;

/// What one thread keeps in its x87/SSE registers: xmm0..15, one x87 stack
/// entry (an integer, exact under every precision and rounding control),
/// MXCSR and the x87 control word. Offsets are used by the asm below.
#[repr(C, align(16))]
#[derive(Clone, Copy, PartialEq, Eq)]
struct FpState {
    xmm: [u8; 256],
    st0: i64,
    mxcsr: u32,
    fcw: u16,
    _pad: u16,
}

/// MXCSR and x87 control word at reset (every exception masked), loaded back
/// after each probe: the Rust code around it expects them.
#[repr(C)]
struct Defaults {
    mxcsr: u32,
    fcw: u16,
}
static DEFAULTS: Defaults = Defaults {
    mxcsr: 0x1F80,
    fcw: 0x037F,
};

impl FpState {
    const fn zeroed() -> Self {
        Self {
            xmm: [0; 256],
            st0: 0,
            mxcsr: 0,
            fcw: 0,
            _pad: 0,
        }
    }

    /// Values different for every thread (`seed`) and for every call it
    /// makes (`call`), so registers left over from an earlier call or
    /// another thread never pass: xmm0..15 (the call in the first 8
    /// bytes), the x87 stack entry, the rounding control of MXCSR (bits
    /// 13-14) and its flush-to-zero bit (15), the x87 rounding (bits 10-11)
    /// and precision control (bits 8-9: 24, 53 or 64 bits).
    fn of(seed: u8, call: u64) -> Self {
        let mut xmm = pattern(seed);
        xmm[..8].copy_from_slice(&call.to_le_bytes());
        let precision = [0u16, 2, 3][usize::from(seed % 3)];
        let mxcsr_rounding = (u32::from(seed) + call as u32) % 4;
        let x87_rounding = (u16::from(seed) + (call / 4) as u16) % 4;
        Self {
            xmm,
            // Below 2^24: exact under every precision control.
            st0: i64::from(seed) << 16 | (call & 0xFFFF) as i64,
            mxcsr: 0x1F80 | (mxcsr_rounding << 13) | (u32::from(seed & 1) << 15),
            fcw: 0x007F | (x87_rounding << 10) | (precision << 8),
            _pad: 0,
        }
    }
}

/// Loads `input` into xmm0..15, MXCSR, the x87 control word and stack,
/// makes the system call `args` (rax, rdi, rsi, rdx) by `syscall`, and
/// stores what the registers then hold to `output`; returns rax.
fn syscall_with_fp(input: &FpState, output: &mut FpState, args: [u64; 4]) -> u64 {
    let rax: u64;
    // SAFETY: the call is one the caller chose (YIELD, or IPC on buffers it
    // owns); the asm reads `input` and `DEFAULTS`, writes `output` only,
    // leaves the x87 stack empty (one FILD, one FISTP) and MXCSR and the
    // control word as they were (the defaults); every register it or the
    // kernel entry may change is declared (rcx and r11 not late: the
    // pointers must not live there across `syscall`).
    unsafe {
        asm!(
            "ldmxcsr [{i} + 264]", "fldcw [{i} + 268]", "fild qword ptr [{i} + 256]",
            "movdqu xmm0, [{i}]", "movdqu xmm1, [{i} + 16]", "movdqu xmm2, [{i} + 32]",
            "movdqu xmm3, [{i} + 48]", "movdqu xmm4, [{i} + 64]", "movdqu xmm5, [{i} + 80]",
            "movdqu xmm6, [{i} + 96]", "movdqu xmm7, [{i} + 112]", "movdqu xmm8, [{i} + 128]",
            "movdqu xmm9, [{i} + 144]", "movdqu xmm10, [{i} + 160]", "movdqu xmm11, [{i} + 176]",
            "movdqu xmm12, [{i} + 192]", "movdqu xmm13, [{i} + 208]", "movdqu xmm14, [{i} + 224]",
            "movdqu xmm15, [{i} + 240]",
            "syscall",
            "movdqu [{o}], xmm0", "movdqu [{o} + 16], xmm1", "movdqu [{o} + 32], xmm2",
            "movdqu [{o} + 48], xmm3", "movdqu [{o} + 64], xmm4", "movdqu [{o} + 80], xmm5",
            "movdqu [{o} + 96], xmm6", "movdqu [{o} + 112], xmm7", "movdqu [{o} + 128], xmm8",
            "movdqu [{o} + 144], xmm9", "movdqu [{o} + 160], xmm10", "movdqu [{o} + 176], xmm11",
            "movdqu [{o} + 192], xmm12", "movdqu [{o} + 208], xmm13", "movdqu [{o} + 224], xmm14",
            "movdqu [{o} + 240], xmm15",
            "fistp qword ptr [{o} + 256]", "stmxcsr [{o} + 264]", "fnstcw [{o} + 268]",
            "ldmxcsr [{d}]", "fldcw [{d} + 4]",
            i = in(reg) input,
            o = in(reg) output,
            d = in(reg) &DEFAULTS,
            inlateout("rax") args[0] => rax,
            inlateout("rdi") args[1] => _,
            inlateout("rsi") args[2] => _,
            inlateout("rdx") args[3] => _,
            out("rcx") _, out("r11") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
    rax
}

/// The initial APIC ID of the CPU this runs on (CPUID.01H:EBX[31:24]).
fn apic_id() -> u64 {
    let ebx: u64;
    // SAFETY: CPUID is unprivileged; rbx (reserved by the compiler) is saved
    // in the output register and swapped back.
    unsafe {
        asm!(
            "mov {t}, rbx", "cpuid", "xchg {t}, rbx",
            t = out(reg) ebx,
            inout("eax") 1u32 => _,
            out("ecx") _, out("edx") _,
            options(nostack, nomem, preserves_flags),
        );
    }
    (ebx >> 24) & 0xFF
}

/// Yields [`ROUNDS`] times with `seed`'s values; returns the rounds after
/// which the registers differed, and how often the thread was seen on
/// another CPU than before.
fn worker(seed: u8) -> (u64, u64) {
    let mut probe = Probe::new(seed);
    for _ in 0..ROUNDS {
        probe.call([JINUE_SYS_YIELD_THREAD, 0, 0, 0]);
    }
    (probe.wrong, probe.moves)
}

/// One thread's calls with its x87/SSE values: how many came back with other
/// values, and how often the thread was seen on another CPU than before.
struct Probe {
    seed: u8,
    calls: u64,
    wrong: u64,
    moves: u64,
    cpu: u64,
}

impl Probe {
    fn new(seed: u8) -> Self {
        Self {
            seed,
            calls: 0,
            wrong: 0,
            moves: 0,
            cpu: apic_id(),
        }
    }

    /// Makes the call `args` with this thread's values for the next call; returns rax.
    fn call(&mut self, args: [u64; 4]) -> u64 {
        self.calls += 1;
        let mine = FpState::of(self.seed, self.calls);
        let mut seen = FpState::zeroed();
        let rax = syscall_with_fp(&mine, &mut seen, args);
        if seen != mine {
            self.wrong += 1;
        }
        let now = apic_id();
        if now != self.cpu {
            self.moves += 1;
            self.cpu = now;
        }
        rax
    }
}

/// Where worker `k` reports in the shared page (after the start flag at 0).
fn slot(page: u64, k: u64) -> u64 {
    page + 8 + 16 * k
}

/// Waits for the start flag, runs the worker, reports.
fn worker_in_slot(page: u64, k: u64) {
    while peek(page) == 0 {
        api::yield_thread();
    }
    let (wrong, moves) = worker(k as u8 + 1);
    poke(slot(page, k) + 8, moves);
    poke(slot(page, k), wrong);
}

/// Six threads in four processes (this one and three forked children), each
/// with its own xmm, MXCSR, x87 control word and stack values, yield 300
/// times each: with one CPU every yield switches between them; with several
/// they also move between CPUs (counted with CPUID), and each must find its
/// own values after every yield.
pub fn fp_state_across_cpus(c: &mut Case) {
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
    let page = shared.addr();
    poke(page, 0);
    for k in 0..WORKERS {
        poke(slot(page, k), u64::MAX);
    }
    let mut children = [None; CHILDREN as usize];
    for (k, child) in (0..CHILDREN).zip(children.iter_mut()) {
        match fork() {
            Ok(Fork::Child) => {
                worker_in_slot(page, k);
                api::exit_thread()
            }
            Ok(Fork::Parent(ch)) => *child = Some(ch),
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    }
    let mut threads = [const { None }; LOCAL_THREADS as usize];
    for (k, t) in (CHILDREN..CHILDREN + LOCAL_THREADS).zip(threads.iter_mut()) {
        match thread::spawn(move || worker_in_slot(page, k)) {
            Ok(handle) => *t = Some(handle),
            Err(e) => c.fail(file!(), line!(), format_args!("spawn: {e}")),
        }
    }
    poke(page, 1);
    worker_in_slot(page, WORKERS - 1);
    for handle in threads.into_iter().flatten() {
        check_eq!(c, handle.join(), Ok(0));
    }
    for child in children.into_iter().flatten() {
        check_eq!(c, child.wait(), Ok(0), "a child's thread");
    }
    let mut moves = 0;
    for k in 0..WORKERS {
        check_eq!(
            c,
            peek(slot(page, k)),
            0,
            "rounds of worker {} whose x87/SSE registers came back changed (u64::MAX: it never reported)",
            k
        );
        moves += peek(slot(page, k) + 8);
    }
    println!(
        "cpu_state: fp_state_across_cpus: {} threads of {} processes on {} CPU(s), {} moves between CPUs seen",
        WORKERS,
        CHILDREN + 1,
        NCPU.load(Ordering::SeqCst),
        moves
    );
    check!(
        c,
        NCPU.load(Ordering::SeqCst) == 1 || moves > 0,
        "no thread was seen moving to another CPU"
    );
}

/// Descriptors of the IPC case: the endpoint here, the child's SEND copy.
const ENDPOINT: u64 = 40;
const CHILD_ENDPOINT: u64 = 41;
/// Round trips of the IPC case.
const ROUND_TRIPS: u64 = 300;

/// A message structure with one buffer each way.
fn message(send: &[u8], recv: &mut [u8], buffers: &mut [JinueBuffer; 2]) -> JinueMessage {
    buffers[0] = JinueBuffer {
        addr: send.as_ptr() as u64,
        size: send.len() as u64,
    };
    buffers[1] = JinueBuffer {
        addr: recv.as_mut_ptr() as u64,
        size: recv.len() as u64,
    };
    JinueMessage {
        send_buffers: buffers[0..].as_ptr() as u64,
        send_buffers_length: u64::from(!send.is_empty()),
        recv_buffers: buffers[1..].as_ptr() as u64,
        recv_buffers_length: u64::from(!recv.is_empty()),
        ..JinueMessage::default()
    }
}

/// A client (a forked child) and a server (this process) make 300 round
/// trips, SEND, RECEIVE and REPLY each with new x87/SSE values. REPLY
/// switches straight to the client and leaves the server ready, so with
/// several CPUs the server keeps moving to whichever CPU is free, often
/// back to one it ran on before while it changed its values elsewhere:
/// each call must return with the caller's newest values.
pub fn fp_state_across_ipc_between_processes(c: &mut Case) {
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
    let page = shared.addr();
    poke(page, 0);
    poke(page + 8, u64::MAX);
    check_eq!(c, ipc::create_endpoint(ENDPOINT), Ok(()));
    match fork() {
        Ok(Fork::Child) => {
            while peek(page) == 0 {
                api::yield_thread();
            }
            let mut probe = Probe::new(21);
            let mut buffers = [JinueBuffer::default(); 2];
            let mut reply = [0u8; 8];
            for n in 0..ROUND_TRIPS {
                let request = n.to_le_bytes();
                let mut msg = message(&request, &mut reply, &mut buffers);
                let msg_addr = &raw mut msg as u64;
                probe.call([JINUE_SYS_USER_BASE, CHILD_ENDPOINT, msg_addr, 0]);
                core::hint::black_box(&mut msg);
            }
            poke(page + 16, probe.moves);
            poke(page + 8, probe.wrong);
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            check_eq!(
                c,
                api::mint_into(ENDPOINT, child.process, CHILD_ENDPOINT, JINUE_PERM_SEND, 0),
                Ok(())
            );
            poke(page, 1);
            let mut probe = Probe::new(22);
            let mut buffers = [JinueBuffer::default(); 2];
            let mut request = [0u8; 8];
            let mut failed_calls = 0;
            for _ in 0..ROUND_TRIPS {
                let mut msg = message(&[], &mut request, &mut buffers);
                let msg_addr = &raw mut msg as u64;
                let size = probe.call([JINUE_SYS_RECEIVE, ENDPOINT, msg_addr, 0]);
                core::hint::black_box(&mut msg);
                let answer = request;
                let mut msg = message(&answer, &mut [], &mut buffers);
                let msg_addr = &raw mut msg as u64;
                let replied = probe.call([JINUE_SYS_REPLY, 0, msg_addr, 0]);
                core::hint::black_box(&mut msg);
                if size != 8 || replied != 0 {
                    failed_calls += 1;
                }
            }
            check_eq!(c, child.wait(), Ok(0), "the client's thread");
            check_eq!(
                c,
                failed_calls,
                0,
                "round trips whose RECEIVE or REPLY failed"
            );
            check_eq!(
                c,
                probe.wrong,
                0,
                "server calls whose x87/SSE registers came back changed"
            );
            check_eq!(
                c,
                peek(page + 8),
                0,
                "client calls whose x87/SSE registers came back changed (u64::MAX: it never reported)"
            );
            println!(
                "cpu_state: fp_state_across_ipc_between_processes: {} CPU(s), {} moves of the server and {} of the client seen",
                NCPU.load(Ordering::SeqCst),
                probe.moves,
                peek(page + 16)
            );
        }
        Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
    }
    check_eq!(c, api::close(ENDPOINT), Ok(()));
}

/// The child of `fork` starts with the x87/SSE state its parent had at the
/// call (the runtime's FXSAVE64/FXRSTOR64 around it): MXCSR and the x87
/// control word, which the calling convention preserves across a call.
pub fn fork_copies_fp_state(c: &mut Case) {
    let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
    let page = shared.addr();
    poke(page, u64::MAX);
    let parent = FpState::of(7, 3);
    set_fp_controls(parent.mxcsr, parent.fcw);
    let forked = fork();
    let (mxcsr, fcw) = fp_controls();
    set_fp_controls(DEFAULTS.mxcsr, DEFAULTS.fcw);
    match forked {
        Ok(Fork::Child) => {
            poke(page, u64::from(mxcsr) | u64::from(fcw) << 32);
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            check_eq!(c, child.wait(), Ok(0));
            check_eq!(
                c,
                (mxcsr, fcw),
                (parent.mxcsr, parent.fcw),
                "the parent's MXCSR and x87 control word after fork"
            );
            let got = peek(page);
            check_eq!(
                c,
                (got as u32, (got >> 32) as u16),
                (parent.mxcsr, parent.fcw),
                "the child's MXCSR and x87 control word"
            );
        }
        Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
    }
}

/// Loads MXCSR and the x87 control word (only the integer code of `fork`
/// runs until [`fp_controls`] reads them back and the defaults return).
fn set_fp_controls(mxcsr: u32, fcw: u16) {
    // SAFETY: reads the two locals only; valid values (no reserved bit).
    unsafe {
        asm!(
            "ldmxcsr [{m}]", "fldcw [{w}]",
            m = in(reg) &mxcsr, w = in(reg) &fcw,
            options(nostack, readonly),
        );
    }
}

/// MXCSR and the x87 control word.
fn fp_controls() -> (u32, u16) {
    let mut mxcsr = 0u32;
    let mut fcw = 0u16;
    // SAFETY: writes the two locals only.
    unsafe {
        asm!(
            "stmxcsr [{m}]", "fnstcw [{w}]",
            m = in(reg) &mut mxcsr, w = in(reg) &mut fcw,
            options(nostack),
        );
    }
    (mxcsr, fcw)
}
