//! The Linux backend's system calls: thin, checked wrappers, each one `unsafe` block with its
//! reason. Everything is relative to a directory or O_PATH fd; nothing follows a symlink the
//! guest planted.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use fuse_backend_rs::abi::fuse_abi::{stat64, statvfs64};

/// Turns a -1 return into the thread's errno.
fn check<T: PartialOrd + Default>(ret: T) -> io::Result<T> {
    if ret < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(fd)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The empty path that `*at(fd, "", AT_EMPTY_PATH)` calls take.
pub const EMPTY: &CStr = c"";

/// Whether openat2(2) exists (Linux 5.6+); cleared on the first ENOSYS.
static HAVE_OPENAT2: AtomicBool = AtomicBool::new(true);

/// Opens `name` (one checked component) under `dir`, never following a symlink and never leaving
/// `dir`: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS where the
/// kernel has it, otherwise openat with O_NOFOLLOW (the name check already refuses `/` and `..`).
pub fn open_beneath(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if HAVE_OPENAT2.load(Ordering::Relaxed) {
        // SAFETY: open_how is plain data; zero is a valid value for every field.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.resolve =
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: the name is NUL-terminated, `how` outlives the call and its size is passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match owned(ret as libc::c_int) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                HAVE_OPENAT2.store(false, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    openat(dir, name, flags, 0)
}

/// openat(2) with the flags as given (callers add O_NOFOLLOW where a name comes from the guest).
pub fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: the name is NUL-terminated; the result is checked.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })
}

/// The name of an fd inside /proc/self/fd.
pub fn fd_name(fd: RawFd) -> CString {
    // A decimal number never holds a NUL.
    CString::new(fd.to_string()).unwrap_or_default()
}

/// Opens the file an O_PATH fd refers to, through /proc/self/fd (`proc` is that directory).
/// The magic link is followed on purpose: it names exactly the inode the fd holds.
pub fn reopen(proc: BorrowedFd<'_>, fd: RawFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let flags = (flags | libc::O_CLOEXEC) & !(libc::O_NOFOLLOW | libc::O_CREAT | libc::O_EXCL);
    openat(proc, &fd_name(fd), flags, 0)
}

/// lstat of the fd itself (an O_PATH fd is fine).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<stat64> {
    let mut st = MaybeUninit::<stat64>::zeroed();
    // SAFETY: fstatat64 writes one stat64 into `st`; the path is the empty C string.
    check(unsafe {
        libc::fstatat64(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat64 succeeded, so it filled the struct (and it was zeroed before).
    Ok(unsafe { st.assume_init() })
}

/// statx(2) of the fd itself, with the basic fields always asked for.
pub fn statx(fd: BorrowedFd<'_>, flags: libc::c_int, mask: u32) -> io::Result<libc::statx> {
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: statx writes one struct statx into `stx`; the path is the empty C string.
    check(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            flags | libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            mask | libc::STATX_BASIC_STATS,
            stx.as_mut_ptr(),
        )
    })?;
    // SAFETY: statx succeeded and the struct was zeroed before.
    Ok(unsafe { stx.assume_init() })
}

/// What tells one host file from another beyond its stat: the mount it was reached through
/// and its birth time (0 where the filesystem reports none), which tells a reused inode
/// number from the file that had it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    pub mnt: u64,
    pub btime: u64,
}

/// lstat of `name` (one checked component) in `dir`, never following a symlink nor
/// triggering an automount, with the mount id (0 if the kernel does not report it) and the
/// birth time: one statx.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<(stat64, Ident)> {
    stat_mnt(dir, name, libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT)
}

