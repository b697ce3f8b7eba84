//! Loading the init program (ABI §8): regions for its segments and stack, the initial stack, descriptors 0 and 1.

use crate::descriptor::{Descriptor, Object, Slot};
use crate::elf_image::{self, build_stack, split_args, Image, InitError, InitialStack};
use crate::error::Error;
use crate::platform::{Next, Platform};
use crate::thread::ThreadState;
use crate::usercopy::UserBytes;
use crate::{Kernel, UserContext};
use abi::args::{Allocation, Prot, UserRange};
use abi::init::{
    AT_ENTRY, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, INIT_SELF_DESCRIPTOR, INIT_THREAD_DESCRIPTOR,
    JINUE_AT_HOWSYSCALL, JINUE_AT_STACKBASE,
};
use abi::layout::{JINUE_STACK_BASE, JINUE_STACK_SIZE, PAGE_SIZE};
use abi::perms::{JINUE_PERM_AWAIT, JINUE_PERM_START, PROCESS_PERMS};
use abi::region::{K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;
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
        let image = elf_image::parse(elf)?;
        let argv = split_args(cmdline);
        let auxv = [
            (AT_PHDR, image.phdr_vaddr),
            (AT_PHENT, image.phent),
            (AT_PHNUM, image.phnum),
            (AT_PAGESZ, PAGE_SIZE),
            (AT_ENTRY, image.entry),
            (JINUE_AT_STACKBASE, JINUE_STACK_BASE),
            (JINUE_AT_HOWSYSCALL, how_syscall),
        ];
        let stack = build_stack(JINUE_STACK_BASE, &argv, &auxv)?;
        let pid = self.create_process(plat).map_err(|_| InitError::NoMemory)?;
        let space = self
            .processes
            .get(pid.0)
            .map(|p| p.space)
            .ok_or(InitError::NoMemory)?;
        let tid = match self.populate(space, &image, elf, &stack, plat) {
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
        self.start_thread(tid, UserContext::fresh(image.entry, stack.rsp));
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
        image: &Image,
        elf: &[u8],
        stack: &InitialStack,
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        // Regions are created writable so the kernel's checked copy can fill
        // them, then get their final protection.
        for r in &image.regions {
            self.allocate_for_init(space, r.start, r.end - r.start)?;
        }
        for c in &image.copies {
            let end = c.file_offset.checked_add(c.len).ok_or(Error::Invalid)?;
            let bytes = elf.get(c.file_offset..end).ok_or(Error::Invalid)?;
            UserBytes::new(c.vaddr, c.len as u64).write(&mut self.mem, space, bytes, plat)?;
        }
        for r in &image.regions {
            if r.protection != K_WRITABLE {
                let range = UserRange::rounded(r.start, r.end - r.start)?;
                let prot = Prot::from_options(r.protection)?;
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
