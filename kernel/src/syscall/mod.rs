//! System-call dispatch (ABI §1): decode `arg0`, run one handler, encode the result once.
//!
//! Every handler has the same shape (STYLE rule 7): decode and check every
//! argument with no side effect, then perform with an operation that cannot
//! fail halfway. Handlers return the internal [`Error`]; [`encode`] turns it
//! into the caller's convention here and nowhere else. Only `rax`, `rdi`,
//! `rsi`, `rdx` of the context are ever written.

mod actors;
mod from_actor;
mod ipc;
mod memory;
mod physmem;
mod processes;
pub(crate) use from_actor::RangeCall;
mod segments;
mod system;
mod threads;

use crate::descriptor::{Descriptor, Object, Slot};
use crate::error::{encode, Error};
use crate::platform::Platform;
use crate::process::ProcessId;
use crate::thread::ThreadId;
use crate::{Kernel, UserContext};
use abi::numbers::{ChorusCall, Convention, Function, JinueCall};
use abi::regs::SyscallArgs;
use mm::{PhysMem, SpaceId};

/// What a successful handler wants done with the caller.
pub(crate) enum Outcome {
    /// Return `arg0 = value` to the caller, which keeps running.
    Return(u64),
    /// Return 0 and let another ready thread run first (YIELD_THREAD).
    Yield,
    /// The caller is parked or ended: its return registers are written later
    /// (when woken) or never.
    NoReturn,
}

/// The calling thread, its process and address space.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    pub thread: ThreadId,
    pub process: ProcessId,
    pub space: SpaceId,
}

type SysResult = Result<Outcome, Error>;

impl<P: PhysMem> Kernel<P> {
    /// Handles the system call in `ctx`. Returns whether the caller asked to
    /// yield the processor.
    pub(crate) fn syscall(&mut self, ctx: &mut UserContext, plat: &mut impl Platform) -> bool {
        let Some(caller) = self.caller() else {
            return false;
        };
        let args = ctx.syscall_args();
        let (convention, result) = match Function::decode(args.arg0) {
            Function::Negative => (Convention::Jinue, Err(Error::Invalid)),
            Function::Unknown => (Convention::Jinue, Err(Error::NoSystemCall)),
            // The cheapest call, answered here without `jinue_call`'s dispatch.
            Function::Jinue(JinueCall::YieldThread) => (Convention::Jinue, Ok(Outcome::Yield)),
            Function::Jinue(call) => (
                Convention::Jinue,
                self.jinue_call(call, caller, &args, ctx, plat),
            ),
            Function::Chorus(call) => (
                Convention::Chorus,
                self.chorus_call(call, caller, &args, plat),
            ),
            Function::Send(function) => (
                Convention::Jinue,
                self.sys_send(caller, function, args.arg1, args.arg2, plat),
            ),
        };
        match result {
            Ok(Outcome::Return(value)) => {
                ctx.set_return(encode(convention, Ok(value)));
                false
            }
            Ok(Outcome::Yield) => {
                ctx.set_return(encode(convention, Ok(0)));
                true
            }
            Ok(Outcome::NoReturn) => false,
            Err(e) => {
                ctx.set_return(encode(convention, Err(e)));
                false
            }
        }
    }

    fn jinue_call(
        &mut self,
        call: JinueCall,
        caller: Caller,
        a: &SyscallArgs,
        ctx: &mut UserContext,
        plat: &mut impl Platform,
    ) -> SysResult {
        match call {
            JinueCall::Reboot => self.sys_reboot(caller, plat),
            JinueCall::Puts => self.sys_puts(caller, a.arg1, a.arg2, a.arg3, plat),
            JinueCall::CreateThread => self.sys_create_thread(caller, a.arg1, a.arg2),
            JinueCall::YieldThread => Ok(Outcome::Yield),
            JinueCall::SetThreadLocal => Self::sys_set_thread_local(a.arg1, a.arg2, ctx),
            JinueCall::ExitThread => self.sys_exit_thread(caller, plat),
            JinueCall::CreateProcess => self.sys_create_process(caller, a.arg1, plat),
            JinueCall::Mclone => self.sys_mclone(caller, a.arg1, a.arg2, a.arg3, plat),
            JinueCall::Dup => self.sys_dup(caller, a.arg1, a.arg2, a.arg3),
            JinueCall::Close => self.sys_close(caller, a.arg1),
            JinueCall::Destroy => self.sys_destroy(caller, a.arg1, plat),
            JinueCall::Mint => self.sys_mint(caller, a.arg1, a.arg2, plat),
            JinueCall::StartThread => self.sys_start_thread(caller, a.arg1, a.arg2, a.arg3),
            JinueCall::AwaitThread => self.sys_await_thread(caller, a.arg1),
            JinueCall::MemStat => self.sys_memstat(caller, a.arg1, a.arg2, plat),
            JinueCall::PowerOff => self.sys_poweroff(caller, a.arg1, plat),
            JinueCall::ActorCap => self.sys_actor_cap(caller, a.arg1, a.arg2, plat),
            JinueCall::CreateEndpoint => self.sys_create_endpoint(caller, a.arg1),
            JinueCall::Receive => self.sys_receive(caller, a.arg1, a.arg2, plat),
            JinueCall::Reply => self.sys_reply(caller, a.arg2, plat),
            JinueCall::ReplyError => self.sys_reply_error(caller, a.arg1, plat),
            JinueCall::EndpointUi => self.sys_endpoint_ui(caller, a.arg1, a.arg2, plat),
            JinueCall::GetAddressMap => self.sys_get_address_map(caller, a.arg1, a.arg2, plat),
            JinueCall::Mmap => self.sys_mmap(caller, a.arg1, a.arg2, plat),
        }
    }

