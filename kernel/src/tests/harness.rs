//! The test world: a booted [`Kernel`] over `mm::sim::SimPhys` with a tiny
//! init ELF, and helpers that drive system calls through `handle_trap` and
//! read or write the current process's memory.

use super::fake::{quiet_power_off, FakePlat, PowerOff};
use crate::{Kernel, Next, Trap, UserContext};
use abi::layout::JINUE_STACK_BASE;
use abi::memstat::MemStat;
use abi::numbers::*;
use abi::region::*;
use abi::regs::SyscallArgs;
use abi::types::{KnCap, KnRgnDesc, Wire};
use elf::abi::{ET_EXEC, PF_R, PF_W, PF_X};
use loader::sample::make_elf;
use mm::sim::SimPhys;
use mm::Memory;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec;
use std::vec::Vec;

pub(super) const TEXT: u64 = 0x40_0000;

pub(super) const DATA: u64 = 0x40_1000;

pub(super) const DATA_LEN: u64 = 0x10000;

/// Scratch memory for argument structures (inside DATA's .bss).
pub(super) const S: u64 = DATA + 0x1000;

pub(super) const KERNEL_ADDR: u64 = 0xffff_8000_0000_1000;

pub(super) const OK: Result<u64, u64> = Ok(0);

pub(super) struct World {
    pub(super) k: Kernel<SimPhys>,
    pub(super) plat: FakePlat,
    pub(super) ctx: UserContext,
    /// `mm`'s statistics before the init process existed.
    pub(super) baseline: MemStat,
}

pub(super) fn init_elf() -> Vec<u8> {
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
    pub(super) fn boot() -> World {
        Self::boot_with("init one two", None)
    }

    pub(super) fn boot_with(cmdline: &str, random: Option<u64>) -> World {
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
        plat.fpu.enter_user(&ctx);
        World {
            k,
            plat,
            ctx,
            baseline,
        }
    }

    /// The current thread traps; then, like the arch, returns to user mode
    /// with whatever context the core left (loading its x87/SSE image if needed).
    pub(super) fn trap(&mut self, trap: Trap) -> Next {
        let next = self.k.handle_trap(&mut self.ctx, trap, &mut self.plat);
        if next == Next::RunUser {
            self.plat.fpu.enter_user(&self.ctx);
        }
        next
    }

    pub(super) fn call(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> SyscallArgs {
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
    pub(super) fn j(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, u64> {
        let r = self.call(n, a1, a2, a3);
        assert_eq!((r.arg2, r.arg3), (0, 0));
        if r.jinue_result().is_ok() {
            assert_eq!(r.arg1, 0);
        }
        r.jinue_result()
    }

    /// A ChorusOS-convention call: `Ok(arg0)` or `Err(code)`; arg1..3 are 0.
    pub(super) fn c(&mut self, n: u64, a1: u64, a2: u64, a3: u64) -> Result<u64, i64> {
        let r = self.call(n, a1, a2, a3);
        assert_eq!((r.arg1, r.arg2, r.arg3), (0, 0, 0));
        r.chorus_result()
    }

    pub(super) fn space(&self) -> mm::SpaceId {
        self.k.caller().unwrap().space
    }

    pub(super) fn poke(&mut self, addr: u64, bytes: &[u8]) {
        let space = self.space();
        self.k.mem.write_user(space, addr, bytes).unwrap();
    }

    pub(super) fn peek(&mut self, addr: u64, len: usize) -> Vec<u8> {
        let space = self.space();
        let mut v = vec![0u8; len];
        self.k.mem.read_user(space, addr, &mut v).unwrap();
        v
    }

    pub(super) fn put<T: Wire>(&mut self, addr: u64, v: &T) {
        let mut b = vec![0u8; T::SIZE];
        v.to_bytes(&mut b);
        self.poke(addr, &b);
    }

    pub(super) fn get<T: Wire>(&mut self, addr: u64) -> T {
        let b = self.peek(addr, T::SIZE);
        T::from_bytes(&b)
    }

    pub(super) fn memstat(&mut self) -> MemStat {
        assert_eq!(self.j(FERRITE_SYS_MEMSTAT, S + 0x800, 48, 0), OK);
        self.get(S + 0x800)
    }

    pub(super) fn cap_of(&mut self, fd: u64, at: u64) -> KnCap {
        assert_eq!(self.j(FERRITE_SYS_ACTOR_CAP, fd, at, 0), OK);
        self.get(at)
    }

    /// Creates process `pfd` holding a private copy of the caller's memory
    /// and a started thread `tfd` at the text, which has not run yet.
    pub(super) fn spawn(&mut self, pfd: u64, tfd: u64) {
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
    pub(super) fn yield_now(&mut self) {
        assert_eq!(self.j(JINUE_SYS_YIELD_THREAD, 0, 0, 0), OK);
    }

    pub(super) fn current_number(&self) -> u64 {
        let t = self.k.sched.current().unwrap();
        self.k.threads.get(t.0).unwrap().number
    }

    /// Destroys every process (init included, without powering off) and
    /// checks that all user memory, page tables and commitments are back.
    pub(super) fn assert_teardown_restores_baseline(&mut self) {
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
    pub(super) fn power_off_status(&mut self, f: impl FnOnce(&mut World)) -> u8 {
        let r = catch_unwind(AssertUnwindSafe(|| f(self)));
        let payload = r.expect_err("expected a power-off");
        match payload.downcast::<PowerOff>() {
            Ok(p) => p.0,
            Err(other) => std::panic::resume_unwind(other),
        }
    }
}

pub(super) fn desc(start: u64, size: u64, options: u64) -> KnRgnDesc {
    KnRgnDesc {
        startAddr: start,
        size,
        options,
        ..KnRgnDesc::default()
    }
}
