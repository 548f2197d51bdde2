//! Requests on names and inodes: lookup, forget, attributes, creation and removal of
//! directory entries, links, statfs, access.

use fuse_backend_rs::abi::fuse_abi::{
    AccessIn, AttrOut, BatchForgetIn, EntryOut, ForgetIn, ForgetOne, GetattrIn, Kstatfs, LinkIn,
    MkdirIn, MknodIn, Rename2In, RenameIn, SetattrIn, StatfsOut,
};
use vm_memory_fbr::ByteValued;

use super::opcode::{self, fattr};
use super::reply::fixed;
use super::{cstr, Client};
use crate::error::Result;

const ENTRY: u32 = 128;
const ATTR: u32 = 104;

/// What a SETATTR changes; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    /// New mode (permission bits; the file type is ignored).
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size.
    pub size: Option<u64>,
    /// New atime (seconds, nanoseconds).
    pub atime: Option<(u64, u32)>,
    /// New mtime (seconds, nanoseconds).
    pub mtime: Option<(u64, u32)>,
    /// Set atime to now.
    pub atime_now: bool,
    /// Set mtime to now.
    pub mtime_now: bool,
    /// Through this open handle.
    pub fh: Option<u64>,
    /// Ask the daemon to clear suid/sgid (FATTR_KILL_SUIDGID).
    pub kill_suidgid: bool,
}

impl SetAttr {
    /// The wire struct.
    pub fn to_wire(&self) -> SetattrIn {
        let mut s = SetattrIn::default();
        if let Some(m) = self.mode {
            s.valid |= fattr::MODE;
            s.mode = m;
        }
        if let Some(u) = self.uid {
            s.valid |= fattr::UID;
            s.uid = u;
        }
        if let Some(g) = self.gid {
            s.valid |= fattr::GID;
            s.gid = g;
        }
        if let Some(sz) = self.size {
            s.valid |= fattr::SIZE;
            s.size = sz;
        }
        if let Some((sec, ns)) = self.atime {
            s.valid |= fattr::ATIME;
            s.atime = sec;
            s.atimensec = ns;
        }
        if let Some((sec, ns)) = self.mtime {
            s.valid |= fattr::MTIME;
            s.mtime = sec;
            s.mtimensec = ns;
        }
        if self.atime_now {
            s.valid |= fattr::ATIME | fattr::ATIME_NOW;
        }
        if self.mtime_now {
            s.valid |= fattr::MTIME | fattr::MTIME_NOW;
        }
        if let Some(fh) = self.fh {
            s.valid |= fattr::FH;
            s.fh = fh;
        }
        if self.kill_suidgid {
            s.valid |= fattr::KILL_SUIDGID;
        }
        s
    }
}

impl Client {
    /// LOOKUP `name` in `parent`.
    ///
    /// A reply with node id 0 is a negative entry (the name is absent, and the answer may be
    /// cached for its entry timeout): ENOENT, as Linux reads it.
    pub fn lookup(&self, parent: u64, name: impl AsRef<[u8]>) -> Result<EntryOut> {
        let b = self.call(opcode::LOOKUP, parent, &[&cstr(name)], ENTRY)?;
        let e: EntryOut = fixed(&b, "LOOKUP")?;
        if e.nodeid == 0 {
            return Err(crate::Errno(libc::ENOENT).into());
        }
        Ok(e)
    }

    /// FORGET `nlookup` references to `nodeid`.
    pub fn forget(&self, nodeid: u64, nlookup: u64) -> Result<()> {
        self.call_no_reply(opcode::FORGET, nodeid, &[ForgetIn { nlookup }.as_slice()])
    }

    /// BATCH_FORGET of `(nodeid, nlookup)` pairs.
    pub fn batch_forget(&self, nodes: &[(u64, u64)]) -> Result<()> {
        let head = BatchForgetIn {
            count: nodes.len() as u32,
            dummy: 0,
        };
        let mut body = head.as_slice().to_vec();
        for &(nodeid, nlookup) in nodes {
            body.extend_from_slice(ForgetOne { nodeid, nlookup }.as_slice());
        }
        self.call_no_reply(opcode::BATCH_FORGET, 0, &[&body])
    }

    /// GETATTR, through an open handle if `fh` is given.
    pub fn getattr(&self, nodeid: u64, fh: Option<u64>) -> Result<AttrOut> {
        let a = GetattrIn {
            flags: if fh.is_some() { 1 } else { 0 },
            dummy: 0,
            fh: fh.unwrap_or(0),
        };
        let b = self.call(opcode::GETATTR, nodeid, &[a.as_slice()], ATTR)?;
        fixed(&b, "GETATTR")
    }

