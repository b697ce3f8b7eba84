//! The demo's "file server": a user-level mapper serving files as segments (ABI §4.5).
//!
//! A thread of the demo serves an endpoint with `ferrite_rt::mapper::run`.
//! Two actors map the same file (one cache: each sees the other's writes),
//! one takes a private copy with RGN_INIT, the write-back is printed when the
//! mappings go, and a broken mapper shows `K_EMAPPER`.

use abi::errors::{ChorusError, K_EMAPPER};
use abi::layout::PAGE_SIZE;
use abi::mapper::KnObjDesc;
use abi::region::{K_ANYWHERE, K_WRITABLE};
use abi::types::KnUniqueId;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ferrite_rt::api::{self, rgn, Actor};
use ferrite_rt::mapper::{endpoint_ui, rgn_init, rgn_map, segment, Mapper};
use ferrite_rt::{fork, ipc, println, Fork};

/// The file server's endpoint, and a broken one.
const FILES: u64 = 40;
const BROKEN: u64 = 41;
/// The one file: key 1, four pages, kept in the server's memory.
const FILE_KEY: u64 = 1;
const FILE_PAGES: usize = 4;
const FILE_BYTES: usize = FILE_PAGES * PAGE_SIZE as usize;
/// Where the file is kept: a region of the demo (never served itself).
static FILE: AtomicU64 = AtomicU64::new(0);

fn file_byte(i: usize) -> u8 {
    if i >= FILE_BYTES {
        return 0;
    }
    // SAFETY: `i` lies inside the file's region, mapped writable for the
    // whole demo; only the demo's threads touch it (volatile).
    unsafe { ((FILE.load(Relaxed) + i as u64) as *const u8).read_volatile() }
}

fn set_file_byte(i: usize, b: u8) {
    if i < FILE_BYTES {
        // SAFETY: as in `file_byte`.
        unsafe { ((FILE.load(Relaxed) + i as u64) as *mut u8).write_volatile(b) }
    }
}

/// Writes `text` at byte `at` of the file.
fn put(at: usize, text: &[u8]) {
    for (i, b) in text.iter().enumerate() {
        set_file_byte(at + i, *b);
    }
}

/// The text (up to the first NUL, at most 60 bytes) at `addr` of this process.
fn text_at(addr: u64) -> [u8; 60] {
    let mut out = [0u8; 60];
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: `addr` lies in a region this demo mapped readable, and the
        // volatile read tolerates other actors writing the same page.
        *slot = unsafe { ((addr + i as u64) as *const u8).read_volatile() };
        if *slot == 0 {
            break;
        }
    }
    out
}

fn show(bytes: &[u8]) -> &str {
    let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..n]).unwrap_or("?")
}

fn write_text(addr: u64, text: &[u8]) {
    for (i, b) in text.iter().chain(&[0]).enumerate() {
        // SAFETY: `addr` lies in a writable region this demo mapped.
        unsafe { ((addr + i as u64) as *mut u8).write_volatile(*b) };
    }
}

struct FileServer;

impl Mapper for FileServer {
    fn pull_in(&mut self, key: u64, offset: u64, data: &mut [u8], _access: u64) -> Result<(), i64> {
        if key != FILE_KEY {
            return Err(-2);
        }
        for (i, b) in data.iter_mut().enumerate() {
            *b = file_byte(offset as usize + i);
        }
        println!(
            "  [file server] pull-in of page {} ({} bytes)",
            offset / PAGE_SIZE,
            data.len()
        );
        Ok(())
    }

    fn push_out(&mut self, key: u64, offset: u64, data: &[u8]) -> Result<(), i64> {
        for (i, b) in data.iter().enumerate() {
            set_file_byte(offset as usize + i, *b);
        }
        for (i, page) in data.chunks(PAGE_SIZE as usize).enumerate() {
            println!(
                "  [file server] write-back of file {key}, page {}: \"{}\"",
                offset / PAGE_SIZE + i as u64,
                show(&page[..60])
            );
        }
        Ok(())
    }

    fn release(&mut self, key: u64) {
        println!("  [file server] file {key} released: nobody maps it any more");
    }
}

/// A mapper that answers every request with an 8-byte reply: against the protocol.
fn broken_mapper() {
    let mut buf = [0u8; 64];
    while ipc::receive(BROKEN, &mut [&mut buf]).is_ok() {
        let _ = ipc::reply(&[&[0u8; 8]]);
    }
}

fn file(ui: KnUniqueId) -> KnObjDesc {
    KnObjDesc {
        dataObject: segment(ui, FILE_KEY),
        startOffset: 0,
        size: 0,
    }
}

fn map(obj: &KnObjDesc, options: u64) -> Result<u64, i64> {
    let mut d = rgn(0, FILE_PAGES as u64 * PAGE_SIZE, options | K_ANYWHERE);
    rgn_map(Actor::Me, &mut d, obj)?;
    Ok(d.startAddr)
}

