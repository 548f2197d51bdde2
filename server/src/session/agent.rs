//! The agent channel: a synthetic node, reached by the reserved name
//! [`ferry_agent_proto::NODE_NAME`] in the share's root and listed nowhere, which the guest's
//! agent (`ferry-guest watch`) opens and reads. Each READ hands it the host changes queued
//! since the last one ([`crate::fs::changes`]), and is its heartbeat.
//!
//! Why a node and not a device or FUSE POLL: virtio-fs has no notification queue in Linux (so
//! POLL wakeups cannot reach the guest), and a node needs nothing of the VMM. A guest that
//! never looks the name up sees exactly what it saw before.
//!
//! The agent replays each change through the guest's own VFS, so that the guest kernel drops
//! what it cached and fires the inotify events a local change would: it creates the new name
//! (mknod, mkdir, symlink), unlinks the gone one, renames, sets the times, or opens for write
//! and fallocates. Those requests, from the agent's pid only, never act on the host:
//! - a create answers with the entry already on the host (of the same type), or EEXIST/ENOENT;
//! - a LOOKUP of a name the agent is about to create or rename onto answers ENOENT (the host
//!   has it already; the guest must not, for its create or rename to be the event);
//! - UNLINK, RMDIR, RENAME, FALLOCATE and SETATTR succeed without doing anything (SETATTR
//!   answers the current attributes); OPEN for write opens read-only.
//!
//! Coherent mode: while an agent reads at least every [`HEARTBEAT`] and the backend watches
//! every directory the guest holds, entries, negative entries and attributes are granted the
//! long timeout and directory listings stay cached in the guest. Once the agent stops, new
//! replies get the short timeouts again; what was granted lives at most the long timeout.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ferry_agent_proto::{self as proto, Kind, Record};

/// The agent node's id (the backend's node ids count up from the root and never reach it).
pub const NODE: u64 = u64::MAX - 1;

/// An agent that has not read for this long is gone (a READ of its is answered within
/// [`MAX_WAIT`], and it reads again at once).
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// The longest a transport holds an agent's READ that has nothing to tell (see
/// [`Server::read_may_wait`]): an idle agent reads once per `MAX_WAIT`.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// The most bytes one READ of the agent node answers.
const MAX_READ: usize = 1 << 20;

/// How long the guest may keep the agent node's attributes: they never change, and a read
/// through the guest's page cache asks for them again once they expire.
const NODE_ATTR_VALID: Duration = Duration::from_secs(86400);

/// The most changes one READ carries.
const BATCH: usize = 4096;

/// Settings of the agent channel.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Timeout of entries and attributes while an agent is attached.
    pub long: Duration,
}

/// The agent's state as the session sees it.
pub struct Agent {
    pub opts: AgentOptions,
    start: Instant,
    /// The attached agent's pid (0: none) and handle.
    pid: AtomicU32,
    fh: AtomicU64,
    /// When it last read, in ms since `start`.
    last_read: AtomicU64,
    /// Names the agent is about to create or rename onto: (directory node, name).
    hidden: Mutex<HashSet<(u64, Vec<u8>)>>,
    /// Whether changes were lost while no agent read (told at the next READ).
    detached_loss: AtomicBool,
}

