//! The Ferrite side: `mm` over `SimPhys` doing MCLONE, RGN_DUP, copy-on-write faults and teardown.

use crate::median;
use abi::args::{Allocation, DupMode, MClone};
use abi::perms::{JINUE_PROT_READ, JINUE_PROT_WRITE};
use abi::region::{K_INHERITCOPY, K_INHERITSHARE, K_WRITABLE};
use abi::types::{KnRgnDesc, MCloneArgs};
use mm::sim::SimPhys;
use mm::{Access, FaultOutcome, Memory, PhysMem, SpaceId, PAGE_SIZE};
use std::time::Instant;

/// Medians for one size, in nanoseconds.
pub(crate) struct Results {
    pub(crate) mclone_ns: u64,
    pub(crate) dup_copy_ns: u64,
    pub(crate) dup_share_ns: u64,
    pub(crate) cow_fault_ns_per_page: u64,
    pub(crate) teardown_ns: u64,
}

/// Where the measured region lives: 2 MiB-aligned, like a large heap.
const REGION_VADDR: u64 = 0x4000_0000;

/// A `Memory` with room for `npages` resident pages, a private copy of them
/// and its copy-on-write faults, every simulated frame touched beforehand so
/// that host page faults stay out of the timings.
fn memory(npages: u64) -> Memory<SimPhys> {
    let nframes = 3 * npages as usize + 4096;
    let (phys, ranges) = SimPhys::new(nframes);
    let mut m = Memory::new(phys, &ranges, &[0; 256]);
    for &(start, end) in &ranges {
        let mut paddr = start;
        while paddr < end {
            m.phys_mut().zero_frame(paddr);
            paddr += PAGE_SIZE;
        }
    }
    m
}

/// A space with one writable `K_INHERITCOPY` region of `npages`, all resident.
fn resident_space(m: &mut Memory<SimPhys>, npages: u64) -> SpaceId {
    let space = m.create_space().expect("space");
    let desc = KnRgnDesc {
        startAddr: REGION_VADDR,
        size: npages * PAGE_SIZE,
        options: K_WRITABLE | K_INHERITCOPY,
        ..Default::default()
    };
    let request = Allocation::decode(&desc).expect("descriptor");
    m.allocate(space, &request).expect("allocate");
    dirty(m, space, npages);
    space
}

/// Writes every page of the region, leaving writable leaf entries behind.
fn dirty(m: &mut Memory<SimPhys>, space: SpaceId, npages: u64) {
    for i in 0..npages {
        m.write_user(space, REGION_VADDR + i * PAGE_SIZE, &[1])
            .expect("write");
    }
}

fn time(f: impl FnOnce()) -> u64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as u64
}

/// Every Ferrite measurement for `npages` pages.
pub(crate) fn measure(npages: u64, reps: usize) -> Results {
    let mut m = memory(npages);
    let src = resident_space(&mut m, npages);
    let len_bytes = npages * PAGE_SIZE;

    let mut mclone = Vec::new();
    let mut dup_copy = Vec::new();
    let mut dup_share = Vec::new();
    let mut cow = Vec::new();
    for _ in 0..reps {
        let dst = m.create_space().expect("space");
        mclone.push(time(|| {
            let args = MCloneArgs {
                src_addr: REGION_VADDR,
                dest_addr: REGION_VADDR,
                length: len_bytes,
                prot: JINUE_PROT_READ | JINUE_PROT_WRITE,
                _pad: 0,
            };
            let request = MClone::decode(&args).expect("arguments");
            m.clone_range(src, dst, &request).expect("mclone");
        }));
        m.destroy_space(dst);

        let dst = m.create_space().expect("space");
        dup_share.push(time(|| {
            let mode = DupMode::from_flags(K_INHERITSHARE).expect("flags");
            m.dup(dst, src, mode).expect("dup share");
        }));
        m.destroy_space(dst);

        // Every source page writable again (as after the parent ran), so
        // that each private copy has to write-protect the whole source.
        dirty(&mut m, src, npages);
        let dst = m.create_space().expect("space");
        dup_copy.push(time(|| {
            let mode = DupMode::from_flags(K_INHERITCOPY).expect("flags");
            m.dup(dst, src, mode).expect("dup copy");
        }));
        cow.push(
            time(|| {
                for i in 0..npages {
                    let outcome = m.resolve_fault(dst, REGION_VADDR + i * PAGE_SIZE, Access::Write);
                    assert!(matches!(outcome, FaultOutcome::Resolved(_)));
                }
            }) / npages,
        );
        m.destroy_space(dst);
    }
    m.destroy_space(src);

    let mut teardown = Vec::new();
    for _ in 0..reps {
        let space = resident_space(&mut m, npages);
        teardown.push(time(|| {
            m.destroy_space(space);
        }));
    }
    let st = m.memstat();
    assert_eq!(
        (st.user_frames, st.table_frames, st.committed_frames),
        (0, 0, 0)
    );
    Results {
        mclone_ns: median(&mut mclone),
        dup_copy_ns: median(&mut dup_copy),
        dup_share_ns: median(&mut dup_share),
        cow_fault_ns_per_page: median(&mut cow),
        teardown_ns: median(&mut teardown),
    }
}
