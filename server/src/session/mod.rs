//! The FUSE session: decoded requests in, calls on the host backend, encoded replies out.
//!
//! Transport-agnostic: [`Server::handle`] takes the request bytes and fills a reply buffer, so
//! the vhost-user transport, an in-process VMM, tests and fuzzers all drive the same code.

pub mod agent;
mod dax;
mod dir;
mod entry;
pub mod ids;
mod init;
mod io;
pub mod stats;
mod xattr;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fuse_backend_rs::abi::fuse_abi::{InHeader, ROOT_ID};
use fuse_backend_rs::api::filesystem::{Context, ZeroCopyReader, ZeroCopyWriter};
use log::{trace, warn};

pub use crate::config::Readdirplus;
pub use crate::fs::{Backend, BackendExt, CopyRange};
use crate::fuse::decode::{decode_split, Rejected, Request};
use crate::fuse::reply::{self, Reply, OUT_HEADER_LEN};
pub use dax::Window;
use stats::Stats;

/// What the server itself enforces or negotiates, independent of the backend.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Refuse every change with EROFS.
    pub readonly: bool,
    /// Which listings carry attributes.
    pub readdirplus: Readdirplus,
    /// Announce submounts (FUSE_SUBMOUNTS).
    pub announce_submounts: bool,
    /// Negotiate FUSE_POSIX_ACL.
    pub posix_acl: bool,
    /// Negotiate FUSE_AUTO_INVAL_DATA (page cache dropped when the host changes mtime/size).
    pub auto_inval_data: bool,
    /// Negotiate FUSE_DIRECT_IO_ALLOW_MMAP (shared mmap of direct-I/O files).
    pub allow_mmap: bool,
    /// The backend acts on FLUSH (host locks to drop): without it, files are opened with
    /// FOPEN_NOFLUSH.
    pub flush_needed: bool,
    /// How the guest's user and group ids map to the host's (`--uid-map`, `--translate-uid`).
    pub ids: ids::Ids,
    /// The agent channel (see [`agent`]); None: the reserved name is an ordinary name.
    pub agent: Option<agent::AgentOptions>,
    /// Under a `-o dax=inode` mount (FUSE_HAS_INODE_DAX), the regular files of at least this
    /// many bytes are mapped through the DAX window (FUSE_ATTR_DAX); the others are read and
    /// written with requests. Only with a window.
    pub dax_min_size: u64,
}

/// One FUSE session over one backend.
pub struct Server<F: Backend> {
    fs: F,
    opts: ServerOptions,
    initialized: AtomicBool,
    /// Whether INIT agreed on FUSE_SETXATTR_EXT (SETXATTR's layout).
    setxattr_ext: AtomicBool,
    /// Whether INIT agreed on FUSE_HAS_INODE_DAX: attributes say which files are mapped.
    inode_dax: AtomicBool,
    warned_short: AtomicBool,
    stats: Option<Arc<Stats>>,
    /// The DAX cache window, if the device has one.
    window: Option<Arc<dyn Window>>,
    agent: Option<agent::Agent>,
}

/// What a handler needs to answer: the header, the caller's identity and the reply.
struct Ctx<'a, 'b> {
    h: InHeader,
    ctx: Context,
    reply: Reply<'a>,
    /// Where READ data may go straight to the guest, after the reply header.
    data: Option<&'b mut dyn ZeroCopyWriter>,
    /// A WRITE's payload left in the guest's buffers.
    payload: Option<&'b mut dyn ZeroCopyReader>,
    /// The caller's ids have no host counterpart ([`ids`]): it must not act on the host.
    unmapped: bool,
}

/// The guest's own buffers, which a transport lets a request use in place of copies.
#[derive(Default)]
pub struct InPlace<'b> {
    /// A writer over the guest's reply buffers after the out_header: READ puts file data
    /// there directly, and the returned length counts it while `out` holds only the header.
    pub reply: Option<&'b mut dyn ZeroCopyWriter>,
    /// A WRITE's payload, still in the guest's buffers, and its length: the request bytes
    /// then end with the write_in. Other requests ignore `reply` and must not have `payload`.
    pub payload: Option<(&'b mut dyn ZeroCopyReader, usize)>,
}

