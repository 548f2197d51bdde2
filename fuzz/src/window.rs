//! A DAX cache window for the fuzz targets: it maps nothing, but asserts on every call what
//! the server promises the VMM — a range inside the window, 2 MiB-aligned, non-empty, a file
//! range within an off_t, and the fd of a regular file opened read-write for a writable
//! mapping (read-only otherwise). A guest input that gets anything else through is a crash.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use ferry_server::session::Window;

/// Bytes in the window: four 2 MiB ranges.
pub const SIZE: u64 = 8 << 20;
const ALIGN: u64 = 2 << 20;

/// The checking window.
pub struct CheckedWindow;

fn check_range(moffset: u64, len: u64) {
    assert!(len > 0 && len.is_multiple_of(ALIGN), "mapping length {len}");
    assert!(moffset.is_multiple_of(ALIGN), "window offset {moffset}");
    let end = moffset.checked_add(len);
    assert!(end.is_some_and(|e| e <= SIZE), "{len} bytes at {moffset}");
}

impl Window for CheckedWindow {
    fn size(&self) -> u64 {
        SIZE
    }

    fn map(
        &self,
        fd: BorrowedFd<'_>,
        foffset: u64,
        moffset: u64,
        len: u64,
        writable: bool,
    ) -> io::Result<()> {
        check_range(moffset, len);
        assert!(foffset.is_multiple_of(ALIGN), "file offset {foffset}");
        let end = foffset.checked_add(len);
        assert!(
            end.is_some_and(|e| e <= i64::MAX as u64),
            "file range past off_t"
        );
        // SAFETY: fstat and fcntl(F_GETFL) only read the state of an fd the caller lends us.
        let (st, fl) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            assert_eq!(
                libc::fstat(fd.as_raw_fd(), &mut st),
                0,
                "fstat of the mapped fd"
            );
            (st, libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))
        };
        assert_eq!(
            st.st_mode & libc::S_IFMT,
            libc::S_IFREG,
            "mapping a non-file"
        );
        let want = if writable {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
        assert_eq!(fl & libc::O_ACCMODE, want, "access mode of the mapped fd");
        Ok(())
    }

    fn unmap(&self, moffset: u64, len: u64) -> io::Result<()> {
        check_range(moffset, len);
        Ok(())
    }
}
