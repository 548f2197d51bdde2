//! Parsing replies without trusting them: the out header, fixed-size bodies, directory
//! entries. Every inconsistency is an [`Error::BadReply`], never a panic.

use fuse_backend_rs::abi::fuse_abi::{Dirent, EntryOut};
use vm_memory_fbr::ByteValued;

use crate::error::{Errno, Error, Result};
use crate::queue::Completion;

/// Size of `fuse_out_header`.
pub const OUT_HEADER_LEN: usize = 16;
/// Longest name the kernel accepts in a directory entry (FUSE_NAME_MAX).
pub const NAME_MAX: usize = 1024;

/// Checks a completion against the request's `unique` and returns the reply body, or the
/// errno the daemon answered.
pub fn parse(c: &Completion, unique: u64) -> Result<Vec<u8>> {
    if c.overflow() {
        return Err(Error::Ring(format!(
            "used length {} beyond the {} writable bytes",
            c.used_len, c.writable_len
        )));
    }
    let d = &c.data;
    if d.len() < OUT_HEADER_LEN {
        return Err(Error::BadReply(format!(
            "{} bytes, shorter than the out header",
            d.len()
        )));
    }
    let len = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
    let error = i32::from_le_bytes([d[4], d[5], d[6], d[7]]);
    let got = u64::from_le_bytes([d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]]);
    if got != unique {
        return Err(Error::BadReply(format!("unique {got}, expected {unique}")));
    }
    if len != d.len() {
        return Err(Error::BadReply(format!(
            "out_header.len {len} but used length {}",
            d.len()
        )));
    }
    if !(-4095..=0).contains(&error) {
        return Err(Error::BadReply(format!("error field {error}")));
    }
    if error < 0 {
        return Err(Error::Errno(Errno(-error)));
    }
    Ok(d[OUT_HEADER_LEN..].to_vec())
}

/// A fixed-size reply body of exactly `size_of::<T>()` bytes.
pub fn fixed<T: ByteValued + Default>(body: &[u8], what: &str) -> Result<T> {
    let mut v = T::default();
    let n = v.as_slice().len();
    if body.len() != n {
        return Err(Error::BadReply(format!(
            "{what}: {} bytes, expected {n}",
            body.len()
        )));
    }
    v.as_mut_slice().copy_from_slice(body);
    Ok(v)
}

/// A struct read from the front of `buf` (at least `size_of::<T>()` bytes).
pub fn prefix<T: ByteValued + Default>(buf: &[u8], what: &str) -> Result<T> {
    let mut v = T::default();
    let n = v.as_slice().len();
    let src = buf
        .get(..n)
        .ok_or_else(|| Error::BadReply(format!("{what}: {} bytes, need {n}", buf.len())))?;
    v.as_mut_slice().copy_from_slice(src);
    Ok(v)
}

/// One READDIR entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number (not a node id).
    pub ino: u64,
    /// Cookie to resume after this entry.
    pub off: u64,
    /// `DT_*` type.
    pub typ: u32,
    /// Name.
    pub name: Vec<u8>,
}

impl DirEntry {
    /// The name as UTF-8 (lossy).
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// One READDIRPLUS entry.
#[derive(Debug, Clone)]
pub struct DirEntryPlus {
    /// The lookup result (node id 0 means no lookup was done, as for `.` and `..`).
    pub entry: EntryOut,
    /// The directory entry.
    pub dirent: DirEntry,
}

fn dirent_at(buf: &[u8], pos: usize) -> Result<(DirEntry, usize)> {
    let rest = &buf[pos..];
    let d: Dirent = prefix(rest, "dirent")?;
    let hdr = d.as_slice().len();
    let namelen = d.namelen as usize;
    if namelen == 0 || namelen > NAME_MAX {
        return Err(Error::BadReply(format!("dirent name length {namelen}")));
    }
    let name = rest
        .get(hdr..hdr + namelen)
        .ok_or_else(|| Error::BadReply("dirent name runs past the reply".into()))?;
    if name.contains(&b'/') {
        return Err(Error::BadReply("dirent name contains '/'".into()));
    }
    let reclen = (hdr + namelen + 7) & !7;
    // The last entry's padding may be cut off only if nothing follows.
    let used = reclen.min(rest.len());
    Ok((
        DirEntry {
            ino: d.ino,
            off: d.off,
            typ: d.type_,
            name: name.to_vec(),
        },
        used,
    ))
}

/// Parses a READDIR reply body.
pub fn dirents(buf: &[u8]) -> Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let (e, n) = dirent_at(buf, pos)?;
        out.push(e);
        pos += n;
    }
    Ok(out)
}

/// Parses a READDIRPLUS reply body.
pub fn direntplus(buf: &[u8]) -> Result<Vec<DirEntryPlus>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let elen = EntryOut::default().as_slice().len();
    while pos < buf.len() {
        let entry: EntryOut = prefix(&buf[pos..], "direntplus entry")?;
        pos += elen;
        if pos >= buf.len() {
            return Err(Error::BadReply("direntplus without its dirent".into()));
        }
        let (dirent, n) = dirent_at(buf, pos)?;
        pos += n;
        out.push(DirEntryPlus { entry, dirent });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
