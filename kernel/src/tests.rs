//! Host tests of the whole core: a `Kernel` over `mm::sim::SimPhys`, a fake `Platform`, a tiny init ELF, syscalls driven through `handle_trap`.

extern crate std;

use crate::elf_image::tests::make_elf;
use crate::{Kernel, Next, Platform, Trap, UserContext, MAX_PROCESSES};
use abi::errors::*;
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE, USER_LIMIT};
use abi::memstat::MemStat;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::regs::SyscallArgs;
use abi::types::{JinueBuffer, KnCap, KnRgnDesc, KnRgnStat, MCloneArgs, MintArgs, Wire};
use elf::abi::{ET_EXEC, PF_R, PF_W, PF_X};
use mm::sim::SimPhys;
use mm::Memory;
use std::boxed::Box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// What the fake `power_off` / `reboot` unwind with.
#[derive(Debug, PartialEq, Eq)]
struct PowerOff(u8);
#[derive(Debug, PartialEq, Eq)]
struct Rebooted;

#[derive(Default)]
struct FakePlat {
    lines: Vec<String>,
    active: u64,
    flushes: usize,
    random: Option<u64>,
    clock: u64,
}

impl Platform for FakePlat {
    fn activate_space(&mut self, root: u64) {
        self.active = root;
    }
    fn flush(&mut self, _root: u64, _start: u64, _end: u64) {
        self.flushes += 1;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.lines.push(String::from_utf8_lossy(bytes).into_owned());
    }
    fn power_off(&mut self, status: u8) -> ! {
        std::panic::panic_any(PowerOff(status))
    }
    fn reboot(&mut self) -> ! {
        std::panic::panic_any(Rebooted)
    }
    fn hardware_random(&mut self) -> Option<u64> {
        let r = self.random?;
        self.random = Some(r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        Some(r)
    }
    fn timestamp(&mut self) -> u64 {
        self.clock += 17;
        self.clock
    }
}

const TEXT: u64 = 0x40_0000;
const DATA: u64 = 0x40_1000;
const DATA_LEN: u64 = 0x10000;
/// Scratch memory for argument structures (inside DATA's .bss).
const S: u64 = DATA + 0x1000;
const KERNEL_ADDR: u64 = 0xffff_8000_0000_1000;
const OK: Result<u64, u64> = Ok(0);

struct World {
    k: Kernel<SimPhys>,
    plat: FakePlat,
    ctx: UserContext,
    /// `mm`'s statistics before the init process existed.
    baseline: MemStat,
}

/// Power-off and reboot unwind through the fake platform; keep the default
/// panic message for real panics only.
fn quiet_power_off() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if !p.is::<PowerOff>() && !p.is::<Rebooted>() {
                default(info);
            }
        }));
    });
}

fn init_elf() -> Vec<u8> {
    make_elf(
        TEXT,
        ET_EXEC,
        &[
            (TEXT, PF_R | PF_X, &[0x90, 0x90, 0xcc, 0xc3], 4),
            (DATA, PF_R | PF_W, b"initialized data", DATA_LEN),
        ],
    )
}

impl World {
    fn boot() -> World {
        Self::boot_with("init one two", None)
    }

    fn boot_with(cmdline: &str, random: Option<u64>) -> World {
        quiet_power_off();
        let (phys, ranges) = SimPhys::new(4096);
        let mem = Memory::new(phys, &ranges, &[0u64; 256]);
        let mut plat = FakePlat {
            random,
            ..FakePlat::default()
        };
        let mut k = Kernel::new(mem, &mut plat);
        let baseline = k.memory().memstat();
        let next = k.start_init(&init_elf(), cmdline, 1, &mut plat).unwrap();
        assert_eq!(next, Next::RunUser);
        let mut ctx = UserContext::zeroed();
        assert!(k.load_current_context(&mut ctx));
        World {
            k,
            plat,
            ctx,
            baseline,
        }
    }

    fn trap(&mut self, trap: Trap) -> Next {
        self.k.handle_trap(&mut self.ctx, trap, &mut self.plat)
    }

    fn call(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> SyscallArgs {
        self.ctx.rax = n;
        self.ctx.rdi = a1;
        self.ctx.rsi = a2;
        self.ctx.rdx = a3;
        let next = self.trap(Trap::Syscall {
            via_interrupt: false,
        });
        assert_eq!(next, Next::RunUser);
        self.ctx.syscall_args()
    }

    /// A Jinue-convention call: `Ok(arg0)` or `Err(errno)`; arg2, arg3 are 0.
    fn j(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, u64> {
        let r = self.call(n, a1, a2, a3);
        assert_eq!((r.arg2, r.arg3), (0, 0));
        if r.jinue_result().is_ok() {
            assert_eq!(r.arg1, 0);
        }
        r.jinue_result()
    }

    /// A ChorusOS-convention call: `Ok(arg0)` or `Err(code)`; arg1..3 are 0.
    fn c(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, i64> {
        let r = self.call(n, a1, a2, a3);
        assert_eq!((r.arg1, r.arg2, r.arg3), (0, 0, 0));
        r.chorus_result()
    }

    fn space(&self) -> mm::SpaceId {
        self.k.caller().unwrap().space
    }

    fn poke(&mut self, addr: u64, bytes: &[u8]) {
        let space = self.space();
        self.k.mem.write_user(space, addr, bytes).unwrap();
    }

    fn peek(&mut self, addr: u64, len: usize) -> Vec<u8> {
        let space = self.space();
        let mut v = vec![0u8; len];
        self.k.mem.read_user(space, addr, &mut v).unwrap();
        v
    }

    fn put<T: Wire>(&mut self, addr: u64, v: &T) {
        let mut b = vec![0u8; T::SIZE];
        v.to_bytes(&mut b);
        self.poke(addr, &b);
    }

    fn get<T: Wire>(&mut self, addr: u64) -> T {
        let b = self.peek(addr, T::SIZE);
        T::from_bytes(&b)
    }

    fn memstat(&mut self) -> MemStat {
        assert_eq!(self.j(FERRITE_SYS_MEMSTAT, S + 0x800, 48, 0), OK);
        self.get(S + 0x800)
    }

    fn cap_of(&mut self, fd: u64, at: u64) -> KnCap {
        assert_eq!(self.j(FERRITE_SYS_ACTOR_CAP, fd, at, 0), OK);
        self.get(at)
    }

    /// Creates process `pfd` holding a private copy of the caller's memory
    /// and a started thread `tfd` at the text, which has not run yet.
    fn spawn(&mut self, pfd: u64, tfd: u64) {
        assert_eq!(self.j(JINUE_SYS_CREATE_PROCESS, pfd, 0, 0), OK);
        let cap_at = S + 0x200 + pfd * 16;
        self.cap_of(pfd, cap_at);
        assert_eq!(
            self.c(K_SYS_RGN_DUP, cap_at, K_MYACTOR, K_INHERITCOPY),
            Ok(0)
        );
        assert_eq!(self.j(JINUE_SYS_CREATE_THREAD, tfd, pfd, 0), OK);
        assert_eq!(
            self.j(JINUE_SYS_START_THREAD, tfd, TEXT, JINUE_STACK_BASE - 64),
            OK
        );
    }

    /// Yields; the context is then the next ready thread's.
    fn yield_now(&mut self) {
        assert_eq!(self.j(JINUE_SYS_YIELD_THREAD, 0, 0, 0), OK);
    }

    fn current_number(&self) -> u64 {
        let t = self.k.sched.current.unwrap();
        self.k.threads.get(t.0).unwrap().number
    }

    /// Destroys every process (init included, without powering off) and
    /// checks that all user memory, page tables and commitments are back.
    fn assert_teardown_restores_baseline(&mut self) {
        let ids: Vec<_> = self
            .k
            .processes
            .ids()
            .map(crate::process::ProcessId)
            .collect();
        for id in ids {
            if let Some(p) = self.k.processes.get_mut(id.0) {
                p.is_init = false;
            }
            self.k.destroy_process(id, &mut self.plat);
        }
        assert_eq!(self.k.process_count(), 0);
        let end = self.k.memory().memstat();
        let b = self.baseline;
        assert_eq!(
            (
                end.user_frames,
                end.table_frames,
                end.committed_frames,
                end.free_frames
            ),
            (
                b.user_frames,
                b.table_frames,
                b.committed_frames,
                b.free_frames
            )
        );
    }

    /// Runs `f`, which must power off; returns the status.
    fn power_off_status(&mut self, f: impl FnOnce(&mut World)) -> u8 {
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        let payload = r.expect_err("expected a power-off");
        match payload.downcast::<PowerOff>() {
            Ok(p) => p.0,
            Err(other) => std::panic::resume_unwind(other),
        }
    }
}

fn desc(start: u64, size: u64, options: u64) -> KnRgnDesc {
    KnRgnDesc {
        startAddr: start,
        size,
        options,
        ..KnRgnDesc::default()
    }
}

#[test]
fn init_image_stack_and_descriptors() {
    let mut w = World::boot();
    assert_eq!(w.ctx.rip, TEXT);
    assert_eq!(w.ctx.rsp % 16, 0);
    assert_eq!(w.ctx.rflags, 0x202);
    assert_eq!(w.ctx.rax | w.ctx.rbx | w.ctx.rdi | w.ctx.r15, 0);
    let rsp = w.ctx.rsp;
    let words: Vec<u64> = w
        .peek(rsp, 8 * 22)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words[0], 3, "argc");
    let arg = |w: &mut World, addr: u64| {
        let b = w.peek(addr, (JINUE_STACK_BASE - addr).min(8) as usize);
        let end = b.iter().position(|c| *c == 0).unwrap();
        String::from_utf8(b[..end].to_vec()).unwrap()
    };
    assert_eq!(arg(&mut w, words[1]), "init");
    assert_eq!(arg(&mut w, words[2]), "one");
    assert_eq!(arg(&mut w, words[3]), "two");
    assert_eq!((words[4], words[5]), (0, 0));
    let auxv: Vec<(u64, u64)> = words[6..22].chunks(2).map(|p| (p[0], p[1])).collect();
    assert!(auxv.contains(&(abi::init::AT_ENTRY, TEXT)));
    assert!(auxv.contains(&(abi::init::AT_PAGESZ, PAGE_SIZE)));
    assert!(auxv.contains(&(abi::init::AT_PHNUM, 2)));
    assert!(auxv.contains(&(abi::init::JINUE_AT_STACKBASE, JINUE_STACK_BASE)));
    assert!(auxv.contains(&(abi::init::JINUE_AT_HOWSYSCALL, 1)));
    assert_eq!(auxv[7], (0, 0));
    // Segment contents and .bss.
    assert_eq!(w.peek(TEXT, 4), [0x90, 0x90, 0xcc, 0xc3]);
    assert_eq!(w.peek(DATA, 16), b"initialized data");
    assert_eq!(w.peek(DATA + 16, 16), [0; 16]);
    // Regions: text (read+exec), data (writable), stack; all K_INHERITCOPY.
    let buf = JinueBuffer {
        addr: S + 0x100,
        size: 48 * 8,
    };
    w.put(S, &desc(0x1000, USER_LIMIT - 0x1000, 0));
    w.put(S + 0x40, &buf);
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, S, S + 0x40), Ok(3));
    let stats: Vec<KnRgnStat> = (0..3).map(|i| w.get(S + 0x100 + 48 * i)).collect();
    assert_eq!(
        (stats[0].startAddr, stats[0].options),
        (TEXT, K_EXECUTABLE | K_INHERITCOPY)
    );
    assert_eq!(
        (stats[1].startAddr, stats[1].size, stats[1].options),
        (DATA, DATA_LEN, K_WRITABLE | K_INHERITCOPY)
    );
    assert_eq!(
        (stats[2].startAddr, stats[2].size, stats[2].options),
        (
            JINUE_STACK_BASE - JINUE_STACK_SIZE,
            JINUE_STACK_SIZE,
            K_WRITABLE | K_INHERITCOPY
        )
    );
    // The text is not writable by the checked copy either.
    let space = w.space();
    assert!(w.k.mem.write_user(space, TEXT, &[0]).is_err());
    // Descriptor 0: the process (MAP|OPEN|CREATE_THREAD, not owner).
    assert_eq!(w.j(JINUE_SYS_DESTROY, 0, 0, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 0, S, 0), OK);
    // Descriptor 1: the running main thread.
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 1, 0, 0), Err(JINUE_EDEADLK));
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 1, TEXT, S), Err(JINUE_EBUSY));
}

