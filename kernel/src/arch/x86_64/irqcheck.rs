//! The boot-time proof that a device interrupt arrives through an I/O APIC, with the legacy PICs masked.
//!
//! The RTC's periodic interrupt (ISA IRQ 8, no driver needed: `rtc.rs`) is
//! routed to [`CHECK_VECTOR`] on the boot CPU through the MADT's mapping of
//! the IRQ to a GSI (`kernel::madt`, overrides included) and `ioapic.rs`.
//! The boot CPU then waits in `sti; hlt` until [`WANTED`] interrupts were
//! counted or [`TIMEOUT_US`] passed; each interrupt is counted and
//! acknowledged at the local APIC by the vector's stub (`idt.rs`) and at the
//! RTC here. Then the line is masked again while the RTC keeps running for
//! [`MASKED_WAIT_US`], which must bring no interrupt (but one the local APIC
//! had already accepted), and the RTC is stopped. One INFO line gives both
//! counts and the time; no interrupt, or interrupts through the masked
//! line, give a WARN line instead, never a hang: the local APIC timer runs
//! during the waits, so `hlt` always wakes.
//!
//! It runs in `ferrite_boot_main` after the local APIC is calibrated and
//! before the other CPUs start: only the boot CPU runs, no user thread
//! exists, and interrupts are enabled only inside the `hlt` wait, whose
//! possible interrupts (the timer, this vector, the spurious vector) touch
//! nothing but the EOI register and the count.

use core::sync::atomic::{AtomicU64, Ordering};

use alloc::string::String;

use kernel::madt::Madt;

use super::{apic, cpu, ioapic, rtc};

/// The vector the checked device interrupt is routed to (free: the
/// exceptions are below 0x20, the PICs' remapped vectors 0x20..0x30, the
/// local APIC's timer and kick 0x30 and 0x31).
pub const CHECK_VECTOR: u8 = 0x40;
/// Interrupts counted on [`CHECK_VECTOR`] since boot (by its stub in `idt.rs`).
pub static CHECK_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// The RTC's ISA IRQ.
const RTC_IRQ: u8 = 8;
/// RTC rate 8: 256 Hz, so [`WANTED`] interrupts take about 16 ms.
const RTC_RATE: u8 = 8;
/// Interrupts waited for.
const WANTED: u64 = 4;
/// The longest wait.
const TIMEOUT_US: u64 = 500_000;
/// How long the RTC keeps running with the line masked (5 of its periods).
const MASKED_WAIT_US: u64 = 20_000;

/// Waits with interrupts on until the next interrupt (STI's shadow covers
/// HLT, so an interrupt pending at STI still ends the HLT).
fn wait_for_interrupt() {
    // SAFETY: only the boot CPU runs; the interrupts that can come (local
    // APIC timer, CHECK_VECTOR, spurious; the PICs are masked) have ring-0
    // stubs that save what they use, write only the EOI register and the
    // count, and return.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// Routes the RTC's IRQ through the I/O APIC, counts its interrupts on the
/// boot CPU, masks the line again and logs the result.
pub fn run(madt: Option<&Madt>) {
    let Some(madt) = madt else {
        crate::kwarn!("I/O APIC: no MADT, device interrupt delivery not checked");
        return;
    };
    let line = madt.isa_route(RTC_IRQ);
    let apic_id = apic::id();
    if let Err(e) = ioapic::route(line, CHECK_VECTOR, apic_id) {
        crate::kwarn!(
            "I/O APIC: cannot route ISA IRQ {RTC_IRQ} (GSI {}): {e:?}; device interrupt delivery not checked",
            line.gsi
        );
        return;
    }
    let count = || CHECK_INTERRUPTS.load(Ordering::Relaxed);
    let before = count();
    let saved = rtc::start_periodic(RTC_RATE);
    apic::start_timer();
    let start = cpu::rdtsc();
    let mut counted = 0;
    while counted < WANTED && apic::micros_since(start) < TIMEOUT_US {
        wait_for_interrupt();
        rtc::acknowledge();
        counted = count() - before;
    }
    let us = apic::micros_since(start);
    // The RTC keeps ticking with the line masked: nothing more may arrive
    // but one interrupt the local APIC had already accepted.
    let masked = ioapic::mask(line.gsi);
    debug_assert!(masked.is_ok(), "the line was just routed");
    let at_mask = count();
    let masked_start = cpu::rdtsc();
    while apic::micros_since(masked_start) < MASKED_WAIT_US {
        rtc::acknowledge();
        wait_for_interrupt();
    }
    let late = count() - at_mask;
    apic::stop_timer();
    rtc::stop(saved);
    let how = match (line.level_triggered, line.active_low) {
        (false, false) => "edge, active high",
        (false, true) => "edge, active low",
        (true, false) => "level, active high",
        (true, true) => "level, active low",
    };
    let route: String = alloc::format!(
        "ISA IRQ {RTC_IRQ} -> GSI {} ({how}) -> vector {CHECK_VECTOR:#x} on CPU 0 (APIC ID {apic_id})",
        line.gsi
    );
    if late > 1 {
        crate::kwarn!(
            "I/O APIC: {route}: {late} interrupts in {} ms after the line was masked",
            MASKED_WAIT_US / 1000
        );
    } else if counted == 0 {
        crate::kwarn!(
            "I/O APIC: {route}: no interrupt in {} ms (RTC at {} Hz); device interrupts may not work",
            us / 1000,
            rtc::hz(RTC_RATE)
        );
    } else {
        crate::kinfo!(
            "I/O APIC: {route}: {counted} interrupts in {}.{} ms (RTC at {} Hz), then {late} in {} ms with the line masked",
            us / 1000,
            us % 1000 / 100,
            rtc::hz(RTC_RATE),
            MASKED_WAIT_US / 1000
        );
    }
}
