//! Segments and mappers (ABI §4.5): typed wrappers for ENDPOINT_UI, RGN_MAP, RGN_INIT, the range calls RGN_MAP/INIT_FROM_ACTOR (§4.3), and a mapper loop.
//!
//! A mapper implements [`Mapper`] and calls [`run`] on its endpoint: the
//! loop receives the kernel's requests (and, if the mapper wants them,
//! ordinary messages), asks the trait for the data, and answers with one
//! `KnMpReply` pointing at a 64 KiB buffer of its own. The kernel copies
//! during the REPLY, so a push-out's data is in the buffer when REPLY returns.

use crate::api::{jinue_decode, raw, Actor, JResult};
use crate::ipc::{receive, reply, reply_error, Received};
use abi::errors::JinueError;
use abi::layout::PAGE_SIZE;
use abi::mapper::{
    KnMpReply, KnMpRequest, KnObjDesc, KnRgnFromActorArgs, MP_MAX_REQUEST, MP_PULL_IN, MP_PUSH_OUT,
    MP_RELEASE,
};
use abi::numbers::{
    FERRITE_SYS_ENDPOINT_UI, K_SYS_RGN_INIT, K_SYS_RGN_INIT_FROM_ACTOR, K_SYS_RGN_MAP,
    K_SYS_RGN_MAP_FROM_ACTOR,
};
use abi::region::{K_ANYWHERE, K_WRITABLE};
use abi::types::{KnCap, KnKey, KnRgnDesc, KnUniqueId, Wire};

/// ENDPOINT_UI: the unique identifier of an endpoint (needs `RECEIVE`).
///
/// # Errors
///
/// `EBADF`, `EIO`, `EPERM`, `EINVAL`.
pub fn endpoint_ui(endpoint: u64) -> JResult<KnUniqueId> {
    let mut ui = KnUniqueId::default();
    // SAFETY: `ui` is a live local the kernel writes 8 bytes into.
    jinue_decode(unsafe {
        raw(
            FERRITE_SYS_ENDPOINT_UI,
            endpoint,
            &mut ui as *mut KnUniqueId as u64,
            0,
        )
    })?;
    Ok(core::hint::black_box(ui))
}

/// The segment capability `{ui, key}`.
pub const fn segment(ui: KnUniqueId, key: u64) -> KnCap {
    KnCap {
        ui,
        key: KnKey {
            head: key as u32,
            tail: (key >> 32) as u32,
        },
    }
}

/// The segment key a request names, as the `u64` given to [`segment`].
pub const fn key_value(key: KnKey) -> u64 {
    key.head as u64 | ((key.tail as u64) << 32)
}

/// RGN_MAP / RGN_INIT's raw result: `Err` holds the ChorusOS code, or a
/// mapper's negative diag, exactly as the kernel returned it.
pub type MapResult = Result<(), i64>;

fn segment_call(num: u64, actor: Actor, desc: &mut KnRgnDesc, obj: &KnObjDesc) -> MapResult {
    // SAFETY: `desc` and `obj` are borrowed for the call; the kernel writes
    // only `desc` (the start address for K_ANYWHERE).
    let r = unsafe {
        raw(
            num,
            actor.arg(),
            desc as *mut KnRgnDesc as u64,
            obj as *const KnObjDesc as u64,
        )
    };
    *desc = core::hint::black_box(*desc);
    match r.arg0 as i64 {
        0 => Ok(()),
        code => Err(code),
    }
}

