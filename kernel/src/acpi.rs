//! A small reader of the ACPI tables power-off and reset need (ACPI 6.5 §5.2, §5.4, §20):
//! the RSDP, the RSDT/XSDT, the FADT, and `\_S5` in the DSDT/SSDTs.
//!
//! Pure functions over byte slices: the arch layer finds the tables in
//! physical memory and hands their bytes in; everything here is host-tested.
//! `\_S5` is read as the static `Name (_S5, Package () {...})` every firmware
//! we know of writes (QEMU, SeaBIOS, OVMF, the common PC BIOSes): a full AML
//! interpreter (the `aml` crate) would evaluate methods too, but needs an
//! allocator, a handler for every kind of region access and far more code
//! than power-off justifies (`doc/decisions.md`).

/// The RSDP signature (ACPI 6.5 §5.2.5.3).
pub const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Size of an SDT header (ACPI 6.5 §5.2.6).
pub const HEADER_LEN: usize = 36;
/// `SLP_EN` in a PM1 control register (ACPI 6.5 §4.8.4.2.1).
pub const SLP_EN: u16 = 1 << 13;
/// `SCI_EN` in a PM1 control register: the machine is in ACPI mode.
pub const SCI_EN: u16 = 1;
/// Shift of the 3-bit `SLP_TYP` field in a PM1 control register.
pub const SLP_TYP_SHIFT: u16 = 10;

/// What the RSDP points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address of the RSDT (32-bit entries).
    pub rsdt: u32,
    /// Physical address of the XSDT (64-bit entries), ACPI 2.0 and later.
    pub xsdt: Option<u64>,
}

/// Where a register lives (Generic Address Structure, ACPI 6.5 §5.2.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// An I/O port.
    Io(u16),
    /// A physical memory address.
    Memory(u64),
    /// PCI configuration space of bus 0: device, function, register offset.
    PciConfig {
        device: u8,
        function: u8,
        offset: u16,
    },
}

/// The FADT fields power-off and reset use (ACPI 6.5 §5.2.9, table 5.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fadt {
    /// Physical address of the DSDT.
    pub dsdt: u64,
    /// Port that switches to ACPI mode (0: the machine has no legacy mode).
    pub smi_cmd: u32,
    /// Value written to `smi_cmd` to enter ACPI mode.
    pub acpi_enable: u8,
    pub pm1a_cnt: Option<Register>,
    pub pm1b_cnt: Option<Register>,
    /// The reset register and the value to write, when the FADT says it works.
    pub reset: Option<(Register, u8)>,
    /// HW_REDUCED_ACPI: no PM1 registers, sleep through other means.
    pub hardware_reduced: bool,
}

/// SLP_TYPa and SLP_TYPb of `\_S5` (soft off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepType {
    pub a: u8,
    pub b: u8,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Whether the bytes sum to 0 modulo 256 (every ACPI checksum).
pub fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

/// Reads an RSDP candidate: `bytes` holds at least 20 bytes from a 16-byte
/// boundary (36 for ACPI 2.0 and later).
pub fn parse_rsdp(bytes: &[u8]) -> Option<Rsdp> {
    if bytes.get(..8)? != RSDP_SIGNATURE || !checksum_ok(bytes.get(..20)?) {
        return None;
    }
    let rsdt = u32_at(bytes, 16)?;
    let revision = bytes[15];
    let xsdt = if revision >= 2 {
        let length = u32_at(bytes, 20)? as usize;
        let address = u64_at(bytes, 24)?;
        let extended_ok = bytes.get(..length.max(36)).is_some_and(checksum_ok);
        (extended_ok && address != 0).then_some(address)
    } else {
        None
    };
    Some(Rsdp { rsdt, xsdt })
}

/// The length field of an SDT header (at least the header itself).
pub fn table_length(header: &[u8]) -> Option<usize> {
    let length = u32_at(header, 4)? as usize;
    (length >= HEADER_LEN).then_some(length)
}

/// The signature of a table.
pub fn signature(table: &[u8]) -> Option<[u8; 4]> {
    table.get(..4)?.try_into().ok()
}

/// Whether `table` is a whole table with this signature and a good checksum.
pub fn valid_table(table: &[u8], expected: &[u8; 4]) -> bool {
    signature(table).as_ref() == Some(expected)
        && table_length(table) == Some(table.len())
        && checksum_ok(table)
}