type Errno = libc::c_int;

use crate::fs::errno;

impl<F: Backend> Server<F> {
    pub fn new(fs: F, opts: ServerOptions) -> Self {
        Server {
            agent: opts.agent.clone().map(agent::Agent::new),
            fs,
            opts,
            initialized: AtomicBool::new(false),
            setxattr_ext: AtomicBool::new(false),
            inode_dax: AtomicBool::new(false),
            warned_short: AtomicBool::new(false),
            stats: None,
            window: None,
        }
    }

    /// Serves SETUPMAPPING and REMOVEMAPPING through `window`.
    pub fn with_window(mut self, window: Arc<dyn Window>) -> Self {
        self.window = Some(window);
        self
    }

    /// Counts requests per opcode into `stats`.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Whether the agent channel is on (its node answers; see [`agent`]).
    pub fn has_agent(&self) -> bool {
        self.agent.is_some()
    }

    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// Handles one request. `out` receives the reply; `cap` is the room the guest gave for it.
    /// Returns the reply length, 0 for no reply (FORGET, INTERRUPT, or no room for a header).
    pub fn handle(&self, req: &[u8], out: &mut Vec<u8>, cap: usize) -> usize {
        self.handle_with(req, out, cap, InPlace::default())
    }

    /// As [`Server::handle`], with some of the guest's buffers used in place ([`InPlace`]).
    pub fn handle_with(
        &self,
        req: &[u8],
        out: &mut Vec<u8>,
        cap: usize,
        bufs: InPlace<'_>,
    ) -> usize {
        let Some(stats) = &self.stats else {
            return self.handle_checked(req, out, cap, bufs);
        };
        let start = Instant::now();
        let len_in = req.len() + bufs.payload.as_ref().map_or(0, |p| p.1);
        let n = self.handle_checked(req, out, cap, bufs);
        let op = req
            .get(4..8)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let error = n >= OUT_HEADER_LEN && out[4..8] != [0; 4];
        stats.record(op, len_in, n, error, start.elapsed());
        n
    }

    fn handle_checked(
        &self,
        req: &[u8],
        out: &mut Vec<u8>,
        cap: usize,
        bufs: InPlace<'_>,
    ) -> usize {
        let n = self.handle_inner(req, out, cap, bufs);
        if n > cap {
            // Only a reply the guest has room for is sent; a header-only error if that fits.
            if cap >= OUT_HEADER_LEN {
                let unique = u64::from_le_bytes(out[8..16].try_into().unwrap_or_default());
                return reply::error(out, unique, libc::ERANGE);
            }
            return 0;
        }
        n
    }

    fn handle_inner(&self, req: &[u8], out: &mut Vec<u8>, cap: usize, bufs: InPlace<'_>) -> usize {
        let (payload, external) = match bufs.payload {
            Some((p, len)) => (Some(p), len),
            None => (None, 0),
        };
        let layout = crate::fuse::decode::Layout {
            setxattr_ext: self.setxattr_ext.load(Ordering::Acquire),
        };
        let (h, r) = match decode_split(req, external, layout) {
            Ok(v) => v,
            Err(Rejected::NoReply) => {
                if !self.warned_short.swap(true, Ordering::Relaxed) {
                    warn!(
                        "request shorter than a FUSE header ({} bytes): dropped",
                        req.len()
                    );
                }
                return 0;
            }
            Err(Rejected::Errno { unique, errno }) => {
                trace!("unique {unique}: malformed request: errno {errno}");
                return reply::error(out, unique, errno);
            }
        };
        trace!(
            "unique {} op {} node {}: {:?}",
            h.unique,
            h.opcode,
            h.nodeid,
            r
        );
        let noreply = r.is_noreply();
        if !noreply && cap < OUT_HEADER_LEN {
            // Nowhere to put an answer: do nothing rather than act unseen.
            return 0;
        }
        let (ctx, unmapped) = self.caller(&h);
        let mut c = Ctx {
            h,
            ctx,
            reply: Reply::new(out, h.unique, cap),
            data: bufs.reply,
            payload,
            unmapped,
        };
        let res = self.dispatch(&mut c, r);
        if noreply {
            return 0;
        }
        match res {
            Ok(()) => c.reply.ok(),
            Err(e) => c.reply.err(e),
        }
    }

