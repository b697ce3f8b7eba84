//! The kernel lock: one ticket lock around the whole kernel core (`doc/smp.md`).
//!
//! Every CPU takes it with interrupts off for each call into the core and
//! releases it before returning to user mode or idling; nothing else in the
//! kernel takes a lock, so there is no lock order to keep. A CPU waiting for
//! it still answers one request from the holder: to unload an address space
//! whose page tables are about to be freed (`shootdown::service_leave`), so
//! the holder can wait for that without deadlock.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

use super::shootdown;

/// A ticket lock around a value published once at boot.
pub struct BigLock<T> {
    next_ticket: AtomicU32,
    serving: AtomicU32,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is reached only through a `Guard`, and the ticket
// discipline lets one guard exist at a time.
unsafe impl<T: Send> Sync for BigLock<T> {}

impl<T> BigLock<T> {
    pub const fn new() -> Self {
        Self {
            next_ticket: AtomicU32::new(0),
            serving: AtomicU32::new(0),
            value: UnsafeCell::new(None),
        }
    }

    /// Stores the value (the boot CPU, once, before other CPUs ask for the lock).
    pub fn publish(&self, value: T) {
        let guard = self.lock_raw();
        // SAFETY: the lock is held.
        unsafe { *self.value.get() = Some(value) };
        drop(guard);
    }

    fn lock_raw(&self) -> RawGuard<'_, T> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        while self.serving.load(Ordering::Acquire) != ticket {
            shootdown::service_leave();
            core::hint::spin_loop();
        }
        RawGuard { lock: self }
    }

    /// Waits for the lock (answering unload requests meanwhile).
    ///
    /// # Panics
    /// If no value was published.
    pub fn lock(&self) -> Guard<'_, T> {
        let raw = self.lock_raw();
        // SAFETY: the lock is held for the guard's lifetime.
        let value = unsafe { (*self.value.get()).as_mut() }
            .expect("kernel lock used before the core was published");
        Guard { _raw: raw, value }
    }
}

struct RawGuard<'a, T> {
    lock: &'a BigLock<T>,
}

impl<T> Drop for RawGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.serving.fetch_add(1, Ordering::Release);
    }
}

/// The locked value.
pub struct Guard<'a, T> {
    _raw: RawGuard<'a, T>,
    value: &'a mut T,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}
