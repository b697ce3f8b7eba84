//! System-call function numbers (ABI §3, §4.3, §7) and their return conventions (ABI §1.1).

/// Jinue-family and Ferrite-extension functions (Jinue return convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum JinueCall {
    Reboot = 2,
    Puts = 3,
    CreateThread = 4,
    YieldThread = 5,
    SetThreadLocal = 6,
    GetAddressMap = 8,
    CreateEndpoint = 9,
    Receive = 10,
    Reply = 11,
    ExitThread = 12,
    Mmap = 13,
    CreateProcess = 14,
    Mclone = 15,
    Dup = 16,
    Close = 17,
    Destroy = 18,
    Mint = 19,
    StartThread = 20,
    AwaitThread = 21,
    ReplyError = 22,
    MemStat = 96,
    PowerOff = 97,
    ActorCap = 98,
    EndpointUi = 99,
}

/// ChorusOS-family functions (ChorusOS return convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum ChorusCall {
    RgnAllocate = 64,
    RgnFree = 65,
    RgnStat = 66,
    RgnSetInherit = 67,
    RgnSetProtect = 68,
    RgnDup = 69,
    ActorSelf = 70,
    ActorDelete = 72,
    RgnMap = 73,
    RgnInit = 74,
    RgnMapFromActor = 75,
    RgnInitFromActor = 76,
}

pub const JINUE_SYS_REBOOT: u64 = JinueCall::Reboot as u64;
pub const JINUE_SYS_PUTS: u64 = JinueCall::Puts as u64;
pub const JINUE_SYS_CREATE_THREAD: u64 = JinueCall::CreateThread as u64;
pub const JINUE_SYS_YIELD_THREAD: u64 = JinueCall::YieldThread as u64;
pub const JINUE_SYS_SET_THREAD_LOCAL: u64 = JinueCall::SetThreadLocal as u64;
pub const JINUE_SYS_CREATE_ENDPOINT: u64 = JinueCall::CreateEndpoint as u64;
pub const JINUE_SYS_RECEIVE: u64 = JinueCall::Receive as u64;
pub const JINUE_SYS_REPLY: u64 = JinueCall::Reply as u64;
pub const JINUE_SYS_REPLY_ERROR: u64 = JinueCall::ReplyError as u64;
pub const JINUE_SYS_EXIT_THREAD: u64 = JinueCall::ExitThread as u64;
pub const JINUE_SYS_CREATE_PROCESS: u64 = JinueCall::CreateProcess as u64;
pub const JINUE_SYS_MCLONE: u64 = JinueCall::Mclone as u64;
pub const JINUE_SYS_DUP: u64 = JinueCall::Dup as u64;
pub const JINUE_SYS_CLOSE: u64 = JinueCall::Close as u64;
pub const JINUE_SYS_DESTROY: u64 = JinueCall::Destroy as u64;
pub const JINUE_SYS_MINT: u64 = JinueCall::Mint as u64;
pub const JINUE_SYS_START_THREAD: u64 = JinueCall::StartThread as u64;
pub const JINUE_SYS_AWAIT_THREAD: u64 = JinueCall::AwaitThread as u64;
pub const FERRITE_SYS_MEMSTAT: u64 = JinueCall::MemStat as u64;
pub const FERRITE_SYS_POWEROFF: u64 = JinueCall::PowerOff as u64;
pub const FERRITE_SYS_ACTOR_CAP: u64 = JinueCall::ActorCap as u64;
pub const FERRITE_SYS_ENDPOINT_UI: u64 = JinueCall::EndpointUi as u64;

pub const K_SYS_RGN_ALLOCATE: u64 = ChorusCall::RgnAllocate as u64;
pub const K_SYS_RGN_FREE: u64 = ChorusCall::RgnFree as u64;
pub const K_SYS_RGN_STAT: u64 = ChorusCall::RgnStat as u64;
pub const K_SYS_RGN_SET_INHERIT: u64 = ChorusCall::RgnSetInherit as u64;
pub const K_SYS_RGN_SET_PROTECT: u64 = ChorusCall::RgnSetProtect as u64;
pub const K_SYS_RGN_DUP: u64 = ChorusCall::RgnDup as u64;
pub const K_SYS_ACTOR_SELF: u64 = ChorusCall::ActorSelf as u64;
pub const K_SYS_ACTOR_DELETE: u64 = ChorusCall::ActorDelete as u64;
pub const K_SYS_RGN_MAP: u64 = ChorusCall::RgnMap as u64;
pub const K_SYS_RGN_INIT: u64 = ChorusCall::RgnInit as u64;
pub const K_SYS_RGN_MAP_FROM_ACTOR: u64 = ChorusCall::RgnMapFromActor as u64;
pub const K_SYS_RGN_INIT_FROM_ACTOR: u64 = ChorusCall::RgnInitFromActor as u64;

pub const JINUE_SYS_GET_ADDRESS_MAP: u64 = JinueCall::GetAddressMap as u64;
pub const JINUE_SYS_MMAP: u64 = JinueCall::Mmap as u64;
/// First `SEND` number; every number from here to [`JINUE_SYS_SEND_LAST`] is a SEND.
pub const JINUE_SYS_USER_BASE: u64 = 4096;
/// Last `SEND` number (ABI §3): numbers above it are `ENOSYS`.
pub const JINUE_SYS_SEND_LAST: u64 = 0x7FFF_FFFF;

/// Which return convention a function number uses (ABI §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    Jinue,
    Chorus,
}

