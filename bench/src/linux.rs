//! The Linux side: `fork()`, copy-on-write faults and `munmap` of resident anonymous memory, via libc.

use crate::median;
use std::time::Instant;

/// Medians for one size, `None` where the measurement failed.
pub(crate) struct Results {
    /// `fork()` in the parent with that much resident private memory.
    pub(crate) fork_private_ns: Option<u64>,
    /// `fork()` with that much resident `MAP_SHARED` memory.
    pub(crate) fork_shared_ns: Option<u64>,
    /// First write to each page in a forked child, per page (trap included).
    pub(crate) cow_fault_ns_per_page: Option<u64>,
    /// `munmap` of that much resident private memory.
    pub(crate) munmap_ns: Option<u64>,
}

const PAGE_BYTES: usize = 4096;

/// Resident anonymous memory of `npages` 4 KiB pages (THP off, every page written).
struct Mapping {
    addr: *mut u8,
    len_bytes: usize,
}

impl Mapping {
    fn new(npages: u64, shared: bool) -> Option<Self> {
        let len_bytes = npages as usize * PAGE_BYTES;
        let kind = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        // SAFETY: an anonymous mapping at an address of the kernel's choice;
        // no existing memory is affected.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                kind | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return None;
        }
        // 4 KiB pages, as on the Ferrite side (no transparent huge pages).
        // SAFETY: advice on the mapping just created; failure is harmless.
        unsafe { libc::madvise(addr, len_bytes, libc::MADV_NOHUGEPAGE) };
        let mapping = Mapping {
            addr: addr.cast(),
            len_bytes,
        };
        mapping.touch(1);
        Some(mapping)
    }

    /// Writes `value` into the first byte of every page.
    fn touch(&self, value: u8) {
        for off in (0..self.len_bytes).step_by(PAGE_BYTES) {
            // SAFETY: `off < len_bytes`, inside the writable mapping we own.
            unsafe { core::ptr::write_volatile(self.addr.add(off), value) };
        }
    }

    /// Unmaps, returning how long `munmap` took.
    fn unmap(self) -> u64 {
        let start = Instant::now();
        // SAFETY: the mapping was created by `mmap` with this length and
        // nothing refers to it after this call (`self` is consumed).
        unsafe { libc::munmap(self.addr.cast(), self.len_bytes) };
        start.elapsed().as_nanos() as u64
    }
}

/// Times `fork()` as seen by the parent; the child exits at once.
fn time_fork() -> Option<u64> {
    let start = Instant::now();
    // SAFETY: this process is single-threaded; the child only calls `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: leaving the child without running any destructor.
        unsafe { libc::_exit(0) };
    }
    let elapsed = start.elapsed().as_nanos() as u64;
    if pid < 0 {
        return None;
    }
    wait(pid);
    Some(elapsed)
}

fn wait(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waiting for our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Forks; the child writes every page once, timing it, and sends the time back.
fn time_child_cow(mapping: &Mapping) -> Option<u64> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element out array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: this process is single-threaded; the child writes its own copy
    // of the mapping, one pipe message, and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let start = Instant::now();
        mapping.touch(2);
        let elapsed = start.elapsed().as_nanos() as u64;
        let bytes = elapsed.to_ne_bytes();
        // SAFETY: writing 8 bytes from a live buffer to our pipe, then leaving.
        unsafe {
            libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0);
        }
    }
    let mut bytes = [0u8; 8];
    // SAFETY: reading at most 8 bytes into a live buffer; closing our fds.
    let got = unsafe {
        let got = libc::read(fds[0], bytes.as_mut_ptr().cast(), bytes.len());
        libc::close(fds[0]);
        libc::close(fds[1]);
        got
    };
    if pid < 0 {
        return None;
    }
    wait(pid);
    (got == 8).then(|| u64::from_ne_bytes(bytes))
}

fn median_of(reps: usize, mut f: impl FnMut() -> Option<u64>) -> Option<u64> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        samples.push(f()?);
    }
    Some(median(&mut samples))
}

/// Every Linux measurement for `npages` pages.
pub(crate) fn measure(npages: u64, reps: usize) -> Results {
    let private = Mapping::new(npages, false);
    let fork_private_ns = private.as_ref().and_then(|_| median_of(reps, time_fork));
    let cow_fault_ns_per_page = private
        .as_ref()
        .and_then(|m| median_of(reps, || time_child_cow(m)))
        .map(|total| total / npages);
    if let Some(m) = private {
        m.unmap();
    }
    let fork_shared_ns = Mapping::new(npages, true).and_then(|m| {
        let t = median_of(reps, time_fork);
        m.unmap();
        t
    });
    let munmap_ns = median_of(reps, || Mapping::new(npages, false).map(Mapping::unmap));
    Results {
        fork_private_ns,
        fork_shared_ns,
        cow_fault_ns_per_page,
        munmap_ns,
    }
}
