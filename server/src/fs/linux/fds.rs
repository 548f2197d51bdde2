//! The budget of fds the guest can make the daemon hold (inodes, open files, lock fds): the
//! open-file limit minus a reserve for the daemon itself (vhost-user messages, eventfds,
//! short-lived reopens). Past it the guest gets EMFILE and the daemon keeps working.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Fds kept out of the guest's reach.
pub const RESERVE: usize = 1024;

#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    cap: usize,
}

impl Budget {
    /// A budget of the current RLIMIT_NOFILE minus [`RESERVE`] (at least 16).
    pub fn from_rlimit() -> Arc<Budget> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass; the result is checked.
        let cur = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
        } else {
            1024
        };
        Self::with_cap(cur.saturating_sub(RESERVE).max(16))
    }

    pub fn with_cap(cap: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            cap,
        })
    }

    /// Takes one fd from the budget for `fd` (which is closed, and EMFILE returned, when the
    /// budget is spent).
    pub fn hold(self: &Arc<Self>, fd: OwnedFd) -> io::Result<HeldFd> {
        let prev = self.used.fetch_add(1, Ordering::Relaxed);
        if prev >= self.cap {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        Ok(HeldFd {
            fd,
            budget: Arc::clone(self),
        })
    }

    /// How many fds the guest may make the daemon hold.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Whether the next [`Budget::hold`] would get EMFILE.
    pub fn is_full(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.cap
    }

    /// Whether fewer than three quarters are in use: room for fds kept only to save work.
    pub fn has_spare(&self) -> bool {
        self.used.load(Ordering::Relaxed) < self.cap / 4 * 3
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// An fd counted against the guest's budget until it is closed.
#[derive(Debug)]
pub struct HeldFd {
    fd: OwnedFd,
    budget: Arc<Budget>,
}

impl AsFd for HeldFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for HeldFd {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> OwnedFd {
        std::fs::File::open("/").unwrap().into()
    }

    #[test]
    fn emfile_past_the_cap_and_back_after_close() {
        let b = Budget::with_cap(2);
        let x = b.hold(fd()).unwrap();
        let _y = b.hold(fd()).unwrap();
        let e = b.hold(fd()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
        drop(x);
        assert_eq!(b.used(), 1);
        b.hold(fd()).unwrap();
    }
}
