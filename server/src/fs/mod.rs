//! Host file backends. [`linux`](mod@linux) is ferry's own Linux backend (O_PATH inodes, openat2 lookups
//! beneath the share, I/O through /proc/self/fd, caller credentials on create);
//! [`portable`](mod@portable) uses only POSIX calls (for macOS and the BSDs, and tested on
//! Linux). Backends sit behind [`Backend`] (the backend API, `backend.rs`) and share the
//! decisions in [`rules`], so another backend or a caching layer can be added without
//! touching the protocol layer.

mod backend;
pub mod changes;
pub mod linux;
pub mod portable;
pub mod rules;
pub mod xattrmap;

use std::io;

use crate::config::Config;

pub use backend::{Backend, BackendExt, CopyRange, NO_HANDLE};
pub use linux::LinuxFs;
pub use portable::PortableFs;

/// A backend error as the errno a session answers (EIO when it carries none).
pub fn errno(e: io::Error) -> libc::c_int {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The synthesised `.` and `..` entries (name, cookie) a listing from `offset` starts with, and
/// the backend offset to go on from after them.
pub fn listing_start(offset: u64) -> (&'static [(&'static [u8], u64)], u64) {
    match offset {
        0 => (&[(b".", DOT_OFF), (b"..", DOTDOT_OFF)], 0),
        DOT_OFF => (&[(b"..", DOTDOT_OFF)], 0),
        DOTDOT_OFF => (&[], 0),
        other => (&[], other),
    }
}

/// Cookie of the `.` entry a session lists before the backend's (which hides `.` and `..`).
/// Host cookies are small positions (tmpfs, btrfs, xfs) or 63-bit hashes (ext4), whose top
/// values are EOF markers; these two sit just below i64::MAX.
pub const DOT_OFF: u64 = i64::MAX as u64 - 2;
/// Cookie of the synthesised `..` entry.
pub const DOTDOT_OFF: u64 = i64::MAX as u64 - 1;

/// A host change with the paths the guest knows it by, from the share's root.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub change: changes::Change,
    pub path: Vec<u8>,
    /// A rename's new path.
    pub to: Option<Vec<u8>>,
    /// The S_IFMT bits of what the (new) path names now; 0 if it is gone.
    pub mode: u32,
}

/// How the guest may keep a directory's listing, asked at each OPENDIR while an agent keeps
/// the guest's caches coherent (see `session::agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingCache {
    /// Not at all: the first listing since the guest looked the directory up (one read once,
    /// by `find` or a cold walk, would cost the guest a copy into its cache for nothing).
    Uncached,
    /// Read from the daemon and kept (the guest read files of it since its last listing,
    /// and wants their attributes, which a listing from the daemon brings).
    Fresh,
    /// The guest's kept listing is current (any change since reached it through the agent).
    Keep,
}

/// Builds the Linux backend for `cfg` (the sandbox, if any, comes after: see
/// ferryd's sandbox).
pub fn linux(cfg: &Config) -> io::Result<LinuxFs> {
    let root = cfg.shared_dir.canonicalize()?;
    if !root.is_dir() {
        let msg = format!("{} is not a directory", root.display());
        return Err(io::Error::new(io::ErrorKind::NotADirectory, msg));
    }
    let opts = linux::Options {
        cache: cfg.cache,
        timeout: cfg.cache.timeout(),
        writeback: cfg.writeback,
        xattr: cfg.xattr.then(|| cfg.xattrmap.clone().unwrap_or_default()),
        killpriv_v2: cfg.killpriv_v2,
        allow_direct_io: cfg.allow_direct_io,
        locks: cfg.locks,
        announce_submounts: cfg.announce_submounts,
        max_guest_fds: None,
        file_handles: cfg.inode_file_handles,
        guest_root: cfg.ids.caller(0, 0),
        posix_acl: cfg.posix_acl,
        zero_open: cfg.zero_open,
        allow_devices: cfg.allow_devices,
    };
    LinuxFs::new(&root, opts)
}

/// Builds the portable POSIX backend for `cfg` (see [`portable`](mod@portable)).
pub fn portable(cfg: &Config) -> io::Result<PortableFs> {
    let root = cfg.shared_dir.canonicalize()?;
    let opts = portable::Options {
        cache: cfg.cache,
        timeout: cfg.cache.timeout(),
        guest_root: cfg.ids.caller(0, 0),
        allow_devices: cfg.allow_devices,
        zero_open: cfg.zero_open,
    };
    PortableFs::new(&root, opts)
}
