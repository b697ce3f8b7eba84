//! A boot-time check of the direct map: exactly the firmware's RAM, write-back, no large page over a hole.
//!
//! Walks the kernel's page tables as the CPU would and compares what is
//! mapped under `DIRECT_MAP_BASE` with the RAM ranges the map was built from;
//! also checks that the lower half (the boot identity map) is gone. Any
//! difference is a kernel bug and panics; the summary line is what
//! `cargo xtask test` reads (`mem3584::*` boots RAM across the PCI hole).

use super::paging::{phys_to_virt, DIRECT_MAP_BASE, DIRECT_MAP_LIMIT};
use super::ranges::{Ranges, PAGE_SIZE};

// Entry bits (Intel SDM vol. 3 §4.5).
const PRESENT: u64 = 1 << 0;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
/// PAT bit of a 4 KiB entry (bit 7) and of a 2 MiB entry (bit 12).
const PAT_4K: u64 = 1 << 7;
const PAT_2M: u64 = 1 << 12;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;
const SIZE_2M: u64 = 2 << 20;

/// What the direct map holds.
#[derive(Debug)]
pub struct Summary {
    pub ranges: usize,
    pub bytes: u64,
    pub above_4g: u64,
    pub pages_2m: u64,
    pub pages_4k: u64,
}

fn entry(table: u64, index: u64) -> u64 {
    // SAFETY: `table` is a page-table frame of the kernel's own tables, taken
    // from RAM at boot, hence inside the direct map; index < 512.
    unsafe { ((phys_to_virt(table) + index * 8) as *const u64).read_volatile() }
}

/// Checks the direct map of the PML4 at `root` against `ram` (the firmware's
/// usable RAM); panics on any difference.
pub fn verify(root: u64, ram: &Ranges) -> Summary {
    let mut expected = ram.clone();
    expected.page_align_inward();
    expected.remove(DIRECT_MAP_LIMIT, u64::MAX);
    for index in 0..256 {
        assert!(
            entry(root, index) == 0,
            "PML4 entry {index} of the lower half is still mapped"
        );
    }
    let pml4e = entry(root, (DIRECT_MAP_BASE >> 39) & 511);
    assert!(pml4e & PRESENT != 0, "no direct map");
    let pdpt = pml4e & ADDRESS;
    let mut mapped = Ranges::new();
    let mut summary = Summary {
        ranges: 0,
        bytes: 0,
        above_4g: 0,
        pages_2m: 0,
        pages_4k: 0,
    };
    let mut record = |paddr: u64, len: u64, flags: u64, pat: u64| {
        assert!(
            flags & (WRITE_THROUGH | CACHE_DISABLE | pat) == 0,
            "direct map of {paddr:#x} is not write-back (entry flags {flags:#x})"
        );
        assert!(
            flags & NO_EXECUTE != 0,
            "direct map of {paddr:#x} is executable"
        );
        let inside = expected
            .as_slice()
            .iter()
            .any(|&(s, e)| s <= paddr && paddr + len <= e);
        assert!(
            inside,
            "direct map of [{paddr:#x}, {:#x}) is not inside one RAM range",
            paddr + len
        );
        mapped.add(paddr, paddr + len);
    };
    for gib in 0..512u64 {
        let pdpte = entry(pdpt, gib);
        if pdpte & PRESENT == 0 {
            continue;
        }
        assert!(pdpte & HUGE == 0, "1 GiB page in the direct map");
        let pd = pdpte & ADDRESS;
        for i in 0..512u64 {
            let pde = entry(pd, i);
            let paddr = (gib << 30) | (i << 21);
            if pde & PRESENT == 0 {
                continue;
            }
            if pde & HUGE != 0 {
                assert!(
                    pde & ADDRESS & !(PAT_2M) == paddr,
                    "2 MiB page at {paddr:#x} maps {pde:#x}"
                );
                record(paddr, SIZE_2M, pde, PAT_2M);
                summary.pages_2m += 1;
                continue;
            }
            let pt = pde & ADDRESS;
            for j in 0..512u64 {
                let pte = entry(pt, j);
                if pte & PRESENT == 0 {
                    continue;
                }
                let page = paddr | (j << 12);
                assert!(pte & ADDRESS == page, "page at {page:#x} maps {pte:#x}");
                record(page, PAGE_SIZE, pte, PAT_4K);
                summary.pages_4k += 1;
            }
        }
    }
    assert!(
        mapped.as_slice() == expected.as_slice(),
        "direct map {:x?} differs from RAM {:x?}",
        mapped.as_slice(),
        expected.as_slice()
    );
    summary.ranges = mapped.as_slice().len();
    summary.bytes = mapped.total();
    let mut high = mapped.clone();
    high.remove(0, 4 << 30);
    summary.above_4g = high.total();
    summary
}