impl Agent {
    pub fn new(opts: AgentOptions) -> Self {
        Agent {
            opts,
            start: Instant::now(),
            pid: AtomicU32::new(0),
            fh: AtomicU64::new(0),
            last_read: AtomicU64::new(0),
            hidden: Mutex::default(),
            detached_loss: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `pid` is the attached agent's (and it still reads: a pid the guest reused
    /// after the agent died is an ordinary caller once the heartbeat lapsed).
    pub fn is_agent(&self, pid: u32) -> bool {
        pid != 0 && self.pid.load(Ordering::Relaxed) == pid && self.alive()
    }

    /// The agent reads: its heartbeat.
    fn beat(&self) {
        self.last_read.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Whether an agent is attached and reading.
    pub fn alive(&self) -> bool {
        self.pid.load(Ordering::Relaxed) != 0
            && self
                .now_ms()
                .saturating_sub(self.last_read.load(Ordering::Relaxed))
                < HEARTBEAT.as_millis() as u64
    }

    /// The agent `pid` opened the node: it replaces any earlier one. Returns its handle.
    pub fn attach(&self, pid: u32) -> u64 {
        let fh = self.fh.fetch_add(1, Ordering::Relaxed) + 1;
        self.pid.store(pid, Ordering::Relaxed);
        self.beat();
        self.hidden().clear();
        // Whatever happened before it attached may be cached stale: it starts with a resync.
        self.detached_loss.store(true, Ordering::Relaxed);
        fh
    }

    /// The handle `fh` was released: the agent is gone if it was its.
    pub fn release(&self, fh: u64) {
        if self.fh.load(Ordering::Relaxed) == fh {
            self.pid.store(0, Ordering::Relaxed);
            self.hidden().clear();
        }
    }

    fn hidden(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, Vec<u8>)>> {
        self.hidden.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a LOOKUP of `name` in `parent` by the agent must find nothing.
    pub fn is_hidden(&self, parent: u64, name: &[u8]) -> bool {
        self.hidden().contains(&(parent, name.to_vec()))
    }

    /// The agent made `name` in `parent` appear: lookups are truthful again.
    pub fn unhide(&self, parent: u64, name: &[u8]) {
        self.hidden().remove(&(parent, name.to_vec()));
    }

    /// A READ of `cap` bytes by the agent: the records of the changes `take` hands out (up
    /// to a batch), and the names to hide until the agent replayed them.
    pub fn read(
        &self,
        cap: usize,
        take: impl FnOnce(usize) -> (Vec<crate::fs::Resolved>, bool),
        unget: impl FnOnce(Vec<crate::fs::changes::Change>),
    ) -> Vec<u8> {
        self.beat();
        let mut out = Vec::new();
        let (v, lost) = take(BATCH);
        let lost = lost | self.detached_loss.swap(false, Ordering::Relaxed);
        let mut hidden = self.hidden();
        hidden.clear();
        if lost {
            let r = Record {
                kind: Kind::Resync,
                mode: libc::S_IFDIR,
                path: Vec::new(),
                to: Vec::new(),
            };
            proto::encode(&r, &mut out, cap);
        }
        let mut rest = Vec::new();
        for res in v {
            if !rest.is_empty() {
                rest.push(res.change);
                continue;
            }
            let r = Record {
                kind: res.change.kind,
                mode: res.mode,
                path: res.path,
                to: res.to.unwrap_or_default(),
            };
            if !proto::encode(&r, &mut out, cap) {
                if r.path.len() > proto::MAX_PATH || r.to.len() > proto::MAX_PATH {
                    continue;
                }
                rest.push(res.change);
                continue;
            }
            let c = &res.change;
            match (c.kind, &c.to) {
                (Kind::Create, _) => {
                    hidden.insert((c.parent, c.name.clone()));
                }
                (Kind::Rename, Some((np, nn))) => {
                    hidden.insert((*np, nn.clone()));
                }
                _ => {}
            }
        }
        drop(hidden);
        if !rest.is_empty() {
            unget(rest);
        }
        out
    }
}

use fuse_backend_rs::abi::fuse_abi::{stat64, EntryOut, OpenIn, OpenOptions, ROOT_ID};
use fuse_backend_rs::api::filesystem::Entry;

use super::io::open_out;
use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::decode::Request;
use crate::name::{LookupName, Name};

/// The agent node's attributes: a root-only regular file larger than any read reaches (the
/// guest clamps O_DIRECT reads to the size).
fn node_attr() -> stat64 {
    // SAFETY: stat64 is plain data; all zeroes is a valid value.
    let mut st: stat64 = unsafe { std::mem::zeroed() };
    st.st_ino = NODE;
    st.st_mode = libc::S_IFREG | 0o400;
    st.st_nlink = 1;
    st.st_size = 1 << 40;
    st.st_blksize = 4096;
    st
}

impl<F: Backend> Server<F> {
    /// Whether an agent is attached: the cheap test a transport makes before it looks at a
    /// request for [`Server::read_may_wait`].
    pub fn agent_attached(&self) -> bool {
        self.agent
            .as_ref()
            .is_some_and(|a| a.pid.load(Ordering::Relaxed) != 0)
    }

    /// Whether the request that begins with `head` is a READ of the agent node by the
    /// attached agent, with nothing to tell it yet. A transport may then hold the request and
    /// serve it once [`Server::wait_changes`] returns (waiting at most [`MAX_WAIT`]): a long
    /// poll, so the agent hears of a change as soon as the watcher queues it, and an idle
    /// guest reads once a second. A transport that serves it at once is right too (the agent
    /// then paces its reads itself).
    pub fn read_may_wait(&self, head: &[u8]) -> bool {
        let (Some(a), Some(h)) = (&self.agent, crate::fuse::decode::header(head)) else {
            return false;
        };
        let wait = h.opcode == crate::fuse::opcode::READ
            && h.nodeid == NODE
            && h.uid == 0
            && a.is_agent(h.pid)
            && !a.detached_loss.load(Ordering::Relaxed)
            && !self.fs.wait_changes(Duration::ZERO);
        if wait {
            // Held, it still counts as read.
            a.beat();
        }
        wait
    }

    /// Blocks until host changes wait for the agent, or for `timeout`; whether they do.
    pub fn wait_changes(&self, timeout: Duration) -> bool {
        self.fs.wait_changes(timeout)
    }

    /// Whether replies may carry the long timeouts: an agent reads and every directory the
    /// guest holds is watched.
    pub(super) fn coherent(&self) -> bool {
        self.agent.as_ref().is_some_and(Agent::alive) && self.fs.watch_complete()
    }

    /// `t` as granted now: the long timeout in coherent mode (unless caching is off).
    pub(super) fn granted(&self, t: Duration) -> Duration {
        match &self.agent {
            Some(a) if !t.is_zero() && self.coherent() => a.opts.long.max(t),
            _ => t,
        }
    }

    /// An attribute timeout as granted now: as [`Server::granted`], except for a file with
    /// more than one link, whose content and attributes the host may change through a name in
    /// a directory the guest never looked up (so unwatched): it keeps the short timeout.
    pub(super) fn granted_attr(&self, t: Duration, mode: u32, nlink: u64) -> Duration {
        if nlink > 1 && mode & libc::S_IFMT != libc::S_IFDIR {
            return t;
        }
        self.granted(t)
    }

    /// Requests about the agent node, by the agent, or naming the agent node: answered here
    /// (Some), or None for the usual path.
    pub(super) fn agent_dispatch(
        &self,
        c: &mut Ctx<'_, '_>,
        r: &Request<'_>,
    ) -> Option<Result<(), Errno>> {
        let a = self.agent.as_ref()?;
        let node = c.h.nodeid;
        if node == NODE {
            return Some(self.agent_node(c, a, r));
        }
        if node == ROOT_ID {
            if let Request::Lookup(LookupName::Name(n)) = r {
                if n.as_cstr().to_bytes() == proto::NODE_NAME.as_bytes() {
                    let e = Entry {
                        inode: NODE,
                        generation: 0,
                        attr: node_attr(),
                        attr_flags: 0,
                        attr_timeout: NODE_ATTR_VALID,
                        entry_timeout: Duration::ZERO,
                    };
                    c.reply.push_obj(&EntryOut::from(e));
                    return Some(Ok(()));
                }
            }
        }
        if c.h.uid == 0 && a.is_agent(c.h.pid) {
            return self.agent_replay(c, a, r);
        }
        None
    }

    fn agent_node(&self, c: &mut Ctx<'_, '_>, a: &Agent, r: &Request<'_>) -> Result<(), Errno> {
        match r {
            Request::Getattr(_) => {
                c.reply
                    .push_obj(&self.attr_out(node_attr(), NODE_ATTR_VALID));
                Ok(())
            }
            Request::Open(_) => {
                self.agent_attach(c, a)?;
                // Direct I/O: every read asks the daemon. (Under zero-message opens there is
                // no OPEN: the agent drops the page before each read instead.)
                let opts = OpenOptions::DIRECT_IO;
                c.reply
                    .push_obj(&open_out(Some(a.fh.load(Ordering::Relaxed)), opts));
                Ok(())
            }
            Request::Read(r) => {
                // Under zero-message opens the guest sends no OPEN: the first READ attaches.
                if !a.is_agent(c.h.pid) {
                    self.agent_attach(c, a)?;
                }
                let cap = (r.size as usize).min(c.reply.room()).min(MAX_READ);
                let mut out = a.read(
                    cap,
                    |max| self.fs.changes(max),
                    |v| self.fs.unget_changes(v),
                );
                // Zeroes to the size asked for (see ferry_agent_proto): never a short read.
                out.resize(cap, 0);
                c.reply.push_bytes(&out);
                Ok(())
            }
            Request::Release(r) => {
                a.release(r.fh);
                Ok(())
            }
            Request::Flush(_) | Request::Access(_) | Request::Forget(_) => Ok(()),
            Request::Lookup(_) | Request::Opendir(_) | Request::Readdir { .. } => {
                Err(libc::ENOTDIR)
            }
            _ => Err(libc::EPERM),
        }
    }

    /// The caller becomes the agent: only the guest's root speaks for the guest.
    fn agent_attach(&self, c: &Ctx<'_, '_>, a: &Agent) -> Result<(), Errno> {
        if c.h.uid != 0 {
            return Err(libc::EACCES);
        }
        self.fs.watch().map_err(errno)?;
        a.attach(c.h.pid);
        Ok(())
    }

    /// The agent's replay requests: see the module's documentation.
    fn agent_replay(
        &self,
        c: &mut Ctx<'_, '_>,
        a: &Agent,
        r: &Request<'_>,
    ) -> Option<Result<(), Errno>> {
        let node = c.h.nodeid;
        Some(match r {
            Request::Lookup(LookupName::Name(n)) if a.is_hidden(node, n.as_cstr().to_bytes()) => {
                Err(libc::ENOENT)
            }
            Request::Mknod { arg, name } => self.agent_create(c, a, *name, arg.mode),
            Request::Mkdir { name, .. } => self.agent_create(c, a, *name, libc::S_IFDIR),
            Request::Symlink { name, .. } => self.agent_create(c, a, *name, libc::S_IFLNK),
            Request::Unlink(_) | Request::Rmdir(_) | Request::Fallocate(_) => Ok(()),
            Request::Rename { newdir, new, .. } => {
                a.unhide(*newdir, new.as_cstr().to_bytes());
                Ok(())
            }
            Request::Setattr(_) => self
                .fs
                .getattr(&c.ctx, node, None)
                .map_err(errno)
                .map(|(st, v)| c.reply.push_obj(&self.attr_out(st, v))),
            Request::Open(o) => {
                let write = libc::O_ACCMODE | libc::O_TRUNC | libc::O_APPEND | libc::O_CREAT;
                let ro = OpenIn {
                    flags: o.flags & !(write.cast_unsigned()),
                    fuse_flags: o.fuse_flags,
                };
                self.open(c, ro)
            }
            Request::Create { .. }
            | Request::Write { .. }
            | Request::Link { .. }
            | Request::Setxattr { .. }
            | Request::Removexattr(_)
            | Request::CopyFileRange(_)
            | Request::Tmpfile(_) => Err(libc::EPERM),
            _ => return None,
        })
    }

    /// The agent creates `name`: the host has it already (the entry, if of type `mode`).
    fn agent_create(
        &self,
        c: &mut Ctx<'_, '_>,
        a: &Agent,
        name: Name<'_>,
        mode: u32,
    ) -> Result<(), Errno> {
        let node = c.h.nodeid;
        a.unhide(node, name.as_cstr().to_bytes());
        let e = self
            .fs
            .lookup(&c.ctx, node, name.as_cstr())
            .map_err(errno)?;
        if e.inode == 0 {
            return Err(libc::ENOENT);
        }
        if e.attr.st_mode & libc::S_IFMT != mode & libc::S_IFMT {
            self.fs.forget(&c.ctx, e.inode, 1);
            return Err(libc::EEXIST);
        }
        c.reply.push_obj(&self.entry_out(e));
        Ok(())
    }
}
