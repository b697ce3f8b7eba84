//! The CPUs, I/O APICs and ISA interrupt overrides of the machine, read from ACPI's MADT (ACPI 6.5 §5.2.12).
//!
//! Byte-level only (host-tested): the arch finds the table through the RSDP
//! and the root table and hands its bytes here. Only enabled processors
//! count (flags bit 0); "online capable" ones would need hot-plug. An ISA
//! IRQ reaches the I/O APICs at the global system interrupt (GSI) of the
//! same number, edge-triggered and active high, unless an Interrupt Source
//! Override says otherwise (ACPI 6.5 §5.2.12.5; QEMU's `pc` and `q35`
//! move IRQ 0 to GSI 2): [`Madt::isa_route`].

/// Most CPUs, I/O APICs and interrupt source overrides kept.
pub const MAX_CPUS: usize = 64;
pub const MAX_IO_APICS: usize = 8;
pub const MAX_OVERRIDES: usize = 16;
/// The number of ISA IRQs; and the ISA bus's number in an override.
pub const ISA_IRQS: u8 = 16;
const BUS_ISA: u8 = 0;

/// One I/O APIC: its registers' physical address and the first GSI it owns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoApic {
    pub address: u64,
    pub gsi_base: u32,
}

/// An Interrupt Source Override (MADT entry type 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Override {
    /// The source bus (0: ISA, the only one ACPI defines).
    pub bus: u8,
    /// The bus-relative IRQ.
    pub source: u8,
    pub gsi: u32,
    /// MPS INTI flags: polarity in bits 1:0, trigger mode in bits 3:2.
    pub flags: u16,
}

/// Where an ISA IRQ arrives and how its signal looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    pub gsi: u32,
    pub active_low: bool,
    pub level_triggered: bool,
}

/// Length of a system description table header (ACPI 6.5 §5.2.6).
pub const HEADER_LEN: usize = 36;

/// What the MADT lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Madt {
    /// Local APIC IDs of the enabled processors, in table order (the first
    /// is normally the boot CPU, but the arch does not rely on it).
    pub apic_ids: [u32; MAX_CPUS],
    pub cpus: usize,
    /// The I/O APICs, in table order.
    pub io_apics: [IoApic; MAX_IO_APICS],
    pub io_apic_count: usize,
    /// The interrupt source overrides, in table order.
    pub overrides: [Override; MAX_OVERRIDES],
    pub override_count: usize,
}

impl Madt {
    /// Where ISA IRQ `irq` arrives: the first ISA override of it, else the
    /// ISA defaults (GSI = IRQ, edge-triggered, active high). Flags that
    /// "conform to the bus" (0b00) or are reserved (0b10) mean the ISA
    /// default too.
    pub fn isa_route(&self, irq: u8) -> IsaRoute {
        let found = self.overrides[..self.override_count]
            .iter()
            .find(|o| o.bus == BUS_ISA && o.source == irq);
        match found {
            None => IsaRoute {
                gsi: u32::from(irq),
                active_low: false,
                level_triggered: false,
            },
            Some(o) => IsaRoute {
                gsi: o.gsi,
                active_low: o.flags & 0b11 == 0b11,
                level_triggered: (o.flags >> 2) & 0b11 == 0b11,
            },
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether the bytes sum to 0 (every ACPI checksum).
pub fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)) == 0
}

/// A table's length from its header.
pub fn table_length(header: &[u8]) -> Option<usize> {
    u32_at(header, 4)
        .map(|l| l as usize)
        .filter(|&l| l >= HEADER_LEN)
}

/// The root table of an RSDP (ACPI 6.5 §5.2.5.3): (address, entry size):
/// the XSDT (8-byte entries) from revision 2 on, else the RSDT (4 bytes).
pub fn rsdp_root(rsdp: &[u8]) -> Option<(u64, usize)> {
    if rsdp.get(..8)? != b"RSD PTR " || !checksum_ok(rsdp.get(..20)?) {
        return None;
    }
    if rsdp[15] >= 2 {
        if let Some(xsdt) = u64_at(rsdp, 24).filter(|&a| a != 0) {
            return Some((xsdt, 8));
        }
    }
    Some((u64::from(u32_at(rsdp, 16)?), 4))
}

