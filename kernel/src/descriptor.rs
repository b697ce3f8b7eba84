//! Per-process descriptor tables: caller-chosen slots naming objects with permissions (ABI §2).

use crate::endpoint::EndpointId;
use crate::error::Error;
use crate::process::ProcessId;
use crate::thread::ThreadId;
use abi::perms::{descriptor_index, ENDPOINT_PERMS, PROCESS_PERMS, THREAD_PERMS};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The object a descriptor names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Process(ProcessId),
    Thread(ThreadId),
    Endpoint(EndpointId),
}

impl Object {
    /// The permission bits that make sense for this object type (MINT, ABI §3).
    pub const fn permission_set(self) -> u32 {
        match self {
            Object::Process(_) => PROCESS_PERMS,
            Object::Thread(_) => THREAD_PERMS,
            Object::Endpoint(_) => ENDPOINT_PERMS,
        }
    }
}

/// One slot's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub object: Object,
    pub perms: u32,
    /// The descriptor named when the object was created (DESTROY, MINT need it).
    pub owner: bool,
    /// MINT's cookie: RECEIVE reports it for messages sent through this descriptor.
    pub cookie: u64,
}

impl Descriptor {
    /// Whether every bit of `perms` is granted.
    pub const fn allows(&self, perms: u32) -> bool {
        self.perms & perms == perms
    }
}

/// A slot number that passed the value check (`< JINUE_DESC_NUM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot(u16);

impl Slot {
    /// Value check only: negative, `> i32::MAX` or `>= JINUE_DESC_NUM` is `EBADF`.
    ///
    /// # Errors
    /// `BadDescriptor` when `raw` names no slot.
    pub fn new(raw: u64) -> Result<Slot, Error> {
        descriptor_index(raw)
            .and_then(|i| u16::try_from(i).ok())
            .map(Slot)
            .ok_or(Error::BadDescriptor)
    }

    /// A slot number that arrives as a 32-bit field of an argument structure.
    ///
    /// # Errors
    /// `BadDescriptor` when `raw` names no slot.
    pub fn from_i32(raw: i32) -> Result<Slot, Error> {
        Slot::new(i64::from(raw) as u64)
    }
}

/// At most `JINUE_DESC_NUM` descriptors; memory grows only with slots in use.
#[derive(Default)]
pub struct DescriptorTable {
    entries: BTreeMap<Slot, Descriptor>,
}

impl DescriptorTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// The descriptor in `slot`.
    ///
    /// # Errors
    /// `BadDescriptor` if the slot is free.
    pub fn get(&self, slot: Slot) -> Result<&Descriptor, Error> {
        self.entries.get(&slot).ok_or(Error::BadDescriptor)
    }

    /// Checks that `slot` is free, for a descriptor about to be put there.
    ///
    /// # Errors
    /// `BadDescriptor` if the slot is in use.
    pub fn check_free(&self, slot: Slot) -> Result<(), Error> {
        if self.entries.contains_key(&slot) {
            Err(Error::BadDescriptor)
        } else {
            Ok(())
        }
    }

    /// Fills a slot that [`Self::check_free`] accepted.
    pub fn put(&mut self, slot: Slot, d: Descriptor) {
        self.entries.insert(slot, d);
    }

    /// Empties a slot.
    ///
    /// # Errors
    /// `BadDescriptor` if the slot is free.
    pub fn remove(&mut self, slot: Slot) -> Result<Descriptor, Error> {
        self.entries.remove(&slot).ok_or(Error::BadDescriptor)
    }

    /// Empties every slot, giving back what they held.
    pub fn take_all(&mut self) -> Vec<Descriptor> {
        core::mem::take(&mut self.entries).into_values().collect()
    }
}