/// The physical addresses listed by an RSDT (`entry_size` 4) or XSDT (8).
pub fn root_entries(table: &[u8], entry_size: usize) -> impl Iterator<Item = u64> + '_ {
    let body = table.get(HEADER_LEN..).unwrap_or(&[]);
    body.chunks_exact(entry_size)
        .map(move |entry| match entry_size {
            4 => u64::from(u32_at(entry, 0).unwrap_or(0)),
            _ => u64_at(entry, 0).unwrap_or(0),
        })
}

/// A Generic Address Structure at `at`; `None` if absent or of a kind not handled.
fn gas_at(table: &[u8], at: usize) -> Option<Register> {
    let space = *table.get(at)?;
    let address = u64_at(table, at + 4)?;
    if address == 0 {
        return None;
    }
    match space {
        0 => Some(Register::Memory(address)),
        1 => u16::try_from(address).ok().map(Register::Io),
        // PCI configuration space: device at bits 32..48, function 16..32, offset 0..16.
        2 => Some(Register::PciConfig {
            device: u8::try_from((address >> 32) & 0xFFFF).ok()?,
            function: u8::try_from((address >> 16) & 0xFFFF).ok()?,
            offset: (address & 0xFFFF) as u16,
        }),
        _ => None,
    }
}

/// A 32-bit port block field (0: absent).
fn port_at(table: &[u8], at: usize) -> Option<Register> {
    let port = u32_at(table, at)?;
    (port != 0)
        .then(|| u16::try_from(port).ok().map(Register::Io))
        .flatten()
}

// FADT offsets (ACPI 6.5 table 5.9).
const FADT_DSDT: usize = 40;
const FADT_SMI_CMD: usize = 48;
const FADT_ACPI_ENABLE: usize = 52;
const FADT_PM1A_CNT_BLK: usize = 64;
const FADT_PM1B_CNT_BLK: usize = 68;
const FADT_FLAGS: usize = 112;
const FADT_RESET_REG: usize = 116;
const FADT_RESET_VALUE: usize = 128;
const FADT_X_DSDT: usize = 140;
const FADT_X_PM1A_CNT_BLK: usize = 172;
const FADT_X_PM1B_CNT_BLK: usize = 184;
/// Flags: the reset register is supported.
const FADT_RESET_REG_SUP: u32 = 1 << 10;
/// Flags: hardware-reduced ACPI.
const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;

/// Reads the FADT (signature `FACP`, checked by the caller with [`valid_table`]).
pub fn parse_fadt(table: &[u8]) -> Option<Fadt> {
    let len = table.len();
    let has = |offset: usize, size: usize| len >= offset + size;
    let x_dsdt = if has(FADT_X_DSDT, 8) {
        u64_at(table, FADT_X_DSDT).filter(|&a| a != 0)
    } else {
        None
    };
    let dsdt = x_dsdt.unwrap_or(u64::from(u32_at(table, FADT_DSDT)?));
    let flags = if has(FADT_FLAGS, 4) {
        u32_at(table, FADT_FLAGS)?
    } else {
        0
    };
    let extended = |offset: usize| {
        if has(offset, 12) {
            gas_at(table, offset)
        } else {
            None
        }
    };
    let reset = if flags & FADT_RESET_REG_SUP != 0 && has(FADT_RESET_VALUE, 1) {
        gas_at(table, FADT_RESET_REG).map(|r| (r, table[FADT_RESET_VALUE]))
    } else {
        None
    };
    Some(Fadt {
        dsdt,
        smi_cmd: u32_at(table, FADT_SMI_CMD)?,
        acpi_enable: *table.get(FADT_ACPI_ENABLE)?,
        pm1a_cnt: extended(FADT_X_PM1A_CNT_BLK).or_else(|| port_at(table, FADT_PM1A_CNT_BLK)),
        pm1b_cnt: extended(FADT_X_PM1B_CNT_BLK).or_else(|| port_at(table, FADT_PM1B_CNT_BLK)),
        reset,
        hardware_reduced: flags & FADT_HW_REDUCED_ACPI != 0,
    })
}

// AML encodings (ACPI 6.5 §20.2).
const AML_NAME_OP: u8 = 0x08;
const AML_ROOT_CHAR: u8 = b'\\';
const AML_PACKAGE_OP: u8 = 0x12;
const AML_ZERO_OP: u8 = 0x00;
const AML_ONE_OP: u8 = 0x01;
const AML_ONES_OP: u8 = 0xFF;
const AML_BYTE_PREFIX: u8 = 0x0A;
const AML_WORD_PREFIX: u8 = 0x0B;
const AML_DWORD_PREFIX: u8 = 0x0C;
const AML_QWORD_PREFIX: u8 = 0x0E;

