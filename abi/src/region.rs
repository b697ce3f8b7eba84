//! Region options (ABI §4.2, project values) and actor-capability constants (ABI §4.1).

pub const K_WRITABLE: u64 = 0x1;
pub const K_EXECUTABLE: u64 = 0x2;
pub const K_NOACCESS: u64 = 0x4;
pub const K_FILLZERO: u64 = 0x10;
pub const K_ANYWHERE: u64 = 0x20;
pub const K_INHERITCOPY: u64 = 0x100;
pub const K_INHERITSHARE: u64 = 0x200;
pub const K_FREEALL: u64 = 0x1_0000;

/// Protection bits of a region's options.
pub const K_PROT_MASK: u64 = K_WRITABLE | K_EXECUTABLE | K_NOACCESS;
/// Inherit bits of a region's options (at most one is set).
pub const K_INHERIT_MASK: u64 = K_INHERITCOPY | K_INHERITSHARE;
/// Options `RGN_ALLOCATE` accepts.
pub const RGN_ALLOCATE_OPTIONS: u64 =
    K_WRITABLE | K_EXECUTABLE | K_FILLZERO | K_ANYWHERE | K_INHERIT_MASK;
/// Attributes a region carries (what `RGN_STAT` reports).
pub const REGION_ATTRIBUTES: u64 = K_PROT_MASK | K_INHERIT_MASK;

/// `K_MYACTOR`: the pointer value passed where a `KnCap *` names the caller.
pub const K_MYACTOR: u64 = 1;
/// `K_SVACTOR`: never accepted from user programs (project value).
pub const K_SVACTOR: u64 = 2;

/// Site number of every Ferrite actor (project value).
pub const SITE_NUMBER: u32 = 1;
/// Type code of an actor in the top 5 bits of `KnUniqueId::head`.
pub const ACTOR_TYPE: u32 = 1;
/// The unique-id type field is `head >> UI_TYPE_SHIFT`.
pub const UI_TYPE_SHIFT: u32 = 27;
/// Mask of the 27-bit stamp in `KnUniqueId::head`.
pub const UI_STAMP_MASK: u32 = (1 << UI_TYPE_SHIFT) - 1;

/// `KnUniqueId::head` of the actor with `stamp`: `0x0800_0000 * 1 | stamp`.
pub const fn actor_ui_head(stamp: u32) -> u32 {
    (ACTOR_TYPE << UI_TYPE_SHIFT) | (stamp & UI_STAMP_MASK)
}

/// Whether at most one inherit bit is set in `options`.
pub const fn has_at_most_one_inherit_bit(options: u64) -> bool {
    options & K_INHERIT_MASK != K_INHERIT_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_head_layout() {
        assert_eq!(actor_ui_head(0), 0x0800_0000);
        assert_eq!(actor_ui_head(5), 0x0800_0005);
        assert_eq!(actor_ui_head(UI_STAMP_MASK) >> UI_TYPE_SHIFT, ACTOR_TYPE);
    }

    #[test]
    fn inherit_bits() {
        assert!(has_at_most_one_inherit_bit(0));
        assert!(has_at_most_one_inherit_bit(K_INHERITCOPY | K_WRITABLE));
        assert!(!has_at_most_one_inherit_bit(K_INHERIT_MASK));
    }
}
