//! The DAX cache window: virtio shared memory region 0, as a VMM provides it. The daemon
//! announces its size (GET_SHMEM_CONFIG); the client reserves that much address space with
//! no access, and maps file ranges into it when the daemon asks (SHMEM_MAP / SHMEM_UNMAP on
//! the backend channel, each acknowledged). The guest side then reads and writes the file
//! through [`Window::read`] and [`Window::write`], as a DAX guest reads its page cache.
//!
//! Nothing the daemon asks is trusted: a region other than 0, a range outside the window or
//! not page-aligned, or unknown flags is refused (the daemon gets an error ack), and only
//! ranges the daemon has mapped can be read (and only writable ones written). Reading a mapped
//! range beyond the end of its file raises SIGBUS, as it would in a VMM.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use vhost::vhost_user::message::{VhostUserMMap, VhostUserMMapFlags};
use vhost::vhost_user::{FrontendReqHandler, HandlerResult, VhostUserFrontendReqHandler};

use crate::error::{Error, Result};

/// Largest window the client reserves (address space only, nothing is committed).
pub const MAX_WINDOW: u64 = 1 << 40;
const PAGE: u64 = 4096;

/// Mapped ranges: start -> (end, writable), never overlapping.
#[derive(Debug, Default)]
struct Ranges(BTreeMap<u64, (u64, bool)>);

impl Ranges {
    /// Forgets [start, end), keeping the parts of ranges that stick out of it.
    fn remove(&mut self, start: u64, end: u64) {
        let hit: Vec<(u64, (u64, bool))> = self
            .0
            .range(..end)
            .filter(|(_, &(e, _))| e > start)
            .map(|(&s, &v)| (s, v))
            .collect();
        for (s, (e, w)) in hit {
            self.0.remove(&s);
            if s < start {
                self.0.insert(s, (start, w));
            }
            if e > end {
                self.0.insert(end, (e, w));
            }
        }
    }

    fn insert(&mut self, start: u64, end: u64, writable: bool) {
        self.remove(start, end);
        self.0.insert(start, (end, writable));
    }

    /// Whether every byte of [start, end) is mapped (and writable, if asked).
    fn covers(&self, start: u64, end: u64, writable: bool) -> bool {
        let mut at = start;
        while at < end {
            match self.0.range(..=at).next_back() {
                Some((_, &(e, w))) if e > at && (w || !writable) => at = e,
                _ => return false,
            }
        }
        true
    }
}

/// The window's address space and what is mapped in it.
#[derive(Debug)]
pub struct Window {
    base: NonNull<u8>,
    size: u64,
    ranges: Mutex<Ranges>,
}

// SAFETY: the reservation is only touched through the checks below, with `ranges` locked for
// every mmap into it and every copy out of it, so no thread reads a range another unmaps.
unsafe impl Send for Window {}
// SAFETY: as above.
unsafe impl Sync for Window {}

fn os(what: &'static str) -> Error {
    Error::Io {
        what,
        source: io::Error::last_os_error(),
    }
}

impl Window {
    /// Reserves `size` bytes of address space, with no access.
    pub fn new(size: u64) -> Result<Self> {
        if size == 0 || !size.is_multiple_of(PAGE) || size > MAX_WINDOW {
            return Err(Error::BadReply(format!("a cache window of {size} bytes")));
        }
        let len = usize::try_from(size).map_err(|_| Error::Memory("window too large".into()))?;
        // SAFETY: a fresh anonymous reservation; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os("reserving the cache window"));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| os("reserving the cache window"))?;
        Ok(Window {
            base,
            size,
            ranges: Mutex::default(),
        })
    }

    /// Bytes in the window.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn ranges(&self) -> MutexGuard<'_, Ranges> {
        self.ranges.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mapped ranges: (offset, length, writable), in order.
    pub fn mapped(&self) -> Vec<(u64, u64, bool)> {
        let r = self.ranges();
        r.0.iter().map(|(&s, &(e, w))| (s, e - s, w)).collect()
    }

