//! The system calls the agent makes, relative to the mount's directory fd.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A path from the mount's root as a C string ("." for the root itself).
pub fn cpath(p: &[u8]) -> io::Result<CString> {
    let p = if p.is_empty() { b"." as &[u8] } else { p };
    CString::new(p).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn open(p: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `p` is a C string; the returned fd is checked before it is owned.
    let fd = check(unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn openat(dir: BorrowedFd<'_>, p: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `p` is a C string; the returned fd is checked before it is owned.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), p.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdirat(dir: BorrowedFd<'_>, p: &CString) -> io::Result<()> {
    // SAFETY: `p` is a C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), p.as_ptr(), 0o755) }).map(drop)
}

pub fn mknodat(dir: BorrowedFd<'_>, p: &CString, mode: u32) -> io::Result<()> {
    // SAFETY: `p` is a C string.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), p.as_ptr(), mode, 0) }).map(drop)
}

pub fn symlinkat(dir: BorrowedFd<'_>, p: &CString) -> io::Result<()> {
    // SAFETY: both are C strings. The target is never stored: the daemon answers with the
    // host's symlink.
    check(unsafe { libc::symlinkat(c"?".as_ptr(), dir.as_raw_fd(), p.as_ptr()) }).map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, p: &CString, rmdir: bool) -> io::Result<()> {
    let flags = if rmdir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `p` is a C string.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), p.as_ptr(), flags) }).map(drop)
}

pub fn renameat(dir: BorrowedFd<'_>, from: &CString, to: &CString) -> io::Result<()> {
    // SAFETY: both are C strings.
    check(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) })
        .map(drop)
}

/// statx that asks the server (AT_STATX_FORCE_SYNC), not the guest's cache.
pub fn statx_sync(dir: BorrowedFd<'_>, p: &CString) -> io::Result<libc::statx> {
    // SAFETY: statx is plain data, filled by the kernel before it is read.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let flags = libc::AT_STATX_FORCE_SYNC | libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: `p` is a C string and `st` a valid statx to write into.
    check(unsafe {
        libc::statx(
            dir.as_raw_fd(),
            p.as_ptr(),
            flags,
            libc::STATX_BASIC_STATS,
            &mut st,
        )
    })?;
    Ok(st)
}

/// Sets the times `st` holds (the daemon answers the agent's SETATTR without acting on it:
/// the point is the guest's IN_ATTRIB).
pub fn touch_attrs(dir: BorrowedFd<'_>, p: &CString, st: &libc::statx) -> io::Result<()> {
    let ts = |t: libc::statx_timestamp| libc::timespec {
        tv_sec: t.tv_sec,
        tv_nsec: i64::from(t.tv_nsec),
    };
    let times = [ts(st.stx_atime), ts(st.stx_mtime)];
    // SAFETY: `p` is a C string and `times` two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// fallocate(KEEP_SIZE) of one byte: the daemon answers the agent's without acting on it; the
/// guest fires IN_MODIFY.
pub fn fallocate_keep(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers.
    check(unsafe { libc::fallocate(fd.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, 1) }).map(drop)
}

/// pread at offset 0 (the agent node ignores offsets).
pub fn pread0(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// posix_fadvise over the whole file.
pub fn fadvise(fd: BorrowedFd<'_>, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointers.
    match unsafe { libc::posix_fadvise(fd.as_raw_fd(), 0, 0, advice) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Drops the guest's unused dentries and inodes (all filesystems): a resync.
pub fn drop_caches() -> io::Result<()> {
    std::fs::write("/proc/sys/vm/drop_caches", b"2")
}