/// [`stat_at`] of the fd itself (an O_PATH fd is fine).
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<(stat64, Ident)> {
    stat_mnt(fd, EMPTY, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
}

fn stat_mnt(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<(stat64, Ident)> {
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: statx writes one struct statx into `stx`; the name is NUL-terminated.
    check(unsafe {
        libc::statx(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags,
            libc::STATX_BASIC_STATS | libc::STATX_MNT_ID | libc::STATX_BTIME,
            stx.as_mut_ptr(),
        )
    })?;
    // SAFETY: statx succeeded and the struct was zeroed before.
    let x = unsafe { stx.assume_init() };
    let mnt = if x.stx_mask & libc::STATX_MNT_ID != 0 {
        x.stx_mnt_id
    } else {
        0
    };
    let btime = if x.stx_mask & libc::STATX_BTIME != 0 {
        (x.stx_btime.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(x.stx_btime.tv_nsec))
    } else {
        0
    };
    Ok((stat64_of(&x), Ident { mnt, btime }))
}

/// MAX_HANDLE_SZ: the largest file handle the kernel makes.
const MAX_HANDLE_SZ: usize = 128;

/// A host file handle (name_to_handle_at): names an inode on its filesystem without holding
/// it open, and stops naming it once the inode is gone (the generation is inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHandle {
    handle_type: i32,
    bytes: Box<[u8]>,
}

/// `struct file_handle` with room for the largest handle.
#[repr(C)]
struct RawHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

/// The file handle of the inode `fd` (an O_PATH fd is fine) refers to.
pub fn file_handle(fd: BorrowedFd<'_>) -> io::Result<FileHandle> {
    let mut raw = RawHandle {
        handle_bytes: MAX_HANDLE_SZ as u32,
        handle_type: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: the kernel writes at most handle_bytes bytes after the header of `raw` and one
    // int into `mount_id`; the path is the empty C string.
    check(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            &mut raw as *mut RawHandle,
            &mut mount_id as *mut libc::c_int,
            libc::AT_EMPTY_PATH,
        )
    })?;
    let n = (raw.handle_bytes as usize).min(MAX_HANDLE_SZ);
    Ok(FileHandle {
        handle_type: raw.handle_type,
        bytes: raw.f_handle[..n].into(),
    })
}

impl FileHandle {
    /// The handle on the filesystem `fsid` as a fanotify info record holds them: fsid,
    /// then struct file_handle (byte count, type, bytes), native endian.
    pub fn key(&self, fsid: [i32; 2]) -> Vec<u8> {
        let mut k = Vec::with_capacity(16 + self.bytes.len());
        k.extend_from_slice(&fsid[0].to_ne_bytes());
        k.extend_from_slice(&fsid[1].to_ne_bytes());
        k.extend_from_slice(&(self.bytes.len() as u32).to_ne_bytes());
        k.extend_from_slice(&self.handle_type.to_ne_bytes());
        k.extend_from_slice(&self.bytes);
        k
    }
}

