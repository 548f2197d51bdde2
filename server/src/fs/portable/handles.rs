//! Open files and directories: the guest's handles. A handle belongs to one node id; a
//! request that names it with another node, or a handle never given, gets EBADF.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::sys::{err, DirEnt};

/// What a handle holds.
pub enum Open {
    File(Arc<File>),
    /// A directory's listing, read at OPENDIR and again whenever the guest starts over
    /// (offset 0); positions are indexes into it.
    Dir(Mutex<Vec<DirEnt>>),
}

pub struct Handle {
    pub node: u64,
    pub open: Open,
}

impl Handle {
    /// The open file's fd (EBADF for a directory handle).
    pub fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match &self.open {
            Open::File(f) => Ok(f.as_fd()),
            Open::Dir(_) => Err(err(libc::EBADF)),
        }
    }

    /// The fd as a `File` for the zero-copy traits, which want one by `&mut`. Only positional
    /// I/O (pread/pwrite) is done through it, so sharing the fd between threads is fine.
    pub fn file(&self) -> io::Result<ManuallyDrop<File>> {
        let fd = self.fd()?;
        // SAFETY: the fd stays open as long as `self`, which outlives the returned value's use
        // by the caller; ManuallyDrop keeps the File from closing an fd it does not own.
        Ok(ManuallyDrop::new(unsafe {
            File::from_raw_fd(fd.as_raw_fd())
        }))
    }

    /// The directory listing (EBADF for a file handle).
    pub fn listing(&self) -> io::Result<&Mutex<Vec<DirEnt>>> {
        match &self.open {
            Open::Dir(l) => Ok(l),
            Open::File(_) => Err(err(libc::EBADF)),
        }
    }
}

#[derive(Default)]
pub struct Handles {
    map: RwLock<HashMap<u64, Arc<Handle>>>,
    next: AtomicU64,
}

impl Handles {
    /// Keeps `open` for the guest under a new handle (never 0: a guest that sends 0 sends "no
    /// handle").
    pub fn insert(&self, node: u64, open: Open) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let h = Arc::new(Handle { node, open });
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fh, h);
        fh
    }

    pub fn get(&self, fh: u64, node: u64) -> io::Result<Arc<Handle>> {
        let m = self.map.read().unwrap_or_else(PoisonError::into_inner);
        match m.get(&fh) {
            Some(h) if h.node == node => Ok(Arc::clone(h)),
            _ => Err(err(libc::EBADF)),
        }
    }

    pub fn remove(&self, fh: u64, node: u64) -> io::Result<Arc<Handle>> {
        let mut m = self.map.write().unwrap_or_else(PoisonError::into_inner);
        match m.get(&fh) {
            Some(h) if h.node == node => m.remove(&fh).ok_or_else(|| err(libc::EBADF)),
            _ => Err(err(libc::EBADF)),
        }
    }

    /// An open file of `node`, if the guest holds one: how a file no name leads to any more
    /// (removed while open) is still reached.
    pub fn any_file_of(&self, node: u64) -> Option<Arc<Handle>> {
        let m = self.map.read().unwrap_or_else(PoisonError::into_inner);
        m.values()
            .find(|h| h.node == node && matches!(h.open, Open::File(_)))
            .cloned()
    }
}
