//! `mapper` (issue 11): ENDPOINT_UI, RGN_MAP, RGN_INIT, pull-in faults, the mapper protocol and its violations, write-back (ABI §4.5, §7).
#![no_std]
#![no_main]

use abi::errors::{JinueError, K_EFAULT, K_EINVAL, K_EMAPPER, K_ENOMEM, K_EOVERLAP, K_EUNKNOWN};
use abi::init::INIT_THREAD_DESCRIPTOR;
use abi::ipc::JinueMessage;
use abi::layout::*;
use abi::mapper::*;
use abi::numbers::*;
use abi::perms::*;
use abi::region::*;
use abi::types::{JinueBuffer, KnCap, KnKey, KnRgnDesc, KnUniqueId, Wire};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::ipc;
use ferrite_rt::mapper::{endpoint_ui, rgn_init, rgn_map, segment};
use ferrite_rt::thread::{spawn, JoinHandle, SELF};
use ferrite_rt::{fork, Fork, Startup};
use ferrite_tests::*;

ferrite_rt::entry!(main);

use JinueError::{BadF, Inval, Io, Perm};

/// The test mapper's endpoint and a second descriptor for it.
const E: u64 = 20;
const E_SEND: u64 = 21;
const E_OTHER: u64 = 22;
const KERNEL: u64 = 0xffff_8000_0000_0000;
/// Pages of the test segment's backing store.
const STORE_PAGES: u64 = 32;

/// How the test mapper answers the next requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
enum Mode {
    Good = 0,
    Diag = 1,
    Short = 2,
    Long = 3,
    PositiveDiag = 4,
    Unaligned = 5,
    Unreadable = 6,
    ReplyError = 7,
    Die = 8,
    /// Waits (yielding) until `HOLD` is 0, then answers well.
    Hold = 9,
    SmallBuffer = 10,
}

static MODE: AtomicU64 = AtomicU64::new(0);
static HOLD: AtomicU64 = AtomicU64::new(0);
/// Pull-in requests and pages, push-out requests and pages, releases.
static PULLS: AtomicU64 = AtomicU64::new(0);
static PULLED_PAGES: AtomicU64 = AtomicU64::new(0);
static PUSHES: AtomicU64 = AtomicU64::new(0);
static PUSHED_PAGES: AtomicU64 = AtomicU64::new(0);
static RELEASES: AtomicU64 = AtomicU64::new(0);
/// The last request seen: function, offset, size, access, key.
static LAST: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
/// Offsets (page numbers) of the pulled-in pages, as a bit set of 64.
static PULLED_SET: AtomicU64 = AtomicU64::new(0);
static PUSHED_SET: AtomicU64 = AtomicU64::new(0);
/// What the mapper's REPLY returned for a violation (Jinue error number, 0 = ok).
static REPLY_ERR: AtomicI64 = AtomicI64::new(-1);
/// What a second REPLY right after it returned (ENOMSG: the request had ended).
static AFTER: AtomicI64 = AtomicI64::new(-1);
/// What a 24-byte REPLY returned.
static LONG: AtomicI64 = AtomicI64::new(-1);
/// Where the store is (an anonymous region of the mapper, never served).
static STORE: AtomicU64 = AtomicU64::new(0);
/// A page-aligned transfer buffer of 16 pages.
static XFER: AtomicU64 = AtomicU64::new(0);

/// Byte `i` of segment page `p`.
fn byte_of(p: u64, i: u64) -> u8 {
    (p as u8).wrapping_mul(37).wrapping_add(i as u8) ^ 0x5a
}

fn reset_counters() {
    for c in [
        &PULLS,
        &PULLED_PAGES,
        &PUSHES,
        &PUSHED_PAGES,
        &RELEASES,
        &PULLED_SET,
        &PUSHED_SET,
    ] {
        c.store(0, SeqCst);
    }
    REPLY_ERR.store(-1, SeqCst);
}

fn reply_raw(bytes: &[u8]) -> Result<u64, JinueError> {
    let b = [JinueBuffer {
        addr: bytes.as_ptr() as u64,
        size: bytes.len() as u64,
    }];
    let m = JinueMessage {
        send_buffers: b.as_ptr() as u64,
        send_buffers_length: 1,
        ..JinueMessage::default()
    };
    jraw(JINUE_SYS_REPLY, 0, &m as *const JinueMessage as u64, 0)
}

fn answer(diag: i64, addr: u64) -> Result<u64, JinueError> {
    let mut out = [0u8; 16];
    KnMpReply { diag, addr }.to_bytes(&mut out);
    reply_raw(&out)
}

fn note_reply(r: Result<u64, JinueError>) {
    // Whether the mapper still holds the request after that REPLY.
    AFTER.store(
        match reply_raw(&[0u8; 16]) {
            Ok(_) => 0,
            Err(e) => e.number() as i64,
        },
        SeqCst,
    );
    REPLY_ERR.store(
        match r {
            Ok(_) => 0,
            Err(e) => e.number() as i64,
        },
        SeqCst,
    );
}

