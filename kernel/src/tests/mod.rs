//! Host tests of the whole core: a `Kernel` over `mm::sim::SimPhys`, a fake `Platform`, a tiny init ELF, syscalls driven through `handle_trap`.
//!
//! `fake` is the platform, `harness` the world and its helpers; the other
//! modules hold the tests of one area each.

mod fake;
mod harness;

mod boot;
mod chorus_calls;
mod edge_values;
mod fpu;
mod ipc;
mod memory_calls;
mod objects;
mod processes;
mod random_calls;
mod threads;
