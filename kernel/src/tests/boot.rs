//! Booting init (its image, stack and descriptors), refused init programs,
//! the system calls of the whole system (numbers, PUTS, SET_THREAD_LOCAL,
//! MEMSTAT, POWEROFF, REBOOT) and how the system powers off.

use super::fake::{FakePlat, Rebooted};
use super::harness::{desc, World, DATA, DATA_LEN, KERNEL_ADDR, OK, S, TEXT};
use crate::{Kernel, Trap};
use abi::errors::*;
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE, USER_LIMIT};
use abi::numbers::*;
use abi::region::*;
use abi::types::{JinueBuffer, KnRgnStat};
use elf::abi::{ET_EXEC, PF_X};
use loader::sample::make_elf;
use mm::sim::SimPhys;
use mm::Memory;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::String;
use std::vec::Vec;

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
        Err(crate::InitError::Elf(loader::ElfError::NotExecutable))
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
    for n in [0, 1, 7, 23, 63, 71, 77, 95, 100, 0x8000_0000, 1 << 40] {
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
