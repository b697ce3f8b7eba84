//! Power-off and reset: QEMU's isa-debug-exit, ACPI S5 and the ACPI reset register, legacy fallbacks.
//!
//! Power-off prints `ferrite: power off, status N` (the runner reads the
//! status from it), then, under QEMU only, writes the status to the
//! `isa-debug-exit` port (QEMU exits with `(N << 1) | 1`, so the runner keeps
//! the status); where that device is absent, as on a PC, it enters ACPI S5
//! with the sleep type of `\_S5` (ACPI 6.5 §7.4.2, §16.1.6). Reset writes the
//! FADT's reset register, then pulses the 8042's reset line, then triple-faults.

use core::fmt::Write;

use kernel::acpi::{self, Register};

use super::acpi::{PowerPlan, SoftOff};
use super::cpu::{self, inw, outb, outl, outw};
use super::serial::Serial;

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xF4;
/// PCI configuration mechanism #1 ports (PCI Local Bus spec 3.0 §3.2.2.3.2).
const PCI_CONFIG_ADDRESS: u16 = 0xCF8;
const PCI_CONFIG_DATA: u16 = 0xCFC;
/// 8042 status and command port; command 0xFE pulses the CPU reset line.
const KBC_PORT: u16 = 0x64;
const KBC_RESET: u8 = 0xFE;
/// Polls of a status bit before giving up (each an I/O access, ~1 µs).
const POLLS: u32 = 1_000_000;

/// What boot found (`acpi::discover`); written once before interrupts are on.
static mut PLAN: Option<PowerPlan> = None;

/// Keeps the plan `acpi::discover` made.
pub fn init(plan: Option<PowerPlan>) {
    // SAFETY: called once at boot, single-threaded with interrupts off,
    // before anything reads the plan.
    unsafe { PLAN = plan };
}

fn plan() -> Option<PowerPlan> {
    // SAFETY: written only by `init` at boot; read afterwards, single-threaded.
    unsafe { PLAN }
}

/// Prints `ferrite: power off, status N`, then powers off (see the module doc).
/// Halts when nothing worked.
pub fn power_off(status: u8) -> ! {
    let _ = writeln!(Serial, "ferrite: power off, status {status}");
    if cpu::under_qemu() {
        outl(DEBUG_EXIT_PORT, u32::from(status));
    }
    if let Some(soft_off) = plan().and_then(|p| p.soft_off) {
        enter_s5(&soft_off);
        let _ = writeln!(Serial, "ferrite: ACPI S5 did not power off; halted");
    } else {
        let _ = writeln!(Serial, "ferrite: no ACPI S5 known; halted");
    }
    cpu::halt_forever()
}

/// ACPI mode (if the machine is in legacy mode), then SLP_TYP + SLP_EN in PM1a and PM1b.
fn enter_s5(off: &SoftOff) {
    if inw(off.pm1a_cnt) & acpi::SCI_EN == 0 && off.smi_cmd != 0 {
        if let Ok(port) = u16::try_from(off.smi_cmd) {
            outb(port, off.acpi_enable);
            for _ in 0..POLLS {
                if inw(off.pm1a_cnt) & acpi::SCI_EN != 0 {
                    break;
                }
            }
        }
    }
    let a = acpi::sleep_control(inw(off.pm1a_cnt), off.sleep_type.a);
    outw(off.pm1a_cnt, a);
    if let Some(pm1b) = off.pm1b_cnt {
        outw(pm1b, acpi::sleep_control(inw(pm1b), off.sleep_type.b));
    }
    for _ in 0..POLLS {
        let _ = inw(off.pm1a_cnt);
    }
}

/// Resets the machine: ACPI reset register, 8042 reset line, triple fault.
/// Each attempt first prints `ferrite: reboot through ...`, so the console's
/// last line names the one that worked.
pub fn reboot() -> ! {
    if let Some((register, value)) = plan().and_then(|p| p.reset) {
        let _ = writeln!(
            Serial,
            "ferrite: reboot through the ACPI reset register ({register:x?}, value {value:#x})"
        );
        write_reset_register(register, value);
    }
    let _ = writeln!(Serial, "ferrite: reboot through the keyboard controller");
    for _ in 0..POLLS {
        if cpu::inb(KBC_PORT) & 0x02 == 0 {
            break;
        }
    }
    outb(KBC_PORT, KBC_RESET);
    for _ in 0..POLLS {
        let _ = cpu::inb(KBC_PORT);
    }
    let _ = writeln!(Serial, "ferrite: reboot through a triple fault");
    super::idt::triple_fault()
}

/// Writes the reset value (I/O port or PCI configuration space of bus 0; a
/// memory-mapped register is left to the fallbacks: it would need a mapping).
fn write_reset_register(register: Register, value: u8) {
    match register {
        Register::Io(port) => outb(port, value),
        Register::PciConfig {
            device,
            function,
            offset,
        } => {
            let address = (1u32 << 31)
                | (u32::from(device & 0x1F) << 11)
                | (u32::from(function & 0x7) << 8)
                | u32::from(offset & 0xFC);
            outl(PCI_CONFIG_ADDRESS, address);
            outb(PCI_CONFIG_DATA + (offset & 3), value);
        }
        Register::Memory(_) => return,
    }
    for _ in 0..POLLS {
        let _ = cpu::inb(KBC_PORT);
    }
}
