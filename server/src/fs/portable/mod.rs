//! The portable POSIX backend (`ferryd --backend portable`): what a host without Linux's
//! calls (macOS, the BSDs) can serve, run and tested on Linux.
//!
//! Only POSIX.1-2008 calls (`sys.rs`). What the Linux backend gets from Linux, and what stands
//! here instead:
//!
//! - **Containment without openat2.** Every guest name is one checked component (no `/`, not
//!   `.` or `..`; the one name check in `name.rs`), resolved with an `*at` call relative to
//!   the fd of a directory the guest holds, never as a path; nothing is opened without
//!   O_NOFOLLOW, directories only with O_DIRECTORY, and the calls that act on a name without
//!   opening it take AT_SYMLINK_NOFOLLOW (fstatat, fchownat, utimensat, fchmodat) or never
//!   follow by definition (unlinkat, renameat, linkat without AT_SYMLINK_FOLLOW, readlinkat,
//!   mkdirat, mknodat, symlinkat). A symlink is never followed, so no request leaves the
//!   share. As with O_PATH fds, a directory the host moves out of the share while the guest
//!   holds it stays reachable (the host chose to move it).
//! - **No O_PATH.** Directories are held open; other nodes are known by name (`nodes.rs`),
//!   checked by (device, inode) before each use. Files are opened with O_NONBLOCK and checked
//!   after the open (a FIFO swapped in cannot block a worker, and only a regular file is
//!   kept); O_TRUNC is applied after that check.
//! - **No per-thread credentials.** New entries are made by the daemon, then given to the
//!   caller (uid, and the gid Linux would give: the parent's if it is setgid, else the
//!   caller's) and their mode set again (chown clears setuid bits; the umask may have cut
//!   some), through an fd of what was made where there is one (files, directories),
//!   else by name without following after a check that the name still holds what was made.
//!   The guest kernel checks permissions (virtio-fs mounts with default_permissions).
//! - Not served: extended attributes and POSIX ACLs, locks (the guest keeps them),
//!   O_TMPFILE, copy_file_range, syncfs, statx, hole punching, renameat2 flags, the agent's
//!   host watch, file handles; each answers ENOSYS or EOPNOTSUPP, and the guest falls back or
//!   fails the call as on a filesystem without it.

mod attr;
mod dir;
mod entry;
mod file;
mod handles;
mod nodes;
mod sys;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{
    stat64, statvfs64, CreateIn, FsOptions, OpenOptions, SetattrValid,
};
use fuse_backend_rs::api::filesystem::{
    Context, DirEntry, Entry, FileLock, FileSystem, GetxattrReply, ListxattrReply, ZeroCopyReader,
    ZeroCopyWriter,
};

use crate::config::CachePolicy;
use handles::Handles;
use nodes::{Node, Nodes};
use sys::err;

/// What the backend needs from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache: CachePolicy,
    /// Entry and attribute timeout given to the guest.
    pub timeout: Duration,
    /// The host uid and gid the guest's root acts as (None: not mapped): a caller with that
    /// uid is privileged (may chown, keeps setuid bits on write).
    pub guest_root: Option<(u32, u32)>,
    /// Let the guest create block and character device nodes (EPERM otherwise).
    pub allow_devices: bool,
    /// Zero-message opens of regular files under `auto` and `always` caching: the guest stops
    /// sending OPEN, FLUSH and RELEASE for files and names them by node with handle 0, and each
    /// READ or WRITE opens the file by a checked name.
    pub zero_open: bool,
}

/// The portable backend over one shared directory.
pub struct PortableFs {
    nodes: Nodes,
    handles: Handles,
    opts: Options,
    /// Whether new entries are given to their caller (the daemon runs as root).
    give_away: bool,
    /// Whether zero-message opens are on (negotiated at INIT).
    zero_open: AtomicBool,
}

impl PortableFs {
    /// Opens `root`, an existing directory. Changes nothing of the process.
    pub fn new(root: &Path, opts: Options) -> io::Result<Self> {
        let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|_| err(libc::EINVAL))?;
        let cwd = std::fs::File::open("/")?;
        let fd = sys::openat(cwd.as_fd(), &path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let st = sys::fstat(fd.as_fd())?;
        Ok(PortableFs {
            nodes: Nodes::new(fd, &st),
            handles: Handles::default(),
            opts,
            give_away: sys::geteuid() == 0,
            zero_open: AtomicBool::new(false),
        })
    }

    /// Entry for a fresh reference to node `node` with attributes `st`.
    fn entry(&self, node: u64, st: stat64) -> Entry {
        Entry {
            inode: node,
            generation: 0,
            attr: st,
            attr_flags: 0,
            attr_timeout: self.opts.timeout,
            entry_timeout: self.opts.timeout,
        }
    }

    /// The directory node `node` (ENOTDIR for anything else).
    fn dir_node(&self, node: u64) -> io::Result<Arc<Node>> {
        let n = self.nodes.get(node)?;
        n.dir()?;
        Ok(n)
    }

