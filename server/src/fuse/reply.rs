//! The reply encoder: out_header plus payload, written into a reusable buffer. No I/O here.

use std::mem::size_of;

use fuse_backend_rs::abi::fuse_abi::{Dirent, EntryOut, OutHeader};
use vm_memory_fbr::ByteValued;

/// Size of the out_header that starts every reply.
pub const OUT_HEADER_LEN: usize = size_of::<OutHeader>();

/// A reply under construction. `cap` is how many bytes the guest gave room for.
pub struct Reply<'a> {
    buf: &'a mut Vec<u8>,
    unique: u64,
    cap: usize,
    /// Payload bytes the transport already put in guest memory after `buf` (zero-copy READ).
    placed: usize,
}

impl<'a> Reply<'a> {
    /// Starts a reply to `unique` in `buf` (cleared first).
    pub fn new(buf: &'a mut Vec<u8>, unique: u64, cap: usize) -> Self {
        buf.clear();
        buf.resize(OUT_HEADER_LEN, 0);
        Reply {
            buf,
            unique,
            cap,
            placed: 0,
        }
    }

    /// Counts `n` payload bytes written straight to the guest, right after this reply's bytes.
    pub fn placed(&mut self, n: usize) {
        self.placed = n;
    }

    /// Room left for payload.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }

    pub fn push_obj<T: ByteValued>(&mut self, t: &T) {
        self.buf.extend_from_slice(t.as_slice());
    }

    pub fn push_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// The payload buffer, for callers that fill it in place (READ).
    pub fn payload_mut(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// Appends one readdir entry if it fits in `limit` payload bytes; returns its size, or 0.
    pub fn push_dirent(
        &mut self,
        limit: usize,
        ino: u64,
        off: u64,
        typ: u32,
        name: &[u8],
    ) -> usize {
        self.push_entry(limit, None, ino, off, typ, name)
    }

    /// Appends one readdirplus entry if it fits in `limit` payload bytes; returns its size, or 0.
    pub fn push_direntplus(
        &mut self,
        limit: usize,
        entry: &EntryOut,
        off: u64,
        typ: u32,
        name: &[u8],
    ) -> usize {
        self.push_entry(limit, Some(entry), entry.attr.ino, off, typ, name)
    }

    fn push_entry(
        &mut self,
        limit: usize,
        entry: Option<&EntryOut>,
        ino: u64,
        off: u64,
        typ: u32,
        name: &[u8],
    ) -> usize {
        let head = entry.map_or(0, |_| size_of::<EntryOut>()) + size_of::<Dirent>();
        let unpadded = head + name.len();
        let total = unpadded.next_multiple_of(8);
        let used = self.buf.len() - OUT_HEADER_LEN;
        if used + total > limit || name.len() > u32::MAX as usize {
            return 0;
        }
        if let Some(e) = entry {
            self.push_obj(e);
        }
        let d = Dirent {
            ino,
            off,
            namelen: name.len() as u32,
            type_: typ,
        };
        self.push_obj(&d);
        self.push_bytes(name);
        self.buf.resize(self.buf.len() + (total - unpadded), 0);
        total
    }

    /// Finishes a successful reply; returns its length.
    pub fn ok(self) -> usize {
        self.finish(0)
    }

    /// Replaces whatever was written by an error reply; returns its length.
    pub fn err(mut self, errno: libc::c_int) -> usize {
        self.buf.truncate(OUT_HEADER_LEN);
        self.placed = 0;
        self.finish(-errno.abs())
    }

    /// Writes the header; returns the reply's length, placed payload included (the bytes in
    /// `buf` are then the first part of the reply).
    fn finish(self, error: i32) -> usize {
        let len = self.buf.len() + self.placed;
        let h = OutHeader {
            len: len as u32,
            error,
            unique: self.unique,
        };
        self.buf[..OUT_HEADER_LEN].copy_from_slice(h.as_slice());
        len
    }
}

/// Writes a bare error reply into `buf`; returns its length.
pub fn error(buf: &mut Vec<u8>, unique: u64, errno: libc::c_int) -> usize {
    Reply::new(buf, unique, OUT_HEADER_LEN).err(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(buf: &[u8]) -> OutHeader {
        let mut h = OutHeader::default();
        h.as_mut_slice().copy_from_slice(&buf[..OUT_HEADER_LEN]);
        h
    }

    #[test]
    fn error_reply_is_header_only() {
        let mut buf = vec![1, 2, 3];
        let n = error(&mut buf, 7, libc::ENOENT);
        assert_eq!(n, 16);
        let h = header(&buf);
        assert_eq!((h.len, h.error, h.unique), (16, -libc::ENOENT, 7));
    }

    #[test]
    fn dirents_are_padded_and_bounded() {
        let mut buf = Vec::new();
        let mut r = Reply::new(&mut buf, 1, 4096);
        assert_eq!(r.push_dirent(64, 5, 1, 8, b"abc"), 32);
        assert_eq!(
            r.push_dirent(64, 6, 2, 8, b"abcdefghi"),
            0,
            "40 more bytes exceed 64"
        );
        assert_eq!(r.push_dirent(64, 6, 2, 8, b"d"), 32);
        let n = r.ok();
        assert_eq!(n, 16 + 64);
        assert_eq!(header(&buf).len, 80);
    }
}
