//! Thin wrappers over single x86_64 instructions: port I/O, MSRs, control registers, CPUID, TSC, RNG.

use core::arch::asm;

/// IA32_STAR: segment selectors for SYSCALL/SYSRET (Intel SDM vol. 3 §5.8.8).
pub const MSR_STAR: u32 = 0xC000_0081;
/// IA32_LSTAR: 64-bit SYSCALL entry point.
pub const MSR_LSTAR: u32 = 0xC000_0082;
/// IA32_CSTAR: compatibility-mode SYSCALL entry point (unused: no 32-bit user code).
pub const MSR_CSTAR: u32 = 0xC000_0083;
/// IA32_FMASK: RFLAGS bits cleared by SYSCALL.
pub const MSR_FMASK: u32 = 0xC000_0084;
/// IA32_FS_BASE.
pub const MSR_FS_BASE: u32 = 0xC000_0100;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port writes only reach the devices this layer drives (PIC, PIT,
    // COM1, debug-exit under QEMU, 8042, the ACPI ports the FADT names, PCI
    // configuration); none of them can corrupt memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a 32-bit value to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a 16-bit value to an I/O port.
pub fn outw(port: u16, value: u16) {
    // SAFETY: as for `outb` (also the ACPI PM1 control registers the FADT names).
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 16-bit value from an I/O port.
pub fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: as for `inb`.
    unsafe {
        asm!("in ax, dx", out("ax") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: reading the status registers of the devices this layer drives has no memory effects.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only architectural MSRs named above are read; they exist on every x86_64 CPU.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes a model-specific register.
///
/// # Safety
///
/// The value must be valid for the MSR (canonical addresses, defined bits)
/// and must not break the kernel's own execution (EFER, STAR, LSTAR...).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees the value is valid for the MSR.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    }
}

/// The loaded CR3 (physical address of the PML4 plus flags).
pub fn read_cr3() -> u64 {
    let value: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Loads CR3, switching address space and flushing non-global TLB entries.
///
/// # Safety
///
/// `root` must be the physical address of a PML4 whose kernel half maps the
/// running kernel (code, stacks, data) exactly like the current one.
pub unsafe fn write_cr3(root: u64) {
    // SAFETY: the caller guarantees the kernel stays mapped.
    unsafe { asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags)) }
}

/// CR4.SMAP (Intel SDM vol. 3 §2.5): supervisor accesses to user pages fault.
const CR4_SMAP: u64 = 1 << 21;

/// The CR4 register.
pub fn read_cr4() -> u64 {
    let value: u64;
    // SAFETY: reading CR4 has no side effect.
    unsafe { asm!("mov {}, cr4", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Whether SMAP is on (CR4.SMAP).
pub fn smap_enabled() -> bool {
    read_cr4() & CR4_SMAP != 0
}

/// Sets or clears CR4.SMAP (the bit must be supported: only call with
/// `on = true` after `smap_enabled()` said it was set).
///
/// # Safety
///
/// SMAP is the kernel's guard against touching user pages: clear it only
/// for a stretch of ring-3 execution and set it again before kernel code
/// other than the entry stubs runs.
pub unsafe fn set_smap(on: bool) {
    let cr4 = read_cr4();
    let new = if on { cr4 | CR4_SMAP } else { cr4 & !CR4_SMAP };
    if new != cr4 {
        // SAFETY: only the SMAP bit changes; the caller guarantees the
        // bit is supported and that the kernel does not rely on it meanwhile.
        unsafe { asm!("mov cr4, {}", in(reg) new, options(nomem, nostack, preserves_flags)) }
    }
}

/// Turns on SMEP and SMAP where the CPU has them (CPUID.(EAX=07H,ECX=0):EBX
/// bits 7 and 20; CR4 bits 20 and 21, Intel SDM vol. 3 §4.6): the kernel never
/// executes or touches user pages directly (it reaches memory through the direct map).
/// Returns (smep, smap).
pub fn enable_smep_smap() -> (bool, bool) {
    let (max_leaf, _, _, _) = cpuid(0, 0);
    if max_leaf < 7 {
        return (false, false);
    }
    let ebx = cpuid(7, 0).1;
    let smep = ebx & (1 << 7) != 0;
    let smap = ebx & (1 << 20) != 0;
    let bits = (u64::from(smep) << 20) | (u64::from(smap) << 21);
    // SAFETY: only feature bits the CPU reports are set; the kernel runs from
    // supervisor pages and never accesses user pages, so nothing it does faults.
    unsafe {
        asm!("mov {t}, cr4", "or {t}, {bits}", "mov cr4, {t}", t = out(reg) _, bits = in(reg) bits, options(nomem, nostack, preserves_flags));
    }
    (smep, smap)
}

/// CR2: the linear address of the last page fault (Intel SDM vol. 3 §4.7).
pub fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Invalidates the TLB entry of one page in the current address space.
pub fn invlpg(vaddr: u64) {
    // SAFETY: dropping a TLB entry is always safe; the next access re-walks the tables.
    unsafe { asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) }
}

/// CPUID leaf/subleaf: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU (CR4.TSD is clear, so also in ring 0).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// RDRAND (Intel SDM vol. 2 RDRAND): `None` when the CPU had no entropy ready.
pub fn rdrand() -> Option<u64> {
    let value: u64;
    let ok: u8;
    // SAFETY: only called after CPUID.01H:ECX.RDRAND[bit 30] was checked.
    unsafe {
        asm!("rdrand {}", "setc {}", out(reg) value, out(reg_byte) ok, options(nomem, nostack))
    }
    (ok != 0).then_some(value)
}

/// RDSEED (Intel SDM vol. 2 RDSEED): `None` when the CPU had no entropy ready.
pub fn rdseed() -> Option<u64> {
    let value: u64;
    let ok: u8;
    // SAFETY: only called after CPUID.(EAX=07H,ECX=0):EBX.RDSEED[bit 18] was checked.
    unsafe {
        asm!("rdseed {}", "setc {}", out(reg) value, out(reg_byte) ok, options(nomem, nostack))
    }
    (ok != 0).then_some(value)
}

/// Disables interrupts and halts forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: halting with interrupts off only stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// Whether the CPU says it runs under QEMU (TCG or KVM): CPUID.1:ECX bit 31
/// (hypervisor present) and the signature of leaf 0x40000000.
pub fn under_qemu() -> bool {
    if cpuid(1, 0).2 & (1 << 31) == 0 {
        return false;
    }
    let (_, b, c, d) = cpuid(0x4000_0000, 0);
    let mut signature = [0u8; 12];
    signature[..4].copy_from_slice(&b.to_le_bytes());
    signature[4..8].copy_from_slice(&c.to_le_bytes());
    signature[8..].copy_from_slice(&d.to_le_bytes());
    &signature == b"TCGTCGTCGTCG" || &signature == b"KVMKVMKVM\0\0\0"
}

/// Loads ds, es, fs and gs with user selectors (already checked to be null
/// or the user data/code segments). In 64-bit mode the kernel uses none of
/// them (flat segments, no fs/gs-relative data); loading fs and gs resets
/// their bases, so the caller writes the fs base afterwards.
pub fn load_user_data_segments(ds: u16, es: u16, fs: u16, gs: u16) {
    // SAFETY: null selectors and the DPL-3 user data/code descriptors
    // (readable) are valid data-segment loads at CPL 0 (Intel SDM vol. 3
    // §5.6.1); the kernel does not depend on these registers.
    unsafe {
        asm!(
            "mov ds, {0:x}", "mov es, {1:x}", "mov fs, {2:x}", "mov gs, {3:x}",
            in(reg) ds, in(reg) es, in(reg) fs, in(reg) gs,
            options(nostack, preserves_flags)
        );
    }
}

/// FXSAVE64 into a 512-byte image (Intel SDM vol. 2 FXSAVE).
pub fn fxsave(image: &mut [u8; 512]) {
    // The image must be 16-byte aligned (FXSAVE faults otherwise).
    assert!(
        (image.as_ptr() as usize).is_multiple_of(16),
        "FXSAVE image not 16-byte aligned"
    );
    // SAFETY: writes exactly the 512 bytes of `image`, aligned (checked);
    // CR4.OSFXSR is set at boot.
    unsafe { asm!("fxsave64 [{}]", in(reg) image.as_mut_ptr(), options(nostack, preserves_flags)) }
}
