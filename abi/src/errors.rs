//! Error numbers of both families (ABI §6.1, §6.2).

/// Jinue-family error numbers, returned in `arg1` after `arg0 = -1` (ABI §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum JinueError {
    NoMem = 1,
    NoSys = 2,
    Inval = 3,
    Again = 4,
    BadF = 5,
    Io = 6,
    Perm = 7,
    TooBig = 8,
    NoMsg = 9,
    NotSup = 10,
    Busy = 11,
    Srch = 12,
    DeadLk = 13,
    Proto = 14,
}

pub const JINUE_ENOMEM: u64 = JinueError::NoMem as u64;
pub const JINUE_ENOSYS: u64 = JinueError::NoSys as u64;
pub const JINUE_EINVAL: u64 = JinueError::Inval as u64;
pub const JINUE_EAGAIN: u64 = JinueError::Again as u64;
pub const JINUE_EBADF: u64 = JinueError::BadF as u64;
pub const JINUE_EIO: u64 = JinueError::Io as u64;
pub const JINUE_EPERM: u64 = JinueError::Perm as u64;
pub const JINUE_E2BIG: u64 = JinueError::TooBig as u64;
pub const JINUE_ENOMSG: u64 = JinueError::NoMsg as u64;
pub const JINUE_ENOTSUP: u64 = JinueError::NotSup as u64;
pub const JINUE_EBUSY: u64 = JinueError::Busy as u64;
pub const JINUE_ESRCH: u64 = JinueError::Srch as u64;
pub const JINUE_EDEADLK: u64 = JinueError::DeadLk as u64;
pub const JINUE_EPROTO: u64 = JinueError::Proto as u64;

impl JinueError {
    /// Every Jinue error, in numeric order.
    pub const ALL: [JinueError; 14] = [
        Self::NoMem,
        Self::NoSys,
        Self::Inval,
        Self::Again,
        Self::BadF,
        Self::Io,
        Self::Perm,
        Self::TooBig,
        Self::NoMsg,
        Self::NotSup,
        Self::Busy,
        Self::Srch,
        Self::DeadLk,
        Self::Proto,
    ];

    /// The error number as it travels in `arg1`.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The symbolic name, as in the ABI (`"JINUE_EINVAL"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoMem => "JINUE_ENOMEM",
            Self::NoSys => "JINUE_ENOSYS",
            Self::Inval => "JINUE_EINVAL",
            Self::Again => "JINUE_EAGAIN",
            Self::BadF => "JINUE_EBADF",
            Self::Io => "JINUE_EIO",
            Self::Perm => "JINUE_EPERM",
            Self::TooBig => "JINUE_E2BIG",
            Self::NoMsg => "JINUE_ENOMSG",
            Self::NotSup => "JINUE_ENOTSUP",
            Self::Busy => "JINUE_EBUSY",
            Self::Srch => "JINUE_ESRCH",
            Self::DeadLk => "JINUE_EDEADLK",
            Self::Proto => "JINUE_EPROTO",
        }
    }
}

impl TryFrom<u64> for JinueError {
    type Error = u64;
    fn try_from(value: u64) -> Result<Self, u64> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.number() == value)
            .ok_or(value)
    }
}

/// ChorusOS-family error codes, returned negative in `arg0` (ABI §6.2, project values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum ChorusError {
    Inval = -1,
    Fault = -2,
    Unknown = -3,
    NoMem = -4,
    Overlap = -5,
    Mapper = -6,
}

pub const K_OK: i64 = 0;
pub const K_EINVAL: i64 = ChorusError::Inval as i64;
pub const K_EFAULT: i64 = ChorusError::Fault as i64;
pub const K_EUNKNOWN: i64 = ChorusError::Unknown as i64;
pub const K_ENOMEM: i64 = ChorusError::NoMem as i64;
pub const K_EOVERLAP: i64 = ChorusError::Overlap as i64;
pub const K_EMAPPER: i64 = ChorusError::Mapper as i64;

impl ChorusError {
    /// Every ChorusOS error, from -1 down.
    pub const ALL: [ChorusError; 6] = [
        Self::Inval,
        Self::Fault,
        Self::Unknown,
        Self::NoMem,
        Self::Overlap,
        Self::Mapper,
    ];

    /// The code as it travels in `arg0`.
    pub const fn code(self) -> i64 {
        self as i64
    }

    /// The symbolic name, as in the ABI (`"K_EINVAL"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Inval => "K_EINVAL",
            Self::Fault => "K_EFAULT",
            Self::Unknown => "K_EUNKNOWN",
            Self::NoMem => "K_ENOMEM",
            Self::Overlap => "K_EOVERLAP",
            Self::Mapper => "K_EMAPPER",
        }
    }
}

impl TryFrom<i64> for ChorusError {
    type Error = i64;
    fn try_from(value: i64) -> Result<Self, i64> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.code() == value)
            .ok_or(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jinue_numbers_round_trip() {
        for (i, e) in JinueError::ALL.iter().enumerate() {
            assert_eq!(e.number(), i as u64 + 1);
            assert_eq!(JinueError::try_from(e.number()), Ok(*e));
        }
        assert_eq!(JinueError::try_from(0), Err(0));
        assert_eq!(JinueError::try_from(15), Err(15));
        assert_eq!(JINUE_EPROTO, 14);
    }

    #[test]
    fn chorus_codes_round_trip() {
        for (i, e) in ChorusError::ALL.iter().enumerate() {
            assert_eq!(e.code(), -(i as i64) - 1);
            assert_eq!(ChorusError::try_from(e.code()), Ok(*e));
        }
        assert_eq!(ChorusError::try_from(0), Err(0));
        assert_eq!(K_EMAPPER, -6);
    }
}
