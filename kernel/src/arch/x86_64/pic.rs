//! The legacy 8259A interrupt controllers: remapped away from the exception vectors and fully masked.
//!
//! Interrupts come from the local APICs (timer, kicks) and the I/O APICs
//! (`apic.rs`, `ioapic.rs`); the PICs only need their vectors moved above
//! the exceptions (a spurious IRQ 7/15 still lands on a harmless gate).

use super::cpu::outb;
use super::idt::IRQ_BASE;

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xA0;
const PIC2_DATA: u16 = 0xA1;

/// Remaps the PICs to `IRQ_BASE..IRQ_BASE+16` and masks every line.
pub fn init() {
    // ICW1: edge triggered, cascade, ICW4 follows.
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    // ICW2: vector bases.
    outb(PIC1_DATA, IRQ_BASE);
    outb(PIC2_DATA, IRQ_BASE + 8);
    // ICW3: slave on IRQ 2.
    outb(PIC1_DATA, 0x04);
    outb(PIC2_DATA, 0x02);
    // ICW4: 8086 mode.
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    // Masks: every line.
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
}
