//! The 8259A interrupt controllers and the 8254 PIT as the ~100 Hz preemption timer.
//!
//! Real 8259As and 8254s (and some chipsets' copies of them) need time
//! between accesses during initialisation: every write of the sequence is
//! followed by a write to the unused POST diagnostic port 0x80, which takes
//! about a microsecond on the ISA/LPC bus (the delay Linux's `outb_p` uses).
//! The same code runs on `pc` (PIIX) and `q35` (ICH9), both of which keep the
//! legacy controllers; the local APIC and I/O APIC are left as the firmware
//! set them (the 8259A's output reaches the CPU through LINT0 in virtual-wire
//! mode, which is how every PC firmware hands over).

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

/// The POST diagnostic port: writing it has no effect but takes an ISA bus cycle.
const IO_DELAY_PORT: u16 = 0x80;

/// `outb` followed by an I/O delay.
fn outb_slow(port: u16, value: u8) {
    outb(port, value);
    outb(IO_DELAY_PORT, 0);
}

/// Remaps the PICs to `IRQ_BASE..IRQ_BASE+16`, masks every line but IRQ 0,
/// and starts the PIT at `TICK_HZ` (rate generator, mode 2).
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
    // Masks: only IRQ 0 (the timer).
    outb_slow(PIC1_DATA, 0xFE);
    outb_slow(PIC2_DATA, 0xFF);

    let divisor = (PIT_HZ / TICK_HZ) as u16;
    // Channel 0, low byte then high byte, mode 2 (rate generator), binary.
    outb_slow(PIT_COMMAND, 0x34);
    outb_slow(PIT_CHANNEL0, divisor as u8);
    outb_slow(PIT_CHANNEL0, (divisor >> 8) as u8);
}

/// Acknowledges the timer interrupt at the master PIC.
pub fn end_of_interrupt() {
    outb(PIC1_CMD, PIC_EOI);
}
