//! ferry's Linux host backend.
//!
//! - Inodes are O_PATH fds (`inode.rs`); lookups go through openat2 with RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (openat + O_NOFOLLOW before Linux 5.6), one
//!   checked name at a time, so no request can leave the shared directory or follow a symlink.
//! - I/O reopens the inode through /proc/self/fd; special files (devices, FIFOs, sockets) and
//!   symlinks are never opened.
//! - Files are created with the guest caller's uid/gid on the worker thread (raw setresuid /
//!   setresgid), so ownership, setgid inheritance and the kernel's permission checks are the
//!   caller's.
//! - The process's working directory is /proc/self/fd, so the xattr calls, which have no `*at`
//!   form, reach an inode by its fd number even inside a chroot.

mod attr;
mod dir;
mod entry;
mod fds;
mod file;
mod handle;
mod inode;
mod notify;
mod sys;
mod watch;
mod writers;
mod xattr;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
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

use crate::config::{CachePolicy, FileHandles};
use handle::Handles;
use inode::{InodeId, Inodes};

/// What the backend needs from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache: CachePolicy,
    /// Entry and attribute timeout given to the guest.
    pub timeout: Duration,
    pub writeback: bool,
    /// Extended attributes, their names mapped through this map; None: ENOSYS.
    pub xattr: Option<crate::fs::xattrmap::XattrMap>,
    pub killpriv_v2: bool,
    pub allow_direct_io: bool,
    /// Offer POSIX and BSD locks to the guest (served with host OFD locks and flock).
    pub locks: bool,
    /// Mark entries on another mount with FUSE_ATTR_SUBMOUNT.
    pub announce_submounts: bool,
    /// Fds the guest may make the daemon hold; None: RLIMIT_NOFILE minus a reserve.
    pub max_guest_fds: Option<usize>,
    /// How an inode whose fd was closed is found again (see `inode.rs`).
    pub file_handles: FileHandles,
    /// The host uid and gid the guest's root acts as (None: the guest's root is not mapped):
    /// a caller with that uid is privileged (may chown, keeps setuid bits on write).
    pub guest_root: Option<(u32, u32)>,
    /// POSIX ACLs negotiated: a parent's default ACL, not the guest's umask, shapes a new
    /// entry's mode (the host kernel applies it).
    pub posix_acl: bool,
    /// Zero-message opens of regular files (see [`file`]): OPEN answers ENOSYS, which tells a
    /// guest that offered FUSE_NO_OPEN_SUPPORT to stop sending OPEN, FLUSH and RELEASE for
    /// files; its I/O then names handle 0 and is served through the node. Only where no open
    /// flag or per-open state matters: `auto` and `always` caching, without locks or the
    /// writeback cache.
    pub zero_open: bool,
    /// Let the guest create block and character device nodes (refused with EPERM otherwise).
    pub allow_devices: bool,
}

/// The Linux backend over one shared directory.
pub struct LinuxFs {
    inodes: Inodes,
    handles: Handles,
    /// Writable fds kept for zero-message opens (see [`writers`]).
    writers: writers::Writers,
    /// The fds the guest can make the daemon hold (see [`fds`]).
    budget: Arc<fds::Budget>,
    locks: file::LockFds,
    /// /proc/self/fd, opened before any sandbox.
    proc: OwnedFd,
    opts: Options,
    /// Whether the guest accepted the writeback cache.
    writeback: AtomicBool,
    /// Whether zero-message opens are on (negotiated at INIT).
    zero_open: AtomicBool,
    /// Whether files are created with the caller's credentials (the daemon runs as root).
    switch_creds: bool,
    /// The process umask when the backend was made (0 in the daemon).
    umask: u32,
    /// The host name of the guest's `security.capability` where the xattr map moves it.
    caps_name: Option<std::ffi::CString>,
    /// `opts.file_handles`, or Never where the daemon cannot open file handles.
    file_handles: FileHandles,
    /// The host watcher, once an agent asked for changes (see [`notify`]).
    watcher: std::sync::OnceLock<Arc<watch::Watcher>>,
    /// Held while the watcher starts.
    watch_start: std::sync::Mutex<()>,
}

