//! Edge-triggered kicks: a vring whose kick eventfd is never read.
//!
//! vhost-user-backend puts each queue's kick eventfd into its queue thread's epoll level-triggered,
//! so it must `read(2)` the eventfd before every wake-up, or epoll would report it again at
//! once. At one request in flight that read is one system call in every round trip. [`FsVring`]
//! keeps the VMM's eventfd to itself and hands the crate a stand-in that never fires. The queue
//! thread registers the real one in its own epoll, edge-triggered ([`KickPoll`]), the first
//! time it runs the queue: every kick the VMM writes is then one wake-up and no read. The
//! eventfd's counter is left to grow; it holds 2^64 - 2 kicks.
//!
//! Nothing is lost on the way: the crate runs a queue as soon as it starts or is enabled, a
//! registration reports a kick that came before it, and the device serves a queue until its
//! avail ring is empty.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use log::{error, warn};
use vhost_user_backend::{VringRwLock, VringStateGuard, VringStateMutGuard, VringT};
use virtio_queue::{Error as QueueError, QueueT};
use vmm_sys_util::eventfd::{EventFd, EFD_CLOEXEC, EFD_NONBLOCK};

use ferry_server::transport::chain::Mem;

/// Where a queue's kick eventfd is watched: its queue thread's epoll.
pub trait KickPoll: Send + Sync {
    /// Watches `fd`, edge-triggered.
    fn add(&self, fd: RawFd) -> io::Result<()>;
    /// Stops watching `fd`.
    fn del(&self, fd: RawFd) -> io::Result<()>;
}

/// The kick side of a queue.
#[derive(Default)]
struct Kick {
    /// The VMM's kick eventfd, when the crate holds a stand-in for it.
    file: Option<File>,
    /// The queue thread's epoll, known once that thread has run the queue.
    poll: Option<Box<dyn KickPoll>>,
    /// Whether `file` is in `poll`.
    watched: bool,
}

impl Kick {
    fn watch(&mut self) {
        if let (Some(f), Some(p), false) = (&self.file, &self.poll, self.watched) {
            match p.add(f.as_raw_fd()) {
                Ok(()) => self.watched = true,
                Err(e) => warn!("cannot watch a kick eventfd: {e}"),
            }
        }
    }

    fn unwatch(&mut self) {
        if let (Some(f), Some(p), true) = (&self.file, &self.poll, self.watched) {
            // The VMM holds the same eventfd: closing ours would not take it out of the epoll.
            if let Err(e) = p.del(f.as_raw_fd()) {
                warn!("cannot stop watching a kick eventfd: {e}");
            }
        }
        self.watched = false;
    }
}

/// A vring (vhost-user-backend's [`VringRwLock`]) whose kicks come edge-triggered.
#[derive(Clone)]
pub struct FsVring {
    inner: VringRwLock<Mem>,
    kick: Arc<Mutex<Kick>>,
}

impl FsVring {
    /// Called on the queue's thread when the crate runs the queue: from then on its kicks come
    /// from `poll`. Later calls keep the first.
    pub fn attach(&self, poll: impl FnOnce() -> Option<Box<dyn KickPoll>>) {
        let mut k = self.kick.lock().unwrap_or_else(PoisonError::into_inner);
        if k.poll.is_none() {
            k.poll = poll();
        }
        k.watch();
    }

    /// Whether a kick may run the queue: it is started and enabled, as the crate checks.
    pub fn runnable(&self) -> bool {
        let s = self.inner.get_ref();
        s.is_enabled() && s.get_queue().ready()
    }

    /// Puts finished chains (head, used length) on the used ring and interrupts the guest
    /// if it wants to know.
    pub fn complete(&self, done: &[(u16, u32)]) {
        for &(head, used) in done {
            if let Err(e) = self.add_used(head, used) {
                error!("cannot add to the used ring: {e}");
            }
        }
        match self.needs_notification() {
            Ok(true) | Err(_) => {
                if let Err(e) = self.signal_used_queue() {
                    error!("cannot signal the guest: {e}");
                }
            }
            Ok(false) => {}
        }
    }
}

/// An eventfd that nobody writes, as a File for the crate.
fn stand_in() -> io::Result<File> {
    let e = EventFd::new(EFD_NONBLOCK | EFD_CLOEXEC)?;
    // SAFETY: the fd was just created and is owned by `e` alone; into_raw_fd gives up that
    // ownership, so the File becomes its only owner.
    Ok(unsafe { File::from_raw_fd(e.into_raw_fd()) })
}

impl<'a> VringStateGuard<'a, Mem> for FsVring {
    type G = <VringRwLock<Mem> as VringStateGuard<'a, Mem>>::G;
}

impl<'a> VringStateMutGuard<'a, Mem> for FsVring {
    type G = <VringRwLock<Mem> as VringStateMutGuard<'a, Mem>>::G;
}

impl VringT<Mem> for FsVring {
    fn new(mem: Mem, max_queue_size: u16) -> Result<Self, QueueError> {
        Ok(FsVring {
            inner: VringRwLock::new(mem, max_queue_size)?,
            kick: Arc::default(),
        })
    }

