//! The 9P2000.L session: one client connection's fids over a host backend.
//!
//! Each T-message is decoded once (the `ferry-9p` crate), its names pass [`crate::name`], and
//! it becomes calls on the same [`Backend`] the FUSE session drives, so the shared tree has
//! one set of defences (fd-relative resolution beneath the share, caller credentials on
//! create, the xattr policy, the fd quota) whichever protocol a guest speaks. A session
//! answers every request in order on its own connection; several sessions (clients) share
//! one backend.
//!
//! What 9P asks that FUSE does not: a fid is both a name and an open file (see `fid.rs`);
//! Tremove and Trename name a file by fid alone (served through the name it was walked by,
//! checked to still be that file); extended attributes are read and written as fids
//! (Txattrwalk, Txattrcreate + Twrite + Tclunk); locks never block the server (a lock that
//! would wait is answered BLOCKED, and Linux's client retries).

mod conn;
mod fid;
mod io;
mod ops;
#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ferry_9p::{decode, DecodeError, Qid, Reply, Tmessage, NOTAG};
use fuse_backend_rs::api::filesystem::Context;

use crate::fs::Backend;
use crate::name::{Name, NameError};
pub use conn::serve;
use fid::{Fid, Fids, Kind};

type Errno = libc::c_int;

use crate::fs::errno;

/// The uid (and gid) of an attach by a name that is not a number: the kernel's overflow id.
const NOBODY: u32 = 65534;

/// The root node of every backend.
const ROOT: u64 = 1;

/// What a session allows a client.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Largest message either side may send (Tversion's msize is cut to this).
    pub max_msize: u32,
    /// Most fids one client may hold at once.
    pub max_fids: usize,
    /// Refuse every change to the tree with EROFS.
    pub readonly: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_msize: 1 << 20,
            max_fids: 16384,
            readonly: false,
        }
    }
}

/// Readies a backend for 9P sessions, once, before the first: none of what a FUSE guest
/// negotiates at INIT (no writeback cache, no zero-message opens: a 9P client opens every
/// file it reads or writes).
pub fn init_backend<F: Backend>(fs: &F) -> std::io::Result<()> {
    fs.init(fuse_backend_rs::abi::fuse_abi::FsOptions::empty())
        .map(|_| ())
}

/// Smallest msize served: room for a 4 KiB page and its header.
pub const MIN_MSIZE: u32 = 4096 + 24;

/// One client's session.
pub struct Session<F: Backend> {
    fs: Arc<F>,
    fids: Fids,
    opts: SessionOptions,
    /// Negotiated by Tversion; 0 before it.
    msize: u32,
    /// Unique among the sessions of this process: lock owners of different clients differ.
    id: u64,
}

static SESSIONS: AtomicU64 = AtomicU64::new(1);

impl<F: Backend> Session<F> {
    pub fn new(fs: Arc<F>, opts: SessionOptions) -> Self {
        let max_fids = opts.max_fids;
        let id = SESSIONS.fetch_add(1, Ordering::Relaxed);
        Session {
            fs,
            fids: Fids::new(max_fids),
            opts,
            msize: 0,
            id,
        }
    }

    /// The largest frame the client may send now (before Tversion: the most it may offer).
    pub fn max_frame(&self) -> u32 {
        if self.msize == 0 {
            self.opts.max_msize
        } else {
            self.msize
        }
    }

    /// Serves one whole frame, appending exactly one reply to `out`; returns its length.
    pub fn handle(&mut self, frame: &[u8], out: &mut Vec<u8>) -> usize {
        let (tag, m) = match decode(frame) {
            Ok(d) => d,
            Err(e) => {
                let tag = ferry_9p::decode::header(frame).map_or(NOTAG, |(_, t)| t);
                log::debug!("9P: undecodable frame (tag {tag}): {e}");
                let errno = match e {
                    DecodeError::UnknownType(_) => libc::EOPNOTSUPP,
                    _ => libc::EINVAL,
                };
                return Reply::error(out, tag, errno as u32).finish();
            }
        };
        let ty = frame[4];
        if self.msize == 0 && !matches!(m, Tmessage::Version { .. }) {
            return Reply::error(out, tag, libc::EPROTO as u32).finish();
        }
        if self.opts.readonly && mutates(&m) {
            return Reply::error(out, tag, libc::EROFS as u32).finish();
        }
        log::trace!("9P: tag {tag}: {m:?}");
        let mut r = Reply::new(out, ty + 1, tag);
        match self.dispatch(m, &mut r) {
            Ok(()) => r.finish(),
            Err(e) => {
                log::trace!("9P: tag {tag}: errno {e}");
                r.into_error(e as u32).finish()
            }
        }
    }

