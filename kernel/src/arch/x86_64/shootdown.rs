//! TLB shootdown across CPUs (`doc/smp.md`): posted flushes, one kick per CPU per call, unloading a dying space.
//!
//! Everything here but `service_leave` runs under the kernel lock. Without
//! PCID a CPU holds translations of a space only while that space is in
//! its CR3 (`PerCpu::loaded_root`); those CPUs are the targets.
//!
//! - `post`: the core changed `root`'s tables; the range is recorded for
//!   every other CPU with `root` loaded.
//! - `commit` (end of every core call): each target still in user mode is
//!   kicked (one IPI, whatever the number of ranges) and waited for until it
//!   is out of user mode. It cannot go back before it takes the kernel lock,
//!   and the first thing it does with the lock is `apply_pending`; so when
//!   the calling thread resumes, no CPU can use a stale translation.
//! - `stop_space`: the same kick-and-wait before a change, so no CPU runs
//!   user code in the space while its tables and frames are torn down.
//! - `release_space`: every other CPU with `root` loaded switches to the
//!   kernel's root before the tables are freed (answered while waiting for
//!   the lock, `service_leave`).

use core::sync::atomic::{AtomicU64, Ordering};

use super::apic;
use super::cpu;
use super::percpu::{self, PerCpu, PENDING_RANGES};

/// Above this many pages a range becomes a full flush (CR3 reload; kernel
/// mappings are global and survive it, Intel SDM vol. 3 §4.10.4.1).
pub const INVLPG_MAX_PAGES: u64 = 32;
/// CPUs with posted flushes that `commit` must wait for (bit = index).
static TARGETS: AtomicU64 = AtomicU64::new(0);
/// The kernel's own root (no user mappings), loaded by a CPU told to leave a space.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// Kicks sent for shootdowns and stops (statistics).
static KICKS: AtomicU64 = AtomicU64::new(0);

/// Sets the root CPUs fall back to (boot).
pub fn set_kernel_root(root: u64) {
    KERNEL_ROOT.store(root, Ordering::Relaxed);
}

/// Kicks sent so far (printed at power-off with `log=debug`).
pub fn kicks() -> u64 {
    KICKS.load(Ordering::Relaxed)
}

/// Invalidates `[start, end)` on this CPU (its loaded root).
pub fn flush_local(start: u64, end: u64) {
    let start = start & !0xFFF;
    let pages = (end - start).div_ceil(4096);
    if pages > INVLPG_MAX_PAGES {
        reload_cr3();
    } else {
        for page in 0..pages {
            cpu::invlpg(start + page * 4096);
        }
    }
}

fn reload_cr3() {
    let root = percpu::this().loaded_root.load(Ordering::Relaxed);
    // SAFETY: reloading the loaded root changes no mapping.
    unsafe { cpu::write_cr3(root) };
}

fn others() -> impl Iterator<Item = &'static PerCpu> {
    let me = percpu::this().index;
    percpu::all().filter(move |c| c.index != me)
}

/// Records `[start, end)` of `root` for every other CPU that has it loaded.
pub fn post(root: u64, start: u64, end: u64) {
    for c in others().filter(|c| c.loaded_root.load(Ordering::Relaxed) == root) {
        // SAFETY: pending flushes are touched only under the kernel lock, which the caller holds.
        let p = unsafe { &mut *c.pending.get() };
        let pages = (end - (start & !0xFFF)).div_ceil(4096);
        if p.count == PENDING_RANGES || pages > INVLPG_MAX_PAGES {
            p.full = true;
        } else if !p.full {
            p.ranges[p.count] = (start, end);
            p.count += 1;
        }
        TARGETS.fetch_or(1 << c.index, Ordering::Relaxed);
    }
}

/// Kicks every CPU in `set` that runs user code and waits until none does.
fn stop_all(set: u64) {
    let targets = || others().filter(move |c| set & (1 << c.index) != 0);
    for c in targets() {
        if c.in_user.load(Ordering::SeqCst) != 0 {
            apic::kick(c.apic_id);
            KICKS.fetch_add(1, Ordering::Relaxed);
        }
    }
    for c in targets() {
        while c.in_user.load(Ordering::SeqCst) != 0 {
            core::hint::spin_loop();
        }
    }
}

/// Completes the posted flushes: no target runs user code on return.
pub fn commit() {
    // Written only under the kernel lock: a plain read tells whether anything was posted.
    if TARGETS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let set = TARGETS.swap(0, Ordering::Relaxed);
    if set != 0 {
        stop_all(set);
    }
}

/// No other CPU runs user code in `root` on return.
pub fn stop_space(root: u64) {
    let set = others()
        .filter(|c| c.in_user.load(Ordering::SeqCst) == root)
        .fold(0, |s, c| s | (1 << c.index));
    if set != 0 {
        stop_all(set);
    }
}

/// CPU `index` runs no user code on return.
pub fn stop_cpu(index: usize) {
    stop_all(1 << index);
}

/// No other CPU has `root` loaded on return.
pub fn release_space(root: u64) {
    let holders = || others().filter(move |c| c.loaded_root.load(Ordering::SeqCst) == root);
    for c in holders() {
        c.leave.store(root, Ordering::SeqCst);
        if c.in_user.load(Ordering::SeqCst) != 0 {
            apic::kick(c.apic_id);
            KICKS.fetch_add(1, Ordering::Relaxed);
        }
    }
    for c in others() {
        while c.leave.load(Ordering::SeqCst) != 0 {
            core::hint::spin_loop();
        }
    }
}

/// Answers a request to unload a space (while waiting for the kernel lock).
pub fn service_leave() {
    let me = percpu::this();
    let root = me.leave.load(Ordering::SeqCst);
    if root == 0 {
        return;
    }
    if me.loaded_root.load(Ordering::Relaxed) == root {
        let kernel_root = KERNEL_ROOT.load(Ordering::Relaxed);
        // SAFETY: the kernel root maps the kernel half like every space, and
        // this CPU is in the kernel, touching no user memory.
        unsafe { cpu::write_cr3(kernel_root) };
        me.loaded_root.store(kernel_root, Ordering::SeqCst);
    }
    me.leave.store(0, Ordering::SeqCst);
}

/// Invalidates what other CPUs posted for this one (kernel lock held).
#[inline]
pub fn apply_pending() {
    let me = percpu::this();
    // SAFETY: pending flushes are touched only under the kernel lock, which the caller holds.
    let p = unsafe { &*me.pending.get() };
    if p.count != 0 || p.full {
        apply_posted(me);
    }
}

/// The flushes posted for `me` (this CPU), done (kernel lock held).
#[cold]
fn apply_posted(me: &PerCpu) {
    // SAFETY: pending flushes are touched only under the kernel lock, which the caller holds.
    let p = unsafe { &mut *me.pending.get() };
    if p.full {
        reload_cr3();
    } else {
        for &(start, end) in &p.ranges[..p.count] {
            flush_local(start, end);
        }
    }
    p.count = 0;
    p.full = false;
}
