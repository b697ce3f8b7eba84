//! The 8259A interrupt controllers and the 8254 PIT as the ~100 Hz preemption timer.

use super::cpu::outb;
use super::idt::IRQ_BASE;

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xA0;
const PIC2_DATA: u16 = 0xA1;
const PIC_EOI: u8 = 0x20;

const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// PIT input clock (8254 datasheet): 1.193182 MHz.
const PIT_HZ: u32 = 1_193_182;
/// Timer interrupts per second.
pub const TICK_HZ: u32 = 100;

/// Remaps the PICs to `IRQ_BASE..IRQ_BASE+16`, masks every line but IRQ 0,
/// and starts the PIT at `TICK_HZ` (rate generator, mode 2).
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
    // Masks: only IRQ 0 (the timer).
    outb(PIC1_DATA, 0xFE);
    outb(PIC2_DATA, 0xFF);

    let divisor = (PIT_HZ / TICK_HZ) as u16;
    // Channel 0, low byte then high byte, mode 2 (rate generator), binary.
    outb(PIT_COMMAND, 0x34);
    outb(PIT_CHANNEL0, divisor as u8);
    outb(PIT_CHANNEL0, (divisor >> 8) as u8);
}

/// Acknowledges the timer interrupt at the master PIC.
pub fn end_of_interrupt() {
    outb(PIC1_CMD, PIC_EOI);
}
