//! x86_64 support of the kernel image: boot, CPU tables, traps, system-call entry, console, timer, memory.

mod acpi;
mod apic;
mod boot;
mod cpu;
mod cputables;
mod fbcon;
mod fpu;
mod heap;
mod idt;
mod ioapic;
mod irqcheck;
mod lang;
mod lock;
mod mapcheck;
mod mmio;
mod multiboot;
mod multiboot2;
mod paging;
mod percpu;
mod physmem;
mod pic;
mod platform;
mod power;
mod ranges;
mod rtc;
mod selftest;
mod serial;
mod shootdown;
mod smp;
mod topology;
mod trampoline;
mod trap;

use alloc::string::String;
use alloc::vec::Vec;

pub use lock::BigLock;
use paging::phys_to_virt;
pub use paging::KernelSpace;
pub use physmem::DirectMap;
pub use platform::X86Platform;
pub use serial::{log, Level};
pub use smp::{release_aps, wake_idle};
pub use trap::{run, with_user_context, Event};

use kernel::madt::Madt;
use multiboot::MAX_MODULES;
use ranges::Ranges;

/// Memory below 1 MiB (real-mode data, BIOS, the Multiboot information) is never used.
const LOW_MEMORY_END: u64 = 0x10_0000;
/// Longest command line kept (kernel or module).
const CMDLINE_MAX: usize = 512;

/// One boot module (ABI §8: the first is the init program).
#[derive(Debug)]
pub struct Module {
    /// Its bytes, reached through the direct map; its frames are never given to `mm`.
    pub bytes: &'static [u8],
    /// The module's command line (`argv` split at spaces).
    pub cmdline: String,
}

/// Everything the kernel's `main` needs from boot.
#[derive(Debug)]
pub struct BootInfo {
    /// The kernel's own page tables; `kernel_half` is shared by every address space.
    pub kernel_space: KernelSpace,
    /// Page-aligned physical ranges nobody uses: for `mm::Memory::new`.
    pub free_ranges: Vec<(u64, u64)>,
    /// Boot modules in order.
    pub modules: Vec<Module>,
    /// The kernel command line.
    pub cmdline: String,
    /// Usable RAM in bytes, as the firmware reported it.
    pub ram_bytes: u64,
    /// The firmware's usable RAM ranges `[start, end)`, sorted, page-aligned:
    /// exactly what the direct map covers, write-back. Physical memory
    /// outside them (devices, firmware, ACPI) is never mapped by the kernel;
    /// a user mapping of it must be uncached (PCD and PWT set in the entry,
    /// PAT entry 3 = UC at reset, Intel SDM vol. 3 §12.12.2).
    pub ram_ranges: Vec<(u64, u64)>,
    /// Kernel heap size in bytes.
    pub heap_bytes: u64,
    /// Most regions of all address spaces together, planned with the heap
    /// (`heap::plan`): for `mm::Memory::set_region_limit`.
    pub region_limit: usize,
    /// Most live memory objects, likewise: for `mm::Memory::set_object_limit`.
    pub object_limit: usize,
    /// The physical address map for GET_ADDRESS_MAP and MMAP (ABI §3.3).
    pub address_map: crate::AddressMap,
    /// CPUs brought up (this one included), waiting for `release_aps`.
    pub cpus: usize,
}