    /// SETATTR.
    pub fn setattr(&self, nodeid: u64, attr: &SetAttr) -> Result<AttrOut> {
        let b = self.call(opcode::SETATTR, nodeid, &[attr.to_wire().as_slice()], ATTR)?;
        fixed(&b, "SETATTR")
    }

    /// MKDIR.
    pub fn mkdir(
        &self,
        parent: u64,
        name: impl AsRef<[u8]>,
        mode: u32,
        umask: u32,
    ) -> Result<EntryOut> {
        let a = MkdirIn {
            mode: self.masked(mode, umask),
            umask,
        };
        let b = self.call(opcode::MKDIR, parent, &[a.as_slice(), &cstr(name)], ENTRY)?;
        fixed(&b, "MKDIR")
    }

    /// MKNOD (`mode` includes the file type).
    pub fn mknod(
        &self,
        parent: u64,
        name: impl AsRef<[u8]>,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> Result<EntryOut> {
        let a = MknodIn {
            mode: self.masked(mode, umask),
            rdev,
            umask,
            padding: 0,
        };
        let b = self.call(opcode::MKNOD, parent, &[a.as_slice(), &cstr(name)], ENTRY)?;
        fixed(&b, "MKNOD")
    }

    /// SYMLINK `name` → `target` in `parent`.
    pub fn symlink(
        &self,
        parent: u64,
        name: impl AsRef<[u8]>,
        target: impl AsRef<[u8]>,
    ) -> Result<EntryOut> {
        let b = self.call(
            opcode::SYMLINK,
            parent,
            &[&cstr(name), &cstr(target)],
            ENTRY,
        )?;
        fixed(&b, "SYMLINK")
    }

    /// READLINK.
    pub fn readlink(&self, nodeid: u64) -> Result<Vec<u8>> {
        self.call(opcode::READLINK, nodeid, &[], 4096)
    }

    /// UNLINK.
    pub fn unlink(&self, parent: u64, name: impl AsRef<[u8]>) -> Result<()> {
        self.call(opcode::UNLINK, parent, &[&cstr(name)], 0)
            .map(drop)
    }

    /// RMDIR.
    pub fn rmdir(&self, parent: u64, name: impl AsRef<[u8]>) -> Result<()> {
        self.call(opcode::RMDIR, parent, &[&cstr(name)], 0)
            .map(drop)
    }

    /// RENAME.
    pub fn rename(
        &self,
        olddir: u64,
        oldname: impl AsRef<[u8]>,
        newdir: u64,
        newname: impl AsRef<[u8]>,
    ) -> Result<()> {
        let a = RenameIn { newdir };
        self.call(
            opcode::RENAME,
            olddir,
            &[a.as_slice(), &cstr(oldname), &cstr(newname)],
            0,
        )
        .map(drop)
    }

    /// RENAME2 with `flags` (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2, RENAME_WHITEOUT 4).
    pub fn rename2(
        &self,
        olddir: u64,
        oldname: impl AsRef<[u8]>,
        newdir: u64,
        newname: impl AsRef<[u8]>,
        flags: u32,
    ) -> Result<()> {
        let a = Rename2In {
            newdir,
            flags,
            padding: 0,
        };
        self.call(
            opcode::RENAME2,
            olddir,
            &[a.as_slice(), &cstr(oldname), &cstr(newname)],
            0,
        )
        .map(drop)
    }

    /// LINK `oldnodeid` as `newname` in `newparent`.
    pub fn link(
        &self,
        oldnodeid: u64,
        newparent: u64,
        newname: impl AsRef<[u8]>,
    ) -> Result<EntryOut> {
        let a = LinkIn { oldnodeid };
        let b = self.call(
            opcode::LINK,
            newparent,
            &[a.as_slice(), &cstr(newname)],
            ENTRY,
        )?;
        fixed(&b, "LINK")
    }

    /// STATFS.
    pub fn statfs(&self, nodeid: u64) -> Result<Kstatfs> {
        let b = self.call(opcode::STATFS, nodeid, &[], 80)?;
        let s: StatfsOut = fixed(&b, "STATFS")?;
        Ok(s.st)
    }

    /// ACCESS with `mask` (R_OK 4, W_OK 2, X_OK 1, F_OK 0).
    pub fn access(&self, nodeid: u64, mask: u32) -> Result<()> {
        let a = AccessIn { mask, padding: 0 };
        self.call(opcode::ACCESS, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }
}