/// One integer data object at `at`: (value, bytes used).
fn aml_integer(aml: &[u8], at: usize) -> Option<(u64, usize)> {
    match *aml.get(at)? {
        AML_ZERO_OP => Some((0, 1)),
        AML_ONE_OP => Some((1, 1)),
        AML_ONES_OP => Some((u64::MAX, 1)),
        AML_BYTE_PREFIX => Some((u64::from(*aml.get(at + 1)?), 2)),
        AML_WORD_PREFIX => Some((u64::from(u16_at(aml, at + 1)?), 3)),
        AML_DWORD_PREFIX => Some((u64::from(u32_at(aml, at + 1)?), 5)),
        AML_QWORD_PREFIX => Some((u64_at(aml, at + 1)?, 9)),
        _ => None,
    }
}

/// The `\_S5` package's first two values in an AML body (a DSDT or SSDT
/// without its header): `Name (_S5, Package () { SLP_TYPa, SLP_TYPb, ... })`.
pub fn find_s5(aml: &[u8]) -> Option<SleepType> {
    let mut from = 0;
    while let Some(found) = aml
        .get(from..)?
        .windows(4)
        .position(|w| w == b"_S5_")
        .map(|i| from + i)
    {
        from = found + 1;
        let named = match found {
            0 => false,
            1 => aml[0] == AML_NAME_OP,
            _ => {
                aml[found - 1] == AML_NAME_OP
                    || (aml[found - 1] == AML_ROOT_CHAR && aml[found - 2] == AML_NAME_OP)
            }
        };
        if !named || aml.get(found + 4) != Some(&AML_PACKAGE_OP) {
            continue;
        }
        // PkgLength (§20.2.4): bits 6-7 of the lead byte count the bytes that follow.
        let lead = *aml.get(found + 5)?;
        let mut at = found + 5 + 1 + usize::from(lead >> 6);
        let elements = *aml.get(at)?;
        at += 1;
        let Some((a, used)) = aml_integer(aml, at) else {
            continue;
        };
        let b = if elements >= 2 {
            aml_integer(aml, at + used).map_or(a, |(b, _)| b)
        } else {
            a
        };
        // SLP_TYP is a 3-bit field.
        return Some(SleepType {
            a: (a & 7) as u8,
            b: (b & 7) as u8,
        });
    }
    None
}

