//! Names: LOOKUP, MKNOD, MKDIR, SYMLINK, LINK. Every name here passed the decoder's one name
//! check (a single component, no `/`, no NUL); `.` and `..` reach only [`LinuxFs::do_lookup`].

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use fuse_backend_rs::abi::fuse_abi::stat64;
use fuse_backend_rs::api::filesystem::{Context, Entry};

use super::inode::{Anchor, InodeId, NameKey, Node};
use super::{err, sys, LinuxFs};
use crate::config::FileHandles;
use crate::fs::rules;

impl LinuxFs {
    /// Takes one guest reference to the inode behind `fd` (an O_PATH fd) found in `parent`
    /// under `name` (None: it has no name, as an O_TMPFILE), filed under the name key `key`
    /// if known.
    pub(super) fn entry_for(
        &self,
        parent: &Node,
        name: Option<&CStr>,
        fd: OwnedFd,
        key: Option<NameKey>,
    ) -> io::Result<Entry> {
        let (st, ident) = sys::stat_fd(fd.as_fd())?;
        let id = InodeId::of(&st, ident.mnt);
        let submount = self.is_submount(parent, &id, &st);
        let anchor = self.anchor(parent, name, fd.as_fd(), ident.mnt)?;
        let kind = st.st_mode & libc::S_IFMT;
        let node = self
            .inodes
            .add_ref(id, ident.btime, kind, fd, key, anchor)?;
        if kind == libc::S_IFDIR {
            self.watch_dir(node);
        }
        Ok(self.entry(node, st, submount))
    }

    /// How the node for `fd`, found in `parent` under `name`, is found again once the clock
    /// closed its fd: by file handle where `--inode-file-handles` asks for them (and the
    /// filesystem makes them), else by name; a nameless one is kept open.
    fn anchor(
        &self,
        parent: &Node,
        name: Option<&CStr>,
        fd: BorrowedFd<'_>,
        mnt: u64,
    ) -> io::Result<Anchor> {
        if self.file_handles != FileHandles::Never {
            match self.file_handle(fd, mnt) {
                Ok(h) => return Ok(Anchor::Handle(h)),
                Err(e) if self.file_handles == FileHandles::Mandatory => return Err(e),
                Err(_) => {}
            }
        }
        Ok(match name {
            Some(name) => Anchor::Name {
                parent: std::sync::Arc::clone(parent.inode()),
                name: name.to_owned(),
            },
            None => Anchor::Pinned,
        })
    }

    /// The file handle of `fd`, on the mount `mnt`, once an fd to open handles on that mount
    /// with is kept (a directory's: the first inode met on a mount is its root directory).
    pub(super) fn file_handle(&self, fd: BorrowedFd<'_>, mnt: u64) -> io::Result<sys::FileHandle> {
        let h = sys::file_handle(fd)?;
        if !self.inodes.has_mount(mnt) {
            let dir = libc::O_RDONLY | libc::O_DIRECTORY;
            let m = sys::reopen(self.proc.as_fd(), fd.as_raw_fd(), dir)
                .map_err(|_| err(libc::EOPNOTSUPP))?;
            self.inodes.add_mount(mnt, m);
        }
        Ok(h)
    }

    /// Whether `id` (a directory found in `parent`) is the root of another host mount.
    fn is_submount(&self, parent: &Node, id: &InodeId, st: &stat64) -> bool {
        self.opts.announce_submounts
            && st.st_mode & libc::S_IFMT == libc::S_IFDIR
            && id.mnt != parent.id.mnt
    }

    /// Looks `name` up in `parent` (node `pnode`) and takes a guest reference to what it
    /// finds. A name under which a held inode was last found is tried by one statx first;
    /// any other name is opened at once.
    pub(super) fn find_ref(&self, parent: &Node, pnode: u64, name: &CStr) -> io::Result<Entry> {
        let key = self.inodes.name_key(pnode, name.to_bytes());
        if self.inodes.is_named(key) {
            self.lookup_ref(parent, name, key)
        } else {
            self.open_ref(parent, name, Some(key))
        }
    }

    /// Looks `name` up in `parent` and takes a guest reference to what it finds. An inode the
    /// guest holds already costs one statx by name: the fd the table holds pins that inode, so
    /// its (device, number, mount) cannot name another file. Anything else is opened.
    pub(super) fn lookup_ref(&self, parent: &Node, name: &CStr, key: NameKey) -> io::Result<Entry> {
        let (st, ident) = sys::stat_at(parent.fd(), name)?;
        let id = InodeId::of(&st, ident.mnt);
        match self.inodes.ref_known(&id, ident.btime, Some(key)) {
            Some(node) => Ok(self.entry(node, st, self.is_submount(parent, &id, &st))),
            None => self.open_ref(parent, name, Some(key)),
        }
    }

