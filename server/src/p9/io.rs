//! Requests on open fids: lopen/lcreate, read/write, readdir, fsync, locks, and the xattr
//! fids (Txattrwalk, Txattrcreate).

use fuse_backend_rs::abi::fuse_abi::CreateIn;
use fuse_backend_rs::api::filesystem::{FileLock, GetxattrReply, ListxattrReply};

use ferry_9p::decode::Lock;
use ferry_9p::{dirent_size, lock as lk, Qid, Reply, IOHDRSZ};

use super::fid::{Fid, Kind};
use super::{checked_name, cstring, ctx_of, errno, qid, qtype, Errno, Session};
use crate::fs::{listing_start, Backend};
use crate::name::XATTR_NAME_MAX;
use crate::zerocopy::{SliceReader, VecWriter};

/// Largest extended attribute value (Linux's XATTR_SIZE_MAX) and name list (XATTR_LIST_MAX).
const XATTR_MAX: u32 = 65536;

/// A page, the unit [`Session::iounit`] counts in.
const PAGE: u32 = 4096;

/// Open flags the server decides, not the client: creation belongs to Tlcreate, and a
/// controlling terminal or asynchronous signals mean nothing here.
const DROPPED_OPEN_FLAGS: u32 =
    (libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_ASYNC) as u32;

impl<F: Backend> Session<F> {
    /// Largest data count of a read or readdir reply, and the iounit Rlopen and Rlcreate
    /// announce: what a frame of msize leaves, in whole pages (as QEMU's 9p rounds it to the
    /// share's block size). Linux's client cuts its page-cache reads and writes by it: a
    /// count of whole pages keeps them page-aligned.
    fn iounit(&self) -> u32 {
        let room = self.msize - IOHDRSZ;
        if room >= PAGE {
            room & !(PAGE - 1)
        } else {
            room
        }
    }

