//! Directory requests: OPENDIR, READDIR, READDIRPLUS.

use fuse_backend_rs::abi::fuse_abi::{OpenIn, ReadIn};
use fuse_backend_rs::api::filesystem::{DirEntry, Entry};

use super::entry::entry_out;
use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::decode::MAX_WRITE;

impl<F: Backend> Server<F> {
    pub(super) fn opendir(&self, c: &mut Ctx<'_>, a: OpenIn) -> Result<(), Errno> {
        let (fh, opts) = self
            .fs
            .opendir(&c.ctx, c.h.nodeid, a.flags)
            .map_err(errno)?;
        c.reply.push_obj(&fuse_backend_rs::abi::fuse_abi::OpenOut {
            fh: fh.unwrap_or(0),
            open_flags: opts.bits(),
            passthrough: 0,
        });
        Ok(())
    }

    pub(super) fn readdir(&self, c: &mut Ctx<'_>, a: ReadIn, plus: bool) -> Result<(), Errno> {
        // The size is the guest's claim: clamp it to 1 MiB and to the room it really gave.
        let limit = (a.size as usize)
            .min(MAX_WRITE as usize)
            .min(c.reply.room());
        let reply = &mut c.reply;
        let res = if plus {
            self.fs.readdirplus(
                &c.ctx,
                c.h.nodeid,
                a.fh,
                limit as u32,
                a.offset,
                &mut |d: DirEntry, e: Entry| {
                    Ok(reply.push_direntplus(limit, &entry_out(e), d.offset, d.type_, d.name))
                },
            )
        } else {
            self.fs.readdir(
                &c.ctx,
                c.h.nodeid,
                a.fh,
                limit as u32,
                a.offset,
                &mut |d: DirEntry| Ok(reply.push_dirent(limit, d.ino, d.offset, d.type_, d.name)),
            )
        };
        res.map_err(errno)
    }
}
