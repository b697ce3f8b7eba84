//! `physmem` (issue 9): GET_ADDRESS_MAP and MMAP (ABI §3.3): the map's contents, every error in order, a boot module mapped, the interrupt controllers refused, physical regions shared by RGN_DUP and MCLONE.
#![no_std]
#![no_main]

use abi::errors::JinueError;
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::layout::*;
use abi::numbers::*;
use abi::perms::*;
use abi::physmem::*;
use abi::region::*;
use abi::types::MCloneArgs;
use ferrite_rt::api::{self, Actor};
use ferrite_rt::physmem::{address_map_count, address_map_entry, get_address_map, mmap};
use ferrite_rt::thread::SELF;
use ferrite_rt::{fork_with, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

use JinueError::{BadF, Inval, Io, Perm, TooBig};

const P: u64 = 10;
const OPEN_ONLY: u64 = 11;
const FREE: u64 = 400;
const INVALID: [u64; 4] = [u64::MAX, JINUE_DESC_NUM, 1 << 31, 1 << 32];
const KERNEL: u64 = 0xffff_8000_0000_0000;
const RW: i32 = JINUE_PROT_READ | JINUE_PROT_WRITE;

/// The whole address map (at most 64 entries here).
struct Map {
    buf: [u8; 8 + 24 * 64],
    count: usize,
}

impl Map {
    fn read() -> Map {
        let mut m = Map {
            buf: [0; 8 + 24 * 64],
            count: 0,
        };
        m.count = get_address_map(&mut m.buf).expect("GET_ADDRESS_MAP");
        m
    }

    fn entries(&self) -> impl Iterator<Item = AddrMapEntry> + '_ {
        (0..self.count).filter_map(|i| address_map_entry(&self.buf, i))
    }

    fn of_type(&self, t: u32) -> impl Iterator<Item = AddrMapEntry> + '_ {
        self.entries().filter(move |e| e.r#type == t)
    }

    /// The boot module (this program) as a page span: start, length, and
    /// the module's offset in its first page.
    fn module_pages(&self) -> (u64, u64, u64) {
        let m = self
            .of_type(JINUE_MEMYPE_RAMDISK)
            .next()
            .expect("a RAMDISK entry");
        let start = m.addr & !(PAGE_SIZE - 1);
        (
            start,
            (m.addr + m.size).next_multiple_of(PAGE_SIZE) - start,
            m.addr - start,
        )
    }

    /// Whether physical `[a, a + size)` overlaps an entry of type `t`.
    fn overlaps(&self, t: u32, a: u64, size: u64) -> bool {
        self.of_type(t)
            .any(|m| m.addr < a + size && a < m.addr + m.size)
    }

    /// A page of a firmware range that is not MEMORY, overlapping neither
    /// MEMORY nor what the kernel reserved (page-aligned inside).
    fn device_page(&self) -> Option<u64> {
        self.entries()
            .filter(|e| e.r#type == JINUE_MEMYPE_RESERVED)
            .map(|e| e.addr.next_multiple_of(PAGE_SIZE))
            .find(|&a| {
                !self.overlaps(JINUE_MEMYPE_MEMORY, a, PAGE_SIZE)
                    && !self.overlaps(JINUE_MEMYPE_KERNEL_RESERVED, a, PAGE_SIZE)
            })
    }
}

fn mmap_at(process: u64, args: &MmapArgs) -> Result<u64, JinueError> {
    jraw(JINUE_SYS_MMAP, process, args as *const MmapArgs as u64, 0)
}

fn main(_: &Startup) -> i32 {
    let mut s = Suite::new("physmem");
    s.isolated("address_map_contents", |c| {
        let m = Map::read();
        check!(c, m.count >= 5, "{} entries", m.count);
        check!(
            c,
            m.of_type(JINUE_MEMYPE_MEMORY).count() >= 1,
            "MEMORY ranges"
        );
        check_eq!(c, m.of_type(JINUE_MEMYPE_KERNEL_IMAGE).count(), 1);
        check!(c, m.of_type(JINUE_MEMYPE_KERNEL_RESERVED).count() >= 1);
        check_eq!(
            c,
            m.of_type(JINUE_MEMYPE_RAMDISK).count(),
            1,
            "one boot module"
        );
        check!(
            c,
            m.entries().all(|e| e.size > 0 && e._pad == 0),
            "no empty entry"
        );
        // The kernel image lies in RAM the firmware reports.
        let image = m
            .of_type(JINUE_MEMYPE_KERNEL_IMAGE)
            .next()
            .unwrap_or_default();
        check!(
            c,
            m.of_type(JINUE_MEMYPE_MEMORY)
                .any(|r| r.addr <= image.addr && image.addr + image.size <= r.addr + r.size),
            "kernel image {:#x} inside MEMORY",
            image.addr
        );
        // The firmware's entries come first, the kernel's after them.
        let first_kernel = m
            .entries()
            .position(|e| e.r#type >= JINUE_MEMYPE_KERNEL_RESERVED);
        check!(
            c,
            first_kernel.is_some_and(|i| m
                .entries()
                .skip(i)
                .all(|e| e.r#type >= JINUE_MEMYPE_KERNEL_RESERVED))
        );
    });
    s.isolated("address_map_errors_and_e2big", |c| {
        let full = Map::read();
        let needed = 8 + 24 * full.count as u64;
        let hole = hole();
        let text = main as *const () as u64 & !(PAGE_SIZE - 1);
        for (addr, size) in [
            (0, 8),
            (KERNEL, 8),
            (hole, 64),
            (text, 64),
            (USER_LIMIT - 4, 8),
        ] {
            check_eq!(
                c,
                jraw(JINUE_SYS_GET_ADDRESS_MAP, addr, size, 0),
                Err(Inval),
                "{addr:#x}"
            );
        }
        // The whole buffer must be writable even when the map fits in less.
        let r = Region::anywhere(1, K_WRITABLE).expect("region");
        check_eq!(
            c,
            jraw(JINUE_SYS_GET_ADDRESS_MAP, r.addr(), PAGE_SIZE + 8, 0),
            Err(Inval)
        );
        for size in [0u64, 3, 4, 8, needed - 1] {
            poke(r.addr(), u64::MAX);
            check_eq!(
                c,
                jraw(JINUE_SYS_GET_ADDRESS_MAP, r.addr(), size, 0),
                Err(TooBig),
                "{size}"
            );
            let want = if size >= 4 {
                full.count as u64 | 0xffff_ffff << 32
            } else {
                u64::MAX
            };
            check_eq!(
                c,
                peek(r.addr()),
                want,
                "num_entries written when 4 bytes fit ({size})"
            );
        }
        // An empty buffer has no byte in the kernel: E2BIG, not EINVAL.
        check_eq!(
            c,
            jraw(JINUE_SYS_GET_ADDRESS_MAP, KERNEL, 0, 0),
            Err(TooBig)
        );
        check_eq!(
            c,
            jraw(JINUE_SYS_GET_ADDRESS_MAP, r.addr(), needed, 0),
            Ok(0)
        );
        check_eq!(c, address_map_count(&full.buf), Some(full.count));
        for i in 0..full.count as u64 {
            let at = r.addr() + 8 + 24 * i;
            let e = address_map_entry(&full.buf, i as usize).unwrap_or_default();
            check_eq!(c, (peek(at), peek(at + 8)), (e.addr, e.size), "entry {i}");
        }
    });
    s.isolated("mmap_of_the_boot_module", |c| {
        touch_stack();
        let m = Map::read();
        let (paddr, len, off) = m.module_pages();
        let at = hole_of(len / PAGE_SIZE);
        let base = usage();
        check_eq!(c, mmap(SELF, at, len, JINUE_PROT_READ, paddr), Ok(()));
        let elf = at + off;
        check_eq!(
            c,
            [peek8(elf), peek8(elf + 1), peek8(elf + 2), peek8(elf + 3)],
            [0x7f, b'E', b'L', b'F']
        );
        let (count, st) = stat(Actor::Me, at, len);
        check_eq!(c, count, Ok(1));
        check_eq!(c, (st[0].startAddr, st[0].size), (at, len));
        check_eq!(c, st[0].options, K_INHERITSHARE, "read-only, shared");
        let last = at + len - 8;
        let _ = peek(last);
        check_eq!(
            c,
            usage().user_frames,
            base.user_frames,
            "physical memory counts in no MEMSTAT counter"
        );
        check_eq!(c, api::rgn_free(Actor::Me, &api::rgn(at, len, 0)), Ok(()));
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.isolated("mmap_replaces_what_the_range_mapped", |c| {
        touch_stack();
        let m = Map::read();
        let (paddr, _, off) = m.module_pages();
        let base = usage();
        let r = Region::anywhere(3, K_WRITABLE).expect("region");
        poke(r.page(0), 11);
        poke(r.page(2), 33);
        check_eq!(
            c,
            mmap(SELF, r.page(1), PAGE_SIZE, JINUE_PROT_READ, paddr),
            Ok(())
        );
        check_eq!(
            c,
            (peek(r.page(0)), peek8(r.page(1) + off + 1), peek(r.page(2))),
            (11, b'E', 33)
        );
        check_eq!(c, stat(Actor::Me, r.addr(), 3 * PAGE_SIZE).0, Ok(3));
        drop(r);
        check_eq!(c, usage(), base);
    });
    s.isolated("mmap_errors_in_order", |c| {
        let m = Map::read();
        let (module, len, _) = m.module_pages();
        let at = hole_of(len / PAGE_SIZE + 1);
        let good = MmapArgs {
            addr: at,
            length: PAGE_SIZE,
            prot: JINUE_PROT_READ,
            _pad: 0,
            paddr: module,
        };
        let hole = hole();
        // 1. EBADF (value) beats a bad structure.
        for n in INVALID {
            check_eq!(c, jraw(JINUE_SYS_MMAP, n, 0, 0), Err(BadF), "{n:#x}");
        }
        // 2. EINVAL: the structure.
        for p in [0, hole, KERNEL, USER_LIMIT - 16] {
            check_eq!(
                c,
                jraw(JINUE_SYS_MMAP, FREE, p, 0),
                Err(Inval),
                "structure at {p:#x}"
            );
        }
        // 3.-5. EINVAL: alignment, prot, ranges (all before the descriptor).
        let bad = [
            MmapArgs {
                addr: at + 1,
                ..good
            },
            MmapArgs {
                length: 100,
                ..good
            },
            MmapArgs {
                paddr: module + 8,
                ..good
            },
            MmapArgs { prot: 8, ..good },
            MmapArgs { prot: -1, ..good },
            MmapArgs { addr: 0, ..good },
            MmapArgs {
                addr: USER_LIMIT - PAGE_SIZE,
                length: 2 * PAGE_SIZE,
                ..good
            },
            MmapArgs {
                addr: KERNEL,
                ..good
            },
            MmapArgs {
                paddr: !0xfff,
                ..good
            },
            MmapArgs {
                paddr: PHYS_ADDR_LIMIT,
                ..good
            },
            MmapArgs {
                paddr: PHYS_ADDR_LIMIT - PAGE_SIZE,
                length: 2 * PAGE_SIZE,
                ..good
            },
        ];
        for (i, a) in bad.iter().enumerate() {
            check_eq!(c, mmap_at(FREE, a), Err(Inval), "case {i}");
        }
        // 6. EBADF / EIO: the process descriptor.
        check_eq!(c, mmap_at(FREE, &good), Err(BadF));
        check_eq!(
            c,
            mmap_at(INIT_THREAD_DESCRIPTOR, &good),
            Err(BadF),
            "a thread"
        );
        check_eq!(c, api::create_process(P), Ok(()));
        check_eq!(
            c,
            api::mint_into(P, SELF, OPEN_ONLY, JINUE_PERM_OPEN, 0),
            Ok(())
        );
        // 7. EPERM: no MAP.
        check_eq!(c, mmap_at(OPEN_ONLY, &good), Err(Perm));
        check_eq!(c, api::destroy(P), Ok(()));
        check_eq!(c, mmap_at(P, &good), Err(Io), "destroyed");
        check_eq!(c, mmap_at(OPEN_ONLY, &good), Err(Io));
        let _ = api::close(P);
        let _ = api::close(OPEN_ONLY);
        // 8. EPERM: RAM the kernel manages, the kernel itself, half a module.
        let ram = m.of_type(JINUE_MEMYPE_MEMORY).last().unwrap_or_default();
        let image = m
            .of_type(JINUE_MEMYPE_KERNEL_IMAGE)
            .next()
            .unwrap_or_default();
        let reserved = m
            .of_type(JINUE_MEMYPE_KERNEL_RESERVED)
            .next()
            .unwrap_or_default();
        for paddr in [
            ram.addr.next_multiple_of(PAGE_SIZE),
            image.addr & !0xfff,
            reserved.addr & !0xfff,
            module + len - PAGE_SIZE,
        ] {
            let a = MmapArgs {
                paddr,
                length: 2 * PAGE_SIZE,
                ..good
            };
            check_eq!(c, mmap_at(SELF, &a), Err(Perm), "paddr {paddr:#x}");
        }
        check_eq!(
            c,
            stat(Actor::Me, at, len + PAGE_SIZE).0,
            Ok(0),
            "nothing mapped"
        );
        // length 0 succeeds and changes nothing.
        check_eq!(
            c,
            mmap_at(
                SELF,
                &MmapArgs {
                    length: 0,
                    paddr: image.addr & !0xfff,
                    ..good
                }
            ),
            Ok(0)
        );
        check_eq!(c, stat(Actor::Me, at, len + PAGE_SIZE).0, Ok(0));
        // 8. EPERM: a process other than init, even for its own space.
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("region");
        let flag = shared.addr();
        poke(flag, 0);
        match ferrite_rt::fork() {
            Ok(Fork::Child) => {
                let r = mmap(SELF, at, PAGE_SIZE, JINUE_PROT_READ, module);
                poke(flag, 1 + r.err().map_or(0, |e| e.number()));
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(c, child.wait().ok(), Some(0));
                check_eq!(
                    c,
                    peek(flag),
                    1 + JinueError::Perm.number(),
                    "EPERM outside init"
                );
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
    });
    s.isolated("device_memory_outside_ram", |c| {
        let m = Map::read();
        let Some(dev) = m.device_page() else {
            return c.fail(
                file!(),
                line!(),
                format_args!("no reserved range outside RAM"),
            );
        };
        touch_stack();
        let base = usage();
        let at = hole();
        check_eq!(
            c,
            mmap(SELF, at, PAGE_SIZE, JINUE_PROT_READ, dev),
            Ok(()),
            "{dev:#x}"
        );
        let _ = peek(at);
        check_eq!(c, stat(Actor::Me, at, PAGE_SIZE).0, Ok(1));
        check_eq!(
            c,
            api::rgn_free(Actor::Me, &api::rgn(at, PAGE_SIZE, 0)),
            Ok(())
        );
        check_eq!(c, usage(), base);
    });
    s.isolated("interrupt_controllers_are_kernel_reserved", |c| {
        // The local APIC (and each I/O APIC) the kernel drives: one
        // KERNEL_RESERVED page each, outside RAM, which MMAP refuses
        // (`doc/decisions.md`), alone or inside a larger range.
        let m = Map::read();
        let devices: [Option<AddrMapEntry>; 8] = {
            let mut it = m
                .of_type(JINUE_MEMYPE_KERNEL_RESERVED)
                .filter(|e| !m.overlaps(JINUE_MEMYPE_MEMORY, e.addr, e.size));
            core::array::from_fn(|_| it.next())
        };
        check!(
            c,
            devices
                .iter()
                .flatten()
                .any(|e| e.addr == 0xfee0_0000 && e.size == PAGE_SIZE),
            "the local APIC page is KERNEL_RESERVED"
        );
        let at = hole();
        for e in devices.iter().flatten() {
            for (paddr, length) in [(e.addr, PAGE_SIZE), (e.addr - PAGE_SIZE, 3 * PAGE_SIZE)] {
                check_eq!(
                    c,
                    mmap(SELF, at, length, JINUE_PROT_READ, paddr),
                    Err(Perm),
                    "{paddr:#x}, {length:#x} bytes"
                );
            }
        }
        check_eq!(
            c,
            stat(Actor::Me, at, 3 * PAGE_SIZE).0,
            Ok(0),
            "nothing mapped"
        );
    });
    s.isolated("physical_regions_shared_by_rgn_dup_copy_and_mclone", |c| {
        touch_stack();
        let m = Map::read();
        let (module, _, off) = m.module_pages();
        let base = usage();
        let at = hole_of(2);
        // Bytes 8..16 of the ELF header (EI_ABIVERSION and padding): nobody reads them again.
        let spot = at + off + 8;
        check_eq!(c, mmap(SELF, at, PAGE_SIZE, RW, module), Ok(()));
        let saved = peek(spot);
        // MCLONE within the process: the same physical page at two addresses.
        let args = MCloneArgs {
            src_addr: at,
            dest_addr: at + PAGE_SIZE,
            length: PAGE_SIZE,
            prot: RW,
            _pad: 0,
        };
        check_eq!(c, api::mclone(SELF, SELF, &args), Ok(()));
        poke(spot + PAGE_SIZE, 0x1234);
        check_eq!(c, peek(spot), 0x1234, "MCLONE shares physical memory");
        // RGN_DUP(K_INHERITCOPY) (fork with that flag): the child's copy of
        // the physical region is the same memory.
        match fork_with(K_INHERITCOPY) {
            Ok(Fork::Child) => {
                let seen = peek(spot);
                poke(spot, seen + 1);
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                check_eq!(c, child.wait().ok(), Some(0));
                check_eq!(c, peek(spot), 0x1235, "the child wrote the shared page");
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
        poke(spot, saved);
        check_eq!(
            c,
            api::rgn_free(Actor::Me, &api::rgn(at, 2 * PAGE_SIZE, 0)),
            Ok(())
        );
        check_eq!(c, usage(), base, "MEMSTAT back at baseline");
    });
    s.finish()
}
