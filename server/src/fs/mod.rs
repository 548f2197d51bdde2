//! Host file backends. The Linux backend is fuse-backend-rs's `PassthroughFs`: inodes held as
//! O_PATH fds, every operation fd-relative, I/O reopened through /proc/self/fd, special files
//! never opened. Backends sit behind [`crate::server::Backend`], so a portable POSIX backend or a
//! caching layer can be added without touching the protocol layer.

use std::io;

use fuse_backend_rs::passthrough::{self, PassthroughFs};

use crate::args::timeout;
use crate::config::{CachePolicy, Config};

/// The Linux host backend.
pub type LinuxFs = PassthroughFs<()>;

/// Builds the Linux backend for `cfg`.
pub fn linux(cfg: &Config) -> io::Result<LinuxFs> {
    let root = cfg.shared_dir.canonicalize()?;
    if !root.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", root.display()),
        ));
    }
    let root_dir = root
        .to_str()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "shared directory path is not UTF-8",
            )
        })?
        .to_string();
    let t = timeout(cfg.cache);
    let pcfg = passthrough::Config {
        root_dir,
        entry_timeout: t,
        attr_timeout: t,
        cache_policy: match cfg.cache {
            CachePolicy::Never => passthrough::CachePolicy::Never,
            CachePolicy::Metadata => passthrough::CachePolicy::Metadata,
            CachePolicy::Auto => passthrough::CachePolicy::Auto,
            CachePolicy::Always => passthrough::CachePolicy::Always,
        },
        writeback: cfg.writeback,
        xattr: cfg.xattr,
        do_import: true,
        killpriv_v2: cfg.killpriv_v2,
        inode_file_handles: cfg.inode_file_handles,
        allow_direct_io: cfg.allow_direct_io,
        ..Default::default()
    };
    PassthroughFs::new(pcfg)
}