    /// Whether zero-message opens were negotiated.
    fn zero_open(&self) -> bool {
        self.zero_open.load(Ordering::Relaxed)
    }

    /// Whether the caller is the guest's root (its ids as the session mapped them).
    fn is_guest_root(&self, ctx: &Context) -> bool {
        self.opts.guest_root.is_some_and(|(uid, _)| ctx.uid == uid)
    }

    /// The attributes of `node`: through the guest's handle `fh` if it names one of the node,
    /// else the directory's fd or a name that still leads to the node, else any open file of
    /// it (a file removed while open).
    fn stat_node(&self, node: u64, fh: Option<u64>) -> io::Result<stat64> {
        if let Some(h) = fh.and_then(|fh| self.handles.get(fh, node).ok()) {
            if let Ok(fd) = h.fd() {
                return sys::fstat(fd);
            }
        }
        let n = self.nodes.get(node)?;
        if let Ok(d) = n.dir() {
            return sys::fstat(d);
        }
        match n.locate() {
            Ok((_, _, st)) => Ok(st),
            Err(e) => match (self.handles.any_file_of(node), n.pinned()) {
                (Some(h), _) => sys::fstat(h.fd()?),
                (None, Some(f)) => sys::fstat(f.as_fd()),
                (None, None) => Err(e),
            },
        }
    }
}

/// Operations beyond fuse-backend-rs's `FileSystem` trait: only the DAX mapping fd; the rest
/// answer ENOSYS (the trait's defaults).
impl crate::fs::BackendExt for PortableFs {
    fn mapping_fd(
        &self,
        _ctx: &Context,
        node: u64,
        fh: u64,
        writable: bool,
    ) -> io::Result<OwnedFd> {
        self.do_mapping_fd(node, fh, writable)
    }
}

impl FileSystem for PortableFs {
    type Inode = u64;
    type Handle = u64;

    fn init(&self, capable: FsOptions) -> io::Result<FsOptions> {
        let mut o = FsOptions::DO_READDIRPLUS | FsOptions::READDIRPLUS_AUTO;
        let zero_open = self.opts.zero_open
            && matches!(self.opts.cache, CachePolicy::Auto | CachePolicy::Always)
            && capable.contains(FsOptions::ZERO_MESSAGE_OPEN);
        self.zero_open.store(zero_open, Ordering::Relaxed);
        if zero_open {
            o |= FsOptions::ZERO_MESSAGE_OPEN;
        }
        Ok(o)
    }

