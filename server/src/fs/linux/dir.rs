//! Directories: OPENDIR, READDIR, READDIRPLUS. `.` and `..` are left out (the server lists
//! them itself); positions are the host filesystem's own cookies.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use fuse_backend_rs::abi::fuse_abi::OpenOptions;
use fuse_backend_rs::api::filesystem::{DirEntry, Entry};

use super::inode::InodeId;
use super::{err, sys, LinuxFs};
use crate::fs::rules;

/// Where the fields of a `struct linux_dirent64` sit.
const D_OFF: usize = 8;
const D_RECLEN: usize = 16;
const D_TYPE: usize = 18;
const D_NAME: usize = 19;

/// One raw entry parsed out of a getdents64 buffer.
struct Raw<'a> {
    ino: u64,
    off: u64,
    typ: u8,
    name: &'a [u8],
}

/// Parses the entry at the start of `buf`; returns it and its record length. None if the
/// record is malformed (it comes from the host kernel, but nothing here trusts a length).
fn parse(buf: &[u8]) -> Option<(Raw<'_>, usize)> {
    let u64_at = |o: usize| {
        buf.get(o..o + 8)
            .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
    };
    let ino = u64_at(0)?;
    let off = u64_at(D_OFF)?;
    let reclen = buf
        .get(D_RECLEN..D_RECLEN + 2)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]) as usize)?;
    let typ = *buf.get(D_TYPE)?;
    let rec = buf.get(..reclen).filter(|r| r.len() > D_NAME)?;
    let name = &rec[D_NAME..];
    let name = &name[..name.iter().position(|&b| b == 0)?];
    Some((
        Raw {
            ino,
            off,
            typ,
            name,
        },
        reclen,
    ))
}

impl LinuxFs {
    pub(super) fn do_opendir(&self, node: u64, _flags: u32) -> io::Result<(u64, OpenOptions)> {
        let i = self.inodes.get(node)?;
        if !i.is_dir() {
            return Err(err(libc::ENOTDIR));
        }
        let fd = sys::reopen(
            self.proc.as_fd(),
            i.fd().as_raw_fd(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        self.make_room();
        let fh = self.handles.insert(node, fd)?;
        Ok((fh, self.open_options(true)))
    }

    /// Lists entries from `offset` until `add` returns 0 (reply full) or the directory ends.
    /// With `plus`, each entry is looked up and `add` gets its Entry; a reference the reply
    /// could not carry is given back at once.
    pub(super) fn do_readdir(
        &self,
        node: u64,
        fh: u64,
        size: u32,
        offset: u64,
        add: &mut dyn FnMut(DirEntry, Option<Entry>) -> io::Result<usize>,
        plus: bool,
    ) -> io::Result<()> {
        let h = self.handles.get(fh, node)?;
        let dir = self.inodes.get(node)?;
        let _pos = h.lock_dir();
        sys::lseek(h.fd(), offset, libc::SEEK_SET as u32)?;
        let mut buf = vec![0u8; (size as usize).clamp(4096, 1 << 20)];
        loop {
            let n = sys::getdents(h.fd(), &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            let mut rest = &buf[..n];
            while let Some((raw, len)) = parse(rest) {
                rest = &rest[len..];
                if raw.name == b"." || raw.name == b".." {
                    continue;
                }
                let d = DirEntry {
                    ino: raw.ino,
                    offset: raw.off,
                    type_: u32::from(raw.typ),
                    name: raw.name,
                };
                let e = if plus {
                    let Ok(name) = std::ffi::CString::new(raw.name) else {
                        continue;
                    };
                    // An entry the guest may hold already (same device and mount as the
                    // directory, a known inode number) is looked up by name first; any other
                    // is opened at once.
                    let id = InodeId {
                        ino: raw.ino,
                        ..dir.id
                    };
                    let key = self.inodes.name_key(node, raw.name);
                    let found = if self.inodes.find(&id).is_some() {
                        self.lookup_ref(&dir, &name, key)
                    } else {
                        self.open_ref(&dir, &name, Some(key))
                    };
                    let Some(e) = found.map_or_else(|e| rules::unlooked(&e, raw.ino), Some) else {
                        continue;
                    };
                    Some(e)
                } else {
                    None
                };
                let node = e.as_ref().map(|e| e.inode).filter(|&n| n != 0);
                if add(d, e)? == 0 {
                    if let Some(n) = node {
                        self.inodes.forget(n, 1);
                    }
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn malformed_records_stop_the_parse() {
        assert!(parse(&[]).is_none());
        let mut rec = vec![0u8; 24];
        rec[D_RECLEN_TEST] = 200; // longer than the buffer
        assert!(parse(&rec).is_none());
        rec[D_RECLEN_TEST] = 24;
        rec[19] = b'a';
        let (r, len) = parse(&rec).unwrap();
        assert_eq!((r.name, len), (&b"a"[..], 24));
        rec[19..].fill(b'a'); // no NUL
        assert!(parse(&rec).is_none());
    }

    const D_RECLEN_TEST: usize = super::D_RECLEN;
}
