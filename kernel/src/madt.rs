//! The CPUs and I/O APICs of the machine, read from ACPI's MADT (ACPI 6.5 §5.2.12).
//!
//! Byte-level only (host-tested): the arch finds the table through the RSDP
//! and the root table and hands its bytes here. Only enabled processors
//! count (flags bit 0); "online capable" ones would need hot-plug.

/// Most CPUs and I/O APICs kept.
pub const MAX_CPUS: usize = 64;
pub const MAX_IO_APICS: usize = 8;

/// Length of a system description table header (ACPI 6.5 §5.2.6).
pub const HEADER_LEN: usize = 36;

/// What the MADT lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Madt {
    /// Local APIC IDs of the enabled processors, in table order (the first
    /// is normally the boot CPU, but the arch does not rely on it).
    pub apic_ids: [u32; MAX_CPUS],
    pub cpus: usize,
    /// Physical addresses of the I/O APICs.
    pub io_apics: [u64; MAX_IO_APICS],
    pub io_apic_count: usize,
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
        io_apics: [0; MAX_IO_APICS],
        io_apic_count: 0,
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
            1 if len >= 12 && madt.io_apic_count < MAX_IO_APICS => {
                madt.io_apics[madt.io_apic_count] = u64::from(u32_at(entry, 4)?);
                madt.io_apic_count += 1;
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
            // An interrupt source override: skipped.
            &[2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
        ]);
        let m = parse(&t).unwrap();
        assert_eq!(&m.apic_ids[..m.cpus], &[0, 2, 300]);
        assert_eq!(&m.io_apics[..m.io_apic_count], &[0xFEC0_0000]);
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
