//! Typed arguments of the memory calls (ABI §1.2, §3.1, §4.2–§4.4): each raw word decoded once.
//!
//! A system-call handler decodes its registers and copied-in structures into
//! these types, in the ABI's error order; `mm` takes the types and never
//! looks at a raw word again, so each rule about a word lives here and
//! nowhere else. Every decoder fails with [`Invalid`] (`K_EINVAL` /
//! `JINUE_EINVAL`).

use crate::layout::{is_page_aligned, is_user_range, round_up_to_page, PAGE_SIZE};
use crate::perms::{JINUE_PROT_EXEC, JINUE_PROT_MASK, JINUE_PROT_READ, JINUE_PROT_WRITE};
use crate::region::{
    K_ANYWHERE, K_EXECUTABLE, K_INHERITCOPY, K_INHERITSHARE, K_INHERIT_MASK, K_NOACCESS,
    K_PROT_MASK, K_WRITABLE, RGN_ALLOCATE_OPTIONS,
};
use crate::types::{KnRgnDesc, MCloneArgs};

/// A word broke a rule of the ABI: `K_EINVAL` / `JINUE_EINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

/// A page-aligned range of addresses `[start, end)`, possibly empty; it may
/// reach into the kernel half (RGN_STAT asks about any range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    start: u64,
    end: u64,
}

impl PageRange {
    /// RGN_STAT's range `[start, start + size)` widened to whole pages; an
    /// empty one (`size == 0`) holds no page, whatever `start` is.
    ///
    /// # Errors
    /// `Invalid` if the range wraps around.
    pub fn covering(start: u64, size: u64) -> Result<Self, Invalid> {
        let end = start.checked_add(size).ok_or(Invalid)?;
        let lo = start & !(PAGE_SIZE - 1);
        if size == 0 {
            return Ok(Self { start: lo, end: lo });
        }
        let hi = round_up_to_page(end).unwrap_or(!(PAGE_SIZE - 1));
        Ok(Self { start: lo, end: hi })
    }

    /// The part of the range from the page-aligned `at` on.
    pub fn from(self, at: u64) -> Self {
        Self {
            start: at.clamp(self.start, self.end),
            end: self.end,
        }
    }

    pub const fn start(self) -> u64 {
        self.start
    }

    pub const fn end(self) -> u64 {
        self.end
    }

    pub const fn len_bytes(self) -> u64 {
        self.end - self.start
    }

    pub const fn npages(self) -> u64 {
        self.len_bytes() / PAGE_SIZE
    }

    pub const fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A page range inside user space, `USER_BASE <= start <= end <= USER_LIMIT`
/// (ABI §1.2), possibly empty: the ranges RGN_FREE, RGN_SET_*, MCLONE and
/// RGN_ALLOCATE name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRange(PageRange);

impl UserRange {
    /// `[start, start + size)` with `size` rounded up to whole pages
    /// (RGN_FREE, RGN_SET_INHERIT, RGN_SET_PROTECT, RGN_ALLOCATE).
    ///
    /// # Errors
    /// `Invalid` if `start` is misaligned or the range leaves user space.
    pub fn rounded(start: u64, size: u64) -> Result<Self, Invalid> {
        Self::exact(start, round_up_to_page(size).ok_or(Invalid)?)
    }

    /// `[start, start + len_bytes)`, both page-aligned (MCLONE).
    ///
    /// # Errors
    /// `Invalid` if misaligned or the range leaves user space (an empty range
    /// must still start in user space: ABI §3.1 rule 8.5).
    pub fn exact(start: u64, len_bytes: u64) -> Result<Self, Invalid> {
        if !is_page_aligned(start) || !is_page_aligned(len_bytes) {
            return Err(Invalid);
        }
        if !is_user_range(start, len_bytes) {
            return Err(Invalid);
        }
        Ok(Self(PageRange {
            start,
            end: start + len_bytes,
        }))
    }

    /// `npages` pages from `start`.
    ///
    /// # Errors
    /// `Invalid` as [`UserRange::exact`], or if the length overflows.
    pub fn pages(start: u64, npages: u64) -> Result<Self, Invalid> {
        Self::exact(start, npages.checked_mul(PAGE_SIZE).ok_or(Invalid)?)
    }

    pub const fn range(self) -> PageRange {
        self.0
    }

    pub const fn start(self) -> u64 {
        self.0.start
    }

    pub const fn end(self) -> u64 {
        self.0.end
    }

    pub const fn len_bytes(self) -> u64 {
        self.0.len_bytes()
    }

    pub const fn npages(self) -> u64 {
        self.0.npages()
    }

