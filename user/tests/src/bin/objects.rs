//! `objects` (issue 4): processes, threads, descriptors, faults, preemption and actor capabilities.
#![no_std]
#![no_main]

use abi::errors::{
    ChorusError, JinueError, JINUE_EDEADLK as JINUE_EDEADLK_NUM, K_EFAULT, K_EINVAL,
};
use abi::init::*;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{KnCap, KnRgnStat};
use core::sync::atomic::{AtomicU64, Ordering};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::thread::SELF;
use ferrite_rt::{fork, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

use JinueError::{BadF, Busy, DeadLk, Inval, Io, Perm, Srch};

/// Descriptor numbers this program picks by hand (below the runtime's range).
const P: u64 = 10;
const P2: u64 = 11;
const Q: u64 = 12;
const T: u64 = 20;
const T2: u64 = 21;
const FREE: u64 = 400;
/// Descriptor numbers that name no slot at all.
const INVALID: [u64; 4] = [u64::MAX, JINUE_DESC_NUM, 1 << 31, 1 << 32];

/// RGN_STAT of the whole user space of `actor`: (count, first entries).
fn stat_all(actor: Actor) -> (Result<u64, ChorusError>, [KnRgnStat; 8]) {
    let mut st = [KnRgnStat::default(); 8];
    let r = api::rgn_stat(actor, &rgn(USER_BASE, USER_LIMIT - USER_BASE, 0), &mut st);
    (r, st)
}

/// Destroys (if alive) and closes the process at `d`, closing the others.
fn cleanup(process: u64, others: &[u64]) {
    let _ = api::destroy(process);
    let _ = api::close(process);
    for &d in others {
        let _ = api::close(d);
    }
}

/// A copy of the owner descriptor `owner` in the own table at `fd` with `perms`.
fn mint_self(owner: u64, fd: u64, perms: u32) -> Result<(), JinueError> {
    api::mint_into(owner, SELF, fd, perms, 0)
}

static ZERO_PROBE: [AtomicU64; 16] = [const { AtomicU64::new(u64::MAX) }; 16];

// Thread entry that records every general-purpose register (rsp included)
// and exits through `int 0x80` (always available).
core::arch::global_asm!(
    ".globl objects_zero_probe",
    "objects_zero_probe:",
    "mov [rip + {z}], rax",
    "mov [rip + {z} + 8], rbx",
    "mov [rip + {z} + 16], rcx",
    "mov [rip + {z} + 24], rdx",
    "mov [rip + {z} + 32], rsi",
    "mov [rip + {z} + 40], rdi",
    "mov [rip + {z} + 48], rbp",
    "mov [rip + {z} + 56], rsp",
    "mov [rip + {z} + 64], r8",
    "mov [rip + {z} + 72], r9",
    "mov [rip + {z} + 80], r10",
    "mov [rip + {z} + 88], r11",
    "mov [rip + {z} + 96], r12",
    "mov [rip + {z} + 104], r13",
    "mov [rip + {z} + 112], r14",
    "mov [rip + {z} + 120], r15",
    "mov eax, {exit}",
    "int 0x80",
    "ud2",
    z = sym ZERO_PROBE,
    exit = const JINUE_SYS_EXIT_THREAD,
);

// objects_regs_spin(block = rdi, iterations = rsi) -> mismatches: loads
// rbx, rbp, r8-r15 from block[0..10] and xmm1-xmm15 from the 16-byte
// slots at byte 80, then checks them every iteration (bumping the counter at
// byte 320): any change by a context switch counts as a mismatch.
core::arch::global_asm!(
    ".globl objects_regs_spin",
    "objects_regs_spin:",
    "push rbx",
    "push rbp",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rbx, [rdi + 0]",
    "mov rbp, [rdi + 8]",
    "mov r8, [rdi + 16]",
    "mov r9, [rdi + 24]",
    "mov r10, [rdi + 32]",
    "mov r11, [rdi + 40]",
    "mov r12, [rdi + 48]",
    "mov r13, [rdi + 56]",
    "mov r14, [rdi + 64]",
    "mov r15, [rdi + 72]",
    "movdqu xmm1, [rdi + 80]",
    "movdqu xmm2, [rdi + 96]",
    "movdqu xmm3, [rdi + 112]",
    "movdqu xmm4, [rdi + 128]",
    "movdqu xmm5, [rdi + 144]",
    "movdqu xmm6, [rdi + 160]",
    "movdqu xmm7, [rdi + 176]",
    "movdqu xmm8, [rdi + 192]",
    "movdqu xmm9, [rdi + 208]",
    "movdqu xmm10, [rdi + 224]",
    "movdqu xmm11, [rdi + 240]",
    "movdqu xmm12, [rdi + 256]",
    "movdqu xmm13, [rdi + 272]",
    "movdqu xmm14, [rdi + 288]",
    "movdqu xmm15, [rdi + 304]",
    "xor eax, eax",
    "mov rcx, rsi",
    "2:",
    "cmp rbx, [rdi + 0]",
    "jne 3f",
    "cmp rbp, [rdi + 8]",
    "jne 3f",
    "cmp r8, [rdi + 16]",
    "jne 3f",
    "cmp r9, [rdi + 24]",
    "jne 3f",
    "cmp r10, [rdi + 32]",
    "jne 3f",
    "cmp r11, [rdi + 40]",
    "jne 3f",
    "cmp r12, [rdi + 48]",
    "jne 3f",
    "cmp r13, [rdi + 56]",
    "jne 3f",
    "cmp r14, [rdi + 64]",
    "jne 3f",
    "cmp r15, [rdi + 72]",
    "jne 3f",
    "movdqu xmm0, [rdi + 80]",
    "pcmpeqb xmm0, xmm1",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 96]",
    "pcmpeqb xmm0, xmm2",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 112]",
    "pcmpeqb xmm0, xmm3",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 128]",
    "pcmpeqb xmm0, xmm4",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 144]",
    "pcmpeqb xmm0, xmm5",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 160]",
    "pcmpeqb xmm0, xmm6",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 176]",
    "pcmpeqb xmm0, xmm7",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 192]",
    "pcmpeqb xmm0, xmm8",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 208]",
    "pcmpeqb xmm0, xmm9",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 224]",
    "pcmpeqb xmm0, xmm10",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 240]",
    "pcmpeqb xmm0, xmm11",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 256]",
    "pcmpeqb xmm0, xmm12",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 272]",
    "pcmpeqb xmm0, xmm13",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 288]",
    "pcmpeqb xmm0, xmm14",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "movdqu xmm0, [rdi + 304]",
    "pcmpeqb xmm0, xmm15",
    "pmovmskb edx, xmm0",
    "cmp edx, 0xffff",
    "jne 3f",
    "jmp 4f",
    "3:",
    "inc rax",
    "4:",
    "inc qword ptr [rdi + 320]",
    "dec rcx",
    "jnz 2b",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbp",
    "pop rbx",
    "ret",
);