    fn chorus_call(
        &mut self,
        call: ChorusCall,
        caller: Caller,
        a: &SyscallArgs,
        plat: &mut impl Platform,
    ) -> SysResult {
        match call {
            ChorusCall::RgnAllocate => self.sys_rgn_allocate(caller, a.arg1, a.arg2, plat),
            ChorusCall::RgnFree => self.sys_rgn_free(caller, a.arg1, a.arg2, plat),
            ChorusCall::RgnStat => self.sys_rgn_stat(caller, a.arg1, a.arg2, a.arg3, plat),
            ChorusCall::RgnSetInherit => self.sys_rgn_set_inherit(caller, a.arg1, a.arg2, plat),
            ChorusCall::RgnSetProtect => self.sys_rgn_set_protect(caller, a.arg1, a.arg2, plat),
            ChorusCall::RgnDup => self.sys_rgn_dup(caller, a.arg1, a.arg2, a.arg3, plat),
            ChorusCall::ActorSelf => self.sys_actor_self(caller, a.arg1, plat),
            ChorusCall::ActorDelete => self.sys_actor_delete(caller, a.arg1, plat),
            ChorusCall::RgnMap => self.sys_rgn_map(caller, (a.arg1, a.arg2, a.arg3), plat),
            ChorusCall::RgnInit => self.sys_rgn_init(caller, (a.arg1, a.arg2, a.arg3), plat),
            ChorusCall::RgnMapFromActor => self.sys_rgn_from_actor(caller, a.arg1, false, plat),
            ChorusCall::RgnInitFromActor => self.sys_rgn_from_actor(caller, a.arg1, true, plat),
        }
    }

    /// The current thread with its (live) process.
    pub(crate) fn caller(&self) -> Option<Caller> {
        let thread = self.sched.current()?;
        let process = self.threads.get(thread.0)?.process;
        let space = self.processes.get(process.0)?.space;
        Some(Caller {
            thread,
            process,
            space,
        })
    }

    /// The caller's descriptor in `slot`.
    ///
    /// # Errors
    /// `BadDescriptor` if the slot is free.
    fn descriptor(&self, process: ProcessId, slot: Slot) -> Result<Descriptor, Error> {
        self.processes
            .get(process.0)
            .ok_or(Error::Dead)?
            .descriptors
            .get(slot)
            .copied()
    }

    /// Checks that `slot` of `process`'s table is free, for a descriptor about
    /// to be put there.
    ///
    /// # Errors
    /// `BadDescriptor` if the slot is in use; `Dead` if the process is gone.
    fn check_free_slot(&self, process: ProcessId, slot: Slot) -> Result<(), Error> {
        self.processes
            .get(process.0)
            .ok_or(Error::Dead)?
            .descriptors
            .check_free(slot)
    }

    /// The live process a descriptor names.
    ///
    /// # Errors
    /// `BadDescriptor` if it names no process; `Dead` if the process is gone.
    fn process_of(&self, d: &Descriptor) -> Result<ProcessId, Error> {
        match d.object {
            Object::Process(p) => match self.processes.get(p.0) {
                Some(proc) if !proc.dying => Ok(p),
                _ => Err(Error::Dead),
            },
            Object::Thread(_) | Object::Endpoint(_) => Err(Error::BadDescriptor),
        }
    }

    /// The thread object a descriptor names.
    ///
    /// # Errors
    /// `BadDescriptor` if it names no thread; `Dead` if the object is gone.
    fn thread_of(&self, d: &Descriptor) -> Result<ThreadId, Error> {
        match d.object {
            Object::Thread(t) if self.threads.get(t.0).is_some() => Ok(t),
            Object::Thread(_) => Err(Error::Dead),
            Object::Process(_) | Object::Endpoint(_) => Err(Error::BadDescriptor),
        }
    }

    /// The address space of a live process.
    fn space_of(&self, p: ProcessId) -> Result<SpaceId, Error> {
        self.processes.get(p.0).map(|p| p.space).ok_or(Error::Dead)
    }

    /// Whether the process is the init process.
    pub(crate) fn is_init(&self, p: ProcessId) -> bool {
        self.processes.get(p.0).is_some_and(|p| p.is_init)
    }
}