/// Opens the inode `h` names, on the filesystem `mount` (any fd on it) is on. Needs
/// CAP_DAC_READ_SEARCH; ESTALE once the inode is gone.
pub fn open_by_handle(
    mount: BorrowedFd<'_>,
    h: &FileHandle,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let mut raw = RawHandle {
        handle_bytes: h.bytes.len() as u32,
        handle_type: h.handle_type,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    raw.f_handle[..h.bytes.len()].copy_from_slice(&h.bytes);
    // SAFETY: `raw` holds handle_bytes valid bytes after its header and outlives the call.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            &raw as *const RawHandle,
            flags | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The stat64 that fstatat would have filled for the same file.
fn stat64_of(x: &libc::statx) -> stat64 {
    // SAFETY: stat64 is plain data; zero is valid for every field.
    let mut st: stat64 = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(x.stx_dev_major, x.stx_dev_minor) as _;
    st.st_ino = x.stx_ino as _;
    st.st_nlink = x.stx_nlink as _;
    st.st_mode = u32::from(x.stx_mode) as _;
    st.st_uid = x.stx_uid as _;
    st.st_gid = x.stx_gid as _;
    st.st_rdev = libc::makedev(x.stx_rdev_major, x.stx_rdev_minor) as _;
    st.st_size = x.stx_size.cast_signed();
    st.st_blksize = x.stx_blksize as _;
    st.st_blocks = x.stx_blocks.cast_signed();
    st.st_atime = x.stx_atime.tv_sec as _;
    st.st_atime_nsec = x.stx_atime.tv_nsec as _;
    st.st_mtime = x.stx_mtime.tv_sec as _;
    st.st_mtime_nsec = x.stx_mtime.tv_nsec as _;
    st.st_ctime = x.stx_ctime.tv_sec as _;
    st.st_ctime_nsec = x.stx_ctime.tv_nsec as _;
    st
}

pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<statvfs64> {
    let mut st = MaybeUninit::<statvfs64>::zeroed();
    // SAFETY: fstatvfs64 writes one statvfs64 into `st`.
    check(unsafe { libc::fstatvfs64(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: the call succeeded and the struct was zeroed before.
    Ok(unsafe { st.assume_init() })
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated; the result is checked.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, rdev: u64) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated; the result is checked.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, rdev) }).map(drop)
}

pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated; the target is stored as text, never resolved.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// Hard-links the inode an O_PATH fd holds (symlinks included) as `name` in `dir`:
/// linkat(AT_EMPTY_PATH) where the daemon may (CAP_DAC_READ_SEARCH), else through
/// /proc/self/fd/`fd`.
pub fn link_fd(
    proc: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated; the result is checked.
    let ret = unsafe {
        libc::linkat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    match check(ret) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            link_proc(proc, fd.as_raw_fd(), dir, name)
        }
        r => r.map(drop),
    }
}

/// Hard-links the inode behind /proc/self/fd/`fd` as `name` in `dir`.
fn link_proc(proc: BorrowedFd<'_>, fd: RawFd, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let src = fd_name(fd);
    // SAFETY: both names are NUL-terminated; AT_SYMLINK_FOLLOW follows only the magic link.
    check(unsafe {
        libc::linkat(
            proc.as_raw_fd(),
            src.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated; the result is checked.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

pub fn renameat2(
    olddir: BorrowedFd<'_>,
    old: &CStr,
    newdir: BorrowedFd<'_>,
    new: &CStr,
    flags: u32,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            olddir.as_raw_fd(),
            old.as_ptr(),
            newdir.as_raw_fd(),
            new.as_ptr(),
            flags,
        )
    };
    check(ret).map(drop)
}

/// The target of the symlink an O_PATH fd holds.
pub fn readlink(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    readlink_at(fd, EMPTY)
}

/// Where the fd `fd` leads (its /proc/self/fd link, read through `proc`), if anywhere.
pub fn readlink_fd(proc: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    readlink_at(proc, &fd_name(fd.as_raw_fd())).ok()
}

/// The target of the symlink `name` in `dir` (the empty name: `dir` itself).
fn readlink_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf; `name` is a C string.
    let n = check(unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(n as usize);
    Ok(buf)
}

/// chown of the fd itself (never a symlink's target).
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: the path is the empty C string; the result is checked.
    check(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// chmod of the inode behind /proc/self/fd/`fd`.
pub fn chmod_proc(proc: BorrowedFd<'_>, fd: RawFd, mode: u32) -> io::Result<()> {
    let name = fd_name(fd);
    // SAFETY: the name is NUL-terminated; the result is checked.
    check(unsafe { libc::fchmodat(proc.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// utimensat of the inode behind /proc/self/fd/`fd` (works for symlinks too).
pub fn utimes_proc(proc: BorrowedFd<'_>, fd: RawFd, times: &[libc::timespec; 2]) -> io::Result<()> {
    let name = fd_name(fd);
    // SAFETY: the name is NUL-terminated and `times` holds the two timespecs utimensat reads.
    check(unsafe { libc::utimensat(proc.as_raw_fd(), name.as_ptr(), times.as_ptr(), 0) }).map(drop)
}

pub fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::ftruncate64(fd.as_raw_fd(), len) }).map(drop)
}

pub fn fsync(fd: BorrowedFd<'_>, datasync: bool) -> io::Result<()> {
    // SAFETY: plain syscalls on an fd we hold.
    let ret = unsafe {
        if datasync {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    };
    check(ret).map(drop)
}

pub fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

pub fn fallocate(fd: BorrowedFd<'_>, mode: u32, off: u64, len: u64) -> io::Result<()> {
    let off = i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let len = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::fallocate64(fd.as_raw_fd(), mode.cast_signed(), off, len) }).map(drop)
}

pub fn lseek(fd: BorrowedFd<'_>, off: u64, whence: u32) -> io::Result<u64> {
    let off = i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: plain syscall on an fd we hold.
    let r = check(unsafe { libc::lseek64(fd.as_raw_fd(), off, whence.cast_signed()) })?;
    Ok(r as u64)
}

pub fn copy_file_range(
    fd_in: BorrowedFd<'_>,
    off_in: u64,
    fd_out: BorrowedFd<'_>,
    off_out: u64,
    len: u64,
    flags: u32,
) -> io::Result<usize> {
    let bad = || io::Error::from_raw_os_error(libc::EINVAL);
    let mut oi = i64::try_from(off_in).map_err(|_| bad())?;
    let mut oo = i64::try_from(off_out).map_err(|_| bad())?;
    let len = usize::try_from(len).map_err(|_| bad())?;
    // SAFETY: both offsets are locals the kernel updates; the fds are ours.
    let n = check(unsafe {
        libc::copy_file_range(
            fd_in.as_raw_fd(),
            &mut oi,
            fd_out.as_raw_fd(),
            &mut oo,
            len,
            flags,
        )
    })?;
    Ok(n as usize)
}

/// One batch of raw directory entries from the current position of a directory fd.
pub fn getdents(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getdents64 writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    check(n).map(|n| n as usize)
}

pub fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::flock(fd.as_raw_fd(), op) }).map(drop)
}

