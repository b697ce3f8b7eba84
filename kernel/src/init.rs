//! Loading the init program (ABI §8): regions for its segments and stack, the initial stack, descriptors 0 and 1.

use crate::descriptor::{Descriptor, Object, Slot};
use crate::elf_image::{initial_stack, split_args, InitError, InitialStack};
use crate::error::Error;
use crate::platform::{Next, Platform};
use crate::thread::ThreadState;
use crate::usercopy::UserBytes;
use crate::{Kernel, UserContext};
use abi::args::{Allocation, Prot, UserRange};
use abi::init::{INIT_SELF_DESCRIPTOR, INIT_THREAD_DESCRIPTOR};
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE};
use abi::perms::{JINUE_PERM_AWAIT, JINUE_PERM_START, PROCESS_PERMS};
use abi::region::{K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;
use loader::Program;
use mm::{PhysMem, SpaceId};

impl<P: PhysMem> Kernel<P> {
    /// Loads the init program (ABI §8) and makes its thread current; the
    /// arch then takes its context with [`Kernel::load_current_context`].
    ///
    /// # Errors
    /// [`InitError`] if the program is not a loadable static x86_64
    /// executable, the command line does not fit, or memory runs out
    /// (nothing is left behind then).
    pub fn start_init(
        &mut self,
        elf: &[u8],
        cmdline: &str,
        how_syscall: u64,
        plat: &mut impl Platform,
    ) -> Result<Next, InitError> {
        let program = Program::parse(elf)?;
        let stack = initial_stack(&program, &split_args(cmdline), how_syscall)?;
        let pid = self.create_process(plat).map_err(|_| InitError::NoMemory)?;
        let space = self
            .processes
            .get(pid.0)
            .map(|p| p.space)
            .ok_or(InitError::NoMemory)?;
        let tid = match self.populate(space, &program, &stack, plat) {
            Ok(()) => self.create_thread(pid),
            Err(e) => Err(e),
        };
        let tid = match tid {
            Ok(t) => t,
            Err(_) => {
                // Not yet marked init: destroying it does not power off.
                self.destroy_process(pid, plat);
                return Err(InitError::NoMemory);
            }
        };
        if let Some(p) = self.processes.get_mut(pid.0) {
            p.is_init = true;
        }
        self.install(
            pid,
            Slot::new(INIT_SELF_DESCRIPTOR).map_err(|_| InitError::NoMemory)?,
            Descriptor {
                object: Object::Process(pid),
                perms: PROCESS_PERMS,
                owner: false,
                cookie: 0,
            },
        );
        self.install(
            pid,
            Slot::new(INIT_THREAD_DESCRIPTOR).map_err(|_| InitError::NoMemory)?,
            Descriptor {
                object: Object::Thread(tid),
                perms: JINUE_PERM_START | JINUE_PERM_AWAIT,
                owner: false,
                cookie: 0,
            },
        );
        self.start_thread(tid, UserContext::fresh(program.entry(), stack.rsp));
        // It runs at once: take it off the run queue and make it current.
        self.sched.remove(tid);
        if let Some(t) = self.threads.get_mut(tid.0) {
            t.state = ThreadState::Running;
        }
        self.sched.current = Some(tid);
        self.activate(space, plat);
        Ok(Next::RunUser)
    }

    /// Creates the segment and stack regions and fills them.
    fn populate(
        &mut self,
        space: SpaceId,
        program: &Program,
        stack: &InitialStack,
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        // Regions are created writable so the kernel's checked copy can fill
        // them, then get their final protection.
        for r in program.regions() {
            self.allocate_for_init(space, r.start, r.len())?;
        }
        for s in program.segments().filter(|s| !s.bytes.is_empty()) {
            UserBytes::new(s.vaddr, s.bytes.len() as u64).write(
                &mut self.mem,
                space,
                s.bytes,
                plat,
            )?;
        }
        for r in program.regions() {
            if r.options() != K_WRITABLE {
                let range = UserRange::rounded(r.start, r.len())?;
                let prot = Prot::from_options(r.options())?;
                self.mem.set_protect(space, range, prot)?;
            }
        }
        self.allocate_for_init(space, JINUE_STACK_BASE - JINUE_STACK_SIZE, JINUE_STACK_SIZE)?;
        UserBytes::new(stack.rsp, stack.bytes.len() as u64).write(
            &mut self.mem,
            space,
            &stack.bytes,
            plat,
        )?;
        Ok(())
    }

    /// A writable region of the init program, inherited by copy (ABI §4.2).
    fn allocate_for_init(&mut self, space: SpaceId, start: u64, size: u64) -> Result<(), Error> {
        let desc = KnRgnDesc {
            startAddr: start,
            size,
            options: K_WRITABLE | K_INHERITCOPY,
            ..KnRgnDesc::default()
        };
        self.mem.allocate(space, &Allocation::decode(&desc)?)?;
        Ok(())
    }
}
