//! Open files: OPEN, CREATE, WRITE and the DAX mapping fd. Only regular files are opened
//! (directories through OPENDIR): each open is made without following or blocking, then
//! checked to be the node the guest named.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use fuse_backend_rs::abi::fuse_abi::{CreateIn, OpenOptions};
use fuse_backend_rs::api::filesystem::{Context, Entry, ZeroCopyReader};

use super::entry::Made;
use super::handles::{Handle, Open};
use super::nodes::{id_of, Node};
use super::sys::{self, err, linux};
use super::PortableFs;
use crate::fs::{rules, NO_HANDLE};

impl PortableFs {
    /// The open file a request names: the guest's handle `fh` or, with zero-message opens and
    /// `fh` 0, the regular file `node` itself, opened now with `access` (a Linux access mode)
    /// or through the fd kept since one of its names was removed.
    pub(super) fn file(&self, fh: u64, node: u64, access: u32) -> io::Result<Arc<Handle>> {
        if fh != 0 || !self.zero_open() {
            return self.handles.get(fh, node);
        }
        let n = self.nodes.get(node)?;
        let f = match n.pinned() {
            Some(f) if n.kind == libc::S_IFREG => f,
            _ => Arc::new(File::from(self.open_file(&n, access)?)),
        };
        Ok(Arc::new(Handle {
            node,
            open: Open::File(f),
        }))
    }

    /// Keeps an fd of the regular file `n`, found as `name` in `p`, before that name goes:
    /// with zero-message opens the guest may hold the file open with no handle here, and
    /// after the removal no name may lead to it.
    pub(super) fn pin_before_removal(&self, n: &Node, p: &Node, name: &CStr) {
        if !self.zero_open() || n.kind != libc::S_IFREG || n.pinned().is_some() {
            return;
        }
        let Ok(dir) = p.dir() else { return };
        let base = libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let fd = sys::openat(dir, name, libc::O_RDWR | base, 0)
            .or_else(|_| sys::openat(dir, name, libc::O_RDONLY | base, 0));
        if let Ok(fd) = fd {
            if sys::fstat(fd.as_fd()).is_ok_and(|st| id_of(&st) == n.id) {
                n.pin(File::from(fd));
            }
        }
    }

    /// Opens the regular file `n` with the guest's `flags` (Linux values).
    fn open_file(&self, n: &Node, flags: u32) -> io::Result<OwnedFd> {
        match n.kind {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(err(libc::EISDIR)),
            libc::S_IFLNK => return Err(err(libc::ELOOP)),
            // Special files are never opened by the daemon: a FIFO would block a worker, a
            // device would reach host hardware.
            _ => return Err(err(libc::ENXIO)),
        }
        let (p, name, _) = n.locate()?;
        let f = sys::open_flags(flags);
        let fd = sys::openat(p.dir()?, &name, f | libc::O_NOFOLLOW | libc::O_NONBLOCK, 0)?;
        let st = sys::fstat(fd.as_fd())?;
        if id_of(&st) != n.id || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(err(libc::ESTALE));
        }
        if f & libc::O_NONBLOCK == 0 {
            sys::clear_nonblock(fd.as_fd())?;
        }
        if flags & linux::O_TRUNC != 0 {
            if flags & linux::O_ACCMODE == linux::O_RDONLY {
                // O_RDONLY | O_TRUNC truncates too (the guest kernel checked write
                // permission): through a write-only fd of the same, checked node.
                sys::ftruncate(self.open_node(n, &p, &name, true)?.as_fd(), 0)?;
            } else {
                sys::ftruncate(fd.as_fd(), 0)?;
            }
        }
        Ok(fd)
    }

    pub(super) fn do_open(&self, node: u64, flags: u32) -> io::Result<(u64, OpenOptions)> {
        let n = self.nodes.get(node)?;
        match n.kind {
            // Zero-message opens: the guest stops sending OPEN for files.
            libc::S_IFREG if self.zero_open() => return Err(err(libc::ENOSYS)),
            libc::S_IFREG | libc::S_IFDIR => {}
            libc::S_IFLNK => return Err(err(libc::ELOOP)),
            _ => return Err(err(libc::ENXIO)),
        }
        let fd = self.open_file(&n, flags)?;
        let fh = self
            .handles
            .insert(node, Open::File(Arc::new(File::from(fd))));
        Ok((fh, rules::open_options(self.opts.cache, false)))
    }

    /// A handle for `fd`, just opened on `node`, unless zero-message opens are on (the guest
    /// then names the node with handle 0, and the fd closes now).
    fn handle_for(&self, node: u64, fd: OwnedFd) -> Option<u64> {
        (!self.zero_open()).then(|| {
            self.handles
                .insert(node, Open::File(Arc::new(File::from(fd))))
        })
    }

    pub(super) fn do_create(
        &self,
        ctx: &Context,
        parent: u64,
        name: &CStr,
        a: &CreateIn,
    ) -> io::Result<(Entry, Option<u64>, OpenOptions)> {
        let p = self.dir_node(parent)?;
        let pst = sys::fstat(p.dir()?)?;
        let mode = self.new_mode(ctx, &pst, libc::S_IFREG, a.mode, a.umask);
        // Always created exclusively: open(O_CREAT) of an existing name would open whatever
        // is there, a FIFO or a device included.
        let flags = sys::open_flags(a.flags) | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = match sys::openat(p.dir()?, name, flags, mode) {
            Ok(fd) => fd,
            // Without O_EXCL the guest may open an existing name: as OPEN does, and only a
            // regular file.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && a.flags & linux::O_EXCL == 0 => {
                let e = self.lookup_in(&p, name)?;
                let opened = self
                    .nodes
                    .get(e.inode)
                    .and_then(|n| self.open_file(&n, a.flags));
                return match opened {
                    Ok(fd) => Ok((
                        e,
                        self.handle_for(e.inode, fd),
                        rules::open_options(self.opts.cache, false),
                    )),
                    Err(x) => {
                        self.nodes.forget(e.inode, 1);
                        Err(x)
                    }
                };
            }
            Err(e) => return Err(e),
        };
        let st = self.give(ctx, &p, &pst, Made::Fd(fd.as_fd()), mode)?;
        let node = self.nodes.add_ref(&st, None, &p, name);
        Ok((
            self.entry(node, st),
            self.handle_for(node, fd),
            rules::open_options(self.opts.cache, false),
        ))
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
    ) -> io::Result<usize> {
        let h = self.file(handle, node, linux::O_WRONLY)?;
        let mut f = h.file()?;
        let n = r.read_to(&mut *f, size as usize, offset)?;
        // The daemon writes as root, which keeps setuid/setgid bits; the host kernel clears
        // them for an unprivileged writer (A4 #24).
        if !self.is_guest_root(ctx) {
            let fd = h.fd()?;
            if let Some(mode) = rules::killed_suidgid(sys::fstat(fd)?.st_mode) {
                sys::fchmod(fd, mode)?;
            }
        }
        Ok(n)
    }

    /// A fresh fd of the regular file `node` for a DAX mapping; a handle the guest names must
    /// be its own open of that node.
    pub(super) fn do_mapping_fd(&self, node: u64, fh: u64, writable: bool) -> io::Result<OwnedFd> {
        // Linux maps by node and names no handle (-1); under zero-message opens 0 is the node.
        if fh != NO_HANDLE && (fh != 0 || !self.zero_open()) {
            self.handles.get(fh, node)?;
        }
        let n = self.nodes.get(node)?;
        let access = if writable {
            linux::O_RDWR
        } else {
            linux::O_RDONLY
        };
        self.open_file(&n, access)
    }
}
