//! DAX: SETUPMAPPING and REMOVEMAPPING, served through the transport's cache window.
//!
//! The daemon keeps no mapping state: the window's owner (the VMM, or the guest client) holds
//! the mappings, and every range the guest names is checked against the window before it is
//! passed on. The file is reopened for each mapping (read-only, or read-write for a writable
//! one), and that fd is closed once the VMM has mapped it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;

use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::mapping::{check_range, RemoveMappingOne, SetupMappingIn, FLAG_READ, FLAG_WRITE};

/// A device's cache window (virtio shared memory region 0), as the transport provides it.
pub trait Window: Send + Sync {
    /// Bytes in the window; 0 while the VMM cannot map (no backend channel, or it did not
    /// accept VHOST_USER_PROTOCOL_F_SHMEM).
    fn size(&self) -> u64;
    /// Has `len` bytes of `fd` from `foffset` mapped at `moffset` of the window, writable or
    /// read-only, replacing whatever was mapped there.
    fn map(
        &self,
        fd: BorrowedFd<'_>,
        foffset: u64,
        moffset: u64,
        len: u64,
        writable: bool,
    ) -> io::Result<()>;
    /// Has `len` bytes at `moffset` unmapped.
    fn unmap(&self, moffset: u64, len: u64) -> io::Result<()>;
}

impl<F: Backend> Server<F> {
    /// The window, if one is configured and the VMM can map into it.
    fn usable_window(&self) -> Result<&dyn Window, Errno> {
        match &self.window {
            Some(w) if w.size() > 0 => Ok(w.as_ref()),
            _ => Err(libc::ENOSYS),
        }
    }

    /// Whether INIT offers the guest a cache window.
    pub(super) fn has_window(&self) -> bool {
        self.usable_window().is_ok()
    }

    /// FUSE_ATTR_DAX for `st` under per-file DAX (a `-o dax=inode` mount): regular files of
    /// at least `dax_min_size` bytes, where a 2 MiB mapping saves more READ round trips than
    /// it costs (a SETUPMAPPING, and a REMOVEMAPPING when the window is full). Linux decides
    /// when it first sees the inode: a file that grows past the line later is mapped once the
    /// guest has dropped the inode and looks it up again.
    pub(super) fn dax_attr(&self, st: &libc::stat64) -> u32 {
        let file = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        let big = u64::try_from(st.st_size).is_ok_and(|n| n >= self.opts.dax_min_size);
        if file && big && self.inode_dax.load(Ordering::Relaxed) {
            ferry_fuse::attr::DAX
        } else {
            0
        }
    }

    pub(super) fn setup_mapping(&self, c: &Ctx<'_, '_>, a: SetupMappingIn) -> Result<(), Errno> {
        let w = self.usable_window()?;
        if a.flags & !(FLAG_READ | FLAG_WRITE) != 0 {
            return Err(libc::EINVAL);
        }
        check_range(a.moffset, a.len, Some(a.foffset), w.size())?;
        let writable = a.flags & FLAG_WRITE != 0;
        let fd = (self.fs)
            .mapping_fd(&c.ctx, c.h.nodeid, a.fh, writable)
            .map_err(errno)?;
        w.map(fd.as_fd(), a.foffset, a.moffset, a.len, writable)
            .map_err(errno)
    }

    pub(super) fn remove_mapping(&self, v: &[RemoveMappingOne]) -> Result<(), Errno> {
        let w = self.usable_window()?;
        // All or nothing as far as the checks go: no range is unmapped if one is bad.
        for one in v {
            check_range(one.moffset, one.len, None, w.size())?;
        }
        for one in v {
            w.unmap(one.moffset, one.len).map_err(errno)?;
        }
        Ok(())
    }
}
