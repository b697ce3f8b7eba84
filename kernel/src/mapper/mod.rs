//! The kernel's side of the mapper protocol (ABI §4.5): segments, requests to mappers, waits on pull-ins, write-back.
//!
//! The kernel never blocks. A request to a mapper is a [`Request`] queued
//! on the mapper's endpoint beside the messages of threads (in sending
//! order); a thread that needs it is parked in `IpcWait::Mapper` with a
//! [`Wait`] saying what to do when the request ends. Everything ends in
//! [`Kernel::finish_request`], called when the mapper answers, breaks the
//! protocol, or disappears. One file per job:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the state |
//! | `queue.rs` | queueing requests, handing them to receivers |
//! | `answer.rs` | the mapper's REPLY / REPLY_ERROR, the data transfer |
//! | `finish.rs` | ending a request: waking or killing waiters, completing RGN_INIT |
//! | `writeback.rs` | push-out and release of unmapped caches, endpoint destruction |

mod answer;
mod dup;
mod finish;
mod pull;
mod queue;
mod writeback;

use crate::capability::Stamps;
use crate::endpoint::EndpointId;
use crate::thread::ThreadId;
use abi::args::{Allocation, DupMode};
use abi::types::KnRgnDesc;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use mm::{SegmentId, SpaceId};

/// Names a request; never reused.
pub type RequestId = u64;

/// A segment: the mapper's endpoint and the key it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentKey {
    pub endpoint: EndpointId,
    pub key: u64,
}

/// The function of a kernel request (ABI §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    PullIn,
    PushOut,
    Release,
}

/// A request the kernel sent (or will send) to a mapper.
pub struct Request {
    pub kind: RequestKind,
    pub segment: SegmentKey,
    pub cache: SegmentId,
    /// Pages `[first, first + npages)` of the segment.
    pub first: u64,
    pub npages: u64,
    pub access: u64,
    /// Its place among the endpoint's messages.
    pub seq: u64,
    /// The mapper thread that took it, if any.
    pub holder: Option<ThreadId>,
    /// Threads parked until it ends.
    pub waiters: Vec<ThreadId>,
    /// Its cache was freed while a mapper thread held it: the answer is
    /// checked and otherwise ignored.
    pub orphan: bool,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The mapper broke the protocol, or went away (`K_EMAPPER`).
    Protocol,
    /// The mapper refused with this negative `diag`.
    Diag(i64),
}

/// A segment's cache as the kernel knows it.
pub struct Segment {
    pub cache: SegmentId,
    /// Pull-ins not yet ended.
    pub pulls: u32,
    /// Push-outs of the current write-back not yet ended.
    pub pushouts: u32,
    /// Write-back has started (no region maps the cache).
    pub releasing: bool,
}

/// A RGN_INIT waiting for its pull-ins.
#[derive(Clone, Copy)]
pub struct PendingInit {
    pub space: SpaceId,
    pub req: Allocation,
    pub segment: SegmentKey,
    pub first: u64,
    pub desc_ptr: u64,
    pub desc: KnRgnDesc,
}

/// A call that pulls pages in before it completes (ABI §4.4 rule 4, §4.5).
#[derive(Clone, Copy)]
pub enum PendingCall {
    Init(PendingInit),
    /// RGN_DUP: `mode` from `source` into the empty `target`.
    Dup {
        target: SpaceId,
        source: SpaceId,
        mode: DupMode,
    },
    /// RGN_INIT_FROM_ACTOR.
    Range(crate::syscall::RangeCall),
}

/// What a parked thread waits for.
#[derive(Clone, Copy)]
pub enum Wait {
    /// A page fault: resumes (retrying the access) or is killed.
    Fault { addr: u64, rip: u64 },
    /// A call: completes or fails when the last of `outstanding` pull-ins ends.
    Call { call: PendingCall, outstanding: u32 },
}

/// Every piece of mapper state.
#[derive(Default)]
pub struct Mappers {
    /// Live endpoints by the stamp of their unique identifier.
    pub ports: BTreeMap<u32, EndpointId>,
    pub stamps: Stamps,
    pub segments: BTreeMap<SegmentKey, Segment>,
    pub by_cache: BTreeMap<SegmentId, SegmentKey>,
    pub requests: BTreeMap<RequestId, Request>,
    next_request: RequestId,
    /// The pull-in under way for a page of a cache.
    pub in_flight: BTreeMap<(SegmentId, u64), RequestId>,
    pub waits: BTreeMap<ThreadId, Wait>,
    /// Caches no region maps, waiting for their pull-ins to end before write-back.
    pub unmapped: BTreeSet<SegmentId>,
    /// Endpoints destroyed since the last housekeeping.
    pub dead_endpoints: Vec<EndpointId>,
}

impl Mappers {
    fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }
}

impl Mappers {
    /// An endpoint was destroyed: its stamp names nothing from now on; the
    /// requests to it end at the next housekeeping (which has the platform).
    pub fn endpoint_gone(&mut self, e: EndpointId, stamp: u32) {
        self.ports.remove(&stamp);
        self.dead_endpoints.push(e);
    }
}