/// The table addresses a root table lists.
pub fn root_entries(root: &[u8], entry_size: usize) -> impl Iterator<Item = u64> + '_ {
    root.get(HEADER_LEN..)
        .unwrap_or(&[])
        .chunks_exact(entry_size)
        .map(move |c| {
            if entry_size == 8 {
                u64_at(c, 0).unwrap_or(0)
            } else {
                u64::from(u32_at(c, 0).unwrap_or(0))
            }
        })
}

/// Parses a whole MADT (signature `APIC`, checksum good), or `None`.
pub fn parse(table: &[u8]) -> Option<Madt> {
    if table.get(..4)? != b"APIC" || table_length(table)? != table.len() || !checksum_ok(table) {
        return None;
    }
    let mut madt = Madt {
        apic_ids: [0; MAX_CPUS],
        cpus: 0,
        io_apics: [IoApic::default(); MAX_IO_APICS],
        io_apic_count: 0,
        overrides: [Override::default(); MAX_OVERRIDES],
        override_count: 0,
    };
    let mut at = HEADER_LEN + 8;
    while at + 2 <= table.len() {
        let (kind, len) = (table[at], usize::from(table[at + 1]));
        if len < 2 || at + len > table.len() {
            break;
        }
        let entry = &table[at..at + len];
        let cpu = match kind {
            // Processor local APIC: ID at 3, flags at 4.
            0 if len >= 8 => Some((u32::from(entry[3]), u32_at(entry, 4)?)),
            // Processor local x2APIC: ID at 4, flags at 8.
            9 if len >= 16 => Some((u32_at(entry, 4)?, u32_at(entry, 8)?)),
            // I/O APIC: address at 4, GSI base at 8.
            1 if len >= 12 && madt.io_apic_count < MAX_IO_APICS => {
                madt.io_apics[madt.io_apic_count] = IoApic {
                    address: u64::from(u32_at(entry, 4)?),
                    gsi_base: u32_at(entry, 8)?,
                };
                madt.io_apic_count += 1;
                None
            }
            // Interrupt source override: bus at 2, source at 3, GSI at 4, flags at 8.
            2 if len >= 10 && madt.override_count < MAX_OVERRIDES => {
                madt.overrides[madt.override_count] = Override {
                    bus: entry[2],
                    source: entry[3],
                    gsi: u32_at(entry, 4)?,
                    flags: u16_at(entry, 8)?,
                };
                madt.override_count += 1;
                None
            }
            _ => None,
        };
        if let Some((id, flags)) = cpu {
            let known = madt.apic_ids[..madt.cpus].contains(&id);
            if flags & 1 != 0 && !known && madt.cpus < MAX_CPUS {
                madt.apic_ids[madt.cpus] = id;
                madt.cpus += 1;
            }
        }
        at += len;
    }
    Some(madt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn table(entries: &[&[u8]]) -> Vec<u8> {
        let mut t = Vec::from(*b"APIC");
        t.extend_from_slice(&[0; 32]);
        t.extend_from_slice(&0xFEE0_0000u32.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        for e in entries {
            t.extend_from_slice(e);
        }
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        let sum = t.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        t[9] = 0u8.wrapping_sub(sum);
        t
    }

    #[test]
    fn enabled_processors_and_io_apics() {
        let t = table(&[
            &[0, 8, 0, 0, 1, 0, 0, 0],
            &[0, 8, 1, 2, 1, 0, 0, 0],
            // Disabled (flags 0): not counted.
            &[0, 8, 2, 5, 0, 0, 0, 0],
            &[1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0],
            // An x2APIC entry with ID 300, enabled.
            &[9, 16, 0, 0, 0x2C, 0x01, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0],
            // A second I/O APIC owning GSIs 24 and up.
            &[1, 12, 1, 0, 0x00, 0x10, 0xC0, 0xFE, 24, 0, 0, 0],
        ]);
        let m = parse(&t).unwrap();
        assert_eq!(&m.apic_ids[..m.cpus], &[0, 2, 300]);
        let io_apics = [
            IoApic {
                address: 0xFEC0_0000,
                gsi_base: 0,
            },
            IoApic {
                address: 0xFEC0_1000,
                gsi_base: 24,
            },
        ];
        assert_eq!(&m.io_apics[..m.io_apic_count], &io_apics);
        assert_eq!(m.override_count, 0);
    }

    /// QEMU `pc`'s overrides: IRQ 0 -> GSI 2 (flags 0: ISA defaults), IRQ 9
    /// level-triggered active high (flags 0b1101), and an active-low,
    /// level-triggered IRQ 11 -> GSI 20 as some real boards have.
    fn overrides_table() -> Vec<u8> {
        table(&[
            &[1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0],
            &[2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
            &[2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0],
            &[2, 10, 0, 11, 20, 0, 0, 0, 0x0F, 0],
            // Not the ISA bus: no effect on ISA IRQ 5.
            &[2, 10, 1, 5, 30, 0, 0, 0, 0x0F, 0],
            // Too short: ignored.
            &[2, 8, 0, 8, 3, 0, 0, 0],
        ])
    }

    #[test]
    fn interrupt_source_overrides() {
        let m = parse(&overrides_table()).unwrap();
        assert_eq!(m.override_count, 4);
        assert_eq!(
            m.overrides[1],
            Override {
                bus: 0,
                source: 9,
                gsi: 9,
                flags: 0x0D
            }
        );
        assert_eq!(m.overrides[3].bus, 1);
    }

    #[test]
    fn isa_irq_to_gsi() {
        let m = parse(&overrides_table()).unwrap();
        let route = |gsi, active_low, level_triggered| IsaRoute {
            gsi,
            active_low,
            level_triggered,
        };
        assert_eq!(
            m.isa_route(0),
            route(2, false, false),
            "overridden, ISA flags"
        );
        assert_eq!(m.isa_route(9), route(9, false, true), "level, active high");
        assert_eq!(m.isa_route(11), route(20, true, true), "level, active low");
        // No ISA override: the defaults.
        assert_eq!(m.isa_route(8), route(8, false, false));
        assert_eq!(m.isa_route(5), route(5, false, false), "other bus ignored");
        // Reserved flag values (0b10) mean the bus default.
        let r = parse(&table(&[&[2, 10, 0, 1, 1, 0, 0, 0, 0x0A, 0]])).unwrap();
        assert_eq!(r.isa_route(1), route(1, false, false));
    }

    #[test]
    fn overrides_beyond_the_limit_are_dropped() {
        let entries: Vec<[u8; 10]> = (0..MAX_OVERRIDES as u8 + 3)
            .map(|i| [2, 10, 0, i, i + 1, 0, 0, 0, 0, 0])
            .collect();
        let refs: Vec<&[u8]> = entries.iter().map(|e| &e[..]).collect();
        let m = parse(&table(&refs)).unwrap();
        assert_eq!(m.override_count, MAX_OVERRIDES);
        assert_eq!(m.isa_route(3).gsi, 4);
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut t = table(&[&[0, 8, 0, 0, 1, 0, 0, 0]]);
        assert!(parse(&t[..t.len() - 1]).is_none(), "length disagrees");
        t[20] ^= 1;
        assert!(parse(&t).is_none(), "checksum");
        assert!(parse(b"APIC").is_none());
        // A zero-length entry ends the walk instead of looping.
        let z = table(&[&[0, 0], &[0, 8, 0, 0, 1, 0, 0, 0]]);
        assert_eq!(parse(&z).unwrap().cpus, 0);
    }

    #[test]
    fn rsdp_root_table() {
        let mut r = [0u8; 36];
        r[..8].copy_from_slice(b"RSD PTR ");
        r[16..20].copy_from_slice(&0x7FE_0000u32.to_le_bytes());
        let sum = r[..20].iter().fold(0u8, |s, b| s.wrapping_add(*b));
        r[8] = 0u8.wrapping_sub(sum);
        assert_eq!(rsdp_root(&r), Some((0x7FE_0000, 4)));
        r[0] = b'X';
        assert_eq!(rsdp_root(&r), None);
        let mut root = Vec::from([0u8; HEADER_LEN]);
        root.extend_from_slice(&0x1000u32.to_le_bytes());
        root.extend_from_slice(&0x2000u32.to_le_bytes());
        assert_eq!(root_entries(&root, 4).collect::<Vec<_>>(), [0x1000, 0x2000]);
    }
}
