//! A newc ("070701") cpio archive, the format Linux unpacks as its initramfs.
//!
//! Written here rather than with `cpio(1)` so that the archive can hold the
//! `/dev/console` device node without root and is byte-for-byte the same on
//! every run (fixed inode numbers, owners and times).

/// One entry of the archive.
pub enum Entry<'a> {
    Dir(&'a str),
    /// A regular file with its permission bits.
    File(&'a str, u32, &'a [u8]),
    /// A character device (major, minor).
    CharDevice(&'a str, u32, u32),
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

/// The archive of `entries`, ended by the `TRAILER!!!` entry.
pub fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let (name, mode, data, rdev): (&str, u32, &[u8], (u32, u32)) = match *entry {
            Entry::Dir(name) => (name, S_IFDIR | 0o755, &[], (0, 0)),
            Entry::File(name, perm, data) => (name, S_IFREG | perm, data, (0, 0)),
            Entry::CharDevice(name, major, minor) => (name, S_IFCHR | 0o600, &[], (major, minor)),
        };
        header(&mut out, i as u32 + 1, mode, name, data, rdev);
    }
    header(&mut out, 0, 0, "TRAILER!!!", &[], (0, 0));
    out
}

/// One header, the name and the data, each padded to 4 bytes.
fn header(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8], rdev: (u32, u32)) {
    let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
    // magic, then 13 fields of 8 hex digits: ino, mode, uid, gid, nlink,
    // mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check.
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_aligned_and_end_with_the_trailer() {
        let a = archive(&[Entry::Dir("dev"), Entry::File("init", 0o755, b"abc")]);
        assert_eq!(&a[..6], b"070701");
        assert!(a.len().is_multiple_of(4));
        // The file's header starts on a 4-byte boundary after the directory's.
        let second = a.windows(6).skip(1).position(|w| w == b"070701").unwrap() + 1;
        assert!(second.is_multiple_of(4));
        assert_eq!(&a[second + 6 + 8..second + 6 + 16], b"000081ED");
        let trailer = a.windows(10).position(|w| w == b"TRAILER!!!").unwrap();
        assert_eq!(&a[trailer - 110..trailer - 104], b"070701");
    }

    #[test]
    fn a_device_node_carries_its_numbers() {
        let a = archive(&[Entry::CharDevice("dev/console", 5, 1)]);
        // rdevmajor and rdevminor are fields 10 and 11 (from 1).
        assert_eq!(&a[6 + 9 * 8..6 + 10 * 8], b"00000005");
        assert_eq!(&a[6 + 10 * 8..6 + 11 * 8], b"00000001");
    }
}