#[test]
fn bad_init_programs_are_refused() {
    let (phys, ranges) = SimPhys::new(512);
    let mem = Memory::new(phys, &ranges, &[0u64; 256]);
    let mut plat = FakePlat::default();
    let mut k = Kernel::new(mem, &mut plat);
    let dyn_elf = make_elf(TEXT, elf::abi::ET_DYN, &[(TEXT, PF_X, &[0xc3], 1)]);
    assert_eq!(
        k.start_init(&dyn_elf, "x", 1, &mut plat),
        Err(crate::InitError::NotExecutable)
    );
    assert_eq!(k.process_count(), 0);
    let huge = make_elf(TEXT, ET_EXEC, &[(TEXT, PF_X, &[0xc3], 0x1_0000_0000)]);
    assert_eq!(
        k.start_init(&huge, "x", 1, &mut plat),
        Err(crate::InitError::NoMemory)
    );
    assert_eq!(k.process_count(), 0, "nothing left behind");
}

#[test]
fn function_numbers_and_preserved_registers() {
    let mut w = World::boot();
    w.ctx.rbx = 0x1111;
    w.ctx.r12 = 0x2222;
    w.ctx.rcx = 0x3333;
    w.ctx.fpu[200] = 0x44;
    assert_eq!(w.j(u64::MAX, 0, 0, 0), Err(JINUE_EINVAL));
    assert_eq!(w.j(1 << 63, 0, 0, 0), Err(JINUE_EINVAL));
    for n in [0, 1, 7, 8, 13, 23, 63, 71, 95, 99, 0x8000_0000, 1 << 40] {
        let r = w.call(n, 5, 6, 7);
        assert_eq!(
            (r.arg0 as i64, r.arg1, r.arg2, r.arg3),
            (-1, JINUE_ENOSYS, 0, 0),
            "{n}"
        );
    }
    assert_eq!(
        (w.ctx.rbx, w.ctx.r12, w.ctx.rcx, w.ctx.fpu[200]),
        (0x1111, 0x2222, 0x3333, 0x44)
    );
}

#[test]
fn puts_set_thread_local_memstat() {
    let mut w = World::boot();
    w.poke(S, b"hello\nworld");
    assert_eq!(w.j(JINUE_SYS_PUTS, 'I' as u64, S, 11), OK);
    assert_eq!(w.plat.lines.last().unwrap(), "[init] hello world\n");
    assert_eq!(w.j(JINUE_SYS_PUTS, 'W' as u64, S, 5), OK);
    assert_eq!(w.plat.lines.last().unwrap(), "[init] warning: hello\n");
    assert_eq!(w.j(JINUE_SYS_PUTS, 'X' as u64, S, 5), Err(JINUE_EINVAL));
    assert_eq!(w.j(JINUE_SYS_PUTS, 'I' as u64, S, 121), Err(JINUE_EINVAL));
    assert_eq!(w.j(JINUE_SYS_PUTS, 'I' as u64, S, 120), OK);
    assert_eq!(
        w.j(JINUE_SYS_PUTS, 'I' as u64, KERNEL_ADDR, 5),
        Err(JINUE_EINVAL)
    );
    assert_eq!(w.j(JINUE_SYS_PUTS, 'I' as u64, 0x10, 5), Err(JINUE_EINVAL));
    assert_eq!(
        w.j(JINUE_SYS_PUTS, 'I' as u64, 0x20_0000, 5),
        Err(JINUE_EINVAL),
        "unmapped"
    );
    assert_eq!(
        w.j(JINUE_SYS_PUTS, 'I' as u64, USER_LIMIT - 2, 5),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_PUTS, 'I' as u64, 1, 0),
        OK,
        "empty: no byte to check"
    );
    assert_eq!(w.plat.lines.last().unwrap(), "[init] \n");
    assert_eq!(
        w.j(JINUE_SYS_SET_THREAD_LOCAL, USER_LIMIT, 0, 0),
        Err(JINUE_EINVAL)
    );

    assert_eq!(w.j(JINUE_SYS_SET_THREAD_LOCAL, S, 64, 0), OK);
    assert_eq!(w.ctx.fs_base, S);
    assert_eq!(
        w.j(JINUE_SYS_SET_THREAD_LOCAL, USER_LIMIT - 8, 16, 0),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_SET_THREAD_LOCAL, KERNEL_ADDR, 8, 0),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_SET_THREAD_LOCAL, 0, 8, 0),
        Err(JINUE_EINVAL),
        "[0, 8) touches page 0"
    );
    assert_eq!(w.ctx.fs_base, S);
    assert_eq!(
        w.j(JINUE_SYS_SET_THREAD_LOCAL, 0, 0, 0),
        OK,
        "an empty area at 0 resets the fs base"
    );
    assert_eq!(w.ctx.fs_base, 0);

    w.poke(S, &[0xaa; 48]);
    assert_eq!(w.j(FERRITE_SYS_MEMSTAT, S, 8, 0), OK);
    assert_eq!(w.peek(S, 16)[..8], 4096u64.to_le_bytes());
    assert_eq!(w.peek(S + 8, 8), [0xaa; 8], "only `size` bytes written");
    assert_eq!(w.j(FERRITE_SYS_MEMSTAT, S, 0, 0), OK);
    assert_eq!(
        w.j(FERRITE_SYS_MEMSTAT, TEXT, 48, 0),
        Err(JINUE_EINVAL),
        "read-only"
    );
    assert_eq!(
        w.j(FERRITE_SYS_MEMSTAT, KERNEL_ADDR, 48, 0),
        Err(JINUE_EINVAL)
    );
    let m = w.memstat();
    assert_eq!(m.page_size, 4096);
    assert!(m.user_frames > 0);
}