extern "C" {
    fn objects_zero_probe();
    fn objects_regs_spin(block: *mut u64, iterations: u64) -> u64;
}

fn main(_start: &Startup) -> i32 {
    let mut s = Suite::new("objects");
    both_mechanisms(&mut s, cases);
    s.finish()
}

fn cases(s: &mut Suite) {
    s.isolated("create_process", |c| {
        for d in INVALID {
            check_eq!(c, api::create_process(d), Err(BadF), "descriptor {:#x}", d);
        }
        check_eq!(
            c,
            api::create_process(INIT_SELF_DESCRIPTOR),
            Err(BadF),
            "slot 0 in use"
        );
        check_eq!(
            c,
            api::create_process(INIT_THREAD_DESCRIPTOR),
            Err(BadF),
            "slot 1 in use"
        );
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(
            c,
            api::create_process(P),
            Err(BadF),
            "slot in use by the new process"
        );
        // Empty address space, readable through the owner descriptor (OPEN).
        let cap = api::actor_cap(P);
        check!(c, cap.is_ok(), "ACTOR_CAP of the new process: {:?}", cap);
        if let Ok(cap) = cap {
            check_eq!(
                c,
                stat_all(Actor::Cap(&cap)).0,
                Ok(0),
                "regions of a new process"
            );
            check!(
                c,
                cap != api::actor_self().unwrap_or_default(),
                "a different actor"
            );
        }
        // Empty descriptor table: every slot is free for DUP (OPEN).
        for fd in [0, 1, 2, JINUE_DESC_NUM - 1] {
            check_eq!(
                c,
                api::dup(P, INIT_THREAD_DESCRIPTOR, fd),
                Ok(()),
                "DUP into slot {}",
                fd
            );
        }
        let again = api::dup(P, INIT_THREAD_DESCRIPTOR, 0);
        check!(
            c,
            again.is_err(),
            "DUP into slot 0, now in use: {:?}",
            again
        );
        // MAP: MCLONE into it works; CREATE_THREAD: a thread can be created.
        let r = Region::anywhere(1, K_WRITABLE);
        if let Ok(r) = &r {
            check_eq!(
                c,
                api::mclone_range(SELF, P, r.addr(), r.addr(), PAGE_SIZE, JINUE_PROT_READ),
                Ok(())
            );
        }
        check_eq!(c, api::create_thread(T, P), Ok(()));
        // Never ran a thread: still alive.
        check!(
            c,
            api::actor_cap(P).is_ok(),
            "a process that never ran stays alive"
        );
        cleanup(P, &[T]);
    });
    s.isolated("create_thread_errors", |c| {
        check_eq!(c, api::create_process(P), Ok(()));
        for d in INVALID {
            check_eq!(
                c,
                api::create_thread(d, P),
                Err(BadF),
                "thread descriptor {:#x}",
                d
            );
            check_eq!(
                c,
                api::create_thread(T, d),
                Err(BadF),
                "process descriptor {:#x}",
                d
            );
        }
        // The error numbers of a slot in use and of a thread named as the
        // process are left open (doc/syscalls/create-thread.md): must fail.
        let r = api::create_thread(INIT_THREAD_DESCRIPTOR, P);
        check!(c, r.is_err(), "new-thread slot in use: {:?}", r);
        let r = api::create_thread(T, INIT_THREAD_DESCRIPTOR);
        check!(c, r.is_err(), "a thread named as the process: {:?}", r);
        check_eq!(
            c,
            api::create_thread(T, FREE),
            Err(BadF),
            "free process slot"
        );
        for (fd, perms) in [
            (Q, JINUE_PERM_MAP),
            (Q + 1, JINUE_PERM_OPEN),
            (Q + 2, JINUE_PERM_CREATE_THREAD),
            (Q + 3, JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN),
        ] {
            check_eq!(
                c,
                mint_self(P, fd, perms),
                Ok(()),
                "MINT perms {:#x}",
                perms
            );
        }
        check_eq!(c, api::create_thread(T2, Q), Err(Perm), "MAP only");
        check_eq!(c, api::create_thread(T2, Q + 1), Err(Perm), "OPEN only");
        check_eq!(
            c,
            api::create_thread(T2, Q + 2),
            Err(Perm),
            "CREATE_THREAD without OPEN"
        );
        // A refused call leaves the thread slot free.
        check_eq!(
            c,
            api::close(T2),
            Err(BadF),
            "slot of a refused CREATE_THREAD stays free"
        );
        check_eq!(
            c,
            api::create_thread(T, Q + 3),
            Ok(()),
            "CREATE_THREAD|OPEN"
        );

        check_eq!(c, api::destroy(P), Ok(()));
        check_eq!(c, api::create_thread(T2, P), Err(Io), "process destroyed");
        check_eq!(
            c,
            api::create_thread(T2, Q + 3),
            Err(Io),
            "through a minted copy"
        );
        cleanup(P, &[Q, Q + 1, Q + 2, Q + 3, T]);
    });
    s.isolated("start_thread_errors", |c| {
        let stack = Region::anywhere(4, K_WRITABLE);
        check!(c, stack.is_ok());
        let Ok(stack) = stack else { return };
        let sp = stack.page(4) - 16;
        let entry = objects_zero_probe as *const () as u64;
        check_eq!(c, api::create_thread(T, SELF), Ok(()));
        for (e, st) in [
            (USER_LIMIT, sp),
            (entry, USER_LIMIT),
            (u64::MAX, sp),
            (entry, u64::MAX),
        ] {
            check_eq!(
                c,
                api::start_thread(T, e, st),
                Err(Inval),
                "entry {:#x} sp {:#x}",
                e,
                st
            );
        }
        for d in INVALID {
            check_eq!(
                c,
                api::start_thread(d, entry, sp),
                Err(BadF),
                "descriptor {:#x}",
                d
            );
        }
        check_eq!(
            c,
            api::start_thread(FREE, entry, sp),
            Err(BadF),
            "free slot"
        );
        let r = api::start_thread(SELF, entry, sp);
        check!(
            c,
            r.is_err(),
            "START_THREAD of a process descriptor: {:?}",
            r
        );
        check_eq!(c, mint_self(T, Q, JINUE_PERM_AWAIT), Ok(()));
        check_eq!(c, api::start_thread(Q, entry, sp), Err(Perm), "AWAIT only");
        check_eq!(c, api::start_thread(T, entry, sp), Ok(()));
        check_eq!(
            c,
            api::start_thread(T, entry, sp),
            Err(Busy),
            "already running"
        );
        check_eq!(c, api::await_thread(T), Ok(0));
        let _ = api::close(Q);
        let _ = api::close(T);
    });
    s.isolated("start_thread_registers", |c| {
        let stack = Region::anywhere(1, K_WRITABLE);
        let Ok(stack) = stack else {
            return c.fail(file!(), line!(), format_args!("stack"));
        };
        let sp = stack.page(1) - 8;
        check_eq!(c, api::create_thread(T, SELF), Ok(()));
        check_eq!(
            c,
            api::start_thread(T, objects_zero_probe as *const () as u64, sp),
            Ok(())
        );
        check_eq!(c, api::await_thread(T), Ok(0), "the probe exits");
        let _ = api::close(T);
        let names = [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15",
        ];
        for (i, name) in names.iter().enumerate() {
            let want = if *name == "rsp" { sp } else { 0 };
            check_eq!(
                c,
                ZERO_PROBE[i].load(Ordering::Relaxed),
                want,
                "{} at thread entry",
                name
            );
        }
    });
    s.isolated("start_thread_stack_pointer_zero", |c| {
        // START_THREAD refuses only values >= USER_LIMIT; a thread that never
        // touches its stack runs fine with rsp = 0 (the probe exits by int 0x80).
        check_eq!(c, api::create_thread(T, SELF), Ok(()));
        check_eq!(
            c,
            api::start_thread(T, objects_zero_probe as *const () as u64, 0),
            Ok(())
        );
        check_eq!(c, api::await_thread(T), Ok(0), "the probe exits normally");
        check_eq!(c, ZERO_PROBE[7].load(Ordering::Relaxed), 0, "rsp at entry");
        let _ = api::close(T);
    });
    s.case("await_thread", |c| {
        check_eq!(c, api::create_thread(T, SELF), Ok(()));
        check_eq!(c, api::await_thread(T), Err(Srch), "never started");
        let h = ferrite_rt::thread::spawn(|| {});
        check!(c, h.is_ok());
        if let Ok(h) = h {
            let d = h.descriptor();
            check_eq!(c, mint_self(d, Q, JINUE_PERM_START), Ok(()));
            check_eq!(c, api::await_thread(Q), Err(Perm), "START only");
            check_eq!(c, api::await_thread(d), Ok(0), "exited by EXIT_THREAD");
            check_eq!(c, api::await_thread(d), Err(Srch), "already awaited");
            check_eq!(c, api::close(d), Ok(()));
            ferrite_rt::desc::free(d);
            let st = h.stack();
            let _ = api::rgn_free(Actor::Me, &rgn(st.startAddr, st.size, 0));
        }
        for d in INVALID {
            check_eq!(c, api::await_thread(d), Err(BadF), "descriptor {:#x}", d);
        }
        check_eq!(c, api::await_thread(FREE), Err(BadF), "free slot");
        let r = api::await_thread(SELF);
        check!(
            c,
            r.is_err(),
            "AWAIT_THREAD of a process descriptor: {:?}",
            r
        );
        check_eq!(
            c,
            api::await_thread(INIT_THREAD_DESCRIPTOR),
            Err(DeadLk),
            "the caller"
        );
        // A thread awaiting itself through its owner descriptor.
        let own = AtomicU64::new(u64::MAX);
        let seen = AtomicU64::new(0);
        // SAFETY: joined below, before `own` and `seen` go out of scope.
        let h = unsafe {
            ferrite_rt::thread::spawn_unchecked(
                || {
                    while own.load(Ordering::SeqCst) == u64::MAX {
                        api::yield_thread();
                    }
                    seen.store(
                        jcode(api::await_thread(own.load(Ordering::SeqCst))),
                        Ordering::SeqCst,
                    );
                },
                ferrite_rt::thread::DEFAULT_STACK_BYTES,
            )
        };
        check!(c, h.is_ok());
        if let Ok(h) = h {
            own.store(h.descriptor(), Ordering::SeqCst);
            check_eq!(c, h.join().ok(), Some(0));
            check_eq!(
                c,
                seen.load(Ordering::SeqCst),
                1000 + JINUE_EDEADLK_NUM,
                "AWAIT_THREAD on itself"
            );
        }
        let _ = api::close(Q);
        let _ = api::close(T);
        let _ = api::close(T2);
    });
    s.isolated("dup_errors", |c| {
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(
            c,
            mint_self(P, Q, JINUE_PERM_MAP | JINUE_PERM_CREATE_THREAD),
            Ok(())
        );
        for d in INVALID {
            check_eq!(
                c,
                api::dup(d, INIT_THREAD_DESCRIPTOR, 5),
                Err(BadF),
                "target {:#x}",
                d
            );
            check_eq!(c, api::dup(P, d, 5), Err(BadF), "source {:#x}", d);
            let r = api::dup(P, INIT_THREAD_DESCRIPTOR, d);
            check!(c, r.is_err(), "destination {:#x}: {:?}", d, r);
        }
        check_eq!(
            c,
            api::dup(FREE, INIT_THREAD_DESCRIPTOR, 5),
            Err(BadF),
            "free target"
        );
        let r = api::dup(INIT_THREAD_DESCRIPTOR, INIT_THREAD_DESCRIPTOR, 5);
        check!(c, r.is_err(), "target is a thread: {:?}", r);
        check_eq!(c, api::dup(P, FREE, 5), Err(BadF), "free source");
        check_eq!(
            c,
            api::dup(P, P, 5),
            Err(BadF),
            "owner descriptor as source"
        );
        let r = api::dup(Q, INIT_THREAD_DESCRIPTOR, 5);
        check!(c, r.is_err(), "target without OPEN: {:?}", r);
        check_eq!(c, api::dup(P, INIT_THREAD_DESCRIPTOR, 5), Ok(()));
        let r = api::dup(P, INIT_THREAD_DESCRIPTOR, 5);
        check!(c, r.is_err(), "destination in use: {:?}", r);
        check_eq!(
            c,
            api::dup(SELF, Q, Q + 1),
            Ok(()),
            "DUP within the own table"
        );
        check_eq!(
            c,
            api::create_thread(T, Q + 1),
            Err(Perm),
            "the copy has the source's permissions"
        );
        check_eq!(
            c,
            api::destroy(Q + 1),
            Err(Perm),
            "a DUP copy is not an owner"
        );
        check_eq!(c, api::destroy(P), Ok(()));
        check_eq!(
            c,
            api::dup(P, INIT_THREAD_DESCRIPTOR, 6),
            Err(Io),
            "target destroyed"
        );
        check_eq!(
            c,
            api::dup(SELF, Q, Q + 2),
            Err(Io),
            "source's process destroyed"
        );
        cleanup(P, &[Q, Q + 1, Q + 2]);
    });
    s.isolated("mint_errors", |c| {
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(c, api::create_process(P2), Ok(()));
        check_eq!(c, api::create_thread(T, SELF), Ok(()));
        for d in INVALID {
            check_eq!(
                c,
                mint_self(d, Q, JINUE_PERM_MAP),
                Err(BadF),
                "owner {:#x}",
                d
            );
        }
        check_eq!(
            c,
            mint_self(FREE, Q, JINUE_PERM_MAP),
            Err(BadF),
            "free slot"
        );
        check_eq!(
            c,
            mint_self(SELF, Q, JINUE_PERM_MAP),
            Err(Perm),
            "descriptor 0 is not an owner"
        );
        check_eq!(c, mint_self(P, Q, 0), Err(Inval), "empty perms");
        check_eq!(
            c,
            mint_self(P, Q, JINUE_PERM_START),
            Err(Inval),
            "thread perm on a process"
        );
        check_eq!(
            c,
            mint_self(P, Q, JINUE_PERM_SEND),
            Err(Inval),
            "endpoint perm on a process"
        );
        check_eq!(c, mint_self(P, Q, 1 << 7), Err(Inval), "unknown perm bit");
        check_eq!(c, mint_self(P, Q, u32::MAX), Err(Inval), "perms -1");
        check_eq!(
            c,
            mint_self(T, Q, JINUE_PERM_MAP),
            Err(Inval),
            "process perm on a thread"
        );
        check_eq!(c, mint_self(P, Q, JINUE_PERM_MAP), Ok(()));
        let r = mint_self(P, Q, JINUE_PERM_MAP);
        check!(c, r.is_err(), "destination in use: {:?}", r);
        check_eq!(
            c,
            api::mint_into(P, Q, 3, JINUE_PERM_MAP, 0),
            Err(Perm),
            "target without OPEN"
        );
        check_eq!(
            c,
            api::mint_into(P, P2, 3, JINUE_PERM_MAP, 0),
            Ok(()),
            "into another process"
        );
        let r = api::mint_into(P, INIT_THREAD_DESCRIPTOR, 3, JINUE_PERM_MAP, 0);
        check!(c, r.is_err(), "target is a thread: {:?}", r);
        check_eq!(
            c,
            mint_self(Q, Q + 1, JINUE_PERM_MAP),
            Err(Perm),
            "a minted copy is not an owner"
        );
        check_eq!(
            c,
            api::destroy(Q),
            Err(Perm),
            "DESTROY through a minted copy"
        );
        check_eq!(c, mint_self(T, Q + 2, THREAD_PERMS), Ok(()));
        check_eq!(c, api::destroy(P), Ok(()));
        check_eq!(
            c,
            mint_self(P, Q + 3, JINUE_PERM_MAP),
            Err(Io),
            "object destroyed"
        );
        check_eq!(
            c,
            api::mint_into(P2, P, 3, JINUE_PERM_MAP, 0),
            Err(Io),
            "target destroyed"
        );
        cleanup(P, &[Q, Q + 1, Q + 2, Q + 3, T]);
        cleanup(P2, &[]);
    });
    s.isolated("close_and_destroy", |c| {
        for d in INVALID {
            check_eq!(c, api::close(d), Err(BadF), "close {:#x}", d);
            check_eq!(c, api::destroy(d), Err(BadF), "destroy {:#x}", d);
        }
        check_eq!(c, api::close(FREE), Err(BadF), "close a free slot");
        check_eq!(c, api::destroy(FREE), Err(BadF), "destroy a free slot");
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(c, mint_self(P, Q, PROCESS_PERMS), Ok(()));
        check_eq!(c, api::close(Q), Ok(()));
        check_eq!(c, api::close(Q), Err(BadF), "closed twice");
        check_eq!(c, api::actor_cap(Q).err(), Some(BadF), "use after close");
        check_eq!(
            c,
            mint_self(P, Q, PROCESS_PERMS),
            Ok(()),
            "the slot is free again"
        );
        let cap = api::actor_cap(P).unwrap_or_default();
        check_eq!(c, api::destroy(P), Ok(()));
        check_eq!(c, api::actor_cap(P).err(), Some(Io), "owner after DESTROY");
        check_eq!(c, api::actor_cap(Q).err(), Some(Io), "copy after DESTROY");
        check_eq!(c, api::destroy(P), Err(Io), "DESTROY twice");
        check_eq!(
            c,
            stat_all(Actor::Cap(&cap)).0,
            Err(ChorusError::Unknown),
            "its capability"
        );
        check_eq!(
            c,
            api::close(P),
            Ok(()),
            "closing a dead object's descriptor"
        );
        check_eq!(c, api::close(Q), Ok(()));
        check_eq!(c, api::close(P), Err(BadF));
    });
    s.isolated("process_dies_with_last_thread", |c| {
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let Ok(shared) = shared else {
            return c.fail(file!(), line!(), format_args!("shared region"));
        };
        let at = shared.addr();
        poke(at, 0);
        touch_stack();
        let base = usage();
        match fork() {
            Ok(Fork::Child) => {
                while peek(at) == 0 {
                    api::yield_thread();
                }
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                let cap = api::actor_cap(child.process);
                check!(c, cap.is_ok(), "ACTOR_CAP of the live child: {:?}", cap);
                poke(at, 1);
                check_eq!(c, api::await_thread(child.thread), Ok(0));
                check_eq!(
                    c,
                    api::actor_cap(child.process).err(),
                    Some(Io),
                    "EIO after the last thread exited"
                );
                check_eq!(c, api::create_thread(T, child.process), Err(Io));
                check_eq!(
                    c,
                    api::dup(child.process, INIT_THREAD_DESCRIPTOR, 2),
                    Err(Io)
                );
                check_eq!(
                    c,
                    api::mclone_range(
                        SELF,
                        child.process,
                        0x10_0000,
                        0x10_0000,
                        PAGE_SIZE,
                        JINUE_PROT_READ
                    ),
                    Err(Io)
                );
                if let Ok(cap) = cap {
                    check_eq!(
                        c,
                        stat_all(Actor::Cap(&cap)).0,
                        Err(ChorusError::Unknown),
                        "its capability"
                    );
                }
                child.release();
                check_eq!(c, usage(), base, "memory back to baseline");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("faults_kill_only_the_thread", |c| {
        let ro = Region::anywhere(1, 0);
        let nx = Region::anywhere(1, K_WRITABLE);
        let noaccess = Region::anywhere(1, K_WRITABLE);
        let (Ok(ro), Ok(nx), Ok(noaccess)) = (ro, nx, noaccess) else {
            return c.fail(file!(), line!(), format_args!("regions"));
        };
        poke8(nx.addr(), 0xc3); // `ret`
        let _ = api::rgn_set_protect(Actor::Me, &rgn(noaccess.addr(), PAGE_SIZE, K_NOACCESS));
        let text = main as *const () as u64;
        let (ro_a, nx_a, na_a) = (ro.addr(), nx.addr(), noaccess.addr());
        let unmapped = hole();
        let after = AtomicU64::new(0);
        let faults: [(&str, &(dyn Fn() + Sync)); 17] = [
            ("NULL read", &|| {
                peek(0);
            }),
            ("NULL write", &|| poke(0, 1)),
            ("kernel address read", &|| {
                peek(0xffff_8000_0000_0000);
            }),
            ("top kernel page write", &|| poke(0xffff_ffff_ffff_f000, 1)),
            ("non-canonical address", &|| {
                peek(USER_LIMIT);
            }),
            ("write to text", &|| poke8(text, 0xcc)),
            ("write to read-only region", &|| poke(ro_a, 1)),
            ("read of a no-access region", &|| {
                peek(na_a);
            }),
            ("execute non-executable region", &|| call(nx_a)),
            ("execute from the stack", &|| {
                let code = [0xc3u8; 16];
                call(code.as_ptr() as u64);
            }),
            ("execute unmapped", &|| call(unmapped)),
            ("ud2", &|| unsafe_insn(Insn::Ud2)),
            ("division by zero", &|| unsafe_insn(Insn::Div0)),
            ("hlt", &|| unsafe_insn(Insn::Hlt)),
            ("cli", &|| unsafe_insn(Insn::Cli)),
            ("port input", &|| unsafe_insn(Insn::In)),
            ("read cr3", &|| unsafe_insn(Insn::MovCr3)),
        ];
        for (what, f) in faults {
            after.store(0, Ordering::Relaxed);
            let r = on_thread(|| {
                f();
                after.store(1, Ordering::Relaxed);
            });
            check_eq!(c, r, Some(1), "AWAIT_THREAD after {}", what);
            check_eq!(
                c,
                after.load(Ordering::Relaxed),
                0,
                "the thread went on after {}",
                what
            );
            check_eq!(
                c,
                on_thread(|| {}),
                Some(0),
                "the process goes on after {}",
                what
            );
        }
        check_eq!(c, peek8(text) != 0xcc, true, "text unchanged");
        check_eq!(c, peek(ro_a), 0, "read-only region unchanged");
    });
    s.isolated("preemption", |c| {
        const BOUND: u64 = 1 << 31;
        let started = AtomicU64::new(0);
        let stop = AtomicU64::new(0);
        let spins = AtomicU64::new(0);
        // SAFETY: joined below before the atomics go out of scope.
        let spinner = unsafe {
            ferrite_rt::thread::spawn_unchecked(
                || {
                    started.store(1, Ordering::SeqCst);
                    let mut n = 0;
                    while stop.load(Ordering::Relaxed) == 0 && n < BOUND {
                        n += 1;
                        core::hint::spin_loop();
                    }
                    spins.store(n, Ordering::SeqCst);
                },
                ferrite_rt::thread::DEFAULT_STACK_BYTES,
            )
        };
        check!(c, spinner.is_ok());
        let Ok(spinner) = spinner else { return };
        while started.load(Ordering::SeqCst) == 0 {
            api::yield_thread();
        }
        stop.store(1, Ordering::SeqCst);
        check_eq!(c, spinner.join().ok(), Some(0));
        let n = spins.load(Ordering::SeqCst);
        check!(
            c,
            n < BOUND,
            "the main thread ran only after the spinner gave up ({} spins)",
            n
        );
    });
    s.isolated("context_switches_preserve_registers", |c| {
        // Each spinner checks its registers in chunks until told to stop (or
        // a cap, so that a kernel without preemption still ends the case).
        const CHUNK: u64 = 1 << 16;
        const MAX_CHUNKS: u64 = 1 << 10;
        const THREADS: usize = 3;
        let mut blocks = [[0u64; 41]; THREADS];
        for (t, b) in blocks.iter_mut().enumerate() {
            for (i, w) in b.iter_mut().take(40).enumerate() {
                *w = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul((t * 64 + i + 1) as u64);
            }
        }
        let counters: [u64; THREADS] = core::array::from_fn(|t| blocks[t].as_ptr() as u64 + 320);
        let results = [const { AtomicU64::new(u64::MAX) }; THREADS];
        let done = [const { AtomicU64::new(0) }; THREADS];
        let stop = AtomicU64::new(0);
        let mut handles = [const { None }; THREADS];
        for (t, b) in blocks.iter_mut().enumerate() {
            let p = b.as_mut_ptr() as u64;
            let (res, fin, stop) = (&results[t], &done[t], &stop);
            // SAFETY: joined below, before `blocks`, `results`, `done` and `stop` go out of scope.
            let h = unsafe {
                ferrite_rt::thread::spawn_unchecked(
                    move || {
                        let mut mismatches = 0;
                        for _ in 0..MAX_CHUNKS {
                            mismatches += regs_spin(p, CHUNK);
                            if stop.load(Ordering::SeqCst) != 0 {
                                break;
                            }
                        }
                        res.store(mismatches, Ordering::SeqCst);
                        fin.store(1, Ordering::SeqCst);
                    },
                    ferrite_rt::thread::DEFAULT_STACK_BYTES,
                )
            };
            check!(c, h.is_ok(), "thread {}", t);
            handles[t] = h.ok();
        }
        let spawned: [bool; THREADS] = core::array::from_fn(|t| handles[t].is_some());
        let mut interleaved = false;
        loop {
            let live = (0..THREADS)
                .filter(|&t| {
                    spawned[t] && peek(counters[t]) > 0 && done[t].load(Ordering::SeqCst) == 0
                })
                .count();
            interleaved |= live >= 2;
            let all_started = (0..THREADS).all(|t| !spawned[t] || peek(counters[t]) > 0);
            let all_done = (0..THREADS).all(|t| !spawned[t] || done[t].load(Ordering::SeqCst) != 0);
            if (interleaved && all_started) || all_done {
                break;
            }
            api::yield_thread();
        }
        // Let them be switched a while longer, then stop them.
        for _ in 0..50 {
            api::yield_thread();
        }
        stop.store(1, Ordering::SeqCst);
        for h in handles.into_iter().flatten() {
            check_eq!(c, h.join().ok(), Some(0));
        }
        for (t, r) in results.iter().enumerate() {
            check_eq!(
                c,
                r.load(Ordering::SeqCst),
                0,
                "register changes seen by thread {}",
                t
            );
        }
        check!(
            c,
            interleaved,
            "two spinning threads were never alive and started at the same time"
        );
    });
    s.isolated("many_threads", |c| {
        const THREADS: usize = 24;
        let total = AtomicU64::new(0);
        let mut handles = [const { None }; THREADS];
        for h in handles.iter_mut() {
            // SAFETY: joined below, before `total` goes out of scope.
            *h = unsafe {
                ferrite_rt::thread::spawn_unchecked(
                    || {
                        for i in 0..1000 {
                            total.fetch_add(1, Ordering::SeqCst);
                            if i % 100 == 0 {
                                api::yield_thread();
                            }
                        }
                    },
                    16 * 1024,
                )
            }
            .ok();
        }
        check!(
            c,
            handles.iter().all(|h| h.is_some()),
            "all threads started"
        );
        for h in handles.into_iter().flatten() {
            check_eq!(c, h.join().ok(), Some(0));
        }
        check_eq!(c, total.load(Ordering::SeqCst), 1000 * THREADS as u64);
    });
    s.isolated("await_from_another_process", |c| {
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let Ok(shared) = shared else {
            return c.fail(file!(), line!(), format_args!("region"));
        };
        let f = shared.addr();
        poke(f, 0);
        // A thread of ours that ends when told to.
        let h = ferrite_rt::thread::spawn(move || {
            while peek(f) != 1 {
                api::yield_thread();
            }
        });
        let Ok(h) = h else {
            return c.fail(file!(), line!(), format_args!("thread"));
        };
        match fork() {
            Ok(Fork::Child) => {
                while peek(f) != 1 {
                    api::yield_thread();
                }
                poke(f + 8, jcode(api::await_thread(Q)));
                poke(f, 2);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                // The child gets an AWAIT-only copy of our thread's owner descriptor.
                check_eq!(
                    c,
                    api::mint_into(h.descriptor(), child.process, Q, JINUE_PERM_AWAIT, 0),
                    Ok(())
                );
                poke(f, 1);
                while peek(f) != 2 {
                    api::yield_thread();
                }
                check_eq!(c, peek(f + 8), 0, "the child awaited our thread: it exited");
                check_eq!(
                    c,
                    api::await_thread(h.descriptor()),
                    Err(Srch),
                    "already awaited by the child"
                );
                check_eq!(c, child.wait().ok(), Some(0));
                let st = h.stack();
                let _ = api::close(h.descriptor());
                ferrite_rt::desc::free(h.descriptor());
                let _ = api::rgn_free(Actor::Me, &rgn(st.startAddr, st.size, 0));
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("thread_in_an_empty_process", |c| {
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(c, api::create_thread(T, P), Ok(()));
        check_eq!(c, api::start_thread(T, 0x40_0000, 0x7fff_0000), Ok(()));
        check_eq!(
            c,
            api::await_thread(T),
            Ok(1),
            "no memory at the entry point: killed by a fault"
        );
        let _ = api::close(T);
        cleanup(P, &[]);
    });
    s.isolated("actor_capabilities", |c| {
        let me = api::actor_self();
        check!(c, me.is_ok(), "ACTOR_SELF: {:?}", me);
        let me = me.unwrap_or_default();
        check_eq!(c, me.ui.tail, SITE_NUMBER, "site");
        check_eq!(c, me.ui.head >> UI_TYPE_SHIFT, ACTOR_TYPE, "type bits");
        check_eq!(
            c,
            api::actor_cap(SELF).ok(),
            Some(me),
            "ACTOR_CAP(0) = ACTOR_SELF"
        );
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(c, api::create_process(P2), Ok(()));
        let p = api::actor_cap(P).unwrap_or_default();
        let p2 = api::actor_cap(P2).unwrap_or_default();
        check!(c, p.ui != p2.ui && p.ui != me.ui, "stamps unique");
        check!(c, p.key != p2.key && p.key != me.key, "keys differ");
        check_eq!(
            c,
            stat_all(Actor::Cap(&p)).0,
            Ok(0),
            "a valid capability works"
        );
        let mut wrong_key = p;
        wrong_key.key.head ^= 1;
        check_eq!(
            c,
            stat_all(Actor::Cap(&wrong_key)).0,
            Err(ChorusError::Inval),
            "wrong key"
        );
        let mut wrong_type = p;
        wrong_type.ui.head = (p.ui.head & UI_STAMP_MASK) | (2 << UI_TYPE_SHIFT);
        check_eq!(
            c,
            stat_all(Actor::Cap(&wrong_type)).0,
            Err(ChorusError::Inval),
            "wrong type bits"
        );
        let mut other_site = p;
        other_site.ui.tail = SITE_NUMBER + 1;
        check_eq!(
            c,
            stat_all(Actor::Cap(&other_site)).0,
            Err(ChorusError::Unknown),
            "another site"
        );
        let never = KnCap {
            ui: abi::types::KnUniqueId {
                head: actor_ui_head(UI_STAMP_MASK - 7),
                tail: SITE_NUMBER,
            },
            key: p.key,
        };
        check_eq!(
            c,
            stat_all(Actor::Cap(&never)).0,
            Err(ChorusError::Unknown),
            "never existed"
        );
        // K_SVACTOR and bad pointers, for every function that takes a KnCap *.
        let desc = rgn(0x10_0000, PAGE_SIZE, 0);
        let d = &desc as *const _ as u64;
        let mut st = [KnRgnStat::default(); 1];
        let buf = abi::types::JinueBuffer {
            addr: st.as_mut_ptr() as u64,
            size: core::mem::size_of_val(&st) as u64,
        };
        let b = &buf as *const _ as u64;
        for (cap, want, what) in [
            (K_SVACTOR, K_EINVAL, "K_SVACTOR"),
            (0, K_EFAULT, "NULL"),
            (USER_LIMIT, K_EFAULT, "kernel pointer"),
            (USER_LIMIT - 8, K_EFAULT, "crossing USER_LIMIT"),
        ] {
            for (f, a2, a3) in [
                (K_SYS_RGN_ALLOCATE, d, 0),
                (K_SYS_RGN_FREE, d, 0),
                (K_SYS_RGN_STAT, d, b),
                (K_SYS_RGN_SET_INHERIT, d, 0),
                (K_SYS_RGN_SET_PROTECT, d, 0),
                (K_SYS_RGN_DUP, K_MYACTOR, 0),
                (K_SYS_ACTOR_DELETE, 0, 0),
            ] {
                check_eq!(
                    c,
                    raw(f, cap, a2, a3).arg0 as i64,
                    want,
                    "function {} with {}",
                    f,
                    what
                );
            }
            check_eq!(
                c,
                raw(K_SYS_RGN_DUP, K_MYACTOR, cap, 0).arg0 as i64,
                want,
                "RGN_DUP source {}",
                what
            );
        }
        for (ptr, what) in [
            (0, "NULL"),
            (USER_LIMIT, "kernel"),
            (PATTERN.as_ptr() as u64, "read-only"),
        ] {
            check_eq!(
                c,
                raw(K_SYS_ACTOR_SELF, ptr, 0, 0).arg0 as i64,
                K_EFAULT,
                "ACTOR_SELF into {}",
                what
            );
            check_eq!(
                c,
                jraw(FERRITE_SYS_ACTOR_CAP, P, ptr, 0),
                Err(Inval),
                "ACTOR_CAP into {}",
                what
            );
        }
        check_eq!(c, PATTERN, [0x5a; 16], "read-only memory unchanged");
        // An output that runs from a writable page into a read-only one.
        if let Ok(edge) = Region::anywhere(2, K_WRITABLE) {
            let _ = api::rgn_set_protect(Actor::Me, &rgn(edge.page(1), PAGE_SIZE, 0));
            let at = edge.page(1) - 8;
            check_eq!(
                c,
                raw(K_SYS_ACTOR_SELF, at, 0, 0).arg0 as i64,
                K_EFAULT,
                "ACTOR_SELF into a half read-only KnCap"
            );
            check_eq!(
                c,
                jraw(FERRITE_SYS_ACTOR_CAP, P, at, 0),
                Err(Inval),
                "ACTOR_CAP into a half read-only KnCap"
            );
        }
        // ACTOR_CAP's descriptor checks.
        for d in INVALID {
            check_eq!(c, api::actor_cap(d).err(), Some(BadF), "ACTOR_CAP {:#x}", d);
        }
        check_eq!(c, api::actor_cap(FREE).err(), Some(BadF), "free slot");
        let r = api::actor_cap(INIT_THREAD_DESCRIPTOR);
        check!(c, r.is_err(), "ACTOR_CAP of a thread: {:?}", r);
        check_eq!(c, mint_self(P, Q, JINUE_PERM_MAP), Ok(()));
        let r = api::actor_cap(Q);
        check!(c, r.is_err(), "ACTOR_CAP without OPEN: {:?}", r);
        // ACTOR_DELETE destroys the actor like DESTROY.
        check_eq!(
            c,
            api::actor_delete(Actor::Cap(&wrong_key)),
            Err(ChorusError::Inval)
        );
        check_eq!(
            c,
            api::actor_cap(P).ok(),
            Some(p),
            "an inconsistent capability deleted nothing"
        );
        check_eq!(c, api::actor_delete(Actor::Cap(&p)), Ok(()));
        check_eq!(
            c,
            api::actor_cap(P).err(),
            Some(Io),
            "deleted actor's descriptor"
        );
        check_eq!(
            c,
            api::actor_delete(Actor::Cap(&p)),
            Err(ChorusError::Unknown),
            "deleted twice"
        );
        check_eq!(c, stat_all(Actor::Cap(&p)).0, Err(ChorusError::Unknown));
        check_eq!(
            c,
            stat_all(Actor::Cap(&wrong_key)).0,
            Err(ChorusError::Unknown),
            "any key of a dead actor"
        );
        check_eq!(c, api::create_process(P + 100), Ok(()));
        let p3 = api::actor_cap(P + 100).unwrap_or_default();
        check!(c, p3.ui != p.ui, "stamps are never reused");
        cleanup(P, &[Q]);
        cleanup(P2, &[]);
        cleanup(P + 100, &[]);
    });
    s.isolated("actor_delete_self", |c| {
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let Ok(shared) = shared else {
            return c.fail(file!(), line!(), format_args!("shared region"));
        };
        let at = shared.addr();
        poke(at, 0);
        match fork() {
            Ok(Fork::Child) => {
                poke(at, 1);
                let r = api::actor_delete(Actor::Me);
                poke(at, 2 + r.err().map_or(0, |e| e.code().unsigned_abs()));
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                let r = api::await_thread(child.thread);
                // The ABI leaves open whether the thread object outlives its
                // process (0/1) or is gone with it (EIO); it must not block.
                check!(
                    c,
                    matches!(r, Ok(_) | Err(Io)),
                    "AWAIT_THREAD on the deleted child's thread: {:?}",
                    r
                );
                check_eq!(c, peek(at), 1, "ACTOR_DELETE(K_MYACTOR) did not return");
                check_eq!(
                    c,
                    api::actor_cap(child.process).err(),
                    Some(Io),
                    "the child is gone"
                );
                child.release();
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("destroy_running_process", |c| {
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE);
        let Ok(shared) = shared else {
            return c.fail(file!(), line!(), format_args!("shared region"));
        };
        let at = shared.addr();
        poke(at, 0);
        touch_stack();
        let base = usage();
        match fork() {
            Ok(Fork::Child) => loop {
                poke(at, peek(at) + 1);
            },
            Ok(Fork::Parent(child)) => {
                while peek(at) == 0 {
                    api::yield_thread();
                }
                check_eq!(c, api::destroy(child.process), Ok(()));
                let v = peek(at);
                for _ in 0..20 {
                    api::yield_thread();
                }
                check_eq!(c, peek(at), v, "the destroyed process's thread stopped");
                check_eq!(c, api::actor_cap(child.process).err(), Some(Io));
                child.release();
                check_eq!(c, usage(), base, "memory back to baseline");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
}

/// Bytes in read-only memory (the rodata segment).
static PATTERN: [u8; 16] = [0x5a; 16];

fn jcode(r: Result<u64, JinueError>) -> u64 {
    match r {
        Ok(v) => v,
        Err(e) => 1000 + e.number(),
    }
}

/// Calls the code at `addr` (a `ret`, if it runs at all).
fn call(addr: u64) {
    // SAFETY: deliberately jumps to `addr` to provoke an execute fault; if the
    // page runs, it holds a lone `ret`. The call clobbers caller-saved registers.
    unsafe {
        core::arch::asm!("call {a}", a = in(reg) addr, clobber_abi("C"));
    }
}

enum Insn {
    Ud2,
    Div0,
    Hlt,
    Cli,
    In,
    MovCr3,
}

/// Executes an instruction that must fault in ring 3.
fn unsafe_insn(i: Insn) {
    // SAFETY: each instruction traps in user mode (invalid opcode, divide
    // error or general protection); the kernel kills this thread.
    unsafe {
        match i {
            Insn::Ud2 => core::arch::asm!("ud2"),
            Insn::Div0 => {
                core::arch::asm!("xor edx, edx", "xor ecx, ecx", "mov eax, 1", "div ecx", out("eax") _, out("edx") _, out("ecx") _)
            }
            Insn::Hlt => core::arch::asm!("hlt"),
            Insn::Cli => core::arch::asm!("cli"),
            Insn::In => core::arch::asm!("in al, dx", out("al") _, in("dx") 0x3f8u16),
            Insn::MovCr3 => core::arch::asm!("mov {r}, cr3", r = out(reg) _),
        }
    }
}

/// Runs `objects_regs_spin` on the 41-word block at `block`.
fn regs_spin(block: u64, iterations: u64) -> u64 {
    // SAFETY: every caller passes a live 41-word block owned by the calling
    // thread; the asm restores the callee-saved registers it uses.
    unsafe { objects_regs_spin(block as *mut u64, iterations) }
}
