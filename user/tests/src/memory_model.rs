//! The model of user memory the random tests check the kernel against
//! (`model`, `fuzz::memory_model`), after ABI §3.1 and §4.4.
//!
//! Every mapped page refers to a memory object holding one value (what a
//! test writes into the page); RGN_ALLOCATE makes new objects; MCLONE makes
//! the destination pages refer to the source pages' objects (holes
//! included, the source read in full first); RGN_DUP shares the objects of
//! the pages it shares and makes new objects holding a snapshot of the
//! values of the pages it copies; a write changes the object's value, seen
//! through every page that refers to it.

use abi::region::{K_INHERITCOPY, K_INHERITSHARE};

/// Where the values of the memory objects are kept.
pub trait ObjectValues {
    /// How many objects there is room for.
    fn capacity(&self) -> u64;
    /// The value of `object`.
    fn get(&self, object: u64) -> u64;
    /// Sets the value of `object`.
    fn set(&mut self, object: u64, value: u64);
}

impl<const N: usize> ObjectValues for [u64; N] {
    fn capacity(&self) -> u64 {
        N as u64
    }

    fn get(&self, object: u64) -> u64 {
        self[object as usize]
    }

    fn set(&mut self, object: u64, value: u64) {
        self[object as usize] = value;
    }
}

/// One mapped page: its memory object and its region's inherit option.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModelPage {
    pub object: u64,
    pub inherit: u64,
}

/// `PAGES` modelled pages in each of `PROCS` processes.
pub struct MemoryModel<V: ObjectValues, const PROCS: usize, const PAGES: usize> {
    pages: [[Option<ModelPage>; PAGES]; PROCS],
    values: V,
    /// Objects made so far (may pass the capacity: see [`Self::full`]).
    objects: u64,
}

impl<V: ObjectValues, const PROCS: usize, const PAGES: usize> MemoryModel<V, PROCS, PAGES> {
    /// Every page of every process a hole; objects' values kept in `values`.
    pub fn new(values: V) -> Self {
        MemoryModel {
            pages: [[None; PAGES]; PROCS],
            values,
            objects: 0,
        }
    }

    /// Memory objects made so far.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// Whether the objects filled the room for their values: from then on
    /// new objects share the last value slot, and the model must stop.
    pub fn full(&self) -> bool {
        self.objects >= self.values.capacity()
    }

    /// Page `k` of process `p`, or `None` for a hole.
    pub fn page(&self, p: usize, k: usize) -> Option<ModelPage> {
        self.pages[p][k]
    }

    /// The value of the object `page` refers to.
    pub fn value(&self, page: ModelPage) -> u64 {
        self.values.get(page.object)
    }

    /// Writes `value` into the object `page` refers to.
    pub fn write(&mut self, page: ModelPage, value: u64) {
        self.values.set(page.object, value);
    }

    /// How many of pages `[first, first + n)` of process `p` are mapped.
    pub fn mapped(&self, p: usize, first: usize, n: usize) -> u64 {
        self.pages[p][first..first + n]
            .iter()
            .filter(|x| x.is_some())
            .count() as u64
    }

    /// RGN_ALLOCATE of pages `[first, first + n)` of process `p`: each a new
    /// object holding 0.
    pub fn allocate(&mut self, p: usize, first: usize, n: usize, inherit: u64) {
        for k in first..first + n {
            let object = self.new_object(0);
            self.pages[p][k] = Some(ModelPage { object, inherit });
        }
    }

    /// RGN_FREE of pages `[first, first + n)` of process `p`.
    pub fn free(&mut self, p: usize, first: usize, n: usize) {
        self.pages[p][first..first + n].fill(None);
    }

    /// Process `p` made again (or destroyed): every page a hole.
    pub fn clear(&mut self, p: usize) {
        self.pages[p] = [None; PAGES];
    }

    /// RGN_SET_INHERIT of pages `[first, first + n)` of process `p`.
    pub fn set_inherit(&mut self, p: usize, first: usize, n: usize, inherit: u64) {
        for page in self.pages[p][first..first + n].iter_mut().flatten() {
            page.inherit = inherit;
        }
    }

    /// MCLONE of `n` pages of process `src` from page `from` onto process
    /// `dst` from page `to` (the same process and overlapping ranges included).
    pub fn mclone(&mut self, src: usize, from: usize, dst: usize, to: usize, n: usize) {
        let source = self.pages[src];
        self.pages[dst][to..to + n].copy_from_slice(&source[from..from + n]);
    }

    /// RGN_DUP of process `src` into the empty process `dst` with `flags`
    /// (`K_INHERITSHARE`, `K_INHERITCOPY`, or 0 for each region's own option).
    pub fn dup(&mut self, dst: usize, src: usize, flags: u64) {
        let source = self.pages[src];
        self.clear(dst);
        for (k, page) in source.iter().enumerate() {
            let Some(page) = *page else { continue };
            let mode = if flags != 0 { flags } else { page.inherit };
            self.pages[dst][k] = match mode {
                K_INHERITSHARE => Some(page),
                K_INHERITCOPY => {
                    let value = self.value(page);
                    Some(ModelPage {
                        object: self.new_object(value),
                        inherit: page.inherit,
                    })
                }
                _ => None,
            };
        }
    }

    fn new_object(&mut self, value: u64) -> u64 {
        let object = self.objects.min(self.values.capacity() - 1);
        self.objects += 1;
        self.values.set(object, value);
        object
    }
}
