//! Guest memory: one memfd-backed region the client maps itself and shares with the daemon
//! through SET_MEM_TABLE, plus checked accessors.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::Ordering;

use vhost::VhostUserMemoryRegionInfo;
use vm_memory::{
    Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestRegionMmap,
};

use crate::error::{Error, Result};

/// Guest physical address of the start of guest memory.
pub const GUEST_BASE: u64 = 0;

/// The guest's RAM: a shared mapping of a memfd.
pub struct GuestMem {
    mem: GuestMemoryMmap<()>,
    file: File,
    size: u64,
    host_base: u64,
}

fn memfd(size: u64) -> Result<File> {
    let name: &CStr = c"ferry-guest-ram";
    // SAFETY: `name` is a valid NUL-terminated string; the call only creates a new fd.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("memfd_create")(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size).map_err(Error::io("ftruncate memfd"))?;
    Ok(file)
}

impl GuestMem {
    /// Creates `size` bytes of shared guest memory at guest address [`GUEST_BASE`].
    pub fn new(size: u64) -> Result<Self> {
        let len = usize::try_from(size).map_err(|_| Error::Memory("size too large".into()))?;
        let file = memfd(size)?;
        let dup = file.try_clone().map_err(Error::io("dup memfd"))?;
        let region = GuestRegionMmap::from_range(
            GuestAddress(GUEST_BASE),
            len,
            Some(FileOffset::new(dup, 0)),
        )
        .map_err(|e| Error::Memory(e.to_string()))?;
        let mem = GuestMemoryMmap::from_regions(vec![region])
            .map_err(|e| Error::Memory(e.to_string()))?;
        let host_base = mem
            .get_host_address(GuestAddress(GUEST_BASE))
            .map_err(|e| Error::Memory(e.to_string()))? as u64;
        Ok(GuestMem {
            mem,
            file,
            size,
            host_base,
        })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The region as SET_MEM_TABLE describes it (the fd stays owned by `self`).
    pub fn region_info(&self) -> VhostUserMemoryRegionInfo {
        VhostUserMemoryRegionInfo {
            guest_phys_addr: GUEST_BASE,
            memory_size: self.size,
            userspace_addr: self.host_base,
            mmap_offset: 0,
            mmap_handle: self.file.as_raw_fd(),
        }
    }

    /// The frontend's virtual address of guest address `gpa` (vring addresses are given to
    /// the daemon this way).
    pub fn host_addr(&self, gpa: u64) -> u64 {
        self.host_base + (gpa - GUEST_BASE)
    }

    /// Copies `buf` to `gpa`.
    pub fn write(&self, gpa: u64, buf: &[u8]) -> Result<()> {
        self.mem
            .write_slice(buf, GuestAddress(gpa))
            .map_err(|e| Error::Memory(e.to_string()))
    }

    /// Fills `buf` from `gpa`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<()> {
        self.mem
            .read_slice(buf, GuestAddress(gpa))
            .map_err(|e| Error::Memory(e.to_string()))
    }

    /// Atomic u16 store (ring indexes).
    pub fn store_u16(&self, gpa: u64, v: u16, order: Ordering) -> Result<()> {
        self.mem
            .store(v.to_le(), GuestAddress(gpa), order)
            .map_err(|e| Error::Memory(e.to_string()))
    }

    /// Atomic u16 load (ring indexes).
    pub fn load_u16(&self, gpa: u64, order: Ordering) -> Result<u16> {
        self.mem
            .load::<u16>(GuestAddress(gpa), order)
            .map(u16::from_le)
            .map_err(|e| Error::Memory(e.to_string()))
    }

    /// The underlying vm-memory object (for tests that put a device on the same memory).
    pub fn vm_memory(&self) -> &GuestMemoryMmap<()> {
        &self.mem
    }
}