fn err(errno: libc::c_int) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl LinuxFs {
    /// Opens `root` (an existing directory) and /proc/self/fd. Changes nothing of the process:
    /// its umask is read (a create whose mode it would cut is followed by a chmod, so the
    /// guest's mode bits land as sent: the daemon sets its umask to 0 first, and then never
    /// needs one) and its working directory is left alone (see [`LinuxFs::use_proc_cwd`]).
    pub fn new(root: &Path, opts: Options) -> io::Result<Self> {
        let cwd = c"/";
        let path = std::ffi::CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|_| err(libc::EINVAL))?;
        let at = sys::openat(
            open_dir(cwd)?.as_fd(),
            &path,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let (st, ident) = sys::stat_fd(at.as_fd())?;
        let id = InodeId::of(&st, ident.mnt);
        let proc = open_dir(c"/proc/self/fd")?;

        // Unreadable: assume every bit may be cut, and chmod after every create.
        let umask = sys::process_umask().unwrap_or(0o7777);
        let budget = match opts.max_guest_fds {
            Some(n) => fds::Budget::with_cap(n),
            None => fds::Budget::from_rlimit(),
        };
        let mut fs = LinuxFs {
            inodes: Inodes::new(at, id, ident.btime, Arc::clone(&budget))?,
            handles: Handles::new(Arc::clone(&budget)),
            writers: writers::Writers::default(),
            budget,
            locks: file::LockFds::default(),
            proc,
            writeback: AtomicBool::new(false),
            zero_open: AtomicBool::new(false),
            switch_creds: sys::geteuid() == 0,
            umask,
            caps_name: opts.xattr.as_ref().and_then(|m| m.remapped_caps()),
            file_handles: opts.file_handles,
            watcher: std::sync::OnceLock::new(),
            watch_start: std::sync::Mutex::new(()),
            opts,
        };
        fs.file_handles = fs.usable_file_handles(ident.mnt)?;
        Ok(fs)
    }

    /// The file handle mode the daemon can serve, tried on the share's root (which keeps the
    /// fd to open handles on its mount with): `prefer` falls back to names where file handles
    /// cannot be opened here (no CAP_DAC_READ_SEARCH, or a filesystem without them);
    /// `mandatory` is an error then.
    fn usable_file_handles(&self, mnt: u64) -> io::Result<FileHandles> {
        if self.file_handles == FileHandles::Never {
            return Ok(FileHandles::Never);
        }
        let root = self.inodes.get(fuse_backend_rs::abi::fuse_abi::ROOT_ID)?;
        let probe = self
            .file_handle(root.fd(), mnt)
            .and_then(|h| self.inodes.open_handle(mnt, &h));
        match (probe, self.file_handles) {
            (Ok(_), want) => Ok(want),
            (Err(e), FileHandles::Mandatory) => Err(io::Error::new(
                e.kind(),
                format!("--inode-file-handles=mandatory: cannot open a file handle of the shared directory: {e}"),
            )),
            (Err(e), _) => {
                log::warn!("--inode-file-handles=prefer: file handles unusable here ({e}); finding inodes by name");
                Ok(FileHandles::Never)
            }
        }
    }

    /// Whether inodes are found again by file handle (the daemon must keep
    /// CAP_DAC_READ_SEARCH).
    pub fn uses_file_handles(&self) -> bool {
        self.file_handles != FileHandles::Never
    }

    /// For a daemon: makes /proc/self/fd the process's working directory, through which the
    /// calls without an `*at` form (xattrs) then name inodes; unlike /proc/self/fd/N paths,
    /// that survives a chroot into the share. (In-process, without it, nothing of the process
    /// changes.)
    pub fn use_proc_cwd(&self) -> io::Result<()> {
        sys::enter_proc_cwd(self.proc.as_fd())
    }

    /// Entry for a fresh reference to node `node` with attributes `st`.
    fn entry(&self, node: u64, st: stat64, submount: bool) -> Entry {
        Entry {
            inode: node,
            generation: 0,
            attr: st,
            attr_flags: if submount {
                fuse_backend_rs::abi::fuse_abi::ATTR_SUBMOUNT
            } else {
                0
            },
            attr_timeout: self.opts.timeout,
            entry_timeout: self.opts.timeout,
        }
    }

    /// Closes the writable fd kept for the file `name` in `parent` (by the name's hint), before
    /// the name goes: a kept fd would leave the inode an orphan on the host until the reaper
    /// closes it, its space held and its eviction done later in another thread. A WRITE of the
    /// node after that opens it again.
    fn close_writer_of(&self, parent: u64, name: &CStr) {
        if let Some(node) = self
            .inodes
            .named(self.inodes.name_key(parent, name.to_bytes()))
        {
            self.writers.close(node);
        }
    }

    /// The node the guest holds for what `name` in `parent` is now, if any.
    fn node_named(&self, parent: &inode::Node, name: &CStr) -> Option<u64> {
        let (st, ident) = sys::stat_at(parent.fd(), name).ok()?;
        self.inodes.find(&InodeId::of(&st, ident.mnt))
    }

    /// Keeps the fd of the node behind `name` in `parent` open from now on: the guest is about
    /// to remove or replace the name, after which nothing leads back to the inode (the guest
    /// may still hold it open, or unlinked but in use).
    fn pin_named(&self, parent: &inode::Node, name: &CStr) {
        if let Some(node) = self.node_named(parent, name) {
            self.inodes.pin(node);
        }
    }

    /// The guest renamed the inode now behind `name` in `parent`: its node is found there
    /// from now on.
    fn renamed(&self, parent: &inode::Node, name: &CStr) {
        if let Some(node) = self.node_named(parent, name) {
            self.inodes.rename(node, parent, name);
        }
    }

    /// Makes room in the guest's fd budget when it is spent: kept readers and writers, then
    /// the fds of the nodes used least recently, give way to the request at hand.
    fn make_room(&self) {
        if self.budget.is_full() {
            self.writers.clear();
            self.inodes.make_room();
        }
    }

    /// The mode a new entry is created with: the guest's less its umask, except where POSIX
    /// ACLs are on and the parent has a default ACL, which decides instead (the host kernel
    /// applies it; the daemon's own umask is 0), as Linux does.
    fn create_mode(&self, parent: &inode::Node, mode: u32, umask: u32) -> u32 {
        if self.default_acl_decides(parent) {
            mode
        } else {
            mode & !umask
        }
    }

    /// Whether POSIX ACLs are on and `parent` has a default ACL, which then decides a new
    /// entry's mode in place of any umask.
    fn default_acl_decides(&self, parent: &inode::Node) -> bool {
        self.opts.posix_acl
            && sys::xattr::get(
                parent.fd().as_raw_fd(),
                c"system.posix_acl_default",
                &mut [],
            )
            .is_ok_and(|n| n > 0)
    }

    /// Whether the process umask cut bits of `mode` from an entry just created in `parent`
    /// (not where a default ACL decided the mode instead): the entry then needs a chmod.
    fn umask_cut(&self, parent: &inode::Node, mode: u32) -> bool {
        mode & 0o7777 & self.umask != 0 && !self.default_acl_decides(parent)
    }

    /// Gives the entry just created in `parent` as `fd` the bits of `mode` the process umask
    /// cut, if any.
    fn undo_umask_fd(&self, parent: &inode::Node, fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
        if self.umask_cut(parent, mode) {
            sys::fchmod(fd, mode)?;
        }
        Ok(())
    }

    /// Whether the caller is the guest's root (its ids as the session mapped them).
    fn is_guest_root(&self, ctx: &Context) -> bool {
        self.opts.guest_root.is_some_and(|(uid, _)| ctx.uid == uid)
    }

    /// Runs `f` with the caller's uid/gid as this thread's effective ids (when the daemon is
    /// root and the caller is not).
    fn as_caller<T>(&self, ctx: &Context, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        if !self.switch_creds || (ctx.uid == 0 && ctx.gid == 0) {
            return f();
        }
        sys::set_thread_creds(ctx.uid, ctx.gid)?;
        let r = f();
        if let Err(e) = sys::restore_root_creds() {
            // A worker left with the guest's ids would act with them for the next caller.
            log::error!("cannot restore the worker's credentials: {e}");
            std::process::abort();
        }
        r
    }
}

