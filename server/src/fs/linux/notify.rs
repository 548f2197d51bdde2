//! The backend's side of the agent channel: starting the host watcher ([`watch`]), watching
//! each directory the guest comes to hold, and handing the session the queued changes with
//! their paths.

use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use fuse_backend_rs::abi::fuse_abi::ROOT_ID;

use super::watch::Watcher;
use super::{sys, LinuxFs};
use crate::fs::changes::{Change, Kind};
use crate::fs::Resolved;

/// Changes waiting past which the agent is behind: coherent mode pauses (new replies get the
/// short timeouts) until it catches up.
const BEHIND: usize = 4096;

impl LinuxFs {
    /// Starts the watcher (once) and watches every directory the guest holds.
    pub(super) fn start_watch(&self) -> io::Result<()> {
        if self.watcher.get().is_some() {
            return Ok(());
        }
        // One start at a time: a watcher made by a racing READ and then dropped would leave
        // its thread blocked on its fanotify fd for good.
        let _one = self
            .watch_start
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.watcher.get().is_some() {
            return Ok(());
        }
        let w = Watcher::start()?;
        let w = Arc::clone(self.watcher.get_or_init(|| w));
        for node in self.inodes.dirs() {
            if let Ok(n) = self.inodes.get(node) {
                w.watch(node, self.proc.as_fd(), n.fd());
            }
        }
        Ok(())
    }

    /// Watches the directory `node` if the watcher runs.
    pub(super) fn watch_dir(&self, node: u64) {
        if let Some(w) = self.watcher.get() {
            if let Ok(n) = self.inodes.get(node) {
                w.watch(node, self.proc.as_fd(), n.fd());
            }
        }
    }

    /// Gives back `count` of the guest's references to `node`, and unwatches a directory the
    /// guest no longer holds.
    pub(super) fn forget_node(&self, node: u64, count: u64) {
        let Some((inode, fd)) = self.inodes.forget(node, count) else {
            return;
        };
        if let (Some(w), true) = (self.watcher.get(), inode.is_dir()) {
            w.unwatch(node, self.proc.as_fd(), fd.as_ref().map(|f| f.as_fd()));
        }
    }

    /// Up to `max` queued changes with their paths, and whether changes were lost before
    /// them. A change whose directory can no longer be named is dropped (the guest no
    /// longer holds it, or it was removed). Host renames move the node's anchor here, in
    /// order, so that later changes under it are named by the new path.
    pub(super) fn take_changes(&self, max: usize) -> (Vec<Resolved>, bool) {
        let Some(w) = self.watcher.get() else {
            return (Vec::new(), false);
        };
        let (v, lost) = w.queue.take(max);
        let mut out = Vec::with_capacity(v.len());
        for c in v {
            let Some(path) = self.path_in(c.parent, &c.name) else {
                continue;
            };
            let to = match &c.to {
                Some((p, n)) => match self.path_in(*p, n) {
                    Some(t) => Some(t),
                    None => continue,
                },
                None => None,
            };
            let mode = match (&c.kind, &c.to) {
                (Kind::Delete, _) => dir_mode(c.dir),
                (_, Some((p, n))) => self.mode_at(*p, n).unwrap_or(dir_mode(c.dir)),
                _ => self.mode_at(c.parent, &c.name).unwrap_or(0),
            };
            if c.kind == Kind::Rename {
                self.moved_on_host(&c);
            }
            out.push(Resolved {
                change: c,
                path,
                to,
                mode,
            });
        }
        (out, lost)
    }

    /// Whether every directory the guest holds is watched and the agent keeps up (fewer than
    /// [`BEHIND`] changes wait for it).
    pub(super) fn watch_complete(&self) -> bool {
        self.watcher
            .get()
            .is_some_and(|w| !w.incomplete() && w.queue.backlog() < BEHIND)
    }

    fn path_in(&self, parent: u64, name: &[u8]) -> Option<Vec<u8>> {
        let mut p = self.node_path(parent)?;
        if !p.is_empty() {
            p.push(b'/');
        }
        p.extend_from_slice(name);
        Some(p)
    }

    /// The path of a node from the share's root: by its names, else (a node found by
    /// handle) by where its fd leads now.
    pub(super) fn node_path(&self, node: u64) -> Option<Vec<u8>> {
        if let Some(p) = self.inodes.path_of(node) {
            return Some(p);
        }
        let root = sys::readlink_fd(self.proc.as_fd(), self.inodes.get(ROOT_ID).ok()?.fd())?;
        let here = sys::readlink_fd(self.proc.as_fd(), self.inodes.get(node).ok()?.fd())?;
        let rest = here.strip_prefix(root.as_slice())?;
        match rest {
            [] => Some(Vec::new()),
            [b'/', tail @ ..] if !tail.ends_with(b" (deleted)") => Some(tail.to_vec()),
            _ => None,
        }
    }

    fn mode_at(&self, parent: u64, name: &[u8]) -> Option<u32> {
        let p = self.inodes.get(parent).ok()?;
        let name = CString::new(name).ok()?;
        let (st, _) = sys::stat_at(p.fd(), &name).ok()?;
        Some(st.st_mode & libc::S_IFMT)
    }

    /// A host rename of a name the guest holds: its node is found under the new name now.
    fn moved_on_host(&self, c: &Change) {
        let Some((np, nname)) = &c.to else {
            return;
        };
        let key = self.inodes.name_key(c.parent, &c.name);
        let (Some(node), Ok(parent), Ok(name)) = (
            self.inodes.named(key),
            self.inodes.get(*np),
            CString::new(nname.as_slice()),
        ) else {
            return;
        };
        self.inodes.rename(node, &parent, &name);
    }
}

fn dir_mode(dir: bool) -> u32 {
    if dir {
        libc::S_IFDIR
    } else {
        libc::S_IFREG
    }
}
