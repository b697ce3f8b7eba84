//! Power-off through QEMU's isa-debug-exit device, and reset.

use core::fmt::Write;

use super::cpu::{self, outb, outl};
use super::serial::Serial;

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Prints `ferrite: power off, status N` and exits QEMU with `(N << 1) | 1`.
/// Without the device, halts.
pub fn power_off(status: u8) -> ! {
    let _ = writeln!(Serial, "ferrite: power off, status {status}");
    outl(DEBUG_EXIT_PORT, u32::from(status));
    cpu::halt_forever()
}

/// Resets the machine: 8042 reset line pulse, then a triple fault.
pub fn reboot() -> ! {
    let _ = writeln!(Serial, "ferrite: reboot");
    // 8042 command 0xFE pulses the CPU reset line.
    for _ in 0..1000 {
        if cpu::inb(0x64) & 0x02 == 0 {
            break;
        }
    }
    outb(0x64, 0xFE);
    super::idt::triple_fault()
}
