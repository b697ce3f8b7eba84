//! PUTS, POWEROFF, REBOOT (ABI §3, §7).

use super::{Caller, Outcome, SysResult};
use crate::console::Line;
use crate::error::Error;
use crate::platform::Platform;
use crate::usercopy::UserBytes;
use crate::Kernel;
use abi::init::{PUTS_ERROR, PUTS_INFO, PUTS_MAX_LENGTH, PUTS_WARNING};
use core::fmt::Write;
use mm::PhysMem;

impl<P: PhysMem> Kernel<P> {
    /// PUTS (3): one console line, prefixed with the process name (`[init] `
    /// or `[p<actor stamp>] `) and, for levels `W`/`E`, `warning: `/`error: `.
    /// Line breaks inside the string are shown as spaces, keeping it one line.
    pub(super) fn sys_puts(
        &mut self,
        caller: Caller,
        level: u64,
        addr: u64,
        len_bytes: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        if len_bytes > PUTS_MAX_LENGTH {
            return Err(Error::Invalid);
        }
        let marker = match level {
            PUTS_INFO => "",
            PUTS_WARNING => "warning: ",
            PUTS_ERROR => "error: ",
            _ => return Err(Error::Invalid),
        };
        let mut text = [0u8; PUTS_MAX_LENGTH as usize];
        let text = &mut text[..len_bytes as usize];
        UserBytes::new(addr, len_bytes).read_into(&mut self.mem, caller.space, text, plat)?;
        for b in text.iter_mut() {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
        let mut line = Line::new();
        self.write_process_name(caller, &mut line);
        line.push_bytes(b" ");
        line.push_bytes(marker.as_bytes());
        line.push_bytes(text);
        line.emit(plat);
        Ok(Outcome::Return(0))
    }

    /// `[init]` or `[p<stamp>]`.
    pub(crate) fn write_process_name(&self, caller: Caller, line: &mut Line) {
        match self.processes.get(caller.process.0) {
            Some(p) if p.is_init => line.push_bytes(b"[init]"),
            Some(p) => {
                let _ = write!(line, "[p{}]", p.stamp);
            }
            None => line.push_bytes(b"[?]"),
        }
    }

    /// POWEROFF (97): init only (`EPERM`); a status above 255 is `EINVAL`.
    pub(super) fn sys_poweroff(
        &mut self,
        caller: Caller,
        status: u64,
        plat: &mut impl Platform,
    ) -> SysResult {
        if !self.is_init(caller.process) {
            return Err(Error::Permission);
        }
        let status = u8::try_from(status).map_err(|_| Error::Invalid)?;
        plat.power_off(status)
    }

    /// REBOOT (2): init only (`EPERM`), like POWEROFF.
    pub(super) fn sys_reboot(&mut self, caller: Caller, plat: &mut impl Platform) -> SysResult {
        if !self.is_init(caller.process) {
            return Err(Error::Permission);
        }
        plat.reboot()
    }
}
