//! Unit tests of MMAP's path (`Memory::mmap`, ABI §3.3) and of the user-copy fast path through the page tables.

use crate::pagetable::{read_leaf, PTE_UNCACHED, PTE_WRITABLE};
use crate::sim::{SimPhys, SIM_BASE};
use crate::{Access, FaultOutcome, Memory, PhysMem, PAGE_SIZE};
use abi::args::{Allocation, Inherit, Prot, RegionOptions, UserRange};
use abi::region::{K_INHERITCOPY, K_WRITABLE};
use abi::types::KnRgnDesc;

fn memory(nframes: usize) -> Memory<SimPhys> {
    let (phys, ranges) = SimPhys::new(nframes);
    Memory::new(phys, &ranges, &[0; 256])
}

const RW: RegionOptions = RegionOptions {
    prot: Prot::READ_WRITE,
    inherit: Inherit::Share,
};

#[test]
fn mmap_replaces_the_range_all_or_nothing_and_sets_the_cache_mode() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let desc = KnRgnDesc {
        startAddr: 0x10000,
        size: 3 * PAGE_SIZE,
        options: K_WRITABLE | K_INHERITCOPY,
        ..Default::default()
    };
    m.allocate(a, &Allocation::decode(&desc).unwrap()).unwrap();
    m.write_user(a, 0x10000, &[1; 3 * PAGE_SIZE as usize])
        .unwrap();
    let before = m.memstat();
    let device = SIM_BASE + 60 * PAGE_SIZE;
    let range = UserRange::exact(0x11000, PAGE_SIZE).unwrap();
    assert_eq!(
        m.mmap(a, range, device + 1, RW, true).err(),
        Some(crate::MmError::InvalidArgument)
    );
    m.mmap(a, range, device, RW, true).unwrap();
    assert_eq!(
        m.memstat().user_frames,
        before.user_frames - 1,
        "the replaced page is freed"
    );
    assert_eq!(m.region_count(a), 3);
    // The first touch maps it uncached, writable.
    assert!(matches!(
        m.resolve_fault(a, 0x11000, Access::Write),
        FaultOutcome::Resolved(_)
    ));
    let (entry, pde_writable) = read_leaf(&m.phys, m.root(a), 0x11000);
    assert_eq!(entry & PTE_UNCACHED, PTE_UNCACHED);
    assert!(entry & PTE_WRITABLE != 0 && pde_writable);
    let (cached, _) = read_leaf(&m.phys, m.root(a), 0x10000);
    assert_eq!(cached & PTE_UNCACHED, 0);
    // The fast path copies through the mapping; the pool is not touched.
    m.write_user(a, 0x11008, &[7; 8]).unwrap();
    assert_eq!(m.phys().read_u64(device + 8), 0x0707_0707_0707_0707);
    let mut back = [0u8; 16];
    m.read_user(a, 0x10ff8, &mut back).unwrap();
    assert_eq!(back, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Write-back over the whole range, again replacing.
    let whole = UserRange::exact(0x10000, 3 * PAGE_SIZE).unwrap();
    m.mmap(a, whole, device, RW, false).unwrap();
    assert_eq!(m.region_count(a), 1);
    assert_eq!(m.memstat().user_frames, 0);
    m.check_invariants().unwrap();
    m.destroy_space(a);
    assert_eq!(m.memstat().table_frames, 0);
}

#[test]
fn mclone_keeps_the_cache_mode_of_physical_pages() {
    let mut m = memory(64);
    let a = m.create_space().unwrap();
    let device = SIM_BASE + 60 * PAGE_SIZE;
    m.mmap(
        a,
        UserRange::exact(0x10000, PAGE_SIZE).unwrap(),
        device,
        RW,
        true,
    )
    .unwrap();
    m.write_user(a, 0x10000, &[5; 8]).unwrap();
    let args = abi::types::MCloneArgs {
        src_addr: 0x10000,
        dest_addr: 0x20000,
        length: PAGE_SIZE,
        prot: 3,
        _pad: 0,
    };
    m.clone_range(a, a, &abi::args::MClone::decode(&args).unwrap())
        .unwrap();
    let mut b = [0u8; 8];
    m.read_user(a, 0x20000, &mut b).unwrap();
    assert_eq!(b, [5; 8]);
    let (entry, _) = read_leaf(&m.phys, m.root(a), 0x20000);
    assert_eq!(entry & PTE_UNCACHED, PTE_UNCACHED);
    m.check_invariants().unwrap();
    m.destroy_space(a);
}