/// The test mapper: serves the segment of key 7 from `STORE` until its endpoint goes.
fn mapper_loop() {
    let store = STORE.load(SeqCst);
    let xfer = XFER.load(SeqCst);
    loop {
        let mut request = [0u8; 64];
        let small = MODE.load(SeqCst) == Mode::SmallBuffer as u64;
        let got = if small {
            ipc::receive(E, &mut [&mut request[..8]])
        } else {
            ipc::receive(E, &mut [&mut request])
        };
        let Ok(got) = got else {
            return;
        };
        let req = KnMpRequest::from_bytes(&request[..32]);
        let key = u64::from(req.key.head) | (u64::from(req.key.tail) << 32);
        for (slot, v) in LAST
            .iter()
            .zip([got.function, req.offset, req.size, req.access, key])
        {
            slot.store(v, SeqCst);
        }
        let first = req.offset / PAGE_SIZE;
        let npages = req.size / PAGE_SIZE;
        let mode = MODE.load(SeqCst);
        if mode == Mode::Hold as u64 {
            while HOLD.load(SeqCst) != 0 {
                api::yield_thread();
            }
        }
        match got.function {
            MP_PULL_IN => {
                match mode {
                    m if m == Mode::Diag as u64 => {
                        note_reply(answer(-42, 0));
                        continue;
                    }
                    m if m == Mode::Short as u64 => {
                        note_reply(reply_raw(&[0u8; 8]));
                        continue;
                    }
                    m if m == Mode::Long as u64 => {
                        // E2BIG, the request is kept; then a proper answer.
                        let r = reply_raw(&[0u8; 24]);
                        LONG.store(r.err().map_or(0, |e| e.number() as i64), SeqCst);
                    }
                    m if m == Mode::PositiveDiag as u64 => {
                        note_reply(answer(5, xfer));
                        continue;
                    }
                    m if m == Mode::Unaligned as u64 => {
                        note_reply(answer(0, xfer + 8));
                        continue;
                    }
                    m if m == Mode::Unreadable as u64 => {
                        note_reply(answer(0, KERNEL));
                        continue;
                    }
                    m if m == Mode::ReplyError as u64 => {
                        note_reply(jraw(JINUE_SYS_REPLY_ERROR, 3, 0, 0));
                        continue;
                    }
                    m if m == Mode::Die as u64 => api::exit_thread(),
                    _ => {}
                }
                PULLS.fetch_add(1, SeqCst);
                PULLED_PAGES.fetch_add(npages, SeqCst);
                for p in first..first + npages {
                    if p < 64 {
                        PULLED_SET.fetch_or(1 << p, SeqCst);
                    }
                    for i in (0..PAGE_SIZE).step_by(512) {
                        let v = if p < STORE_PAGES {
                            peek8(store + p * PAGE_SIZE + i)
                        } else {
                            0
                        };
                        poke8(xfer + (p - first) * PAGE_SIZE + i, v);
                    }
                }
                note_reply(answer(0, xfer));
            }
            MP_PUSH_OUT => {
                let _ = answer(0, xfer);
                PUSHES.fetch_add(1, SeqCst);
                PUSHED_PAGES.fetch_add(npages, SeqCst);
                for p in first..first + npages {
                    if p < 64 {
                        PUSHED_SET.fetch_or(1 << p, SeqCst);
                    }
                    for i in (0..PAGE_SIZE).step_by(512) {
                        if p < STORE_PAGES {
                            poke8(
                                store + p * PAGE_SIZE + i,
                                peek8(xfer + (p - first) * PAGE_SIZE + i),
                            );
                        }
                    }
                }
            }
            MP_RELEASE => {
                let _ = answer(0, 0);
                RELEASES.fetch_add(1, SeqCst);
            }
            _ => {
                let _ = ipc::reply_error(1);
            }
        }
    }
}

/// The mapper's store and transfer buffer, every page touched (so that
/// MEMSTAT baselines taken afterwards do not move when the mapper uses them).
fn buffers() -> (Region, Region) {
    let store = Region::anywhere(STORE_PAGES, K_WRITABLE).expect("store");
    let xfer = Region::anywhere(16, K_WRITABLE).expect("xfer");
    for r in [&store, &xfer] {
        for p in 0..r.len() / PAGE_SIZE {
            poke8(r.page(p), 0);
        }
    }
    (store, xfer)
}

/// A running test mapper; dropping it destroys the endpoint and joins the thread.
struct TestMapper {
    ui: KnUniqueId,
    thread: Option<JoinHandle>,
}

impl TestMapper {
    fn start(store: &Region, xfer: &Region) -> TestMapper {
        Self::start_in(store, xfer, Mode::Good)
    }

    /// Starts the mapper with `MODE` already `mode`.
    fn start_in(store: &Region, xfer: &Region, mode: Mode) -> TestMapper {
        reset_counters();
        MODE.store(mode as u64, SeqCst);
        STORE.store(store.addr(), SeqCst);
        XFER.store(xfer.addr(), SeqCst);
        for p in 0..STORE_PAGES {
            for i in (0..PAGE_SIZE).step_by(512) {
                poke8(store.page(p) + i, byte_of(p, i));
            }
        }
        ipc::create_endpoint(E).expect("CREATE_ENDPOINT");
        let ui = endpoint_ui(E).expect("ENDPOINT_UI");
        let thread = spawn(mapper_loop).expect("mapper thread");
        TestMapper {
            ui,
            thread: Some(thread),
        }
    }

    fn obj(&self, offset: u64) -> KnObjDesc {
        KnObjDesc {
            dataObject: segment(self.ui, 7),
            startOffset: offset,
            size: 0,
        }
    }

    /// Waits until the mapper has seen `n` releases in all.
    fn await_releases(&self, n: u64) -> bool {
        wait_for(|| RELEASES.load(SeqCst) >= n, Patience::DEFAULT)
    }
}

impl Drop for TestMapper {
    fn drop(&mut self) {
        let _ = api::destroy(E);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = api::close(E);
    }
}

/// Checks MEMSTAT is back at `base`, with a short message.
fn at_baseline(c: &mut Case, base: Usage, what: &str) {
    let now = usage();
    if now != base {
        c.fail(
            file!(),
            line!(),
            format_args!(
                "{what}: user {}/{} tables {}/{} committed {}/{}",
                now.user_frames,
                base.user_frames,
                now.table_frames,
                base.table_frames,
                now.committed_frames,
                base.committed_frames
            ),
        );
    }
}

fn main(_: &Startup) -> i32 {
    let mut s = Suite::new("mapper");
    both_mechanisms(&mut s, errors);
    protocol(&mut s);
    duplication(&mut s);
    range_calls(&mut s);
    violations(&mut s);
    writeback(&mut s);
    s.finish()
}

fn map_at(
    c: &mut Case,
    m: &TestMapper,
    start: u64,
    npages: u64,
    offset: u64,
    options: u64,
) -> bool {
    let mut d = rgn(start, npages * PAGE_SIZE, options);
    let r = rgn_map(Actor::Me, &mut d, &m.obj(offset));
    check_eq!(c, r, Ok(()), "RGN_MAP at {start:#x}");
    r.is_ok()
}

fn free(start: u64, npages: u64) {
    let _ = api::rgn_free(Actor::Me, &rgn(start, npages * PAGE_SIZE, 0));
}

fn region_count(start: u64, npages: u64) -> u64 {
    stat(Actor::Me, start, npages * PAGE_SIZE).0.unwrap_or(99)
}

