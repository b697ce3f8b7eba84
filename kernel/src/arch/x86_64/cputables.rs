//! Per-CPU GDT and TSS for the application processors (the boot CPU keeps those of `boot.rs`).
//!
//! Same segments as the boot GDT (kernel code 0x08, kernel data 0x10, user
//! data 0x18, user code 0x20, TSS 0x28), so the SYSCALL/SYSRET selectors
//! and the IDT work unchanged on every CPU; each CPU's TSS has its own RSP0
//! (entry stack for traps from ring 3) and IST1 (NMI, #DF, #MC).

use core::arch::asm;

/// The GDT entries of `boot.rs` (Intel SDM vol. 3 §3.4.5).
const SEGMENTS: [u64; 5] = [
    0,
    0x00AF_9A00_0000_FFFF,
    0x00CF_9200_0000_FFFF,
    0x00CF_F200_0000_FFFF,
    0x00AF_FA00_0000_FFFF,
];
/// The TSS selector (GDT entry 5, two slots).
const TSS_SELECTOR: u16 = 0x28;
const TSS_SIZE: usize = 104;

/// One CPU's GDT and TSS.
#[repr(C, align(16))]
pub struct CpuTables {
    gdt: [u64; 7],
    tss: [u8; TSS_SIZE],
}

impl CpuTables {
    /// Tables whose TSS gives `entry_stack` as RSP0 and `ist_stack` as IST1.
    pub fn new(entry_stack: u64, ist_stack: u64) -> Self {
        let mut tss = [0u8; TSS_SIZE];
        tss[4..12].copy_from_slice(&entry_stack.to_le_bytes());
        tss[36..44].copy_from_slice(&ist_stack.to_le_bytes());
        // I/O map base beyond the limit: no I/O bitmap.
        tss[102..104].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes());
        let mut gdt = [0u64; 7];
        gdt[..5].copy_from_slice(&SEGMENTS);
        Self { gdt, tss }
    }

    /// Loads the GDT, reloads every segment register and the task register.
    /// The tables must stay at this address for good.
    pub fn load(&'static mut self) {
        // TSS descriptor (Intel SDM vol. 3 §8.2.3): limit 103, type 0x89 (available 64-bit TSS).
        let base = self.tss.as_ptr() as u64;
        self.gdt[5] = (TSS_SIZE as u64 - 1)
            | ((base & 0xFF_FFFF) << 16)
            | (0x89 << 40)
            | (((base >> 24) & 0xFF) << 56);
        self.gdt[6] = base >> 32;
        let pointer: [u16; 5] = {
            let gdt = self.gdt.as_ptr() as u64;
            [
                (core::mem::size_of::<[u64; 7]>() - 1) as u16,
                gdt as u16,
                (gdt >> 16) as u16,
                (gdt >> 32) as u16,
                (gdt >> 48) as u16,
            ]
        };
        // SAFETY: the GDT has the boot GDT's segments at the same selectors,
        // so reloading CS (far return), the data segments and TR keeps the
        // kernel running exactly as before; the tables are 'static.
        unsafe {
            asm!(
                "lgdt [{ptr}]",
                "push 0x08",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov {tmp:e}, 0x10",
                "mov ds, {tmp:e}",
                "mov es, {tmp:e}",
                "mov ss, {tmp:e}",
                "xor {tmp:e}, {tmp:e}",
                "mov fs, {tmp:e}",
                "ltr {sel:x}",
                ptr = in(reg) &pointer,
                tmp = out(reg) _,
                sel = in(reg) TSS_SELECTOR,
            );
        }
    }
}
