//! Case `await_across`: a thread of another process awaiting one of ours.

use super::layout::PG;
use super::support::touch_deep;
use abi::errors::JinueError;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_tests::*;

/// Where the stub runs in the other process.
const STUB_VA: u64 = 0x10_0000;

/// Descriptor (in the other process) of the awaited thread.
const STUB_FD: u8 = 7;

/// Machine code: marks the shared word, AWAIT_THREAD(STUB_FD), stores rax
/// and rdi after it, EXIT_THREAD.
fn stub_code() -> [u8; 48] {
    let mut b = [0x90u8; 48];
    let shared = (STUB_VA + 0x800).to_le_bytes();
    let mut code = [0u8; 40];
    code[..2].copy_from_slice(&[0x48, 0xbb]); // movabs rbx, imm64
    code[2..10].copy_from_slice(&shared);
    code[10..13].copy_from_slice(&[0xc6, 0x03, 0x01]); // mov byte [rbx], 1
    code[13..18].copy_from_slice(&[0xb8, JINUE_SYS_AWAIT_THREAD as u8, 0, 0, 0]); // mov eax, 21
    code[18..23].copy_from_slice(&[0xbf, STUB_FD, 0, 0, 0]); // mov edi, fd
    code[23..25].copy_from_slice(&[0x0f, 0x05]); // syscall
    code[25..29].copy_from_slice(&[0x48, 0x89, 0x43, 0x08]); // mov [rbx + 8], rax
    code[29..33].copy_from_slice(&[0x48, 0x89, 0x7b, 0x10]); // mov [rbx + 16], rdi
    code[33..38].copy_from_slice(&[0xb8, JINUE_SYS_EXIT_THREAD as u8, 0, 0, 0]); // mov eax, 12
    code[38..40].copy_from_slice(&[0x0f, 0x05]); // syscall
    b[..40].copy_from_slice(&code);
    b[40..42].copy_from_slice(&[0xeb, 0xfe]); // jmp $
    b
}

/// A thread of a scratch process awaits a thread of ours: it is woken with
/// 0 when ours exits; destroying its process instead ends it (AWAIT = 1)
/// and lets ours be awaited again. Nothing leaks.
pub(super) fn await_across(c: &mut Case) {
    touch_deep();
    let base = usage();
    const C: u64 = 40;
    const T: u64 = 41;
    let page = Region::anywhere(1, K_WRITABLE);
    let Ok(page) = page else {
        return c.fail(file!(), line!(), format_args!("code page"));
    };
    for (i, b) in stub_code().iter().enumerate() {
        poke8(page.addr() + i as u64, *b);
    }
    for destroy in [false, true] {
        let flag = Region::anywhere(1, K_WRITABLE);
        let Ok(flag) = flag else {
            return c.fail(file!(), line!(), format_args!("flag page"));
        };
        let fl = flag.addr();
        poke(fl, 0);
        let x = ferrite_rt::thread::spawn(move || {
            while peek(fl) == 0 {
                api::yield_thread();
            }
        });
        let Ok(x) = x else {
            return c.fail(file!(), line!(), format_args!("spawn"));
        };
        for w in 0..4 {
            poke(page.addr() + 0x800 + 8 * w, u64::MAX);
        }
        poke8(page.addr() + 0x800, 0);
        check_eq!(c, api::create_process(C), Ok(()));
        let prot = JINUE_PROT_READ | JINUE_PROT_WRITE | JINUE_PROT_EXEC;
        check_eq!(
            c,
            api::mclone_range(ferrite_rt::thread::SELF, C, page.addr(), STUB_VA, PG, prot),
            Ok(())
        );
        check_eq!(
            c,
            api::mint_into(x.descriptor(), C, u64::from(STUB_FD), JINUE_PERM_AWAIT, 0),
            Ok(()),
            "MINT our thread into the other process"
        );
        check_eq!(c, api::create_thread(T, C), Ok(()));
        check_eq!(c, api::start_thread(T, STUB_VA, STUB_VA + PG), Ok(()));
        let patience = Patience {
            yields: 10_000,
            cycles: 4 * TSC_SECOND,
        };
        wait_for(|| peek8(page.addr() + 0x800) != 0, patience);
        check_eq!(c, peek8(page.addr() + 0x800), 1, "the other thread ran");
        for _ in 0..20 {
            api::yield_thread();
        }
        if destroy {
            check_eq!(
                c,
                api::destroy(C),
                Ok(()),
                "DESTROY while its thread awaits ours"
            );
            check_eq!(c, api::await_thread(T), Ok(1), "its thread was stopped");
            check_eq!(
                c,
                peek(page.addr() + 0x808),
                u64::MAX,
                "its AWAIT never returned"
            );
            poke(fl, 1);
            check_eq!(c, x.join().ok(), Some(0), "our thread can be awaited again");
        } else {
            poke(fl, 1);
            check_eq!(c, api::await_thread(T), Ok(0), "the other thread exited");
            check_eq!(
                c,
                (peek(page.addr() + 0x808), peek(page.addr() + 0x810)),
                (0, 0),
                "its AWAIT_THREAD returned 0 (exited)"
            );
            check_eq!(
                c,
                api::destroy(C),
                Err(JinueError::Io),
                "its process ended with its last thread"
            );
            let (xd, xs) = (x.descriptor(), x.stack());
            check_eq!(
                c,
                x.join().err(),
                Some(ferrite_rt::Error::Jinue(JinueError::Srch)),
                "our thread was awaited already"
            );
            // join kept the descriptor and the stack: release them here.
            check_eq!(c, api::close(xd), Ok(()));
            ferrite_rt::desc::free(xd);
            check_eq!(
                c,
                api::rgn_free(Actor::Me, &rgn(xs.startAddr, xs.size, 0)),
                Ok(())
            );
        }
        check_eq!(c, api::close(T), Ok(()));
        check_eq!(c, api::close(C), Ok(()));
    }
    drop(page);
    check_eq!(c, usage(), base, "MEMSTAT back to baseline");
}