fn unmap(addr: u64) {
    let _ = api::rgn_free(Actor::Me, &rgn(addr, FILE_PAGES as u64 * PAGE_SIZE, 0));
}

/// Runs the whole file-server demo.
///
/// # Errors
///
/// The first call that failed, as a message.
pub fn file_server_demo() -> Result<(), &'static str> {
    println!("--- a file server: segments served by a user-level mapper ---");
    let before = api::memstat().unwrap_or_default();
    let mut store = rgn(0, FILE_BYTES as u64, K_WRITABLE | K_ANYWHERE);
    api::rgn_allocate(Actor::Me, &mut store).map_err(|_| "RGN_ALLOCATE")?;
    FILE.store(store.startAddr, Relaxed);
    put(0, b"page 0 of the file, as stored by the file server");
    put(4096, b"page 1 of the file, original text");
    put(8192, b"page 2 of the file, original text");
    ipc::create_endpoint(FILES).map_err(|_| "CREATE_ENDPOINT")?;
    let ui = endpoint_ui(FILES).map_err(|_| "ENDPOINT_UI")?;
    println!(
        "file server endpoint ui = {{head {:#x}, tail {}}}; file 1 = {{ui, key 1}}",
        ui.head, ui.tail
    );
    let server = ferrite_rt::thread::spawn(|| {
        let _ = ferrite_rt::mapper::run(FILES, &mut FileServer);
    })
    .map_err(|_| "spawn the file server")?;
    let obj = file(ui);
    let a = map(&obj, K_WRITABLE).map_err(|_| "RGN_MAP")?;
    println!("actor A mapped file 1 at {a:#x}; nothing was read yet");
    println!("actor A reads page 0: \"{}\"", show(&text_at(a)));
    write_text(a + PAGE_SIZE, b"page 1 edited by actor A");
    println!("actor A wrote page 1");
    match fork() {
        Ok(Fork::Child) => {
            let b = match map(&obj, K_WRITABLE) {
                Ok(b) => b,
                Err(_) => api::exit_thread(),
            };
            println!(
                "actor B mapped file 1 at {b:#x} and reads page 1: \"{}\"",
                show(&text_at(b + PAGE_SIZE))
            );
            write_text(b + 2 * PAGE_SIZE, b"page 2 edited by actor B");
            println!("actor B wrote page 2 and unmaps the file");
            unmap(b);
            api::exit_thread()
        }
        Ok(Fork::Parent(child)) => {
            let _ = child.wait();
        }
        Err(_) => return Err("fork"),
    }
    println!(
        "actor A reads page 2: \"{}\" (one cache for both actors)",
        show(&text_at(a + 2 * PAGE_SIZE))
    );
    let mut d = rgn(0, FILE_PAGES as u64 * PAGE_SIZE, K_WRITABLE | K_ANYWHERE);
    rgn_init(Actor::Me, &mut d, &obj).map_err(|_| "RGN_INIT")?;
    let copy = d.startAddr;
    println!("actor A took a private copy with RGN_INIT at {copy:#x} (missing page 3 pulled in during the call)");
    write_text(a + PAGE_SIZE, b"page 1 edited again through the file");
    println!(
        "after another write to the file, the copy still reads \"{}\"",
        show(&text_at(copy + PAGE_SIZE))
    );
    println!("actor A unmaps the file: the kernel writes back the written pages, then releases it");
    unmap(a);
    for _ in 0..200 {
        api::yield_thread();
    }
    unmap(copy);
    // K_EMAPPER: a mapper that breaks the protocol.
    ipc::create_endpoint(BROKEN).map_err(|_| "CREATE_ENDPOINT")?;
    let bad_ui = endpoint_ui(BROKEN).map_err(|_| "ENDPOINT_UI")?;
    let broken = ferrite_rt::thread::spawn(broken_mapper).map_err(|_| "spawn")?;
    let mut d = rgn(0, PAGE_SIZE, K_ANYWHERE);
    match rgn_init(Actor::Me, &mut d, &file(bad_ui)) {
        Err(K_EMAPPER) => println!(
            "RGN_INIT of a segment whose mapper replies with 8 bytes: {} (the mapper broke the protocol)",
            ChorusError::Mapper.name()
        ),
        other => println!("RGN_INIT of the broken mapper's segment: unexpected {other:?}"),
    }
    let _ = api::destroy(BROKEN);
    let _ = broken.join();
    let _ = api::close(BROKEN);
    let _ = api::destroy(FILES);
    let _ = server.join();
    let _ = api::close(FILES);
    let _ = api::rgn_free(Actor::Me, &rgn(store.startAddr, store.size, 0));
    let after = api::memstat().unwrap_or_default();
    println!(
        "file server demo: user frames {} -> {}, committed {} -> {}",
        before.user_frames, after.user_frames, before.committed_frames, after.committed_frames
    );
    Ok(())
}
