//! Open files and directories: the guest's file handles mapped to fds opened for I/O.
//!
//! A handle belongs to one node id; a request that names a handle with another node gets
//! EBADF, as does a handle the guest was never given.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::fds::{Budget, HeldFd};

/// One open file or directory.
#[derive(Debug)]
pub struct Handle {
    pub node: u64,
    fd: HeldFd,
    /// Serialises seek + getdents on a directory handle.
    dir_pos: Mutex<()>,
}

impl Handle {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The fd as a `File` for the zero-copy traits, which want one by `&mut`. Only positional
    /// I/O (pread/pwrite) is done through it, so sharing the fd between threads is fine.
    pub fn file(&self) -> ManuallyDrop<File> {
        // SAFETY: the fd stays open as long as `self`, which outlives the returned value's use
        // by the caller; ManuallyDrop keeps the File from closing an fd it does not own.
        ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd.as_fd().as_raw_fd()) })
    }

    /// Locks the directory position for a seek + read.
    pub fn lock_dir(&self) -> MutexGuard<'_, ()> {
        self.dir_pos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// All handles the guest holds.
pub struct Handles {
    map: RwLock<HashMap<u64, Arc<Handle>>>,
    next: AtomicU64,
    budget: Arc<Budget>,
}

fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

impl Handles {
    pub fn new(budget: Arc<Budget>) -> Self {
        Handles {
            map: RwLock::default(),
            next: AtomicU64::new(0),
            budget,
        }
    }

    /// Keeps `fd` open for the guest under a new handle (EMFILE when its fd budget is spent).
    pub fn insert(&self, node: u64, fd: OwnedFd) -> io::Result<u64> {
        let h = self.transient(node, fd)?;
        // Handle 0 is never given out: a guest that sends 0 sends "no handle".
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map.write().map_err(|_| ebadf())?.insert(fh, h);
        Ok(fh)
    }

    /// A handle of node `node` for `fd` that no guest handle names: it lives as long as the
    /// request holding it (EMFILE when the fd budget is spent).
    pub fn transient(&self, node: u64, fd: OwnedFd) -> io::Result<Arc<Handle>> {
        Ok(Arc::new(Handle {
            node,
            fd: self.budget.hold(fd)?,
            dir_pos: Mutex::new(()),
        }))
    }

    /// The handle `fh` of node `node`, or EBADF.
    pub fn get(&self, fh: u64, node: u64) -> io::Result<Arc<Handle>> {
        let m = self.map.read().map_err(|_| ebadf())?;
        match m.get(&fh) {
            Some(h) if h.node == node => Ok(Arc::clone(h)),
            _ => Err(ebadf()),
        }
    }

    /// Removes the handle `fh` of node `node`; the fd closes when the last user is done.
    pub fn remove(&self, fh: u64, node: u64) -> io::Result<Arc<Handle>> {
        let mut m = self.map.write().map_err(|_| ebadf())?;
        match m.get(&fh) {
            Some(h) if h.node == node => m.remove(&fh).ok_or_else(ebadf),
            _ => Err(ebadf()),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_belong_to_their_node() {
        let hs = Handles::new(Budget::with_cap(10));
        let fd: OwnedFd = File::open("/").unwrap().into();
        let fh = hs.insert(7, fd).unwrap();
        assert_ne!(fh, 0);
        assert!(hs.get(fh, 7).is_ok());
        assert!(hs.get(fh, 8).is_err(), "another node's handle");
        assert!(hs.get(fh + 1, 7).is_err(), "forged handle");
        assert!(hs.remove(fh, 8).is_err());
        assert!(hs.remove(fh, 7).is_ok());
        assert!(hs.get(fh, 7).is_err(), "released");
        assert_eq!(hs.len(), 0);
    }
}