    fn get_ref(&self) -> <Self as VringStateGuard<'_, Mem>>::G {
        self.inner.get_ref()
    }

    fn get_mut(&self) -> <Self as VringStateMutGuard<'_, Mem>>::G {
        self.inner.get_mut()
    }

    fn add_used(&self, desc_index: u16, len: u32) -> Result<(), QueueError> {
        self.inner.add_used(desc_index, len)
    }

    fn signal_used_queue(&self) -> io::Result<()> {
        self.inner.signal_used_queue()
    }

    fn enable_notification(&self) -> Result<bool, QueueError> {
        self.inner.enable_notification()
    }

    fn disable_notification(&self) -> Result<(), QueueError> {
        self.inner.disable_notification()
    }

    fn needs_notification(&self) -> Result<bool, QueueError> {
        self.inner.needs_notification()
    }

    fn set_enabled(&self, enabled: bool) {
        self.inner.set_enabled(enabled)
    }

    fn set_queue_info(&self, desc: u64, avail: u64, used: u64) -> Result<(), QueueError> {
        self.inner.set_queue_info(desc, avail, used)
    }

    fn queue_next_avail(&self) -> u16 {
        self.inner.queue_next_avail()
    }

    fn set_queue_next_avail(&self, base: u16) {
        self.inner.set_queue_next_avail(base)
    }

    fn set_queue_next_used(&self, idx: u16) {
        self.inner.set_queue_next_used(idx)
    }

    fn queue_used_idx(&self) -> Result<u16, QueueError> {
        self.inner.queue_used_idx()
    }

    fn set_queue_size(&self, num: u16) {
        self.inner.set_queue_size(num)
    }

    fn set_queue_event_idx(&self, enabled: bool) {
        self.inner.set_queue_event_idx(enabled)
    }

    fn set_queue_ready(&self, ready: bool) {
        self.inner.set_queue_ready(ready)
    }

    fn set_kick(&self, file: Option<File>) {
        let mut k = self.kick.lock().unwrap_or_else(PoisonError::into_inner);
        k.unwatch();
        k.file = None;
        let for_crate = match file {
            None => None,
            Some(f) => match stand_in() {
                Ok(s) => {
                    k.file = Some(f);
                    k.watch();
                    Some(s)
                }
                Err(e) => {
                    // Level-triggered as before: the crate reads it.
                    warn!("no stand-in eventfd ({e}): this queue's kicks are read");
                    Some(f)
                }
            },
        };
        drop(k);
        self.inner.set_kick(for_crate)
    }

    fn read_kick(&self) -> io::Result<bool> {
        self.inner.read_kick()
    }

    fn set_call(&self, file: Option<File>) {
        self.inner.set_call(file)
    }

    fn set_err(&self, file: Option<File>) {
        self.inner.set_err(file)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI32, Ordering};

    use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};

    use super::*;

    /// Records the fd it watches; -1 when none.
    struct Probe(Arc<AtomicI32>);

    impl KickPoll for Probe {
        fn add(&self, fd: RawFd) -> io::Result<()> {
            assert_eq!(self.0.swap(fd, Ordering::SeqCst), -1, "watched twice");
            Ok(())
        }
        fn del(&self, fd: RawFd) -> io::Result<()> {
            assert_eq!(
                self.0.swap(-1, Ordering::SeqCst),
                fd,
                "unwatched a stranger"
            );
            Ok(())
        }
    }

    fn vring() -> FsVring {
        FsVring::new(GuestMemoryAtomic::new(GuestMemoryMmap::new()), 256).unwrap()
    }

    fn eventfd() -> (File, RawFd) {
        let f = stand_in().unwrap();
        let fd = f.as_raw_fd();
        (f, fd)
    }

    #[test]
    fn the_crate_gets_a_stand_in_and_the_thread_the_kick() {
        let v = vring();
        let (f, fd) = eventfd();
        v.set_kick(Some(f));
        let crate_fd = v.get_ref().get_kick().as_ref().unwrap().as_raw_fd();
        assert_ne!(crate_fd, fd);
        let watched = Arc::new(AtomicI32::new(-1));
        let w = Arc::clone(&watched);
        v.attach(move || Some(Box::new(Probe(w))));
        assert_eq!(watched.load(Ordering::SeqCst), fd);
        // A second run of the queue changes nothing.
        v.attach(|| panic!("asked for a second epoll"));
        assert_eq!(watched.load(Ordering::SeqCst), fd);
    }

    #[test]
    fn a_new_kick_replaces_the_old_in_the_epoll() {
        let v = vring();
        let watched = Arc::new(AtomicI32::new(-1));
        let w = Arc::clone(&watched);
        v.attach(move || Some(Box::new(Probe(w))));
        assert_eq!(watched.load(Ordering::SeqCst), -1, "nothing to watch yet");
        let (a, fd_a) = eventfd();
        v.set_kick(Some(a));
        assert_eq!(watched.load(Ordering::SeqCst), fd_a);
        // GET_VRING_BASE drops the kick; a reconnect brings another.
        v.set_kick(None);
        assert_eq!(watched.load(Ordering::SeqCst), -1);
        assert!(v.get_ref().get_kick().is_none());
        let (b, fd_b) = eventfd();
        v.set_kick(Some(b));
        assert_eq!(watched.load(Ordering::SeqCst), fd_b);
    }

    #[test]
    fn a_stopped_queue_is_not_runnable() {
        let v = vring();
        assert!(!v.runnable());
        v.set_enabled(true);
        v.set_queue_ready(true);
        assert!(v.runnable());
        v.set_queue_ready(false);
        assert!(!v.runnable());
    }
}
