//! The local APIC (xAPIC, memory-mapped): per-CPU timer, inter-processor interrupts, end of interrupt.
//!
//! Register offsets and bits: Intel SDM vol. 3 §11.4–§11.6 (tables 11-1,
//! figures 11-8 and 11-12). Every CPU's APIC sits at the same physical
//! address; each CPU reaches its own. The timer is calibrated once against
//! the 8254 PIT (channel 2, polled), then runs periodic on every CPU.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::cpu::{self, inb, outb};
use super::mmio;
use super::ranges::Ranges;

/// The local APIC timer's vector (the preemption tick).
pub const TIMER_VECTOR: u8 = 0x30;
/// Inter-processor interrupt: leave user mode now (shootdown, thread ended, work to do).
pub const KICK_VECTOR: u8 = 0x31;
/// The local APIC's spurious-interrupt vector (no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xFF;
/// Preemption ticks per second on every CPU.
pub const TICK_HZ: u64 = 100;

/// IA32_APIC_BASE (Intel SDM vol. 3 §11.4.4).
const MSR_APIC_BASE: u32 = 0x1B;
const APIC_BASE_ENABLE: u64 = 1 << 11;
/// Where every PC's local APIC sits; the EOI stub in `idt.rs` relies on it.
pub const LAPIC_PHYS: u64 = 0xFEE0_0000;

const REG_ID: u64 = 0x20;
const REG_TPR: u64 = 0x80;
pub const REG_EOI: u64 = 0xB0;
const REG_SVR: u64 = 0xF0;
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;
const REG_LVT_TIMER: u64 = 0x320;
const REG_LVT_LINT0: u64 = 0x350;
const REG_LVT_LINT1: u64 = 0x360;
const REG_LVT_ERROR: u64 = 0x370;
const REG_TIMER_INITIAL: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIVIDE: u64 = 0x3E0;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
/// Divide configuration 0b0011: divide by 16.
const DIVIDE_BY_16: u32 = 0x3;
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 0x500;
const ICR_STARTUP: u32 = 0x600;

/// PIT ports (8254 datasheet) and the 10 ms calibration count.
const PIT_CHANNEL2: u16 = 0x42;
const PIT_COMMAND: u16 = 0x43;
const PIT_GATE_PORT: u16 = 0x61;
const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_MS: u64 = 10;

/// The APIC's virtual address (direct map, uncached).
static BASE: AtomicU64 = AtomicU64::new(0);
/// Timer counts (divide by 16) per tick, measured by the boot CPU.
static TIMER_COUNT: AtomicU32 = AtomicU32::new(0);
/// TSC counts per microsecond, measured by the boot CPU.
static TSC_PER_US: AtomicU64 = AtomicU64::new(1000);

fn read(reg: u64) -> u32 {
    let addr = BASE.load(Ordering::Relaxed) + reg;
    // SAFETY: `addr` is a local APIC register in the uncached device mapping made by `map`.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(reg: u64, value: u32) {
    let addr = BASE.load(Ordering::Relaxed) + reg;
    // SAFETY: as for `read`; writing APIC registers only steers interrupts.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Maps the local APIC (boot CPU, once, before `mm` gets the free ranges).
pub fn map(free: &mut Ranges) {
    let base = cpu::rdmsr(MSR_APIC_BASE);
    assert!(
        base & !0xFFF & 0x000F_FFFF_FFFF_F000 == LAPIC_PHYS,
        "the local APIC was moved from {LAPIC_PHYS:#x} (IA32_APIC_BASE {base:#x})"
    );
    // SAFETY: the APIC page is device memory, nothing else runs yet.
    let vaddr = unsafe { mmio::map_device(LAPIC_PHYS, free) };
    BASE.store(vaddr, Ordering::Relaxed);
}

/// Enables this CPU's local APIC with every local interrupt masked but the
/// timer, which is left stopped.
pub fn enable() {
    let base = cpu::rdmsr(MSR_APIC_BASE);
    // SAFETY: only the global enable bit is set; the base stays where `map` found it.
    unsafe { cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE) };
    write(REG_TPR, 0);
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_LINT1, LVT_MASKED);
    write(REG_LVT_ERROR, LVT_MASKED);
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));
    write(REG_EOI, 0);
}