/// Every error of every new call, in order.
fn errors(s: &mut Suite) {
    s.isolated("endpoint_ui_errors_and_values", |c| {
        check_eq!(c, ipc::create_endpoint(E), Ok(()));
        check_eq!(c, ipc::create_endpoint(E_OTHER), Ok(()));
        let ui = endpoint_ui(E);
        let other = endpoint_ui(E_OTHER);
        check!(c, ui.is_ok() && other.is_ok());
        let (ui, other) = (ui.unwrap_or_default(), other.unwrap_or_default());
        check_eq!(c, ui.head >> 27, PORT_TYPE);
        check_eq!(c, ui.tail, 1);
        check!(c, ui.head != other.head, "stamps differ");
        let mut out = KnUniqueId::default();
        let p = &mut out as *mut KnUniqueId as u64;
        for n in [u64::MAX, JINUE_DESC_NUM, 1 << 31, 400] {
            check_eq!(
                c,
                jraw(FERRITE_SYS_ENDPOINT_UI, n, p, 0),
                Err(BadF),
                "{n:#x}"
            );
        }
        check_eq!(
            c,
            jraw(FERRITE_SYS_ENDPOINT_UI, INIT_THREAD_DESCRIPTOR, p, 0),
            Err(BadF)
        );
        check_eq!(c, jraw(FERRITE_SYS_ENDPOINT_UI, SELF, p, 0), Err(BadF));
        check_eq!(
            c,
            api::mint_into(E, SELF, E_SEND, JINUE_PERM_SEND, 0),
            Ok(())
        );
        check_eq!(c, jraw(FERRITE_SYS_ENDPOINT_UI, E_SEND, p, 0), Err(Perm));
        // Bad pointer last: EPERM wins over it.
        check_eq!(
            c,
            jraw(FERRITE_SYS_ENDPOINT_UI, E_SEND, KERNEL, 0),
            Err(Perm)
        );
        for bad in [0, KERNEL, hole(), USER_LIMIT - 4] {
            check_eq!(
                c,
                jraw(FERRITE_SYS_ENDPOINT_UI, E, bad, 0),
                Err(Inval),
                "{bad:#x}"
            );
        }
        check_eq!(c, jraw(FERRITE_SYS_ENDPOINT_UI, E, p, 0), Ok(0));
        check_eq!(c, core::hint::black_box(out), ui);
        check_eq!(c, api::destroy(E), Ok(()));
        check_eq!(c, jraw(FERRITE_SYS_ENDPOINT_UI, E_SEND, p, 0), Err(Io));
        let _ = api::close(E_SEND);
        let _ = api::close(E);
        let _ = api::destroy(E_OTHER);
        let _ = api::close(E_OTHER);
    });
    s.isolated("rgn_map_and_init_errors_in_order", |c| {
        let (store, xfer) = buffers();
        let m = TestMapper::start(&store, &xfer);
        let ro = Region::anywhere(1, 0).expect("ro");
        let busy = Region::anywhere(1, K_WRITABLE).expect("busy");
        let at = hole_of(4);
        let obj = m.obj(0);
        let desc = rgn(at, 2 * PAGE_SIZE, K_WRITABLE);
        let bad_actor = KnCap {
            ui: KnUniqueId {
                head: 0x0800_0000 | UI_STAMP_MASK,
                tail: 1,
            },
            key: KnKey::default(),
        };
        let mut port_not_actor = obj;
        port_not_actor.dataObject.ui.head = 0x0800_0001;
        let mut other_site = obj;
        other_site.dataObject.ui.tail = 2;
        let mut unknown_port = obj;
        unknown_port.dataObject.ui.head = port_ui_head(UI_STAMP_MASK);
        for num in [K_SYS_RGN_MAP, K_SYS_RGN_INIT] {
            let call = |cap: u64, d: &KnRgnDesc, o: &KnObjDesc| -> i64 {
                raw(
                    num,
                    cap,
                    d as *const KnRgnDesc as u64,
                    o as *const KnObjDesc as u64,
                )
                .arg0 as i64
            };
            let callp = |cap: u64, d: u64, o: u64| -> i64 { raw(num, cap, d, o).arg0 as i64 };
            let dp = &desc as *const KnRgnDesc as u64;
            let op = &obj as *const KnObjDesc as u64;
            // K_EFAULT: each pointer, before every other check.
            check_eq!(c, callp(0, dp, op), K_EFAULT, "{num} cap NULL");
            check_eq!(c, callp(KERNEL, dp, op), K_EFAULT);
            check_eq!(c, callp(K_MYACTOR, 0, op), K_EFAULT);
            check_eq!(c, callp(K_MYACTOR, dp, 0), K_EFAULT);
            check_eq!(c, callp(K_SVACTOR, dp, hole()), K_EFAULT);
            // K_ANYWHERE needs the descriptor writable (read-only page).
            check_eq!(
                c,
                callp(K_MYACTOR, ro.addr(), op),
                K_EINVAL,
                "zero descriptor: size 0"
            );
            // Actor next.
            check_eq!(c, call(K_SVACTOR, &desc, &unknown_port), K_EINVAL);
            check_eq!(
                c,
                call(&bad_actor as *const KnCap as u64, &desc, &port_not_actor),
                K_EUNKNOWN
            );
            // The segment capability.
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at, 0, 0), &port_not_actor),
                K_EINVAL
            );
            check_eq!(c, call(K_MYACTOR, &desc, &other_site), K_EINVAL);
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at, 0, 0), &unknown_port),
                K_EUNKNOWN
            );
            // The descriptors.
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at + 1, PAGE_SIZE, 0), &obj),
                K_EINVAL
            );
            check_eq!(c, call(K_MYACTOR, &rgn(at, 0, 0), &obj), K_EINVAL);
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at, PAGE_SIZE, K_NOACCESS), &obj),
                K_EINVAL
            );
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at, PAGE_SIZE, K_FREEALL), &obj),
                K_EINVAL
            );
            check_eq!(c, call(K_MYACTOR, &rgn(0, PAGE_SIZE, 0), &obj), K_EINVAL);
            check_eq!(
                c,
                call(
                    K_MYACTOR,
                    &rgn(USER_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE, 0),
                    &obj
                ),
                K_EINVAL
            );
            let mut o = obj;
            o.startOffset = 12;
            check_eq!(c, call(K_MYACTOR, &desc, &o), K_EINVAL, "offset unaligned");
            o.startOffset = u64::MAX - 0xfff;
            check_eq!(c, call(K_MYACTOR, &desc, &o), K_EINVAL, "offset wraps");
            o.startOffset = 0;
            o.size = PAGE_SIZE;
            check_eq!(c, call(K_MYACTOR, &desc, &o), K_EINVAL, "size differs");
            o.size = 2 * PAGE_SIZE;
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(at, 2 * PAGE_SIZE, K_NOACCESS), &o),
                K_EINVAL
            );
            // Overlap, then memory.
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(busy.addr(), PAGE_SIZE, 0), &obj),
                K_EOVERLAP
            );
            check_eq!(
                c,
                call(K_MYACTOR, &rgn(0x1000_0000_0000, 1 << 40, 0), &obj),
                K_ENOMEM
            );
            check_eq!(c, region_count(at, 4), 0, "nothing created");
            check_eq!(
                c,
                PULLS.load(SeqCst),
                0,
                "no mapper transaction for a failed call"
            );
        }
        // RGN_MAP with K_ANYWHERE writes the start back.
        let mut d = rgn(0, 2 * PAGE_SIZE, K_ANYWHERE);
        check_eq!(c, rgn_map(Actor::Me, &mut d, &obj), Ok(()));
        check!(
            c,
            d.startAddr >= USER_BASE && d.startAddr.is_multiple_of(PAGE_SIZE)
        );
        check_eq!(c, region_count(d.startAddr, 2), 1);
        free(d.startAddr, 2);
        check!(c, m.await_releases(1));
        drop(m);
    });
}

