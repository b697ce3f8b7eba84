//! Console output: `print!`/`println!` over PUTS, split into lines of at most 120 bytes.

use abi::init::{PUTS_INFO, PUTS_MAX_LENGTH};
use core::fmt;

const LINE: usize = PUTS_MAX_LENGTH as usize;

/// A line buffer that sends each completed line (or each full 120 bytes) with PUTS.
pub struct LineWriter {
    level: u64,
    buf: [u8; LINE],
    len: usize,
    /// Whether anything was written since the last line was sent.
    pending: bool,
}

impl LineWriter {
    /// A writer at PUTS level `level` (`'I'`, `'W'` or `'E'`).
    pub const fn new(level: u64) -> Self {
        Self {
            level,
            buf: [0; LINE],
            len: 0,
            pending: false,
        }
    }

    /// Sends the buffered bytes as one line (even an empty one if a newline asked for it).
    pub fn flush_line(&mut self) {
        // Console output has no one to report a failure to.
        let _ = crate::api::puts(self.level, &self.buf[..self.len]);
        self.len = 0;
        self.pending = false;
    }

    /// Sends what is buffered, if anything.
    pub fn finish(&mut self) {
        if self.pending {
            self.flush_line();
        }
    }
}

impl fmt::Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.flush_line();
                continue;
            }
            if self.len == LINE {
                self.flush_line();
            }
            self.buf[self.len] = b;
            self.len += 1;
            self.pending = true;
        }
        Ok(())
    }
}

/// Formats `args` to the console at the info level.
pub fn print(args: fmt::Arguments) {
    let mut w = LineWriter::new(PUTS_INFO);
    let _ = fmt::write(&mut w, args);
    w.finish();
}

/// Prints to the console; each newline ends a PUTS line.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
