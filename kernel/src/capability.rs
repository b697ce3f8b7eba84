//! Actor capabilities (ABI §4.1): stamps never reused, unguessable keys, and resolving a capability.

use crate::error::Error;
use crate::platform::Platform;
use crate::process::ProcessId;
use crate::syscall::Caller;
use crate::usercopy::UserPtr;
use crate::Kernel;
use abi::region::{ACTOR_TYPE, K_MYACTOR, K_SVACTOR, SITE_NUMBER, UI_STAMP_MASK, UI_TYPE_SHIFT};
use abi::types::KnCap;
use mm::PhysMem;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Hands out the 27-bit actor stamps: 1, 2, … and never one twice since boot.
pub struct Stamps {
    next: u32,
}

impl Stamps {
    pub const fn new() -> Self {
        Self { next: 1 }
    }

    /// The next stamp, or `None` once all 2^27 − 1 are used.
    pub fn take(&mut self) -> Option<u32> {
        if self.next > UI_STAMP_MASK {
            return None;
        }
        let s = self.next;
        self.next += 1;
        Some(s)
    }
}

impl Default for Stamps {
    fn default() -> Self {
        Self::new()
    }
}

/// Source of capability keys: the CPU's random instruction where it has one,
/// else ChaCha20 seeded at boot from hardware randomness and timestamp jitter.
pub struct KeySource {
    rng: ChaCha20Rng,
}

/// SplitMix64 finaliser: spreads the few changing low bits of a timestamp
/// over the whole word before it goes into the seed.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl KeySource {
    pub fn new(plat: &mut impl Platform) -> Self {
        let mut seed = [0u8; 32];
        let mut previous = plat.timestamp();
        for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
            let now = plat.timestamp();
            let jitter = now.wrapping_sub(previous);
            previous = now;
            let hw = plat.hardware_random().unwrap_or(0);
            let word = mix64(now ^ mix64(jitter) ^ hw ^ (i as u64).rotate_left(32));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Self {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// 64 fresh key bits. The timestamp is folded in so that keys also
    /// depend on when actors are created, not only on the boot seed.
    pub fn next_key(&mut self, plat: &mut impl Platform) -> u64 {
        match plat.hardware_random() {
            Some(k) => k ^ self.rng.next_u64(),
            None => self.rng.next_u64() ^ mix64(plat.timestamp()),
        }
    }
}

/// What a capability names, before looking at which actors are alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Wrong type bits: inconsistent (`K_EINVAL`).
    Inconsistent,
    /// Another site: unreachable (`K_EUNKNOWN`).
    OtherSite,
    /// An actor stamp and the key it must carry.
    Actor { stamp: u32, key: u64 },
}

/// Splits a capability into stamp and key, checking the type and site fields.
pub fn decode(cap: &KnCap) -> Decoded {
    if cap.ui.head >> UI_TYPE_SHIFT != ACTOR_TYPE {
        return Decoded::Inconsistent;
    }
    if cap.ui.tail != SITE_NUMBER {
        return Decoded::OtherSite;
    }
    Decoded::Actor {
        stamp: cap.ui.head & UI_STAMP_MASK,
        key: (u64::from(cap.key.head) << 32) | u64::from(cap.key.tail),
    }
}

/// A `KnCap *` argument after its pointer was read (step 1 of ABI §4.4).
#[derive(Clone, Copy)]
pub(crate) enum CapValue {
    MyActor,
    SvActor,
    Cap(KnCap),
}

/// What a capability names among the live actors (steps 2–3 of ABI §4.4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Actor(ProcessId),
    /// `K_EINVAL`: wrong type bits, wrong key for a live actor, or `K_SVACTOR`.
    Inconsistent,
    /// `K_EUNKNOWN`: no live actor with that unique id on this site.
    Unreachable,
}

