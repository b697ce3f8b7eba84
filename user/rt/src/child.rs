//! A child process made by `fork` or `spawn`: how it is made and started
//! like the init process (ABI §8: descriptor 0 itself, 1 its main thread),
//! and undone when a step fails.

use crate::api;
use crate::desc;
use crate::error::Error;
use crate::thread::SELF;
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::perms::{PROCESS_PERMS, THREAD_PERMS};

/// A child process made by `fork` or `spawn`, named by the creator's owner descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child {
    /// Owner descriptor of the child process (`MAP|OPEN|CREATE_THREAD`).
    pub process: u64,
    /// Owner descriptor of the child's first thread (`START|AWAIT`).
    pub thread: u64,
}

impl Child {
    /// Awaits the child's first thread, then closes both descriptors.
    /// Returns AWAIT_THREAD's value (0 exited, 1 killed by a fault).
    ///
    /// # Errors
    ///
    /// AWAIT_THREAD's error (the descriptors are then kept).
    pub fn wait(self) -> Result<u64, Error> {
        let r = api::await_thread(self.thread)?;
        self.release();
        Ok(r)
    }

    /// Closes both descriptors without waiting (the child goes on running).
    pub fn release(self) {
        let _ = api::close(self.thread);
        let _ = api::close(self.process);
        desc::free(self.thread);
        desc::free(self.process);
    }
}

/// Makes a new process and starts its main thread: `fill` gives the process
/// (descriptor `p`) its memory and returns where the thread starts
/// (`rip`, `rsp`); then the process gets descriptor 0 (itself) and 1 (the
/// thread), like the init process. A half-built child is discarded.
///
/// # Errors
///
/// [`Error::NoDescriptor`], `fill`'s error or the first failing call's.
pub(crate) fn new_child(
    fill: impl FnOnce(u64) -> Result<(u64, u64), Error>,
) -> Result<Child, Error> {
    let p = desc::alloc().ok_or(Error::NoDescriptor)?;
    if let Err(e) = api::create_process(p) {
        desc::free(p);
        return Err(e.into());
    }
    let Some(t) = desc::alloc() else {
        discard(p, None);
        return Err(Error::NoDescriptor);
    };
    let started = (|| -> Result<(), Error> {
        let (entry, sp) = fill(p)?;
        api::mint_into(p, p, SELF, PROCESS_PERMS, 0)?;
        api::create_thread(t, p)?;
        api::mint_into(t, p, INIT_THREAD_DESCRIPTOR, THREAD_PERMS, 0)?;
        api::start_thread(t, entry, sp)?;
        Ok(())
    })();
    match started {
        Ok(()) => Ok(Child {
            process: p,
            thread: t,
        }),
        Err(e) => {
            discard(p, Some(t));
            Err(e)
        }
    }
}

/// Undoes a half-built child: destroys process `p`, closes its descriptor
/// and, if one was made, the thread's `t`.
fn discard(p: u64, t: Option<u64>) {
    let _ = api::destroy(p);
    let _ = api::close(p);
    desc::free(p);
    if let Some(t) = t {
        let _ = api::close(t);
        desc::free(t);
    }
}