    pub(super) fn lopen(&mut self, r: &mut Reply<'_>, fid: u32, flags: u32) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        if !matches!(f.kind, Kind::Node) {
            return Err(libc::EBADF);
        }
        let ctx = ctx_of(f);
        let flags = flags & !DROPPED_OPEN_FLAGS;
        let node = f.node;
        let dir = f.is_dir();
        let handle = if dir {
            self.fs.opendir(&ctx, node, flags).map_err(errno)?.0
        } else {
            self.fs.open(&ctx, node, flags, 0).map_err(errno)?.0
        };
        let (st, _) = self.fs.getattr(&ctx, node, None).map_err(errno)?;
        // A backend that keeps no per-open state answers no handle: its I/O names handle 0.
        let f = self.fids.get_mut(fid)?;
        f.kind = Kind::Open {
            handle: handle.unwrap_or(0),
            dir,
            flags,
        };
        r.qid(qid(&st)).u32(self.iounit());
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lcreate(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        name: &[u8],
        flags: u32,
        mode: u32,
        gid: u32,
    ) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        if !matches!(f.kind, Kind::Node) {
            return Err(libc::EBADF);
        }
        if !f.is_dir() {
            return Err(libc::ENOTDIR);
        }
        let mut ctx = ctx_of(f);
        ctx.gid = gid;
        let dir = f.node;
        let name = checked_name(name, libc::EEXIST)?;
        let flags = (flags & !DROPPED_OPEN_FLAGS) | libc::O_CREAT as u32;
        let args = CreateIn {
            flags,
            mode: (mode & 0o7777) | libc::S_IFREG,
            umask: 0,
            fuse_flags: 0,
        };
        let (e, handle, _, _) = self.fs.create(&ctx, dir, &name, args).map_err(errno)?;
        self.fids.looked_up(e.inode);
        // The fid now names the new file, open; it was found in `dir` by `name`.
        let old = self.fids.remove(fid)?;
        let new = Fid {
            node: e.inode,
            kind_of_file: libc::S_IFREG,
            uid: old.uid,
            gid: old.gid,
            origin: Some((dir, name)),
            kind: Kind::Open {
                handle: handle.unwrap_or(0),
                dir: false,
                flags,
            },
        };
        self.fids.insert(fid, new);
        let _ = self.release(old);
        r.qid(qid(&e.attr)).u32(self.iounit());
        Ok(())
    }

    pub(super) fn read(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        offset: u64,
        count: u32,
    ) -> Result<(), Errno> {
        let count = count.min(self.iounit());
        let f = self.fids.get(fid)?;
        match &f.kind {
            Kind::Open {
                handle,
                dir: false,
                flags,
            } if flags & libc::O_ACCMODE as u32 != libc::O_WRONLY as u32 => {
                let (node, handle, ctx) = (f.node, *handle, ctx_of(f));
                r.u32(0);
                let at = r.len();
                let buf = r.buf();
                let limit = buf.len() + count as usize;
                let mut w = VecWriter::new(buf, limit);
                self.fs
                    .read(&ctx, node, handle, &mut w, count, offset, None, 0)
                    .map_err(errno)?;
                let n = r.len() - at;
                r.set_u32_at(at - 4, n as u32);
                Ok(())
            }
            Kind::XattrRead(value) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(value.len());
                let end = start.saturating_add(count as usize).min(value.len());
                r.u32((end - start) as u32).bytes(&value[start..end]);
                Ok(())
            }
            _ => Err(libc::EBADF),
        }
    }

    pub(super) fn write(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Errno> {
        let f = self.fids.get_mut(fid)?;
        let n = match &mut f.kind {
            Kind::Open {
                handle,
                dir: false,
                flags,
            } if *flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32 => {
                let (node, handle, ctx) = (f.node, *handle, ctx_of(f));
                offset.checked_add(data.len() as u64).ok_or(libc::EFBIG)?;
                let mut rd = SliceReader::new(data);
                self.fs
                    .write(
                        &ctx,
                        node,
                        handle,
                        &mut rd,
                        data.len() as u32,
                        offset,
                        None,
                        false,
                        0,
                        0,
                    )
                    .map_err(errno)?
            }
            Kind::XattrWrite { size, value, .. } => {
                // The value arrives in order; it may not outgrow what Txattrcreate declared.
                if offset != value.len() as u64 || value.len() + data.len() > *size {
                    return Err(libc::EINVAL);
                }
                value.extend_from_slice(data);
                data.len()
            }
            _ => return Err(libc::EBADF),
        };
        r.u32(n as u32);
        Ok(())
    }

    pub(super) fn readdir(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        offset: u64,
        count: u32,
    ) -> Result<(), Errno> {
        let count = count.min(self.iounit()) as usize;
        let f = self.fids.get(fid)?;
        let Kind::Open {
            handle, dir: true, ..
        } = f.kind
        else {
            return Err(libc::EBADF);
        };
        let (node, ctx) = (f.node, ctx_of(f));
        r.u32(0);
        let at = r.len();
        let mut used = 0usize;
        // `.` and `..` first, under cookies of their own, as the FUSE session lists them.
        let (dots, offset) = listing_start(offset);
        if !dots.is_empty() {
            let (st, _) = self.fs.getattr(&ctx, node, None).map_err(errno)?;
            for (name, off) in dots {
                let need = dirent_size(name.len());
                if used + need > count {
                    // No room for even the first entry is the client's error; otherwise it
                    // asks again from the last entry it got.
                    if used == 0 {
                        return Err(libc::EINVAL);
                    }
                    r.set_u32_at(at - 4, used as u32);
                    return Ok(());
                }
                used += need;
                r.qid(qid(&st)).u64(*off).u8(libc::DT_DIR).str(name);
            }
        }
        self.fs
            .readdir(&ctx, node, handle, count as u32, offset, &mut |d| {
                let need = dirent_size(d.name.len());
                if used + need > count || d.name.len() > u16::MAX as usize {
                    return Ok(0);
                }
                used += need;
                let ty = dtype_to_mode(d.type_);
                r.qid(Qid {
                    ty: qtype(ty),
                    version: 0,
                    path: d.ino,
                });
                r.u64(d.offset).u8(d.type_ as u8).str(d.name);
                Ok(need)
            })
            .map_err(errno)?;
        r.set_u32_at(at - 4, (r.len() - at) as u32);
        Ok(())
    }

    pub(super) fn fsync(&mut self, fid: u32, datasync: bool) -> Result<(), Errno> {
        let f = self.fids.get(fid)?;
        let ctx = ctx_of(f);
        match f.kind {
            Kind::Open {
                handle, dir: true, ..
            } => self.fs.fsyncdir(&ctx, f.node, datasync, handle),
            Kind::Open {
                handle, dir: false, ..
            } => self.fs.fsync(&ctx, f.node, datasync, handle),
            _ => return Err(libc::EBADF),
        }
        .map_err(errno)
    }

    pub(super) fn xattrwalk(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        newfid: u32,
        name: &[u8],
    ) -> Result<(), Errno> {
        self.fids.check_new(newfid)?;
        let f = self.fids.get(fid)?;
        let ctx = ctx_of(f);
        let value = if name.is_empty() {
            match self.fs.listxattr(&ctx, f.node, XATTR_MAX).map_err(errno)? {
                ListxattrReply::Names(v) => v,
                ListxattrReply::Count(_) => return Err(libc::EIO),
            }
        } else {
            let name = xattr_name(name)?;
            match self
                .fs
                .getxattr(&ctx, f.node, &name, XATTR_MAX)
                .map_err(errno)?
            {
                GetxattrReply::Value(v) => v,
                GetxattrReply::Count(_) => return Err(libc::EIO),
            }
        };
        r.u64(value.len() as u64);
        let new = Fid {
            node: f.node,
            kind_of_file: f.kind_of_file,
            uid: f.uid,
            gid: f.gid,
            origin: None,
            kind: Kind::XattrRead(value),
        };
        self.fids.insert(newfid, new);
        Ok(())
    }

    pub(super) fn xattrcreate(
        &mut self,
        fid: u32,
        name: &[u8],
        size: u64,
        flags: u32,
    ) -> Result<(), Errno> {
        let name = xattr_name(name)?;
        if size > u64::from(XATTR_MAX) {
            return Err(libc::E2BIG);
        }
        if flags & !((libc::XATTR_CREATE | libc::XATTR_REPLACE) as u32) != 0 {
            return Err(libc::EINVAL);
        }
        let f = self.fids.get_mut(fid)?;
        if !matches!(f.kind, Kind::Node) {
            return Err(libc::EBADF);
        }
        f.kind = Kind::XattrWrite {
            name,
            size: size as usize,
            flags,
            value: Vec::new(),
        };
        Ok(())
    }

    /// The open handle of `fid` for a lock request, and the lock owner: the client's process
    /// within this session.
    fn lock_target(&self, fid: u32, proc_id: u32) -> Result<(&Fid, u64, u64), Errno> {
        let f = self.fids.get(fid)?;
        let Kind::Open {
            handle, dir: false, ..
        } = f.kind
        else {
            return Err(libc::EBADF);
        };
        Ok((f, handle, (self.id << 32) | u64::from(proc_id)))
    }

    pub(super) fn lock(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        l: Lock<'_>,
        _flags: u32,
    ) -> Result<(), Errno> {
        let (f, handle, owner) = self.lock_target(fid, l.proc_id)?;
        let lock = file_lock(&l)?;
        // Never wait here: a lock that would block is answered BLOCKED, and Linux's client
        // sleeps and asks again (it does so for a blocking lock, and fails a non-blocking one).
        let status = match self.fs.setlk(&ctx_of(f), f.node, handle, owner, lock, 0) {
            Ok(()) => lk::SUCCESS,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => lk::BLOCKED,
            Err(e) => return Err(errno(e)),
        };
        r.u8(status);
        Ok(())
    }

    pub(super) fn getlock(
        &mut self,
        r: &mut Reply<'_>,
        fid: u32,
        l: Lock<'_>,
    ) -> Result<(), Errno> {
        let (f, handle, owner) = self.lock_target(fid, l.proc_id)?;
        let got = self
            .fs
            .getlk(&ctx_of(f), f.node, handle, owner, file_lock(&l)?, 0)
            .map_err(errno)?;
        let ty = match got.lock_type.cast_signed() {
            libc::F_RDLCK => lk::RDLCK,
            libc::F_WRLCK => lk::WRLCK,
            _ => lk::UNLCK,
        };
        let length = if got.end >= i64::MAX as u64 {
            0
        } else {
            got.end - got.start + 1
        };
        r.u8(ty)
            .u64(got.start)
            .u64(length)
            .u32(got.pid)
            .str(l.client_id);
        Ok(())
    }
}

