//! CREATE_PROCESS, DESTROY, DUP, MINT, CLOSE, ACTOR_CAP (ABI §3, §7).

use super::{Caller, Outcome, SysResult};
use crate::descriptor::{Descriptor, Object, Slot};
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::UserPtr;
use crate::Kernel;
use abi::perms::{JINUE_PERM_OPEN, PROCESS_PERMS};
use abi::types::{KnCap, MintArgs};
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// CREATE_PROCESS (14): `EBADF` (slot invalid or in use), `EAGAIN`
    /// (process limit, or no memory for its address space).
    pub(super) fn sys_create_process(
        &mut self,
        caller: Caller,
        fd: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let slot = Slot::new(fd)?;
        self.check_free_slot(caller.process, slot)?;
        let p = self.create_process(plat)?;
        self.install(
            caller.process,
            slot,
            Descriptor {
                object: Object::Process(p),
                perms: PROCESS_PERMS,
                owner: true,
                cookie: 0,
            },
        );
        Ok(Outcome::Return(0))
    }

    /// DESTROY (18): errors in order: `EBADF` (invalid or free), `EIO`
    /// (object gone), `EPERM` (not the owner descriptor), `EBADF` (the
    /// object is not a process: threads are not destroyed this way).
    /// The descriptor stays, naming a dead object (`EIO`), until closed.
    pub(super) fn sys_destroy(
        &mut self,
        caller: Caller,
        fd: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let d = self.descriptor(caller.process, Slot::new(fd)?)?;
        let p = match d.object {
            Object::Process(_) => self.process_of(&d)?,
            Object::Thread(_) => {
                self.thread_of(&d)?;
                if !d.owner {
                    return Err(Error::Permission);
                }
                return Err(Error::BadDescriptor);
            }
            Object::Endpoint(_) => {
                let e = self.endpoint_of(&d)?;
                if !d.owner {
                    return Err(Error::Permission);
                }
                self.destroy_endpoint(e);
                return Ok(Outcome::Return(0));
            }
        };
        if !d.owner {
            return Err(Error::Permission);
        }
        self.destroy_process(p, plat);
        Ok(Outcome::Return(0))
    }

    /// DUP (16): `arg1` target process descriptor, `arg2` the caller's
    /// source descriptor, `arg3` destination number in the target. Errors in
    /// order: `EBADF`/`EIO` (target descriptor), `EBADF` (source invalid,
    /// free, or an owner descriptor), `EIO` (source object gone), `EPERM`
    /// (target lacks `OPEN`), `EBADF` (destination invalid or in use).
    pub(super) fn sys_dup(
        &mut self,
        caller: Caller,
        target_fd: u64,
        src_fd: u64,
        dest_fd: u64,
    ) -> SysResult {
        let td = self.descriptor(caller.process, Slot::new(target_fd)?)?;
        let target = self.process_of(&td)?;
        let src = self.descriptor(caller.process, Slot::new(src_fd)?)?;
        if src.owner {
            return Err(Error::BadDescriptor);
        }
        self.check_alive(&src)?;
        if !td.allows(JINUE_PERM_OPEN) {
            return Err(Error::Permission);
        }
        let dest = Slot::new(dest_fd)?;
        self.check_free_slot(target, dest)?;
        self.install(target, dest, src);
        Ok(Outcome::Return(0))
    }

    /// MINT (19): `arg1` owner descriptor, `arg2` → `jinue_mint_args_t`.
    /// Errors in order: `EINVAL` (argument structure unreadable), `EBADF`/
    /// `EIO` (owner descriptor), `EPERM` (not the owner), `EINVAL` (perms
    /// empty or outside the object type's set), `EBADF`/`EIO` (`process`
    /// descriptor), `EPERM` (it lacks `OPEN`), `EBADF` (`fd` invalid or in use).
    pub(super) fn sys_mint(
        &mut self,
        caller: Caller,
        owner_fd: u64,
        args_addr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let owner_slot = Slot::new(owner_fd)?;
        let args: MintArgs = UserPtr::new(args_addr).read(&mut self.mem, caller.space, plat)?;
        let od = self.descriptor(caller.process, owner_slot)?;
        self.check_alive(&od)?;
        if !od.owner {
            return Err(Error::Permission);
        }
        let perms = u32::try_from(args.perms).map_err(|_| Error::Invalid)?;
        if perms == 0 || perms & !od.object.permission_set() != 0 {
            return Err(Error::Invalid);
        }
        let pd = self.descriptor(caller.process, Slot::from_i32(args.process)?)?;
        let target = self.process_of(&pd)?;
        if !pd.allows(JINUE_PERM_OPEN) {
            return Err(Error::Permission);
        }
        let dest = Slot::from_i32(args.fd)?;
        self.check_free_slot(target, dest)?;
        self.install(
            target,
            dest,
            Descriptor {
                object: od.object,
                perms,
                owner: false,
                cookie: args.cookie,
            },
        );
        Ok(Outcome::Return(0))
    }

    /// CLOSE (17): `EBADF` if invalid or free. Closing a descriptor to a
    /// dead object works (that is how its `EIO` ends); closing an owner
    /// descriptor does not destroy the object.
    pub(super) fn sys_close(&mut self, caller: Caller, fd: u64) -> SysResult {
        let slot = Slot::new(fd)?;
        let d = self
            .processes
            .get_mut(caller.process.0)
            .ok_or(Error::Dead)?
            .descriptors
            .remove(slot)?;
        self.drop_descriptor(d);
        Ok(Outcome::Return(0))
    }

    /// ACTOR_CAP (98): errors in order: `EBADF`/`EIO` (process descriptor),
    /// `EPERM` (needs `OPEN`), `EINVAL` (out pointer bad).
    pub(super) fn sys_actor_cap(
        &mut self,
        caller: Caller,
        fd: u64,
        out: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let d = self.descriptor(caller.process, Slot::new(fd)?)?;
        let p = self.process_of(&d)?;
        if !d.allows(JINUE_PERM_OPEN) {
            return Err(Error::Permission);
        }
        let cap = self.processes.get(p.0).ok_or(Error::Dead)?.capability();
        UserPtr::<KnCap>::new(out).write(&mut self.mem, caller.space, &cap, plat)?;
        Ok(Outcome::Return(0))
    }

    /// `EIO` if the descriptor's object no longer exists.
    fn check_alive(&self, d: &Descriptor) -> Result<(), Error> {
        match d.object {
            Object::Process(_) => self.process_of(d).map(|_| ()),
            Object::Thread(_) => self.thread_of(d).map(|_| ()),
            Object::Endpoint(_) => self.endpoint_of(d).map(|_| ()),
        }
    }
}
