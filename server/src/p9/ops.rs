//! Requests on names and attributes: walk, getattr/setattr, statfs, readlink, and the ones
//! that create, link, rename or remove directory entries.

use std::ffi::CStr;

use ferry_9p::decode::SetAttr;
use ferry_9p::{setattr as sa, Reply};
use fuse_backend_rs::abi::fuse_abi::SetattrValid;
use fuse_backend_rs::api::filesystem::{Context, Entry};

use super::fid::{Fid, Kind};
use super::{checked_name, cstring, ctx_of, errno, name_errno, qid, Errno, Session, ROOT};
use crate::fs::Backend;
use crate::name::{LookupName, SYMLINK_MAX};

/// The magic number statfs(2) reports for a v9fs mount.
const V9FS_MAGIC: u32 = 0x0102_1997;

impl<F: Backend> Session<F> {
    /// The directory fid `dfid`, with the credentials of a request that creates in it.
    fn dir(&self, dfid: u32, gid: Option<u32>) -> Result<(u64, Context), Errno> {
        let d = self.fids.get(dfid)?;
        if !d.is_dir() {
            return Err(libc::ENOTDIR);
        }
        let mut ctx = ctx_of(d);
        if let Some(gid) = gid {
            ctx.gid = gid;
        }
        Ok((d.node, ctx))
    }

    /// A new entry's qid; the lookup the backend counted for it goes back at once (no fid
    /// holds it).
    fn created(&mut self, r: &mut Reply<'_>, e: Entry) {
        r.qid(qid(&e.attr));
        self.fs.forget(&Context::new(), e.inode, 1);
    }

    pub(super) fn walk(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        newfid: u32,
        names: &[&[u8]],
    ) -> Result<(), Errno> {
        if newfid != fid {
            self.fids.check_new(newfid)?;
        }
        let from = self.fids.get(fid)?;
        if !matches!(from.kind, Kind::Node) {
            // An open fid may not be walked from (9P: "fid must not have been opened").
            return Err(libc::EBADF);
        }
        let ctx = ctx_of(from);
        let (uid, gid) = (from.uid, from.gid);
        let mut node = from.node;
        let mut kind_of_file = from.kind_of_file;
        let mut origin = from.origin.clone();

        let mut qids = Vec::with_capacity(names.len());
        let mut walked = Vec::with_capacity(names.len());
        let mut err = 0;
        for raw in names {
            let res = cstring(raw)
                .and_then(|c| match LookupName::new(&c) {
                    // `..` of the shared root is the root itself: never the directory above.
                    Ok(LookupName::DotDot) if node == ROOT => Ok(c".".to_owned()),
                    Ok(_) => Ok(c),
                    Err(e) => Err(name_errno(e, libc::ENOENT)),
                })
                .and_then(|c| {
                    let e = self.fs.lookup(&ctx, node, &c).map_err(errno)?;
                    // Node 0 is a FUSE negative entry: the name does not exist.
                    if e.inode == 0 {
                        return Err(libc::ENOENT);
                    }
                    Ok((c, e))
                });
            match res {
                Ok((c, e)) => {
                    self.fids.looked_up(e.inode);
                    walked.push(e.inode);
                    qids.push(qid(&e.attr));
                    origin = Some((node, c));
                    node = e.inode;
                    kind_of_file = e.attr.st_mode & libc::S_IFMT;
                }
                Err(e) => {
                    err = e;
                    break;
                }
            }
        }
        if qids.len() == names.len() {
            if newfid == fid {
                let old = self.fids.remove(fid)?;
                let _ = self.release(old);
            }
            let f = Fid {
                node,
                kind_of_file,
                uid,
                gid,
                origin,
                kind: Kind::Node,
            };
            self.fids.insert(newfid, f);
        }
        // Lookups of the nodes walked through (or all of them, on a partial walk) go back.
        self.forget_unheld();
        if qids.is_empty() && !names.is_empty() {
            return Err(err);
        }
        r.u16(qids.len() as u16);
        for q in qids {
            r.qid(q);
        }
        Ok(())
    }

    pub(super) fn getattr(&mut self, r: &mut Reply<'_>, fid: u32) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        let (st, _) = self.fs.getattr(&ctx_of(f), f.node, None).map_err(errno)?;
        r.u64(ferry_9p::getattr::BASIC).qid(qid(&st));
        r.u32(st.st_mode).u32(st.st_uid).u32(st.st_gid);
        r.u64(st.st_nlink).u64(st.st_rdev).u64(st.st_size as u64);
        r.u64(st.st_blksize as u64).u64(st.st_blocks as u64);
        r.u64(st.st_atime as u64).u64(st.st_atime_nsec as u64);
        r.u64(st.st_mtime as u64).u64(st.st_mtime_nsec as u64);
        r.u64(st.st_ctime as u64).u64(st.st_ctime_nsec as u64);
        // btime, gen, data_version: not reported (outside BASIC).
        r.u64(0).u64(0).u64(0).u64(0);
        Ok(())
    }

