//! The four logical registers of a system call and their return encodings (ABI §1, §1.1).

use crate::errors::{ChorusError, JinueError};

/// `arg0..arg3` (`rax`, `rdi`, `rsi`, `rdx`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallArgs {
    pub arg0: u64,
    pub arg1: u64,
    pub arg2: u64,
    pub arg3: u64,
}

impl SyscallArgs {
    /// Jinue convention, success: `arg0 = value`, the rest 0.
    pub const fn jinue_ok(value: u64) -> Self {
        Self {
            arg0: value,
            arg1: 0,
            arg2: 0,
            arg3: 0,
        }
    }

    /// Jinue convention, failure: `arg0 = -1`, `arg1 = errno`, the rest 0.
    pub const fn jinue_err(e: JinueError) -> Self {
        Self {
            arg0: u64::MAX,
            arg1: e as u64,
            arg2: 0,
            arg3: 0,
        }
    }

    /// ChorusOS convention: `arg0 = value` (`>= 0`), the rest 0.
    pub const fn chorus_ok(value: u64) -> Self {
        Self::jinue_ok(value)
    }

    /// ChorusOS convention, failure: `arg0 = K_E*` (negative), the rest 0.
    pub const fn chorus_err(e: ChorusError) -> Self {
        Self {
            arg0: e as i64 as u64,
            arg1: 0,
            arg2: 0,
            arg3: 0,
        }
    }

    /// Reads a Jinue-convention return: `Ok(arg0)` or `Err(error number)`.
    pub fn jinue_result(&self) -> Result<u64, u64> {
        if self.arg0 as i64 == -1 {
            Err(self.arg1)
        } else {
            Ok(self.arg0)
        }
    }

    /// Reads a ChorusOS-convention return: `Ok(arg0)` or `Err(negative code)`.
    pub fn chorus_result(&self) -> Result<u64, i64> {
        if (self.arg0 as i64) < 0 {
            Err(self.arg0 as i64)
        } else {
            Ok(self.arg0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let e = SyscallArgs::jinue_err(JinueError::BadF);
        assert_eq!(e.arg0 as i64, -1);
        assert_eq!(e.jinue_result(), Err(5));
        assert_eq!(SyscallArgs::jinue_ok(7).jinue_result(), Ok(7));
        let c = SyscallArgs::chorus_err(ChorusError::Overlap);
        assert_eq!(c.chorus_result(), Err(-5));
        assert_eq!(SyscallArgs::chorus_ok(3).chorus_result(), Ok(3));
    }
}
