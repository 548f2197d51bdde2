//! The backend API: what the FUSE session asks of a host backend beyond fuse-backend-rs's
//! `FileSystem` trait.

use fuse_backend_rs::abi::fuse_abi::{CreateIn, OpenOptions};
use fuse_backend_rs::api::filesystem::{Context, Entry, FileSystem};

/// A COPY_FILE_RANGE request: from (node_in, fh_in, off_in) to (node_out, fh_out, off_out).
#[derive(Debug, Clone, Copy)]
pub struct CopyRange {
    pub node_in: u64,
    pub fh_in: u64,
    pub off_in: u64,
    pub node_out: u64,
    pub fh_out: u64,
    pub off_out: u64,
    pub len: u64,
    pub flags: u64,
}

/// Requests fuse-backend-rs's `FileSystem` trait has no method for. A backend without them
/// answers ENOSYS, and the guest falls back (to read + write, to no syncfs, to no O_TMPFILE).
pub trait BackendExt {
    fn copy_file_range(&self, _ctx: &Context, _a: &CopyRange) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }

    fn syncfs(&self, _ctx: &Context, _node: u64) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// statx(2) of a node (or of the open handle `fh`), with the guest's flags and mask.
    fn statx(
        &self,
        _ctx: &Context,
        _node: u64,
        _fh: Option<u64>,
        _flags: u32,
        _mask: u32,
    ) -> std::io::Result<(libc::statx, std::time::Duration)> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// An unnamed file in directory `parent` (O_TMPFILE), open, as CREATE answers.
    fn tmpfile(
        &self,
        _ctx: &Context,
        _parent: u64,
        _args: CreateIn,
    ) -> std::io::Result<(Entry, Option<u64>, OpenOptions)> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// Starts watching the host for changes to what the guest holds (see `session::agent`).
    fn watch(&self) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// Whether every directory the guest holds is watched and the agent keeps up with the
    /// changes (long timeouts are safe).
    fn watch_complete(&self) -> bool {
        false
    }

    /// Up to `max` host changes, oldest first, and whether changes were lost before them.
    fn changes(&self, _max: usize) -> (Vec<super::Resolved>, bool) {
        (Vec::new(), false)
    }

    /// How the guest may keep the listing of the directory `dir` it opens now (asked once
    /// per OPENDIR in coherent mode).
    fn listing_cache(&self, _dir: u64) -> super::ListingCache {
        super::ListingCache::Uncached
    }

    /// Puts changes taken but not delivered back, first in line.
    fn unget_changes(&self, _v: Vec<super::changes::Change>) {}

    /// Blocks until host changes wait to be taken, or for `timeout`; whether they do. A
    /// backend that does not watch answers false at once.
    fn wait_changes(&self, _timeout: std::time::Duration) -> bool {
        false
    }

    /// A fresh fd of the regular file `node`, read-only or read-write, for the VMM to map
    /// (DAX). `fh` is the guest's handle of that file (0 under zero-message opens), or
    /// [`NO_HANDLE`]: Linux maps by node and names none.
    fn mapping_fd(
        &self,
        _ctx: &Context,
        _node: u64,
        _fh: u64,
        _writable: bool,
    ) -> std::io::Result<std::os::fd::OwnedFd> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }
}

/// The `fh` of a SETUPMAPPING that names no handle (Linux sends -1, "not used").
pub const NO_HANDLE: u64 = u64::MAX;

/// Backends the server can drive: fuse-backend-rs's `FileSystem` with u64 inodes and handles,
/// plus [`BackendExt`].
pub trait Backend: FileSystem<Inode = u64, Handle = u64> + BackendExt + Send + Sync {}
impl<T: FileSystem<Inode = u64, Handle = u64> + BackendExt + Send + Sync> Backend for T {}
