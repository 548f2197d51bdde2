//! The host calls of the portable backend, and only these: each is POSIX.1-2008 and exists on
//! Linux, macOS and the BSDs (no openat2, O_PATH, /proc, statx, renameat2, file handles or
//! Linux-only flags). The cfgs pick glibc's 64-bit names of the same calls on Linux, and leave
//! out posix_fallocate where the platform lacks it (macOS).
//!
//! Guests speak Linux: the open flags and lseek whences they send are Linux's values, turned
//! into this host's here.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use fuse_backend_rs::abi::fuse_abi::{stat64, statvfs64};

#[cfg(not(target_os = "linux"))]
use libc::{fstat as fstat_, fstatat as fstatat_, fstatvfs as fstatvfs_};
#[cfg(target_os = "linux")]
use libc::{fstat64 as fstat_, fstatat64 as fstatat_, fstatvfs64 as fstatvfs_};

pub fn err(errno: libc::c_int) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The open(2) flag values of a Linux guest (asm-generic/fcntl.h: x86, arm64, riscv).
pub mod linux {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0;
    pub const O_WRONLY: u32 = 1;
    pub const O_RDWR: u32 = 2;
    pub const O_EXCL: u32 = 0o200;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_DSYNC: u32 = 0o10000;
    /// O_SYNC is __O_SYNC | O_DSYNC.
    pub const O_SYNC: u32 = 0o4010000;
    pub const SEEK_DATA: u32 = 3;
    pub const SEEK_HOLE: u32 = 4;
}

/// This host's open flags for a Linux guest's `flags`: the access mode, append, non-blocking
/// and the sync flags. Creation and truncation are the caller's to add; everything else a
/// guest may set (O_DIRECT, O_NOATIME, O_LARGEFILE, O_CLOEXEC, ...) is dropped.
pub fn open_flags(flags: u32) -> libc::c_int {
    let mut f = match flags & linux::O_ACCMODE {
        0 => libc::O_RDONLY,
        1 => libc::O_WRONLY,
        _ => libc::O_RDWR,
    };
    if flags & linux::O_APPEND != 0 {
        f |= libc::O_APPEND;
    }
    if flags & linux::O_NONBLOCK != 0 {
        f |= libc::O_NONBLOCK;
    }
    if flags & linux::O_SYNC == linux::O_SYNC {
        f |= libc::O_SYNC;
    } else if flags & linux::O_DSYNC != 0 {
        f |= libc::O_DSYNC;
    }
    f
}

/// This host's lseek whence for a Linux guest's.
pub fn whence(w: u32) -> io::Result<libc::c_int> {
    Ok(match w {
        0 => libc::SEEK_SET,
        1 => libc::SEEK_CUR,
        2 => libc::SEEK_END,
        linux::SEEK_DATA => libc::SEEK_DATA,
        linux::SEEK_HOLE => libc::SEEK_HOLE,
        _ => return Err(err(libc::EINVAL)),
    })
}