    pub const fn is_empty(self) -> bool {
        self.0.is_empty()
    }
}

/// A region's protection (ABI §4.2): some of `K_WRITABLE`, `K_EXECUTABLE`,
/// `K_NOACCESS`. Regions are always readable unless `K_NOACCESS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot(u64);

impl Prot {
    /// Readable only.
    pub const READ: Prot = Prot(0);
    pub const READ_WRITE: Prot = Prot(K_WRITABLE);
    /// No access at all (`JINUE_PROT_NONE`).
    pub const NONE: Prot = Prot(K_NOACCESS);

    /// RGN_SET_PROTECT's options: protection bits only.
    ///
    /// # Errors
    /// `Invalid` for any other bit.
    pub fn from_options(options: u64) -> Result<Self, Invalid> {
        if options & !K_PROT_MASK != 0 {
            return Err(Invalid);
        }
        Ok(Prot(options))
    }

    /// The region protection of an MCLONE `prot` (ABI §3.1 rule 4, §6.3):
    /// `JINUE_PROT_NONE` is no access; `WRITE` and `EXEC` map to their bits.
    ///
    /// # Errors
    /// `Invalid` for a bit other than `READ|WRITE|EXEC`.
    pub fn from_jinue(prot: i32) -> Result<Self, Invalid> {
        if prot & !JINUE_PROT_MASK != 0 {
            return Err(Invalid);
        }
        if prot & (JINUE_PROT_READ | JINUE_PROT_WRITE | JINUE_PROT_EXEC) == 0 {
            return Ok(Prot::NONE);
        }
        let mut bits = 0;
        if prot & JINUE_PROT_WRITE != 0 {
            bits |= K_WRITABLE;
        }
        if prot & JINUE_PROT_EXEC != 0 {
            bits |= K_EXECUTABLE;
        }
        Ok(Prot(bits))
    }

    /// The options bits (`K_WRITABLE | K_EXECUTABLE | K_NOACCESS`).
    pub const fn bits(self) -> u64 {
        self.0
    }

    pub const fn no_access(self) -> bool {
        self.0 & K_NOACCESS != 0
    }

    /// Whether user writes are allowed.
    pub const fn writable(self) -> bool {
        !self.no_access() && self.0 & K_WRITABLE != 0
    }

    /// Whether user instruction fetches are allowed.
    pub const fn executable(self) -> bool {
        !self.no_access() && self.0 & K_EXECUTABLE != 0
    }

    /// The writable bit as set, whatever `K_NOACCESS` says (page-table
    /// entries of a no-access region are never made).
    pub const fn write_bit(self) -> bool {
        self.0 & K_WRITABLE != 0
    }

    /// The executable bit as set, whatever `K_NOACCESS` says.
    pub const fn exec_bit(self) -> bool {
        self.0 & K_EXECUTABLE != 0
    }
}

/// A region's inheritance attribute (ABI §4.2): what `RGN_DUP` with flags 0
/// does with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Inherit {
    /// Not duplicated.
    #[default]
    None,
    /// A private copy (`K_INHERITCOPY`).
    Copy,
    /// Shared (`K_INHERITSHARE`).
    Share,
}

impl Inherit {
    /// RGN_SET_INHERIT's options: at most one inherit bit and nothing else.
    ///
    /// # Errors
    /// `Invalid` for another bit or both inherit bits.
    pub fn from_options(options: u64) -> Result<Self, Invalid> {
        if options & !K_INHERIT_MASK != 0 {
            return Err(Invalid);
        }
        Self::from_bits(options)
    }

    /// The inherit bits of `options` (other bits ignored).
    ///
    /// # Errors
    /// `Invalid` if both are set.
    fn from_bits(options: u64) -> Result<Self, Invalid> {
        match options & K_INHERIT_MASK {
            0 => Ok(Inherit::None),
            K_INHERITCOPY => Ok(Inherit::Copy),
            K_INHERITSHARE => Ok(Inherit::Share),
            _ => Err(Invalid),
        }
    }

    /// The options bit (0, `K_INHERITCOPY` or `K_INHERITSHARE`).
    pub const fn bits(self) -> u64 {
        match self {
            Inherit::None => 0,
            Inherit::Copy => K_INHERITCOPY,
            Inherit::Share => K_INHERITSHARE,
        }
    }
}

/// A region's attributes: protection and inheritance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegionOptions {
    pub prot: Prot,
    pub inherit: Inherit,
}

