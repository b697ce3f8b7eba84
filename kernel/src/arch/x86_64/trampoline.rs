//! The APs' real-mode trampoline: where it goes in low memory (chosen at
//! boot), its code (position independent), and the data it reads.
//!
//! The trampoline goes straight from real mode to long mode: it loads its
//! own small GDT, sets PAE/PGE/OSFXSR, loads a CR3 of low page tables (an
//! identity map of the first 2 MiB plus the kernel half), sets
//! EFER.LME/NXE/SCE, turns on PE and PG together, and far-jumps to 64-bit
//! code that takes its stack, argument and entry point from the data words
//! at its end. In real mode it addresses its own page through `ds` = `cs`
//! (the STARTUP IPI starts it at `cs:ip` = `page << 8 : 0`); the two linear
//! addresses it needs before 64-bit mode (the GDT's base, the far jump's
//! target) are patched in when it is copied; 64-bit code reads its data
//! RIP-relative. So it runs from whichever page `find` picked.

use core::arch::global_asm;

use super::paging::phys_to_virt;
use super::ranges::{Ranges, PAGE_SIZE};

/// The trampoline and its tables stay below this: under 1 MiB (a STARTUP IPI
/// vector is a page number below 0x100) and under 512 KiB, where no EBDA
/// lies (it sits at the top of the first 640 KiB and is at most 128 KiB).
const LOW_LIMIT: u64 = 0x8_0000;
/// Page 0 holds the real-mode IVT and the BIOS data area.
const LOW_START: u64 = PAGE_SIZE;

global_asm!(
    r#"
    .section .rodata.trampoline, "a"
    .global ferrite_trampoline_start
    .global ferrite_trampoline_end
    .global ferrite_trampoline_long
    .global ferrite_trampoline_gdt
    .global ferrite_trampoline_gdt_base
    .global ferrite_trampoline_far
    .global ferrite_trampoline_data
    .set TR_GDT_PTR, ferrite_trampoline_gdt_ptr - ferrite_trampoline_start
    .set TR_CR3, ferrite_trampoline_data - ferrite_trampoline_start
    .set TR_FAR, ferrite_trampoline_far - ferrite_trampoline_start
    .code16
ferrite_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl TR_GDT_PTR
    /* CR4: PAE, PGE, OSFXSR, OSXMMEXCPT. */
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    movl TR_CR3, %eax
    mov %eax, %cr3
    /* EFER: SCE, LME, NXE. */
    mov $0xC0000080, %ecx
    rdmsr
    or $((1 << 0) | (1 << 8) | (1 << 11)), %eax
    wrmsr
    /* CR0: PE, MP, NE, WP, PG; EM and TS clear. */
    mov %cr0, %eax
    and $0xFFFFFFF3, %eax
    or $0x80010023, %eax
    mov %eax, %cr0
    ljmpl *TR_FAR
    .code64
ferrite_trampoline_long:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov ferrite_trampoline_data + 8(%rip), %rsp
    mov ferrite_trampoline_data + 16(%rip), %rdi
    mov ferrite_trampoline_data + 24(%rip), %rax
    xor %ebp, %ebp
    jmp *%rax
    .p2align 3
ferrite_trampoline_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
ferrite_trampoline_gdt_ptr:
    .word 3 * 8 - 1
ferrite_trampoline_gdt_base:
    .long 0
    .p2align 2
ferrite_trampoline_far:
    .long 0
    .word 0x08
    .p2align 3
ferrite_trampoline_data:
    .quad 0
    .quad 0
    .quad 0
    .quad 0
ferrite_trampoline_end:
    .text
"#,
    options(att_syntax)
);

extern "C" {
    static ferrite_trampoline_start: u8;
    static ferrite_trampoline_end: u8;
    static ferrite_trampoline_long: u8;
    static ferrite_trampoline_gdt: u8;
    static ferrite_trampoline_gdt_base: u8;
    static ferrite_trampoline_far: u8;
    static ferrite_trampoline_data: u8;
}

/// Where the trampoline's pieces lie, as offsets into its page.
struct Layout {
    long: u64,
    gdt: u64,
    gdt_base: u64,
    far: u64,
    data: u64,
}

