//! The ChorusOS actor calls (ABI §4.3): ACTOR_SELF and ACTOR_DELETE.

use super::{Caller, Outcome, SysResult};
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::UserPtr;
use crate::Kernel;
use abi::types::KnCap;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// ACTOR_SELF (70): writes the caller's capability (`K_EFAULT` if it cannot).
    pub(super) fn sys_actor_self(
        &mut self,
        caller: Caller,
        out: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let cap = self
            .processes
            .get(caller.process.0)
            .ok_or(Error::Dead)?
            .capability();
        UserPtr::<KnCap>::new(out).write(&mut self.mem, caller.space, &cap, plat)?;
        Ok(Outcome::Return(0))
    }

    /// ACTOR_DELETE (72): destroys the actor as DESTROY does; deleting the
    /// caller's own actor does not return.
    pub(super) fn sys_actor_delete(
        &mut self,
        caller: Caller,
        cap_ptr: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        let cap = self.read_cap(caller, cap_ptr, plat)?;
        let actor = self.resolve(caller, cap)?;
        self.destroy_process(actor, plat);
        if actor == caller.process {
            Ok(Outcome::NoReturn)
        } else {
            Ok(Outcome::Return(0))
        }
    }
}
