//! The DAX cache window over vhost-user: virtio shared memory region 0, which the VMM owns.
//! The daemon announces its size (GET_SHMEM_CONFIG) and asks for mappings with SHMEM_MAP and
//! SHMEM_UNMAP on the backend channel, waiting for the VMM's acknowledgement (REPLY_ACK) so
//! that the guest's SETUPMAPPING is answered only once the range is mapped.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use vhost::vhost_user::message::{VhostUserMMap, VhostUserMMapFlags};
use vhost::vhost_user::{Backend as BackendReq, VhostUserFrontendReqHandler};

use crate::server::Window;

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
    channel: Mutex<Option<BackendReq>>,
}

impl ShmemWindow {
    /// A window of `size` bytes ([`check_size`]).
    pub fn new(size: u64) -> io::Result<Self> {
        check_size(size).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        Ok(ShmemWindow {
            size,
            channel: Mutex::new(None),
        })
    }

    /// The size announced to the VMM, whether or not it can map yet.
    pub fn announced_size(&self) -> u64 {
        self.size
    }

    /// The backend channel, once the VMM has acked VHOST_USER_PROTOCOL_F_SHMEM.
    pub fn connect(&self, channel: BackendReq) {
        if let Ok(mut c) = self.channel.lock() {
            *c = Some(channel);
        }
    }

    fn channel(&self) -> io::Result<BackendReq> {
        self.channel
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))
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
        match self.channel.lock() {
            Ok(c) if c.is_some() => self.size,
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
        let req = mmap_req(foffset, moffset, len, writable);
        (self.channel()?)
            .shmem_map(&req, &fd)
            .map(drop)
            .map_err(|e| vmm_failed("SHMEM_MAP", &e))
    }

    fn unmap(&self, moffset: u64, len: u64) -> io::Result<()> {
        let req = mmap_req(0, moffset, len, false);
        (self.channel()?)
            .shmem_unmap(&req)
            .map(drop)
            .map_err(|e| vmm_failed("SHMEM_UNMAP", &e))
    }
}