#[test]
fn poweroff_and_reboot() {
    let mut w = World::boot();
    assert_eq!(w.j(FERRITE_SYS_POWEROFF, 256, 0, 0), Err(JINUE_EINVAL));
    assert_eq!(w.j(FERRITE_SYS_POWEROFF, u64::MAX, 0, 0), Err(JINUE_EINVAL));
    // A process other than init may not power off or reboot.
    w.spawn(10, 11);
    w.yield_now();
    assert_eq!(w.ctx.rip, TEXT);
    assert_eq!(w.j(FERRITE_SYS_POWEROFF, 0, 0, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(JINUE_SYS_REBOOT, 0, 0, 0), Err(JINUE_EPERM));
    w.poke(S, b"child");
    assert_eq!(w.j(JINUE_SYS_PUTS, 'E' as u64, S, 5), OK);
    let line = w.plat.lines.last().unwrap().clone();
    assert!(
        line.starts_with("[p") && line.ends_with("] error: child\n"),
        "{line}"
    );
    w.yield_now();
    assert_eq!(
        w.power_off_status(|w| {
            w.call(FERRITE_SYS_POWEROFF, 7, 0, 0);
        }),
        7
    );
    let r = catch_unwind(AssertUnwindSafe(|| w.call(JINUE_SYS_REBOOT, 0, 0, 0)));
    assert!(r.unwrap_err().downcast::<Rebooted>().is_ok());
}

#[test]
fn descriptor_rules() {
    let mut w = World::boot();
    for bad in [1024, u64::MAX, 1 << 31, (-5i64) as u64] {
        assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, bad, 0, 0), Err(JINUE_EBADF));
        assert_eq!(w.j(JINUE_SYS_CLOSE, bad, 0, 0), Err(JINUE_EBADF));
    }
    assert_eq!(
        w.j(JINUE_SYS_CREATE_PROCESS, 1, 0, 0),
        Err(JINUE_EBADF),
        "in use"
    );
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 1023, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CLOSE, 500, 0, 0), Err(JINUE_EBADF), "free");

    // DUP: owner descriptors refuse; target needs OPEN; destination must be free.
    assert_eq!(
        w.j(JINUE_SYS_DUP, 0, 1023, 7),
        Err(JINUE_EBADF),
        "owner source"
    );
    assert_eq!(
        w.j(JINUE_SYS_DUP, 0, 1, 1),
        Err(JINUE_EBADF),
        "destination in use"
    );
    assert_eq!(w.j(JINUE_SYS_DUP, 0, 1, 1024), Err(JINUE_EBADF));
    assert_eq!(w.j(JINUE_SYS_DUP, 0, 0, 7), OK);
    assert_eq!(w.j(JINUE_SYS_DUP, 1023, 1, 3), OK, "into the child");
    assert_eq!(
        w.j(JINUE_SYS_DUP, 1, 0, 8),
        Err(JINUE_EBADF),
        "target not a process"
    );

    // MINT: owner only; perms non-empty and of the type; target needs OPEN.
    let mint = |process: i32, fd: i32, perms: i32| MintArgs {
        process,
        fd,
        perms,
        _pad: 0,
        cookie: 99,
    };
    w.put(S, &mint(0, 20, JINUE_PERM_MAP as i32));
    assert_eq!(w.j(JINUE_SYS_MINT, 0, S, 0), Err(JINUE_EPERM), "not owner");
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, KERNEL_ADDR, 0), Err(JINUE_EINVAL));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), OK);
    w.put(S, &mint(0, 21, 0));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), Err(JINUE_EINVAL), "empty");
    w.put(S, &mint(0, 21, JINUE_PERM_START as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EINVAL),
        "thread perm"
    );
    w.put(S, &mint(0, 20, JINUE_PERM_OPEN as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EBADF),
        "fd in use"
    );
    w.put(S, &mint(-1, 21, JINUE_PERM_OPEN as i32));
    assert_eq!(w.j(JINUE_SYS_MINT, 1023, S, 0), Err(JINUE_EBADF));
    w.put(S, &mint(20, 21, JINUE_PERM_OPEN as i32));
    assert_eq!(
        w.j(JINUE_SYS_MINT, 1023, S, 0),
        Err(JINUE_EPERM),
        "target lacks OPEN"
    );
    // The minted descriptor (MAP only) is no owner and cannot give OPEN.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 20, 0, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 20, S, 0), Err(JINUE_EPERM));
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 30, 20, 0), Err(JINUE_EPERM));

    // DESTROY: the descriptors stay, naming a dead object (EIO), until closed.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 1023, 0, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 1023, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 20, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_DESTROY, 1023, 0, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 30, 1023, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_DUP, 1023, 0, 5), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CLOSE, 1023, 0, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 1023, S, 0), Err(JINUE_EBADF));
    assert_eq!(w.j(JINUE_SYS_CLOSE, 20, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_DESTROY, 1, 0, 0),
        Err(JINUE_EPERM),
        "thread, not owner"
    );
}

#[test]
fn thread_lifecycle_and_await() {
    let mut w = World::boot();
    let main = w.current_number();
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0),
        Err(JINUE_EBADF),
        "in use"
    );
    assert_eq!(
        w.j(JINUE_SYS_CREATE_THREAD, 6, 1, 0),
        Err(JINUE_EBADF),
        "not a process"
    );
    assert_eq!(
        w.j(JINUE_SYS_DESTROY, 5, 0, 0),
        Err(JINUE_EBADF),
        "a thread is not destroyed"
    );
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0),
        Err(JINUE_ESRCH),
        "never started"
    );
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 0, 0, 0),
        Err(JINUE_EBADF),
        "a process"
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, USER_LIMIT, S),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, TEXT, USER_LIMIT),
        Err(JINUE_EINVAL)
    );
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 9, TEXT, S), Err(JINUE_EBADF));
    // A minted AWAIT-only copy lacks START.
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 6,
            perms: JINUE_PERM_AWAIT as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 5, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 6, TEXT, S), Err(JINUE_EPERM));
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 7,
            perms: JINUE_PERM_START as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 5, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 7, 0, 0), Err(JINUE_EPERM));

    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT + 1, S + 0x800), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), Err(JINUE_EBUSY));
    // Main awaits: it parks and the new thread runs with a fresh context.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 5;
    w.ctx.rbx = 0xb0b;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: true
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), main);
    assert_eq!(
        (w.ctx.rip, w.ctx.rsp, w.ctx.rbx, w.ctx.rax),
        (TEXT + 1, S + 0x800, 0, 0)
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Err(JINUE_EDEADLK));
    // Exit: main wakes with 0 and its own registers.
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.current_number(), main);
    assert_eq!((w.ctx.rax, w.ctx.rdi, w.ctx.rbx), (0, 0, 0xb0b));
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0),
        Err(JINUE_ESRCH),
        "already awaited"
    );
    assert_eq!(
        w.j(JINUE_SYS_START_THREAD, 5, TEXT, S),
        Err(JINUE_EBUSY),
        "threads run once"
    );

    // A thread that ends before the await: AWAIT returns at once; a fault gives 1.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 8, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 8, TEXT, S), OK);
    w.yield_now();
    assert_eq!(w.ctx.rip, TEXT);
    let n = w.current_number();
    w.ctx.rip = 0x1234;
    let next = w.trap(Trap::Exception {
        vector: 13,
        error_code: 0,
        fault_addr: 0,
    });
    assert_eq!(next, Next::RunUser);
    assert_eq!(w.current_number(), main);
    let line = w.plat.lines.last().unwrap().clone();
    assert!(
        line.contains("[init]") && line.contains(&std::format!("thread {n}")),
        "{line}"
    );
    assert!(
        line.contains("#GP") && line.contains("rip 0x1234"),
        "{line}"
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 8, 0, 0), Ok(1));
    // Closing the last descriptors frees the thread objects.
    let before = w.k.thread_count();
    for fd in [5, 6, 7, 8] {
        assert_eq!(w.j(JINUE_SYS_CLOSE, fd, 0, 0), OK);
    }
    assert_eq!(w.k.thread_count(), before - 2);
}

#[test]
fn page_faults_resolve_or_kill() {
    let mut w = World::boot();
    // A write to untouched .bss is demand paging: resolved, the thread resumes.
    let next = w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE,
        fault_addr: DATA + 0x8000,
    });
    assert_eq!(next, Next::RunUser);
    assert_eq!(w.j(JINUE_SYS_YIELD_THREAD, 0, 0, 0), OK, "still running");
    // A second thread faults on an unmapped address: only it dies.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), OK);
    w.yield_now();
    w.ctx.rip = TEXT + 2;
    let next = w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE,
        fault_addr: 0x20_0000,
    });
    assert_eq!(next, Next::RunUser);
    let line = w.plat.lines.last().unwrap().clone();
    assert!(
        line.contains("#PF") && line.contains("0x200000") && line.contains("rip 0x400002"),
        "{line}"
    );
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Ok(1));
    // Writing the text is a protection violation.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 6, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 6, TEXT, S), OK);
    w.yield_now();
    w.trap(Trap::Exception {
        vector: 14,
        error_code: crate::fault::PF_USER | crate::fault::PF_WRITE | crate::fault::PF_PRESENT,
        fault_addr: TEXT,
    });
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 6, 0, 0), Ok(1));
}

