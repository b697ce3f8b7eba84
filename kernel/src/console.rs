//! Building one console line in a fixed buffer (no heap), then writing it out.

use crate::platform::Platform;
use core::fmt;

/// Longest console line the kernel writes, newline included; longer text is cut.
pub const LINE_CAPACITY: usize = 256;

/// A console line under construction; formatting past the capacity truncates.
pub struct Line {
    buf: [u8; LINE_CAPACITY],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_CAPACITY],
            len: 0,
        }
    }

    /// Appends raw bytes (room for the final newline is always kept).
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        let room = LINE_CAPACITY - 1 - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Adds the newline and writes the line as one `console_write`.
    pub fn emit(mut self, plat: &mut impl Platform) {
        self.buf[self.len] = b'\n';
        self.len += 1;
        plat.console_write(&self.buf[..self.len]);
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes one formatted line.
pub fn line(plat: &mut impl Platform, args: fmt::Arguments<'_>) {
    let mut l = Line::new();
    // Writing into `Line` never fails; it truncates instead.
    let _ = fmt::write(&mut l, args);
    l.emit(plat);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_and_keeps_room_for_newline() {
        let mut l = Line::new();
        l.push_bytes(&[b'x'; 400]);
        assert_eq!(l.as_bytes().len(), LINE_CAPACITY - 1);
    }
}
