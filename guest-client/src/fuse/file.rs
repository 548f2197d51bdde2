//! Requests on open files: open, create, read, write, flush, release, fsync, fallocate,
//! lseek, copy_file_range and POSIX locks.

use std::sync::atomic::Ordering;

use fuse_backend_rs::abi::fuse_abi::{
    CopyFileRangeIn, CreateIn, EntryOut, FallocateIn, FileLock, FlushIn, FsyncIn, LkIn, LkOut,
    LseekIn, LseekOut, OpenIn, OpenOut, ReadIn, ReleaseIn, WriteIn, WriteOut,
};
use vm_memory_fbr::ByteValued;

use super::opcode;
use super::reply::{fixed, prefix};
use super::{cstr, Client, MAX_IO};
use crate::error::{Error, Result};

/// FOPEN_KEEP_CACHE: what Linux assumes for a file it did not open.
const FOPEN_KEEP_CACHE: u32 = ferry_fuse::fopen::KEEP_CACHE;

impl Client {
    /// OPEN with `flags` (O_RDONLY, O_RDWR, ...).
    pub fn open(&self, nodeid: u64, flags: u32) -> Result<OpenOut> {
        let a = OpenIn {
            flags,
            fuse_flags: 0,
        };
        match self.call(opcode::OPEN, nodeid, &[a.as_slice()], 16) {
            Ok(b) => fixed(&b, "OPEN"),
            // Zero-message opens, taken up as Linux does: handle 0, cache kept.
            Err(e)
                if e.errno() == Some(libc::ENOSYS)
                    && self.opts.init_flags & opcode::init::NO_OPEN_SUPPORT != 0 =>
            {
                self.no_open.store(true, Ordering::Relaxed);
                Ok(OpenOut {
                    fh: 0,
                    open_flags: FOPEN_KEEP_CACHE,
                    passthrough: 0,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the daemon chose zero-message opens (see [`Client::open`]).
    pub fn no_open(&self) -> bool {
        self.no_open.load(Ordering::Relaxed)
    }

    /// CREATE `name` in `parent` and open it. O_CREAT is added to `flags`, as Linux sends it.
    pub fn create(
        &self,
        parent: u64,
        name: impl AsRef<[u8]>,
        flags: u32,
        mode: u32,
        umask: u32,
    ) -> Result<(EntryOut, OpenOut)> {
        let a = CreateIn {
            flags: flags | libc::O_CREAT as u32,
            mode: self.masked(mode, umask),
            umask,
            fuse_flags: 0,
        };
        let b = self.call(
            opcode::CREATE,
            parent,
            &[a.as_slice(), &cstr(name)],
            128 + 16,
        )?;
        if b.len() != 128 + 16 {
            return Err(Error::BadReply(format!(
                "CREATE: {} bytes, expected 144",
                b.len()
            )));
        }
        Ok((
            prefix(&b, "CREATE entry")?,
            prefix(&b[128..], "CREATE open")?,
        ))
    }

    /// READ up to `size` bytes at `offset`.
    pub fn read(&self, nodeid: u64, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let a = ReadIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        let b = self.call(opcode::READ, nodeid, &[a.as_slice()], size.min(MAX_IO))?;
        if b.len() > size as usize {
            return Err(Error::BadReply(format!(
                "READ of {size} returned {} bytes",
                b.len()
            )));
        }
        Ok(b)
    }

    /// WRITE `data` at `offset`; returns the count written.
    pub fn write(&self, nodeid: u64, fh: u64, offset: u64, data: &[u8]) -> Result<u32> {
        let size = u32::try_from(data.len())
            .map_err(|_| Error::InvalidRequest("write over 4 GiB".into()))?;
        let a = WriteIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        let b = self.call(opcode::WRITE, nodeid, &[a.as_slice(), data], 8)?;
        let w: WriteOut = fixed(&b, "WRITE")?;
        if w.size > size {
            return Err(Error::BadReply(format!(
                "WRITE of {size} claims {}",
                w.size
            )));
        }
        Ok(w.size)
    }

    /// FLUSH. ENOSYS is success, as for Linux (a daemon with nothing to do on close).
    pub fn flush(&self, nodeid: u64, fh: u64, lock_owner: u64) -> Result<()> {
        let a = FlushIn {
            fh,
            unused: 0,
            padding: 0,
            lock_owner,
        };
        match self.call(opcode::FLUSH, nodeid, &[a.as_slice()], 0) {
            Err(e) if e.errno() == Some(libc::ENOSYS) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Whether closing a file opened with handle `fh` sends RELEASE: not for handle 0 after
    /// zero-message opens, as Linux does.
    pub fn releases(&self, fh: u64) -> bool {
        fh != 0 || !self.no_open()
    }

    /// RELEASE (`flags` are the open flags), when [`Client::releases`] says it is sent.
    pub fn release(&self, nodeid: u64, fh: u64, flags: u32) -> Result<()> {
        if !self.releases(fh) {
            return Ok(());
        }
        let a = ReleaseIn {
            fh,
            flags,
            release_flags: 0,
            lock_owner: 0,
        };
        self.call(opcode::RELEASE, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }

    /// FSYNC (`datasync` sets FUSE_FSYNC_FDATASYNC).
    pub fn fsync(&self, nodeid: u64, fh: u64, datasync: bool) -> Result<()> {
        let a = FsyncIn {
            fh,
            fsync_flags: u32::from(datasync),
            padding: 0,
        };
        self.call(opcode::FSYNC, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }

    /// FALLOCATE.
    pub fn fallocate(
        &self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        length: u64,
        mode: u32,
    ) -> Result<()> {
        let a = FallocateIn {
            fh,
            offset,
            length,
            mode,
            padding: 0,
        };
        self.call(opcode::FALLOCATE, nodeid, &[a.as_slice()], 0)
            .map(drop)
    }

    /// SETUPMAPPING (DAX): has the daemon map `len` bytes of the file at `foffset` into the
    /// cache window at `moffset` (`flags`: [`opcode::MAPPING_WRITE`], [`opcode::MAPPING_READ`]).
    /// The mapping is then in [`crate::Device::window`].
    #[allow(clippy::too_many_arguments)]
    pub fn setupmapping(
        &self,
        nodeid: u64,
        fh: u64,
        foffset: u64,
        len: u64,
        flags: u64,
        moffset: u64,
    ) -> Result<()> {
        let a = setupmapping_in(fh, foffset, len, flags, moffset);
        self.call(opcode::SETUPMAPPING, nodeid, &[&a], 0).map(drop)
    }

    /// REMOVEMAPPING (DAX) of window ranges (moffset, len).
    pub fn removemapping(&self, nodeid: u64, ranges: &[(u64, u64)]) -> Result<()> {
        let count = u32::try_from(ranges.len())
            .map_err(|_| Error::InvalidRequest("too many ranges".into()))?;
        let mut a = count.to_le_bytes().to_vec();
        for &(m, l) in ranges {
            a.extend_from_slice(&m.to_le_bytes());
            a.extend_from_slice(&l.to_le_bytes());
        }
        self.call(opcode::REMOVEMAPPING, nodeid, &[&a], 0).map(drop)
    }

    /// LSEEK (`whence`: SEEK_SET 0, SEEK_CUR 1, SEEK_END 2, SEEK_DATA 3, SEEK_HOLE 4).
    pub fn lseek(&self, nodeid: u64, fh: u64, offset: u64, whence: u32) -> Result<u64> {
        let a = LseekIn {
            fh,
            offset,
            whence,
            padding: 0,
        };
        let b = self.call(opcode::LSEEK, nodeid, &[a.as_slice()], 8)?;
        let o: LseekOut = fixed(&b, "LSEEK")?;
        Ok(o.offset)
    }

    /// COPY_FILE_RANGE; returns the count copied.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_file_range(
        &self,
        nodeid_in: u64,
        fh_in: u64,
        offset_in: u64,
        nodeid_out: u64,
        fh_out: u64,
        offset_out: u64,
        len: u64,
        flags: u64,
    ) -> Result<u32> {
        let a = CopyFileRangeIn {
            fh_in,
            offset_in,
            nodeid_out,
            fh_out,
            offset_out,
            len,
            flags,
        };
        let b = self.call(opcode::COPY_FILE_RANGE, nodeid_in, &[a.as_slice()], 8)?;
        let w: WriteOut = fixed(&b, "COPY_FILE_RANGE")?;
        Ok(w.size)
    }

    /// GETLK: the first lock that would conflict with `lk`, or `lk` with type F_UNLCK.
    pub fn getlk(&self, nodeid: u64, fh: u64, owner: u64, lk: FileLock) -> Result<FileLock> {
        let a = LkIn {
            fh,
            owner,
            lk,
            lk_flags: 0,
            padding: 0,
        };
        let b = self.call(opcode::GETLK, nodeid, &[a.as_slice()], 24)?;
        let o: LkOut = fixed(&b, "GETLK")?;
        Ok(o.lk)
    }

    /// SETLK (or SETLKW when `wait`); `flock` selects BSD flock semantics (FUSE_LK_FLOCK).
    pub fn setlk(
        &self,
        nodeid: u64,
        fh: u64,
        owner: u64,
        lk: FileLock,
        wait: bool,
        flock: bool,
    ) -> Result<()> {
        let a = LkIn {
            fh,
            owner,
            lk,
            lk_flags: u32::from(flock),
            padding: 0,
        };
        let op = if wait { opcode::SETLKW } else { opcode::SETLK };
        self.call(op, nodeid, &[a.as_slice()], 0).map(drop)
    }
}

/// `struct fuse_setupmapping_in`, encoded.
pub fn setupmapping_in(fh: u64, foffset: u64, len: u64, flags: u64, moffset: u64) -> [u8; 40] {
    let mut a = [0u8; 40];
    for (i, v) in [fh, foffset, len, flags, moffset].into_iter().enumerate() {
        a[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    a
}
