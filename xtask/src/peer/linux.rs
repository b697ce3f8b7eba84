//! The Linux guest of `bench --peer`: Debian's kernel, our `/init`, one QEMU boot.
//!
//! The kernel package is fetched with `apt-get download` into a cache
//! (never installed on the host); its `vmlinuz` holds an xz-compressed
//! `vmlinux` ELF, which QEMU boots through its PVH entry (`-kernel`). The
//! benchmark is `bench/peer/linux_init.c`, linked statically as `/init` in
//! an initramfs written by [`super::cpio`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::cpio::{self, Entry};
use crate::qemu;

/// The pinned kernel: Debian bookworm's 6.1 build the notes were measured on.
const PACKAGE: &str = "linux-image-6.1.0-56-amd64";
const VERSION: &str = "6.1.192-2";
/// If the archive dropped the pinned build: the one this meta-package depends on.
const FALLBACK_META: &str = "linux-image-amd64";
/// The guest's command line (before the benchmark's `KEY=value` words).
const CMDLINE: &str = "console=ttyS0 panic=-1 quiet mitigations=off init_on_alloc=0 \
                       nokaslr norandmaps randomize_kstack_offset=off";
/// The benchmark's source, relative to the repository.
const INIT_SOURCE: &str = "bench/peer/linux_init.c";
/// Start of an xz stream (the xz file format, §2.1.1.1).
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0];

/// What the guest boots.
pub struct Guest {
    pub vmlinux: PathBuf,
    pub initramfs: PathBuf,
    /// `package version`, as fetched.
    pub kernel: String,
}

/// The cache of downloaded packages and extracted kernels:
/// `$FERRITE_PEER_CACHE`, else `~/.cache/ferrite-peer`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRITE_PEER_CACHE") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/ferrite-peer"),
        None => crate::root().join("target/peer-cache"),
    }
}

/// Fetches and unpacks the kernel, builds `/init` and the initramfs.
pub fn prepare(work: &Path) -> Result<Guest, String> {
    ensure_tools()?;
    let cache = cache_dir();
    let debs = cache.join("debs");
    mkdir(&debs)?;
    let (package, version, deb) = fetch(&debs)?;
    let vmlinux = cache.join(format!("vmlinux-{package}_{version}"));
    if !vmlinux.is_file() {
        extract_vmlinux(&deb, &vmlinux)?;
    }
    mkdir(work)?;
    let init = work.join("linux_init");
    let mut cc = Command::new("gcc");
    cc.args(["-static", "-O2", "-Wall", "-o"])
        .arg(&init)
        .arg(crate::root().join(INIT_SOURCE));
    crate::run_checked(&mut cc, "compiling the Linux peer's /init")?;
    let init_bytes = read(&init)?;
    let archive = cpio::archive(&[
        Entry::Dir("dev"),
        Entry::CharDevice("dev/console", 5, 1),
        Entry::Dir("proc"),
        Entry::File("init", 0o755, &init_bytes),
    ]);
    let initramfs = work.join("linux_initramfs.cpio");
    std::fs::write(&initramfs, archive)
        .map_err(|e| format!("cannot write {}: {e}", initramfs.display()))?;
    Ok(Guest {
        vmlinux,
        initramfs,
        kernel: format!("Debian {package} {version}"),
    })
}

