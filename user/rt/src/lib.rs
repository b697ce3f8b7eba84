//! Ferrite user runtime: entry, syscall stubs, typed wrappers, console, threads, fork, spawn.
//!
//! Trust level: `unsafe` only for the system-call instructions, RDTSC, the entry code,
//! the `mem*` functions and raw memory the runtime itself allocated. Depends
//! on `abi` and `loader` (the ELF reader and stack builder it shares with the
//! kernel). With feature `image` it also provides `_start`, the panic
//! handler and the symbols a freestanding image needs.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod api;
pub mod child;
pub mod clock;
pub mod console;
pub mod desc;
pub mod error;
pub mod fork;
pub mod ipc;
pub mod mapper;
pub mod physmem;
pub mod spawn;
pub mod startup;
pub mod sys;
pub mod thread;

#[cfg(feature = "image")]
pub mod image;

pub use child::Child;
pub use error::Error;
pub use fork::{fork, fork_with, Fork};
pub use spawn::spawn;
pub use startup::Startup;

/// Ends the program with `status`: POWEROFF (the init process), or, where that
/// is refused (any other process), EXIT_THREAD.
pub fn exit(status: i32) -> ! {
    let _ = api::poweroff(status.clamp(0, 255) as u8);
    api::exit_thread()
}

/// Declares the program's `main`: `fn main(start: &ferrite_rt::Startup) -> i32`.
/// The returned status goes to [`exit`].
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        pub fn __ferrite_main(start: &$crate::Startup) -> i32 {
            $main(start)
        }
    };
}