/// Pull-in on first touch, sharing, snapshots.
fn protocol(s: &mut Suite) {
    s.isolated("first_touch_pulls_in_exactly_the_touched_pages", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let base = usage();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(8);
        if !map_at(c, &m, at, 8, 3 * PAGE_SIZE, K_WRITABLE) {
            return;
        }
        check_eq!(c, PULLS.load(SeqCst), 0, "RGN_MAP is lazy");
        check_eq!(c, stat(Actor::Me, at, 8 * PAGE_SIZE).1[0].resident, 0);
        check_eq!(c, peek8(at + PAGE_SIZE + 512), byte_of(4, 512));
        check_eq!(c, peek8(at + 5 * PAGE_SIZE), byte_of(8, 0));
        check_eq!(c, PULLS.load(SeqCst), 2);
        check_eq!(c, PULLED_SET.load(SeqCst), (1 << 4) | (1 << 8));
        check_eq!(c, LAST[0].load(SeqCst), MP_PULL_IN);
        check_eq!(c, LAST[2].load(SeqCst), PAGE_SIZE);
        check_eq!(c, LAST[3].load(SeqCst), MP_ACCESS_READ);
        check_eq!(c, LAST[4].load(SeqCst), 7, "the key");
        // A write to a page already in: no pull-in. A write fault pulls in with access 2.
        poke8(at + PAGE_SIZE, 1);
        check_eq!(c, PULLS.load(SeqCst), 2);
        poke8(at + 7 * PAGE_SIZE + 3, 9);
        check_eq!(c, PULLS.load(SeqCst), 3);
        check_eq!(c, LAST[3].load(SeqCst), MP_ACCESS_WRITE);
        check_eq!(c, LAST[1].load(SeqCst), 10 * PAGE_SIZE);
        check_eq!(c, peek8(at + 7 * PAGE_SIZE + 3), 9);
        check_eq!(c, stat(Actor::Me, at, 8 * PAGE_SIZE).1[0].resident, 3);
        // A second region over the same pages sees them without a pull-in.
        let at2 = hole_of(2);
        if map_at(c, &m, at2, 2, 4 * PAGE_SIZE, 0) {
            check_eq!(c, peek8(at2), 1);
            check_eq!(c, PULLS.load(SeqCst), 3);
            free(at2, 2);
        }
        free(at, 8);
        check!(c, m.await_releases(1), "released");
        check_eq!(
            c,
            PUSHED_SET.load(SeqCst),
            (1 << 4) | (1 << 10),
            "the two written pages"
        );
        check_eq!(c, peek8(store.page(4)), 1, "written back");
        drop(m);
        at_baseline(c, base, "baseline");
    });
    s.isolated("two_actors_see_each_others_writes", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("shared");
        let flag = shared.addr();
        poke(flag, 0);
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(4);
        if !map_at(c, &m, at, 4, 0, K_WRITABLE) {
            return;
        }
        poke(at + 8, 0x1111);
        let obj = m.obj(0);
        match fork() {
            Ok(Fork::Child) => {
                let at2 = hole_of(4);
                let mut d = rgn(at2, 4 * PAGE_SIZE, K_WRITABLE);
                if rgn_map(Actor::Me, &mut d, &obj).is_err() {
                    api::exit_thread();
                }
                let seen = peek(at2 + 8);
                poke(at2 + 2 * PAGE_SIZE, 0x2222);
                poke(flag + 8, seen);
                poke(flag, 1);
                while peek(flag) != 2 {
                    api::yield_thread();
                }
                poke(flag + 16, peek(at2 + 3 * PAGE_SIZE));
                api::exit_thread()
            }
            Ok(Fork::Parent(child)) => {
                while peek(flag) != 1 {
                    api::yield_thread();
                }
                check_eq!(
                    c,
                    peek(flag + 8),
                    0x1111,
                    "the child sees the parent's write"
                );
                check_eq!(
                    c,
                    peek(at + 2 * PAGE_SIZE),
                    0x2222,
                    "the parent sees the child's"
                );
                poke(at + 3 * PAGE_SIZE, 0x3333);
                poke(flag, 2);
                check_eq!(c, child.wait(), Ok(0));
                check_eq!(c, peek(flag + 16), 0x3333);
            }
            Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
        }
        free(at, 4);
        check!(c, m.await_releases(1));
    });
    s.isolated("rgn_init_is_a_snapshot_pulled_in_during_the_call", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let base = usage();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(4);
        if !map_at(c, &m, at, 4, 0, K_WRITABLE) {
            return;
        }
        poke8(at, 0xAA);
        check_eq!(c, PULLS.load(SeqCst), 1);
        let mut d = rgn(0, 4 * PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
        check_eq!(c, rgn_init(Actor::Me, &mut d, &m.obj(0)), Ok(()));
        // Pages 1..4 came in during the call, as one request.
        check_eq!(c, PULLED_SET.load(SeqCst), 0b1111);
        check_eq!(c, PULLS.load(SeqCst), 2);
        let copy = d.startAddr;
        check_eq!(c, stat(Actor::Me, copy, 4 * PAGE_SIZE).1[0].resident, 4);
        check_eq!(c, peek8(copy), 0xAA);
        check_eq!(c, peek8(copy + 3 * PAGE_SIZE + 512), byte_of(3, 512));
        poke8(at, 0xBB);
        poke8(copy + PAGE_SIZE, 0xCC);
        check_eq!(
            c,
            peek8(copy),
            0xAA,
            "later writes to the segment are not seen"
        );
        check_eq!(
            c,
            peek8(at + PAGE_SIZE),
            byte_of(1, 0),
            "writes to the copy are not seen"
        );
        // A RGN_INIT whose every page is in the cache needs no mapper.
        let mut d2 = rgn(0, PAGE_SIZE, K_ANYWHERE);
        check_eq!(c, rgn_init(Actor::Me, &mut d2, &m.obj(0)), Ok(()));
        check_eq!(c, PULLS.load(SeqCst), 2);
        check_eq!(c, peek8(d2.startAddr), 0xBB);
        free(d2.startAddr, 1);
        free(at, 4);
        check!(c, m.await_releases(1));
        check_eq!(
            c,
            PUSHED_SET.load(SeqCst),
            1,
            "only page 0 was written through the segment"
        );
        check_eq!(c, peek8(copy), 0xAA, "the copy outlives the cache");
        free(copy, 4);
        drop(m);
        at_baseline(c, base, "baseline");
    });
}