impl RegionOptions {
    /// Protection and inherit bits of `options`, nothing else (the options
    /// of a physical mapping).
    ///
    /// # Errors
    /// `Invalid` for another bit or both inherit bits.
    pub fn from_attributes(options: u64) -> Result<Self, Invalid> {
        if options & !(K_PROT_MASK | K_INHERIT_MASK) != 0 {
            return Err(Invalid);
        }
        Ok(Self {
            prot: Prot(options & K_PROT_MASK),
            inherit: Inherit::from_bits(options)?,
        })
    }

    /// What RGN_STAT reports in `options`.
    pub const fn bits(self) -> u64 {
        self.prot.bits() | self.inherit.bits()
    }
}

/// Where RGN_ALLOCATE puts a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `K_ANYWHERE`: the lowest free range that fits.
    Anywhere,
    /// At this page-aligned user address (the range was checked).
    At(u64),
}

/// RGN_ALLOCATE's region descriptor, decoded (ABI §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub place: Placement,
    /// At least 1.
    pub npages: u64,
    pub options: RegionOptions,
    pub opaque1: u64,
    pub opaque2: u64,
}

impl Allocation {
    /// # Errors
    /// `Invalid`: an option other than `K_WRITABLE`, `K_EXECUTABLE`,
    /// `K_FILLZERO`, `K_ANYWHERE` and one inherit bit; `size == 0`; without
    /// `K_ANYWHERE`, a misaligned `startAddr` or a range outside user space.
    pub fn decode(desc: &KnRgnDesc) -> Result<Self, Invalid> {
        let options = desc.options;
        if options & !RGN_ALLOCATE_OPTIONS != 0 {
            return Err(Invalid);
        }
        let inherit = Inherit::from_bits(options)?;
        if desc.size == 0 {
            return Err(Invalid);
        }
        let len = round_up_to_page(desc.size).ok_or(Invalid)?;
        let place = if options & K_ANYWHERE != 0 {
            Placement::Anywhere
        } else {
            Placement::At(UserRange::exact(desc.startAddr, len)?.start())
        };
        Ok(Self {
            place,
            npages: len / PAGE_SIZE,
            options: RegionOptions {
                prot: Prot(options & (K_WRITABLE | K_EXECUTABLE)),
                inherit,
            },
            opaque1: desc.opaque1,
            opaque2: desc.opaque2,
        })
    }
}

/// RGN_DUP's `flags` (ABI §4.4 rule 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DupMode {
    /// `flags == 0`: each region's own inherit attribute decides.
    ByRegion,
    /// `K_INHERITCOPY`: every region is a private copy.
    Copy,
    /// `K_INHERITSHARE`: every region is shared.
    Share,
}

impl DupMode {
    /// # Errors
    /// `Invalid` for any other value.
    pub fn from_flags(flags: u64) -> Result<Self, Invalid> {
        match flags {
            0 => Ok(DupMode::ByRegion),
            K_INHERITCOPY => Ok(DupMode::Copy),
            K_INHERITSHARE => Ok(DupMode::Share),
            _ => Err(Invalid),
        }
    }

    /// What a region with attribute `inherit` gets: `Inherit::None` means
    /// it is not duplicated.
    pub const fn for_region(self, inherit: Inherit) -> Inherit {
        match self {
            DupMode::ByRegion => inherit,
            DupMode::Copy => Inherit::Copy,
            DupMode::Share => Inherit::Share,
        }
    }
}

/// MCLONE's argument structure, decoded (ABI §3.1 rule 8, steps 3–5):
/// two user ranges of the same length and the destination's protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MClone {
    pub src: UserRange,
    pub dest: UserRange,
    pub prot: Prot,
}

