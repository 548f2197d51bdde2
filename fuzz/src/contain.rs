//! The sandbox of the `request_path` target: whatever the fuzzer makes the backend do, it happens
//! in a small tmpfs, never on the host.
//!
//! The fuzzer runs as root, so [`enter`] (called once, before the first input, while the process
//! has one thread) puts the process in a new mount namespace whose root is a fresh tmpfs
//! (`pivot_root`, the old root detached). The only host paths left inside are bind mounts of what
//! libFuzzer itself reads and writes (the corpus directories, the artifact directory, a dict or a
//! reproducer file, all named by absolute paths on the command line), `/proc/<pid>/fd` at
//! `/proc/self/fd` (which the backend reaches its inodes through) and `/dev/null`. The share is
//! `/share`, a tmpfs of 64 MiB and 4,096 inodes, emptied before every input ([`fresh_share`]),
//! so the tree never grows across inputs and every input starts from the same empty directory.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the share is, inside the sandbox.
pub const SHARE: &str = "/share";
/// The host directory the sandbox's root tmpfs is mounted on (in the private namespace only:
/// on the host it stays an empty directory).
pub const ROOT: &str = "/tmp/ferry-fuzz-root";

static ENTERED: AtomicBool = AtomicBool::new(false);
static SHARE_MOUNTED: AtomicBool = AtomicBool::new(false);

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn mount(
    src: &CStr,
    dst: &Path,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: &CStr,
) -> io::Result<()> {
    let d = cstr(dst)?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            d.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    check(r, &format!("mount {}", dst.display()))
}

fn bind(src: &Path, dst: &Path) -> io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
    } else {
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::create(dst)?;
    }
    let s = cstr(src)?;
    mount(&s, dst, c"", libc::MS_BIND | libc::MS_REC, c"")
}

/// Creates the artifact directory, writable by anyone (sticky): a crash or hang can come while
/// the fuzzing thread runs with a guest's uid (the backend's `as_caller`), and libFuzzer writes
/// the input with the thread's credentials.
fn artifact_dir(d: &Path) -> io::Result<()> {
    std::fs::create_dir_all(d)?;
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
}