#[test]
fn timer_round_robin() {
    let mut w = World::boot();
    let main = w.current_number();
    for fd in [5, 6] {
        assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, fd, 0, 0), OK);
        assert_eq!(w.j(JINUE_SYS_START_THREAD, fd, TEXT, S), OK);
    }
    w.ctx.r9 = 9;
    let mut seen = Vec::new();
    for _ in 0..6 {
        assert_eq!(w.trap(Trap::Timer), Next::RunUser);
        seen.push(w.current_number());
    }
    assert_eq!(seen[0..3], seen[3..6]);
    assert_eq!(seen[2], main);
    assert_eq!(w.ctx.r9, 9, "main's registers come back");
    assert!(seen[0] != seen[1] && seen[0] != main && seen[1] != main);
}

#[test]
fn capabilities() {
    let mut w = World::boot_with("init", Some(0x1234_5678_9abc_def0));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, S, 0, 0), Ok(0));
    let me: KnCap = w.get(S);
    assert_eq!(me.ui.head >> 27, 1, "actor type");
    assert_eq!(me.ui.tail, 1, "site");
    assert_eq!(w.c(K_SYS_ACTOR_SELF, TEXT, 0, 0), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, 0, 0, 0), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_ACTOR_SELF, KERNEL_ADDR, 0, 0), Err(K_EFAULT));
    assert_eq!(w.cap_of(0, S + 16), me);

    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    let child = w.cap_of(10, S + 32);
    assert_eq!(
        child.ui.head & UI_STAMP_MASK,
        (me.ui.head & UI_STAMP_MASK) + 1
    );
    assert_ne!(child.key, me.key);

    w.put(S + 0x100, &desc(0x80_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, S + 32, S + 0x100, 0), Ok(0));
    let mut bad = child;
    bad.key.tail ^= 1;
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EINVAL),
        "wrong key"
    );
    let mut bad = child;
    bad.ui.head = (2 << 27) | (child.ui.head & UI_STAMP_MASK);
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EINVAL),
        "wrong type"
    );
    let mut bad = child;
    bad.ui.tail = 2;
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EUNKNOWN),
        "other site"
    );
    let mut bad = child;
    bad.ui.head = actor_ui_head(4000);
    w.put(S + 48, &bad);
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 48, S + 0x100, 0),
        Err(K_EUNKNOWN),
        "never existed"
    );
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_SVACTOR, S + 0x100, 0),
        Err(K_EINVAL)
    );
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, 0, S + 0x100, 0), Err(K_EFAULT));

    // Deleting the actor: the capability becomes unreachable, the stamp is not reused.
    assert_eq!(w.c(K_SYS_ACTOR_DELETE, S + 32, 0, 0), Ok(0));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, S + 32, S + 0x100, 0),
        Err(K_EUNKNOWN)
    );
    assert_eq!(w.c(K_SYS_ACTOR_DELETE, S + 32, 0, 0), Err(K_EUNKNOWN));
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let next = w.cap_of(11, S + 64);
    assert_eq!(
        next.ui.head & UI_STAMP_MASK,
        (child.ui.head & UI_STAMP_MASK) + 1
    );
}

#[test]
fn keys_without_hardware_randomness_differ() {
    let mut w = World::boot_with("init", None);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let a = w.cap_of(10, S);
    let b = w.cap_of(11, S + 16);
    assert_ne!(a.key, b.key);
    assert_ne!(a.key, abi::types::KnKey::default());
}

#[test]
fn region_calls() {
    let mut w = World::boot();
    let r = S + 0x100;
    let base = 0x100_0000;
    w.put(r, &desc(base + 1, PAGE_SIZE, K_WRITABLE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "misaligned"
    );
    w.put(r, &desc(base, 0, K_WRITABLE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "size 0"
    );
    w.put(r, &desc(base, PAGE_SIZE, K_NOACCESS));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "option"
    );
    w.put(r, &desc(base, PAGE_SIZE, K_INHERITCOPY | K_INHERITSHARE));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0),
        Err(K_EINVAL),
        "two inherit bits"
    );
    w.put(r, &desc(DATA, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Err(K_EOVERLAP));
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, KERNEL_ADDR, 0),
        Err(K_EFAULT)
    );
    assert_eq!(
        w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, TEXT, 0),
        Err(K_EINVAL),
        "text holds garbage options"
    );

    let m0 = w.memstat();
    w.put(
        r,
        &desc(base, 3 * PAGE_SIZE - 5, K_WRITABLE | K_INHERITSHARE),
    );
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.poke(base + 10, b"x");
    assert_eq!(w.peek(base + 10, 1), b"x");
    // K_ANYWHERE writes the chosen address back; a read-only descriptor is refused first.
    w.put(r, &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    let got: KnRgnDesc = w.get(r);
    assert!(got.startAddr >= 0x1000 && got.startAddr.is_multiple_of(PAGE_SIZE));
    // A read-only descriptor with K_ANYWHERE: K_EFAULT, and nothing allocated.
    let ro = 0x300_0000;
    w.put(r, &desc(ro, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.put(ro, &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE));
    w.put(r, &desc(ro, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Ok(0));
    let regions = w.k.mem.region_count(w.space());
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, ro, 0), Err(K_EFAULT));
    assert_eq!(w.k.mem.region_count(w.space()), regions);
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(got.startAddr, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));

    // STAT: count all, write what fits.
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 47,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(1));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 48,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(1));
    let st: KnRgnStat = w.get(S + 0x300);
    assert_eq!(
        (st.startAddr, st.size, st.options),
        (base, 3 * PAGE_SIZE, K_WRITABLE | K_INHERITSHARE)
    );
    assert_eq!(st.resident, 1);
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: TEXT,
            size: 48,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Err(K_EFAULT));

    // SET_PROTECT / SET_INHERIT cut at the range edges; bad bits are refused.
    w.put(r, &desc(base + PAGE_SIZE, PAGE_SIZE, K_NOACCESS));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(base + PAGE_SIZE, PAGE_SIZE, K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Err(K_EINVAL));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(base, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Err(K_EINVAL));
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    assert_eq!(
        w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200),
        Err(K_EFAULT),
        "buffer still read-only"
    );
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 48 * 4,
        },
    );
    assert_eq!(w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x200), Ok(3));
    let mid: KnRgnStat = w.get(S + 0x300 + 48);
    assert_eq!(
        (mid.startAddr, mid.options),
        (base + PAGE_SIZE, K_NOACCESS | K_INHERITCOPY)
    );

    // FREE: options must be 0 or K_FREEALL.
    w.put(r, &desc(base, 3 * PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Err(K_EINVAL));
    w.put(r, &desc(base, 3 * PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    let m1 = w.memstat();
    assert_eq!(
        (m1.user_frames, m1.committed_frames),
        (m0.user_frames, m0.committed_frames)
    );
}

#[test]
fn mclone_error_order() {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    // 11: a MAP-less copy of 10; 12: a thread.
    w.put(
        S,
        &MintArgs {
            process: 0,
            fd: 11,
            perms: JINUE_PERM_OPEN as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 10, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 12, 0, 0), OK);
    let a = S + 0x100;
    let args = |src: u64, dst: u64, len: u64, prot: i32| MCloneArgs {
        src_addr: src,
        dest_addr: dst,
        length: len,
        prot,
        _pad: 0,
    };
    let good = args(
        DATA,
        0x80_0000,
        2 * PAGE_SIZE,
        JINUE_PROT_READ | JINUE_PROT_WRITE,
    );
    let mc = |w: &mut World, src: u64, dst: u64, a: MCloneArgs| {
        w.put(S + 0x100, &a);
        w.j(JINUE_SYS_MCLONE, src, dst, S + 0x100)
    };
    // 1. descriptor values, before the structure is even read.
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 1024, 10, KERNEL_ADDR),
        Err(JINUE_EBADF)
    );
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 0, u64::MAX, KERNEL_ADDR),
        Err(JINUE_EBADF)
    );
    // 2. the structure.
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 500, 501, KERNEL_ADDR),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        w.j(JINUE_SYS_MCLONE, 500, 501, 0x20_0000),
        Err(JINUE_EINVAL)
    );
    // 3. alignment, before prot and descriptors.
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA + 1, 0x80_0000, 0, 99)),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA, 0x80_0000, 5, 0)),
        Err(JINUE_EINVAL)
    );
    // 4. prot.
    assert_eq!(
        mc(&mut w, 500, 501, args(DATA, 0x80_0000, 0, 8)),
        Err(JINUE_EINVAL)
    );
    // 5. ranges in the kernel, before descriptor contents.
    assert_eq!(
        mc(&mut w, 500, 501, args(0, 0x80_0000, PAGE_SIZE, 1)),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(
            &mut w,
            500,
            501,
            args(DATA, USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE, 1)
        ),
        Err(JINUE_EINVAL)
    );
    assert_eq!(
        mc(
            &mut w,
            500,
            501,
            args(u64::MAX - 0xfff, DATA, 2 * PAGE_SIZE, 1)
        ),
        Err(JINUE_EINVAL)
    );
    // 6. source: free, not a process.
    assert_eq!(mc(&mut w, 500, 501, good), Err(JINUE_EBADF));
    assert_eq!(mc(&mut w, 12, 501, good), Err(JINUE_EBADF));
    // 7. destination.
    assert_eq!(mc(&mut w, 0, 501, good), Err(JINUE_EBADF));
    assert_eq!(mc(&mut w, 0, 1, good), Err(JINUE_EBADF));
    // 8. MAP on the destination only.
    assert_eq!(mc(&mut w, 0, 11, good), Err(JINUE_EPERM));
    assert_eq!(mc(&mut w, 11, 10, good), OK);
    // Dead processes are EIO (6 before 7 before 8).
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 20, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 20, 0, 0), OK);
    assert_eq!(mc(&mut w, 20, 501, good), Err(JINUE_EIO));
    assert_eq!(mc(&mut w, 0, 20, good), Err(JINUE_EIO));
    // length 0 succeeds; same process and overlapping ranges are allowed.
    assert_eq!(mc(&mut w, 0, 0, args(DATA, 0x90_0000, 0, 0)), OK);
    w.poke(DATA + 0x3000, b"shared");
    assert_eq!(
        mc(&mut w, 0, 0, args(DATA + 0x3000, 0x90_0000, PAGE_SIZE, 3)),
        OK
    );
    assert_eq!(w.peek(0x90_0000, 6), b"shared");
    w.poke(0x90_0000, b"SHARED");
    assert_eq!(w.peek(DATA + 0x3000, 6), b"SHARED");
    let _ = a;
}

