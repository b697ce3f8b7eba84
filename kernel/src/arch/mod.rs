//! The architecture layer of the kernel image: everything that touches the hardware.
//!
//! Only x86_64 exists. `unsafe` is allowed here (and nowhere else in the
//! kernel), every block with a `// SAFETY:` line.

mod x86_64;

pub use self::x86_64::*;
