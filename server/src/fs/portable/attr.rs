//! SETATTR. Each change goes through the guest's handle if it named one, the directory's fd,
//! or a name of the node: opened without following for a mode or a size (so the change lands
//! on the node, checked after the open), by name with AT_SYMLINK_NOFOLLOW for owners and times.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use fuse_backend_rs::abi::fuse_abi::{stat64, SetattrValid};
use fuse_backend_rs::api::filesystem::Context;

use super::handles::Handle;
use super::nodes::{id_of, Node};
use super::sys::{self, err};
use super::PortableFs;
use crate::fs::rules;

/// How a SETATTR reaches the node.
enum Target<'a> {
    /// An open file or directory: the guest's handle, or a directory's own fd.
    Fd(BorrowedFd<'a>),
    /// A non-directory by name in its parent.
    Name(Arc<Node>, CString),
}

impl PortableFs {
    pub(super) fn do_setattr(
        &self,
        ctx: &Context,
        node: u64,
        attr: &stat64,
        handle: Option<u64>,
        valid: SetattrValid,
    ) -> io::Result<()> {
        let n = self.nodes.get(node)?;
        // A handle the guest names must be its own.
        let h: Option<Arc<Handle>> = match handle {
            // With zero-message opens a truncating open sends FATTR_FH with handle 0.
            Some(0) if self.zero_open() => None,
            Some(fh) => Some(self.handles.get(fh, node)?),
            None => None,
        };
        let hfd = h.as_ref().and_then(|h| h.fd().ok());
        let target = match hfd.or_else(|| n.dir().ok()) {
            Some(fd) => Target::Fd(fd),
            None => {
                let (p, name, _) = n.locate()?;
                Target::Name(p, name)
            }
        };

        if valid.intersects(SetattrValid::UID | SetattrValid::GID) && !self.is_guest_root(ctx) {
            let owner = self.stat_node(node, handle)?.st_uid;
            if !rules::may_chown(ctx.uid, owner, attr, valid) {
                return Err(err(libc::EPERM));
            }
        }

        if valid.contains(SetattrValid::MODE) {
            let mode = attr.st_mode & 0o7777;
            match &target {
                Target::Fd(fd) => sys::fchmod(*fd, mode)?,
                Target::Name(..) if n.kind == libc::S_IFLNK => return Err(err(libc::EOPNOTSUPP)),
                // A regular file through an fd of it; anything else (never opened: a FIFO's
                // other end may be waiting) or a file an unprivileged daemon cannot open, by
                // name without following.
                Target::Name(p, name) => match self.open_node(&n, p, name, false) {
                    Ok(f) => sys::fchmod(f.as_fd(), mode)?,
                    Err(_) => sys::chmod_at(p.dir()?, name, mode)?,
                },
            }
        }

        if let Some((uid, gid)) = rules::chown_ids(attr, valid) {
            match &target {
                Target::Fd(fd) => sys::fchown(*fd, uid, gid)?,
                Target::Name(p, name) => sys::chown_at(p.dir()?, name, uid, gid)?,
            }
        }

        if valid.contains(SetattrValid::SIZE) {
            let size = attr.st_size as u64;
            match (hfd, &target) {
                (Some(fd), _) => sys::ftruncate(fd, size)?,
                _ if n.is_dir() => return Err(err(libc::EISDIR)),
                (None, Target::Name(p, name)) if n.kind == libc::S_IFREG => {
                    let f = self.open_node(&n, p, name, true)?;
                    sys::ftruncate(f.as_fd(), size)?;
                }
                _ => return Err(err(libc::EINVAL)),
            }
        }

        if let Some(times) = rules::setattr_times(attr, valid) {
            // The guest kernel checked who may set which times (default_permissions).
            match &target {
                Target::Fd(fd) => sys::futimens(*fd, &times)?,
                Target::Name(p, name) => sys::utimes_at(p.dir()?, name, &times)?,
            }
        }
        Ok(())
    }

    /// Opens the regular file `n`, found as `name` in `p`, for a change of its mode (read-only)
    /// or size (write-only): without following or blocking, and only if what was opened is `n`.
    pub(super) fn open_node(
        &self,
        n: &Node,
        p: &Node,
        name: &CString,
        write: bool,
    ) -> io::Result<OwnedFd> {
        if n.kind != libc::S_IFREG {
            return Err(err(libc::ENXIO));
        }
        let access = if write {
            libc::O_WRONLY
        } else {
            libc::O_RDONLY
        };
        let fd = sys::openat(
            p.dir()?,
            name,
            access | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        )?;
        if id_of(&sys::fstat(fd.as_fd())?) != n.id {
            return Err(err(libc::ESTALE));
        }
        Ok(fd)
    }
}
