//! Multiboot 1 header, the 32-bit entry stub, the switch to long mode, and the GDT/TSS/stacks.
//!
//! QEMU's `-kernel` loads a Multiboot 1 image; for an ELF64 file it needs the
//! a.out-kludge address fields (flag bit 16), which `link.ld` provides. The
//! stub runs in 32-bit protected mode with paging off (Multiboot spec §3.2),
//! builds boot page tables (identity map of the first 4 GiB and the kernel at
//! `KERNEL_VMA`), enables PAE, long mode, NX, SYSCALL and SSE (for user
//! programs: the kernel itself is soft-float), and jumps to 64-bit code. The
//! 64-bit part loads the final GDT (kernel/user segments and the TSS) before
//! any Rust code runs.

use core::arch::global_asm;

/// Multiboot 1 bootloader magic in EAX (Multiboot spec §3.2).
pub const MULTIBOOT_BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

/// Kernel code selector (GDT entry 1).
pub const KERNEL_CS: u16 = 0x08;
/// User data selector with RPL 3 (GDT entry 3).
pub const USER_SS: u64 = 0x18 | 3;
/// User 64-bit code selector with RPL 3 (GDT entry 4).
pub const USER_CS: u64 = 0x20 | 3;

global_asm!(
    r#"
    .set MB_MAGIC, 0x1BADB002
    /* flags: page-aligned modules (0), memory map (1), a.out-kludge addresses (16) */
    .set MB_FLAGS, 0x00010003

    .section .multiboot, "a"
    .p2align 2
ferrite_multiboot_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long ferrite_multiboot_header   /* header_addr (physical) */
    .long __load_start               /* load_addr */
    .long __load_end_phys            /* load_end_addr */
    .long __bss_end_phys             /* bss_end_addr */
    .long ferrite_boot32             /* entry_addr */

    /* Multiboot 2 header (Multiboot 2 spec §3.1), used by GRUB's `multiboot2`
       (the ISO): the same load addresses (address tag) and entry point. */
    .set MB2_MAGIC, 0xE85250D6
    .p2align 3
ferrite_multiboot2_header:
    .long MB2_MAGIC
    .long 0                                   /* architecture: i386 protected mode */
    .long ferrite_multiboot2_end - ferrite_multiboot2_header
    .long -(MB2_MAGIC + (ferrite_multiboot2_end - ferrite_multiboot2_header))
    .p2align 3
    .short 2, 0                               /* address tag */
    .long 24
    .long ferrite_multiboot2_header
    .long __load_start
    .long __load_end_phys
    .long __bss_end_phys
    .p2align 3
    .short 3, 0                               /* entry address tag */
    .long 12
    .long ferrite_boot32
    .p2align 3
    .short 5, 1                               /* framebuffer tag, optional: any mode */
    .long 20
    .long 0, 0, 0
    .p2align 3
    .short 0, 0                               /* end tag */
    .long 8
ferrite_multiboot2_end:

    .section .boot.text, "ax"
    .code32
    .global ferrite_boot32
ferrite_boot32:
    cli
    cld
    mov %eax, %edi                   /* Multiboot magic */
    mov %ebx, %esi                   /* Multiboot information (physical) */
    mov $ferrite_boot32_stack_top, %esp

    /* Long mode (bit 29) and NX (bit 20) in CPUID.80000001H:EDX (Intel SDM vol. 2 CPUID). */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb ferrite_boot32_unsupported
    mov $0x80000001, %eax
    cpuid
    test $(1 << 29), %edx
    jz ferrite_boot32_unsupported
    test $(1 << 20), %edx
    jz ferrite_boot32_unsupported

    /* PML4[0] -> identity PDPT, PML4[511] -> kernel PDPT. */
    mov $ferrite_boot_pdpt_low, %eax
    or $3, %eax
    mov %eax, ferrite_boot_pml4
    mov $ferrite_boot_pdpt_high, %eax
    or $3, %eax
    mov %eax, ferrite_boot_pml4 + 511 * 8
    /* identity PDPT[0..4] -> the four page directories (4 GiB). */
    mov $ferrite_boot_pd, %eax
    or $3, %eax
    xor %ecx, %ecx
ferrite_boot32_pdpt_loop:
    mov %eax, ferrite_boot_pdpt_low(,%ecx,8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jb ferrite_boot32_pdpt_loop
    /* kernel PDPT[510..512] -> first two page directories: KERNEL_VMA + [0, 2 GiB). */
    mov $ferrite_boot_pd, %eax
    or $3, %eax
    mov %eax, ferrite_boot_pdpt_high + 510 * 8
    add $4096, %eax
    mov %eax, ferrite_boot_pdpt_high + 511 * 8
    /* 2048 PDEs of 2 MiB pages: present, writable, PS (Intel SDM vol. 3 §4.5). */
    xor %ecx, %ecx
ferrite_boot32_pd_loop:
    mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, ferrite_boot_pd(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb ferrite_boot32_pd_loop

    /* CR4: PAE (5), PGE (7), OSFXSR (9), OSXMMEXCPT (10) (Intel SDM vol. 3 §2.5, §13.1.3). */
    mov %cr4, %eax
    or $((1 << 5) | (1 << 7) | (1 << 9) | (1 << 10)), %eax
    mov %eax, %cr4
    mov $ferrite_boot_pml4, %eax
    mov %eax, %cr3
    /* EFER: SCE (0), LME (8), NXE (11) (Intel SDM vol. 3 §9.8.5, §5.8.8). */
    mov $0xC0000080, %ecx
    rdmsr
    or $((1 << 0) | (1 << 8) | (1 << 11)), %eax
    wrmsr
    /* CR0: PE, MP (1), NE (5), WP (16), PG (31); EM (2) and TS (3) clear. */
    mov %cr0, %eax
    and $0xFFFFFFF3, %eax
    or $0x80010023, %eax
    mov %eax, %cr0

    lgdt ferrite_boot_gdt_ptr
    pushl $0x08
    pushl $ferrite_boot64_low
    lret

ferrite_boot32_unsupported:
    mov $ferrite_boot32_message, %esi
ferrite_boot32_message_loop:
    movb (%esi), %al
    test %al, %al
    jz ferrite_boot32_exit
    mov $0x3F8, %dx
    outb %al, %dx
    inc %esi
    jmp ferrite_boot32_message_loop
ferrite_boot32_exit:
    mov $0xF4, %dx
    mov $255, %eax
    outl %eax, %dx
ferrite_boot32_halt:
    hlt
    jmp ferrite_boot32_halt

    .code64
ferrite_boot64_low:
    movabs $ferrite_boot64, %rax
    jmp *%rax

    .section .boot.data, "aw"
    .p2align 12
ferrite_boot_pml4:
    .fill 4096, 1, 0
ferrite_boot_pdpt_low:
    .fill 4096, 1, 0
ferrite_boot_pdpt_high:
    .fill 4096, 1, 0
ferrite_boot_pd:
    .fill 4 * 4096, 1, 0
    .p2align 4
    .fill 1024, 1, 0
ferrite_boot32_stack_top:
ferrite_boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF         /* 64-bit code, DPL 0 */
    .quad 0x00CF92000000FFFF         /* data, DPL 0 */
ferrite_boot_gdt_ptr:
    .word 3 * 8 - 1
    .long ferrite_boot_gdt
ferrite_boot32_message:
    .asciz "KERNEL PANIC: this CPU lacks long mode or NX (QEMU needs -cpu max)\nferrite: power off, status 255\n"

    /* ---- 64-bit, higher half ---- */
    .text
    .global ferrite_boot64
ferrite_boot64:
    /* TSS descriptor (Intel SDM vol. 3 §8.2.3): limit 103, type 0x89, base split. */
    lea ferrite_tss(%rip), %rax
    mov $103, %rcx
    mov %rax, %rdx
    and $0xFFFFFF, %rdx
    shl $16, %rdx
    or %rdx, %rcx
    mov $0x89, %rdx
    shl $40, %rdx
    or %rdx, %rcx
    mov %rax, %rdx
    shr $24, %rdx
    and $0xFF, %rdx
    shl $56, %rdx
    or %rdx, %rcx
    mov %rcx, ferrite_gdt + 0x28(%rip)
    shr $32, %rax
    mov %rax, ferrite_gdt + 0x30(%rip)
    /* TSS.RSP0 (offset 4) and TSS.IST1 (offset 0x24): Intel SDM vol. 3 §8.7. */
    lea ferrite_entry_stack_top(%rip), %rax
    mov %rax, ferrite_tss + 4(%rip)
    lea ferrite_ist_stack_top(%rip), %rax
    mov %rax, ferrite_tss + 0x24(%rip)
    movw $104, ferrite_tss + 0x66(%rip)   /* I/O map base beyond the limit: no I/O bitmap */

    lgdt ferrite_gdt_ptr(%rip)
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea ferrite_boot64_reloaded(%rip), %rax
    pushq $0x08
    push %rax
    lretq
ferrite_boot64_reloaded:
    mov $0x28, %ax
    ltr %ax
    lea ferrite_kernel_stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %esi, %eax                   /* zero-extends: upper halves are undefined after the mode switch */
    mov %edi, %esi                   /* arg 2: magic */
    mov %eax, %edi                   /* arg 1: Multiboot information */
    call ferrite_boot_main
    ud2

    .data
    .p2align 4
    .global ferrite_gdt
ferrite_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF         /* 0x08 kernel code, 64-bit */
    .quad 0x00CF92000000FFFF         /* 0x10 kernel data */
    .quad 0x00CFF2000000FFFF         /* 0x18 user data, DPL 3 */
    .quad 0x00AFFA000000FFFF         /* 0x20 user code, 64-bit, DPL 3 */
    .quad 0, 0                       /* 0x28 TSS (filled above) */
ferrite_gdt_ptr:
    .word 7 * 8 - 1
    .quad ferrite_gdt

    .bss
    .p2align 4
    .global ferrite_tss
ferrite_tss:
    .skip 104
    .p2align 4
    .skip 16384
    .global ferrite_entry_stack_top
ferrite_entry_stack_top:
    .skip 16384
ferrite_ist_stack_top:

    .section .kernel_stack, "aw", @nobits
    .p2align 12
    .skip 256 * 1024
    .global ferrite_kernel_stack_top
ferrite_kernel_stack_top:
    .text
"#,
    options(att_syntax)
);