impl<P: PhysMem> Kernel<P> {
    /// Reads a `KnCap *` argument. `K_MYACTOR` and `K_SVACTOR` are pointer
    /// values, not read.
    ///
    /// # Errors
    /// `BadPointer` (`K_EFAULT`) if the capability is unreadable (NULL included).
    pub(crate) fn read_cap(
        &mut self,
        caller: Caller,
        ptr: u64,
        plat: &mut impl Platform,
    ) -> Result<CapValue, Error> {
        match ptr {
            K_MYACTOR => Ok(CapValue::MyActor),
            K_SVACTOR => Ok(CapValue::SvActor),
            _ => Ok(CapValue::Cap(UserPtr::new(ptr).read(
                &mut self.mem,
                caller.space,
                plat,
            )?)),
        }
    }

    fn classify(&self, caller: Caller, cap: CapValue) -> Resolved {
        let (stamp, key) = match cap {
            CapValue::MyActor => return Resolved::Actor(caller.process),
            CapValue::SvActor => return Resolved::Inconsistent,
            CapValue::Cap(c) => match decode(&c) {
                Decoded::Inconsistent => return Resolved::Inconsistent,
                Decoded::OtherSite => return Resolved::Unreachable,
                Decoded::Actor { stamp, key } => (stamp, key),
            },
        };
        let Some(&id) = self.actors.get(&stamp) else {
            return Resolved::Unreachable;
        };
        match self.processes.get(id.0) {
            Some(p) if p.dying => Resolved::Unreachable,
            Some(p) if p.key != key => Resolved::Inconsistent,
            Some(_) => Resolved::Actor(id),
            None => Resolved::Unreachable,
        }
    }

    /// The actor a read capability names.
    ///
    /// # Errors
    /// `Invalid` (inconsistent) or `Unreachable`.
    pub(crate) fn resolve(&self, caller: Caller, cap: CapValue) -> Result<ProcessId, Error> {
        match self.classify(caller, cap) {
            Resolved::Actor(p) => Ok(p),
            Resolved::Inconsistent => Err(Error::Invalid),
            Resolved::Unreachable => Err(Error::Unreachable),
        }
    }

    /// The actors two read capabilities name, with errors in the order of
    /// ABI §4.4 rule 5: `Invalid` if either is inconsistent, then
    /// `Unreachable` if either names no live actor.
    pub(crate) fn resolve_pair(
        &self,
        caller: Caller,
        first: CapValue,
        second: CapValue,
    ) -> Result<(ProcessId, ProcessId), Error> {
        let first = self.classify(caller, first);
        let second = self.classify(caller, second);
        if first == Resolved::Inconsistent || second == Resolved::Inconsistent {
            return Err(Error::Invalid);
        }
        match (first, second) {
            (Resolved::Actor(a), Resolved::Actor(b)) => Ok((a, b)),
            _ => Err(Error::Unreachable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::region::actor_ui_head;
    use abi::types::{KnKey, KnUniqueId};

    #[test]
    fn stamps_are_never_reused_and_run_out() {
        let mut s = Stamps::new();
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), Some(2));
        s.next = UI_STAMP_MASK;
        assert_eq!(s.take(), Some(UI_STAMP_MASK));
        assert_eq!(s.take(), None);
    }

    #[test]
    fn decode_checks_type_then_site() {
        let cap = |head, tail| KnCap {
            ui: KnUniqueId { head, tail },
            key: KnKey {
                head: 0xdead_beef,
                tail: 7,
            },
        };
        assert_eq!(
            decode(&cap(actor_ui_head(5), 1)),
            Decoded::Actor {
                stamp: 5,
                key: 0xdead_beef_0000_0007
            }
        );
        assert_eq!(decode(&cap(5, 1)), Decoded::Inconsistent);
        assert_eq!(decode(&cap(2 << 27 | 5, 2)), Decoded::Inconsistent);
        assert_eq!(decode(&cap(actor_ui_head(5), 2)), Decoded::OtherSite);
    }
}
