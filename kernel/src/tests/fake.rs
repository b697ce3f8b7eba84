//! The fake [`Platform`] the host tests run the kernel on: console lines
//! collected, flushes counted, a seeded "hardware" random generator, a
//! ticking clock, x87/SSE "registers" kept lazily like the x86_64 arch keeps
//! them ([`FakeFpu`]), and power-off / reboot that unwind (caught by
//! [`World::power_off_status`](super::harness::World::power_off_status)).

use crate::{Platform, UserContext};
use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

/// What the fake `power_off` / `reboot` unwind with.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PowerOff(pub(super) u8);

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rebooted;

/// One CPU's x87/SSE registers as the x86_64 arch treats them: left alone
/// across traps, loaded from the context's image on the way to user mode
/// only after the core said it loaded another image (`load_fpu`), written
/// into the image only when the core asks (`save_fpu`). A core that keeps a
/// context without saving, or loads one without telling, leaves a thread
/// with another thread's values here, which the tests see.
#[derive(Default)]
pub(super) struct FakeFpu {
    /// The registers (an FXSAVE image; empty until first loaded).
    pub(super) regs: Vec<u8>,
    /// They hold the newest state of the thread whose context is current.
    pub(super) live: bool,
    /// How many times the way to user mode loaded an image.
    pub(super) restores: usize,
}

impl FakeFpu {
    /// The way to user mode with `ctx` (the arch's FXRSTOR64 when needed).
    pub(super) fn enter_user(&mut self, ctx: &UserContext) {
        if !self.live {
            self.regs = ctx.fpu.to_vec();
            self.live = true;
            self.restores += 1;
        }
    }
}

#[derive(Default)]
pub(super) struct FakePlat {
    pub(super) lines: Vec<String>,
    pub(super) active: u64,
    pub(super) flushes: usize,
    pub(super) random: Option<u64>,
    pub(super) clock: u64,
    pub(super) fpu: FakeFpu,
}

impl Platform for FakePlat {
    fn activate_space(&mut self, root: u64) {
        self.active = root;
    }
    fn flush(&mut self, _root: u64, _start: u64, _end: u64) {
        self.flushes += 1;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.lines.push(String::from_utf8_lossy(bytes).into_owned());
    }
    fn power_off(&mut self, status: u8) -> ! {
        std::panic::panic_any(PowerOff(status))
    }
    fn reboot(&mut self) -> ! {
        std::panic::panic_any(Rebooted)
    }
    fn hardware_random(&mut self) -> Option<u64> {
        let r = self.random?;
        self.random = Some(r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        Some(r)
    }
    fn timestamp(&mut self) -> u64 {
        self.clock += 17;
        self.clock
    }
    fn save_fpu(&mut self, ctx: &mut UserContext) {
        if self.fpu.live {
            ctx.fpu.copy_from_slice(&self.fpu.regs);
        }
    }
    fn load_fpu(&mut self) {
        self.fpu.live = false;
    }
    fn save_fpu_into(&mut self, ctx: &UserContext, image: &mut [u8; 512]) {
        if self.fpu.live {
            image.copy_from_slice(&self.fpu.regs);
        } else {
            image.copy_from_slice(&ctx.fpu);
        }
    }
    fn load_fpu_from(&mut self, _ctx: &mut UserContext, image: &[u8; 512]) {
        // Like the arch: straight into the registers (ctx.fpu goes stale).
        self.fpu.regs = image.to_vec();
        self.fpu.live = true;
        self.fpu.restores += 1;
    }
}

/// Power-off and reboot unwind through the fake platform; keep the default
/// panic message for real panics only.
pub(super) fn quiet_power_off() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            if !p.is::<PowerOff>() && !p.is::<Rebooted>() {
                default(info);
            }
        }));
    });
}