    fn lookup(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<Entry> {
        self.do_lookup(parent, name)
    }

    fn forget(&self, _ctx: &Context, inode: u64, count: u64) {
        self.nodes.forget(inode, count);
    }

    fn batch_forget(&self, _ctx: &Context, requests: Vec<(u64, u64)>) {
        for (inode, count) in requests {
            self.nodes.forget(inode, count);
        }
    }

    fn getattr(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: Option<u64>,
    ) -> io::Result<(stat64, Duration)> {
        Ok((self.stat_node(inode, handle)?, self.opts.timeout))
    }

    fn setattr(
        &self,
        ctx: &Context,
        inode: u64,
        attr: stat64,
        handle: Option<u64>,
        valid: SetattrValid,
    ) -> io::Result<(stat64, Duration)> {
        self.do_setattr(ctx, inode, &attr, handle, valid)?;
        Ok((self.stat_node(inode, handle)?, self.opts.timeout))
    }

    fn readlink(&self, _ctx: &Context, inode: u64) -> io::Result<Vec<u8>> {
        let n = self.nodes.get(inode)?;
        if n.kind != libc::S_IFLNK {
            return Err(err(libc::EINVAL));
        }
        let (parent, name, _) = n.locate()?;
        sys::readlinkat(parent.dir()?, &name)
    }

    fn symlink(&self, ctx: &Context, target: &CStr, parent: u64, name: &CStr) -> io::Result<Entry> {
        self.do_symlink(ctx, target, parent, name)
    }

    fn mknod(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.do_mknod(ctx, parent, name, mode, rdev, umask)
    }

    fn mkdir(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.do_mkdir(ctx, parent, name, mode, umask)
    }

    fn unlink(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<()> {
        self.remove(parent, name, 0)
    }

    fn rmdir(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<()> {
        self.remove(parent, name, libc::AT_REMOVEDIR)
    }

    fn rename(
        &self,
        _ctx: &Context,
        olddir: u64,
        oldname: &CStr,
        newdir: u64,
        newname: &CStr,
        flags: u32,
    ) -> io::Result<()> {
        self.do_rename(olddir, oldname, newdir, newname, flags)
    }

    fn link(
        &self,
        _ctx: &Context,
        inode: u64,
        newparent: u64,
        newname: &CStr,
    ) -> io::Result<Entry> {
        self.do_link(inode, newparent, newname)
    }

    fn open(
        &self,
        _ctx: &Context,
        inode: u64,
        flags: u32,
        _fuse_flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions, Option<u32>)> {
        self.do_open(inode, flags).map(|(h, o)| (Some(h), o, None))
    }

    fn create(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        args: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions, Option<u32>)> {
        self.do_create(ctx, parent, name, &args)
            .map(|(e, h, o)| (e, h, o, None))
    }

    fn read(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        w: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
        _lock_owner: Option<u64>,
        _flags: u32,
    ) -> io::Result<usize> {
        let h = self.file(handle, inode, sys::linux::O_RDONLY)?;
        let mut f = h.file()?;
        w.write_from(&mut *f, size as usize, offset)
    }

    fn write(
        &self,
        ctx: &Context,
        inode: u64,
        handle: u64,
        r: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        _lock_owner: Option<u64>,
        _delayed_write: bool,
        _flags: u32,
        _fuse_flags: u32,
    ) -> io::Result<usize> {
        self.do_write(ctx, inode, handle, r, size, offset)
    }

    fn flush(&self, _ctx: &Context, inode: u64, handle: u64, _lock_owner: u64) -> io::Result<()> {
        if handle == 0 && self.zero_open() {
            // Nothing to do on close: the guest need not ask again.
            return Err(err(libc::ENOSYS));
        }
        // Nothing is buffered here; the handle is checked so a bad one still gets EBADF.
        self.handles.get(handle, inode).map(drop)
    }

    fn fsync(&self, _ctx: &Context, inode: u64, _datasync: bool, handle: u64) -> io::Result<()> {
        let h = self.file(handle, inode, sys::linux::O_RDONLY)?;
        match h.fd() {
            Ok(fd) => sys::fsync(fd),
            Err(_) => sys::fsync(self.dir_node(inode)?.dir()?),
        }
    }

    fn fallocate(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        // Only plain allocation (mode 0) is POSIX; hole punching and the other modes are not.
        if mode != 0 {
            return Err(err(libc::EOPNOTSUPP));
        }
        let h = self.file(handle, inode, sys::linux::O_WRONLY)?;
        sys::allocate(h.fd()?, offset, length)
    }

    fn release(
        &self,
        _ctx: &Context,
        inode: u64,
        _flags: u32,
        handle: u64,
        _flush: bool,
        _flock_release: bool,
        _lock_owner: Option<u64>,
    ) -> io::Result<()> {
        if handle == 0 && self.zero_open() {
            // A file created before the guest learnt of zero-message opens.
            return Ok(());
        }
        self.handles.remove(handle, inode).map(drop)
    }

    fn statfs(&self, _ctx: &Context, inode: u64) -> io::Result<statvfs64> {
        let n = self.nodes.get(inode)?;
        match n.dir() {
            Ok(d) => sys::fstatvfs(d),
            Err(_) => sys::fstatvfs(n.locate()?.0.dir()?),
        }
    }

    fn getxattr(
        &self,
        _ctx: &Context,
        _inode: u64,
        _name: &CStr,
        _size: u32,
    ) -> io::Result<GetxattrReply> {
        Err(err(libc::ENOSYS))
    }

    fn listxattr(&self, _ctx: &Context, _inode: u64, _size: u32) -> io::Result<ListxattrReply> {
        Err(err(libc::ENOSYS))
    }

    fn opendir(
        &self,
        _ctx: &Context,
        inode: u64,
        _flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions)> {
        self.do_opendir(inode).map(|(h, o)| (Some(h), o))
    }

    fn readdir(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.do_readdir(inode, handle, size, offset, &mut |d, _| add_entry(d), false)
    }

    fn readdirplus(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry, Entry) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.do_readdir(
            inode,
            handle,
            size,
            offset,
            &mut |d, e| match e {
                Some(e) => add_entry(d, e),
                None => Ok(0),
            },
            true,
        )
    }

    fn fsyncdir(&self, ctx: &Context, inode: u64, datasync: bool, handle: u64) -> io::Result<()> {
        self.fsync(ctx, inode, datasync, handle)
    }

    fn releasedir(&self, _ctx: &Context, inode: u64, _flags: u32, handle: u64) -> io::Result<()> {
        self.handles.remove(handle, inode).map(drop)
    }

    fn lseek(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        offset: u64,
        whence: u32,
    ) -> io::Result<u64> {
        let h = self.file(handle, inode, sys::linux::O_RDONLY)?;
        sys::lseek(h.fd()?, offset, sys::whence(whence)?)
    }

    fn getlk(
        &self,
        _ctx: &Context,
        _inode: u64,
        _handle: u64,
        _owner: u64,
        _lock: FileLock,
        _flags: u32,
    ) -> io::Result<FileLock> {
        Err(err(libc::ENOSYS))
    }
}

#[cfg(test)]
mod tests;
