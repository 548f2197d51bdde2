//! The agent channel's wire format: what ferryd answers a READ of the agent node with.
//!
//! A READ returns whole records, back to back, then zeroes up to the size asked for (a record
//! length of 0 ends the batch; a batch of none: nothing changed since the last READ). The
//! padding keeps the guest from taking a short read for the file's end (through its page
//! cache, under zero-message opens, a short read would shrink the node's size). Each record
//! is a 16-byte little-endian header and two paths:
//!
//! ```text
//! u32 len      the record's length, header included
//! u8  kind     [`Kind`]
//! u8  0
//! u16 path_len bytes of `path`
//! u16 to_len   bytes of `to` (0 unless a rename)
//! u16 0
//! u32 mode     the S_IFMT bits of what the path names now (0: unknown, gone)
//! path, to     relative to the mount's root, no leading `/` ("" is the root), not
//!              NUL-terminated; names never contain `/` or NUL
//! ```
//!
//! Decoding is total: a malformed record ends the batch with an error, never a panic.

/// What happened to `path` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A new name (file, directory, symlink, special file).
    Create = 1,
    /// The name is gone.
    Delete = 2,
    /// The file's content changed.
    Modify = 3,
    /// The inode's attributes changed (mode, owner, times, xattrs).
    Attrib = 4,
    /// `path` was renamed to `to`.
    Rename = 5,
    /// Changes under `path` were lost (the daemon's queue overflowed): whatever the guest
    /// cached there may be stale.
    Resync = 6,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Create,
            2 => Kind::Delete,
            3 => Kind::Modify,
            4 => Kind::Attrib,
            5 => Kind::Rename,
            6 => Kind::Resync,
            _ => return None,
        })
    }
}

/// One change, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub mode: u32,
    pub path: Vec<u8>,
    pub to: Vec<u8>,
}

/// Bytes of a record's header.
pub const HEADER: usize = 16;
/// The longest path a record carries (longer ones become a [`Kind::Resync`] of their parent
/// or the root).
pub const MAX_PATH: usize = u16::MAX as usize;

/// The name of the agent node in the share's root (reserved: a host file of that name is
/// hidden from the guest).
pub const NODE_NAME: &str = ".ferry-agent";

/// Appends `r` to `out` unless that would make `out` longer than `cap`; false then (or if a
/// path is longer than [`MAX_PATH`]).
pub fn encode(r: &Record, out: &mut Vec<u8>, cap: usize) -> bool {
    let len = HEADER + r.path.len() + r.to.len();
    if r.path.len() > MAX_PATH || r.to.len() > MAX_PATH || out.len() + len > cap {
        return false;
    }
    let Ok(len32) = u32::try_from(len) else {
        return false;
    };
    out.extend_from_slice(&len32.to_le_bytes());
    out.push(r.kind as u8);
    out.push(0);
    out.extend_from_slice(&(r.path.len() as u16).to_le_bytes());
    out.extend_from_slice(&(r.to.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&r.mode.to_le_bytes());
    out.extend_from_slice(&r.path);
    out.extend_from_slice(&r.to);
    true
}

/// Why a batch could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or the length it gives.
    Short,
    /// A length that disagrees with the paths, or an unknown kind.
    Malformed,
}

/// Splits a READ's bytes into records.
pub fn decode(mut buf: &[u8]) -> Result<Vec<Record>, DecodeError> {
    let mut v = Vec::new();
    while !buf.is_empty() {
        if buf.len() < 4 {
            return Err(DecodeError::Short);
        }
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len == 0 {
            break;
        }
        if buf.len() < HEADER {
            return Err(DecodeError::Short);
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([buf[i], buf[i + 1]]));
        let kind = Kind::from_u8(buf[4]).ok_or(DecodeError::Malformed)?;
        let (plen, tlen) = (u16_at(6), u16_at(8));
        let mode = u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]);
        if len != HEADER + plen + tlen {
            return Err(DecodeError::Malformed);
        }
        if buf.len() < len {
            return Err(DecodeError::Short);
        }
        v.push(Record {
            kind,
            mode,
            path: buf[HEADER..HEADER + plen].to_vec(),
            to: buf[HEADER + plen..len].to_vec(),
        });
        buf = &buf[len..];
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: Kind, path: &str, to: &str) -> Record {
        Record {
            kind,
            mode: 0o100000,
            path: path.into(),
            to: to.into(),
        }
    }

    #[test]
    fn records_round_trip_back_to_back() {
        let rs = [
            rec(Kind::Create, "a/b", ""),
            rec(Kind::Rename, "x", "y/z"),
            rec(Kind::Resync, "", ""),
        ];
        let mut out = Vec::new();
        for r in &rs {
            assert!(encode(r, &mut out, 4096));
        }
        assert_eq!(decode(&out).unwrap(), rs);
        out.resize(out.len() + 100, 0);
        assert_eq!(decode(&out).unwrap(), rs, "zero padding ends the batch");
        assert_eq!(decode(&[0; 64]).unwrap(), []);
    }

    #[test]
    fn a_record_that_does_not_fit_is_not_written() {
        let mut out = Vec::new();
        assert!(!encode(&rec(Kind::Modify, "abc", ""), &mut out, HEADER + 2));
        assert!(out.is_empty());
        assert!(encode(&rec(Kind::Modify, "abc", ""), &mut out, HEADER + 3));
    }

    #[test]
    fn bad_bytes_are_errors() {
        let mut out = Vec::new();
        encode(&rec(Kind::Delete, "abc", ""), &mut out, 4096);
        assert_eq!(decode(&out[..10]), Err(DecodeError::Short));
        assert_eq!(decode(&out[..HEADER + 1]), Err(DecodeError::Short));
        let mut bad = out.clone();
        bad[4] = 99;
        assert_eq!(decode(&bad), Err(DecodeError::Malformed));
        let mut bad = out.clone();
        bad[0] = 200;
        assert_eq!(decode(&bad), Err(DecodeError::Malformed));
    }
}
