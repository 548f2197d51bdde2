//! Attributes: GETATTR and SETATTR.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{stat64, SetattrValid};
use fuse_backend_rs::api::filesystem::Context;

use super::{err, sys, LinuxFs};
use crate::fs::rules;

impl LinuxFs {
    pub(super) fn do_getattr(
        &self,
        node: u64,
        handle: Option<u64>,
    ) -> io::Result<(stat64, Duration)> {
        let st = match handle {
            Some(fh) => match self.handles.get(fh, node) {
                Ok(h) => sys::fstat(h.fd())?,
                // GETATTR_FH is a hint: the inode answers as well.
                Err(_) => sys::fstat(self.inodes.get(node)?.fd())?,
            },
            None => sys::fstat(self.inodes.get(node)?.fd())?,
        };
        Ok((st, self.opts.timeout))
    }

    pub(super) fn do_setattr(
        &self,
        ctx: &Context,
        node: u64,
        attr: stat64,
        handle: Option<u64>,
        valid: SetattrValid,
    ) -> io::Result<(stat64, Duration)> {
        let i = self.inodes.get(node)?;
        // A handle the guest names must be its own; without one the inode is used.
        let h = match handle {
            // With zero-message opens a truncating open sends FATTR_FH with handle 0.
            Some(0) if self.zero_open() => None,
            Some(fh) => Some(self.handles.get(fh, node)?),
            None => None,
        };
        let proc = self.proc.as_fd();
        let raw = i.fd().as_raw_fd();

        if valid.intersects(SetattrValid::UID | SetattrValid::GID) && !self.is_guest_root(ctx) {
            // The ownership rules the host would apply to the caller (A4 #24), checked here
            // because the change itself runs as the daemon: only root gives a file away, and
            // only the owner changes its group (to one of the caller's groups, which the guest
            // kernel checked: a request carries no supplementary groups).
            let st = sys::fstat(i.fd())?;
            if !rules::may_chown(ctx.uid, st.st_uid, &attr, valid) {
                return Err(err(libc::EPERM));
            }
        }

        if valid.intersects(SetattrValid::UID | SetattrValid::GID | SetattrValid::SIZE) {
            self.kill_remapped_caps(node, i.fd())?;
        }

        if valid.contains(SetattrValid::MODE) {
            match &h {
                Some(h) => sys::fchmod(h.fd(), attr.st_mode & 0o7777)?,
                None if i.kind == libc::S_IFLNK => return Err(err(libc::EOPNOTSUPP)),
                None => sys::chmod_proc(proc, raw, attr.st_mode & 0o7777)?,
            }
        }

        if let Some((uid, gid)) = rules::chown_ids(&attr, valid) {
            sys::fchown(i.fd(), uid, gid)?;
        }

        if valid.contains(SetattrValid::SIZE) {
            let size = attr.st_size as u64;
            match &h {
                Some(h) => sys::ftruncate(h.fd(), size)?,
                None => {
                    if !i.is_reg() {
                        return Err(err(if i.is_dir() {
                            libc::EISDIR
                        } else {
                            libc::EINVAL
                        }));
                    }
                    let fd = sys::reopen(proc, raw, libc::O_WRONLY | libc::O_NONBLOCK)?;
                    sys::ftruncate(fd.as_fd(), size)?;
                }
            }
        }

        if valid.contains(SetattrValid::KILL_SUIDGID) && self.opts.killpriv_v2 && i.is_reg() {
            if let Some(mode) = rules::killed_suidgid(sys::fstat(i.fd())?.st_mode) {
                sys::chmod_proc(proc, raw, mode)?;
            }
        }

        if let Some(times) = rules::setattr_times(&attr, valid) {
            // The guest kernel checked who may set which times (default_permissions).
            sys::utimes_proc(proc, raw, &times)?;
        }

        self.do_getattr(node, None)
    }
}