/// fcntl with a struct flock (the OFD lock commands).
pub fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock64) -> io::Result<()> {
    // SAFETY: the lock commands read and write one struct flock64, which we pass.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock64) }).map(drop)
}

/// access(2) with the thread's effective ids (AT_EACCESS): those of the caller.
pub fn faccessat(dir: BorrowedFd<'_>, name: &CStr, mask: libc::c_int) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated; the result is checked.
    check(unsafe { libc::faccessat(dir.as_raw_fd(), name.as_ptr(), mask, libc::AT_EACCESS) })
        .map(drop)
}

/// fanotify(7) with directory-entry reporting (FAN_REPORT_DFID_NAME), for the host watcher.
pub mod fanotify {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use super::check;

    /// A notification group reporting each event's directory (fsid and file handle) and name.
    pub fn init() -> io::Result<OwnedFd> {
        let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_REPORT_DFID_NAME;
        let ro = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_LARGEFILE;
        // SAFETY: no pointers; the returned fd is checked before it is owned.
        let fd = check(unsafe { libc::fanotify_init(flags, ro as u32) })?;
        // SAFETY: the kernel just returned this fd to us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Adds (or removes) `mask` on the inode `dir` refers to, an O_PATH fd named through
    /// `proc` (/proc/self/fd: fanotify_mark takes no O_PATH fd itself).
    pub fn mark(
        fan: BorrowedFd<'_>,
        proc: BorrowedFd<'_>,
        dir: BorrowedFd<'_>,
        mask: u64,
        remove: bool,
    ) -> io::Result<()> {
        let op = if remove {
            libc::FAN_MARK_REMOVE
        } else {
            libc::FAN_MARK_ADD
        };
        let name = super::fd_name(dir.as_raw_fd());
        // SAFETY: `name` is a C string that outlives the call.
        check(unsafe {
            libc::fanotify_mark(fan.as_raw_fd(), op, mask, proc.as_raw_fd(), name.as_ptr())
        })?;
        Ok(())
    }

    /// The filesystem id fanotify reports events of `fd`'s filesystem with (statfs's f_fsid).
    pub fn fsid(fd: BorrowedFd<'_>) -> io::Result<[i32; 2]> {
        // SAFETY: statfs is plain data, filled by the kernel before it is read.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid statfs to write into.
        check(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
        // SAFETY: fsid_t is two ints, whatever the libc calls its fields.
        Ok(unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.f_fsid) })
    }

