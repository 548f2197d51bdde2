//! File requests: OPEN, CREATE, READ, WRITE, RELEASE, STATFS, FALLOCATE, LSEEK.

use fuse_backend_rs::abi::fuse_abi::{
    CopyFileRangeIn, CreateIn, FallocateIn, Kstatfs, LkIn, LkOut, LseekIn, LseekOut, OpenIn,
    OpenOptions, OpenOut, ReadIn, ReleaseIn, StatfsOut, WriteIn, WriteOut, READ_LOCKOWNER,
    RELEASE_FLOCK_UNLOCK, RELEASE_FLUSH, WRITE_CACHE, WRITE_LOCKOWNER,
};
use fuse_backend_rs::api::filesystem::ZeroCopyReader;

use super::{errno, Backend, CopyRange, Ctx, Errno, Server};
use crate::fuse::decode::MAX_WRITE;
use crate::name::Name;
use crate::zerocopy::{SliceReader, VecWriter};

/// FOPEN_NOFLUSH (7.35), not among fuse-backend-rs's named flags: the guest need not send
/// FLUSH when the file is closed.
use ferry_fuse::fopen::NOFLUSH as FOPEN_NOFLUSH;

pub(super) fn open_out(fh: Option<u64>, opts: OpenOptions) -> OpenOut {
    OpenOut {
        fh: fh.unwrap_or(0),
        open_flags: opts.bits(),
        passthrough: 0,
    }
}

impl<F: Backend> Server<F> {
    /// OPEN and CREATE replies for files: FLUSH is skipped when it has nothing to do (no
    /// buffered data on the host and no host locks to drop), one round trip per close(2).
    fn file_open_out(&self, fh: Option<u64>, opts: OpenOptions) -> OpenOut {
        let mut o = open_out(fh, opts);
        if !self.opts.flush_needed {
            o.open_flags |= FOPEN_NOFLUSH;
        }
        o
    }
}

impl<F: Backend> Server<F> {
    pub(super) fn open(&self, c: &mut Ctx<'_, '_>, a: OpenIn) -> Result<(), Errno> {
        let (fh, opts, _) = self
            .fs
            .open(&c.ctx, c.h.nodeid, a.flags, a.fuse_flags)
            .map_err(errno)?;
        c.reply.push_obj(&self.file_open_out(fh, opts));
        Ok(())
    }

    pub(super) fn create(
        &self,
        c: &mut Ctx<'_, '_>,
        a: CreateIn,
        name: Name<'_>,
    ) -> Result<(), Errno> {
        let (e, fh, opts, _) = self
            .fs
            .create(&c.ctx, c.h.nodeid, name.as_cstr(), a)
            .map_err(errno)?;
        c.reply.push_obj(&self.entry_out(e));
        c.reply.push_obj(&self.file_open_out(fh, opts));
        Ok(())
    }

    pub(super) fn read(&self, c: &mut Ctx<'_, '_>, a: ReadIn) -> Result<(), Errno> {
        if a.offset > i64::MAX as u64 {
            return Err(libc::EINVAL);
        }
        let size = (a.size as usize)
            .min(MAX_WRITE as usize)
            .min(c.reply.room());
        let owner = (a.read_flags & READ_LOCKOWNER != 0).then_some(a.lock_owner);
        let (ctx, node) = (&c.ctx, c.h.nodeid);
        if let Some(w) = c.data.take() {
            // Straight into the guest's buffers, after the header.
            let n = self
                .fs
                .read(ctx, node, a.fh, w, size as u32, a.offset, owner, a.flags)
                .map_err(errno)?;
            c.reply.placed(n);
            return Ok(());
        }
        let buf = c.reply.payload_mut();
        let limit = buf.len() + size;
        let mut w = VecWriter::new(buf, limit);
        self.fs
            .read(
                ctx,
                node,
                a.fh,
                &mut w,
                size as u32,
                a.offset,
                owner,
                a.flags,
            )
            .map_err(errno)?;
        Ok(())
    }