    /// The backend's view of the caller: the host's ids for the guest's, and whether they have
    /// none (then the overflow ids stand in, for requests that do not act as the caller).
    fn caller(&self, h: &InHeader) -> (Context, bool) {
        let mut ctx = Context::from(h);
        if self.opts.ids.is_identity() {
            return (ctx, false);
        }
        let (uid, gid, unmapped) = match self.opts.ids.caller(h.uid, h.gid) {
            Some((u, g)) => (u, g, false),
            None => (ids::OVERFLOW_ID, ids::OVERFLOW_ID, true),
        };
        ctx.uid = uid;
        ctx.gid = gid;
        (ctx, unmapped)
    }

    fn dispatch(&self, c: &mut Ctx<'_, '_>, r: Request<'_>) -> Result<(), Errno> {
        let initialized = self.initialized.load(Ordering::Acquire);
        match r {
            Request::Init {
                major,
                minor,
                max_readahead,
                flags,
            } => {
                if initialized {
                    return Err(libc::EIO);
                }
                return self.init(c, major, minor, max_readahead, flags);
            }
            _ if !initialized => return Err(libc::EIO),
            Request::Interrupt => return Ok(()),
            Request::Destroy => {
                self.fs.destroy();
                self.initialized.store(false, Ordering::Release);
                return Ok(());
            }
            _ => {}
        }
        if let Request::BatchForget(v) = &r {
            // The one request whose header names no node (its entries do).
            self.forget(c, v);
            return Ok(());
        }
        if c.h.nodeid == 0 {
            return Err(libc::EBADF);
        }
        if let Some(res) = self.agent_dispatch(c, &r) {
            return res;
        }
        if self.opts.readonly && r.mutates() {
            return Err(libc::EROFS);
        }
        if c.unmapped {
            // A guest id outside the map never acts on the host.
            match r {
                _ if r.mutates() => return Err(libc::EPERM),
                Request::Access(_) => return Err(libc::EACCES),
                _ => {}
            }
        }
        let node = c.h.nodeid;
        match r {
            Request::Lookup(name) => self.lookup(c, name),
            Request::Forget(n) => {
                self.forget(c, &[(node, n)]);
                Ok(())
            }
            Request::BatchForget(_) => Ok(()),
            Request::Getattr(a) => self.getattr(c, a),
            Request::Setattr(a) => self.setattr(c, a),
            Request::Readlink => self.readlink(c),
            Request::Symlink { name, target } => self.symlink(c, name, target),
            Request::Mknod { arg, name } => self.mknod(c, arg, name),
            Request::Mkdir { arg, name } => self.mkdir(c, arg, name),
            Request::Unlink(name) => self.fs.unlink(&c.ctx, node, name.as_cstr()).map_err(errno),
            Request::Rmdir(name) => self.fs.rmdir(&c.ctx, node, name.as_cstr()).map_err(errno),
            Request::Rename {
                newdir,
                flags,
                old,
                new,
            } => self
                .fs
                .rename(&c.ctx, node, old.as_cstr(), newdir, new.as_cstr(), flags)
                .map_err(errno),
            Request::Link { oldnodeid, name } => self.link(c, oldnodeid, name),
            Request::Open(a) => self.open(c, a),
            Request::Read(a) => self.read(c, a),
            Request::Write { arg, data } => self.write(c, arg, data),
            Request::Statfs => self.statfs(c),
            Request::Release(a) => self.release(c, a),
            Request::Fsync(a) => {
                let datasync = a.fsync_flags & 1 != 0;
                self.fs.fsync(&c.ctx, node, datasync, a.fh).map_err(errno)
            }
            Request::Setxattr {
                arg,
                setxattr_flags,
                name,
                value,
            } => self.setxattr(c, arg, setxattr_flags, name, value),
            Request::Getxattr { size, name } => self.getxattr(c, size, name),
            Request::Listxattr { size } => self.listxattr(c, size),
            Request::Removexattr(name) => self.fs.removexattr(&c.ctx, node, name).map_err(errno),
            Request::Flush(a) => self
                .fs
                .flush(&c.ctx, node, a.fh, a.lock_owner)
                .map_err(errno),
            Request::Opendir(a) => self.opendir(c, a),
            Request::Readdir { arg, plus } => self.readdir(c, arg, plus),
            Request::Releasedir(a) => self
                .fs
                .releasedir(&c.ctx, node, a.flags, a.fh)
                .map_err(errno),
            Request::Fsyncdir(a) => {
                let datasync = a.fsync_flags & 1 != 0;
                self.fs
                    .fsyncdir(&c.ctx, node, datasync, a.fh)
                    .map_err(errno)
            }
            Request::Access(a) => self.fs.access(&c.ctx, node, a.mask).map_err(errno),
            Request::Create { arg, name } => self.create(c, arg, name),
            Request::Fallocate(a) => self.fallocate(c, a),
            Request::Lseek(a) => self.lseek(c, a),
            Request::Getlk(a) => self.getlk(c, a),
            Request::Setlk { arg, wait } => self.setlk(c, arg, wait),
            Request::CopyFileRange(a) => self.copy_file_range(c, a),
            Request::Syncfs => self.fs.syncfs(&c.ctx, node).map_err(errno),
            Request::Tmpfile(a) => self.tmpfile(c, a),
            Request::Statx(a) => self.statx(c, a),
            Request::SetupMapping(a) => self.setup_mapping(c, a),
            Request::RemoveMapping(v) => self.remove_mapping(&v),
            Request::Unsupported(_) => Err(libc::ENOSYS),
            Request::Init { .. } | Request::Interrupt | Request::Destroy => Ok(()),
        }
    }

