//! Typed wrappers for every function of ABI §3, §4 and §7.
//!
//! The wrappers are safe functions: they pass addresses, never references the
//! kernel could invalidate. Calls that take memory away or change its
//! protection (`rgn_free`, `rgn_set_protect`, `mclone` into the own process,
//! `actor_delete`) must only be used on memory that the program touches
//! through raw pointers, never through live Rust references.

use crate::sys;
use abi::errors::{ChorusError, JinueError};
use abi::memstat::MemStat;
use abi::numbers::*;
use abi::region::K_MYACTOR;
use abi::regs::SyscallArgs;
use abi::types::{JinueBuffer, KnCap, KnRgnDesc, KnRgnStat, MCloneArgs, MintArgs};

/// Result of a Jinue-convention call.
pub type JResult<T> = Result<T, JinueError>;
/// Result of a ChorusOS-convention call.
pub type KResult<T> = Result<T, ChorusError>;

/// Issues a raw call with the mechanism in use and returns all registers.
///
/// # Safety
///
/// As for [`sys::syscall`].
pub unsafe fn raw(arg0: u64, arg1: u64, arg2: u64, arg3: u64) -> SyscallArgs {
    // SAFETY: forwarded contract.
    unsafe { sys::call(sys::args(arg0, arg1, arg2, arg3)) }
}

/// Decodes a Jinue-convention return.
///
/// # Panics
///
/// If the kernel returns an error number the ABI does not define (a kernel bug
/// that no caller could handle).
pub fn jinue_decode(r: SyscallArgs) -> JResult<u64> {
    r.jinue_result().map_err(|n| match JinueError::try_from(n) {
        Ok(e) => e,
        Err(n) => panic!("kernel returned unknown Jinue error number {n}"),
    })
}

/// Decodes a ChorusOS-convention return.
///
/// # Panics
///
/// If the kernel returns a negative code the ABI does not define.
pub fn chorus_decode(r: SyscallArgs) -> KResult<u64> {
    r.chorus_result()
        .map_err(|c| match ChorusError::try_from(c) {
            Ok(e) => e,
            Err(c) => panic!("kernel returned unknown ChorusOS error code {c}"),
        })
}

fn jinue(num: u64, a1: u64, a2: u64, a3: u64) -> JResult<u64> {
    // SAFETY: every caller in this module passes addresses of live objects it
    // owns (or plain numbers); memory effects are documented at module level.
    jinue_decode(unsafe { raw(num, a1, a2, a3) })
}

fn chorus(num: u64, a1: u64, a2: u64, a3: u64) -> KResult<u64> {
    // SAFETY: as in `jinue`.
    chorus_decode(unsafe { raw(num, a1, a2, a3) })
}

fn addr<T>(r: &T) -> u64 {
    r as *const T as u64
}

/// Address of an output object: derived from an exclusive borrow, since the
/// kernel writes through it (the asm block is not `nomem`, so the compiler
/// assumes the write).
fn out_addr<T>(r: &mut T) -> u64 {
    r as *mut T as u64
}

/// An actor named where the ABI expects a `KnCap *`.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// `K_MYACTOR`: the calling actor.
    Me,
    /// An actor capability.
    Cap(&'a KnCap),
}

impl Actor<'_> {
    /// The pointer value passed to the kernel.
    pub fn arg(self) -> u64 {
        match self {
            Actor::Me => K_MYACTOR,
            Actor::Cap(c) => addr(c),
        }
    }
}

/// PUTS: writes `text` (at most 120 bytes) as one console line at `level`.
///
/// # Errors
///
/// `JINUE_EINVAL` for a bad level, a too long or unreadable string.
pub fn puts(level: u64, text: &[u8]) -> JResult<()> {
    jinue(
        JINUE_SYS_PUTS,
        level,
        text.as_ptr() as u64,
        text.len() as u64,
    )
    .map(drop)
}

/// REBOOT: returns only with the error the kernel gave.
pub fn reboot() -> JinueError {
    match jinue(JINUE_SYS_REBOOT, 0, 0, 0) {
        Err(e) => e,
        Ok(v) => panic!("REBOOT returned {v}"),
    }
}