    /// Reads queued events into `buf` (blocks until there are some).
    pub fn read(fan: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let n = check(unsafe { libc::read(fan.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
        Ok(n as usize)
    }
}

/// Whether the process's working directory is /proc/self/fd (the daemon's choice, which
/// survives a chroot: [`super::LinuxFs::use_proc_cwd`]).
static PROC_CWD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes /proc/self/fd (`proc`) the process's working directory, for the calls that have no
/// `*at` form (see [`xattr`]).
pub fn enter_proc_cwd(proc: BorrowedFd<'_>) -> io::Result<()> {
    fchdir(proc)?;
    PROC_CWD.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The process's umask, read without changing it (/proc/self/status, Linux 4.7 and later);
/// None if it cannot be read.
pub fn process_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// Extended attributes of the inode behind /proc/self/fd/`fd`. The xattr calls have no `*at`
/// form: the path is /proc/self/fd/`fd`, or just `fd` once the process's working directory is
/// /proc/self/fd ([`enter_proc_cwd`]: the daemon, whose chroot hides /proc).
pub mod xattr {
    use super::*;

    fn path(fd: RawFd) -> CString {
        if PROC_CWD.load(std::sync::atomic::Ordering::Relaxed) {
            fd_name(fd)
        } else {
            // A decimal number never holds a NUL.
            CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default()
        }
    }

    pub fn get(fd: RawFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
        let p = path(fd);
        // SAFETY: writes at most buf.len() bytes into buf (none when it is empty).
        let n = check(unsafe {
            libc::getxattr(
                p.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        })?;
        Ok(n as usize)
    }

    pub fn list(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
        let p = path(fd);
        // SAFETY: writes at most buf.len() bytes into buf.
        let n = check(unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
        Ok(n as usize)
    }

    pub fn set(fd: RawFd, name: &CStr, value: &[u8], flags: u32) -> io::Result<()> {
        let p = path(fd);
        // SAFETY: reads value.len() bytes of value; strings are NUL-terminated.
        check(unsafe {
            libc::setxattr(
                p.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags.cast_signed(),
            )
        })
        .map(drop)
    }

    pub fn remove(fd: RawFd, name: &CStr) -> io::Result<()> {
        let p = path(fd);
        // SAFETY: both strings are NUL-terminated.
        check(unsafe { libc::removexattr(p.as_ptr(), name.as_ptr()) }).map(drop)
    }
}

/// Makes the process's working directory `dir` (the backend keeps it at /proc/self/fd).
pub fn fchdir(dir: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on an fd we hold.
    check(unsafe { libc::fchdir(dir.as_raw_fd()) }).map(drop)
}

/// Sets this thread's effective uid/gid (raw syscalls: glibc's wrappers would change every thread).
pub fn set_thread_creds(uid: u32, gid: u32) -> io::Result<()> {
    // The gid first: after the uid changes, the thread may no longer change it.
    // SAFETY: raw setresgid/setresuid affect only the calling thread; -1 keeps a value.
    check(unsafe { libc::syscall(libc::SYS_setresgid, -1, gid, -1) })?;
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_setresuid, -1, uid, -1) }).map(drop)
}

/// Restores this thread's effective uid/gid to root.
pub fn restore_root_creds() -> io::Result<()> {
    // SAFETY: raw setresuid/setresgid affect only the calling thread; -1 keeps a value.
    check(unsafe { libc::syscall(libc::SYS_setresuid, -1, 0, -1) })?;
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_setresgid, -1, 0, -1) }).map(drop)
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}