/// Boots the guest with the same QEMU flags as Ferrite's peer run; returns the console.
pub fn boot(
    guest: &Guest,
    cpu: &str,
    mem_mib: u32,
    env: &str,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let child = Command::new(qemu::QEMU)
        .args(["-accel", "tcg", "-icount", "shift=0", "-machine", "pc"])
        .args(["-cpu", cpu, "-smp", "1", "-m", &mem_mib.to_string()])
        .args(["-display", "none", "-nodefaults", "-serial", "stdio"])
        .args(["-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(&guest.vmlinux)
        .arg("-initrd")
        .arg(&guest.initramfs)
        .arg("-append")
        .arg(format!("{CMDLINE} {env}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu::QEMU))?;
    let console = qemu::collect(child, timeout, false)?;
    if console.timed_out {
        return Err(format!(
            "the Linux guest did not finish within {} s",
            timeout.as_secs()
        ));
    }
    if !console.status.success() {
        return Err(format!(
            "QEMU (Linux guest) ended with {}: {}",
            console.status,
            console.stderr.trim()
        ));
    }
    Ok(console.lines)
}

/// The pinned package from the cache or `apt-get download`; else the
/// current one `linux-image-amd64` depends on. Returns (package, version, file).
fn fetch(debs: &Path) -> Result<(String, String, PathBuf), String> {
    if let Some(deb) = cached(debs, PACKAGE, VERSION) {
        return Ok((PACKAGE.into(), VERSION.into(), deb));
    }
    if download(debs, PACKAGE, VERSION).is_ok() {
        if let Some(deb) = cached(debs, PACKAGE, VERSION) {
            return Ok((PACKAGE.into(), VERSION.into(), deb));
        }
    }
    eprintln!("xtask: {PACKAGE} {VERSION} is not in the archive; falling back to what {FALLBACK_META} depends on (figures move slightly)");
    let (package, version) = meta_dependency()?;
    if cached(debs, &package, &version).is_none() {
        download(debs, &package, &version)?;
    }
    let deb = cached(debs, &package, &version)
        .ok_or_else(|| format!("apt-get download {package}={version} left no .deb"))?;
    Ok((package, version, deb))
}

/// The `.deb` of `package` `version` in `debs`, if there (`:` is `%3a` in file names).
fn cached(debs: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let file = format!("{package}_{}_amd64.deb", version.replace(':', "%3a"));
    let path = debs.join(file);
    path.is_file().then_some(path)
}

/// `apt-get download package=version` into `debs`, after an `apt-get update` if the first try fails.
fn download(debs: &Path, package: &str, version: &str) -> Result<(), String> {
    let spec = format!("{package}={version}");
    let get = || {
        Command::new("apt-get")
            .args(["download", "-qq", &spec])
            .current_dir(debs)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if get() {
        return Ok(());
    }
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    if get() {
        Ok(())
    } else {
        Err(format!("apt-get download {spec} failed"))
    }
}

/// (package, version) that `linux-image-amd64`'s candidate depends on.
fn meta_dependency() -> Result<(String, String), String> {
    let out = Command::new("apt-cache")
        .args(["depends", "--no-recommends", "--no-suggests", FALLBACK_META])
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let package = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .ok_or_else(|| format!("apt-cache depends {FALLBACK_META}: no linux-image dependency"))?
        .to_string();
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", &package])
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .ok_or_else(|| format!("apt-cache show {package}: no version"))?
        .trim()
        .to_string();
    Ok((package, version))
}

/// Takes `boot/vmlinuz-*` out of the package and decompresses its xz payload to `out`.
fn extract_vmlinux(deb: &Path, out: &Path) -> Result<(), String> {
    let tar = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    let tar_out = tar.stdout.ok_or("dpkg-deb: no stdout")?;
    let vmlinuz = Command::new("tar")
        .args(["-x", "-O", "--wildcards", "./boot/vmlinuz-*"])
        .stdin(tar_out)
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !vmlinuz.status.success() || vmlinuz.stdout.is_empty() {
        return Err(format!("{}: no boot/vmlinuz-* inside", deb.display()));
    }
    let image = vmlinuz.stdout;
    let start = image
        .windows(XZ_MAGIC.len())
        .position(|w| w == XZ_MAGIC)
        .ok_or("vmlinuz: no xz payload (the kernel is not xz-compressed)")?;
    // --single-stream: stop at the end of the payload, ignore what follows it.
    let mut xz = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run xz: {e}"))?;
    let mut stdin = xz.stdin.take().ok_or("xz: no stdin")?;
    let payload = image[start..].to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&payload));
    let result = xz
        .wait_with_output()
        .map_err(|e| format!("xz failed: {e}"))?;
    let _ = writer.join();
    if !result.stdout.starts_with(b"\x7fELF") {
        return Err("the decompressed vmlinuz payload is not an ELF vmlinux".into());
    }
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &result.stdout)
        .and_then(|()| std::fs::rename(&partial, out))
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// `gcc` with static glibc, `dpkg-deb`, `tar`, `xz`, `apt-get`: installs the
/// missing Debian packages as root, else says what to install.
fn ensure_tools() -> Result<(), String> {
    let runs = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut missing = Vec::new();
    for (cmd, package) in [("gcc", "gcc"), ("xz", "xz-utils"), ("tar", "tar")] {
        if !runs(cmd) {
            missing.push(package);
        }
    }
    if !Path::new("/usr/lib/x86_64-linux-gnu/libc.a").is_file() {
        missing.push("libc6-dev");
    }
    if !runs("apt-get") || !runs("dpkg-deb") {
        return Err(
            "bench --peer needs Debian's apt-get and dpkg-deb to fetch the Linux kernel".into(),
        );
    }
    if missing.is_empty() {
        return Ok(());
    }
    qemu::apt_install(&missing)
}

fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
