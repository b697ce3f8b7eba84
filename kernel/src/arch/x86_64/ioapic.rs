//! The I/O APICs: device interrupts are routed through them, none through the legacy PIC.
//!
//! At boot each I/O APIC the MADT lists is mapped, every one of its
//! redirection entries masked, and it is registered with the first global
//! system interrupt (GSI) it owns and its number of lines, so [`route`] finds
//! the owner of a GSI. A line stays masked until a user of it calls
//! [`route`]; today the only one is the boot-time delivery check
//! (`irqcheck.rs`), which routes the RTC's ISA IRQ 8 and masks it again.
//!
//! Registers (82093AA datasheet §3.2, Intel ICH I/O APIC chapters): an
//! index register IOREGSEL at offset 0 selects what the window IOWIN at
//! offset 0x10 reads and writes; register 1 holds the highest entry's
//! index in bits 23:16; entry `n` is registers `0x10 + 2n` (low half:
//! vector in bits 7:0, delivery mode 10:8 (0: fixed), destination mode 11
//! (0: physical), polarity 13 (1: active low), trigger mode 15 (1: level),
//! mask 16) and `0x11 + 2n` (high half: the destination APIC ID in bits
//! 63:56). Selecting and accessing are two steps, so callers are the boot
//! CPU before the others start, or a CPU holding the kernel lock.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use kernel::madt::{IoApic, IsaRoute, MAX_IO_APICS};

use super::mmio;
use super::ranges::Ranges;

const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
const IOWIN_OFFSET: u64 = 0x10;
const MASKED: u32 = 1 << 16;
const ACTIVE_LOW: u32 = 1 << 13;
const LEVEL_TRIGGERED: u32 = 1 << 15;
/// The destination APIC ID's place in the high half of an entry.
const DESTINATION_SHIFT: u32 = 24;
/// Vectors 0..16 are reserved for exceptions; 0xFF is the local APIC's spurious vector.
const LOWEST_VECTOR: u8 = 0x10;

/// One registered I/O APIC (zero base: the slot is free).
struct Registered {
    /// Virtual address of its registers (direct map, uncached).
    base: AtomicU64,
    gsi_base: AtomicU32,
    lines: AtomicU32,
}

static REGISTERED: [Registered; MAX_IO_APICS] = [const {
    Registered {
        base: AtomicU64::new(0),
        gsi_base: AtomicU32::new(0),
        lines: AtomicU32::new(0),
    }
}; MAX_IO_APICS];
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No registered I/O APIC has this GSI.
    NoOwner,
    /// The vector is an exception's or the spurious vector.
    BadVector,
    /// Physical destination mode names 8-bit APIC IDs only.
    BadDestination,
}

fn read(base: u64, reg: u32) -> u32 {
    // SAFETY: `base` is a registered I/O APIC's uncached register page;
    // IOREGSEL then IOWIN is the documented access; the callers are
    // serialized (module comment).
    unsafe {
        core::ptr::write_volatile(base as *mut u32, reg);
        core::ptr::read_volatile((base + IOWIN_OFFSET) as *const u32)
    }
}

fn write(base: u64, reg: u32, value: u32) {
    // SAFETY: as for `read`; the values written are redirection entries,
    // which only steer (or mask) device interrupts.
    unsafe {
        core::ptr::write_volatile(base as *mut u32, reg);
        core::ptr::write_volatile((base + IOWIN_OFFSET) as *mut u32, value);
    }
}

/// Maps the I/O APIC, masks all its lines and registers it; returns how
/// many lines it has (boot CPU, before the others start).
pub fn register(io_apic: &IoApic, free: &mut Ranges) -> u32 {
    // SAFETY: the MADT names this page as an I/O APIC's registers (device memory).
    let base = unsafe { mmio::map_device(io_apic.address, free) };
    let lines = ((read(base, REG_VERSION) >> 16) & 0xFF) + 1;
    for line in 0..lines {
        write(base, REG_REDIRECTION + 2 * line, MASKED);
        write(base, REG_REDIRECTION + 2 * line + 1, 0);
    }
    let slot = COUNT.load(Ordering::Relaxed);
    if let Some(r) = REGISTERED.get(slot) {
        r.gsi_base.store(io_apic.gsi_base, Ordering::Relaxed);
        r.lines.store(lines, Ordering::Relaxed);
        r.base.store(base, Ordering::Relaxed);
        COUNT.store(slot + 1, Ordering::Release);
    }
    crate::kdebug!(
        "I/O APIC at {:#x}: GSIs {}..={}, every line masked",
        io_apic.address,
        io_apic.gsi_base,
        io_apic.gsi_base + lines - 1
    );
    lines
}

/// The registers of the I/O APIC owning `gsi`, and the line's index there.
fn owner(gsi: u32) -> Option<(u64, u32)> {
    REGISTERED[..COUNT.load(Ordering::Acquire)]
        .iter()
        .find_map(|r| {
            let line = gsi.checked_sub(r.gsi_base.load(Ordering::Relaxed))?;
            (line < r.lines.load(Ordering::Relaxed)).then(|| (r.base.load(Ordering::Relaxed), line))
        })
}

/// Routes the line `to.gsi` (with its polarity and trigger mode) to `vector`
/// on the CPU whose local APIC ID is `apic_id`, fixed delivery, physical
/// destination, and unmasks it.
pub fn route(to: IsaRoute, vector: u8, apic_id: u32) -> Result<(), RouteError> {
    if !(LOWEST_VECTOR..0xFF).contains(&vector) {
        return Err(RouteError::BadVector);
    }
    if apic_id > 0xFF {
        return Err(RouteError::BadDestination);
    }
    let (base, line) = owner(to.gsi).ok_or(RouteError::NoOwner)?;
    let low = REG_REDIRECTION + 2 * line;
    let mut entry = u32::from(vector);
    if to.active_low {
        entry |= ACTIVE_LOW;
    }
    if to.level_triggered {
        entry |= LEVEL_TRIGGERED;
    }
    // Masked while half written; the unmasking write comes last.
    write(base, low, MASKED);
    write(base, low + 1, apic_id << DESTINATION_SHIFT);
    write(base, low, entry);
    Ok(())
}

/// Masks the line `gsi` again (an interrupt a local APIC already accepted
/// is still delivered: 82093AA §3.2.4, mask bit).
pub fn mask(gsi: u32) -> Result<(), RouteError> {
    let (base, line) = owner(gsi).ok_or(RouteError::NoOwner)?;
    let low = REG_REDIRECTION + 2 * line;
    write(base, low, read(base, low) | MASKED);
    Ok(())
}