/// openat(2), close-on-exec.
pub fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: the name is NUL-terminated; the mode is passed as the variadic argument open
    // expects (promoted to an unsigned int).
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    cvt(fd)?;
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<stat64> {
    let mut st = std::mem::MaybeUninit::<stat64>::zeroed();
    // SAFETY: `st` is a writable stat buffer of the type the call fills.
    cvt(unsafe { fstat_(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: the call succeeded and filled it (and it was zeroed before).
    Ok(unsafe { st.assume_init() })
}

/// fstatat(2) of `name` in `dir`, never following a symlink.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<stat64> {
    let mut st = std::mem::MaybeUninit::<stat64>::zeroed();
    // SAFETY: a NUL-terminated name and a writable stat buffer of the type the call fills.
    cvt(unsafe {
        fstatat_(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: the call succeeded and filled it.
    Ok(unsafe { st.assume_init() })
}

pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<statvfs64> {
    let mut st = std::mem::MaybeUninit::<statvfs64>::zeroed();
    // SAFETY: a writable statvfs buffer of the type the call fills.
    cvt(unsafe { fstatvfs_(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: the call succeeded and filled it.
    Ok(unsafe { st.assume_init() })
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: a NUL-terminated name; no memory is written.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, rdev: u32) -> io::Result<()> {
    // SAFETY: a NUL-terminated name; no memory is written.
    cvt(unsafe {
        libc::mknodat(
            dir.as_raw_fd(),
            name.as_ptr(),
            mode as libc::mode_t,
            rdev as libc::dev_t,
        )
    })
    .map(drop)
}

pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated strings; no memory is written.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the buffer is writable for its whole length, which is what is passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n.unsigned_abs());
    Ok(buf)
}

/// linkat(2) without AT_SYMLINK_FOLLOW: a symlink is linked, never its target.
pub fn linkat(
    olddir: BorrowedFd<'_>,
    oldname: &CStr,
    newdir: BorrowedFd<'_>,
    newname: &CStr,
) -> io::Result<()> {
    // SAFETY: NUL-terminated names; no memory is written.
    cvt(unsafe {
        libc::linkat(
            olddir.as_raw_fd(),
            oldname.as_ptr(),
            newdir.as_raw_fd(),
            newname.as_ptr(),
            0,
        )
    })
    .map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: a NUL-terminated name; no memory is written.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

pub fn renameat(
    olddir: BorrowedFd<'_>,
    oldname: &CStr,
    newdir: BorrowedFd<'_>,
    newname: &CStr,
) -> io::Result<()> {
    // SAFETY: NUL-terminated names; no memory is written.
    cvt(unsafe {
        libc::renameat(
            olddir.as_raw_fd(),
            oldname.as_ptr(),
            newdir.as_raw_fd(),
            newname.as_ptr(),
        )
    })
    .map(drop)
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// fchmodat(2) with AT_SYMLINK_NOFOLLOW: never the target of a symlink. The BSDs and macOS do
/// it in their kernels; glibc before 2.39 does it through /proc (which a sandbox hides), so on
/// Linux it is the kernel's fchmodat2 (Linux 6.6), and EOPNOTSUPP where that is missing.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a NUL-terminated name; no memory is written.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fchmodat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                mode,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match r {
            0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ENOSYS) => Err(err(libc::EOPNOTSUPP)),
                e => Err(e),
            },
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: a NUL-terminated name; no memory is written.
        cvt(unsafe {
            libc::fchmodat(
                dir.as_raw_fd(),
                name.as_ptr(),
                mode as libc::mode_t,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(drop)
    }
}

pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// fchownat(2) with AT_SYMLINK_NOFOLLOW (lchown): a symlink itself, never its target.
pub fn chown_at(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: a NUL-terminated name; no memory is written.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> io::Result<()> {
    let size = libc::off_t::try_from(size).map_err(|_| err(libc::EFBIG))?;
    // SAFETY: no memory is passed.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) }).map(drop)
}

pub fn futimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: `times` points to the two timespecs the call reads.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(drop)
}

/// utimensat(2) with AT_SYMLINK_NOFOLLOW.
pub fn utimes_at(dir: BorrowedFd<'_>, name: &CStr, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: a NUL-terminated name and the two timespecs the call reads.
    cvt(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no memory is passed.
    cvt(unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

pub fn lseek(fd: BorrowedFd<'_>, offset: u64, whence: libc::c_int) -> io::Result<u64> {
    let off = libc::off_t::try_from(offset).map_err(|_| err(libc::EINVAL))?;
    // SAFETY: no memory is passed.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), off, whence) };
    u64::try_from(r).map_err(|_| io::Error::last_os_error())
}

/// posix_fallocate(3): space for [offset, offset + len), the size grown to cover it.
#[cfg(not(target_os = "macos"))]
pub fn allocate(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let off = libc::off_t::try_from(offset).map_err(|_| err(libc::EFBIG))?;
    let len = libc::off_t::try_from(len).map_err(|_| err(libc::EFBIG))?;
    // SAFETY: no memory is passed.
    match unsafe { libc::posix_fallocate(fd.as_raw_fd(), off, len) } {
        0 => Ok(()),
        e => Err(err(e)),
    }
}

#[cfg(target_os = "macos")]
pub fn allocate(_fd: BorrowedFd<'_>, _offset: u64, _len: u64) -> io::Result<()> {
    Err(err(libc::EOPNOTSUPP))
}

/// Clears O_NONBLOCK on an fd opened with it (to open without blocking on a FIFO swapped in).
pub fn clear_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument and writes no memory.
    let fl = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: F_SETFL takes an int and writes no memory.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) }).map(drop)
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEnt {
    pub name: CString,
    pub ino: u64,
    /// DT_* (the same values on every POSIX host and in FUSE).
    pub typ: u8,
}

/// Every entry of the directory `dir` but `.` and `..`, read through a fresh fd of it
/// (opendir/readdir).
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<DirEnt>> {
    let fd = openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: `raw` is an open directory fd this function owns; fdopendir takes it over.
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the fd is still ours to close.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
        return Err(e);
    }
    let stream = Stream(d);
    let mut out = Vec::new();
    loop {
        clear_errno();
        // SAFETY: `stream.0` is an open DIR*, used by this thread only.
        let ent = unsafe { libc::readdir(stream.0) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(0) | None => Ok(out),
                Some(_) => Err(e),
            };
        }
        // SAFETY: readdir returned a valid entry, which stays valid until the next readdir on
        // this stream; its name is NUL-terminated.
        let (name, ino, typ) = unsafe {
            let e = &*ent;
            (CStr::from_ptr(e.d_name.as_ptr()), e.d_ino, e.d_type)
        };
        if name == c"." || name == c".." {
            continue;
        }
        out.push(DirEnt {
            name: name.to_owned(),
            ino,
            typ,
        });
    }
}

/// An open directory stream, closed when dropped.
struct Stream(*mut libc::DIR);

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed only here.
        unsafe { libc::closedir(self.0) };
    }
}

/// Sets errno to 0, so that readdir's end of stream (NULL, errno untouched) is told from an
/// error.
fn clear_errno() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: errno is this thread's own.
    unsafe {
        *libc::__errno_location() = 0
    };
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    // SAFETY: errno is this thread's own.
    unsafe {
        *libc::__error() = 0
    };
    #[cfg(any(target_os = "openbsd", target_os = "netbsd"))]
    // SAFETY: errno is this thread's own.
    unsafe {
        *libc::__errno() = 0
    };
}
