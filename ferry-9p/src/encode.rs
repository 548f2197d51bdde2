//! R-messages into a byte buffer.

use crate::{msg, Qid, HEADER};

/// One R-message being written at the end of a buffer; [`Reply::finish`] fills in its size.
pub struct Reply<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> Reply<'b> {
    /// Starts the reply of type `ty` (the T-message's type + 1) to `tag`.
    pub fn new(buf: &'b mut Vec<u8>, ty: u8, tag: u16) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0, 0, 0, ty]);
        buf.extend_from_slice(&tag.to_le_bytes());
        Reply { buf, start }
    }

    /// A whole Rlerror.
    pub fn error(buf: &'b mut Vec<u8>, tag: u16, errno: u32) -> Self {
        let mut r = Reply::new(buf, msg::RLERROR, tag);
        r.u32(errno);
        r
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A string; one over 65,535 bytes is cut there (no name or target is that long).
    pub fn str(&mut self, s: &[u8]) -> &mut Self {
        let s = &s[..s.len().min(u16::MAX as usize)];
        self.u16(s.len() as u16);
        self.buf.extend_from_slice(s);
        self
    }

    pub fn qid(&mut self, q: Qid) -> &mut Self {
        self.u8(q.ty).u32(q.version).u64(q.path)
    }

    /// Raw bytes (a readdir entry's fields are written one by one instead).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// The buffer, to append data to in place (Rread, Rreaddir).
    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// Overwrites the 4 bytes at `at` (counted from the reply's start, as [`Reply::len`]):
    /// a count written before the data it counts. Panics if they were not written.
    pub fn set_u32_at(&mut self, at: usize, v: u32) {
        let p = self.start + at;
        self.buf[p..p + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Bytes of this reply so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops what was written of this reply and makes it an Rlerror instead.
    pub fn into_error(self, errno: u32) -> Self {
        let tag = u16::from_le_bytes([self.buf[self.start + 5], self.buf[self.start + 6]]);
        self.buf.truncate(self.start);
        Reply::error(self.buf, tag, errno)
    }

    /// Fills in the size field; returns the reply's length.
    pub fn finish(self) -> usize {
        let n = self.buf.len() - self.start;
        debug_assert!(n >= HEADER);
        self.buf[self.start..self.start + 4].copy_from_slice(&(n as u32).to_le_bytes());
        n
    }
}
