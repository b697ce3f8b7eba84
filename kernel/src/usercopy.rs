//! The one checked way to touch user memory: `UserPtr<T>` and `UserBytes`, through mm's fallible copy.
//!
//! A user pointer is a claim, not a reference (STYLE rule 8): the kernel never
//! dereferences it. Every access goes through `mm::Memory::{read_user,
//! write_user}`, which resolve demand paging and copy-on-write, enforce the
//! region's protection, and fail instead of faulting.

use crate::error::Error;
use crate::platform::Platform;
use abi::layout::is_user_range;
use abi::types::Wire;
use core::marker::PhantomData;
use mm::{Flush, Memory, MmError, PhysMem, SpaceId};

/// Invalidates what mm says changed, for each space that is loaded.
pub fn apply_flush<P: PhysMem>(mem: &Memory<P>, flush: &Flush, plat: &mut impl Platform) {
    if flush.is_empty() {
        // The common case (a copy through pages already mapped).
        return;
    }
    for (space, start, end) in flush.ranges() {
        plat.flush(mem.root(space), start, end);
    }
}

/// A user address that should hold a `T`.
#[derive(Debug)]
pub struct UserPtr<T: Wire> {
    addr: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T: Wire> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Wire> Copy for UserPtr<T> {}

impl<T: Wire> UserPtr<T> {
    pub const fn new(addr: u64) -> Self {
        Self {
            addr,
            _type: PhantomData,
        }
    }

    /// Copies a `T` in.
    ///
    /// # Errors
    /// `BadPointer` if any byte belongs to the kernel or is not readable.
    pub fn read<P: PhysMem>(
        self,
        mem: &mut Memory<P>,
        space: SpaceId,
        plat: &mut impl Platform,
    ) -> Result<T, Error> {
        let mut buf = [0u8; 64];
        let bytes = buf.get_mut(..T::SIZE).ok_or(Error::Invalid)?;
        UserBytes::new(self.addr, T::SIZE as u64).read_into(mem, space, bytes, plat)?;
        Ok(T::from_bytes(bytes))
    }

    /// Copies `value` out.
    ///
    /// # Errors
    /// `BadPointer` if any byte belongs to the kernel or is not writable
    /// (nothing is written then).
    pub fn write<P: PhysMem>(
        self,
        mem: &mut Memory<P>,
        space: SpaceId,
        value: &T,
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        let mut buf = [0u8; 64];
        let bytes = buf.get_mut(..T::SIZE).ok_or(Error::Invalid)?;
        value.to_bytes(bytes);
        UserBytes::new(self.addr, T::SIZE as u64).write(mem, space, bytes, plat)
    }
}

/// A user buffer `[addr, addr + len_bytes)`.
#[derive(Clone, Copy, Debug)]
pub struct UserBytes {
    addr: u64,
    len_bytes: u64,
}

impl UserBytes {
    pub const fn new(addr: u64, len_bytes: u64) -> Self {
        Self { addr, len_bytes }
    }

    /// Whether the buffer lies in user space at all (ABI §1.2). The copies
    /// and [`UserBytes::check_writable`] leave that check to `mm`, which
    /// makes it with every access; an empty buffer is never accessed, so
    /// its address is never checked.
    pub const fn is_user(&self) -> bool {
        is_user_range(self.addr, self.len_bytes)
    }

    /// Checks that the whole buffer could be written, writing nothing: the
    /// check ABI §1.2 asks for before a call writes part of an output
    /// buffer. An empty buffer is never accessed, so it is never refused.
    ///
    /// # Errors
    /// `BadPointer` if some byte belongs to the kernel or is not writable.
    pub fn check_writable<P: PhysMem>(&self, mem: &Memory<P>, space: SpaceId) -> Result<(), Error> {
        let len = usize::try_from(self.len_bytes).map_err(|_| Error::BadPointer)?;
        mem.check_user_writable(space, self.addr, len)
            .map_err(|_| Error::BadPointer)
    }

    /// Copies the buffer into `out` (which must be `len_bytes` long).
    ///
    /// # Errors
    /// `BadPointer` if the buffer belongs to the kernel or is not readable.
    pub fn read_into<P: PhysMem>(
        &self,
        mem: &mut Memory<P>,
        space: SpaceId,
        out: &mut [u8],
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        let addr = self.addr;
        self.copy(mem, out.len(), plat, |mem| mem.read_user(space, addr, out))
    }

    /// Copies `data` (exactly `len_bytes`) into the buffer.
    ///
    /// # Errors
    /// `BadPointer` if the buffer belongs to the kernel or is not writable
    /// (nothing visible changes then).
    pub fn write<P: PhysMem>(
        &self,
        mem: &mut Memory<P>,
        space: SpaceId,
        data: &[u8],
        plat: &mut impl Platform,
    ) -> Result<(), Error> {
        let addr = self.addr;
        self.copy(mem, data.len(), plat, |mem| {
            mem.write_user(space, addr, data)
        })
    }

    /// Runs the copy `op` of `len` bytes (which must be `len_bytes`) and
    /// applies its flush. `mm` refuses a buffer that belongs to the kernel
    /// and accepts an empty one whatever its address.
    fn copy<P: PhysMem>(
        &self,
        mem: &mut Memory<P>,
        len: usize,
        plat: &mut impl Platform,
        op: impl FnOnce(&mut Memory<P>) -> Result<Flush, MmError>,
    ) -> Result<(), Error> {
        if len as u64 != self.len_bytes {
            return Err(Error::BadPointer);
        }
        let flush = op(mem).map_err(|_| Error::BadPointer)?;
        apply_flush(mem, &flush, plat);
        Ok(())
    }
}