    /// Runs `copy` on the address of window byte `offset` with the mappings locked, once
    /// every byte of [offset, offset + len) is inside the window and mapped (writable, if
    /// asked).
    fn with_mapped(
        &self,
        offset: u64,
        len: usize,
        writable: bool,
        copy: impl FnOnce(*mut u8),
    ) -> Result<()> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&end| end <= self.size)
            .ok_or_else(|| {
                Error::InvalidRequest(format!("{len} bytes at {offset} outside the window"))
            })?;
        let r = self.ranges();
        if !r.covers(offset, end, writable) {
            let how = if writable {
                "mapped writable"
            } else {
                "mapped"
            };
            return Err(Error::InvalidRequest(format!(
                "window bytes {offset}..{end} not {how}"
            )));
        }
        // SAFETY: offset < end <= size, inside the reservation; `copy` runs while `r` is held,
        // so the range stays mapped as checked (mappings change only under that lock).
        copy(unsafe { self.base.as_ptr().add(offset as usize) });
        drop(r);
        Ok(())
    }

    /// Copies `buf.len()` bytes of the window at `offset` out. Every byte must be mapped.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = buf.len();
        self.with_mapped(offset, n, false, |p| {
            // SAFETY: `p` starts `n` mapped, readable bytes (with_mapped checked them).
            unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n) }
        })
    }

    /// Copies `data` into the window at `offset`. Every byte must be mapped writable.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.with_mapped(offset, data.len(), true, |p| {
            // SAFETY: `p` starts `data.len()` mapped, writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
        })
    }

    /// The daemon's request, checked: region 0, page-aligned, inside, known flags.
    fn check(&self, req: &VhostUserMMap) -> io::Result<(u64, u64, bool)> {
        let (shmid, off, len, foff, flags) =
            (req.shmid, req.shm_offset, req.len, req.fd_offset, req.flags);
        let flags = VhostUserMMapFlags::from_bits(flags);
        let ok = shmid == 0
            && len > 0
            && off.is_multiple_of(PAGE)
            && len.is_multiple_of(PAGE)
            && foff.is_multiple_of(PAGE)
            && off.checked_add(len).is_some_and(|e| e <= self.size)
            && foff.checked_add(len).is_some_and(|e| e <= i64::MAX as u64);
        match flags {
            Some(f) if ok => Ok((off, len, f.contains(VhostUserMMapFlags::WRITABLE))),
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }

    /// mmap at `off` of the window, over whatever is there.
    fn mmap_at(
        &self,
        off: u64,
        len: u64,
        prot: i32,
        flags: i32,
        fd: i32,
        foff: u64,
    ) -> io::Result<()> {
        // SAFETY: [off, off + len) was checked to lie inside the reservation, which this
        // Window owns; MAP_FIXED only replaces pages of it.
        let p = unsafe {
            libc::mmap(
                self.base.as_ptr().add(off as usize).cast(),
                len as usize,
                prot,
                flags | libc::MAP_FIXED,
                fd,
                foff.cast_signed(),
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn map(&self, req: &VhostUserMMap, fd: &dyn AsRawFd) -> io::Result<()> {
        let (off, len, writable) = self.check(req)?;
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        let mut r = self.ranges();
        self.mmap_at(
            off,
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            req.fd_offset,
        )?;
        r.insert(off, off + len, writable);
        Ok(())
    }

    fn unmap(&self, req: &VhostUserMMap) -> io::Result<()> {
        let mut probe = *req;
        probe.fd_offset = 0;
        let (off, len, _) = self.check(&probe)?;
        let mut r = self.ranges();
        self.mmap_at(
            off,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )?;
        r.remove(off, off + len);
        Ok(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: the whole reservation, which nothing uses any more.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

/// Serves the daemon's backend requests on a window.
struct Handler(Arc<Window>);

impl VhostUserFrontendReqHandler for Handler {
    fn shmem_map(&self, req: &VhostUserMMap, fd: &dyn AsRawFd) -> HandlerResult<u64> {
        self.0.map(req, fd).map(|()| 0)
    }

    fn shmem_unmap(&self, req: &VhostUserMMap) -> HandlerResult<u64> {
        self.0.unmap(req).map(|()| 0)
    }
}

/// The backend channel's serving thread, stopped when this is dropped.
#[derive(Debug)]
pub struct Channel {
    /// A second fd of the socket the thread reads, to shut it down from here.
    sock: OwnedFd,
}

impl Channel {
    /// Starts serving `window` on a new channel; returns it and the fd to send the daemon
    /// (SET_BACKEND_REQ_FD), which the caller closes once sent.
    pub fn start(window: Arc<Window>) -> Result<(Self, OwnedFd)> {
        let io = |what| move |e| Error::Io { what, source: e };
        let mut h = FrontendReqHandler::new(Arc::new(Handler(window)))
            .map_err(|e| Error::Vhost(vhost::Error::VhostUserProtocol(e)))?;
        h.set_reply_ack_flag(true);
        // SAFETY: both fds belong to `h`, alive here; they are only duplicated.
        let (sock, tx) = unsafe {
            (
                std::os::fd::BorrowedFd::borrow_raw(h.as_raw_fd()),
                std::os::fd::BorrowedFd::borrow_raw(h.get_tx_raw_fd()),
            )
        };
        let sock = sock.try_clone_to_owned().map_err(io("backend channel"))?;
        let tx = tx.try_clone_to_owned().map_err(io("backend channel"))?;
        std::thread::Builder::new()
            .name("backend-req".into())
            .spawn(move || loop {
                match h.handle_request() {
                    // A refused request was answered with an error; the channel goes on.
                    Ok(_) | Err(vhost::vhost_user::Error::ReqHandlerError(_)) => {}
                    Err(e) => {
                        log::debug!("backend channel closed: {e}");
                        break;
                    }
                }
            })
            .map_err(io("backend channel thread"))?;
        Ok((Channel { sock }, tx))
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        // SAFETY: shutdown of a socket this Channel holds an fd of.
        unsafe { libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_merge_and_cover() {
        let mut r = Ranges::default();
        r.insert(0, 8192, false);
        r.insert(8192, 16384, true);
        assert!(r.covers(0, 16384, false));
        assert!(!r.covers(0, 16384, true));
        assert!(r.covers(8192, 12288, true));
        r.remove(4096, 12288);
        assert_eq!(
            r.0.iter().map(|(&s, &v)| (s, v)).collect::<Vec<_>>(),
            vec![(0, (4096, false)), (12288, (16384, true))]
        );
        assert!(!r.covers(0, 8192, false));
        r.insert(2048, 14000, true);
        assert!(r.covers(0, 16384, false));
        assert!(!r.covers(16384, 16385, false));
    }

    fn req(shmid: u8, off: u64, len: u64, foff: u64, flags: u64) -> VhostUserMMap {
        VhostUserMMap {
            shmid,
            padding: [0; 7],
            fd_offset: foff,
            shm_offset: off,
            len,
            flags,
        }
    }

    #[test]
    fn the_daemon_maps_only_inside_and_reads_need_a_mapping() {
        let w = Window::new(1 << 20).unwrap();
        let f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &f, &[7u8; 8192]).unwrap();
        for bad in [
            req(1, 0, 4096, 0, 0),
            req(0, 0, 0, 0, 0),
            req(0, 100, 4096, 0, 0),
            req(0, 0, 4096, 100, 0),
            req(0, (1 << 20) - 4096, 8192, 0, 0),
            req(0, u64::MAX - 4095, 4096, 0, 0),
            req(0, 0, 4096, 0, 2),
        ] {
            assert!(w.map(&bad, &f).is_err(), "{bad:?}");
        }
        let mut b = [0u8; 16];
        assert!(w.read(0, &mut b).is_err(), "nothing mapped yet");
        w.map(&req(0, 65536, 8192, 0, 0), &f).unwrap();
        w.read(65536 + 8000, &mut b).unwrap();
        assert_eq!(b, [7u8; 16]);
        assert!(w.write(65536, &b).is_err(), "read-only mapping");
        assert!(
            w.read(65536 + 8190, &mut b).is_err(),
            "runs past the mapping"
        );
        w.unmap(&req(0, 65536, 4096, 0, 0)).unwrap();
        assert_eq!(w.mapped(), vec![(69632, 4096, false)]);
        assert!(w.read(65536, &mut b).is_err());
    }
}
