//! Writable fds kept for zero-message opens. A guest that never OPENs a file names it by node
//! in every WRITE, and reopening it per request costs an open and a close. But a writable fd
//! held on the host makes exec(2) of the file fail there with ETXTBSY, and without RELEASE the
//! daemon never learns that the guest closed the file: so each fd is kept only while the guest
//! keeps writing, a reaper thread closes those idle for [`IDLE`], and UNLINK or RENAME over
//! the file's name closes its fd at once (an open fd would keep the removed inode on the host).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::handle::Handle;

/// How long a writable fd stays open after the guest's last write through it.
pub const IDLE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    kept: HashMap<u64, (Arc<Handle>, Instant)>,
    reaping: bool,
}

/// The writable handles kept per node.
#[derive(Default)]
pub struct Writers(Arc<Mutex<State>>);

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writers {
    /// The writable handle kept for `node`, if any; its idle time starts again.
    pub fn get(&self, node: u64) -> Option<Arc<Handle>> {
        let mut s = lock(&self.0);
        let (h, used) = s.kept.get_mut(&node)?;
        *used = Instant::now();
        Some(Arc::clone(h))
    }

    /// Keeps `h` for `node` (one a racing request kept first stays) and starts the reaper if
    /// it is not running. The thread starts here, in the serving process, not before the
    /// sandbox forks.
    pub fn keep(&self, node: u64, h: &Arc<Handle>) {
        let mut s = lock(&self.0);
        s.kept
            .entry(node)
            .or_insert_with(|| (Arc::clone(h), Instant::now()));
        if s.reaping {
            return;
        }
        let state = Arc::downgrade(&self.0);
        let spawned = std::thread::Builder::new()
            .name("ferryd-writers".into())
            .spawn(move || reap(&state));
        match spawned {
            Ok(_) => s.reaping = true,
            // Nothing is kept that nobody would close.
            Err(_) => s.kept.clear(),
        }
    }

    /// Closes the fd kept for `node`, if any (once no request is using it).
    pub fn close(&self, node: u64) {
        let kept = lock(&self.0).kept.remove(&node);
        // Dropped here, outside the lock: the close may be the inode's last.
        drop(kept);
    }

    /// Closes every kept fd (their room in the budget is needed).
    pub fn clear(&self) {
        lock(&self.0).kept.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.0).kept.len()
    }
}

/// Every half [`IDLE`], closes the fds idle for [`IDLE`]; ends when none is left (or the
/// backend is gone).
fn reap(state: &Weak<Mutex<State>>) {
    loop {
        std::thread::sleep(IDLE / 2);
        let Some(state) = state.upgrade() else {
            return;
        };
        let mut s = lock(&state);
        s.kept.retain(|_, (_, used)| used.elapsed() < IDLE);
        if s.kept.is_empty() {
            s.reaping = false;
            return;
        }
    }
}
