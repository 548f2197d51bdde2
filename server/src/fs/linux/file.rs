//! Open files: OPEN, CREATE, TMPFILE, WRITE, COPY_FILE_RANGE, SYNCFS, ACCESS and locks.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use fuse_backend_rs::abi::fuse_abi::{
    CreateIn, OpenOptions, FOPEN_IN_KILL_SUIDGID, LK_FLOCK, WRITE_KILL_PRIV,
};
use fuse_backend_rs::api::filesystem::{Context, Entry, FileLock, ZeroCopyReader};

use super::fds::HeldFd;
use super::handle::Handle;
use super::inode::{Inode, NameKey, Node};
use super::{err, sys, LinuxFs};
use crate::fs::{CopyRange, NO_HANDLE};

/// The fds that carry the guest's POSIX locks: one open file description per (node, lock
/// owner), so host OFD locks behave per guest process as POSIX locks do.
#[derive(Default)]
pub struct LockFds(Mutex<HashMap<(u64, u64), Arc<HeldFd>>>);

impl LinuxFs {
    /// open(2) flags for reopening an inode the guest opened with `flags`.
    fn host_flags(&self, flags: u32) -> libc::c_int {
        let mut f = flags.cast_signed();
        f &= !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_NOFOLLOW);
        if self.writeback.load(std::sync::atomic::Ordering::Relaxed) {
            // With the writeback cache the guest may read pages of a write-only file, and it
            // handles O_APPEND itself.
            if f & libc::O_ACCMODE == libc::O_WRONLY {
                f = (f & !libc::O_ACCMODE) | libc::O_RDWR;
            }
            f &= !libc::O_APPEND;
        }
        if !self.opts.allow_direct_io {
            f &= !libc::O_DIRECT;
        }
        f
    }

    /// FOPEN_* flags for a file or directory the guest opened, from the cache policy.
    pub(super) fn open_options(&self, dir: bool) -> OpenOptions {
        crate::fs::rules::open_options(self.opts.cache, dir)
    }

    /// Refuses to open anything but regular files and directories: symlinks answer as
    /// open(O_NOFOLLOW) does, special files are never opened by the daemon (a FIFO would block
    /// a worker, a device would reach host hardware).
    pub(super) fn check_openable(i: &Inode) -> io::Result<()> {
        match i.kind {
            libc::S_IFREG | libc::S_IFDIR => Ok(()),
            libc::S_IFLNK => Err(err(libc::ELOOP)),
            _ => Err(err(libc::ENXIO)),
        }
    }

    /// Whether zero-message opens were negotiated.
    pub(super) fn zero_open(&self) -> bool {
        self.zero_open.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The open file a request names: the guest's handle `fh` or, with zero-message opens and
    /// `fh` 0, node `node` opened with `access` (a regular file only; the fd counts against
    /// the guest's budget) and kept while the budget has room: for reading with the node, for
    /// writing until the guest stops writing for a second ([`super::writers`]).
    pub(super) fn file(&self, fh: u64, node: u64, access: libc::c_int) -> io::Result<Arc<Handle>> {
        if fh != 0 || !self.zero_open() {
            return self.handles.get(fh, node);
        }
        let i = self.inodes.get(node)?;
        Self::check_openable(&i)?;
        if i.is_dir() {
            return Err(err(libc::EISDIR));
        }
        let reading = access == libc::O_RDONLY;
        let kept = if reading {
            i.reader()
        } else {
            self.writers.get(node)
        };
        if let Some(h) = kept {
            return Ok(h);
        }
        let fd = sys::reopen(self.proc.as_fd(), i.fd().as_raw_fd(), access)?;
        self.make_room();
        let h = self.handles.transient(node, fd)?;
        if self.budget.has_spare() {
            if reading {
                self.inodes.keep_reader(&i, &h);
            } else {
                self.writers.keep(node, &h);
            }
        }
        Ok(h)
    }

    pub(super) fn do_open(
        &self,
        node: u64,
        flags: u32,
        fuse_flags: u32,
    ) -> io::Result<(u64, OpenOptions)> {
        let i = self.inodes.get(node)?;
        Self::check_openable(&i)?;
        if !i.is_dir() && self.zero_open() {
            return Err(err(libc::ENOSYS));
        }
        let f = self.host_flags(flags);
        if i.is_dir() && f & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(err(libc::EISDIR));
        }
        let fd = sys::reopen(self.proc.as_fd(), i.fd().as_raw_fd(), f)?;
        if f & libc::O_TRUNC != 0 {
            self.kill_remapped_caps(node, fd.as_fd())?;
            if self.opts.killpriv_v2 && fuse_flags & FOPEN_IN_KILL_SUIDGID != 0 {
                kill_suidgid(fd.as_fd())?;
            }
        }
        self.make_room();
        let fh = self.handles.insert(node, fd)?;
        Ok((fh, self.open_options(i.is_dir())))
    }

    pub(super) fn do_create(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        a: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let p = self.inodes.get(parent)?;
        let key = Some(self.inodes.name_key(parent, name.to_bytes()));
        let f = self.host_flags(a.flags);
        let mode = self.create_mode(&p, a.mode, a.umask) & 0o7777;
        // Always created exclusively: open(O_CREAT) of an existing name would open whatever is
        // there, a FIFO (blocking the worker) or a device included.
        let created = self.as_caller(ctx, || {
            let fd = sys::openat(
                p.fd(),
                name,
                f | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                mode,
            )?;
            self.undo_umask_fd(&p, fd.as_fd(), mode)?;
            Ok(fd)
        });
        let fd = match created {
            Ok(fd) => fd,
            // Without O_EXCL the guest may open an existing name: as OPEN does, and only a
            // regular file.
            Err(e)
                if e.raw_os_error() == Some(libc::EEXIST)
                    && a.flags.cast_signed() & libc::O_EXCL == 0 =>
            {
                return self.create_existing(&p, name, f, key);
            }
            Err(e) => return Err(e),
        };
        if self.opts.killpriv_v2
            && a.fuse_flags & FOPEN_IN_KILL_SUIDGID != 0
            && f & libc::O_TRUNC != 0
        {
            kill_suidgid(fd.as_fd())?;
        }
        self.entry_with_handle(&p, Some(name), fd, f, key)
    }

    /// CREATE without O_EXCL of a name that exists: the inode behind the name, opened through
    /// its O_PATH fd like OPEN (so never a special file or a symlink's target).
    fn create_existing(
        &self,
        parent: &Node,
        name: &CStr,
        flags: libc::c_int,
        key: Option<NameKey>,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let path = sys::open_beneath(parent.fd(), name, libc::O_PATH)?;
        match sys::fstat(path.as_fd())?.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(err(libc::EISDIR)),
            libc::S_IFLNK => return Err(err(libc::ELOOP)),
            _ => return Err(err(libc::ENXIO)),
        }
        if flags & libc::O_TRUNC != 0 {
            self.kill_remapped_caps_at(path.as_raw_fd())?;
        }
        let fd = sys::reopen(self.proc.as_fd(), path.as_raw_fd(), flags)?;
        self.entry_and_handle(parent, Some(name), path, fd, flags, key)
    }

    /// O_TMPFILE in directory `parent`: an unnamed file the guest may LINK in later.
    pub(super) fn do_tmpfile(
        &self,
        ctx: &Context,
        parent: u64,
        a: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let p = self.inodes.get(parent)?;
        let mut f = self.host_flags(a.flags) & !(libc::O_TRUNC | libc::O_APPEND);
        if f & libc::O_ACCMODE == libc::O_RDONLY {
            f |= libc::O_RDWR;
        }
        let mode = self.create_mode(&p, a.mode, a.umask) & 0o7777;
        let fd = self.as_caller(ctx, || {
            let fd = sys::openat(p.fd(), c".", f | libc::O_TMPFILE, mode)?;
            self.undo_umask_fd(&p, fd.as_fd(), mode)?;
            Ok(fd)
        })?;
        self.entry_with_handle(&p, None, fd, f, None)
    }

    /// The entry and a handle for a file just created through `fd`: the inode is taken from
    /// the fd itself, never from the name, which the host may have changed meanwhile.
    fn entry_with_handle(
        &self,
        parent: &Node,
        name: Option<&CStr>,
        fd: OwnedFd,
        flags: libc::c_int,
        key: Option<NameKey>,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let path = sys::reopen(self.proc.as_fd(), fd.as_raw_fd(), libc::O_PATH)?;
        self.entry_and_handle(parent, name, path, fd, flags, key)
    }

    /// A guest reference to the inode behind `path` (O_PATH, found in `parent` under `name`
    /// and the name key `key` if given) and a handle for `fd`, open on it with `flags`.
    fn entry_and_handle(
        &self,
        parent: &Node,
        name: Option<&CStr>,
        path: OwnedFd,
        fd: OwnedFd,
        flags: libc::c_int,
        key: Option<NameKey>,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let e = self.entry_for(parent, name, path, key)?;
        self.make_room();
        if self.zero_open() {
            // The guest will not RELEASE it: its I/O goes through the node. Writes usually
            // follow a create, so a plain writable fd is kept as the node's writer (closed
            // after the same idle time as one a WRITE opened).
            let plain = libc::O_APPEND | libc::O_DIRECT | libc::O_SYNC | libc::O_DSYNC;
            if flags & libc::O_ACCMODE != libc::O_RDONLY
                && flags & plain == 0
                && self.budget.has_spare()
            {
                if let Ok(h) = self.handles.transient(e.inode, fd) {
                    self.writers.keep(e.inode, &h);
                }
            }
            return Ok((e, None, self.open_options(false)));
        }
        match self.handles.insert(e.inode, fd) {
            Ok(fh) => Ok((e, Some(fh), self.open_options(false))),
            Err(x) => {
                self.inodes.forget(e.inode, 1);
                Err(x)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn do_write(
        &self,
        ctx: &Context,
        node: u64,
        handle: u64,
        r: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        fuse_flags: u32,
    ) -> io::Result<usize> {
        let h = self.file(handle, node, libc::O_WRONLY)?;
        self.kill_remapped_caps(node, h.fd())?;
        let mut f = h.file();
        let n = r.read_to(&mut *f, size as usize, offset)?;
        // The daemon writes as root, which keeps setuid/setgid bits; the host kernel clears them
        // for an unprivileged writer (A4 #24). The guest asks for that with WRITE_KILL_PRIV
        // under killpriv_v2, and a non-root caller gets it whatever the guest asked.
        if !self.is_guest_root(ctx) || (self.opts.killpriv_v2 && fuse_flags & WRITE_KILL_PRIV != 0)
        {
            kill_suidgid(h.fd())?;
        }
        Ok(n)
    }

    pub(super) fn do_copy_file_range(&self, _ctx: &Context, a: &CopyRange) -> io::Result<usize> {
        let hi = self.file(a.fh_in, a.node_in, libc::O_RDONLY)?;
        let ho = self.file(a.fh_out, a.node_out, libc::O_WRONLY)?;
        self.kill_remapped_caps(a.node_out, ho.fd())?;
        let flags = u32::try_from(a.flags).map_err(|_| err(libc::EINVAL))?;
        sys::copy_file_range(hi.fd(), a.off_in, ho.fd(), a.off_out, a.len, flags)
    }

    /// A fresh fd of the regular file `node` for a DAX mapping. A handle the guest names must
    /// be its own open of that node; under zero-message opens handle 0 is the node itself. The
    /// fd is not counted against the guest's budget: the caller closes it once mapped.
    pub(super) fn do_mapping_fd(&self, node: u64, fh: u64, writable: bool) -> io::Result<OwnedFd> {
        // Linux maps by node and names no handle (fh = -1, "not used"): under zero-message
        // opens the guest may never have opened the file here. A handle named is checked.
        let named = fh != NO_HANDLE && (fh != 0 || !self.zero_open());
        if named {
            self.handles.get(fh, node)?;
        }
        let i = self.inodes.get(node)?;
        Self::check_openable(&i)?;
        if i.is_dir() {
            return Err(err(libc::EISDIR));
        }
        let access = if writable {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
        sys::reopen(self.proc.as_fd(), i.fd().as_raw_fd(), access)
    }

    pub(super) fn do_syncfs(&self, node: u64) -> io::Result<()> {
        let i = self.inodes.get(node)?;
        Self::check_openable(&i)?;
        let fd = sys::reopen(
            self.proc.as_fd(),
            i.fd().as_raw_fd(),
            libc::O_RDONLY | libc::O_NONBLOCK,
        )?;
        sys::syncfs(fd.as_fd())
    }

    pub(super) fn do_access(&self, ctx: &Context, node: u64, mask: u32) -> io::Result<()> {
        let i = self.inodes.get(node)?;
        let name = sys::fd_name(i.fd().as_raw_fd());
        self.as_caller(ctx, || {
            sys::faccessat(self.proc.as_fd(), &name, mask.cast_signed())
        })
    }

    /// Locks are served only when offered (`--locks`); otherwise the guest keeps them itself
    /// and never asks.
    fn check_locks(&self) -> io::Result<()> {
        if self.opts.locks {
            Ok(())
        } else {
            Err(err(libc::ENOSYS))
        }
    }

    /// The fd carrying `owner`'s POSIX locks on `node`, opened on first use.
    fn lock_fd(&self, node: u64, owner: u64) -> io::Result<Arc<HeldFd>> {
        let mut m = self.locks.0.lock().map_err(|_| err(libc::ENOLCK))?;
        if let Some(fd) = m.get(&(node, owner)) {
            return Ok(Arc::clone(fd));
        }
        let i = self.inodes.get(node)?;
        if !i.is_reg() {
            return Err(err(libc::EINVAL));
        }
        let raw = i.fd().as_raw_fd();
        let fd = sys::reopen(self.proc.as_fd(), raw, libc::O_RDWR)
            .or_else(|_| sys::reopen(self.proc.as_fd(), raw, libc::O_RDONLY))?;
        self.make_room();
        let fd = Arc::new(self.budget.hold(fd)?);
        m.insert((node, owner), Arc::clone(&fd));
        Ok(fd)
    }

    /// Drops `owner`'s POSIX locks on `node` (FLUSH on close, as POSIX drops a process's locks
    /// when it closes any fd of the file).
    pub(super) fn unlock_owner(&self, node: u64, owner: u64) {
        if let Ok(mut m) = self.locks.0.lock() {
            m.remove(&(node, owner));
        }
    }

    pub(super) fn do_getlk(
        &self,
        node: u64,
        handle: u64,
        owner: u64,
        lock: FileLock,
    ) -> io::Result<FileLock> {
        self.check_locks()?;
        self.handles.get(handle, node)?;
        let fd = self.lock_fd(node, owner)?;
        let mut fl = to_flock(&lock)?;
        sys::fcntl_lock(fd.as_fd(), libc::F_OFD_GETLK, &mut fl)?;
        Ok(from_flock(&fl))
    }

    pub(super) fn do_setlk(
        &self,
        node: u64,
        handle: u64,
        owner: u64,
        lock: FileLock,
        flags: u32,
        wait: bool,
    ) -> io::Result<()> {
        self.check_locks()?;
        let h = self.handles.get(handle, node)?;
        if flags & LK_FLOCK != 0 {
            return flock(h.fd(), lock.lock_type, wait);
        }
        let fd = self.lock_fd(node, owner)?;
        let mut fl = to_flock(&lock)?;
        let cmd = if wait {
            libc::F_OFD_SETLKW
        } else {
            libc::F_OFD_SETLK
        };
        sys::fcntl_lock(fd.as_fd(), cmd, &mut fl)
    }
}

/// Clears setuid, and setgid where group-exec makes it mean setgid, as the kernel does when an
/// unprivileged process writes, truncates or chowns.
fn kill_suidgid(fd: BorrowedFd<'_>) -> io::Result<()> {
    match crate::fs::rules::killed_suidgid(sys::fstat(fd)?.st_mode) {
        Some(mode) => sys::fchmod(fd, mode),
        None => Ok(()),
    }
}

fn flock(fd: BorrowedFd<'_>, typ: u32, wait: bool) -> io::Result<()> {
    let mut op = match typ.cast_signed() {
        libc::F_RDLCK => libc::LOCK_SH,
        libc::F_WRLCK => libc::LOCK_EX,
        libc::F_UNLCK => libc::LOCK_UN,
        _ => return Err(err(libc::EINVAL)),
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    sys::flock(fd, op)
}

/// FUSE lock ranges are inclusive [start, end], end = OFFSET_MAX for "to the end".
fn to_flock(l: &FileLock) -> io::Result<libc::flock64> {
    let typ = match l.lock_type.cast_signed() {
        t @ (libc::F_RDLCK | libc::F_WRLCK | libc::F_UNLCK) => t as libc::c_short,
        _ => return Err(err(libc::EINVAL)),
    };
    let start = i64::try_from(l.start).map_err(|_| err(libc::EINVAL))?;
    let len = if l.end >= i64::MAX as u64 {
        0
    } else if l.end < l.start {
        return Err(err(libc::EINVAL));
    } else {
        i64::try_from(l.end - l.start + 1).map_err(|_| err(libc::EINVAL))?
    };
    // SAFETY: flock64 is plain data; zero is valid for every field.
    let mut fl: libc::flock64 = unsafe { std::mem::zeroed() };
    fl.l_type = typ;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = len;
    Ok(fl)
}

fn from_flock(fl: &libc::flock64) -> FileLock {
    let start = fl.l_start.max(0) as u64;
    let end = if fl.l_len == 0 {
        i64::MAX as u64
    } else {
        start.saturating_add(fl.l_len as u64 - 1)
    };
    FileLock {
        start,
        end,
        lock_type: fl.l_type as u32,
        // OFD locks have no owning process.
        pid: 0,
    }
}