#[test]
fn rgn_dup_error_order_and_semantics() {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    let child = w.cap_of(10, S);
    let mut wrong_key = child;
    wrong_key.key.head ^= 0x8000_0000;
    w.put(S + 16, &wrong_key);
    let mut gone = child;
    gone.ui.head = actor_ui_head(999);
    w.put(S + 32, &gone);
    let (good, bad_key, unknown) = (S, S + 16, S + 32);
    // 1. EFAULT beats everything (either pointer).
    assert_eq!(w.c(K_SYS_RGN_DUP, unknown, KERNEL_ADDR, 77), Err(K_EFAULT));
    assert_eq!(w.c(K_SYS_RGN_DUP, 0, bad_key, 77), Err(K_EFAULT));
    // 2. inconsistent (or K_SVACTOR) beats unreachable and flags.
    assert_eq!(w.c(K_SYS_RGN_DUP, unknown, bad_key, 77), Err(K_EINVAL));
    assert_eq!(w.c(K_SYS_RGN_DUP, K_SVACTOR, unknown, 77), Err(K_EINVAL));
    // 3. unreachable beats flags.
    assert_eq!(w.c(K_SYS_RGN_DUP, good, unknown, 77), Err(K_EUNKNOWN));
    // 4. flags beat overlap.
    assert_eq!(w.c(K_SYS_RGN_DUP, K_MYACTOR, K_MYACTOR, 77), Err(K_EINVAL));
    assert_eq!(
        w.c(
            K_SYS_RGN_DUP,
            good,
            K_MYACTOR,
            K_INHERITCOPY | K_INHERITSHARE
        ),
        Err(K_EINVAL)
    );
    // 5. a non-empty target.
    assert_eq!(w.c(K_SYS_RGN_DUP, K_MYACTOR, good, 0), Err(K_EOVERLAP));
    // Success: flags 0 follows each region's inherit bit; a copy is a snapshot.
    let r = S + 0x100;
    w.put(r, &desc(0x100_0000, PAGE_SIZE, K_WRITABLE | K_INHERITSHARE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.put(r, &desc(0x200_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Ok(0));
    w.poke(DATA + 0x4000, b"before");
    assert_eq!(w.c(K_SYS_RGN_DUP, good, K_MYACTOR, 0), Ok(0));
    w.poke(DATA + 0x4000, b"after!");
    assert_eq!(w.c(K_SYS_RGN_DUP, good, K_MYACTOR, 0), Err(K_EOVERLAP));
    w.put(r, &desc(0, USER_LIMIT, 0));
    w.put(
        S + 0x200,
        &JinueBuffer {
            addr: S + 0x300,
            size: 0,
        },
    );
    assert_eq!(
        w.c(K_SYS_RGN_STAT, good, r, S + 0x200),
        Ok(4),
        "text, data, shared, stack"
    );
    let child_space =
        w.k.processes
            .get(w.k.actors[&(child.ui.head & UI_STAMP_MASK)].0)
            .unwrap()
            .space;
    let mut b = [0u8; 6];
    w.k.mem
        .read_user(child_space, DATA + 0x4000, &mut b)
        .unwrap();
    assert_eq!(&b, b"before");
}

#[test]
fn process_lifecycle_and_memory_baseline() {
    let mut w = World::boot();
    // The first MEMSTAT touches its buffer's page; measure after that.
    w.memstat();
    let base = w.memstat();
    let procs = w.k.process_count();
    w.spawn(10, 11);
    assert_eq!(w.k.process_count(), procs + 1);
    // The child's only thread exits: the child is destroyed.
    w.yield_now();
    assert_eq!(w.ctx.rip, TEXT);
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.k.process_count(), procs);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(0));
    // A child that never ran a thread stays alive until destroyed.
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 12, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 13, 12, 0), OK);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 12, S, 0), OK);
    // Destroying a process with a parked thread and a running one.
    w.spawn(14, 15);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 14, 0, 0), OK);
    assert_eq!(
        w.j(JINUE_SYS_AWAIT_THREAD, 15, 0, 0),
        Ok(1),
        "stopped by the destruction"
    );
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 13, TEXT, S), OK);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 12, 0, 0), OK);
    for fd in 10..16 {
        assert_eq!(w.j(JINUE_SYS_CLOSE, fd, 0, 0), OK);
    }
    assert_eq!(w.k.process_count(), procs);
    assert_eq!(w.k.thread_count(), 1);
    let end = w.memstat();
    assert_eq!(
        (end.user_frames, end.table_frames, end.committed_frames),
        (base.user_frames, base.table_frames, base.committed_frames)
    );
}

#[test]
fn actor_delete_self_does_not_return() {
    let mut w = World::boot();
    w.spawn(10, 11);
    w.yield_now();
    let child = w.current_number();
    w.ctx.rax = K_SYS_ACTOR_DELETE;
    w.ctx.rdi = K_MYACTOR;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), child);
    assert_eq!(w.j(FERRITE_SYS_ACTOR_CAP, 10, S, 0), Err(JINUE_EIO));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(1));
}

#[test]
fn init_end_powers_off_with_zero() {
    let mut w = World::boot();
    let status = w.power_off_status(|w| {
        w.ctx.rax = JINUE_SYS_EXIT_THREAD;
        w.trap(Trap::Syscall {
            via_interrupt: false,
        });
    });
    assert_eq!(status, 0);
    let mut w = World::boot();
    let status = w.power_off_status(|w| {
        w.trap(Trap::Exception {
            vector: 6,
            error_code: 0,
            fault_addr: 0,
        });
    });
    assert_eq!(status, 0);
    assert!(w.plat.lines.iter().any(|l| l.contains("#UD")));
}

#[test]
fn deadlock_powers_off() {
    let mut w = World::boot();
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), OK);
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 5;
    w.trap(Trap::Syscall {
        via_interrupt: false,
    });
    // The second thread awaits the first one: nothing can run.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 6, 0, 0), OK);
    let status = w.power_off_status(|w| {
        w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
        w.ctx.rdi = 1;
        w.trap(Trap::Syscall {
            via_interrupt: false,
        });
    });
    assert_eq!(status, 1);
}

#[test]
fn object_limits() {
    let mut w = World::boot();
    let mut created = 0;
    for fd in 10..(10 + MAX_PROCESSES as u64 + 5) {
        match w.j(JINUE_SYS_CREATE_PROCESS, fd, 0, 0) {
            Ok(_) => created += 1,
            Err(e) => {
                assert_eq!(e, JINUE_EAGAIN);
                break;
            }
        }
    }
    assert_eq!(created + 1, MAX_PROCESSES);
    let mut threads = 0;
    for fd in 200..(200 + crate::MAX_THREADS as u64 + 5) {
        match w.j(JINUE_SYS_CREATE_THREAD, fd, 0, 0) {
            Ok(_) => threads += 1,
            Err(e) => {
                assert_eq!(e, JINUE_ENOMEM);
                break;
            }
        }
    }
    assert_eq!(threads + 1, crate::MAX_THREADS);
    let _: Box<u8> = Box::new(0);
}