/// POWEROFF with `status`: returns only with the error (`JINUE_EPERM` outside init).
pub fn poweroff(status: u8) -> JinueError {
    match jinue(FERRITE_SYS_POWEROFF, u64::from(status), 0, 0) {
        Err(e) => e,
        Ok(v) => panic!("POWEROFF returned {v}"),
    }
}

/// CREATE_THREAD: a stopped thread in `process`, owned through `thread`.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`, `ENOMEM` (ABI §3).
pub fn create_thread(thread: u64, process: u64) -> JResult<()> {
    jinue(JINUE_SYS_CREATE_THREAD, thread, process, 0).map(drop)
}

/// YIELD_THREAD.
pub fn yield_thread() {
    // The ABI gives YIELD no error; a failure here would be a kernel bug.
    let r = jinue(JINUE_SYS_YIELD_THREAD, 0, 0, 0);
    debug_assert!(r.is_ok());
}

/// SET_THREAD_LOCAL: sets the `fs` base.
///
/// # Errors
///
/// `JINUE_EINVAL` if the range belongs to the kernel.
pub fn set_thread_local(address: u64, size: u64) -> JResult<()> {
    jinue(JINUE_SYS_SET_THREAD_LOCAL, address, size, 0).map(drop)
}

/// EXIT_THREAD.
pub fn exit_thread() -> ! {
    loop {
        // SAFETY: EXIT_THREAD does not return; nothing of the caller survives.
        unsafe {
            raw(JINUE_SYS_EXIT_THREAD, 0, 0, 0);
        }
    }
}

/// CREATE_PROCESS into descriptor `process`.
///
/// # Errors
///
/// `EBADF`, `EAGAIN`.
pub fn create_process(process: u64) -> JResult<()> {
    jinue(JINUE_SYS_CREATE_PROCESS, process, 0, 0).map(drop)
}

/// MCLONE (ABI §3.1).
///
/// # Errors
///
/// As listed in ABI §3.1, item 8.
pub fn mclone(src: u64, dest: u64, args: &MCloneArgs) -> JResult<()> {
    jinue(JINUE_SYS_MCLONE, src, dest, addr(args)).map(drop)
}

/// MCLONE with the fields spelled out.
///
/// # Errors
///
/// As [`mclone`].
pub fn mclone_range(
    src: u64,
    dest: u64,
    src_addr: u64,
    dest_addr: u64,
    length: u64,
    prot: i32,
) -> JResult<()> {
    let a = MCloneArgs {
        src_addr,
        dest_addr,
        length,
        prot,
        _pad: 0,
    };
    mclone(src, dest, &a)
}

/// DUP: copies the caller's descriptor `src` into `target` process at number `dest`.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`.
pub fn dup(target: u64, src: u64, dest: u64) -> JResult<()> {
    jinue(JINUE_SYS_DUP, target, src, dest).map(drop)
}

/// CLOSE.
///
/// # Errors
///
/// `EBADF`.
pub fn close(desc: u64) -> JResult<()> {
    jinue(JINUE_SYS_CLOSE, desc, 0, 0).map(drop)
}

/// DESTROY through an owner descriptor.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`.
pub fn destroy(desc: u64) -> JResult<()> {
    jinue(JINUE_SYS_DESTROY, desc, 0, 0).map(drop)
}

/// MINT from owner descriptor `owner`.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`, `EINVAL`.
pub fn mint(owner: u64, args: &MintArgs) -> JResult<()> {
    jinue(JINUE_SYS_MINT, owner, addr(args), 0).map(drop)
}

/// MINT with the fields spelled out.
///
/// # Errors
///
/// As [`mint`].
pub fn mint_into(owner: u64, process: u64, fd: u64, perms: u32, cookie: u64) -> JResult<()> {
    let a = MintArgs {
        process: process as i32,
        fd: fd as i32,
        perms: perms as i32,
        _pad: 0,
        cookie,
    };
    mint(owner, &a)
}

/// START_THREAD at `entry` with stack pointer `stack`.
///
/// # Errors
///
/// `EINVAL`, `EBADF`, `EPERM`, `EBUSY`.
pub fn start_thread(thread: u64, entry: u64, stack: u64) -> JResult<()> {
    jinue(JINUE_SYS_START_THREAD, thread, entry, stack).map(drop)
}

