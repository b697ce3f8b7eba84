//! `hwsafe` (issue 13): hardware-safe defaults seen from user space. The
//! kernel's direct map holds RAM only; a system call whose buffer lies in a
//! user's MMAP of device memory is served through an uncached scratch
//! mapping, never through a cacheable alias and never by faulting the kernel.
#![no_std]
#![no_main]

use abi::init::PUTS_INFO;
use abi::numbers::JINUE_SYS_PUTS;
use abi::perms::JINUE_PROT_READ;
use abi::physmem::{AddrMapEntry, JINUE_MEMYPE_RESERVED};
use ferrite_rt::api::{self, Actor};
use ferrite_rt::physmem::{address_map_count, address_map_entry, get_address_map, mmap};
use ferrite_rt::thread::SELF;
use ferrite_rt::Startup;
use ferrite_tests::*;

ferrite_rt::entry!(main);

/// The PC BIOS area, where the BIOS keeps the ACPI RSDP (ACPI 6.5 §5.2.5.1):
/// reserved in the firmware map, so outside the kernel's direct map.
const BIOS_AREA: u64 = 0xE_0000;
const BIOS_AREA_LEN: u64 = 0x2_0000;

fn main(_start: &Startup) -> i32 {
    let mut s = Suite::new("hwsafe");
    s.isolated("kernel_reads_a_buffer_in_device_memory", |c| {
        let mut buf = [0u8; 8 + 24 * 64];
        let Ok(count) = get_address_map(&mut buf) else {
            return c.fail(file!(), line!(), format_args!("GET_ADDRESS_MAP"));
        };
        let count = address_map_count(&buf).unwrap_or(0).min(count);
        let reserved =
            (0..count)
                .filter_map(|i| address_map_entry(&buf, i))
                .any(|e: AddrMapEntry| {
                    e.r#type == JINUE_MEMYPE_RESERVED
                        && e.addr <= BIOS_AREA + BIOS_AREA_LEN - 0x1_0000
                        && BIOS_AREA + BIOS_AREA_LEN <= e.addr + e.size
                });
        check!(
            c,
            reserved,
            "the BIOS area 0xF0000.. is not reserved in the map"
        );
        touch_stack();
        let base = usage();
        let at = hole_of(BIOS_AREA_LEN / 0x1000);
        let r = mmap(SELF, at, BIOS_AREA_LEN, JINUE_PROT_READ, BIOS_AREA);
        check_eq!(c, r, Ok(()), "MMAP of the BIOS area");
        if r.is_err() {
            return;
        }
        // Find the RSDP signature as a user (through the user mapping).
        let found = (0..BIOS_AREA_LEN)
            .step_by(16)
            .find(|&o| (0..8).all(|i| peek8(at + o + i) == b"RSD PTR "[i as usize]));
        check!(c, found.is_some(), "no RSDP in the BIOS area");
        if let Some(o) = found {
            // PUTS copies the 8 bytes in through the kernel's scratch page.
            check_eq!(
                c,
                jraw(JINUE_SYS_PUTS, PUTS_INFO, at + o, 8),
                Ok(0),
                "PUTS of a buffer in device memory"
            );
            // A buffer straddling the end of the mapping is still refused.
            check!(
                c,
                jraw(JINUE_SYS_PUTS, PUTS_INFO, at + BIOS_AREA_LEN - 4, 8).is_err(),
                "PUTS past the mapping"
            );
        }
        check_eq!(
            c,
            api::rgn_free(Actor::Me, &api::rgn(at, BIOS_AREA_LEN, 0)),
            Ok(())
        );
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.finish()
}
