//! The process (= ChorusOS actor) object: an address space, a descriptor table, its threads, its capability.

use crate::arena::RawId;
use crate::descriptor::DescriptorTable;
use crate::thread::ThreadId;
use abi::region::{actor_ui_head, SITE_NUMBER};
use abi::types::{KnCap, KnKey, KnUniqueId};
use alloc::vec::Vec;
use mm::SpaceId;

/// Names a process; an id of a destroyed process never names another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(pub(crate) RawId);

/// A live process. Destroyed processes are removed from the process arena,
/// so their ids (and descriptors naming them) are dead for good.
pub struct Process {
    pub space: SpaceId,
    /// 27-bit actor stamp, unique among all actors since boot (ABI §4.1).
    pub stamp: u32,
    /// The capability key (ABI §4.1): `KnKey.head` = high 32 bits.
    pub key: u64,
    pub descriptors: DescriptorTable,
    /// Threads of this process that have not ended (created, ready, running, blocked).
    pub threads: Vec<ThreadId>,
    /// Threads started and not yet ended; reaching 0 destroys the process.
    pub running_threads: u32,
    /// Set while destruction is under way (its threads are being stopped).
    pub dying: bool,
    /// The init process: its end powers the machine off (ABI §8).
    pub is_init: bool,
}

impl Process {
    pub fn new(space: SpaceId, stamp: u32, key: u64, is_init: bool) -> Self {
        Self {
            space,
            stamp,
            key,
            descriptors: DescriptorTable::new(),
            threads: Vec::new(),
            running_threads: 0,
            dying: false,
            is_init,
        }
    }

    /// The actor capability (ABI §4.1).
    pub fn capability(&self) -> KnCap {
        KnCap {
            ui: KnUniqueId {
                head: actor_ui_head(self.stamp),
                tail: SITE_NUMBER,
            },
            key: KnKey {
                head: (self.key >> 32) as u32,
                tail: self.key as u32,
            },
        }
    }
}