    fn dispatch(&mut self, m: Tmessage<'_>, r: &mut Reply<'_>) -> Result<(), Errno> {
        use Tmessage as T;
        match m {
            T::Version { msize, version } => self.version(r, msize, version),
            T::Auth { .. } => Err(libc::EOPNOTSUPP),
            T::Attach {
                fid,
                afid,
                uname,
                n_uname,
                ..
            } => self.attach(r, fid, afid, uname, n_uname),
            // Requests are answered in order, so the one to flush has been answered already.
            T::Flush { .. } => Ok(()),
            T::Walk { fid, newfid, names } => self.walk(r, fid, newfid, &names),
            T::Clunk { fid } => self.clunk(fid),
            T::Remove { fid } => self.remove(fid),
            T::Statfs { fid } => self.statfs(r, fid),
            T::Getattr { fid, .. } => self.getattr(r, fid),
            T::Setattr { fid, attr } => self.setattr(fid, attr),
            T::Readlink { fid } => self.readlink(r, fid),
            T::Lopen { fid, flags } => self.lopen(r, fid, flags),
            T::Lcreate {
                fid,
                name,
                flags,
                mode,
                gid,
            } => self.lcreate(r, fid, name, flags, mode, gid),
            T::Read { fid, offset, count } => self.read(r, fid, offset, count),
            T::Write { fid, offset, data } => self.write(r, fid, offset, data),
            T::Readdir { fid, offset, count } => self.readdir(r, fid, offset, count),
            T::Fsync { fid, datasync } => self.fsync(fid, datasync),
            T::Mkdir {
                dfid,
                name,
                mode,
                gid,
            } => self.mkdir(r, dfid, name, mode, gid),
            T::Mknod {
                dfid,
                name,
                mode,
                major,
                minor,
                gid,
            } => self.mknod(r, dfid, name, mode, (major, minor), gid),
            T::Symlink {
                fid,
                name,
                target,
                gid,
            } => self.symlink(r, fid, name, target, gid),
            T::Link { dfid, fid, name } => self.link(dfid, fid, name),
            T::Rename { fid, dfid, name } => self.rename(fid, dfid, name),
            T::Renameat {
                olddirfid,
                oldname,
                newdirfid,
                newname,
            } => self.renameat(olddirfid, oldname, newdirfid, newname),
            T::Unlinkat { dfid, name, flags } => self.unlinkat(dfid, name, flags),
            T::Xattrwalk { fid, newfid, name } => self.xattrwalk(r, fid, newfid, name),
            T::Xattrcreate {
                fid,
                name,
                size,
                flags,
            } => self.xattrcreate(fid, name, size, flags),
            T::Lock { fid, lock, flags } => self.lock(r, fid, lock, flags),
            T::Getlock { fid, lock } => self.getlock(r, fid, lock),
        }
    }

    fn version(&mut self, r: &mut Reply<'_>, msize: u32, version: &[u8]) -> Result<(), Errno> {
        // A new version aborts everything the client had.
        self.clunk_all();
        if msize < MIN_MSIZE {
            return Err(libc::EINVAL);
        }
        let msize = msize.min(self.opts.max_msize);
        r.u32(msize);
        if version == ferry_9p::VERSION {
            self.msize = msize;
            r.str(ferry_9p::VERSION);
        } else {
            self.msize = 0;
            r.str(b"unknown");
        }
        Ok(())
    }

    fn attach(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        afid: u32,
        uname: &[u8],
        n_uname: u32,
    ) -> Result<(), Errno> {
        if afid != ferry_9p::NOFID {
            return Err(libc::EINVAL);
        }
        self.fids.check_new(fid)?;
        // Linux's client attaches once per user and names it by number. Its first attach,
        // for the root's attributes, names no number (and the user "nobody"): a name that is
        // not a number acts as nobody (65534), which no privilege comes with.
        let uid = if n_uname != ferry_9p::NONUNAME {
            n_uname
        } else {
            std::str::from_utf8(uname)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(NOBODY)
        };
        let ctx = Context {
            uid,
            gid: uid,
            pid: 0,
        };
        let (st, _) = self.fs.getattr(&ctx, ROOT, None).map_err(errno)?;
        let f = Fid {
            node: ROOT,
            kind_of_file: libc::S_IFDIR,
            uid,
            gid: uid,
            origin: None,
            kind: Kind::Node,
        };
        self.fids.insert(fid, f);
        r.qid(qid(&st));
        Ok(())
    }

    fn clunk_all(&mut self) {
        for f in self.fids.drain() {
            let _ = self.release(f);
        }
    }

