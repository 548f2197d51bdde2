//! The agent's long poll: a READ of the agent node that has nothing to tell yet
//! ([`Server::read_may_wait`]) is held here, one at a time, and served by this module's thread
//! as soon as the backend queues a host change, or after [`MAX_WAIT`] with nothing. The agent
//! hears of a change without polling, and an idle guest sends one READ a second instead of
//! one per poll.
//!
//! A held chain is answered before its queue stops (GET_VRING_BASE: [`Held::release_queue`]),
//! so a VMM that stops and restarts the device (migration, a paused VM) finds no request lost
//! and none answered into a ring it re-initialised.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::kick::FsVring;
use ferry_server::session::agent::MAX_WAIT;
use ferry_server::session::{Backend, Server};
use ferry_server::transport::chain::{serve_chain, Chain};

/// A request held until changes come.
struct Parked {
    vring: FsVring,
    queue: usize,
    chain: Chain,
    since: Instant,
}

/// The slot for one held request and the thread that answers it.
pub struct Held<F: Backend + 'static> {
    server: Arc<Server<F>>,
    slot: Mutex<Option<Parked>>,
    filled: Condvar,
}

impl<F: Backend + 'static> Held<F> {
    /// An empty slot and its thread.
    pub fn start(server: Arc<Server<F>>) -> io::Result<Arc<Self>> {
        let h = Arc::new(Held {
            server,
            slot: Mutex::new(None),
            filled: Condvar::new(),
        });
        // The thread ends once the device lets the slot go.
        let t = Arc::downgrade(&h);
        std::thread::Builder::new()
            .name("ferryd-agent-wait".into())
            .spawn(move || {
                while let Some(h) = t.upgrade() {
                    h.step();
                }
            })?;
        Ok(h)
    }

    fn slot(&self) -> MutexGuard<'_, Option<Parked>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `chain`, popped from queue `queue` (`vring`), unless a request is held already:
    /// then the chain comes back, to be served now.
    pub fn hold(&self, vring: &FsVring, queue: usize, chain: Chain) -> Result<(), Chain> {
        let mut g = self.slot();
        if g.is_some() {
            return Err(chain);
        }
        *g = Some(Parked {
            vring: vring.clone(),
            queue,
            chain,
            since: Instant::now(),
        });
        drop(g);
        self.filled.notify_one();
        Ok(())
    }

    /// Queue `queue` stops: its held request, if any, is answered now.
    pub fn release_queue(&self, queue: usize) {
        let mut g = self.slot();
        if g.as_ref().is_some_and(|p| p.queue == queue) {
            let p = g.take();
            drop(g);
            self.answer(p);
        }
    }

    /// The device is reset: a held request is dropped unanswered (the driver that sent it is
    /// gone, and its rings are being set up anew).
    pub fn forget(&self) {
        self.slot().take();
    }

    fn answer(&self, p: Option<Parked>) {
        if let Some(p) = p {
            let head = p.chain.head_index();
            let used = serve_chain(&self.server, p.chain);
            p.vring.complete(&[(head, used)]);
        }
    }

    /// Waits for a request to be held (at most [`MAX_WAIT`]), then for changes or the end of
    /// its wait, and answers it.
    fn step(&self) {
        let since = {
            let g = self.slot();
            let (g, _) = self
                .filled
                .wait_timeout_while(g, MAX_WAIT, |s| s.is_none())
                .unwrap_or_else(PoisonError::into_inner);
            match &*g {
                Some(p) => p.since,
                None => return,
            }
        };
        // Without the slot's lock: the queue may stop meanwhile and take the request.
        self.server
            .wait_changes(MAX_WAIT.saturating_sub(since.elapsed()));
        let p = self.slot().take();
        self.answer(p);
    }
}
