//! Host changes a watcher saw, queued for the guest's agent (see `session::agent`): bounded,
//! with repeated content and attribute changes of one name coalesced until they are taken.
//! When the queue is full it is emptied and marked lost: the agent is then told to resync
//! rather than miss anything silently.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

pub use ferry_agent_proto::Kind;

/// One change, named as the guest knows it: `name` in the directory node `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    /// The change is to a directory.
    pub dir: bool,
    pub parent: u64,
    pub name: Vec<u8>,
    /// A rename's new place.
    pub to: Option<(u64, Vec<u8>)>,
}

#[derive(Default)]
struct Inner {
    q: VecDeque<Change>,
    /// Content and attribute changes queued and not yet taken (a repeat adds nothing).
    queued: HashSet<(u64, Vec<u8>, u8)>,
    lost: bool,
}

/// The queue between a watcher and the agent.
pub struct ChangeQueue {
    inner: Mutex<Inner>,
    cap: usize,
    /// The queue's length, readable without the lock (a hint: see [`ChangeQueue::backlog`]).
    len: AtomicUsize,
    /// Told when changes wait for a taker ([`ChangeQueue::wake`], [`ChangeQueue::lose`]).
    ready: Condvar,
}

impl ChangeQueue {
    /// A queue holding at most `cap` changes.
    pub fn new(cap: usize) -> Self {
        ChangeQueue {
            inner: Mutex::default(),
            cap: cap.max(1),
            len: AtomicUsize::new(0),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `c` (a content or attribute change already queued for the same name is one).
    pub fn push(&self, c: Change) {
        let mut g = self.lock();
        if g.lost {
            return;
        }
        if matches!(c.kind, Kind::Modify | Kind::Attrib)
            && !g.queued.insert((c.parent, c.name.clone(), c.kind as u8))
        {
            return;
        }
        if g.q.len() >= self.cap {
            self.lose_locked(&mut g);
            return;
        }
        g.q.push_back(c);
        self.len.store(g.q.len(), Ordering::Relaxed);
    }

    fn lose_locked(&self, g: &mut Inner) {
        g.q = VecDeque::new();
        g.queued = HashSet::new();
        g.lost = true;
        self.len.store(0, Ordering::Relaxed);
    }

    /// Everything queued is dropped and the agent will be told to resync (the watcher itself
    /// lost events, or the agent went away).
    pub fn lose(&self) {
        let mut g = self.lock();
        self.lose_locked(&mut g);
        drop(g);
        self.ready.notify_all();
    }

    /// Wakes whoever [`ChangeQueue::wait`]s. The watcher calls it once per read of its
    /// events, after queueing them all, so that they are taken together.
    pub fn wake(&self) {
        self.ready.notify_all();
    }

    /// Blocks until changes wait (or were lost) and [`ChangeQueue::wake`] is called, or for
    /// `timeout`; returns whether changes wait.
    pub fn wait(&self, timeout: Duration) -> bool {
        let g = self.lock();
        let (g, _) = self
            .ready
            .wait_timeout_while(g, timeout, |i| i.q.is_empty() && !i.lost)
            .unwrap_or_else(PoisonError::into_inner);
        !g.q.is_empty() || g.lost
    }

    /// Takes up to `max` changes, oldest first, and whether changes were lost before them
    /// (reported once).
    pub fn take(&self, max: usize) -> (Vec<Change>, bool) {
        let mut g = self.lock();
        let lost = std::mem::take(&mut g.lost);
        let n = max.min(g.q.len());
        let v: Vec<Change> = g.q.drain(..n).collect();
        for c in &v {
            if matches!(c.kind, Kind::Modify | Kind::Attrib) {
                g.queued.remove(&(c.parent, c.name.clone(), c.kind as u8));
            }
        }
        self.len.store(g.q.len(), Ordering::Relaxed);
        (v, lost)
    }

    /// Puts changes taken but not delivered back at the front, in order.
    pub fn unget(&self, v: Vec<Change>) {
        let mut g = self.lock();
        if g.lost {
            return;
        }
        for c in v.into_iter().rev() {
            if matches!(c.kind, Kind::Modify | Kind::Attrib) {
                g.queued.insert((c.parent, c.name.clone(), c.kind as u8));
            }
            g.q.push_front(c);
        }
        self.len.store(g.q.len(), Ordering::Relaxed);
    }

    /// How many changes wait, read without the lock (for a decision per reply).
    pub fn backlog(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// How many changes wait.
    pub fn len(&self) -> usize {
        self.lock().q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(kind: Kind, name: &str) -> Change {
        Change {
            kind,
            dir: false,
            parent: 1,
            name: name.into(),
            to: None,
        }
    }

    #[test]
    fn repeated_modifies_coalesce_until_taken() {
        let q = ChangeQueue::new(10);
        q.push(ch(Kind::Modify, "a"));
        q.push(ch(Kind::Modify, "a"));
        q.push(ch(Kind::Attrib, "a"));
        q.push(ch(Kind::Create, "b"));
        q.push(ch(Kind::Create, "b"));
        let (v, lost) = q.take(100);
        assert!(!lost);
        let kinds: Vec<Kind> = v.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Modify, Kind::Attrib, Kind::Create, Kind::Create]
        );
        q.push(ch(Kind::Modify, "a"));
        assert_eq!(q.take(100).0.len(), 1);
    }

    #[test]
    fn overflow_drops_everything_and_reports_lost_once() {
        let q = ChangeQueue::new(3);
        for i in 0..5 {
            q.push(ch(Kind::Create, &i.to_string()));
        }
        let (v, lost) = q.take(100);
        assert!(lost && v.is_empty());
        q.push(ch(Kind::Create, "x"));
        let (v, lost) = q.take(100);
        assert!(!lost);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn take_is_bounded_and_unget_restores_order() {
        let q = ChangeQueue::new(10);
        for n in ["a", "b", "c"] {
            q.push(ch(Kind::Modify, n));
        }
        assert_eq!(q.backlog(), 3);
        let (v, _) = q.take(2);
        assert_eq!(v.len(), 2);
        assert_eq!(q.backlog(), 1);
        q.unget(v);
        assert_eq!(q.backlog(), 3);
        q.push(ch(Kind::Modify, "a"));
        let names: Vec<Vec<u8>> = q.take(10).0.into_iter().map(|c| c.name).collect();
        assert_eq!(names, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn wait_returns_when_woken_with_changes_or_at_the_timeout() {
        let q = std::sync::Arc::new(ChangeQueue::new(10));
        let t = std::time::Instant::now();
        assert!(!q.wait(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let w = std::sync::Arc::clone(&q);
        let waiter = std::thread::spawn(move || w.wait(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        q.push(ch(Kind::Create, "a"));
        q.wake();
        assert!(waiter.join().unwrap());
        // Changes already waiting: no wait at all.
        assert!(q.wait(Duration::from_secs(60)));
        q.take(10);
        let w = std::sync::Arc::clone(&q);
        let waiter = std::thread::spawn(move || w.wait(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        q.lose();
        assert!(waiter.join().unwrap());
    }
}
