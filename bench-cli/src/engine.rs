//! The load generator: each client thread keeps up to `depth` ops in flight. An op is a small
//! state machine of dependent FUSE requests ([`Op`]); the engine submits its next request when
//! the previous reply arrives, times every request, and sends the FORGETs the LOOKUP and
//! READDIRPLUS replies owe in batches (BATCH_FORGET on the hiprio queue), as Linux does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_guest_client::{Client, Error};
use hdrhistogram::Histogram;

/// Forget references in batches of this many nodes.
const FORGET_BATCH: usize = 256;

/// One FUSE request: opcode, node, body (everything after the in header), reply room.
pub struct Req {
    pub opcode: u32,
    pub nodeid: u64,
    pub body: Vec<u8>,
    pub reply_max: u32,
}

/// What an op does next.
pub enum Step {
    Send(Req),
    Done,
}

/// What an op reports back while it runs.
pub struct Cx<'a> {
    /// References to forget: (node id, count).
    pub forgets: &'a mut Vec<(u64, u64)>,
    /// Ops completed (credited as they happen: a listing credits its entries).
    pub ops: u64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// The run's time is up: long ops should wind down.
    pub expired: bool,
}

/// A chain of dependent requests. `reply` is None on the first call.
pub trait Op: Send {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String>;
}

/// Makes the ops of a workload; `i` is the op's global index.
pub trait Workload: Sync {
    fn op(&self, i: u64) -> Box<dyn Op>;
}

/// When to stop starting ops.
pub struct Budget {
    next: AtomicU64,
    max_ops: u64,
    deadline: Instant,
    failed: AtomicBool,
}

impl Budget {
    pub fn new(max_ops: Option<u64>, duration: Duration) -> Self {
        Budget {
            next: AtomicU64::new(0),
            max_ops: max_ops.unwrap_or(u64::MAX),
            deadline: Instant::now() + duration,
            failed: AtomicBool::new(false),
        }
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.deadline || self.failed.load(Ordering::Relaxed)
    }

    fn take(&self) -> Option<u64> {
        if self.expired() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.max_ops).then_some(i)
    }
}

/// What one thread measured.
pub struct Tally {
    pub ops: u64,
    pub bytes: u64,
    pub requests: u64,
    /// Request latency in nanoseconds.
    pub hist: Histogram<u64>,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            ops: 0,
            bytes: 0,
            requests: 0,
            hist: Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("histogram bounds"),
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.ops += o.ops;
        self.bytes += o.bytes;
        self.requests += o.requests;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.hist.add(&o.hist);
    }
}

struct Slot {
    op: Box<dyn Op>,
    pending: ferry_guest_client::fuse::Pending,
    sent: Instant,
}

fn submit(c: &Client, r: &Req) -> Result<ferry_guest_client::fuse::Pending, String> {
    c.submit(r.opcode, r.nodeid, &[&r.body], r.reply_max)
        .map_err(|e| format!("submit opcode {}: {e}", r.opcode))
}

fn flush_forgets(c: &Client, f: &mut Vec<(u64, u64)>) -> Result<(), String> {
    for chunk in f.chunks(FORGET_BATCH) {
        c.batch_forget(chunk)
            .map_err(|e| format!("BATCH_FORGET: {e}"))?;
    }
    f.clear();
    Ok(())
}

/// Runs one client thread until the budget is spent and its ops have finished.
/// `progress` is credited with ops as they complete.
pub fn worker(
    c: &Client,
    w: &dyn Workload,
    budget: &Budget,
    depth: usize,
    progress: &AtomicU64,
) -> Result<Tally, String> {
    let r = worker_inner(c, w, budget, depth, progress);
    if r.is_err() {
        budget.failed.store(true, Ordering::Relaxed);
    }
    r
}

fn worker_inner(
    c: &Client,
    w: &dyn Workload,
    budget: &Budget,
    depth: usize,
    progress: &AtomicU64,
) -> Result<Tally, String> {
    let mut t = Tally::new();
    let mut forgets = Vec::new();
    let mut slots: VecDeque<Slot> = VecDeque::with_capacity(depth);
    loop {
        while slots.len() < depth.max(1) {
            let Some(i) = budget.take() else { break };
            let mut op = w.op(i);
            let mut cx = Cx {
                forgets: &mut forgets,
                ops: 0,
                bytes: 0,
                expired: false,
            };
            let step = op.step(None, &mut cx)?;
            credit(&mut t, &cx, progress);
            if let Step::Send(r) = step {
                let sent = Instant::now();
                let pending = submit(c, &r)?;
                slots.push_back(Slot { op, pending, sent });
            }
        }
        let Some(mut s) = slots.pop_front() else {
            break;
        };
        let reply = c.wait(s.pending);
        let now = Instant::now();
        t.requests += 1;
        let ns = u64::try_from((now - s.sent).as_nanos()).unwrap_or(u64::MAX);
        t.hist.saturating_record(ns.max(1));
        if let Err(e @ (Error::Timeout(_) | Error::Disconnected | Error::Ring(_))) = &reply {
            return Err(format!("transport: {e}"));
        }
        let mut cx = Cx {
            forgets: &mut forgets,
            ops: 0,
            bytes: 0,
            expired: budget.expired(),
        };
        let step = s.op.step(Some(reply), &mut cx)?;
        credit(&mut t, &cx, progress);
        if let Step::Send(r) = step {
            s.sent = Instant::now();
            s.pending = submit(c, &r)?;
            slots.push_back(s);
        }
        if forgets.len() >= FORGET_BATCH {
            flush_forgets(c, &mut forgets)?;
        }
    }
    flush_forgets(c, &mut forgets)?;
    Ok(t)
}

fn credit(t: &mut Tally, cx: &Cx, progress: &AtomicU64) {
    t.ops += cx.ops;
    t.bytes += cx.bytes;
    if cx.ops > 0 {
        progress.fetch_add(cx.ops, Ordering::Relaxed);
    }
}
