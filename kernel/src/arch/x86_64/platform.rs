//! The `kernel::Platform` services over this machine: CR3, TLB shootdown, COM1, power, RNG, TSC, CPUs.

use core::sync::atomic::Ordering;

use kernel::Platform;

use super::cpu;
use super::percpu::{self, PerCpu};
use super::serial;
use super::shootdown;

/// The machine as the kernel core sees it from one CPU (each CPU has one).
#[derive(Debug)]
pub struct X86Platform {
    has_rdrand: bool,
    has_rdseed: bool,
    /// `nothing_else_ready` was called during this core call.
    spin_hint: bool,
}

impl X86Platform {
    /// Probes the CPU.
    pub fn new() -> Self {
        let (_, _, ecx1, _) = cpu::cpuid(1, 0);
        let (max_leaf, _, _, _) = cpu::cpuid(0, 0);
        let ebx7 = if max_leaf >= 7 { cpu::cpuid(7, 0).1 } else { 0 };
        Self {
            has_rdrand: ecx1 & (1 << 30) != 0,
            has_rdseed: ebx7 & (1 << 18) != 0,
            spin_hint: false,
        }
    }

    fn me(&self) -> &'static PerCpu {
        percpu::this()
    }

    /// Whether the core asked for a spin-wait hint (`nothing_else_ready`)
    /// since the last call; clears the request.
    pub fn take_spin_hint(&mut self) -> bool {
        core::mem::take(&mut self.spin_hint)
    }
}

impl Platform for X86Platform {
    fn nothing_else_ready(&mut self) {
        self.spin_hint = true;
    }

    fn activate_space(&mut self, root: u64) {
        let me = self.me();
        if root != me.loaded_root.load(Ordering::Relaxed) {
            // SAFETY: every root comes from `mm`, whose address spaces all
            // share the kernel half built at boot, so the kernel stays mapped.
            unsafe { cpu::write_cr3(root) };
            me.loaded_root.store(root, Ordering::SeqCst);
        }
    }

    fn flush(&mut self, root: u64, start: u64, end: u64) {
        if start >= end {
            return;
        }
        if root == self.me().loaded_root.load(Ordering::Relaxed) {
            shootdown::flush_local(start, end);
        }
        shootdown::post(root, start, end);
    }

    fn cpu(&self) -> usize {
        self.me().index
    }

    fn cpu_count(&self) -> usize {
        percpu::count()
    }

    fn stop_space(&mut self, root: u64) {
        shootdown::stop_space(root);
    }

    fn stop_cpu(&mut self, cpu: usize) {
        shootdown::stop_cpu(cpu);
    }

    fn release_space(&mut self, root: u64) {
        shootdown::release_space(root);
    }

    fn console_write(&mut self, bytes: &[u8]) {
        serial::write_bytes(bytes);
    }

    fn power_off(&mut self, status: u8) -> ! {
        crate::kdebug!(
            "{} CPU(s); {} kicks for shootdowns and stops",
            percpu::count(),
            shootdown::kicks()
        );
        for c in percpu::all() {
            crate::kdebug!(
                "CPU {}: {} core calls, {} idle wake-ups",
                c.index,
                c.core_calls.load(Ordering::Relaxed),
                c.idle_wakeups.load(Ordering::Relaxed)
            );
        }
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

    fn save_fpu(&mut self, ctx: &mut kernel::UserContext) {
        super::fpu::save(ctx);
    }

    fn load_fpu(&mut self) {
        super::fpu::image_loaded();
    }

    fn save_fpu_into(&mut self, ctx: &kernel::UserContext, image: &mut [u8; 512]) {
        super::fpu::save_into(ctx, image);
    }

    fn load_fpu_from(&mut self, ctx: &mut kernel::UserContext, image: &[u8; 512]) {
        super::fpu::load_from(ctx, image);
    }
}
