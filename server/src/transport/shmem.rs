//! The DAX cache window over vhost-user: virtio shared memory region 0, which the VMM owns.
//! The daemon announces its size (GET_SHMEM_CONFIG) and asks for mappings with SHMEM_MAP and
//! SHMEM_UNMAP on the backend channel, waiting for the VMM's acknowledgement (REPLY_ACK) so
//! that the guest's SETUPMAPPING is answered only once the range is mapped.
//!
//! A VMM (QEMU 11.1) refuses a mapping that overlaps one it holds and unmaps only a range
//! that is exactly one mapping; a FUSE guest instead maps over what is there (Linux upgrades
//! a read-only range to writable by mapping it again) and removes any ranges. So the window
//! keeps the ranges it had mapped: what a new mapping overlaps is unmapped first, and a
//! removal unmaps each mapping it touches, whole.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use vhost::vhost_user::message::{VhostUserMMap, VhostUserMMapFlags};
use vhost::vhost_user::{Backend as BackendReq, VhostUserFrontendReqHandler};

use crate::session::Window;

/// Largest window ferryd announces (the guest sees it as a PCI BAR or an MMIO range).
pub const MAX_WINDOW: u64 = 1 << 40;
/// Granule of the window's size: Linux maps DAX ranges of 2 MiB.
pub const WINDOW_GRANULE: u64 = 2 << 20;

/// Whether `size` can be a window: a non-zero multiple of [`WINDOW_GRANULE`], at most
/// [`MAX_WINDOW`].
pub fn check_size(size: u64) -> Result<(), &'static str> {
    if size == 0 || !size.is_multiple_of(WINDOW_GRANULE) || size > MAX_WINDOW {
        return Err("expected a non-zero multiple of 2 MiB, at most 1 TiB");
    }
    Ok(())
}

/// The window and the channel the VMM gave for it.
pub struct ShmemWindow {
    size: u64,
    state: Mutex<State>,
}

/// The channel and the ranges mapped through it, under one lock held over each exchange with
/// the VMM (mappings change one request at a time).
#[derive(Default)]
struct State {
    channel: Option<BackendReq>,
    /// Window offset of each mapping → its length. At most window / 2 MiB entries (ranges
    /// are aligned and never overlap).
    mapped: BTreeMap<u64, u64>,
}

impl State {
    fn channel(&self) -> io::Result<&BackendReq> {
        self.channel
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))
    }

    /// The mappings that share a byte with `[start, start + len)`.
    fn overlapping(&self, start: u64, len: u64) -> Vec<(u64, u64)> {
        let end = start.saturating_add(len);
        // The one mapping that starts before `start` may reach into the range.
        let before = self.mapped.range(..start).next_back();
        before
            .into_iter()
            .chain(self.mapped.range(start..end))
            .filter(|&(&s, &l)| s < end && s.saturating_add(l) > start)
            .map(|(&s, &l)| (s, l))
            .collect()
    }

    /// Unmaps each mapping touching the range, whole.
    fn unmap_overlapping(&mut self, start: u64, len: u64) -> io::Result<()> {
        for (s, l) in self.overlapping(start, len) {
            let req = mmap_req(0, s, l, false);
            self.channel()?
                .shmem_unmap(&req)
                .map_err(|e| vmm_failed("SHMEM_UNMAP", &e))?;
            self.mapped.remove(&s);
        }
        Ok(())
    }
}

impl ShmemWindow {
    /// A window of `size` bytes ([`check_size`]).
    pub fn new(size: u64) -> io::Result<Self> {
        check_size(size).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        Ok(ShmemWindow {
            size,
            state: Mutex::new(State::default()),
        })
    }

    /// The size announced to the VMM, whether or not it can map yet.
    pub fn announced_size(&self) -> u64 {
        self.size
    }

    /// The backend channel, once the VMM has acked VHOST_USER_PROTOCOL_F_SHMEM. A new channel
    /// (a VMM that connected again) starts with nothing mapped.
    pub fn connect(&self, channel: BackendReq) {
        if let Ok(mut st) = self.state.lock() {
            *st = State {
                channel: Some(channel),
                mapped: BTreeMap::new(),
            };
        }
    }

    fn state(&self) -> io::Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| io::Error::from_raw_os_error(libc::EIO))
    }
}

fn mmap_req(foffset: u64, moffset: u64, len: u64, writable: bool) -> VhostUserMMap {
    VhostUserMMap {
        shmid: 0,
        padding: [0; 7],
        fd_offset: foffset,
        shm_offset: moffset,
        len,
        flags: if writable {
            VhostUserMMapFlags::WRITABLE.bits()
        } else {
            0
        },
    }
}

/// A VMM that refused or failed a request: the guest gets EIO (its errno does not cross).
fn vmm_failed(what: &str, e: &io::Error) -> io::Error {
    log::warn!("VMM {what} failed: {e}");
    io::Error::from_raw_os_error(libc::EIO)
}

impl Window for ShmemWindow {
    fn size(&self) -> u64 {
        match self.state.lock() {
            Ok(st) if st.channel.is_some() => self.size,
            _ => 0,
        }
    }

    fn map(
        &self,
        fd: BorrowedFd<'_>,
        foffset: u64,
        moffset: u64,
        len: u64,
        writable: bool,
    ) -> io::Result<()> {
        let mut st = self.state()?;
        st.channel()?;
        st.unmap_overlapping(moffset, len)?;
        let req = mmap_req(foffset, moffset, len, writable);
        st.channel()?
            .shmem_map(&req, &fd)
            .map_err(|e| vmm_failed("SHMEM_MAP", &e))?;
        st.mapped.insert(moffset, len);
        Ok(())
    }

    fn unmap(&self, moffset: u64, len: u64) -> io::Result<()> {
        let mut st = self.state()?;
        st.channel()?;
        st.unmap_overlapping(moffset, len)
    }
}

#[cfg(test)]
mod tests;
