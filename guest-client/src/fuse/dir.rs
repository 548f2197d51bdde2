//! Requests on open directories: opendir, readdir, readdirplus, releasedir, fsyncdir.

use fuse_backend_rs::abi::fuse_abi::{FsyncIn, OpenIn, OpenOut, ReadIn, ReleaseIn};
use vm_memory_fbr::ByteValued;

use super::opcode;
use super::reply::{direntplus, dirents, fixed, DirEntry, DirEntryPlus};
use super::{Client, MAX_IO};
use crate::error::{Error, Result};

impl Client {
    /// OPENDIR.
    pub fn opendir(&self, nodeid: u64) -> Result<OpenOut> {
        let a = OpenIn {
            flags: libc::O_RDONLY as u32 | libc::O_DIRECTORY as u32,
            fuse_flags: 0,
        };
        let b = self.call(opcode::OPENDIR, nodeid, &[a.as_slice()], 16)?;
        fixed(&b, "OPENDIR")
    }

    fn readdir_raw(
        &self,
        op: u32,
        nodeid: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>> {
        let a = ReadIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        let b = self.call(op, nodeid, &[a.as_slice()], size.min(MAX_IO))?;
        if b.len() > size as usize {
            return Err(Error::BadReply(format!(
                "READDIR of {size} returned {}",
                b.len()
            )));
        }
        Ok(b)
    }

    /// One READDIR reply of at most `size` bytes from cookie `offset`.
    pub fn readdir(&self, nodeid: u64, fh: u64, offset: u64, size: u32) -> Result<Vec<DirEntry>> {
        dirents(&self.readdir_raw(opcode::READDIR, nodeid, fh, offset, size)?)
    }

    /// One READDIRPLUS reply of at most `size` bytes from cookie `offset`.
    pub fn readdirplus(
        &self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<Vec<DirEntryPlus>> {
        direntplus(&self.readdir_raw(opcode::READDIRPLUS, nodeid, fh, offset, size)?)
    }

    /// Every entry, by repeated READDIR of `size` bytes until an empty reply. Fails if a
    /// daemon keeps returning entries (more than `limit`).
    pub fn readdir_all(
        &self,
        nodeid: u64,
        fh: u64,
        size: u32,
        limit: usize,
    ) -> Result<Vec<DirEntry>> {
        let mut all = Vec::new();
        let mut off = 0;
        loop {
            let v = self.readdir(nodeid, fh, off, size)?;
            let Some(last) = v.last() else {
                return Ok(all);
            };
            off = last.off;
            all.extend(v);
            if all.len() > limit {
                return Err(Error::BadReply(format!(
                    "more than {limit} directory entries"
                )));
            }
        }
    }

    /// RELEASEDIR.
    pub fn releasedir(&self, nodeid: u64, fh: u64) -> Result<()> {
        let a = ReleaseIn {
            fh,
            flags: 0,
            release_flags: 0,
            lock_owner: 0,
        };
        self.call(opcode::RELEASEDIR, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }

    /// FSYNCDIR.
    pub fn fsyncdir(&self, nodeid: u64, fh: u64, datasync: bool) -> Result<()> {
        let a = FsyncIn {
            fh,
            fsync_flags: u32::from(datasync),
            padding: 0,
        };
        self.call(opcode::FSYNCDIR, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }
}
