//! What the ABI allows a call to return: the documented errors of every
//! function and the register conventions of a result.

use super::probe::{Probe, PATTERNS, REG_NAMES};
use abi::numbers::*;

/// No error at all.
const J_NONE: &[u64] = &[];

/// Error numbers ABI §3 and §7 document for a Jinue-convention function.
fn jinue_errors(call: JinueCall) -> &'static [u64] {
    use abi::errors::*;
    match call {
        JinueCall::Reboot => &[JINUE_EPERM],
        JinueCall::Puts => &[JINUE_EINVAL],
        JinueCall::CreateThread => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_ENOMEM],
        JinueCall::YieldThread | JinueCall::ExitThread => J_NONE,
        JinueCall::SetThreadLocal => &[JINUE_EINVAL],
        JinueCall::CreateProcess => &[JINUE_EBADF, JINUE_EAGAIN],
        JinueCall::Mclone => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_ENOMEM,
        ],
        JinueCall::Dup => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM],
        JinueCall::Close => &[JINUE_EBADF],
        JinueCall::Destroy => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM],
        JinueCall::Mint => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_EINVAL],
        JinueCall::StartThread => &[
            JINUE_EINVAL,
            JINUE_EBADF,
            JINUE_EPERM,
            JINUE_EBUSY,
            JINUE_EIO,
        ],
        JinueCall::AwaitThread => &[
            JINUE_EBADF,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_EDEADLK,
            JINUE_ESRCH,
        ],
        JinueCall::MemStat => &[JINUE_EINVAL],
        JinueCall::PowerOff => &[JINUE_EPERM, JINUE_EINVAL],
        JinueCall::ActorCap => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_EINVAL],
        JinueCall::CreateEndpoint => &[JINUE_EBADF, JINUE_EAGAIN],
        JinueCall::Receive => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_EBUSY,
        ],
        JinueCall::Reply => &[JINUE_EINVAL, JINUE_ENOMSG, JINUE_E2BIG],
        JinueCall::ReplyError => &[JINUE_ENOMSG],
        JinueCall::EndpointUi => &[JINUE_EBADF, JINUE_EIO, JINUE_EPERM, JINUE_EINVAL],
        JinueCall::GetAddressMap => &[JINUE_EINVAL, JINUE_E2BIG],
        JinueCall::Mmap => &[
            JINUE_EBADF,
            JINUE_EINVAL,
            JINUE_EIO,
            JINUE_EPERM,
            JINUE_ENOMEM,
        ],
    }
}

/// Codes ABI §4.3/§4.4 document for a ChorusOS-convention function.
fn chorus_errors(call: ChorusCall) -> &'static [i64] {
    use abi::errors::*;
    match call {
        ChorusCall::RgnAllocate | ChorusCall::RgnMap | ChorusCall::RgnMapFromActor => {
            &[K_EFAULT, K_EINVAL, K_EUNKNOWN, K_EOVERLAP, K_ENOMEM]
        }
        // A mapper's negative diag can come back too; the fuzzer has no mapper.
        ChorusCall::RgnInit | ChorusCall::RgnDup | ChorusCall::RgnInitFromActor => &[
            K_EFAULT, K_EINVAL, K_EUNKNOWN, K_EOVERLAP, K_ENOMEM, K_EMAPPER,
        ],
        ChorusCall::RgnFree
        | ChorusCall::RgnStat
        | ChorusCall::RgnSetInherit
        | ChorusCall::RgnSetProtect => &[K_EFAULT, K_EINVAL, K_EUNKNOWN, K_ENOMEM],
        ChorusCall::ActorSelf => &[K_EFAULT],
        ChorusCall::ActorDelete => &[K_EFAULT, K_EINVAL, K_EUNKNOWN],
    }
}

/// What is wrong with the registers a call left, if anything (ABI §1, §1.1, §6).
pub(super) fn check_return(p: &Probe, num: u64) -> Option<&'static str> {
    for (i, (&got, &want)) in p.after.iter().zip(PATTERNS.iter()).enumerate() {
        let hw_clobber = (REG_NAMES[i] == "rcx" || REG_NAMES[i] == "r11") && p.via_int == 0;
        if !hw_clobber && got != want {
            return Some(REG_NAMES[i]);
        }
    }
    let [a0, a1, a2, a3] = p.args;
    match Function::decode(num) {
        Function::Negative => (p.args != [u64::MAX, abi::errors::JINUE_EINVAL, 0, 0])
            .then_some("negative number: not EINVAL"),
        Function::Unknown => (p.args != [u64::MAX, abi::errors::JINUE_ENOSYS, 0, 0])
            .then_some("unknown number: not ENOSYS"),
        Function::Jinue(call) => {
            if a2 != 0 || a3 != 0 {
                return Some("Jinue: arg2/arg3 not 0");
            }
            if a0 == u64::MAX {
                if !(1..=14).contains(&a1) {
                    return Some("Jinue: error number outside 1..=14");
                }
                if !jinue_errors(call).contains(&a1) {
                    return Some("Jinue: error number the function does not document");
                }
                None
            } else if a1 != 0 {
                Some("Jinue success: arg1 not 0")
            } else if call == JinueCall::AwaitThread {
                (a0 > 1).then_some("AWAIT_THREAD success not 0/1")
            } else {
                (a0 != 0).then_some("Jinue success: arg0 not 0")
            }
        }
        Function::Send(_) => Some("SEND is not in the random mix (it blocks)"),
        Function::Chorus(call) => {
            if a1 != 0 || a2 != 0 || a3 != 0 {
                return Some("ChorusOS: arg1..arg3 not 0");
            }
            let v = a0 as i64;
            if v < 0 {
                (!chorus_errors(call).contains(&v)).then_some("ChorusOS: undocumented code")
            } else if call == ChorusCall::RgnStat {
                None
            } else {
                (v != 0).then_some("ChorusOS success: not K_OK")
            }
        }
    }
}