/// The PM1 control value that enters sleep type `typ`, from the register's current value.
pub fn sleep_control(current: u16, typ: u8) -> u16 {
    (current & !(7 << SLP_TYP_SHIFT) & !SLP_EN) | (u16::from(typ & 7) << SLP_TYP_SHIFT) | SLP_EN
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; HEADER_LEN];
        t[..4].copy_from_slice(sig);
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut t, 9);
        t
    }

    #[test]
    fn rsdp_versions_and_checksums() {
        let mut v1 = vec![0u8; 20];
        v1[..8].copy_from_slice(RSDP_SIGNATURE);
        v1[16..20].copy_from_slice(&0x7FE_1234u32.to_le_bytes());
        fix_checksum(&mut v1, 8);
        assert_eq!(
            parse_rsdp(&v1),
            Some(Rsdp {
                rsdt: 0x7FE_1234,
                xsdt: None
            })
        );
        let mut bad = v1.clone();
        bad[16] ^= 1;
        assert_eq!(parse_rsdp(&bad), None);

        let mut v2 = vec![0u8; 36];
        v2[..20].copy_from_slice(&v1);
        v2[15] = 2;
        v2[20..24].copy_from_slice(&36u32.to_le_bytes());
        v2[24..32].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        fix_checksum(&mut v2[..20], 8);
        fix_checksum(&mut v2, 32);
        assert_eq!(parse_rsdp(&v2).unwrap().xsdt, Some(0x1_0000_0000));
        v2[33] = 1; // extended checksum broken: the XSDT is not trusted
        assert_eq!(parse_rsdp(&v2).unwrap().xsdt, None);
        assert_eq!(parse_rsdp(b"RSD PTX 0123456789012"), None);
    }

    #[test]
    fn tables_and_root_entries() {
        let body: Vec<u8> = [0x1000u32, 0x2000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let rsdt = table(b"RSDT", &body);
        assert!(valid_table(&rsdt, b"RSDT"));
        assert!(!valid_table(&rsdt, b"XSDT"));
        assert!(!valid_table(&rsdt[..rsdt.len() - 1], b"RSDT"));
        assert_eq!(
            root_entries(&rsdt, 4).collect::<Vec<_>>(),
            vec![0x1000, 0x2000]
        );
        let xsdt = table(b"XSDT", &0x1_2345_6789u64.to_le_bytes());
        assert_eq!(
            root_entries(&xsdt, 8).collect::<Vec<_>>(),
            vec![0x1_2345_6789]
        );
    }

    fn fadt_bytes(len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len - HEADER_LEN];
        let put32 = |f: &mut Vec<u8>, at: usize, v: u32| {
            f[at - HEADER_LEN..at - HEADER_LEN + 4].copy_from_slice(&v.to_le_bytes())
        };
        put32(&mut f, FADT_DSDT, 0x7FE_0000);
        put32(&mut f, FADT_SMI_CMD, 0xB2);
        f[FADT_ACPI_ENABLE - HEADER_LEN] = 0xF1;
        put32(&mut f, FADT_PM1A_CNT_BLK, 0x604);
        if len >= 129 {
            put32(&mut f, FADT_FLAGS, FADT_RESET_REG_SUP);
            f[FADT_RESET_REG - HEADER_LEN] = 1; // system I/O
            f[FADT_RESET_REG + 4 - HEADER_LEN] = 0xF9;
            f[FADT_RESET_REG + 5 - HEADER_LEN] = 0x0C;
            f[FADT_RESET_VALUE - HEADER_LEN] = 6;
        }
        table(b"FACP", &f)
    }

    #[test]
    fn fadt_revision_1_and_later() {
        let old = fadt_bytes(116);
        let f = parse_fadt(&old).unwrap();
        assert_eq!(f.dsdt, 0x7FE_0000);
        assert_eq!(f.pm1a_cnt, Some(Register::Io(0x604)));
        assert_eq!(f.pm1b_cnt, None);
        assert_eq!((f.smi_cmd, f.acpi_enable), (0xB2, 0xF1));
        assert_eq!(f.reset, None);

        let mut new = fadt_bytes(244);
        // X_PM1a_CNT_BLK overrides the 32-bit block; X_DSDT the 32-bit DSDT.
        new[FADT_X_PM1A_CNT_BLK] = 1;
        new[FADT_X_PM1A_CNT_BLK + 4..FADT_X_PM1A_CNT_BLK + 12]
            .copy_from_slice(&0x1804u64.to_le_bytes());
        new[FADT_X_DSDT..FADT_X_DSDT + 8].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        let f = parse_fadt(&new).unwrap();
        assert_eq!(f.pm1a_cnt, Some(Register::Io(0x1804)));
        assert_eq!(f.dsdt, 0x1_0000_0000);
        assert_eq!(f.reset, Some((Register::Io(0xCF9), 6)));
    }

    #[test]
    fn s5_in_its_usual_encodings() {
        // Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }) as QEMU writes it.
        let qemu = [
            0x10, 0x08, 0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0,
        ];
        assert_eq!(find_s5(&qemu), Some(SleepType { a: 0, b: 0 }));
        // Name (\_S5, Package () { 0x07, 0x07 }) with byte prefixes.
        let bytes = [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x07, 0x02, 0x0A, 0x07, 0x0A, 0x05,
        ];
        assert_eq!(find_s5(&bytes), Some(SleepType { a: 7, b: 5 }));
        // A two-byte PkgLength, a One and a word.
        let long = [
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x41, 0x00, 0x02, 0x01, 0x0B, 0x06, 0x00,
        ];
        assert_eq!(find_s5(&long), Some(SleepType { a: 1, b: 6 }));
        // A method reference to _S5_ (not a Name) is skipped; the later Name is found.
        let mut both = vec![0x70, b'_', b'S', b'5', b'_', 0x60];
        both.extend_from_slice(&bytes);
        assert_eq!(find_s5(&both), Some(SleepType { a: 7, b: 5 }));
        assert_eq!(find_s5(b"no sleep states here"), None);
        assert_eq!(find_s5(&qemu[..9]), None);
    }

    #[test]
    fn sleep_control_keeps_other_bits() {
        assert_eq!(sleep_control(0x0001, 0), 0x2001);
        assert_eq!(sleep_control(0x1C01 | SLP_EN, 5), 0x1401 | SLP_EN);
    }
}