/// The trampoline's bytes in the kernel image, and its layout.
fn code() -> (&'static [u8], Layout) {
    // SAFETY: the symbols are labels of the trampoline in .rodata; only their
    // addresses are used, and the bytes between start and end are read-only
    // code and data.
    unsafe {
        let start = &raw const ferrite_trampoline_start;
        let end = &raw const ferrite_trampoline_end;
        let offset = |label: *const u8| label as u64 - start as u64;
        let layout = Layout {
            long: offset(&raw const ferrite_trampoline_long),
            gdt: offset(&raw const ferrite_trampoline_gdt),
            gdt_base: offset(&raw const ferrite_trampoline_gdt_base),
            far: offset(&raw const ferrite_trampoline_far),
            data: offset(&raw const ferrite_trampoline_data),
        };
        let bytes = core::slice::from_raw_parts(start, end as usize - start as usize);
        (bytes, layout)
    }
}

/// The low pages the trampoline uses: its code page and its page tables.
#[derive(Clone, Copy, Debug)]
pub struct Trampoline {
    /// The code page (STARTUP IPI vector = its page number).
    pub code: u64,
    /// PML4, PDPT, PD.
    pub tables: [u64; 3],
}

impl Trampoline {
    /// Four free pages in `[LOW_START, LOW_LIMIT)`: firmware RAM (`ram`),
    /// none of `busy` (boot modules, the Multiboot information, its memory
    /// map and command lines, the kernel image). `None` if there are not four.
    pub fn find(ram: &Ranges, busy: &Ranges) -> Option<Self> {
        let mut low = ram.clone();
        low.remove(0, LOW_START);
        low.remove(LOW_LIMIT, u64::MAX);
        low.remove_all(busy);
        low.page_align_inward();
        let mut take = || low.take_page_below(LOW_LIMIT);
        Some(Self {
            code: take()?,
            tables: [take()?, take()?, take()?],
        })
    }

    /// The STARTUP IPI vector: the code page's number.
    pub fn vector(&self) -> u8 {
        (self.code / PAGE_SIZE) as u8
    }

    /// The pages it overwrites, for the log.
    pub fn pages(&self) -> [u64; 4] {
        [self.code, self.tables[0], self.tables[1], self.tables[2]]
    }

    /// Writes the trampoline (patched for its page) and its page tables.
    pub fn install(&self, kernel_half: &[u64; 256]) {
        let (bytes, layout) = code();
        assert!(
            bytes.len() as u64 <= PAGE_SIZE,
            "trampoline larger than a page"
        );
        let [pml4, pdpt, pd] = self.tables;
        // SAFETY: `find` chose these pages in firmware RAM below 512 KiB,
        // outside every boot module, the boot information and the kernel;
        // low memory is never given to `mm`, and the pages are reached
        // through the direct map (it maps all RAM).
        unsafe {
            let page = phys_to_virt(self.code) as *mut u8;
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), page, bytes.len());
            let gdt_base = (self.code + layout.gdt) as u32;
            let far = (self.code + layout.long) as u32;
            (page.add(layout.gdt_base as usize) as *mut u32).write_unaligned(gdt_base);
            (page.add(layout.far as usize) as *mut u32).write_unaligned(far);
            for table in self.tables {
                core::ptr::write_bytes(phys_to_virt(table) as *mut u8, 0, PAGE_SIZE as usize);
            }
            let pml4_entries = phys_to_virt(pml4) as *mut u64;
            *pml4_entries = pdpt | 0x3;
            for (i, &e) in kernel_half.iter().enumerate() {
                *pml4_entries.add(256 + i) = e;
            }
            *(phys_to_virt(pdpt) as *mut u64) = pd | 0x3;
            // One 2 MiB page: present, writable, PS.
            *(phys_to_virt(pd) as *mut u64) = 0x83;
        }
    }

    /// Fills the trampoline's data words for one AP: CR3, stack, argument, entry.
    pub fn set_data(&self, stack_top: u64, arg: u64, entry: u64) {
        let (_, layout) = code();
        let words = phys_to_virt(self.code + layout.data) as *mut u64;
        for (i, v) in [self.tables[0], stack_top, arg, entry].iter().enumerate() {
            // SAFETY: the data words lie inside the trampoline page `install` wrote.
            unsafe { core::ptr::write_volatile(words.add(i), *v) };
        }
    }
}