#[test]
fn switching_threads_switches_address_spaces() {
    let mut w = World::boot();
    let init_root = w.plat.active;
    assert_eq!(init_root, w.k.mem.root(w.space()));
    w.spawn(10, 11);
    w.yield_now();
    let child_root = w.plat.active;
    assert_ne!(child_root, init_root);
    assert_eq!(child_root, w.k.mem.root(w.space()));
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!(w.plat.active, init_root);
    // Destroying the process that runs next never leaves its root loaded.
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    assert_eq!(w.trap(Trap::Timer), Next::RunUser);
    assert_eq!(w.plat.active, init_root);
}

#[test]
fn destroying_the_awaited_process_wakes_the_awaiter_with_1() {
    let mut w = World::boot();
    let main = w.current_number();
    w.spawn(10, 11);
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 5, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 5, TEXT, S), OK);
    // Main awaits the child's thread; the child runs first, then thread 5.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 11;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_ne!(w.current_number(), main);
    w.yield_now();
    // Thread 5 of init runs: it destroys the child; main wakes with 1.
    assert_eq!(w.ctx.rip, TEXT);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!(w.current_number(), main);
    assert_eq!((w.ctx.rax, w.ctx.rdi), (1, 0), "AWAIT returned 1");
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Err(JINUE_ESRCH));
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 5, 0, 0), Ok(0));
}

#[test]
fn a_killed_awaiter_releases_its_target() {
    let mut w = World::boot();
    w.spawn(10, 11);
    // Thread 12 of init; the child gets an AWAIT descriptor to it in slot 0.
    assert_eq!(w.j(JINUE_SYS_CREATE_THREAD, 12, 0, 0), OK);
    w.put(
        S,
        &MintArgs {
            process: 10,
            fd: 0,
            perms: JINUE_PERM_AWAIT as i32,
            _pad: 0,
            cookie: 0,
        },
    );
    assert_eq!(w.j(JINUE_SYS_MINT, 12, S, 0), OK);
    assert_eq!(w.j(JINUE_SYS_START_THREAD, 12, TEXT, S), OK);
    // The child's thread runs and parks awaiting thread 12.
    w.yield_now();
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 0;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    // Thread 12 runs; then main destroys the child, killing the parked awaiter.
    assert_eq!(w.ctx.rip, TEXT);
    w.yield_now();
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_AWAIT_THREAD, 11, 0, 0), Ok(1));
    // Thread 12 can be awaited again: its awaiter is gone.
    w.ctx.rax = JINUE_SYS_AWAIT_THREAD;
    w.ctx.rdi = 12;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    w.ctx.rax = JINUE_SYS_EXIT_THREAD;
    assert_eq!(
        w.trap(Trap::Syscall {
            via_interrupt: false
        }),
        Next::RunUser
    );
    assert_eq!((w.ctx.rax, w.ctx.rdi), (0, 0), "main's AWAIT returned 0");
}

/// Random system calls (and faults, timer ticks) from whatever thread runs:
/// the core must never panic — only power off, when init ends or every
/// thread is parked — and its object counts must stay within the limits.
#[test]
fn random_calls_never_break_the_core() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const FUNCTIONS: [u64; 27] = [
        2, 3, 4, 5, 6, 12, 14, 15, 16, 17, 18, 19, 20, 21, 64, 65, 66, 67, 68, 69, 70, 72, 96, 97,
        98, 0, 4096,
    ];
    let mut total_steps = 0u32;
    for _run in 0..40 {
        let mut w = World::boot_with("fuzz", Some(next()));
        // Prepare some plausible argument structures in the scratch page.
        w.put(
            S,
            &desc(0x100_0000, 3 * PAGE_SIZE, K_WRITABLE | K_INHERITSHARE),
        );
        w.put(
            S + 0x40,
            &desc(0, PAGE_SIZE, K_ANYWHERE | K_WRITABLE | K_INHERITCOPY),
        );
        w.put(
            S + 0x80,
            &JinueBuffer {
                addr: S + 0x400,
                size: 48 * 4,
            },
        );
        w.put(
            S + 0xc0,
            &MCloneArgs {
                src_addr: DATA,
                dest_addr: 0x200_0000,
                length: 2 * PAGE_SIZE,
                prot: 3,
                _pad: 0,
            },
        );
        w.put(S + 0x140, &desc(0x100_0000, PAGE_SIZE, 0));
        w.put(S + 0x180, &desc(0x100_0000, 2 * PAGE_SIZE, K_INHERITCOPY));
        w.put(S + 0x1c0, &desc(0x100_1000, PAGE_SIZE, K_NOACCESS));
        w.put(
            S + 0x100,
            &MintArgs {
                process: 0,
                fd: 30,
                perms: 0x18,
                _pad: 0,
                cookie: 1,
            },
        );
        let values = |r: u64| -> u64 {
            match r % 12 {
                0 => r % 8,
                1 => 10 + r % 6,
                2 => 1023 + r % 3,
                3 => S + (r % 6) * 0x40,
                4 => K_MYACTOR,
                5 => S + 0x200 + (r % 4) * 16,
                6 => KERNEL_ADDR,
                7 => TEXT,
                8 => u64::MAX - r % 3,
                9 => r,
                10 => K_INHERITCOPY,
                _ => 0,
            }
        };
        // Arguments that usually make sense for `f`, so that calls succeed
        // often enough to build up processes, threads and regions.
        let plausible = |f: u64, r: u64, q: u64| -> (u64, u64, u64) {
            let fd = 10 + r % 6;
            let other = if q.is_multiple_of(3) { 0 } else { 10 + q % 6 };
            let cap = if q.is_multiple_of(4) {
                K_MYACTOR
            } else {
                S + 0x200 + (r % 4) * 16
            };
            match f {
                3 => ('I' as u64, S + 0x300, r % 16),
                4 => (fd, other, 0),
                14 => (fd, 0, 0),
                15 => (other, fd, S + 0xc0),
                16 => (fd, other, 20 + q % 10),
                17 => (10 + r % 20, 0, 0),
                18 | 21 => (fd, 0, 0),
                19 => (fd, S + 0x100, 0),
                20 => (fd, TEXT, S + 0x800),
                64 => (cap, S + (q % 2) * 0x40, 0),
                65 => (cap, S + 0x140 - (q % 2) * 0x140, 0),
                67 => (cap, S + 0x180, 0),
                68 => (cap, S + 0x1c0, 0),
                66 => (cap, S, S + 0x80),
                69 => (
                    cap,
                    if r.is_multiple_of(2) {
                        K_MYACTOR
                    } else {
                        S + 0x200 + (q % 4) * 16
                    },
                    [0, K_INHERITCOPY, K_INHERITSHARE][(q % 3) as usize],
                ),
                70 | 72 => (cap, 0, 0),
                96 => (S + 0x600, 48, 0),
                98 => (fd, S + 0x200 + (q % 4) * 16, 0),
                _ => (r, q, 0),
            }
        };
        let mut steps = 0u32;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..1500 {
                steps += 1;
                let r = next();
                match r % 20 {
                    0 => {
                        w.trap(Trap::Timer);
                    }
                    1 if !w.k.caller().is_some_and(|c| w.k.is_init(c.process)) => {
                        let vector = [0u8, 6, 13, 14][(r >> 8) as usize % 4];
                        w.trap(Trap::Exception {
                            vector,
                            error_code: (r >> 16) & 0x1f,
                            fault_addr: values(r >> 24),
                        });
                    }
                    1 => {}
                    _ => {
                        let f = FUNCTIONS[(r >> 8) as usize % FUNCTIONS.len()];
                        // Init must not end the run too early: no EXIT from it.
                        let init_thread = w.k.caller().is_some_and(|c| w.k.is_init(c.process));
                        if init_thread && (f == 12 || f == 72 || f == 97 || f == 2) {
                            continue;
                        }
                        let (a1, a2, a3) = plausible(f, next(), next());
                        let wild = next();
                        w.ctx.rax = f;
                        w.ctx.rdi = if wild.is_multiple_of(5) {
                            values(next())
                        } else {
                            a1
                        };
                        w.ctx.rsi = if wild.is_multiple_of(7) {
                            values(next())
                        } else {
                            a2
                        };
                        w.ctx.rdx = if wild.is_multiple_of(11) {
                            values(next())
                        } else {
                            a3
                        };
                        w.trap(Trap::Syscall {
                            via_interrupt: r & 1 == 0,
                        });
                    }
                }
                assert!(w.k.process_count() <= MAX_PROCESSES);
                assert!(w.k.thread_count() <= crate::MAX_THREADS);
                assert!(w.k.sched.current.is_some(), "a thread always runs");
            }
        }));
        total_steps += steps;
        if let Err(payload) = outcome {
            if payload.downcast_ref::<PowerOff>().is_none()
                && payload.downcast_ref::<Rebooted>().is_none()
            {
                std::panic::resume_unwind(payload);
            }
        }
        w.assert_teardown_restores_baseline();
    }
    assert!(
        total_steps > 40 * 500,
        "runs end too early: {total_steps} steps"
    );
}

