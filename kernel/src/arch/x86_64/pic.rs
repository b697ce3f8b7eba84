//! The legacy 8259A interrupt controllers: remapped away from the exception vectors and fully masked.
//!
//! Interrupts come from the local APICs (timer, kicks) and the I/O APICs
//! (`apic.rs`, `ioapic.rs`); the PICs only need their vectors moved above
//! the exceptions (a spurious IRQ 7/15 still lands on a harmless gate).
//!
//! Real 8259As (and some chipsets' copies of them) need time between
//! accesses during initialisation: every write of the sequence is followed
//! by a write to the unused POST diagnostic port 0x80, which takes about a
//! microsecond on the ISA/LPC bus (the delay Linux's `outb_p` uses). The
//! same code runs on `pc` (PIIX) and `q35` (ICH9).

use super::cpu::outb;
use super::idt::IRQ_BASE;

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xA0;
const PIC2_DATA: u16 = 0xA1;

/// The POST diagnostic port: writing it has no effect but takes an ISA bus cycle.
const IO_DELAY_PORT: u16 = 0x80;

/// `outb` followed by an I/O delay.
fn outb_slow(port: u16, value: u8) {
    outb(port, value);
    outb(IO_DELAY_PORT, 0);
}

/// Remaps the PICs to `IRQ_BASE..IRQ_BASE+16` and masks every line.
pub fn init() {
    // ICW1: edge triggered, cascade, ICW4 follows.
    outb_slow(PIC1_CMD, 0x11);
    outb_slow(PIC2_CMD, 0x11);
    // ICW2: vector bases.
    outb_slow(PIC1_DATA, IRQ_BASE);
    outb_slow(PIC2_DATA, IRQ_BASE + 8);
    // ICW3: slave on IRQ 2.
    outb_slow(PIC1_DATA, 0x04);
    outb_slow(PIC2_DATA, 0x02);
    // ICW4: 8086 mode.
    outb_slow(PIC1_DATA, 0x01);
    outb_slow(PIC2_DATA, 0x01);
    // Masks: every line.
    outb_slow(PIC1_DATA, 0xFF);
    outb_slow(PIC2_DATA, 0xFF);
}
