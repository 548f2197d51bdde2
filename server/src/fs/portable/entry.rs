//! Names: LOOKUP, MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RMDIR, RENAME, and how a new entry
//! becomes its caller's. Every name here passed the one name check (a single component, no
//! `/`, no NUL); `.` and `..` reach only [`PortableFs::do_lookup`].

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use fuse_backend_rs::abi::fuse_abi::stat64;
use fuse_backend_rs::api::filesystem::{Context, Entry};

use super::nodes::{id_of, Node};
use super::sys::{self, err};
use super::PortableFs;
use crate::fs::rules;

/// Where a new entry's owner and mode are set.
pub(super) enum Made<'a> {
    /// An fd of what was made.
    Fd(BorrowedFd<'a>),
    /// By name in the parent, without following (a symlink, a socket or a device node), once
    /// the name is checked to still hold an entry of this type that the daemon made.
    Name(&'a CStr, u32),
}

impl PortableFs {
    pub(super) fn do_lookup(&self, parent: u64, name: &CStr) -> io::Result<Entry> {
        let p = self.dir_node(parent)?;
        let res = match name.to_bytes() {
            b"." => {
                self.nodes.ref_node(parent)?;
                Ok(self.entry(parent, sys::fstat(p.dir()?)?))
            }
            // `..` of a directory other than the root (the server answers the root's itself):
            // only ever a directory the guest already holds, so it cannot lead above the share.
            b".." => {
                let fd = sys::openat(
                    p.dir()?,
                    c"..",
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )?;
                let st = sys::fstat(fd.as_fd())?;
                let node = self
                    .nodes
                    .ref_dir(id_of(&st))
                    .ok_or_else(|| err(libc::ENOENT))?;
                Ok(self.entry(node, st))
            }
            _ => self.lookup_in(&p, name),
        };
        match res {
            // A negative entry: the guest remembers the name is absent for as long as it would
            // remember it present, instead of asking again at every path probe.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !self.opts.timeout.is_zero() => {
                Ok(rules::negative_entry(self.opts.timeout))
            }
            r => r,
        }
    }

    /// Looks `name` up in the directory `p` and takes a guest reference to what it is.
    pub(super) fn lookup_in(&self, p: &Arc<Node>, name: &CStr) -> io::Result<Entry> {
        let st = sys::stat_at(p.dir()?, name)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            let node = self.nodes.add_ref(&st, None, p, name);
            return Ok(self.entry(node, st));
        }
        if let Some(node) = self.nodes.ref_dir(id_of(&st)) {
            return Ok(self.entry(node, st));
        }
        // A directory is held by an fd; what the name names when opened is what counts (the
        // open cannot follow a symlink swapped in, nor open anything but a directory).
        let fd = sys::openat(
            p.dir()?,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        let st = sys::fstat(fd.as_fd())?;
        self.dir_entry(p, name, fd, st)
    }

    /// A guest reference to the directory `fd` (attributes `st`), found as `name` in `p`.
    fn dir_entry(&self, p: &Arc<Node>, name: &CStr, fd: OwnedFd, st: stat64) -> io::Result<Entry> {
        let node = self.nodes.add_ref(&st, Some(fd), p, name);
        Ok(self.entry(node, st))
    }

    /// The mode a new entry of type `kind` in `parent` (attributes `pst`) gets from the
    /// guest's `mode` and `umask`, as Linux makes it: a directory inherits the parent's
    /// setgid bit; a setgid, group-executable file made by a caller outside the setgid
    /// parent's group loses its setgid bit.
    pub(super) fn new_mode(
        &self,
        ctx: &Context,
        pst: &stat64,
        kind: u32,
        mode: u32,
        umask: u32,
    ) -> u32 {
        let mut m = mode & 0o7777 & !umask;
        let sgid_parent = pst.st_mode & libc::S_ISGID != 0;
        if kind == libc::S_IFDIR {
            if sgid_parent {
                m |= libc::S_ISGID;
            }
        } else if sgid_parent
            && m & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP
            && ctx.uid != 0
            && ctx.gid != pst.st_gid
        {
            m &= !libc::S_ISGID;
        }
        m
    }

    /// Gives the entry just made in `p` (attributes `pst`) to the caller and sets its mode to
    /// `mode`: the owner and group Linux would give it (the parent's group if the parent is
    /// setgid), then the mode again (the chown clears setuid bits, the umask may have cut
    /// some). Returns the entry's attributes once given, read again only if it changed.
    pub(super) fn give(
        &self,
        ctx: &Context,
        p: &Node,
        pst: &stat64,
        made: Made<'_>,
        mode: u32,
    ) -> io::Result<stat64> {
        let gid = if pst.st_mode & libc::S_ISGID != 0 {
            pst.st_gid
        } else {
            ctx.gid
        };
        match made {
            Made::Fd(fd) => {
                let st = sys::fstat(fd)?;
                let chown = self.give_away && (st.st_uid, st.st_gid) != (ctx.uid, gid);
                if chown {
                    sys::fchown(fd, ctx.uid, gid)?;
                }
                let st = if chown { sys::fstat(fd)? } else { st };
                if st.st_mode & 0o7777 == mode {
                    return Ok(st);
                }
                sys::fchmod(fd, mode)?;
                sys::fstat(fd)
            }
            Made::Name(name, kind) => {
                let dir = p.dir()?;
                // Still what the daemon made (its type, its owner, one link): a rename racing
                // in between gives the caller nothing that was someone else's.
                let st = sys::stat_at(dir, name)?;
                let ours = st.st_mode & libc::S_IFMT == kind
                    && st.st_uid == sys::geteuid()
                    && st.st_nlink == 1;
                if !ours {
                    return Err(err(libc::EAGAIN));
                }
                let chown = self.give_away && (st.st_uid, st.st_gid) != (ctx.uid, gid);
                if chown {
                    sys::chown_at(dir, name, ctx.uid, gid)?;
                }
                let st = if chown { sys::stat_at(dir, name)? } else { st };
                if kind == libc::S_IFLNK || st.st_mode & 0o7777 == mode {
                    return Ok(st);
                }
                sys::chmod_at(dir, name, mode)?;
                sys::stat_at(dir, name)
            }
        }
    }

    pub(super) fn do_mkdir(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        let p = self.dir_node(parent)?;
        let pst = sys::fstat(p.dir()?)?;
        let mode = self.new_mode(ctx, &pst, libc::S_IFDIR, mode, umask);
        sys::mkdirat(p.dir()?, name, mode & 0o777)?;
        let fd = sys::openat(
            p.dir()?,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        // An empty directory the daemon owns: what mkdirat made, unless a rename raced in
        // another empty directory of the daemon's, which the caller could have had anyway.
        let st = sys::fstat(fd.as_fd())?;
        if st.st_uid != sys::geteuid() || !sys::list(fd.as_fd())?.is_empty() {
            return Err(err(libc::EAGAIN));
        }
        let st = self.give(ctx, &p, &pst, Made::Fd(fd.as_fd()), mode)?;
        self.dir_entry(&p, name, fd, st)
    }

    pub(super) fn do_mknod(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        let kind = mode & libc::S_IFMT;
        if !rules::may_make_node(kind, self.opts.allow_devices) {
            return Err(err(libc::EPERM));
        }
        let p = self.dir_node(parent)?;
        let pst = sys::fstat(p.dir()?)?;
        let perm = self.new_mode(ctx, &pst, kind, mode, umask);
        sys::mknodat(p.dir()?, name, kind | perm, rdev)?;
        if kind == libc::S_IFREG {
            // Opened without following and checked to be what was made.
            let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW;
            let fd = sys::openat(p.dir()?, name, flags, 0)?;
            let st = sys::fstat(fd.as_fd())?;
            if st.st_mode & libc::S_IFMT != kind || st.st_uid != sys::geteuid() || st.st_nlink != 1
            {
                return Err(err(libc::EAGAIN));
            }
            self.give(ctx, &p, &pst, Made::Fd(fd.as_fd()), perm)?;
        } else {
            // A FIFO is not opened either: its other end may already be waiting for one.
            self.give(ctx, &p, &pst, Made::Name(name, kind), perm)?;
        }
        self.lookup_in(&p, name)
    }

    pub(super) fn do_symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: u64,
        name: &CStr,
    ) -> io::Result<Entry> {
        let p = self.dir_node(parent)?;
        let pst = sys::fstat(p.dir()?)?;
        sys::symlinkat(target, p.dir()?, name)?;
        self.give(ctx, &p, &pst, Made::Name(name, libc::S_IFLNK), 0o777)?;
        self.lookup_in(&p, name)
    }

    pub(super) fn do_link(&self, node: u64, newparent: u64, name: &CStr) -> io::Result<Entry> {
        let n = self.nodes.get(node)?;
        if n.is_dir() {
            return Err(err(libc::EPERM));
        }
        let p = self.dir_node(newparent)?;
        let (from, fname, _) = n.locate()?;
        sys::linkat(from.dir()?, &fname, p.dir()?, name)?;
        let st = sys::stat_at(p.dir()?, name)?;
        if id_of(&st) != n.id {
            // A rename raced in: the name was linked to something else (inside the share).
            let node = self.nodes.add_ref(&st, None, &p, name);
            return Ok(self.entry(node, st));
        }
        self.nodes.ref_node(node)?;
        n.add_name(&p, name);
        Ok(self.entry(node, st))
    }

    /// UNLINK (flags 0) and RMDIR (AT_REMOVEDIR) of `name` in `parent`.
    pub(super) fn remove(&self, parent: u64, name: &CStr, flags: libc::c_int) -> io::Result<()> {
        let p = self.dir_node(parent)?;
        let held = self.nodes.named(&p, name);
        if let Some(n) = &held {
            self.pin_before_removal(n, &p, name);
        }
        sys::unlinkat(p.dir()?, name, flags)?;
        if let Some(n) = held {
            n.drop_name(&p, name);
        }
        Ok(())
    }

    pub(super) fn do_rename(
        &self,
        olddir: u64,
        oldname: &CStr,
        newdir: u64,
        newname: &CStr,
        flags: u32,
    ) -> io::Result<()> {
        // RENAME_NOREPLACE and RENAME_EXCHANGE are Linux's (renameat2); the guest falls back.
        if flags != 0 {
            return Err(err(libc::EINVAL));
        }
        let o = self.dir_node(olddir)?;
        let n = self.dir_node(newdir)?;
        let moved = self.nodes.named(&o, oldname);
        let replaced = self.nodes.named(&n, newname);
        if let Some(r) = &replaced {
            self.pin_before_removal(r, &n, newname);
        }
        sys::renameat(o.dir()?, oldname, n.dir()?, newname)?;
        if let Some(r) = replaced {
            r.drop_name(&n, newname);
        }
        if let Some(m) = moved {
            m.drop_name(&o, oldname);
            m.add_name(&n, newname);
        }
        Ok(())
    }
}
