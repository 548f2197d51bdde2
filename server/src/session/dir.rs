//! Directory requests: OPENDIR, READDIR, READDIRPLUS.

use fuse_backend_rs::abi::fuse_abi::{EntryOut, OpenIn, OpenOptions, ReadIn};
use fuse_backend_rs::api::filesystem::{DirEntry, Entry};

use super::io::open_out;
use super::{errno, Backend, Ctx, Errno, Server};
use crate::fs::ListingCache;
use crate::fuse::decode::MAX_WRITE;

use crate::fs::listing_start;

impl<F: Backend> Server<F> {
    pub(super) fn opendir(&self, c: &mut Ctx<'_, '_>, a: OpenIn) -> Result<(), Errno> {
        let (fh, opts) = self
            .fs
            .opendir(&c.ctx, c.h.nodeid, a.flags)
            .map_err(errno)?;
        // With an agent, a listing stays cached in the guest until the directory changes
        // (the agent's replay, or the guest's own change), from its second listing on (see
        // ListingCache) — and read again once the guest read files of it since: a Linux
        // guest then asks for each one's attributes at its next stat, and one listing with
        // attributes answers them all (no KEEP_CACHE: the guest drops its cached listing).
        let opts = if self.coherent() {
            opts | match self.fs.listing_cache(c.h.nodeid) {
                ListingCache::Uncached => OpenOptions::empty(),
                ListingCache::Fresh => OpenOptions::CACHE_DIR,
                ListingCache::Keep => OpenOptions::CACHE_DIR | OpenOptions::KEEP_CACHE,
            }
        } else {
            opts
        };
        c.reply.push_obj(&open_out(fh, opts));
        Ok(())
    }

    pub(super) fn readdir(&self, c: &mut Ctx<'_, '_>, a: ReadIn, plus: bool) -> Result<(), Errno> {
        // The size is the guest's claim: clamp it to 1 MiB and to the room it really gave.
        let limit = (a.size as usize)
            .min(MAX_WRITE as usize)
            .min(c.reply.room());
        let Some(offset) = self.push_dots(c, a.offset, limit, plus)? else {
            return Ok(());
        };
        let (ctx, node, size) = (&c.ctx, c.h.nodeid, limit as u32);
        let reply = &mut c.reply;
        let res = if plus {
            self.fs.readdirplus(
                ctx,
                node,
                a.fh,
                size,
                offset,
                &mut |d: DirEntry, e: Entry| {
                    Ok(reply.push_direntplus(limit, &self.entry_out(e), d.offset, d.type_, d.name))
                },
            )
        } else {
            self.fs
                .readdir(ctx, node, a.fh, size, offset, &mut |d: DirEntry| {
                    Ok(reply.push_dirent(limit, d.ino, d.offset, d.type_, d.name))
                })
        };
        res.map_err(errno)
    }

    /// The backend hides `.` and `..`; the guest still expects them. They are listed first, under
    /// cookies no host filesystem hands out in practice (see [`crate::fs::DOT_OFF`]). Returns the backend
    /// offset to continue from, or None when the reply is full.
    fn push_dots(
        &self,
        c: &mut Ctx<'_, '_>,
        offset: u64,
        limit: usize,
        plus: bool,
    ) -> Result<Option<u64>, Errno> {
        let (names, next) = listing_start(offset);
        if names.is_empty() {
            return Ok(Some(next));
        }
        let (st, _) = self.fs.getattr(&c.ctx, c.h.nodeid, None).map_err(errno)?;
        for (i, (name, off)) in names.iter().enumerate() {
            let typ = u32::from(libc::DT_DIR);
            let pushed = if plus {
                // nodeid 0: the guest lists the entry without instantiating it.
                let mut e = EntryOut::default();
                e.attr.ino = st.st_ino;
                e.attr.mode = st.st_mode;
                c.reply.push_direntplus(limit, &e, *off, typ, name)
            } else {
                c.reply.push_dirent(limit, st.st_ino, *off, typ, name)
            };
            if pushed == 0 {
                // No room for even the first entry is a guest error; otherwise the guest asks
                // again from the last entry it got.
                return if i == 0 { Err(libc::EINVAL) } else { Ok(None) };
            }
        }
        Ok(Some(next))
    }
}
