//! Host tests of the ELF reader and the stack builder.

mod program;
mod stack;