/// This CPU's local APIC ID.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// Signals the end of the interrupt being handled.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}

/// Measures the TSC and the APIC timer against 10 ms of the PIT (boot CPU).
pub fn calibrate() {
    let count = (PIT_HZ * CALIBRATION_MS / 1000) as u16;
    // Gate of channel 2 on, speaker off; mode 0 (interrupt on terminal count).
    let gate = inb(PIT_GATE_PORT);
    outb(PIT_GATE_PORT, (gate & !0x02) | 0x01);
    outb(PIT_COMMAND, 0xB0);
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    outb(PIT_CHANNEL2, count as u8);
    outb(PIT_CHANNEL2, (count >> 8) as u8);
    write(REG_TIMER_INITIAL, u32::MAX);
    let tsc_start = cpu::rdtsc();
    // OUT2 (bit 5) goes high at the terminal count.
    while inb(PIT_GATE_PORT) & 0x20 == 0 {
        core::hint::spin_loop();
    }
    let apic_elapsed = u32::MAX - read(REG_TIMER_CURRENT);
    let tsc_elapsed = cpu::rdtsc() - tsc_start;
    write(REG_TIMER_INITIAL, 0);
    outb(PIT_GATE_PORT, gate);
    let per_tick = u64::from(apic_elapsed) * 1000 / CALIBRATION_MS / TICK_HZ;
    TIMER_COUNT.store(
        per_tick.clamp(1000, u64::from(u32::MAX)) as u32,
        Ordering::Relaxed,
    );
    TSC_PER_US.store(
        (tsc_elapsed / (CALIBRATION_MS * 1000)).max(1),
        Ordering::Relaxed,
    );
    crate::kdebug!(
        "local APIC timer: {apic_elapsed} counts in {CALIBRATION_MS} ms (divide by 16), {} per tick; TSC {} per us",
        TIMER_COUNT.load(Ordering::Relaxed),
        TSC_PER_US.load(Ordering::Relaxed)
    );
}

/// Starts this CPU's periodic preemption timer.
pub fn start_timer() {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    write(REG_LVT_TIMER, u32::from(TIMER_VECTOR) | LVT_PERIODIC);
    write(REG_TIMER_INITIAL, TIMER_COUNT.load(Ordering::Relaxed));
}

/// Stops this CPU's timer (masked, count 0).
pub fn stop_timer() {
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INITIAL, 0);
}

/// Microseconds since the TSC read `start` (calibrated).
pub fn micros_since(start: u64) -> u64 {
    cpu::rdtsc().saturating_sub(start) / TSC_PER_US.load(Ordering::Relaxed)
}

/// Busy-waits `us` microseconds (TSC, calibrated).
pub fn delay_us(us: u64) {
    let end = cpu::rdtsc() + us * TSC_PER_US.load(Ordering::Relaxed);
    while cpu::rdtsc() < end {
        core::hint::spin_loop();
    }
}

fn send(apic_id: u32, low: u32) {
    while read(REG_ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
    write(REG_ICR_HIGH, apic_id << 24);
    write(REG_ICR_LOW, low);
    while read(REG_ICR_LOW) & ICR_PENDING != 0 {
        core::hint::spin_loop();
    }
}

/// Sends the kick interrupt to the CPU with this APIC ID.
pub fn kick(apic_id: u32) {
    send(apic_id, ICR_ASSERT | u32::from(KICK_VECTOR));
}

/// INIT, then two STARTUP IPIs at real-mode page `page` (Intel SDM vol. 3
/// §9.4.4.1, the MP initialization protocol's universal algorithm).
pub fn start_cpu(apic_id: u32, page: u8) {
    send(apic_id, ICR_ASSERT | ICR_INIT);
    delay_us(10_000);
    for _ in 0..2 {
        send(apic_id, ICR_ASSERT | ICR_STARTUP | u32::from(page));
        delay_us(200);
    }
}
