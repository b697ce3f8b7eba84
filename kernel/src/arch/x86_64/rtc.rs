//! The RTC's periodic interrupt (MC146818-compatible CMOS clock, ISA IRQ 8): started, acknowledged, stopped.
//!
//! Port 0x70 selects a CMOS register and, in bit 7, disables NMIs; port
//! 0x71 reads or writes it. Register A's bits 3:0 choose the periodic
//! rate (32768 >> (rate - 1) Hz), register B's bit 6 (PIE) enables the
//! periodic interrupt, and reading register C acknowledges it: the IRQ line
//! stays asserted until then, so with an edge-triggered I/O APIC line no
//! further interrupt comes before the read.
//!
//! NMIs are disabled while a register is selected and accessed, so no NMI
//! handler can come between the two steps; afterwards the index is left at
//! register D (read-only) with NMIs enabled, their state at reset and the
//! one the kernel expects (a platform NMI is a kernel panic, `idt.rs`).

use super::cpu::{inb, outb};

const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;
const NMI_DISABLED: u8 = 0x80;
const REG_A: u8 = 0x0A;
const REG_B: u8 = 0x0B;
const REG_C: u8 = 0x0C;
const REG_D: u8 = 0x0D;
const RATE_MASK: u8 = 0x0F;
const PERIODIC_INTERRUPT_ENABLE: u8 = 1 << 6;

fn read(reg: u8) -> u8 {
    outb(CMOS_INDEX, NMI_DISABLED | reg);
    inb(CMOS_DATA)
}

fn write(reg: u8, value: u8) {
    outb(CMOS_INDEX, NMI_DISABLED | reg);
    outb(CMOS_DATA, value);
}

/// Leaves the index at register D with NMIs enabled.
fn release() {
    outb(CMOS_INDEX, REG_D);
}

/// Registers A and B as they were before [`start_periodic`].
#[derive(Clone, Copy, Debug)]
pub struct Saved {
    a: u8,
    b: u8,
}

/// The periodic interrupt's frequency at `rate` (3..=15).
pub fn hz(rate: u8) -> u32 {
    32768 >> (rate.clamp(3, 15) - 1)
}

/// Starts the periodic interrupt at `rate` (3..=15, see [`hz`]); clears a
/// pending flag so the next period raises the line afresh.
pub fn start_periodic(rate: u8) -> Saved {
    let saved = Saved {
        a: read(REG_A),
        b: read(REG_B),
    };
    write(REG_A, (saved.a & !RATE_MASK) | rate.clamp(3, 15));
    write(REG_B, saved.b | PERIODIC_INTERRUPT_ENABLE);
    read(REG_C);
    release();
    saved
}

/// Acknowledges the RTC's interrupt (reads register C); returns its flags.
pub fn acknowledge() -> u8 {
    let flags = read(REG_C);
    release();
    flags
}

/// Stops the periodic interrupt (registers A and B as they were) and
/// acknowledges what is pending.
pub fn stop(saved: Saved) {
    write(REG_B, saved.b & !PERIODIC_INTERRUPT_ENABLE);
    write(REG_A, saved.a);
    read(REG_C);
    release();
}
