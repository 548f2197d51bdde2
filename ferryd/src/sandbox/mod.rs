//! Confinement: what the daemon can still reach once it serves the guest.
//!
//! In order: [`prepare`] (before the backend opens anything: new namespaces, with a fork),
//! the backend opens the shared directory and /proc/self/fd, then [`confine`] (pivot_root or
//! chroot into the share, capabilities reduced, the seccomp filter on every thread). Both run
//! before any thread starts.

pub mod caps;
mod ns;
pub mod seccomp;

use std::io;
use std::path::Path;

use log::info;

use crate::sys;
use ferry_server::config::{Config, Sandbox};
use ferry_server::fs::{LinuxFs, PortableFs};

/// What the sandbox needs of a backend.
pub trait Confinable {
    /// Called once the process's root changed (chroot or pivot_root).
    fn enter(&self) -> io::Result<()> {
        Ok(())
    }

    /// Whether the backend opens file handles (CAP_DAC_READ_SEARCH is then kept).
    fn uses_file_handles(&self) -> bool {
        false
    }
}

impl Confinable for LinuxFs {
    /// The Linux backend reaches inodes through its working directory, /proc/self/fd (the
    /// chroot hides /proc).
    fn enter(&self) -> io::Result<()> {
        self.use_proc_cwd()
    }

    fn uses_file_handles(&self) -> bool {
        LinuxFs::uses_file_handles(self)
    }
}

/// The portable backend holds directory fds and needs nothing of the process.
impl Confinable for PortableFs {}

/// The first step, before the backend opens the share: with `--sandbox namespace` the process
/// forks into new PID, mount and network namespaces (the parent waits outside and never
/// returns) with a private /proc.
pub fn prepare(cfg: &Config, root: &Path) -> io::Result<()> {
    if let Err(e) = sys::drop_supplementary_groups() {
        log::warn!("cannot drop supplementary groups: {e}");
    }
    if cfg.sandbox == Sandbox::Namespace {
        ns::enter(root)?;
    }
    Ok(())
}

/// The last step, once the backend holds the share and /proc/self/fd open.
pub fn confine(cfg: &Config, root: &Path, fs: &impl Confinable) -> io::Result<()> {
    match cfg.sandbox {
        Sandbox::Namespace => ns::pivot_into(root)?,
        Sandbox::Chroot => sys::chroot_into(root)?,
        Sandbox::None => {}
    }
    fs.enter()?;
    // File handles are opened with open_by_handle_at, which needs CAP_DAC_READ_SEARCH.
    let mut changes = Vec::new();
    if fs.uses_file_handles() {
        changes.push(caps::CapChange {
            add: true,
            cap: ::caps::Capability::CAP_DAC_READ_SEARCH.to_string(),
        });
    }
    changes.extend_from_slice(&cfg.modcaps);
    let kept = caps::drop_to(&changes)?;
    let mut names: Vec<String> = kept.iter().map(|c| c.to_string()).collect();
    names.sort();
    info!(
        "sandbox {:?}, seccomp {:?}, capabilities {}",
        cfg.sandbox,
        cfg.seccomp,
        names.join(",")
    );
    seccomp::install(cfg.seccomp)
}
