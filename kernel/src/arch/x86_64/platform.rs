//! The `kernel::Platform` services over this machine: CR3, TLB, COM1, power, RNG, TSC.

use kernel::{Platform, UserContext};

use super::cpu;
use super::serial;

/// Above this many pages a flush reloads CR3 instead of issuing INVLPG per page
/// (kernel mappings are global and survive the reload, Intel SDM vol. 3 §4.10.4.1).
const INVLPG_MAX_PAGES: u64 = 32;

/// The machine as the kernel core sees it.
#[derive(Debug)]
pub struct X86Platform {
    /// The PML4 now in CR3.
    root: u64,
    has_rdrand: bool,
    has_rdseed: bool,
}

impl X86Platform {
    /// Probes the CPU; `root` is the loaded CR3.
    pub fn new(root: u64) -> Self {
        let (_, _, ecx1, _) = cpu::cpuid(1, 0);
        let (max_leaf, _, _, _) = cpu::cpuid(0, 0);
        let ebx7 = if max_leaf >= 7 { cpu::cpuid(7, 0).1 } else { 0 };
        Self {
            root,
            has_rdrand: ecx1 & (1 << 30) != 0,
            has_rdseed: ebx7 & (1 << 18) != 0,
        }
    }
}

impl Platform for X86Platform {
    fn activate_space(&mut self, root: u64) {
        if root != self.root {
            // SAFETY: every root comes from `mm`, whose address spaces all
            // share the kernel half built at boot, so the kernel stays mapped.
            unsafe { cpu::write_cr3(root) };
            self.root = root;
        }
    }

    fn flush(&mut self, root: u64, start: u64, end: u64) {
        if root != self.root || start >= end {
            return;
        }
        let start = start & !0xFFF;
        let pages = (end - start).div_ceil(4096);
        if pages > INVLPG_MAX_PAGES {
            // SAFETY: reloading the loaded root changes no mapping.
            unsafe { cpu::write_cr3(self.root) };
        } else {
            for page in 0..pages {
                cpu::invlpg(start + page * 4096);
            }
        }
    }

    fn console_write(&mut self, bytes: &[u8]) {
        serial::write_bytes(bytes);
    }

    fn power_off(&mut self, status: u8) -> ! {
        super::power::power_off(status)
    }

    fn reboot(&mut self) -> ! {
        super::power::reboot()
    }

    fn hardware_random(&mut self) -> Option<u64> {
        // RDSEED/RDRAND may transiently fail (CF = 0); retry a few times (Intel SDM vol. 1 §7.3.17).
        for _ in 0..16 {
            let value = if self.has_rdseed {
                cpu::rdseed()
            } else if self.has_rdrand {
                cpu::rdrand()
            } else {
                return None;
            };
            if value.is_some() {
                return value;
            }
        }
        None
    }

    fn timestamp(&mut self) -> u64 {
        cpu::rdtsc()
    }

    fn save_fpu(&mut self, ctx: &mut UserContext) {
        super::trap::save_fpu(ctx);
    }
}