/// RGN_MAP: a region over the segment range `obj` (pages arrive on first touch).
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`, `K_EOVERLAP`, `K_ENOMEM` (as `i64`).
pub fn rgn_map(actor: Actor, desc: &mut KnRgnDesc, obj: &KnObjDesc) -> MapResult {
    segment_call(K_SYS_RGN_MAP, actor, desc, obj)
}

/// RGN_INIT: a region holding a private snapshot of the segment range.
///
/// # Errors
///
/// As [`rgn_map`], then `K_EMAPPER` or the mapper's negative diag.
pub fn rgn_init(actor: Actor, desc: &mut KnRgnDesc, obj: &KnObjDesc) -> MapResult {
    segment_call(K_SYS_RGN_INIT, actor, desc, obj)
}

fn range_call(num: u64, args: &KnRgnFromActorArgs) -> MapResult {
    // SAFETY: the structure and what it points at are the caller's, borrowed
    // for the call; the kernel writes only the target descriptor.
    let r = unsafe { raw(num, args as *const KnRgnFromActorArgs as u64, 0, 0) };
    match r.arg0 as i64 {
        0 => Ok(()),
        code => Err(code),
    }
}

/// The four pointers of a range call: target actor and descriptor (the
/// start is written back for `K_ANYWHERE`), source actor and range.
pub fn range_args(
    target: Actor,
    tgt: &mut KnRgnDesc,
    source: Actor,
    src: &KnRgnDesc,
) -> KnRgnFromActorArgs {
    KnRgnFromActorArgs {
        tgtactorcap: target.arg(),
        tgtrgndesc: tgt as *mut KnRgnDesc as u64,
        srcactorcap: source.arg(),
        srcrgndesc: src as *const KnRgnDesc as u64,
    }
}

/// RGN_MAP_FROM_ACTOR: the target range shares the source range's memory.
///
/// # Errors
///
/// `K_EFAULT`, `K_EINVAL`, `K_EUNKNOWN`, `K_EOVERLAP`, `K_ENOMEM`.
pub fn rgn_map_from_actor(args: &KnRgnFromActorArgs) -> MapResult {
    range_call(K_SYS_RGN_MAP_FROM_ACTOR, args)
}

/// RGN_INIT_FROM_ACTOR: the target range is a private snapshot of the source range.
///
/// # Errors
///
/// As [`rgn_map_from_actor`], then `K_EMAPPER` or a mapper's negative diag.
pub fn rgn_init_from_actor(args: &KnRgnFromActorArgs) -> MapResult {
    range_call(K_SYS_RGN_INIT_FROM_ACTOR, args)
}

/// What a mapper does with the kernel's requests. Offsets are in bytes
/// from the start of the segment; every length is a multiple of 4096.
pub trait Mapper {
    /// Fills `data` with the segment's bytes at `offset` (`access`: 2 for a
    /// write fault, 1 otherwise). `Err(diag)` (negative) refuses.
    ///
    /// # Errors
    ///
    /// The diag the kernel passes back.
    fn pull_in(&mut self, key: u64, offset: u64, data: &mut [u8], access: u64) -> Result<(), i64>;

    /// Takes back written data. [`run`] has already answered the kernel (the
    /// data was copied in during that REPLY), so the result is the mapper's
    /// own business.
    ///
    /// # Errors
    ///
    /// Whatever the mapper wants to report to itself.
    fn push_out(&mut self, key: u64, offset: u64, data: &[u8]) -> Result<(), i64>;

    /// The kernel freed the segment's cache.
    fn release(&mut self, key: u64);

    /// An ordinary message (function ≥ 4096): `Ok(n)` replies with the
    /// first `n` bytes of `reply`, `Err(code)` with REPLY_ERROR. `*stop`
    /// ends [`run`] after the answer.
    ///
    /// # Errors
    ///
    /// The REPLY_ERROR code.
    fn message(
        &mut self,
        got: &Received,
        msg: &[u8],
        reply: &mut [u8],
        stop: &mut bool,
    ) -> Result<usize, u64> {
        let _ = (got, msg, reply, stop);
        Err(JinueError::NoSys.number())
    }
}

/// A page-aligned 64 KiB buffer for the data of one request.
struct Transfer {
    desc: KnRgnDesc,
}

impl Transfer {
    fn new() -> Option<Self> {
        let mut desc = crate::api::rgn(0, MP_MAX_REQUEST, K_WRITABLE | K_ANYWHERE);
        crate::api::rgn_allocate(Actor::Me, &mut desc).ok()?;
        Some(Self { desc })
    }

    fn bytes(&mut self, len: u64) -> &mut [u8] {
        let len = len.min(MP_MAX_REQUEST) as usize;
        // SAFETY: the runtime allocated this region itself, nothing else
        // references it, and it lives until `self` is dropped.
        unsafe { core::slice::from_raw_parts_mut(self.desc.startAddr as *mut u8, len) }
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        let _ = crate::api::rgn_free(
            Actor::Me,
            &crate::api::rgn(self.desc.startAddr, self.desc.size, 0),
        );
    }
}

fn answer(diag: i64, addr: u64) -> JResult<()> {
    let mut out = [0u8; KnMpReply::SIZE];
    KnMpReply { diag, addr }.to_bytes(&mut out);
    reply(&[&out])
}

/// Serves `endpoint` for `mapper` until RECEIVE fails (the endpoint was
/// destroyed: `EIO`) or [`Mapper::message`] sets `stop`.
///
/// # Errors
///
/// The RECEIVE or REPLY error that ended the loop; `ENOMEM` if the
/// transfer buffer cannot be allocated.
pub fn run(endpoint: u64, mapper: &mut impl Mapper) -> JResult<()> {
    let mut transfer = Transfer::new().ok_or(JinueError::NoMem)?;
    let mut request = [0u8; 2048];
    let mut out = [0u8; 2048];
    let mut stop = false;
    while !stop {
        let got = receive(endpoint, &mut [&mut request])?;
        if got.function >= abi::numbers::JINUE_SYS_USER_BASE {
            let size = got.size.min(request.len());
            match mapper.message(&got, &request[..size], &mut out, &mut stop) {
                Ok(n) => match reply(&[&out[..n.min(out.len())]]) {
                    Err(JinueError::TooBig) => reply_error(JinueError::TooBig.number())?,
                    other => other?,
                },
                Err(code) => reply_error(code)?,
            }
            continue;
        }
        let req = KnMpRequest::from_bytes(&request[..KnMpRequest::SIZE]);
        let key = key_value(req.key);
        let addr = transfer.desc.startAddr;
        match got.function {
            MP_PULL_IN => {
                match mapper.pull_in(key, req.offset, transfer.bytes(req.size), req.access) {
                    Ok(()) => answer(0, addr)?,
                    Err(diag) => answer(diag.min(-1), 0)?,
                }
            }
            MP_PUSH_OUT => {
                answer(0, addr)?;
                // The kernel copied the data in during the REPLY.
                let data = core::hint::black_box(transfer.bytes(req.size));
                let _ = mapper.push_out(key, req.offset, data);
            }
            MP_RELEASE => {
                answer(0, 0)?;
                mapper.release(key);
            }
            _ => reply_error(JinueError::NoSys.number())?,
        }
    }
    Ok(())
}

/// Bytes in `npages` pages.
pub const fn pages(npages: u64) -> u64 {
    npages * PAGE_SIZE
}