fn open_dir(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: the path is NUL-terminated; the result is checked before it is owned.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Operations beyond fuse-backend-rs's `FileSystem` trait.
impl crate::fs::BackendExt for LinuxFs {
    fn copy_file_range(&self, ctx: &Context, a: &crate::fs::CopyRange) -> io::Result<usize> {
        self.do_copy_file_range(ctx, a)
    }

    fn syncfs(&self, _ctx: &Context, node: u64) -> io::Result<()> {
        self.do_syncfs(node)
    }

    fn watch(&self) -> io::Result<()> {
        self.start_watch()
    }

    fn watch_complete(&self) -> bool {
        LinuxFs::watch_complete(self)
    }

    fn changes(&self, max: usize) -> (Vec<crate::fs::Resolved>, bool) {
        self.take_changes(max)
    }

    fn listing_cache(&self, dir: u64) -> crate::fs::ListingCache {
        self.inodes.listing_cache(dir)
    }

    fn unget_changes(&self, v: Vec<crate::fs::changes::Change>) {
        if let Some(w) = self.watcher.get() {
            w.queue.unget(v);
        }
    }

    fn wait_changes(&self, timeout: std::time::Duration) -> bool {
        self.watcher.get().is_some_and(|w| w.queue.wait(timeout))
    }

    fn statx(
        &self,
        _ctx: &Context,
        node: u64,
        fh: Option<u64>,
        flags: u32,
        mask: u32,
    ) -> io::Result<(libc::statx, Duration)> {
        let flags = flags.cast_signed() & libc::AT_STATX_SYNC_TYPE;
        let st = match fh.map(|fh| self.handles.get(fh, node)) {
            Some(Ok(h)) => sys::statx(h.fd(), flags, mask)?,
            // As with GETATTR, the handle is a hint.
            _ => sys::statx(self.inodes.get(node)?.fd(), flags, mask)?,
        };
        Ok((st, self.opts.timeout))
    }

    fn tmpfile(
        &self,
        ctx: &Context,
        parent: u64,
        args: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        self.do_tmpfile(ctx, parent, args)
    }

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

impl FileSystem for LinuxFs {
    type Inode = u64;
    type Handle = u64;

    fn init(&self, capable: FsOptions) -> io::Result<FsOptions> {
        let mut o = FsOptions::DO_READDIRPLUS | FsOptions::READDIRPLUS_AUTO;
        if self.opts.writeback && capable.contains(FsOptions::WRITEBACK_CACHE) {
            o |= FsOptions::WRITEBACK_CACHE;
            self.writeback.store(true, Ordering::Relaxed);
        }
        if self.opts.killpriv_v2 {
            o |= FsOptions::HANDLE_KILLPRIV_V2;
        }
        if self.opts.locks {
            o |= FsOptions::POSIX_LOCKS | FsOptions::FLOCK_LOCKS;
        }
        let zero_open = self.opts.zero_open
            && !self.opts.locks
            && !self.writeback.load(Ordering::Relaxed)
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
        self.forget_node(inode, count);
    }

    fn batch_forget(&self, _ctx: &Context, requests: Vec<(u64, u64)>) {
        for (inode, count) in requests {
            self.forget_node(inode, count);
        }
    }

    fn getattr(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: Option<u64>,
    ) -> io::Result<(stat64, Duration)> {
        self.do_getattr(inode, handle)
    }

    fn setattr(
        &self,
        ctx: &Context,
        inode: u64,
        attr: stat64,
        handle: Option<u64>,
        valid: SetattrValid,
    ) -> io::Result<(stat64, Duration)> {
        self.do_setattr(ctx, inode, attr, handle, valid)
    }

    fn readlink(&self, _ctx: &Context, inode: u64) -> io::Result<Vec<u8>> {
        let i = self.inodes.get(inode)?;
        if i.kind != libc::S_IFLNK {
            return Err(err(libc::EINVAL));
        }
        sys::readlink(i.fd())
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
        self.do_mknod(ctx, parent, name, mode, umask, rdev)
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
        let p = self.inodes.get(parent)?;
        self.close_writer_of(parent, name);
        self.pin_named(&p, name);
        sys::unlinkat(p.fd(), name, 0)
    }

    fn rmdir(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<()> {
        let p = self.inodes.get(parent)?;
        self.pin_named(&p, name);
        sys::unlinkat(p.fd(), name, libc::AT_REMOVEDIR)
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
        let o = self.inodes.get(olddir)?;
        let n = self.inodes.get(newdir)?;
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        if !exchange {
            self.close_writer_of(newdir, newname);
            self.pin_named(&n, newname);
        }
        sys::renameat2(o.fd(), oldname, n.fd(), newname, flags)?;
        self.renamed(&n, newname);
        if exchange {
            self.renamed(&o, oldname);
        }
        Ok(())
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
        fuse_flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions, Option<u32>)> {
        self.do_open(inode, flags, fuse_flags)
            .map(|(h, o)| (Some(h), o, None))
    }

    fn create(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        args: CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions, Option<u32>)> {
        self.do_create(ctx, parent, name, args)
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
        let h = self.file(handle, inode, libc::O_RDONLY)?;
        let mut f = h.file();
        // A file is read from its start at least once, nearly always: marking its directory
        // then (see `Inodes::note_read`) keeps random reads free of the table lookup.
        if offset == 0 && self.watcher.get().is_some() {
            self.inodes.note_read(inode);
        }
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
        fuse_flags: u32,
    ) -> io::Result<usize> {
        self.do_write(ctx, inode, handle, r, size, offset, fuse_flags)
    }

    fn flush(&self, _ctx: &Context, inode: u64, handle: u64, lock_owner: u64) -> io::Result<()> {
        if handle == 0 && self.zero_open() {
            // Nothing to do on close: the guest need not ask again.
            return Err(err(libc::ENOSYS));
        }
        // Nothing is buffered here; the handle is checked so a bad one still gets EBADF.
        self.handles.get(handle, inode)?;
        if self.opts.locks {
            // close(2) drops the closing process's POSIX locks on the file.
            self.unlock_owner(inode, lock_owner);
        }
        Ok(())
    }

    fn fsync(&self, _ctx: &Context, inode: u64, datasync: bool, handle: u64) -> io::Result<()> {
        let h = self.file(handle, inode, libc::O_RDONLY)?;
        sys::fsync(h.fd(), datasync)
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
        let h = self.file(handle, inode, libc::O_WRONLY)?;
        self.kill_remapped_caps(inode, h.fd())?;
        sys::fallocate(h.fd(), mode, offset, length)
    }

    fn release(
        &self,
        _ctx: &Context,
        inode: u64,
        _flags: u32,
        handle: u64,
        _flush: bool,
        flock_release: bool,
        _lock_owner: Option<u64>,
    ) -> io::Result<()> {
        if handle == 0 && self.zero_open() {
            // A file created before the guest learnt of zero-message opens.
            return Ok(());
        }
        let h = self.handles.remove(handle, inode)?;
        if flock_release {
            // The fd may live on in a request still running; the guest's flock ends now.
            let _ = sys::flock(h.fd(), libc::LOCK_UN);
        }
        Ok(())
    }

    fn statfs(&self, _ctx: &Context, inode: u64) -> io::Result<statvfs64> {
        let i = self.inodes.get(inode)?;
        sys::fstatvfs(i.fd())
    }

    fn setxattr(
        &self,
        _ctx: &Context,
        inode: u64,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        self.do_setxattr(inode, name, value, flags)
    }

    fn getxattr(
        &self,
        _ctx: &Context,
        inode: u64,
        name: &CStr,
        size: u32,
    ) -> io::Result<GetxattrReply> {
        self.do_getxattr(inode, name, size)
    }

    fn listxattr(&self, _ctx: &Context, inode: u64, size: u32) -> io::Result<ListxattrReply> {
        self.do_listxattr(inode, size)
    }

    fn removexattr(&self, _ctx: &Context, inode: u64, name: &CStr) -> io::Result<()> {
        self.do_removexattr(inode, name)
    }

    fn opendir(
        &self,
        _ctx: &Context,
        inode: u64,
        flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions)> {
        self.do_opendir(inode, flags).map(|(h, o)| (Some(h), o))
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

    fn access(&self, ctx: &Context, inode: u64, mask: u32) -> io::Result<()> {
        self.do_access(ctx, inode, mask)
    }

    fn lseek(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        offset: u64,
        whence: u32,
    ) -> io::Result<u64> {
        let h = self.file(handle, inode, libc::O_RDONLY)?;
        sys::lseek(h.fd(), offset, whence)
    }

    fn getlk(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        owner: u64,
        lock: FileLock,
        _flags: u32,
    ) -> io::Result<FileLock> {
        self.do_getlk(inode, handle, owner, lock)
    }

    fn setlk(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        owner: u64,
        lock: FileLock,
        flags: u32,
    ) -> io::Result<()> {
        self.do_setlk(inode, handle, owner, lock, flags, false)
    }

    fn setlkw(
        &self,
        _ctx: &Context,
        inode: u64,
        handle: u64,
        owner: u64,
        lock: FileLock,
        flags: u32,
    ) -> io::Result<()> {
        self.do_setlk(inode, handle, owner, lock, flags, true)
    }
}

#[cfg(test)]
mod tests;