/// The host paths libFuzzer will open, from the command line: positional corpus directories or
/// input files, `-artifact_prefix`, `-exact_artifact_path`, `-dict`. Relative paths are refused:
/// the backend moves the working directory to /proc/self/fd.
fn libfuzzer_paths() -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for arg in std::env::args_os().skip(1) {
        let arg = arg.as_bytes();
        let path = if let Some(flag) = arg.strip_prefix(b"-") {
            let Some(eq) = flag.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = (&flag[..eq], &flag[eq + 1..]);
            match key {
                b"artifact_prefix" if value.ends_with(b"/") => {
                    let p = PathBuf::from(std::ffi::OsStr::from_bytes(value));
                    artifact_dir(&p)?;
                    p
                }
                b"artifact_prefix" | b"exact_artifact_path" => {
                    let p = Path::new(std::ffi::OsStr::from_bytes(value));
                    match p.parent() {
                        Some(d) if !d.as_os_str().is_empty() => {
                            artifact_dir(d)?;
                            d.to_path_buf()
                        }
                        _ => p.to_path_buf(),
                    }
                }
                b"dict" => PathBuf::from(std::ffi::OsStr::from_bytes(value)),
                _ => continue,
            }
        } else {
            PathBuf::from(std::ffi::OsStr::from_bytes(arg))
        };
        if !path.is_absolute() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "request_path needs absolute paths on its command line (cargo fuzz passes \
                     them): {}",
                    path.display()
                ),
            ));
        }
        if path.exists() {
            paths.push(path.canonicalize()?);
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Confines the process (see the module documentation). Call once, before the first input and
/// before the process has threads. Panics if it cannot: the target must not run uncontained.
pub fn enter() {
    if ENTERED.load(Ordering::Acquire) {
        return;
    }
    if let Err(e) = try_enter() {
        panic!("request_path: cannot confine the fuzzer ({e}); it needs root and mount namespaces");
    }
    ENTERED.store(true, Ordering::Release);
}

fn try_enter() -> io::Result<()> {
    let paths = libfuzzer_paths()?;
    // SAFETY: unshare takes flags only; the result is checked.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }, "unshare")?;
    // Nothing done here propagates to the host's mounts.
    mount(
        c"none",
        Path::new("/"),
        c"",
        libc::MS_REC | libc::MS_PRIVATE,
        c"",
    )?;
    let root = Path::new(ROOT);
    std::fs::create_dir_all(root)?;
    mount(
        c"tmpfs",
        root,
        c"tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        c"size=16m,mode=0755",
    )?;
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    for p in &paths {
        bind(p, &inside(p))?;
    }
    bind(
        Path::new("/proc/self/fd"),
        &inside(Path::new("/proc/self/fd")),
    )?;
    bind(Path::new("/dev/null"), &inside(Path::new("/dev/null")))?;
    std::fs::create_dir(inside(Path::new(SHARE)))?;

    let r = cstr(root)?;
    // SAFETY: chdir reads the NUL-terminated path; the result is checked.
    check(unsafe { libc::chdir(r.as_ptr()) }, "chdir")?;
    // pivot_root(".", "."): the old root ends up stacked on the new one, then is detached.
    // SAFETY: pivot_root reads two NUL-terminated paths; the result is checked.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    check(if rc == 0 { 0 } else { -1 }, "pivot_root")?;
    // SAFETY: umount2 reads the NUL-terminated path; the result is checked.
    let rc = unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) };
    check(rc, "umount old root")?;
    // SAFETY: as above.
    check(unsafe { libc::chdir(c"/".as_ptr()) }, "chdir /")?;
    if Path::new("/etc").exists() || Path::new("/usr").exists() {
        return Err(io::Error::other("the host root is still visible"));
    }
    Ok(())
}

/// An empty share for one input. The tmpfs at [`SHARE`] is mounted once (mounting one per
/// input costs ~150 µs, most of an input's time); before each input its entries are removed and
/// the root's mode, owner and extended attributes reset, so every input starts from the same
/// empty directory. If that fails, a fresh tmpfs replaces it. The previous backend must have
/// been dropped.
pub fn fresh_share() -> &'static Path {
    assert!(
        ENTERED.load(Ordering::Acquire),
        "request_path: contain::enter() was not called"
    );
    if SHARE_MOUNTED.load(Ordering::Acquire) {
        if wipe().is_ok() {
            return Path::new(SHARE);
        }
        // SAFETY: umount2 reads the NUL-terminated path; the result is checked.
        let r = unsafe { libc::umount2(c"/share".as_ptr(), libc::MNT_DETACH) };
        check(r, "umount /share").expect("the last share unmounts");
        SHARE_MOUNTED.store(false, Ordering::Release);
    }
    mount(
        c"tmpfs",
        Path::new(SHARE),
        c"tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        c"size=64m,nr_inodes=4096,mode=0777",
    )
    .expect("a fresh share");
    SHARE_MOUNTED.store(true, Ordering::Release);
    Path::new(SHARE)
}

/// Empties the share and resets its root to a fresh tmpfs's (mode 0777, owner root, no xattrs).
fn wipe() -> io::Result<()> {
    let share = Path::new(SHARE);
    for e in std::fs::read_dir(share)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(e.path())?;
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    std::os::unix::fs::chown(share, Some(0), Some(0))?;
    std::fs::set_permissions(share, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let mut names = [0u8; 4096];
    // SAFETY: the path is NUL-terminated and the buffer is writable for its length.
    let n = unsafe { libc::listxattr(c"/share".as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    for name in names[..n as usize]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
    {
        let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: both strings are NUL-terminated.
        let r = unsafe { libc::removexattr(c"/share".as_ptr(), c.as_ptr()) };
        check(r, "removexattr")?;
    }
    Ok(())
}