    /// Closes what a fid had open, commits an xattr it wrote, and lets go of its nodes.
    fn release(&mut self, f: Fid) -> Result<(), Errno> {
        let ctx = ctx_of(&f);
        let res = match f.kind {
            Kind::Open {
                handle,
                dir: true,
                flags,
            } => self
                .fs
                .releasedir(&ctx, f.node, flags, handle)
                .map_err(errno),
            Kind::Open {
                handle,
                dir: false,
                flags,
            } => self
                .fs
                .release(&ctx, f.node, flags, handle, false, false, None)
                .map_err(errno),
            Kind::XattrWrite {
                ref name,
                size,
                flags,
                ref value,
            } => {
                if value.len() != size {
                    Err(libc::EINVAL)
                } else if size == 0 {
                    // As QEMU's server: an empty value is Linux's client removing the name.
                    self.fs.removexattr(&ctx, f.node, name).map_err(errno)
                } else {
                    self.fs
                        .setxattr(&ctx, f.node, name, value, flags)
                        .map_err(errno)
                }
            }
            Kind::Node | Kind::XattrRead(_) => Ok(()),
        };
        self.fids.unhold(f.node);
        if let Some((dir, _)) = f.origin {
            self.fids.unhold(dir);
        }
        self.forget_unheld();
        res
    }

    /// Gives the backend back the lookups of nodes no fid holds.
    fn forget_unheld(&mut self) {
        let ctx = Context::new();
        for (node, n) in self.fids.unheld() {
            self.fs.forget(&ctx, node, n);
        }
    }

    fn clunk(&mut self, fid: u32) -> Result<(), Errno> {
        let f = self.fids.remove(fid)?;
        self.release(f)
    }
}

impl<F: Backend> Drop for Session<F> {
    fn drop(&mut self) {
        self.clunk_all();
    }
}

/// Whether `m` would change the shared tree (refused on a read-only export).
fn mutates(m: &Tmessage<'_>) -> bool {
    use Tmessage as T;
    let writes = |flags: u32| {
        flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32 || flags & libc::O_TRUNC as u32 != 0
    };
    match m {
        T::Lopen { flags, .. } => writes(*flags),
        T::Lcreate { .. }
        | T::Write { .. }
        | T::Setattr { .. }
        | T::Mkdir { .. }
        | T::Mknod { .. }
        | T::Symlink { .. }
        | T::Link { .. }
        | T::Rename { .. }
        | T::Renameat { .. }
        | T::Unlinkat { .. }
        | T::Remove { .. }
        | T::Xattrcreate { .. } => true,
        _ => false,
    }
}

/// The credentials a fid's requests act with.
fn ctx_of(f: &Fid) -> Context {
    Context {
        uid: f.uid,
        gid: f.gid,
        pid: 0,
    }
}

/// A qid for what `st` describes: its type and its inode number (version 0: 9P's cache
/// modes do not revalidate by version, and a changing one would make Linux's client see a
/// new inode).
fn qid(st: &libc::stat64) -> Qid {
    Qid {
        ty: qtype(st.st_mode),
        version: qid_version(st),
        path: st.st_ino,
    }
}

/// A file's qid version: its modification time and size folded together, as QEMU's 9p makes
/// it, so that it changes when the file does; never 0, which Linux's client takes as "this
/// server has no versions" and then caches none of the file's data (every read and write a
/// request of the caller's size, page by page from the page cache). Directories and links: 0.
fn qid_version(st: &libc::stat64) -> u32 {
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return 0;
    }
    let v = (st.st_mtime as u64 ^ st.st_mtime_nsec as u64 ^ ((st.st_size as u64) << 8)) as u32;
    v.max(1)
}

fn qtype(mode: u32) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => ferry_9p::qtype::DIR,
        libc::S_IFLNK => ferry_9p::qtype::SYMLINK,
        _ => ferry_9p::qtype::FILE,
    }
}

/// A name from the wire as a C string: no NUL inside.
fn cstring(b: &[u8]) -> Result<CString, Errno> {
    CString::new(b).map_err(|_| libc::EINVAL)
}

/// What a refused name becomes: 9P's ENOENT for an empty or slashed name (the 9pfs
/// CVE-2016-7116 fix), ENAMETOOLONG, or the request's own answer to `.` and `..`.
fn name_errno(e: NameError, dot: Errno) -> Errno {
    match e {
        NameError::TooLong => libc::ENAMETOOLONG,
        NameError::Dot | NameError::DotDot => dot,
        NameError::NoNul => libc::EINVAL,
        NameError::Empty | NameError::Slash => libc::ENOENT,
    }
}

/// A checked single component, for requests that create or remove one (`dot`: the answer
/// to `.` or `..`).
fn checked_name(b: &[u8], dot: Errno) -> Result<CString, Errno> {
    let c = cstring(b)?;
    Name::new(&c).map_err(|e| name_errno(e, dot))?;
    Ok(c)
}