/// The user test `rgndup::copies_of_copies`, on the host: a private copy of
/// a copy, both actors destroyed, every frame comes back.
#[test]
fn copies_of_copies_return_every_frame() {
    let mut w = World::boot();
    w.memstat();
    let base = w.memstat();
    let a = 0x100_0000;
    w.put(S + 0x100, &desc(a, PAGE_SIZE, K_WRITABLE | K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, S + 0x100, 0), Ok(0));
    w.poke(a, &[1]);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let (p1, p2) = (S + 0x200, S + 0x210);
    w.cap_of(10, p1);
    w.cap_of(11, p2);
    assert_eq!(w.c(K_SYS_RGN_DUP, p1, K_MYACTOR, 0), Ok(0));
    let clone_in = |w: &mut World, from: u64, at: u64| {
        w.put(
            S + 0x300,
            &MCloneArgs {
                src_addr: a,
                dest_addr: at,
                length: PAGE_SIZE,
                prot: 3,
                _pad: 0,
            },
        );
        assert_eq!(w.j(JINUE_SYS_MCLONE, from, 0, S + 0x300), OK);
    };
    let free = |w: &mut World, at: u64| {
        w.put(S + 0x100, &desc(at, PAGE_SIZE, 0));
        assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, S + 0x100, 0), Ok(0));
    };
    let (w1, w2) = (0x200_0000, 0x300_0000);
    clone_in(&mut w, 10, w1);
    w.poke(w1, &[2]);
    assert_eq!(w.c(K_SYS_RGN_DUP, p2, p1, 0), Ok(0));
    clone_in(&mut w, 11, w2);
    assert_eq!(
        (w.peek(a, 1), w.peek(w1, 1), w.peek(w2, 1)),
        (vec![1], vec![2], vec![2])
    );
    w.poke(w1, &[3]);
    w.poke(a, &[4]);
    assert_eq!(w.peek(w2, 1), [2]);
    w.poke(w2, &[5]);
    assert_eq!((w.peek(a, 1), w.peek(w1, 1)), (vec![4], vec![3]));
    free(&mut w, w1);
    free(&mut w, w2);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 10, 0, 0), OK);
    clone_in(&mut w, 11, w2);
    assert_eq!(w.peek(w2, 1), [5]);
    free(&mut w, w2);
    assert_eq!(w.j(JINUE_SYS_DESTROY, 11, 0, 0), OK);
    free(&mut w, a);
    let end = w.memstat();
    assert_eq!(
        (end.user_frames, end.table_frames, end.committed_frames),
        (base.user_frames, base.table_frames, base.committed_frames)
    );
}

/// MCLONE doubling (the fuzz finding), the region limit's errors, and
/// RGN_STAT over more regions than its bounded kernel buffer holds.
#[test]
fn region_limit_and_long_region_stat() {
    let mut w = World::boot();
    let mc = |w: &mut World, src: u64, dst: u64, len: u64| {
        let a = MCloneArgs {
            src_addr: src,
            dest_addr: dst,
            length: len,
            prot: JINUE_PROT_READ,
            _pad: 0,
        };
        w.put(S + 0x100, &a);
        w.j(JINUE_SYS_MCLONE, 0, 0, S + 0x100)
    };
    let base = 0x1000_0000;
    let r = S + 0x200;
    w.put(r, &desc(base, PAGE_SIZE, K_WRITABLE));
    assert!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0).is_ok());
    let mut n = 1;
    while n < 512 {
        assert_eq!(mc(&mut w, base, base + n * PAGE_SIZE, n * PAGE_SIZE), OK);
        n *= 2;
    }

    // RGN_STAT of 512 regions: more than one part of the kernel's buffer.
    let buf = DATA + 0x4000;
    let stat = |w: &mut World, start: u64, size: u64, addr: u64, entries: u64| {
        w.put(r, &desc(start, size, 0));
        w.put(
            S + 0x300,
            &JinueBuffer {
                addr,
                size: 48 * entries,
            },
        );
        w.c(K_SYS_RGN_STAT, K_MYACTOR, r, S + 0x300)
    };
    let poison = vec![0xa5u8; 512 * 48];
    w.poke(buf, &poison);
    assert_eq!(stat(&mut w, base, 512 * PAGE_SIZE, buf, 300), Ok(512));
    for i in 0..300 {
        let st: KnRgnStat = w.get(buf + 48 * i);
        assert_eq!((st.startAddr, st.size), (base + i * PAGE_SIZE, PAGE_SIZE));
    }
    assert_eq!(
        w.peek(buf + 300 * 48, 48),
        vec![0xa5u8; 48],
        "only what fits"
    );
    assert_eq!(
        stat(&mut w, base + 0x10, 600 * PAGE_SIZE, buf, 512),
        Ok(512)
    );
    for i in [0, 255, 256, 257, 511] {
        let st: KnRgnStat = w.get(buf + 48 * i);
        assert_eq!((st.startAddr, st.size), (base + i * PAGE_SIZE, PAGE_SIZE));
    }
    // A buffer whose end is not writable: K_EFAULT and nothing written.
    w.poke(buf, &poison);
    let late = DATA + DATA_LEN - 48 * 100;
    w.poke(late, &[0xa5; 48]);
    assert_eq!(
        stat(&mut w, base, 512 * PAGE_SIZE, late, 512),
        Err(K_EFAULT)
    );
    assert_eq!(w.peek(late, 48), vec![0xa5u8; 48]);
    // An empty range holds no region, even at an unaligned address inside one.
    assert_eq!(stat(&mut w, base + 0x10, 0, buf, 512), Ok(0));
    assert_eq!(w.peek(buf, 48), vec![0xa5u8; 48]);

    // At the region limit: the documented out-of-memory errors, nothing changed.
    let regions = w.k.mem.region_total();
    w.k.mem.set_region_limit(regions + 100);
    assert_eq!(
        mc(&mut w, base, base + 512 * PAGE_SIZE, 512 * PAGE_SIZE),
        Err(JINUE_ENOMEM)
    );
    assert_eq!(w.k.mem.region_total(), regions);
    w.k.mem.set_region_limit(regions);
    w.put(r, &desc(0x2000_0000, PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, r, 0), Err(K_ENOMEM));
    w.put(r, &desc(DATA + PAGE_SIZE, PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_PROTECT, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Err(K_ENOMEM));
    assert_eq!(w.k.mem.region_total(), regions);
    // Freeing whole regions makes room again.
    w.put(r, &desc(base, 256 * PAGE_SIZE, 0));
    assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, r, 0), Ok(0));
    assert_eq!(w.k.mem.region_total(), regions - 256);
    assert_eq!(
        mc(&mut w, base + 256 * PAGE_SIZE, base, 256 * PAGE_SIZE),
        OK
    );
    assert_eq!(w.k.mem.region_total(), regions);
    w.k.mem.check_invariants().unwrap();
}

/// Values at the edges of every range the kernel checks: page 0, user base,
/// table spans, the stack, the canonical boundary, the kernel half, u64 and
/// i32 limits, each with its neighbours.
fn edge_values() -> Vec<u64> {
    let mut v = Vec::new();
    let anchors = [
        0u64,
        PAGE_SIZE,
        TEXT,
        DATA,
        S,
        0x20_0000,
        1 << 30,
        1 << 39,
        JINUE_STACK_BASE - JINUE_STACK_SIZE,
        JINUE_STACK_BASE,
        USER_LIMIT - (1 << 21),
        USER_LIMIT - PAGE_SIZE,
        USER_LIMIT,
        0x7fff_ffff,
        0xffff_ffff,
        1 << 63,
        0xffff_8000_0000_0000,
        u64::MAX - PAGE_SIZE + 1,
    ];
    for a in anchors {
        for d in [0u64, 1, PAGE_SIZE - 1, PAGE_SIZE] {
            v.push(a.wrapping_add(d));
            v.push(a.wrapping_sub(d));
        }
    }
    v.push(u64::MAX);
    v.push(48 * 3);
    v.sort_unstable();
    v.dedup();
    v
}