    pub(super) fn write(
        &self,
        c: &mut Ctx<'_, '_>,
        a: WriteIn,
        data: Option<&[u8]>,
    ) -> Result<(), Errno> {
        let owner = (a.fuse_flags & WRITE_LOCKOWNER != 0).then_some(a.lock_owner);
        let delayed = a.fuse_flags & WRITE_CACHE != 0;
        let mut inline;
        // Inline data, or straight from the guest's buffers (the decoder checked their length).
        let r: &mut dyn ZeroCopyReader = match (data, c.payload.take()) {
            (Some(d), _) => {
                inline = SliceReader::new(d);
                &mut inline
            }
            (None, Some(p)) => p,
            (None, None) => return Err(libc::EINVAL),
        };
        let n = self
            .fs
            .write(
                &c.ctx,
                c.h.nodeid,
                a.fh,
                r,
                a.size,
                a.offset,
                owner,
                delayed,
                a.flags,
                a.fuse_flags,
            )
            .map_err(errno)?;
        c.reply.push_obj(&WriteOut {
            size: n as u32,
            padding: 0,
        });
        Ok(())
    }

    pub(super) fn release(&self, c: &mut Ctx<'_, '_>, a: ReleaseIn) -> Result<(), Errno> {
        let flush = a.release_flags & RELEASE_FLUSH != 0;
        let flock = a.release_flags & RELEASE_FLOCK_UNLOCK != 0;
        let owner = (flush || flock).then_some(a.lock_owner);
        self.fs
            .release(&c.ctx, c.h.nodeid, a.flags, a.fh, flush, flock, owner)
            .map_err(errno)
    }

    pub(super) fn statfs(&self, c: &mut Ctx<'_, '_>) -> Result<(), Errno> {
        let st = self.fs.statfs(&c.ctx, c.h.nodeid).map_err(errno)?;
        c.reply.push_obj(&StatfsOut {
            st: Kstatfs::from(st),
        });
        Ok(())
    }

    pub(super) fn fallocate(&self, c: &mut Ctx<'_, '_>, a: FallocateIn) -> Result<(), Errno> {
        if a.offset
            .checked_add(a.length)
            .is_none_or(|e| e > i64::MAX as u64)
        {
            return Err(libc::EFBIG);
        }
        self.fs
            .fallocate(&c.ctx, c.h.nodeid, a.fh, a.mode, a.offset, a.length)
            .map_err(errno)
    }

    pub(super) fn lseek(&self, c: &mut Ctx<'_, '_>, a: LseekIn) -> Result<(), Errno> {
        let off = self
            .fs
            .lseek(&c.ctx, c.h.nodeid, a.fh, a.offset, a.whence)
            .map_err(errno)?;
        c.reply.push_obj(&LseekOut { offset: off });
        Ok(())
    }

    pub(super) fn tmpfile(&self, c: &mut Ctx<'_, '_>, a: CreateIn) -> Result<(), Errno> {
        let (e, fh, opts) = self.fs.tmpfile(&c.ctx, c.h.nodeid, a).map_err(errno)?;
        c.reply.push_obj(&self.entry_out(e));
        c.reply.push_obj(&self.file_open_out(fh, opts));
        Ok(())
    }

    pub(super) fn copy_file_range(
        &self,
        c: &mut Ctx<'_, '_>,
        a: CopyFileRangeIn,
    ) -> Result<(), Errno> {
        let r = CopyRange {
            node_in: c.h.nodeid,
            fh_in: a.fh_in,
            off_in: a.offset_in,
            node_out: a.nodeid_out,
            fh_out: a.fh_out,
            off_out: a.offset_out,
            // One reply reports at most u32::MAX bytes; the guest asks again for the rest.
            len: a.len.min(u64::from(u32::MAX) & !0xfff),
            flags: a.flags,
        };
        let n = self.fs.copy_file_range(&c.ctx, &r).map_err(errno)?;
        c.reply.push_obj(&WriteOut {
            size: n as u32,
            padding: 0,
        });
        Ok(())
    }

    pub(super) fn getlk(&self, c: &mut Ctx<'_, '_>, a: LkIn) -> Result<(), Errno> {
        let lk = self
            .fs
            .getlk(&c.ctx, c.h.nodeid, a.fh, a.owner, a.lk.into(), a.lk_flags)
            .map_err(errno)?;
        c.reply.push_obj(&LkOut { lk: lk.into() });
        Ok(())
    }

    pub(super) fn setlk(&self, c: &mut Ctx<'_, '_>, a: LkIn, wait: bool) -> Result<(), Errno> {
        let (ctx, node) = (&c.ctx, c.h.nodeid);
        if wait {
            self.fs
                .setlkw(ctx, node, a.fh, a.owner, a.lk.into(), a.lk_flags)
        } else {
            self.fs
                .setlk(ctx, node, a.fh, a.owner, a.lk.into(), a.lk_flags)
        }
        .map_err(errno)
    }
}
