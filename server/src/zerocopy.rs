//! Adapters between request/reply buffers and fuse-backend-rs's zero-copy I/O traits: the
//! buffers the sessions hand the backend in place of guest memory (9P, tests, in-process
//! callers).

use std::io;

use fuse_backend_rs::api::filesystem::{ZeroCopyReader, ZeroCopyWriter};
use fuse_backend_rs::file_buf::FileVolatileSlice;
use fuse_backend_rs::file_traits::FileReadWriteVolatile;

/// Appends file data to a reply buffer, never growing it past `limit` bytes in total.
pub struct VecWriter<'a> {
    buf: &'a mut Vec<u8>,
    limit: usize,
}

impl<'a> VecWriter<'a> {
    pub fn new(buf: &'a mut Vec<u8>, limit: usize) -> Self {
        VecWriter { buf, limit }
    }
}

impl io::Write for VecWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(self.available_bytes());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ZeroCopyWriter for VecWriter<'_> {
    fn write_from(
        &mut self,
        f: &mut dyn FileReadWriteVolatile,
        count: usize,
        off: u64,
    ) -> io::Result<usize> {
        let n = count.min(self.available_bytes());
        let start = self.buf.len();
        self.buf.resize(start + n, 0);
        // SAFETY: the slice covers initialised bytes of `buf`, which we borrow mutably for the
        // whole call, so nothing else reads or writes them while the file fills them.
        let slice = unsafe { FileVolatileSlice::from_mut_slice(&mut self.buf[start..]) };
        let res = f.read_at_volatile(slice, off);
        self.buf.truncate(start + *res.as_ref().unwrap_or(&0));
        res
    }

    fn available_bytes(&self) -> usize {
        self.limit.saturating_sub(self.buf.len())
    }
}

/// Hands the payload of a WRITE request to the file.
pub struct SliceReader<'a> {
    data: &'a [u8],
}

impl<'a> SliceReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        SliceReader { data }
    }
}

impl io::Read for SliceReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl ZeroCopyReader for SliceReader<'_> {
    fn read_to(
        &mut self,
        f: &mut dyn FileReadWriteVolatile,
        count: usize,
        off: u64,
    ) -> io::Result<usize> {
        let n = count.min(self.data.len());
        // SAFETY: the slice covers `n` valid bytes of `data`; write_at_volatile only reads the
        // memory it is given, so the shared borrow is never written through.
        let slice = unsafe { FileVolatileSlice::from_raw_ptr(self.data.as_ptr().cast_mut(), n) };
        let done = f.write_at_volatile(slice, off)?;
        self.data = &self.data[done.min(n)..];
        Ok(done)
    }
}