    pub(super) fn setattr(&mut self, fid: u32, a: SetAttr) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        // SAFETY: stat64 is plain data; zero is valid for every field.
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        let mut valid = SetattrValid::empty();
        if a.valid & sa::MODE != 0 {
            valid |= SetattrValid::MODE;
            st.st_mode = a.mode & 0o7777;
        }
        if a.valid & sa::UID != 0 {
            valid |= SetattrValid::UID;
            st.st_uid = a.uid;
        }
        if a.valid & sa::GID != 0 {
            valid |= SetattrValid::GID;
            st.st_gid = a.gid;
        }
        if a.valid & sa::SIZE != 0 {
            valid |= SetattrValid::SIZE;
            st.st_size = i64::try_from(a.size).map_err(|_| libc::EFBIG)?;
        }
        if a.valid & sa::ATIME != 0 {
            valid |= SetattrValid::ATIME;
            if a.valid & sa::ATIME_SET != 0 {
                st.st_atime = i64::try_from(a.atime_sec).map_err(|_| libc::EINVAL)?;
                st.st_atime_nsec = i64::try_from(a.atime_nsec).map_err(|_| libc::EINVAL)?;
            } else {
                valid |= SetattrValid::ATIME_NOW;
            }
        }
        if a.valid & sa::MTIME != 0 {
            valid |= SetattrValid::MTIME;
            if a.valid & sa::MTIME_SET != 0 {
                st.st_mtime = i64::try_from(a.mtime_sec).map_err(|_| libc::EINVAL)?;
                st.st_mtime_nsec = i64::try_from(a.mtime_nsec).map_err(|_| libc::EINVAL)?;
            } else {
                valid |= SetattrValid::MTIME_NOW;
            }
        }
        if a.valid & sa::CTIME != 0 {
            valid |= SetattrValid::CTIME;
        }
        // A truncation through an open file goes through its handle (the host checks the
        // open's mode, not the path's permissions).
        let handle = match f.kind {
            Kind::Open {
                handle, dir: false, ..
            } if valid.contains(SetattrValid::SIZE) => Some(handle),
            _ => None,
        };
        self.fs
            .setattr(&ctx_of(f), f.node, st, handle, valid)
            .map_err(errno)?;
        Ok(())
    }

    pub(super) fn statfs(&mut self, r: &mut Reply<'_>, fid: u32) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        let s = self.fs.statfs(&ctx_of(f), f.node).map_err(errno)?;
        r.u32(V9FS_MAGIC).u32(s.f_bsize as u32);
        r.u64(s.f_blocks).u64(s.f_bfree).u64(s.f_bavail);
        r.u64(s.f_files).u64(s.f_ffree);
        r.u64(s.f_fsid).u32(s.f_namemax as u32);
        Ok(())
    }

    pub(super) fn readlink(&mut self, r: &mut Reply<'_>, fid: u32) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        let target = self.fs.readlink(&ctx_of(f), f.node).map_err(errno)?;
        r.str(&target);
        Ok(())
    }

    pub(super) fn mkdir(
        &mut self,
        r: &mut Reply<'_>,
        dfid: u32,
        name: &[u8],
        mode: u32,
        gid: u32,
    ) -> Result<(), Errno> {
        let (dir, ctx) = self.dir(dfid, Some(gid))?;
        let name = checked_name(name, libc::EEXIST)?;
        let e = self
            .fs
            .mkdir(&ctx, dir, &name, mode & 0o7777, 0)
            .map_err(errno)?;
        self.created(r, e);
        Ok(())
    }

    pub(super) fn mknod(
        &mut self,
        r: &mut Reply<'_>,
        dfid: u32,
        name: &[u8],
        mode: u32,
        (major, minor): (u32, u32),
        gid: u32,
    ) -> Result<(), Errno> {
        let (dir, ctx) = self.dir(dfid, Some(gid))?;
        let name = checked_name(name, libc::EEXIST)?;
        // Linux's dev_t as FUSE carries it (new_encode_dev).
        let rdev = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12);
        let e = self
            .fs
            .mknod(&ctx, dir, &name, mode, rdev, 0)
            .map_err(errno)?;
        self.created(r, e);
        Ok(())
    }

    pub(super) fn symlink(
        &mut self,
        r: &mut Reply<'_>,
        dfid: u32,
        name: &[u8],
        target: &[u8],
        gid: u32,
    ) -> Result<(), Errno> {
        let (dir, ctx) = self.dir(dfid, Some(gid))?;
        let name = checked_name(name, libc::EEXIST)?;
        if target.is_empty() {
            return Err(libc::ENOENT);
        }
        if target.len() > SYMLINK_MAX {
            return Err(libc::ENAMETOOLONG);
        }
        let target = cstring(target)?;
        let e = self.fs.symlink(&ctx, &target, dir, &name).map_err(errno)?;
        self.created(r, e);
        Ok(())
    }

    pub(super) fn link(&mut self, dfid: u32, fid: u32, name: &[u8]) -> Result<(), Errno> {
        let (dir, ctx) = self.dir(dfid, None)?;
        let name = checked_name(name, libc::EEXIST)?;
        let node = self.fids.get(fid)?.node;
        let e = self.fs.link(&ctx, node, dir, &name).map_err(errno)?;
        self.fs.forget(&Context::new(), e.inode, 1);
        Ok(())
    }

    pub(super) fn renameat(
        &mut self,
        olddirfid: u32,
        oldname: &[u8],
        newdirfid: u32,
        newname: &[u8],
    ) -> Result<(), Errno> {
        let (olddir, ctx) = self.dir(olddirfid, None)?;
        let (newdir, _) = self.dir(newdirfid, None)?;
        let oldname = checked_name(oldname, libc::EBUSY)?;
        let newname = checked_name(newname, libc::EBUSY)?;
        self.fs
            .rename(&ctx, olddir, &oldname, newdir, &newname, 0)
            .map_err(errno)
    }

    /// Trename: the file `fid` names moves to `name` in `dfid`.
    pub(super) fn rename(&mut self, fid: u32, dfid: u32, name: &[u8]) -> Result<(), Errno> {
        let (newdir, ctx) = self.dir(dfid, None)?;
        let newname = checked_name(name, libc::EBUSY)?;
        let (olddir, oldname) = self.origin(fid)?;
        self.fs
            .rename(&ctx, olddir, &oldname, newdir, &newname, 0)
            .map_err(errno)?;
        let f = self.fids.get_mut(fid)?;
        let old = f.origin.replace((newdir, newname)).map(|(d, _)| d);
        // The fid now holds its new directory instead of the old one.
        self.fids.hold(newdir);
        if let Some(old) = old {
            self.fids.unhold(old);
        }
        self.forget_unheld();
        Ok(())
    }

    /// The directory and name the file `fid` names, checked to name that file still.
    fn origin(&mut self, fid: u32) -> Result<(u64, std::ffi::CString), Errno> {
        let f = self.fids.get(fid)?;
        let (dir, name) = f.origin.clone().ok_or(libc::EBUSY)?;
        let e = self.fs.lookup(&ctx_of(f), dir, &name).map_err(errno)?;
        if e.inode == 0 {
            return Err(libc::ENOENT);
        }
        let same = e.inode == f.node;
        self.fs.forget(&Context::new(), e.inode, 1);
        if !same {
            return Err(libc::ESTALE);
        }
        Ok((dir, name))
    }

    pub(super) fn unlinkat(&mut self, dfid: u32, name: &[u8], flags: u32) -> Result<(), Errno> {
        let (dir, ctx) = self.dir(dfid, None)?;
        if flags & !ferry_9p::AT_REMOVEDIR != 0 {
            return Err(libc::EINVAL);
        }
        if flags & ferry_9p::AT_REMOVEDIR != 0 {
            let name = cstring(name)?;
            match name.to_bytes() {
                b"." => return Err(libc::EINVAL),
                b".." => return Err(libc::ENOTEMPTY),
                _ => {}
            }
            let name = checked_name(name.to_bytes(), libc::EINVAL)?;
            self.fs.rmdir(&ctx, dir, &name).map_err(errno)
        } else {
            let name = checked_name(name, libc::EISDIR)?;
            self.fs.unlink(&ctx, dir, &name).map_err(errno)
        }
    }

    /// Tremove: removes the file `fid` names, and clunks the fid whatever the outcome.
    pub(super) fn remove(&mut self, fid: u32) -> Result<(), Errno> {
        let res = self.origin(fid).and_then(|(dir, name)| {
            let f = self.fids.get(fid)?;
            let ctx = ctx_of(f);
            let name: &CStr = &name;
            if f.is_dir() {
                self.fs.rmdir(&ctx, dir, name).map_err(errno)
            } else {
                self.fs.unlink(&ctx, dir, name).map_err(errno)
            }
        });
        let f = self.fids.remove(fid)?;
        let clunked = self.release(f);
        res.and(clunked)
    }
}
