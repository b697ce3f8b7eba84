//! Bounded slot storage with generation-checked ids: where every kernel object lives.

use alloc::vec::Vec;

/// A slot index plus the generation it was filled in; stale ids never match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawId {
    index: u32,
    generation: u64,
}

struct Slot<T> {
    generation: u64,
    value: Option<T>,
}

/// At most `capacity` live objects; removal bumps the slot's generation, so an
/// id of a removed object never names its successor (dead objects stay dead).
pub struct Arena<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    capacity: usize,
}

impl<T> Arena<T> {
    /// An arena holding at most `capacity` objects. Its bookkeeping is
    /// reserved up front, so inserting never grows the kernel heap later.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            live: 0,
            capacity,
        }
    }

    /// Stores `value`.
    ///
    /// # Errors
    /// Gives `value` back when the arena is full.
    pub fn insert(&mut self, value: T) -> Result<RawId, T> {
        if let Some(index) = self.free.pop() {
            // Indices on the free list were pushed by `remove` of a live slot.
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            self.live += 1;
            return Ok(RawId {
                index,
                generation: slot.generation,
            });
        }
        if self.slots.len() >= self.capacity {
            return Err(value);
        }
        let Ok(index) = u32::try_from(self.slots.len()) else {
            return Err(value);
        };
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        self.live += 1;
        Ok(RawId {
            index,
            generation: 0,
        })
    }

    pub fn get(&self, id: RawId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation == id.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub fn get_mut(&mut self, id: RawId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation == id.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Takes the object out; its id is dead from now on.
    pub fn remove(&mut self, id: RawId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        Some(value)
    }

    /// Number of live objects.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Ids of every live object, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = RawId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|_| RawId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_generation_checked() {
        let mut a = Arena::new(2);
        let x = a.insert(1).unwrap();
        let y = a.insert(2).unwrap();
        assert_eq!(a.insert(3), Err(3));
        assert_eq!(a.remove(x), Some(1));
        assert_eq!(a.get(x), None);
        let z = a.insert(4).unwrap();
        assert_ne!(x, z);
        assert_eq!(a.get(x), None);
        assert_eq!(a.get(z), Some(&4));
        assert_eq!(a.get(y), Some(&2));
        assert_eq!(a.len(), 2);
        assert_eq!(a.ids().count(), 2);
    }
}
