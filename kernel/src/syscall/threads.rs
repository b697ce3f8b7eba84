//! CREATE_THREAD, START_THREAD, AWAIT_THREAD, EXIT_THREAD, SET_THREAD_LOCAL (ABI §3).

use super::{Caller, Outcome, SysResult};
use crate::descriptor::{Descriptor, Object, Slot};
use crate::error::Error;
use crate::platform::Platform;
use crate::thread::{AwaitState, ExitStatus, ThreadState};
use crate::{Kernel, UserContext};
use abi::layout::{is_user_range, USER_LIMIT};
use abi::perms::{JINUE_PERM_AWAIT, JINUE_PERM_CREATE_THREAD, JINUE_PERM_OPEN, JINUE_PERM_START};
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// CREATE_THREAD (4): `arg1` new thread descriptor (caller's), `arg2`
    /// process descriptor. Errors in order: `EBADF` (new slot invalid or in
    /// use; process descriptor invalid, free or not a process), `EIO`
    /// (process gone), `EPERM` (needs `CREATE_THREAD|OPEN`), `ENOMEM`
    /// (thread limit).
    pub(super) fn sys_create_thread(
        &mut self,
        caller: Caller,
        new_fd: u64,
        process_fd: u64,
    ) -> SysResult {
        let new_slot = Slot::new(new_fd)?;
        let process_slot = Slot::new(process_fd)?;
        self.check_free_slot(caller.process, new_slot)?;
        let d = self.descriptor(caller.process, process_slot)?;
        let target = self.process_of(&d)?;
        if !d.allows(JINUE_PERM_CREATE_THREAD | JINUE_PERM_OPEN) {
            return Err(Error::Permission);
        }
        let t = self.create_thread(target)?;
        self.install(
            caller.process,
            new_slot,
            Descriptor {
                object: Object::Thread(t),
                perms: JINUE_PERM_START | JINUE_PERM_AWAIT,
                owner: true,
                cookie: 0,
            },
        );
        Ok(Outcome::Return(0))
    }

    /// START_THREAD (20): errors in order: `EINVAL` (entry or stack pointer
    /// `>= USER_LIMIT`), `EBADF`/`EIO` (descriptor), `EPERM` (needs `START`),
    /// `EIO` (its process is gone), `EBUSY` (already started: a thread runs once).
    pub(super) fn sys_start_thread(
        &mut self,
        caller: Caller,
        fd: u64,
        entry: u64,
        stack_pointer: u64,
    ) -> SysResult {
        if entry >= USER_LIMIT || stack_pointer >= USER_LIMIT {
            return Err(Error::Invalid);
        }
        let d = self.descriptor(caller.process, Slot::new(fd)?)?;
        let t = self.thread_of(&d)?;
        if !d.allows(JINUE_PERM_START) {
            return Err(Error::Permission);
        }
        let th = self.threads.get(t.0).ok_or(Error::Dead)?;
        if self.processes.get(th.process.0).is_none_or(|p| p.dying) {
            return Err(Error::Dead);
        }
        if th.state != ThreadState::Created {
            return Err(Error::Busy);
        }
        self.start_thread(t, UserContext::fresh(entry, stack_pointer));
        Ok(Outcome::Return(0))
    }

    /// AWAIT_THREAD (21): errors in order: `EBADF`/`EIO` (descriptor),
    /// `EPERM` (needs `AWAIT`), `EDEADLK` (the caller itself), `ESRCH` (never
    /// started, or already awaited). Returns at once if the thread has ended,
    /// else parks the caller until it does.
    pub(super) fn sys_await_thread(&mut self, caller: Caller, fd: u64) -> SysResult {
        let d = self.descriptor(caller.process, Slot::new(fd)?)?;
        let t = self.thread_of(&d)?;
        if !d.allows(JINUE_PERM_AWAIT) {
            return Err(Error::Permission);
        }
        if t == caller.thread {
            return Err(Error::Deadlock);
        }
        let th = self.threads.get_mut(t.0).ok_or(Error::Dead)?;
        if !th.started || th.awaited != AwaitState::NotAwaited {
            return Err(Error::NoSuchThread);
        }
        if let ThreadState::Ended(status) = th.state {
            th.awaited = AwaitState::Reported;
            return Ok(Outcome::Return(status.await_value()));
        }
        th.awaited = AwaitState::Waiter(caller.thread);
        if let Some(me) = self.threads.get_mut(caller.thread.0) {
            me.state = ThreadState::Awaiting(t);
        }
        Ok(Outcome::NoReturn)
    }

    /// EXIT_THREAD (12): ends the caller; the last started thread of a
    /// process ending destroys the process.
    pub(super) fn sys_exit_thread(
        &mut self,
        caller: Caller,
        plat: &mut impl Platform,
    ) -> SysResult {
        self.end_thread(caller.thread, ExitStatus::Exited, plat);
        Ok(Outcome::NoReturn)
    }

    /// SET_THREAD_LOCAL (6): `fs` base = `address`; `EINVAL` if
    /// `[address, address + size)` belongs to the kernel.
    pub(super) fn sys_set_thread_local(
        address: u64,
        size: u64,
        ctx: &mut UserContext,
    ) -> SysResult {
        // An empty area has no byte that could belong to the kernel, so any
        // base below USER_LIMIT is accepted (0 resets the fs base); the base
        // itself must stay a user address (USER_LIMIT would be non-canonical).
        let acceptable = if size == 0 {
            address < USER_LIMIT
        } else {
            is_user_range(address, size)
        };
        if !acceptable {
            return Err(Error::Invalid);
        }
        ctx.fs_base = address;
        Ok(Outcome::Return(0))
    }
}