    fn forget(&self, c: &Ctx<'_, '_>, v: &[(u64, u64)]) {
        // The root stays pinned whatever the guest says.
        let v: Vec<(u64, u64)> = v
            .iter()
            .copied()
            .filter(|&(n, _)| n != ROOT_ID && n != 0)
            .collect();
        match v.as_slice() {
            [] => {}
            [(n, count)] => self.fs.forget(&c.ctx, *n, *count),
            _ => self.fs.batch_forget(&c.ctx, v),
        }
    }
}

impl Request<'_> {
    /// Whether the request changes the shared tree (refused with EROFS on a read-only export).
    fn mutates(&self) -> bool {
        use Request::*;
        match self {
            Setattr(_)
            | Symlink { .. }
            | Mknod { .. }
            | Mkdir { .. }
            | Unlink(_)
            | Rmdir(_)
            | Rename { .. }
            | Link { .. }
            | Write { .. }
            | Setxattr { .. }
            | Removexattr(_)
            | Create { .. }
            | Fallocate(_)
            | Tmpfile(_)
            | CopyFileRange(_) => true,
            Open(a) => open_flags_write(a.flags),
            SetupMapping(a) => a.flags & crate::fuse::mapping::FLAG_WRITE != 0,
            _ => false,
        }
    }
}

/// Whether open(2) flags ask for write access or truncation.
fn open_flags_write(flags: u32) -> bool {
    let f = flags.cast_signed();
    f & libc::O_ACCMODE != libc::O_RDONLY || f & libc::O_TRUNC != 0
}

#[cfg(test)]
mod tests;