/// The Rust entry point, called by the boot stub on the kernel stack with the
/// final GDT and TSS loaded, SSE on, interrupts off.
#[no_mangle]
extern "C" fn ferrite_boot_main(info: u64, magic: u64) -> ! {
    serial::init();
    idt::init();
    let raw = if magic == u64::from(boot::MULTIBOOT_BOOTLOADER_MAGIC) {
        multiboot::parse(info)
    } else if magic == u64::from(multiboot2::BOOTLOADER_MAGIC) {
        multiboot2::parse(info)
    } else {
        panic!("not booted by a Multiboot loader (magic {magic:#x})")
    };

    // Copy what lives in boot memory while it is still identity-mapped.
    let mut kernel_cmdline = [0u8; CMDLINE_MAX];
    let kernel_cmdline_len = if raw.cmdline == 0 {
        0
    } else {
        multiboot::copy_c_str(raw.cmdline, &mut kernel_cmdline)
    };
    let mut module_cmdlines = [[0u8; CMDLINE_MAX]; MAX_MODULES];
    let mut module_cmdline_lens = [0usize; MAX_MODULES];
    for (i, m) in raw.modules[..raw.module_count].iter().enumerate() {
        if m.cmdline != 0 {
            module_cmdline_lens[i] = multiboot::copy_c_str(m.cmdline, &mut module_cmdlines[i]);
        }
    }
    let kernel_cmdline = core::str::from_utf8(&kernel_cmdline[..kernel_cmdline_len]).unwrap_or("");
    let mut inject_fault = None;
    for word in kernel_cmdline.split(' ') {
        if let Some(level) = word.strip_prefix("log=").and_then(Level::parse) {
            serial::set_max_level(level);
        }
        if let Some(kind) = word.strip_prefix("fault=") {
            inject_fault = Some(kind);
        }
    }

    // The firmware's tables are read while the boot identity map still exists.
    power::init(acpi::discover(raw.rsdp));

    let mut free: Ranges = raw.ram.clone();
    free.remove(0, LOW_MEMORY_END);
    let (kernel_start, kernel_end) = paging::kernel_image_phys();
    free.remove(kernel_start, kernel_end);
    free.remove_all(&raw.boot_data);
    free.page_align_inward();
    // The MADT is read while the boot identity map still reaches it.
    let madt = topology::discover(raw.rsdp);
    let cpus_listed = madt.map_or(1, |m| m.cpus.max(1));
    let screen = raw.screen;
    let screen_range = screen.map(|s| (s.phys, s.phys + s.bytes()));
    // SAFETY: runs once, on the boot tables; `free` excludes the kernel image,
    // low memory and every byte of boot data (modules included), and
    // everything read from the identity map was copied above.
    let kernel_space = unsafe { paging::build_and_switch(&mut free, &raw.ram, screen_range) };
    if let (Some(screen), Some(base)) = (screen, kernel_space.device) {
        // SAFETY: `build_and_switch` mapped the whole buffer writable at
        // `base`, in the device window nothing else uses; boot, interrupts off.
        unsafe { fbcon::init(screen, base) };
        crate::kinfo!(
            "screen console: {}x{} {} at {:#x} (uncached)",
            screen.width,
            screen.height,
            match screen.kind {
                fbcon::ScreenKind::Text => "VGA text",
                fbcon::ScreenKind::Rgb {
                    bytes_per_pixel: 3, ..
                } => "RGB 24-bit",
                fbcon::ScreenKind::Rgb { .. } => "RGB 32-bit",
            },
            screen.phys
        );
    }
    free.remove(kernel_space.direct_map_end, u64::MAX);
    let map = mapcheck::verify(kernel_space.root, &raw.ram);
    crate::kinfo!(
        "direct map: {} MiB of RAM in {} ranges ({} MiB above 4 GiB), {} 2-MiB and {} 4-KiB pages, write-back; nothing else mapped",
        map.bytes >> 20,
        map.ranges,
        map.above_4g >> 20,
        map.pages_2m,
        map.pages_4k
    );

    shootdown::set_kernel_root(kernel_space.root);
    apic::map(&mut free);
    let io_apics = madt.map_or(0, |m| m.io_apic_count);
    for io_apic in madt.iter().flat_map(|m| &m.io_apics[..m.io_apic_count]) {
        ioapic::register(io_apic, &mut free);
    }
    let ap_stacks = smp::reserve_stacks(&mut free, cpus_listed);

    let heap_plan = heap::plan(free.total());
    let heap_bytes = heap_plan.heap_bytes;
    let heap_phys = free
        .take_from_largest(heap_bytes)
        .expect("not enough memory for the kernel heap");
    // SAFETY: the range was just taken out of the free ranges, is below the
    // end of the direct map and is given to nothing else.
    unsafe { heap::init(phys_to_virt(heap_phys), heap_bytes) };

    let modules = raw.modules[..raw.module_count]
        .iter()
        .enumerate()
        .map(|(i, m)| Module {
            // SAFETY: the module's frames are below the end of RAM (direct-mapped)
            // and were removed from the free ranges, so they stay untouched forever.
            bytes: unsafe {
                core::slice::from_raw_parts(
                    phys_to_virt(m.start) as *const u8,
                    (m.end - m.start) as usize,
                )
            },
            cmdline: String::from_utf8_lossy(&module_cmdlines[i][..module_cmdline_lens[i]])
                .into_owned(),
        })
        .collect();

    lang::check_mem_functions();
    let (smep, smap) = cpu::enable_smep_smap();
    pic::init();
    trap::init_syscall();
    let boot_cpu = percpu::boot_cpu();
    apic::enable();
    boot_cpu.apic_id = apic::id();
    percpu::install(boot_cpu);
    apic::calibrate();
    // Before the other CPUs start: only this one runs (`irqcheck.rs`).
    irqcheck::run(madt.as_ref());
    let cpus = match madt.as_ref().filter(|m| m.cpus > 1) {
        None => 1,
        Some(m) => {
            let mut busy = raw.boot_data.clone();
            busy.add(kernel_start, kernel_end);
            match trampoline::Trampoline::find(&raw.ram, &busy) {
                Some(t) => {
                    let [code, pml4, pdpt, pd] = t.pages();
                    crate::kdebug!(
                        "SMP: AP trampoline at {code:#x} (STARTUP vector {:#x}), its page tables at {pml4:#x}, {pdpt:#x}, {pd:#x}",
                        t.vector()
                    );
                    smp::start_aps(
                        m,
                        &t,
                        ap_stacks,
                        kernel_space.root,
                        &kernel_space.kernel_half,
                    )
                }
                None => {
                    crate::kwarn!(
                        "SMP: no 4 free pages of RAM below 512 KiB for the AP trampoline (boot modules and boot information fill it): only the boot CPU runs"
                    );
                    1
                }
            }
        }
    };
    crate::kinfo!(
        "{cpus} CPU(s) of {cpus_listed} listed; {io_apics} I/O APIC(s), every line masked"
    );
    crate::kdebug!(
        "SMEP {smep}, SMAP {smap}; {} MiB direct map",
        kernel_space.direct_map_end >> 20
    );

    if let Some(kind) = inject_fault {
        selftest::inject(kind);
    }

    let boot = BootInfo {
        kernel_space,
        free_ranges: free.as_slice().to_vec(),
        modules,
        cmdline: String::from(kernel_cmdline),
        ram_bytes: raw.ram.total(),
        ram_ranges: {
            let mut ram = raw.ram.clone();
            ram.page_align_inward();
            ram.remove(paging::DIRECT_MAP_LIMIT, u64::MAX);
            ram.as_slice().to_vec()
        },
        heap_bytes,
        region_limit: heap_plan.region_limit,
        object_limit: heap_plan.object_limit,
        address_map: crate::AddressMap::new(
            &raw.firmware_map[..raw.firmware_map_len],
            (kernel_start, kernel_end),
            &[
                (heap_phys, heap_phys + heap_bytes),
                (ap_stacks, ap_stacks + smp::stack_bytes(cpus_listed)),
            ]
            .into_iter()
            .filter(|(start, end)| start < end)
            .chain(interrupt_controller_pages(madt.as_ref()))
            .collect::<Vec<_>>(),
            &raw.modules[..raw.module_count]
                .iter()
                .map(|m| (m.start, m.end))
                .collect::<Vec<_>>(),
        ),
        cpus,
    };
    crate::kernel_main(boot)
}

/// The register pages of the interrupt controllers the kernel drives (the
/// local APIC, each I/O APIC): reported as KERNEL_RESERVED, so MMAP refuses
/// them (`doc/decisions.md`).
fn interrupt_controller_pages(madt: Option<&Madt>) -> impl Iterator<Item = (u64, u64)> + '_ {
    let io_apics = madt.map_or(&[][..], |m| &m.io_apics[..m.io_apic_count]);
    core::iter::once(apic::LAPIC_PHYS)
        .chain(io_apics.iter().map(|io_apic| io_apic.address & !0xFFF))
        .map(|page| (page, page + 4096))
}
