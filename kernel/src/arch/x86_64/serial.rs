//! The COM1 serial console (16550 UART, polled, mirrored on the screen by `fbcon`) and the kernel log with levels.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use super::cpu::{inb, outb};

const COM1: u16 = 0x3F8;
/// Line status register: bit 5 = transmit holding register empty.
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, no interrupts.
pub fn init() {
    outb(COM1 + 1, 0x00); // interrupt enable: none
    outb(COM1 + 3, 0x80); // DLAB on
    outb(COM1, 0x01); // divisor 1 = 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8 bits, no parity, one stop bit, DLAB off
    outb(COM1 + 2, 0xC7); // FIFO on, cleared, 14-byte threshold
    outb(COM1 + 4, 0x03); // DTR, RTS
}

/// Writes raw bytes to COM1, waiting for the transmitter each time.
pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        // Bounded wait: a missing UART must not hang the kernel.
        for _ in 0..100_000 {
            if inb(COM1 + 5) & LSR_THR_EMPTY != 0 {
                break;
            }
        }
        outb(COM1, b);
    }
    super::fbcon::write_bytes(bytes);
}

/// `core::fmt` sink for COM1.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Severity of a kernel log line; lines above the configured level are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// Parses `error|warn|info|debug` (the `log=` word of the kernel command line).
    pub fn parse(word: &str) -> Option<Level> {
        match word {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most verbose level that is still printed.
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Prints one log line `ferrite[LEVEL]: message` if `level` is enabled.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if level as u8 <= MAX_LEVEL.load(Ordering::Relaxed) {
        // Serial never fails.
        let _ = writeln!(Serial, "ferrite[{}]: {}", level.tag(), args);
    }
}

/// Logs at `Info`.
#[macro_export]
macro_rules! kinfo {
    ($($t:tt)*) => { $crate::arch::log($crate::arch::Level::Info, format_args!($($t)*)) };
}

/// Logs at `Warn`.
#[macro_export]
macro_rules! kwarn {
    ($($t:tt)*) => { $crate::arch::log($crate::arch::Level::Warn, format_args!($($t)*)) };
}

/// Logs at `Error`.
#[macro_export]
macro_rules! kerror {
    ($($t:tt)*) => { $crate::arch::log($crate::arch::Level::Error, format_args!($($t)*)) };
}

/// Logs at `Debug`.
#[macro_export]
macro_rules! kdebug {
    ($($t:tt)*) => { $crate::arch::log($crate::arch::Level::Debug, format_args!($($t)*)) };
}