/// Every system call with argument registers and structure fields drawn
/// from [`edge_values`] (and plausible ones), from the init process and from
/// a second process, interleaved with faults at edge addresses: the core
/// never panics (only powers off), and everything comes back at teardown.
#[test]
fn edge_values_never_panic_the_core() {
    struct Rng {
        seed: u64,
        edges: Vec<u64>,
        /// Only plausible values (so that calls succeed and build up state).
        tame: bool,
    }
    impl Rng {
        fn next(&mut self) -> u64 {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            self.seed
        }
        /// An edge value, a few pages around a plausible address, or now
        /// and then any value.
        fn edge(&mut self) -> u64 {
            const NEAR: [u64; 6] = [
                0x100_0000,
                0x300_0000,
                (1 << 39) - 2 * PAGE_SIZE,
                USER_LIMIT - 4 * PAGE_SIZE,
                DATA,
                0,
            ];
            let x = self.next();
            let kind = if self.tame { 4 + x % 4 } else { x % 8 };
            match kind {
                0 => x >> 3,
                1..=3 => self.edges[(x >> 8) as usize % self.edges.len()],
                _ => {
                    let base = NEAR[(x >> 8) as usize % NEAR.len()];
                    let pages = (x >> 16) % 6;
                    let odd = if self.tame {
                        0
                    } else {
                        [0, 0, 1, PAGE_SIZE - 1][(x >> 24) as usize % 4]
                    };
                    base + pages * PAGE_SIZE + odd
                }
            }
        }
    }
    let mut g = Rng {
        seed: 0x2545_f491_4f6c_dd1d,
        edges: edge_values(),
        tame: false,
    };
    const FUNCTIONS: [u64; 21] = [
        3, 4, 6, 14, 15, 16, 17, 18, 19, 20, 21, 64, 65, 66, 67, 68, 69, 70, 96, 98, 5,
    ];
    let options = [
        0,
        K_WRITABLE,
        K_WRITABLE | K_ANYWHERE,
        K_ANYWHERE,
        K_NOACCESS,
        K_EXECUTABLE | K_INHERITCOPY,
        K_INHERITSHARE,
        K_FREEALL,
        u64::MAX,
    ];
    for run in 0..24 {
        let mut w = World::boot_with("edges", Some(g.next()));
        // A child process with a copy of init's memory and a thread, so that
        // MCLONE, DUP and capabilities have a second party.
        w.spawn(10, 11);
        w.cap_of(10, S + 0x200);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..1500 {
                let r = g.next();
                g.tame = !r.is_multiple_of(3);
                // Structures at S (region descriptor), S + 0x40 (buffer),
                // S + 0x80 (MCLONE), S + 0xc0 (MINT).
                let d = KnRgnDesc {
                    startAddr: g.edge(),
                    size: g.edge(),
                    options: options
                        [(r >> 40) as usize % (options.len() - 2 * usize::from(g.tame))],
                    endAddr: g.edge(),
                    opaque1: g.edge(),
                    opaque2: g.edge(),
                };
                let buffer = JinueBuffer {
                    addr: g.edge(),
                    size: g.edge(),
                };
                let mclone = MCloneArgs {
                    src_addr: g.edge() & !(PAGE_SIZE - 1),
                    dest_addr: g.edge() & !(PAGE_SIZE - 1),
                    length: g.edge() & !(PAGE_SIZE - 1),
                    prot: g.edge() as i32,
                    _pad: g.edge() as u32,
                };
                let mint = MintArgs {
                    process: g.edge() as i32,
                    fd: g.edge() as i32,
                    perms: g.edge() as i32,
                    _pad: 0,
                    cookie: g.edge(),
                };
                // The caller may have freed or protected its scratch page
                // (K_FREEALL, say): give it a new one, as a program would.
                if let Some(c) = w.k.caller() {
                    if w.k.mem.check_user_writable(c.space, S, 0x300).is_err() {
                        let _ = w.k.mem.free(c.space, S, PAGE_SIZE);
                        let _ = w.k.mem.allocate(c.space, &desc(S, PAGE_SIZE, K_WRITABLE));
                        let _ = w.j(FERRITE_SYS_ACTOR_CAP, 10, S + 0x200, 0);
                    }
                    if w.k.mem.check_user_writable(c.space, S, 0x300).is_ok() {
                        w.put(S, &d);
                        w.put(S + 0x40, &buffer);
                        w.put(S + 0x80, &mclone);
                        w.put(S + 0xc0, &mint);
                    }
                }
                match r % 16 {
                    0 => {
                        w.trap(Trap::Timer);
                    }
                    1 => {
                        let vector = [0u8, 6, 13, 14, 14, 14][(r >> 8) as usize % 6];
                        let error_code = (r >> 16) & 0x1f;
                        let fault_addr = g.edge();
                        let init = w.k.caller().is_some_and(|c| w.k.is_init(c.process));
                        // Faults in init only where they resolve (init's end ends the run).
                        if !init || (vector == 14 && (DATA..S).contains(&fault_addr)) {
                            w.trap(Trap::Exception {
                                vector,
                                error_code,
                                fault_addr,
                            });
                        }
                    }
                    _ => {
                        let f = FUNCTIONS[(r >> 8) as usize % FUNCTIONS.len()];
                        let tame = g.tame;
                        let pick = |x: u64, plausible: u64, edge: u64| {
                            if !tame && x.is_multiple_of(3) {
                                edge
                            } else {
                                plausible
                            }
                        };
                        let cap = [K_MYACTOR, S + 0x200, S][(r >> 20) as usize % 3];
                        let (a1, a2, a3) = match f {
                            3 => ('E' as u64, g.edge(), g.edge()),
                            6 => (g.edge(), g.edge(), 0),
                            15 => ((r >> 24) % 2 * 10, (r >> 25) % 2 * 10, S + 0x80),
                            16 => (10, 1, g.edge()),
                            19 => (10, S + 0xc0, 0),
                            20 => (11, g.edge(), g.edge()),
                            64..=68 => (cap, S, S + 0x40),
                            69 => (S + 0x200, cap, g.edge()),
                            96 => (g.edge(), g.edge(), 0),
                            _ if tame => (r >> 24 & 15, r >> 28 & 15, r >> 32 & 15),
                            _ => (g.edge(), g.edge(), g.edge()),
                        };
                        let (a1, a2, a3) = (
                            pick(g.next(), a1, g.edge()),
                            pick(g.next(), a2, g.edge()),
                            pick(g.next(), a3, g.edge()),
                        );
                        w.ctx.rax = f;
                        w.ctx.rdi = a1;
                        w.ctx.rsi = a2;
                        w.ctx.rdx = a3;
                        w.trap(Trap::Syscall {
                            via_interrupt: r & 1 == 0,
                        });
                    }
                }
                w.k.mem.check_invariants().unwrap();
            }
        }));
        if let Err(payload) = outcome {
            if payload.downcast_ref::<PowerOff>().is_none()
                && payload.downcast_ref::<Rebooted>().is_none()
            {
                std::eprintln!("run {run}");
                std::panic::resume_unwind(payload);
            }
        }
        w.assert_teardown_restores_baseline();
    }
}

/// The heap-exhaustion attack on snapshot chains, through system calls: a
/// region cut into N pieces, then, again and again, a write and an RGN_DUP
/// (flags 0: only the first piece inherits) whose copy MCLONE keeps alive in
/// a third process. Each copy used to add one frozen level repeating the N
/// reference intervals (N × ~40 bytes of kernel heap per call, without
/// bound); chains are now capped, so the intervals stay near 3N.
#[test]
fn repeated_copies_of_fragmented_memory_keep_kernel_heap_bounded() {
    const N: u64 = 300;
    const LEVELS: u64 = 40;
    let mut w = World::boot();
    let r = 0x1000_0000;
    let d = S + 0x100;
    // Nothing of init inherits, but the first piece of the region.
    let base = abi::layout::USER_BASE;
    w.put(d, &desc(base, USER_LIMIT - base, 0));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, d, 0), Ok(0));
    w.put(d, &desc(r, 2 * N * PAGE_SIZE, K_WRITABLE));
    assert_eq!(w.c(K_SYS_RGN_ALLOCATE, K_MYACTOR, d, 0), Ok(0));
    for i in 0..N {
        w.put(d, &desc(r + (2 * i + 1) * PAGE_SIZE, PAGE_SIZE, 0));
        assert_eq!(w.c(K_SYS_RGN_FREE, K_MYACTOR, d, 0), Ok(0));
    }
    w.put(d, &desc(r, PAGE_SIZE, K_INHERITCOPY));
    assert_eq!(w.c(K_SYS_RGN_SET_INHERIT, K_MYACTOR, d, 0), Ok(0));
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 10, 0, 0), OK);
    assert_eq!(w.j(JINUE_SYS_CREATE_PROCESS, 11, 0, 0), OK);
    let cap = S + 0x200;
    w.cap_of(10, cap);
    let before = w.k.mem.reference_intervals();
    for level in 0..LEVELS {
        w.poke(r, &[level as u8]);
        assert_eq!(w.c(K_SYS_RGN_DUP, cap, K_MYACTOR, 0), Ok(0));
        w.put(
            S + 0x300,
            &MCloneArgs {
                src_addr: r,
                dest_addr: 0x2000_0000 + level * PAGE_SIZE,
                length: PAGE_SIZE,
                prot: JINUE_PROT_READ,
                _pad: 0,
            },
        );
        assert_eq!(w.j(JINUE_SYS_MCLONE, 10, 11, S + 0x300), OK);
        w.put(d, &desc(0, 0, K_FREEALL));
        assert_eq!(w.c(K_SYS_RGN_FREE, cap, d, 0), Ok(0));
        let now = w.k.mem.reference_intervals();
        assert!(
            now <= before + 3 * N as usize + 8 * (level as usize + 1),
            "level {level}: {now} reference intervals (from {before})"
        );
    }
    w.k.mem.check_invariants().unwrap();
    w.assert_teardown_restores_baseline();
}