/// A 9P lock range as FUSE's (an inclusive end; i64::MAX for "to the end of the file").
fn file_lock(l: &Lock<'_>) -> Result<FileLock, Errno> {
    let lock_type = match l.ty {
        lk::RDLCK => libc::F_RDLCK,
        lk::WRLCK => libc::F_WRLCK,
        lk::UNLCK => libc::F_UNLCK,
        _ => return Err(libc::EINVAL),
    } as u32;
    let end = match l.length {
        0 => i64::MAX as u64,
        n => l
            .start
            .checked_add(n - 1)
            .filter(|&e| e < i64::MAX as u64)
            .ok_or(libc::EINVAL)?,
    };
    Ok(FileLock {
        start: l.start,
        end,
        lock_type,
        pid: l.proc_id,
    })
}

/// A checked extended attribute name: non-empty, no NUL, at most 255 bytes.
fn xattr_name(b: &[u8]) -> Result<std::ffi::CString, Errno> {
    if b.is_empty() || b.len() > XATTR_NAME_MAX {
        return Err(if b.is_empty() {
            libc::EINVAL
        } else {
            libc::ERANGE
        });
    }
    cstring(b)
}

/// The S_IFMT bits of a d_type.
fn dtype_to_mode(t: u32) -> u32 {
    (t << 12) & libc::S_IFMT
}
