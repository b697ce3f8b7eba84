//! Naming user-mode CPU exceptions for the kill message (Intel SDM vol. 3 §6.15, §4.7).

use mm::Access;

/// Vector of the page-fault exception (#PF).
pub const PAGE_FAULT_VECTOR: u8 = 14;

/// #PF error code bits (Intel SDM vol. 3 §4.7).
pub const PF_PRESENT: u64 = 1 << 0;
pub const PF_WRITE: u64 = 1 << 1;
pub const PF_USER: u64 = 1 << 2;
pub const PF_INSTRUCTION: u64 = 1 << 4;

/// The access a #PF error code describes: instruction fetch (I/D), else
/// write (W/R), else read.
pub const fn page_fault_access(error_code: u64) -> Access {
    if error_code & PF_INSTRUCTION != 0 {
        Access::Execute
    } else if error_code & PF_WRITE != 0 {
        Access::Write
    } else {
        Access::Read
    }
}

/// Mnemonic and name of an exception vector.
pub const fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug exception",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point exception",
        20 => "#VE virtualization exception",
        21 => "#CP control protection",
        _ => "unknown exception",
    }
}

/// A short description of the #PF access for the log line.
pub const fn page_fault_kind(error_code: u64) -> &'static str {
    let present = error_code & PF_PRESENT != 0;
    match (page_fault_access(error_code), present) {
        (Access::Execute, false) => "execute, not present",
        (Access::Execute, true) => "execute, protection",
        (Access::Write, false) => "write, not present",
        (Access::Write, true) => "write, protection",
        (Access::Read, false) => "read, not present",
        (Access::Read, true) => "read, protection",
    }
}

impl<P: mm::PhysMem> crate::Kernel<P> {
    /// A CPU exception in user mode: a #PF that mm can resolve (demand
    /// paging, copy-on-write) resumes the thread; anything else kills only
    /// the faulting thread, with one console line.
    pub(crate) fn exception(
        &mut self,
        ctx: &crate::UserContext,
        vector: u8,
        error_code: u64,
        fault_addr: u64,
        plat: &mut impl crate::Platform,
    ) {
        let Some(caller) = self.caller() else {
            return;
        };
        if vector == PAGE_FAULT_VECTOR && abi::layout::is_user_range(fault_addr, 1) {
            let access = page_fault_access(error_code);
            match self.mem.resolve_fault(caller.space, fault_addr, access) {
                mm::FaultOutcome::Resolved(flush) => {
                    // The faulting thread's space is the loaded one (activated
                    // when the thread was switched in): its root needs no lookup.
                    debug_assert_eq!(self.active_root, self.mem.root(caller.space));
                    for (space, start, end) in flush.ranges() {
                        let root = if space == caller.space {
                            self.active_root
                        } else {
                            self.mem.root(space)
                        };
                        plat.flush(root, start, end);
                    }
                    return;
                }
                mm::FaultOutcome::PullIn { segment, page } => {
                    let at = (fault_addr, ctx.rip);
                    self.fault_pull_in(caller.thread, segment, page, access, at, plat);
                    return;
                }
                mm::FaultOutcome::Violation => {}
            }
        }
        let number = self.threads.get(caller.thread.0).map_or(0, |t| t.number);
        let mut line = crate::console::Line::new();
        line.push_bytes(b"ferrite: ");
        self.write_process_name(caller, &mut line);
        let detail = if vector == PAGE_FAULT_VECTOR {
            page_fault_kind(error_code)
        } else {
            "-"
        };
        let _ = core::fmt::Write::write_fmt(
            &mut line,
            format_args!(
                " thread {number} killed: {} ({detail}) at address {fault_addr:#x}, rip {:#x}",
                exception_name(vector),
                ctx.rip
            ),
        );
        line.emit(plat);
        self.end_thread(caller.thread, crate::thread::ExitStatus::Killed, plat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_fault_error_codes() {
        assert_eq!(page_fault_access(PF_USER), Access::Read);
        assert_eq!(page_fault_access(PF_USER | PF_WRITE), Access::Write);
        assert_eq!(
            page_fault_access(PF_USER | PF_INSTRUCTION | PF_PRESENT),
            Access::Execute
        );
        assert_eq!(
            page_fault_kind(PF_USER | PF_WRITE | PF_PRESENT),
            "write, protection"
        );
        assert_eq!(page_fault_kind(PF_USER), "read, not present");
        assert!(exception_name(13).starts_with("#GP"));
        assert!(exception_name(0).starts_with("#DE"));
        assert_eq!(exception_name(200), "unknown exception");
    }
}