/// RGN_DUP of mapper-backed regions (ABI §4.4 rule 4).
fn duplication(s: &mut Suite) {
    s.isolated(
        "rgn_dup_copy_pulls_in_then_snapshots_and_share_maps_the_cache",
        |c| {
            touch_stack();
            let (store, xfer) = buffers();
            let base = usage();
            let m = TestMapper::start(&store, &xfer);
            let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("shared");
            let flag = shared.addr();
            poke(flag, 0);
            let at = hole_of(4);
            let sh = hole_of(1) + 64 * PAGE_SIZE;
            if !map_at(c, &m, at, 4, 0, K_WRITABLE | K_INHERITCOPY)
                || !map_at(c, &m, sh, 1, 8 * PAGE_SIZE, K_WRITABLE | K_INHERITSHARE)
            {
                return;
            }
            poke8(at, 0x10);
            check_eq!(c, PULLS.load(SeqCst), 1);
            // fork is RGN_DUP with flags 0: the K_INHERITCOPY region is copied.
            match fork() {
                Ok(Fork::Child) => {
                    while peek(flag) != 1 {
                        api::yield_thread();
                    }
                    poke(flag + 8, u64::from(peek8(at)));
                    poke(flag + 16, u64::from(peek8(at + 3 * PAGE_SIZE + 512)));
                    poke(flag + 24, u64::from(peek8(sh)));
                    poke8(at + PAGE_SIZE, 0x99);
                    poke8(sh + 1, 0x55);
                    poke(flag, 2);
                    api::exit_thread()
                }
                Ok(Fork::Parent(child)) => {
                    check_eq!(
                        c,
                        PULLED_SET.load(SeqCst),
                        0b1111,
                        "missing pages came in during the call"
                    );
                    poke8(at, 0x20);
                    poke8(sh, 0x66);
                    poke(flag, 1);
                    check_eq!(c, child.wait(), Ok(0));
                    check_eq!(c, peek(flag + 8), 0x10, "the copy is a snapshot");
                    check_eq!(c, peek(flag + 16), u64::from(byte_of(3, 512)));
                    check_eq!(
                        c,
                        peek(flag + 24),
                        0x66,
                        "the shared region maps the same cache"
                    );
                    check_eq!(
                        c,
                        peek8(at + PAGE_SIZE),
                        byte_of(1, 0),
                        "the child's writes stay its own"
                    );
                    check_eq!(c, peek8(sh + 1), 0x55);
                }
                Err(e) => c.fail(file!(), line!(), format_args!("fork: {e}")),
            }
            // A refused pull-in during RGN_DUP: the diag as is, the target empty.
            let at2 = hole_of(2);
            if map_at(c, &m, at2, 2, 16 * PAGE_SIZE, K_INHERITCOPY) {
                MODE.store(Mode::Diag as u64, SeqCst);
                let p = 30;
                check_eq!(c, api::create_process(p), Ok(()));
                let cap = api::actor_cap(p).unwrap_or_default();
                let r = raw(K_SYS_RGN_DUP, &cap as *const KnCap as u64, K_MYACTOR, 0);
                check_eq!(c, r.arg0 as i64, -42);
                let mut st = [abi::types::KnRgnStat::default(); 1];
                check_eq!(
                    c,
                    api::rgn_stat(Actor::Cap(&cap), &rgn(0, USER_LIMIT, 0), &mut st),
                    Ok(0)
                );
                MODE.store(Mode::Short as u64, SeqCst);
                let r = raw(K_SYS_RGN_DUP, &cap as *const KnCap as u64, K_MYACTOR, 0);
                check_eq!(c, r.arg0 as i64, K_EMAPPER);
                MODE.store(Mode::Good as u64, SeqCst);
                let _ = api::destroy(p);
                let _ = api::close(p);
                free(at2, 2);
            }
            free(at, 4);
            free(sh, 1);
            check!(c, m.await_releases(1));
            drop(m);
            drop(shared);
            at_baseline(c, base, "baseline");
        },
    );
}

