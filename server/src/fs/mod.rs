//! Host file backends. The Linux backend is fuse-backend-rs's `PassthroughFs`: inodes held as
//! O_PATH fds, every operation fd-relative, I/O reopened through /proc/self/fd, special files
//! never opened. Backends sit behind [`crate::server::Backend`], so a portable POSIX backend or a
//! caching layer can be added without touching the protocol layer.

use std::io;

use fuse_backend_rs::passthrough::{self, PassthroughFs};

use crate::args::timeout;
use crate::config::{CachePolicy, Config, Sandbox};
use crate::sys;

/// The Linux host backend.
pub type LinuxFs = PassthroughFs<()>;

/// Builds the Linux backend for `cfg`. With `--sandbox chroot` the daemon is confined to the
/// shared directory here, once the backend holds its /proc/self/fd handle, so the backend opens
/// the share as `/` when the guest sends INIT.
pub fn linux(cfg: &Config) -> io::Result<LinuxFs> {
    let root = cfg.shared_dir.canonicalize()?;
    if !root.is_dir() {
        let msg = format!("{} is not a directory", root.display());
        return Err(io::Error::new(io::ErrorKind::NotADirectory, msg));
    }
    if cfg.sandbox == Sandbox::Chroot {
        let fs = PassthroughFs::new(passthrough_config(cfg, "/".to_string()))?;
        sys::chroot_into(&root)?;
        return Ok(fs);
    }
    let root_dir = root.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "shared directory path is not UTF-8",
        )
    })?;
    PassthroughFs::new(passthrough_config(cfg, root_dir.to_string()))
}

fn passthrough_config(cfg: &Config, root_dir: String) -> passthrough::Config {
    let t = timeout(cfg.cache);
    passthrough::Config {
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
    }
}
