//! A text console on the screen the bootloader set up (Multiboot 2 framebuffer), mirroring COM1.
//!
//! A PC without a serial port shows nothing but this. GRUB hands over either
//! the VGA text buffer (BIOS, `gfxpayload=text`: 80x25 cells of character
//! and attribute) or a linear RGB framebuffer (UEFI GOP), which is drawn with
//! the public-domain 8x8 font of the `font8x8` crate, each row twice (8x16
//! cells). The text screen scrolls; the framebuffer wraps to the top instead
//! (clearing the line below the cursor), which keeps each line's cost to
//! one line of pixels. The buffer is mapped uncached by `paging` (device
//! memory, never part of the direct map).

use font8x8::legacy::BASIC_LEGACY;

/// The screen as the bootloader described it.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    pub phys: u64,
    pub pitch: u32,
    pub width: u32,
    pub height: u32,
    pub kind: ScreenKind,
}

/// What the buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenKind {
    /// 16-bit cells: character, attribute (VGA text mode).
    Text,
    /// Pixels of 3 or 4 bytes; `white` is the pixel value with every colour bit set.
    Rgb { bytes_per_pixel: u8, white: u32 },
}

impl Screen {
    /// Bytes of the buffer.
    pub fn bytes(&self) -> u64 {
        u64::from(self.pitch) * u64::from(self.height)
    }
}

/// Light grey on black (VGA attribute).
const TEXT_ATTRIBUTE: u16 = 0x07 << 8;
const CELL_WIDTH: u32 = 8;
const CELL_HEIGHT: u32 = 16;

struct Console {
    screen: Screen,
    /// Virtual address of the buffer (uncached mapping).
    base: u64,
    columns: u32,
    rows: u32,
    column: u32,
    row: u32,
}

static mut CONSOLE: Option<Console> = None;

/// Starts mirroring the console on `screen`, mapped at `base`.
///
/// # Safety
///
/// `base` must map the whole buffer (`screen.bytes()`), writable, and
/// nothing else may use that mapping; called once at boot with interrupts off.
pub unsafe fn init(screen: Screen, base: u64) {
    let (columns, rows) = match screen.kind {
        ScreenKind::Text => (screen.width, screen.height),
        ScreenKind::Rgb { .. } => (screen.width / CELL_WIDTH, screen.height / CELL_HEIGHT),
    };
    if columns == 0 || rows == 0 {
        return;
    }
    let console = Console {
        screen,
        base,
        columns,
        rows,
        column: 0,
        row: 0,
    };
    for row in 0..rows {
        console.clear_row(row);
    }
    // SAFETY: the caller guarantees boot-time, single-threaded use.
    unsafe { CONSOLE = Some(console) };
}

/// Mirrors console bytes on the screen (nothing before `init`).
pub fn write_bytes(bytes: &[u8]) {
    let console = &raw mut CONSOLE;
    // SAFETY: the kernel runs on one CPU with interrupts off, and nothing
    // here calls back into the console, so this is the only reference.
    if let Some(console) = unsafe { (*console).as_mut() } {
        for &b in bytes {
            console.put(b);
        }
    }
}

impl Console {
    fn put(&mut self, byte: u8) {
        match byte {
            b'\n' => self.new_line(),
            b'\r' => self.column = 0,
            _ => {
                if self.column == self.columns {
                    self.new_line();
                }
                let printable = if (0x20..0x7F).contains(&byte) {
                    byte
                } else {
                    b'?'
                };
                self.draw(self.column, self.row, printable);
                self.column += 1;
            }
        }
    }

    fn new_line(&mut self) {
        self.column = 0;
        match self.screen.kind {
            ScreenKind::Text if self.row + 1 == self.rows => self.scroll_text(),
            ScreenKind::Text => self.row += 1,
            ScreenKind::Rgb { .. } => {
                self.row = (self.row + 1) % self.rows;
                self.clear_row(self.row);
                self.clear_row((self.row + 1) % self.rows);
            }
        }
    }

    fn write_u16(&self, offset: u64, value: u16) {
        if offset + 2 <= self.screen.bytes() {
            // SAFETY: inside the mapped buffer (checked), which only this console uses.
            unsafe { ((self.base + offset) as *mut u16).write_volatile(value) }
        }
    }

    /// Writes pixel number `x` of pixel row `y`.
    fn write_pixel(&self, x: u32, y: u32, value: u32) {
        let ScreenKind::Rgb {
            bytes_per_pixel, ..
        } = self.screen.kind
        else {
            return;
        };
        let size = u64::from(bytes_per_pixel);
        let offset = u64::from(y) * u64::from(self.screen.pitch) + u64::from(x) * size;
        if offset + size > self.screen.bytes() {
            return;
        }
        let bytes = value.to_le_bytes();
        for (i, byte) in bytes.iter().take(bytes_per_pixel.into()).enumerate() {
            // SAFETY: inside the mapped buffer (checked), which only this console uses.
            unsafe { ((self.base + offset + i as u64) as *mut u8).write_volatile(*byte) }
        }
    }

    fn read_u16(&self, offset: u64) -> u16 {
        if offset + 2 <= self.screen.bytes() {
            // SAFETY: as for `write_u16`.
            unsafe { ((self.base + offset) as *const u16).read_volatile() }
        } else {
            0
        }
    }

    fn text_offset(&self, column: u32, row: u32) -> u64 {
        u64::from(row) * u64::from(self.screen.pitch) + u64::from(column) * 2
    }

    fn draw(&self, column: u32, row: u32, byte: u8) {
        match self.screen.kind {
            ScreenKind::Text => {
                self.write_u16(
                    self.text_offset(column, row),
                    TEXT_ATTRIBUTE | u16::from(byte),
                );
            }
            ScreenKind::Rgb { white, .. } => {
                let glyph = BASIC_LEGACY
                    .get(usize::from(byte))
                    .copied()
                    .unwrap_or([0; 8]);
                for y in 0..CELL_HEIGHT {
                    let bits = glyph[(y / 2) as usize];
                    for x in 0..CELL_WIDTH {
                        let on = bits & (1 << x) != 0;
                        self.write_pixel(
                            column * CELL_WIDTH + x,
                            row * CELL_HEIGHT + y,
                            if on { white } else { 0 },
                        );
                    }
                }
            }
        }
    }

    fn clear_row(&self, row: u32) {
        match self.screen.kind {
            ScreenKind::Text => {
                for column in 0..self.columns {
                    self.write_u16(
                        self.text_offset(column, row),
                        TEXT_ATTRIBUTE | u16::from(b' '),
                    );
                }
            }
            ScreenKind::Rgb { .. } => {
                for y in row * CELL_HEIGHT..(row + 1) * CELL_HEIGHT {
                    for x in 0..self.columns * CELL_WIDTH {
                        self.write_pixel(x, y, 0);
                    }
                }
            }
        }
    }

    /// Moves every text row up by one and clears the last.
    fn scroll_text(&self) {
        for row in 1..self.rows {
            for column in 0..self.columns {
                let cell = self.read_u16(self.text_offset(column, row));
                self.write_u16(self.text_offset(column, row - 1), cell);
            }
        }
        self.clear_row(self.rows - 1);
    }
}