/// RGN_MAP_FROM_ACTOR / RGN_INIT_FROM_ACTOR (ABI §4.3).
fn range_calls(s: &mut Suite) {
    s.isolated("range_calls_errors_in_order", |c| {
        touch_stack();
        let base = usage();
        let src = Region::anywhere(4, K_WRITABLE).expect("src");
        let busy = Region::anywhere(1, K_WRITABLE).expect("busy");
        let at = hole_of(4);
        let gap = hole_of(2);
        let bad_actor = KnCap {
            ui: KnUniqueId {
                head: 0x0800_0000 | UI_STAMP_MASK,
                tail: 1,
            },
            key: KnKey::default(),
        };
        let inconsistent = KnCap {
            ui: KnUniqueId {
                head: 0x1800_0001,
                tail: 1,
            },
            key: KnKey::default(),
        };
        for num in [K_SYS_RGN_MAP_FROM_ACTOR, K_SYS_RGN_INIT_FROM_ACTOR] {
            let call = |tc: u64, td: &KnRgnDesc, sc: u64, sd: &KnRgnDesc| -> i64 {
                let a = KnRgnFromActorArgs {
                    tgtactorcap: tc,
                    tgtrgndesc: td as *const KnRgnDesc as u64,
                    srcactorcap: sc,
                    srcrgndesc: sd as *const KnRgnDesc as u64,
                };
                raw(num, &a as *const KnRgnFromActorArgs as u64, 0, 0).arg0 as i64
            };
            let tgt = rgn(at, 2 * PAGE_SIZE, K_WRITABLE);
            let sr = rgn(src.addr(), 0, 0);
            let me = K_MYACTOR;
            // K_EFAULT: the structure and each of its four pointers.
            check_eq!(c, raw(num, 0, 0, 0).arg0 as i64, K_EFAULT, "{num}");
            check_eq!(c, raw(num, KERNEL, 0, 0).arg0 as i64, K_EFAULT);
            let args = |tc, td, sc, sd| KnRgnFromActorArgs {
                tgtactorcap: tc,
                tgtrgndesc: td,
                srcactorcap: sc,
                srcrgndesc: sd,
            };
            let callp = |a: KnRgnFromActorArgs| {
                raw(num, &a as *const KnRgnFromActorArgs as u64, 0, 0).arg0 as i64
            };
            let tp = &tgt as *const KnRgnDesc as u64;
            let sp = &sr as *const KnRgnDesc as u64;
            check_eq!(c, callp(args(0, tp, me, sp)), K_EFAULT);
            check_eq!(c, callp(args(me, 0, me, sp)), K_EFAULT);
            check_eq!(c, callp(args(me, tp, KERNEL, sp)), K_EFAULT);
            check_eq!(c, callp(args(K_SVACTOR, tp, me, KERNEL)), K_EFAULT);
            // Capabilities: inconsistent before unknown, either side.
            let bad = &bad_actor as *const KnCap as u64;
            let inc = &inconsistent as *const KnCap as u64;
            check_eq!(c, callp(args(bad, tp, K_SVACTOR, sp)), K_EINVAL);
            check_eq!(c, callp(args(inc, tp, me, sp)), K_EINVAL);
            check_eq!(c, callp(args(me, tp, bad, sp)), K_EUNKNOWN);
            // The descriptors and the source range.
            check_eq!(c, call(me, &rgn(at + 1, PAGE_SIZE, 0), me, &sr), K_EINVAL);
            check_eq!(c, call(me, &rgn(at, 0, 0), me, &sr), K_EINVAL);
            check_eq!(
                c,
                call(me, &rgn(at, PAGE_SIZE, K_NOACCESS), me, &sr),
                K_EINVAL
            );
            check_eq!(c, call(me, &tgt, me, &rgn(src.addr() + 8, 0, 0)), K_EINVAL);
            check_eq!(
                c,
                call(me, &tgt, me, &rgn(src.addr(), PAGE_SIZE, 0)),
                K_EINVAL,
                "src size"
            );
            check_eq!(
                c,
                call(me, &tgt, me, &rgn(USER_LIMIT - PAGE_SIZE, 0, 0)),
                K_EINVAL
            );
            check_eq!(
                c,
                call(me, &tgt, me, &rgn(gap, 0, 0)),
                K_EINVAL,
                "source hole"
            );
            check_eq!(
                c,
                call(me, &rgn(at, 6 * PAGE_SIZE, 0), me, &sr),
                K_EINVAL,
                "hole past the source"
            );
            // Overlap, then memory.
            check_eq!(
                c,
                call(me, &rgn(busy.addr(), PAGE_SIZE, 0), me, &sr),
                K_EOVERLAP
            );
            check_eq!(c, region_count(at, 4), 0, "nothing created");
        }
        drop(src);
        drop(busy);
        at_baseline(c, base, "baseline");
    });
    s.isolated("range_calls_share_or_snapshot_and_pull_in", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let base = usage();
        let m = TestMapper::start(&store, &xfer);
        let src = Region::anywhere(2, K_WRITABLE).expect("src");
        poke(src.addr(), 1);
        poke(src.page(1), 2);
        // Share into a child process: writes seen both ways.
        let p = 31;
        check_eq!(c, api::create_process(p), Ok(()));
        let cap = api::actor_cap(p).unwrap_or_default();
        let mut tgt = rgn(0, 2 * PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
        let sr = rgn(src.addr(), 2 * PAGE_SIZE, 0);
        let a = ferrite_rt::mapper::range_args(Actor::Cap(&cap), &mut tgt, Actor::Me, &sr);
        check_eq!(c, ferrite_rt::mapper::rgn_map_from_actor(&a), Ok(()));
        let tgt = core::hint::black_box(tgt);
        check!(c, tgt.startAddr >= USER_BASE, "start written back");
        check_eq!(
            c,
            stat(Actor::Cap(&cap), tgt.startAddr, 2 * PAGE_SIZE).0,
            Ok(1)
        );
        // Copy of our own range into ourselves: a snapshot.
        let mut cp = rgn(0, 2 * PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
        let a = ferrite_rt::mapper::range_args(Actor::Me, &mut cp, Actor::Me, &sr);
        check_eq!(c, ferrite_rt::mapper::rgn_init_from_actor(&a), Ok(()));
        let cp = core::hint::black_box(cp);
        poke(src.addr(), 10);
        check_eq!(c, peek(cp.startAddr), 1);
        check_eq!(c, peek(cp.startAddr + PAGE_SIZE), 2);
        poke(cp.startAddr, 20);
        check_eq!(c, peek(src.addr()), 10);
        // MCLONE back from the child shows the share saw our write.
        let back = hole_of(2);
        check_eq!(
            c,
            api::mclone_range(p, SELF, tgt.startAddr, back, 2 * PAGE_SIZE, JINUE_PROT_READ),
            Ok(())
        );
        check_eq!(c, peek(back), 10, "the shared range sees the source");
        free(back, 2);
        free(cp.startAddr, 2);
        // A copy of a mapper-backed range pulls in its missing pages first.
        let seg = hole_of(4);
        if map_at(c, &m, seg, 4, 0, K_WRITABLE) {
            poke8(seg, 0x42);
            let before = PULLS.load(SeqCst);
            let mut cp = rgn(0, 4 * PAGE_SIZE, K_ANYWHERE);
            let sr = rgn(seg, 0, 0);
            let a = ferrite_rt::mapper::range_args(Actor::Me, &mut cp, Actor::Me, &sr);
            check_eq!(c, ferrite_rt::mapper::rgn_init_from_actor(&a), Ok(()));
            let cp = core::hint::black_box(cp);
            check_eq!(
                c,
                PULLS.load(SeqCst) - before,
                1,
                "pages 1-3 in one request"
            );
            check_eq!(c, peek8(cp.startAddr), 0x42);
            check_eq!(
                c,
                peek8(cp.startAddr + 2 * PAGE_SIZE + 512),
                byte_of(2, 512)
            );
            poke8(seg, 0x43);
            check_eq!(c, peek8(cp.startAddr), 0x42, "a snapshot");
            // Shared: the same cache.
            let mut sh = rgn(0, 4 * PAGE_SIZE, K_ANYWHERE);
            let a = ferrite_rt::mapper::range_args(Actor::Me, &mut sh, Actor::Me, &sr);
            check_eq!(c, ferrite_rt::mapper::rgn_map_from_actor(&a), Ok(()));
            let sh = core::hint::black_box(sh);
            check_eq!(c, peek8(sh.startAddr), 0x43);
            // A refused pull-in: the diag as is, nothing created.
            let seg2 = hole_of(2);
            if map_at(c, &m, seg2, 2, 20 * PAGE_SIZE, 0) {
                MODE.store(Mode::Diag as u64, SeqCst);
                let at = hole_of(2);
                let mut t2 = rgn(at, 2 * PAGE_SIZE, 0);
                let sr2 = rgn(seg2, 0, 0);
                let a = ferrite_rt::mapper::range_args(Actor::Me, &mut t2, Actor::Me, &sr2);
                check_eq!(c, ferrite_rt::mapper::rgn_init_from_actor(&a), Err(-42));
                check_eq!(c, region_count(at, 2), 0);
                MODE.store(Mode::Good as u64, SeqCst);
                free(seg2, 2);
            }
            free(cp.startAddr, 4);
            free(sh.startAddr, 4);
            free(seg, 4);
        }
        check!(c, m.await_releases(1));
        let _ = api::destroy(p);
        let _ = api::close(p);
        drop(src);
        drop(m);
        at_baseline(c, base, "baseline");
    });
}

/// Every kind of protocol violation, and refusals.
fn violations(s: &mut Suite) {
    s.isolated(
        "violations_give_k_emapper_and_leave_the_target_empty",
        |c| {
            touch_stack();
            let (store, xfer) = buffers();
            let base = usage();
            for (mode, want, reply) in [
                (Mode::Diag, -42, 0),
                (Mode::Short, K_EMAPPER, Inval.number() as i64),
                (Mode::PositiveDiag, K_EMAPPER, Inval.number() as i64),
                (Mode::Unaligned, K_EMAPPER, Inval.number() as i64),
                (Mode::Unreadable, K_EMAPPER, Inval.number() as i64),
                (Mode::ReplyError, K_EMAPPER, 0),
                (Mode::Die, K_EMAPPER, -1),
            ] {
                let m = TestMapper::start(&store, &xfer);
                MODE.store(mode as u64, SeqCst);
                let at = hole_of(2);
                let mut d = rgn(at, 2 * PAGE_SIZE, K_WRITABLE);
                check_eq!(
                    c,
                    rgn_init(Actor::Me, &mut d, &m.obj(0)),
                    Err(want),
                    "{mode:?}"
                );
                check_eq!(c, region_count(at, 2), 0, "{mode:?}: target empty");
                if mode != Mode::Die {
                    wait_for(|| REPLY_ERR.load(SeqCst) != -1, Patience::DEFAULT);
                    check_eq!(
                        c,
                        REPLY_ERR.load(SeqCst),
                        reply,
                        "{mode:?}: the mapper's REPLY"
                    );
                    check_eq!(
                        c,
                        AFTER.load(SeqCst),
                        JinueError::NoMsg.number() as i64,
                        "{mode:?}: the request ended"
                    );
                }
                MODE.store(Mode::Good as u64, SeqCst);
                drop(m);
            }
            // A reply longer than 16 bytes is E2BIG and the request is kept.
            let m = TestMapper::start(&store, &xfer);
            MODE.store(Mode::Long as u64, SeqCst);
            let mut d = rgn(0, PAGE_SIZE, K_ANYWHERE);
            check_eq!(c, rgn_init(Actor::Me, &mut d, &m.obj(0)), Ok(()));
            check_eq!(c, LONG.load(SeqCst), JinueError::TooBig.number() as i64);
            // The mapper notes its REPLY's result after the call returns,
            // which with several CPUs may be after this thread resumed.
            wait_for(|| REPLY_ERR.load(SeqCst) != -1, Patience::DEFAULT);
            check_eq!(
                c,
                REPLY_ERR.load(SeqCst),
                0,
                "then the proper answer worked"
            );
            check_eq!(c, peek8(d.startAddr + 512), byte_of(0, 512));
            free(d.startAddr, 1);
            drop(m);
            at_baseline(c, base, "baseline");
        },
    );
    s.isolated("a_failed_pull_in_on_a_fault_kills_only_that_thread", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(2);
        if !map_at(c, &m, at, 2, 0, K_WRITABLE) {
            return;
        }
        for mode in [Mode::Diag, Mode::Short, Mode::ReplyError] {
            MODE.store(mode as u64, SeqCst);
            check_eq!(
                c,
                on_thread(|| {
                    peek8(at);
                }),
                Some(1),
                "{mode:?}: killed"
            );
        }
        MODE.store(Mode::Good as u64, SeqCst);
        check_eq!(
            c,
            on_thread(|| {
                peek8(at);
            }),
            Some(0),
            "the page comes in after all"
        );
        check_eq!(c, peek8(at + 512), byte_of(0, 512));
        free(at, 2);
        check!(c, m.await_releases(1));
    });
    s.isolated(
        "concurrent_faults_share_one_pull_in_and_waiters_are_killable",
        |c| {
            touch_stack();
            let (store, xfer) = buffers();
            let base = usage();
            let m = TestMapper::start(&store, &xfer);
            let shared = Region::anywhere(1, K_WRITABLE | K_INHERITSHARE).expect("shared");
            let flag = shared.addr();
            poke(flag, 0);
            let at = hole_of(2);
            if !map_at(c, &m, at, 2, 0, K_WRITABLE) {
                return;
            }
            HOLD.store(1, SeqCst);
            MODE.store(Mode::Hold as u64, SeqCst);
            let t1 = spawn(move || {
                peek8(at + 1);
            });
            let t2 = spawn(move || {
                peek8(at + 2);
            });
            // A child process waits for a pull-in too, and is destroyed meanwhile.
            let obj = m.obj(PAGE_SIZE);
            let child = match fork() {
                Ok(Fork::Child) => {
                    let at3 = hole_of(1);
                    let mut d = rgn(at3, PAGE_SIZE, 0);
                    if rgn_map(Actor::Me, &mut d, &obj).is_ok() {
                        poke(flag, 1);
                        peek8(at3);
                    }
                    api::exit_thread()
                }
                Ok(Fork::Parent(child)) => Some(child),
                Err(_) => None,
            };
            while peek(flag) != 1 {
                api::yield_thread();
            }
            for _ in 0..50 {
                api::yield_thread();
            }
            if let Some(child) = child {
                check_eq!(c, api::destroy(child.process), Ok(()));
                check_eq!(c, child.wait(), Ok(1));
            }
            HOLD.store(0, SeqCst);
            check!(c, t1.is_ok() && t2.is_ok());
            if let (Ok(t1), Ok(t2)) = (t1, t2) {
                check_eq!(c, t1.join(), Ok(0));
                check_eq!(c, t2.join(), Ok(0));
            }
            check_eq!(c, PULLED_SET.load(SeqCst) & 1, 1);
            // The child's pull-in is answered after the destroyed child is
            // gone, maybe on another CPU while this thread goes on.
            wait_for(|| PULLS.load(SeqCst) >= 2, Patience::DEFAULT);
            check_eq!(
                c,
                PULLS.load(SeqCst),
                2,
                "one for page 0 (two threads), one for the child's page"
            );
            MODE.store(Mode::Good as u64, SeqCst);
            free(at, 2);
            check!(c, m.await_releases(1));
            drop(m);
            drop(shared);
            at_baseline(c, base, "baseline");
        },
    );
    s.isolated("small_receive_buffer_and_mapper_gone", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let base = usage();
        // A receiver whose buffers cannot take a request breaks the protocol.
        // In that mode from its first RECEIVE (with several CPUs the thread
        // may reach RECEIVE before a later change of mode).
        let m = TestMapper::start_in(&store, &xfer, Mode::SmallBuffer);
        let at = hole_of(1);
        let mut d = rgn(at, PAGE_SIZE, 0);
        check_eq!(c, rgn_init(Actor::Me, &mut d, &m.obj(0)), Err(K_EMAPPER));
        MODE.store(Mode::Good as u64, SeqCst);
        drop(m);
        // A segment whose mapper is gone: RGN_MAP fails, K_EUNKNOWN.
        let m = TestMapper::start(&store, &xfer);
        let obj = m.obj(0);
        drop(m);
        let mut d = rgn(at, PAGE_SIZE, 0);
        check_eq!(c, rgn_map(Actor::Me, &mut d, &obj), Err(K_EUNKNOWN));
        // Mapped, then the mapper goes: a later fault is killed.
        let m = TestMapper::start(&store, &xfer);
        if map_at(c, &m, at, 1, 0, 0) {
            drop(m);
            check_eq!(
                c,
                on_thread(|| {
                    peek8(at);
                }),
                Some(1)
            );
            free(at, 1);
        }
        at_baseline(c, base, "baseline");
    });
}