/// AWAIT_THREAD: 0 if the thread exited, 1 if a fault killed it.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`, `EDEADLK`, `ESRCH`.
pub fn await_thread(thread: u64) -> JResult<u64> {
    jinue(JINUE_SYS_AWAIT_THREAD, thread, 0, 0)
}

/// MEMSTAT into a full structure.
///
/// # Errors
///
/// `EINVAL` (never for this buffer).
pub fn memstat() -> JResult<MemStat> {
    let mut m = MemStat::default();
    jinue(
        FERRITE_SYS_MEMSTAT,
        out_addr(&mut m),
        core::mem::size_of::<MemStat>() as u64,
        0,
    )?;
    Ok(m)
}

/// MEMSTAT into a raw byte buffer (partial structures allowed).
///
/// # Errors
///
/// `EINVAL` if the buffer is bad.
pub fn memstat_into(buf: &mut [u8]) -> JResult<()> {
    jinue(
        FERRITE_SYS_MEMSTAT,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        0,
    )
    .map(drop)
}

/// ACTOR_CAP: the capability of the process behind `process`.
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`, `EINVAL`.
pub fn actor_cap(process: u64) -> JResult<KnCap> {
    let mut cap = KnCap::default();
    jinue(FERRITE_SYS_ACTOR_CAP, process, out_addr(&mut cap), 0)?;
    Ok(cap)
}

/// RGN_ALLOCATE; with `K_ANYWHERE` the chosen address is in `desc.startAddr`.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`, `K_EOVERLAP`, `K_ENOMEM`.
pub fn rgn_allocate(actor: Actor, desc: &mut KnRgnDesc) -> KResult<()> {
    chorus(K_SYS_RGN_ALLOCATE, actor.arg(), out_addr(desc), 0).map(drop)
}

/// RGN_FREE.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`.
pub fn rgn_free(actor: Actor, desc: &KnRgnDesc) -> KResult<()> {
    chorus(K_SYS_RGN_FREE, actor.arg(), addr(desc), 0).map(drop)
}

/// RGN_STAT: fills `out` with as many entries as fit; returns the total count.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`.
pub fn rgn_stat(actor: Actor, range: &KnRgnDesc, out: &mut [KnRgnStat]) -> KResult<u64> {
    let buf = JinueBuffer {
        addr: out.as_mut_ptr() as u64,
        size: core::mem::size_of_val(out) as u64,
    };
    chorus(K_SYS_RGN_STAT, actor.arg(), addr(range), addr(&buf))
}

/// RGN_SET_INHERIT.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`.
pub fn rgn_set_inherit(actor: Actor, desc: &KnRgnDesc) -> KResult<()> {
    chorus(K_SYS_RGN_SET_INHERIT, actor.arg(), addr(desc), 0).map(drop)
}

/// RGN_SET_PROTECT.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`.
pub fn rgn_set_protect(actor: Actor, desc: &KnRgnDesc) -> KResult<()> {
    chorus(K_SYS_RGN_SET_PROTECT, actor.arg(), addr(desc), 0).map(drop)
}

/// RGN_DUP (ABI §4.4): `target` gets the regions of `source`.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`, `K_EOVERLAP`, `K_ENOMEM`.
pub fn rgn_dup(target: Actor, source: Actor, flags: u64) -> KResult<()> {
    chorus(K_SYS_RGN_DUP, target.arg(), source.arg(), flags).map(drop)
}

/// ACTOR_SELF: the caller's capability.
///
/// # Errors
///
/// `K_EFAULT` (never for this buffer).
pub fn actor_self() -> KResult<KnCap> {
    let mut cap = KnCap::default();
    chorus(K_SYS_ACTOR_SELF, out_addr(&mut cap), 0, 0)?;
    Ok(cap)
}

/// ACTOR_DELETE.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`.
pub fn actor_delete(actor: Actor) -> KResult<()> {
    chorus(K_SYS_ACTOR_DELETE, actor.arg(), 0, 0).map(drop)
}

/// A region descriptor for `[start, start + size)` with `options`.
pub const fn rgn(start: u64, size: u64, options: u64) -> KnRgnDesc {
    KnRgnDesc {
        startAddr: start,
        size,
        options,
        endAddr: 0,
        opaque1: 0,
        opaque2: 0,
    }
}