impl MClone {
    /// # Errors
    /// `Invalid`, in the ABI's order: an address or the length misaligned;
    /// `prot` with another bit; a range outside user space (even if empty).
    pub fn decode(args: &MCloneArgs) -> Result<Self, Invalid> {
        if !is_page_aligned(args.src_addr)
            || !is_page_aligned(args.dest_addr)
            || !is_page_aligned(args.length)
        {
            return Err(Invalid);
        }
        let prot = Prot::from_jinue(args.prot)?;
        Ok(Self {
            src: UserRange::exact(args.src_addr, args.length)?,
            dest: UserRange::exact(args.dest_addr, args.length)?,
            prot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{USER_BASE, USER_LIMIT};
    use crate::region::K_FILLZERO;

    #[test]
    fn page_ranges_widen_and_refuse_wrapping() {
        let r = PageRange::covering(0x1234, 0x1000).unwrap();
        assert_eq!((r.start(), r.end()), (0x1000, 0x3000));
        assert!(PageRange::covering(0x1234, 0).unwrap().is_empty());
        assert_eq!(PageRange::covering(u64::MAX, 1), Err(Invalid));
        let top = PageRange::covering(u64::MAX - 5, 5).unwrap();
        assert_eq!(top.end(), !(PAGE_SIZE - 1));
        assert_eq!(r.from(0x2000).start(), 0x2000);
    }

    #[test]
    fn user_ranges() {
        assert_eq!(UserRange::rounded(0x1000, 1).unwrap().npages(), 1);
        assert!(UserRange::rounded(0x1000, 0).unwrap().is_empty());
        assert_eq!(UserRange::rounded(0, 0), Err(Invalid), "page 0");
        assert_eq!(UserRange::rounded(0x1001, 1), Err(Invalid));
        assert_eq!(UserRange::rounded(0x1000, u64::MAX), Err(Invalid));
        assert_eq!(UserRange::exact(0x1000, 100), Err(Invalid));
        assert_eq!(
            UserRange::exact(USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE),
            Err(Invalid)
        );
        assert!(UserRange::exact(USER_LIMIT, 0).unwrap().is_empty());
        assert_eq!(UserRange::pages(USER_BASE, u64::MAX), Err(Invalid));
    }

    #[test]
    fn protections() {
        assert_eq!(Prot::from_options(K_INHERITCOPY), Err(Invalid));
        assert_eq!(Prot::from_options(K_NOACCESS).unwrap(), Prot::NONE);
        assert_eq!(Prot::from_jinue(0).unwrap(), Prot::NONE);
        assert_eq!(Prot::from_jinue(JINUE_PROT_READ).unwrap(), Prot::READ);
        let wx = Prot::from_jinue(JINUE_PROT_WRITE | JINUE_PROT_EXEC).unwrap();
        assert!(wx.writable() && wx.executable());
        assert_eq!(Prot::from_jinue(8), Err(Invalid));
        assert!(!Prot::from_options(K_NOACCESS | K_WRITABLE)
            .unwrap()
            .writable());
    }

    #[test]
    fn inheritance_and_dup_modes() {
        assert_eq!(Inherit::from_options(K_INHERITSHARE), Ok(Inherit::Share));
        assert_eq!(Inherit::from_options(K_WRITABLE), Err(Invalid));
        assert_eq!(Inherit::from_options(K_INHERIT_MASK), Err(Invalid));
        assert_eq!(DupMode::from_flags(K_WRITABLE), Err(Invalid));
        assert_eq!(DupMode::from_flags(K_INHERIT_MASK), Err(Invalid));
        assert_eq!(
            DupMode::ByRegion.for_region(Inherit::Copy),
            DupMode::from_flags(K_INHERITCOPY)
                .unwrap()
                .for_region(Inherit::Share)
        );
    }

    #[test]
    fn allocations() {
        let desc = |start, size, options| KnRgnDesc {
            startAddr: start,
            size,
            options,
            ..Default::default()
        };
        let a = Allocation::decode(&desc(0x1000, 1, K_WRITABLE | K_FILLZERO)).unwrap();
        assert_eq!((a.place, a.npages), (Placement::At(0x1000), 1));
        assert_eq!(a.options.bits(), K_WRITABLE);
        let any = Allocation::decode(&desc(3, 1, K_ANYWHERE | K_INHERITCOPY)).unwrap();
        assert_eq!(any.place, Placement::Anywhere);
        assert_eq!(any.options.inherit, Inherit::Copy);
        assert_eq!(Allocation::decode(&desc(0x1000, 0, 0)), Err(Invalid));
        assert_eq!(
            Allocation::decode(&desc(0x1000, 1, K_NOACCESS)),
            Err(Invalid)
        );
        assert_eq!(
            Allocation::decode(&desc(0x1000, 1, K_INHERIT_MASK)),
            Err(Invalid)
        );
        assert_eq!(Allocation::decode(&desc(0, 1, 0)), Err(Invalid));
    }

    #[test]
    fn mclone_arguments() {
        let args = |src, dest, length, prot| MCloneArgs {
            src_addr: src,
            dest_addr: dest,
            length,
            prot,
            _pad: 0,
        };
        let m = MClone::decode(&args(0x1000, 0x9000, 0x2000, 3)).unwrap();
        assert_eq!((m.src.npages(), m.dest.start()), (2, 0x9000));
        assert_eq!(MClone::decode(&args(0x1001, 0x9000, 0, 1)), Err(Invalid));
        assert_eq!(
            MClone::decode(&args(0x1000, 0x9000, 0x2000, 8)),
            Err(Invalid)
        );
        assert_eq!(
            MClone::decode(&args(0x1000, 0, 0, 1)),
            Err(Invalid),
            "empty at page 0"
        );
    }
}