/// Write-back, release, remapping before the release.
fn writeback(s: &mut Suite) {
    s.isolated(
        "write_back_delivers_exactly_the_written_pages_then_release",
        |c| {
            touch_stack();
            let (store, xfer) = buffers();
            let base = usage();
            let m = TestMapper::start(&store, &xfer);
            let at = hole_of(20);
            if !map_at(c, &m, at, 20, 0, K_WRITABLE) {
                return;
            }
            for p in [1u64, 2, 5] {
                poke8(at + p * PAGE_SIZE + 512, 0xE0 + p as u8);
            }
            // Read, not written: never pushed out.
            let _ = peek8(at + 9 * PAGE_SIZE);
            free(at, 20);
            check!(c, m.await_releases(1));
            check_eq!(c, PUSHED_SET.load(SeqCst), (1 << 1) | (1 << 2) | (1 << 5));
            check_eq!(
                c,
                PUSHES.load(SeqCst),
                2,
                "pages 1-2 in one request, 5 in another"
            );
            check_eq!(c, PUSHED_PAGES.load(SeqCst), 3);
            check_eq!(
                c,
                LAST[0].load(SeqCst),
                MP_RELEASE,
                "the release comes last"
            );
            check_eq!(c, peek8(store.page(2) + 512), 0xE2);
            check_eq!(c, peek8(store.page(5) + 512), 0xE5);
            drop(m);
            at_baseline(c, base, "released");
        },
    );
    s.isolated("large_write_back_is_split_at_64_kib", |c| {
        let (store, xfer) = buffers();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(20);
        if !map_at(c, &m, at, 20, 0, K_WRITABLE) {
            return;
        }
        for p in 0..20u64 {
            poke8(at + p * PAGE_SIZE, p as u8);
        }
        free(at, 20);
        check!(c, m.await_releases(1));
        check_eq!(c, PUSHES.load(SeqCst), 2);
        check_eq!(c, PUSHED_PAGES.load(SeqCst), 20);
        check_eq!(c, peek8(store.page(19)), 19);
    });
    s.isolated("remapping_before_the_release_sees_the_writes", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(2);
        if !map_at(c, &m, at, 2, 0, K_WRITABLE) {
            return;
        }
        poke8(at, 0x77);
        HOLD.store(1, SeqCst);
        MODE.store(Mode::Hold as u64, SeqCst);
        free(at, 2);
        // The push-out is pending (the mapper is held): map again.
        let at2 = hole_of(2);
        if map_at(c, &m, at2, 2, 0, 0) {
            check_eq!(c, peek8(at2), 0x77, "the cache was reused");
            HOLD.store(0, SeqCst);
            for _ in 0..100 {
                api::yield_thread();
            }
            check_eq!(c, RELEASES.load(SeqCst), 0, "no release while mapped");
            free(at2, 2);
            check!(c, m.await_releases(1));
        }
        HOLD.store(0, SeqCst);
        MODE.store(Mode::Good as u64, SeqCst);
    });
    s.isolated("unmap_again_while_the_mapper_holds_a_push_out", |c| {
        touch_stack();
        let (store, xfer) = buffers();
        let base = usage();
        let m = TestMapper::start(&store, &xfer);
        let at = hole_of(2);
        if !map_at(c, &m, at, 2, 0, K_WRITABLE) {
            return;
        }
        poke8(at, 0x77);
        HOLD.store(1, SeqCst);
        MODE.store(Mode::Hold as u64, SeqCst);
        free(at, 2);
        // The mapper holds the first push-out: map, write, unmap again.
        let at2 = hole_of(2);
        if map_at(c, &m, at2, 2, 0, K_WRITABLE) {
            // Page 0 is in the cache (a new pull-in would wait for the held mapper).
            poke8(at2 + 512, 0x88);
            free(at2, 2);
        }
        HOLD.store(0, SeqCst);
        check!(c, m.await_releases(1));
        for _ in 0..200 {
            api::yield_thread();
        }
        check_eq!(c, peek8(store.page(0)), 0x77);
        check_eq!(
            c,
            peek8(store.page(0) + 512),
            0x88,
            "the later write is back"
        );
        MODE.store(Mode::Good as u64, SeqCst);
        drop(m);
        at_baseline(c, base, "baseline");
    });
}
