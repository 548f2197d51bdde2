//! The window against a VMM that behaves as QEMU 11.1 does: overlapping mappings refused,
//! only exact ranges unmapped.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread;

use vhost::vhost_user::message::VhostUserMMap;
use vhost::vhost_user::{Backend as BackendReq, FrontendReqHandler, VhostUserFrontendReqHandler};

use super::{ShmemWindow, Window, WINDOW_GRANULE};

const MB2: u64 = WINDOW_GRANULE;

/// What the VMM holds: (window offset, length, file offset, writable), and every request seen.
#[derive(Default)]
struct Vmm {
    maps: Mutex<Vec<(u64, u64, u64, bool)>>,
    log: Mutex<Vec<String>>,
}

fn refused() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EFAULT)
}

impl VhostUserFrontendReqHandler for Vmm {
    fn shmem_map(&self, req: &VhostUserMMap, _fd: &dyn AsRawFd) -> std::io::Result<u64> {
        let (off, len) = (req.shm_offset, req.len);
        self.log
            .lock()
            .unwrap()
            .push(format!("map {off:#x}+{len:#x}"));
        let mut maps = self.maps.lock().unwrap();
        if maps.iter().any(|&(o, l, ..)| o < off + len && off < o + l) {
            return Err(refused());
        }
        maps.push((off, len, req.fd_offset, req.flags & 1 != 0));
        Ok(0)
    }

    fn shmem_unmap(&self, req: &VhostUserMMap) -> std::io::Result<u64> {
        let (off, len) = (req.shm_offset, req.len);
        self.log
            .lock()
            .unwrap()
            .push(format!("unmap {off:#x}+{len:#x}"));
        let mut maps = self.maps.lock().unwrap();
        let at = maps
            .iter()
            .position(|&(o, l, ..)| o == off && l == len)
            .ok_or_else(refused)?;
        maps.remove(at);
        Ok(0)
    }
}

/// A window connected to a VMM answering on its own thread.
fn window(size: u64) -> (ShmemWindow, Arc<Vmm>) {
    let vmm = Arc::new(Vmm::default());
    let mut handler = FrontendReqHandler::new(Arc::clone(&vmm)).unwrap();
    handler.set_reply_ack_flag(true);
    // SAFETY: a fresh duplicate of the handler's end of its socket pair, owned from here on.
    let ours = unsafe { UnixStream::from_raw_fd(libc::dup(handler.get_tx_raw_fd())) };
    // A refused request's error was answered; the window's end closing ends the thread.
    thread::spawn(move || {
        while let Ok(_) | Err(vhost::vhost_user::Error::ReqHandlerError(_)) =
            handler.handle_request()
        {}
    });
    let channel = BackendReq::from_stream(ours);
    channel.set_reply_ack_flag(true);
    channel.set_shmem_flag(true);
    let w = ShmemWindow::new(size).unwrap();
    w.connect(channel);
    (w, vmm)
}

fn file() -> File {
    tempfile::tempfile().unwrap()
}

fn held(vmm: &Vmm) -> Vec<(u64, u64, u64, bool)> {
    let mut m = vmm.maps.lock().unwrap().clone();
    m.sort_unstable();
    m
}

#[test]
fn no_channel_no_window() {
    let w = ShmemWindow::new(8 * MB2).unwrap();
    assert_eq!(w.size(), 0);
    let f = file();
    let e = w.map(f.as_fd(), 0, 0, MB2, false).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSYS));
}

#[test]
fn mapping_again_replaces_what_was_there() {
    let (w, vmm) = window(8 * MB2);
    assert_eq!(w.size(), 8 * MB2);
    let f = file();
    w.map(f.as_fd(), 0, 0, MB2, false).unwrap();
    // Linux upgrades a read mapping to writable by mapping the same range again.
    w.map(f.as_fd(), 0, 0, MB2, true).unwrap();
    assert_eq!(held(&vmm), vec![(0, MB2, 0, true)]);
    // A mapping over two others replaces both.
    w.map(f.as_fd(), 0, 2 * MB2, MB2, false).unwrap();
    w.map(f.as_fd(), MB2, 3 * MB2, MB2, false).unwrap();
    w.map(f.as_fd(), 4 * MB2, 2 * MB2, 2 * MB2, false).unwrap();
    assert_eq!(
        held(&vmm),
        vec![(0, MB2, 0, true), (2 * MB2, 2 * MB2, 4 * MB2, false)]
    );
}

#[test]
fn removal_unmaps_whole_mappings_it_touches() {
    let (w, vmm) = window(8 * MB2);
    let f = file();
    w.map(f.as_fd(), 0, 0, 2 * MB2, false).unwrap();
    w.map(f.as_fd(), 0, 4 * MB2, MB2, false).unwrap();
    // Nothing mapped there: nothing to do.
    w.unmap(6 * MB2, MB2).unwrap();
    // Half of the first mapping: QEMU unmaps only exact ranges, so all of it goes.
    w.unmap(MB2, MB2).unwrap();
    assert_eq!(held(&vmm), vec![(4 * MB2, MB2, 0, false)]);
    w.unmap(0, 8 * MB2).unwrap();
    assert!(held(&vmm).is_empty());
    let log = vmm.log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "map 0x0+0x400000",
            "map 0x800000+0x200000",
            "unmap 0x0+0x400000",
            "unmap 0x800000+0x200000",
        ]
    );
}

#[test]
fn a_refused_mapping_is_eio_and_not_held() {
    let (w, vmm) = window(8 * MB2);
    let f = file();
    // The VMM holds a mapping the window does not know of (it refuses the overlap).
    vmm.maps.lock().unwrap().push((0, MB2, 0, false));
    let e = w.map(f.as_fd(), 0, 0, MB2, false).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    // Not recorded as mapped: a removal asks the VMM for nothing.
    w.unmap(0, MB2).unwrap();
    assert_eq!(vmm.log.lock().unwrap().len(), 1);
}