/// A decoded function number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Jinue(JinueCall),
    Chorus(ChorusCall),
    /// SEND (ABI §3.2) with this function number (4096 … `0x7FFF_FFFF`).
    Send(u64),
    /// Negative as `i64`: `JINUE_EINVAL`.
    Negative,
    /// Names no implemented function (reserved ones included): `JINUE_ENOSYS`.
    Unknown,
}

impl JinueCall {
    pub const ALL: [JinueCall; 24] = [
        Self::Reboot,
        Self::Puts,
        Self::CreateThread,
        Self::YieldThread,
        Self::SetThreadLocal,
        Self::GetAddressMap,
        Self::CreateEndpoint,
        Self::Receive,
        Self::Reply,
        Self::ExitThread,
        Self::Mmap,
        Self::CreateProcess,
        Self::Mclone,
        Self::Dup,
        Self::Close,
        Self::Destroy,
        Self::Mint,
        Self::StartThread,
        Self::AwaitThread,
        Self::ReplyError,
        Self::MemStat,
        Self::PowerOff,
        Self::ActorCap,
        Self::EndpointUi,
    ];
}

impl ChorusCall {
    pub const ALL: [ChorusCall; 12] = [
        Self::RgnAllocate,
        Self::RgnFree,
        Self::RgnStat,
        Self::RgnSetInherit,
        Self::RgnSetProtect,
        Self::RgnDup,
        Self::ActorSelf,
        Self::ActorDelete,
        Self::RgnMap,
        Self::RgnInit,
        Self::RgnMapFromActor,
        Self::RgnInitFromActor,
    ];
}

/// Numbers below this are looked up in [`CALL_TABLE`]; every named call is below it.
const CALL_TABLE_LEN: usize = 128;

/// The named call of every number below [`CALL_TABLE_LEN`] (`Unknown` for
/// the others), built from the two `ALL` lists at compile time, so that
/// decoding is one indexed load.
const CALL_TABLE: [Function; CALL_TABLE_LEN] = {
    let mut table = [Function::Unknown; CALL_TABLE_LEN];
    let mut i = 0;
    while i < JinueCall::ALL.len() {
        let c = JinueCall::ALL[i];
        table[c as usize] = Function::Jinue(c);
        i += 1;
    }
    let mut i = 0;
    while i < ChorusCall::ALL.len() {
        let c = ChorusCall::ALL[i];
        table[c as usize] = Function::Chorus(c);
        i += 1;
    }
    table
};

impl Function {
    /// Decodes `arg0` as it arrives in `rax`.
    #[inline]
    pub fn decode(arg0: u64) -> Function {
        if (arg0 as i64) < 0 {
            return Function::Negative;
        }
        if (JINUE_SYS_USER_BASE..=JINUE_SYS_SEND_LAST).contains(&arg0) {
            return Function::Send(arg0);
        }
        match CALL_TABLE.get(arg0 as usize) {
            Some(f) => *f,
            None => Function::Unknown,
        }
    }
}

impl Convention {
    /// The convention of a non-negative function number: 64–95 are ChorusOS,
    /// everything else Jinue (unknown numbers included).
    pub const fn of(arg0: u64) -> Convention {
        if arg0 >= 64 && arg0 <= 95 {
            Convention::Chorus
        } else {
            Convention::Jinue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_finds_every_named_call_and_nothing_else() {
        for n in 0..JINUE_SYS_USER_BASE {
            let jinue = JinueCall::ALL.iter().find(|c| **c as u64 == n);
            let chorus = ChorusCall::ALL.iter().find(|c| **c as u64 == n);
            let expected = match (jinue, chorus) {
                (Some(c), None) => Function::Jinue(*c),
                (None, Some(c)) => Function::Chorus(*c),
                (None, None) => Function::Unknown,
                (Some(_), Some(_)) => panic!("number {n} named twice"),
            };
            assert_eq!(Function::decode(n), expected, "number {n}");
        }
    }

    #[test]
    fn decode_known_and_unknown() {
        assert_eq!(Function::decode(15), Function::Jinue(JinueCall::Mclone));
        assert_eq!(Function::decode(69), Function::Chorus(ChorusCall::RgnDup));
        assert_eq!(Function::decode(98), Function::Jinue(JinueCall::ActorCap));
        assert_eq!(Function::decode(u64::MAX), Function::Negative);
        assert_eq!(Function::decode(1 << 63), Function::Negative);
        for reserved in [0, 1, 7, 23, 71, 77, 95, 100, 4095, 0x8000_0000, 1 << 40] {
            assert_eq!(Function::decode(reserved), Function::Unknown, "{reserved}");
        }
        assert_eq!(Function::decode(10), Function::Jinue(JinueCall::Receive));
        assert_eq!(Function::decode(22), Function::Jinue(JinueCall::ReplyError));
        assert_eq!(Function::decode(4096), Function::Send(4096));
        assert_eq!(Function::decode(0x7FFF_FFFF), Function::Send(0x7FFF_FFFF));
    }

    #[test]
    fn conventions() {
        assert_eq!(Convention::of(63), Convention::Jinue);
        assert_eq!(Convention::of(64), Convention::Chorus);
        assert_eq!(Convention::of(95), Convention::Chorus);
        assert_eq!(Convention::of(96), Convention::Jinue);
        for c in ChorusCall::ALL {
            assert_eq!(Convention::of(c as u64), Convention::Chorus);
        }
        for c in JinueCall::ALL {
            assert_eq!(Convention::of(c as u64), Convention::Jinue);
        }
    }
}