    /// Opens `name` in `parent` and takes a guest reference to the inode it finds (for names
    /// that are new, or not likely to be known), filed under `key` if given.
    pub(super) fn open_ref(
        &self,
        parent: &Node,
        name: &CStr,
        key: Option<NameKey>,
    ) -> io::Result<Entry> {
        let fd = sys::open_beneath(parent.fd(), name, libc::O_PATH)?;
        self.entry_for(parent, Some(name), fd, key)
    }

    pub(super) fn do_lookup(&self, parent: u64, name: &CStr) -> io::Result<Entry> {
        let p = self.inodes.get(parent)?;
        if !p.is_dir() {
            return Err(err(libc::ENOTDIR));
        }
        match name.to_bytes() {
            b"." => {
                self.inodes.ref_node(parent)?;
                let st = sys::fstat(p.fd())?;
                Ok(self.entry(parent, st, false))
            }
            // `..` of a directory other than the root (the server answers the root's itself):
            // only ever an inode the guest already holds, so it cannot lead above the share.
            b".." => {
                let fd = sys::openat(p.fd(), c"..", libc::O_PATH | libc::O_NOFOLLOW, 0)?;
                let (st, ident) = sys::stat_fd(fd.as_fd())?;
                let node = (self.inodes)
                    .ref_known(&InodeId::of(&st, ident.mnt), ident.btime, None)
                    .ok_or_else(|| err(libc::ENOENT))?;
                Ok(self.entry(node, st, false))
            }
            _ => match self.find_ref(&p, parent, name) {
                // A negative entry: the guest remembers the name is absent for as long as it
                // would remember it present, instead of asking again at every path probe.
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOENT) && !self.opts.timeout.is_zero() =>
                {
                    Ok(crate::fs::rules::negative_entry(self.opts.timeout))
                }
                r => r,
            },
        }
    }

    /// Runs `make` (which creates `name` in the parent) as the caller, then looks the new
    /// entry up.
    fn make(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        make: impl FnOnce(&Node) -> io::Result<()>,
    ) -> io::Result<Entry> {
        let p = self.inodes.get(parent)?;
        if !p.is_dir() {
            return Err(err(libc::ENOTDIR));
        }
        self.as_caller(ctx, || make(&p))?;
        let key = self.inodes.name_key(parent, name.to_bytes());
        self.open_ref(&p, name, Some(key))
    }

    /// Gives `name`, just made in `p` with `mode` (of type `kind`), the bits the process
    /// umask cut, if any: through an O_PATH fd of what is there now, and only if it is still
    /// of that type (the host may have swapped the name meanwhile).
    fn undo_umask(&self, p: &Node, name: &CStr, mode: u32, kind: u32) -> io::Result<()> {
        if !self.umask_cut(p, mode) {
            return Ok(());
        }
        let fd = sys::openat(p.fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        if sys::fstat(fd.as_fd())?.st_mode & libc::S_IFMT != kind {
            return Ok(());
        }
        sys::chmod_proc(self.proc.as_fd(), fd.as_raw_fd(), mode)
    }

    pub(super) fn do_mkdir(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.make(ctx, parent, name, |p| {
            let mode = self.create_mode(p, mode, umask) & 0o7777;
            sys::mkdirat(p.fd(), name, mode)?;
            self.undo_umask(p, name, mode, libc::S_IFDIR)
        })
    }

    pub(super) fn do_mknod(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        umask: u32,
        rdev: u32,
    ) -> io::Result<Entry> {
        if !rules::may_make_node(mode & libc::S_IFMT, self.opts.allow_devices) {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        self.make(ctx, parent, name, |p| {
            let mode = (mode & libc::S_IFMT) | self.create_mode(p, mode & 0o7777, umask);
            sys::mknodat(p.fd(), name, mode, u64::from(rdev))?;
            self.undo_umask(p, name, mode & 0o7777, mode & libc::S_IFMT)
        })
    }

    pub(super) fn do_symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: u64,
        name: &CStr,
    ) -> io::Result<Entry> {
        self.make(ctx, parent, name, |p| sys::symlinkat(target, p.fd(), name))
    }

    pub(super) fn do_link(&self, node: u64, newparent: u64, name: &CStr) -> io::Result<Entry> {
        let i = self.inodes.get(node)?;
        let p = self.inodes.get(newparent)?;
        if i.is_dir() {
            return Err(err(libc::EPERM));
        }
        sys::link_fd(self.proc.as_fd(), i.fd(), p.fd(), name)?;
        // The new name is the same inode: one more reference to the node the guest holds.
        let st = sys::fstat(i.fd())?;
        self.inodes.ref_node(node)?;
        Ok(self.entry(node, st, false))
    }
}
