//! T-messages from whole frames: the one 9P decoder. No I/O; every length is checked against
//! the frame, and a frame with bytes left over after its message is refused too.

use crate::{msg, HEADER, MAXWELEM};

/// Why a frame is not a T-message the server understands. With a frame whose header is whole,
/// the server answers Rlerror with the frame's tag (EINVAL, or EOPNOTSUPP for an unknown type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame shorter than its 7-byte header")]
    ShortHeader,
    #[error("frame size field {0} does not match the {1} bytes given")]
    Size(u32, usize),
    #[error("message body ends early")]
    Short,
    #[error("{0} bytes left over after the message")]
    Trailing(usize),
    #[error("unknown or unsupported message type {0}")]
    UnknownType(u8),
    #[error("walk of {0} names (at most 16)")]
    TooManyNames(u16),
}

/// One decoded T-message. Strings and data borrow from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tmessage<'a> {
    Version {
        msize: u32,
        version: &'a [u8],
    },
    Auth {
        afid: u32,
        uname: &'a [u8],
        aname: &'a [u8],
        n_uname: u32,
    },
    Attach {
        fid: u32,
        afid: u32,
        uname: &'a [u8],
        aname: &'a [u8],
        n_uname: u32,
    },
    Flush {
        oldtag: u16,
    },
    Walk {
        fid: u32,
        newfid: u32,
        names: Vec<&'a [u8]>,
    },
    Read {
        fid: u32,
        offset: u64,
        count: u32,
    },
    Write {
        fid: u32,
        offset: u64,
        data: &'a [u8],
    },
    Clunk {
        fid: u32,
    },
    Remove {
        fid: u32,
    },
    Statfs {
        fid: u32,
    },
    Lopen {
        fid: u32,
        flags: u32,
    },
    Lcreate {
        fid: u32,
        name: &'a [u8],
        flags: u32,
        mode: u32,
        gid: u32,
    },
    Symlink {
        fid: u32,
        name: &'a [u8],
        target: &'a [u8],
        gid: u32,
    },
    Mknod {
        dfid: u32,
        name: &'a [u8],
        mode: u32,
        major: u32,
        minor: u32,
        gid: u32,
    },
    Rename {
        fid: u32,
        dfid: u32,
        name: &'a [u8],
    },
    Readlink {
        fid: u32,
    },
    Getattr {
        fid: u32,
        mask: u64,
    },
    Setattr {
        fid: u32,
        attr: SetAttr,
    },
    Xattrwalk {
        fid: u32,
        newfid: u32,
        name: &'a [u8],
    },
    Xattrcreate {
        fid: u32,
        name: &'a [u8],
        size: u64,
        flags: u32,
    },
    Readdir {
        fid: u32,
        offset: u64,
        count: u32,
    },
    Fsync {
        fid: u32,
        datasync: bool,
    },
    Lock {
        fid: u32,
        lock: Lock<'a>,
        flags: u32,
    },
    Getlock {
        fid: u32,
        lock: Lock<'a>,
    },
    Link {
        dfid: u32,
        fid: u32,
        name: &'a [u8],
    },
    Mkdir {
        dfid: u32,
        name: &'a [u8],
        mode: u32,
        gid: u32,
    },
    Renameat {
        olddirfid: u32,
        oldname: &'a [u8],
        newdirfid: u32,
        newname: &'a [u8],
    },
    Unlinkat {
        dfid: u32,
        name: &'a [u8],
        flags: u32,
    },
}

/// Tsetattr's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetAttr {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

/// A lock as Tlock, Tgetlock and Rgetlock carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock<'a> {
    pub ty: u8,
    pub start: u64,
    /// 0: to the end of the file.
    pub length: u64,
    pub proc_id: u32,
    pub client_id: &'a [u8],
}

/// A frame's header: its type and tag (known even when the body does not decode).
pub fn header(frame: &[u8]) -> Result<(u8, u16), DecodeError> {
    if frame.len() < HEADER {
        return Err(DecodeError::ShortHeader);
    }
    let size = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    if size as usize != frame.len() {
        return Err(DecodeError::Size(size, frame.len()));
    }
    Ok((frame[4], u16::from_le_bytes([frame[5], frame[6]])))
}

/// Decodes one whole frame (size field included): its tag and message.
pub fn decode(frame: &[u8]) -> Result<(u16, Tmessage<'_>), DecodeError> {
    let (ty, tag) = header(frame)?;
    let mut r = Cursor(&frame[HEADER..]);
    let m = body(ty, &mut r)?;
    if !r.0.is_empty() {
        return Err(DecodeError::Trailing(r.0.len()));
    }
    Ok((tag, m))
}

fn body<'a>(ty: u8, r: &mut Cursor<'a>) -> Result<Tmessage<'a>, DecodeError> {
    use Tmessage as T;
    Ok(match ty {
        msg::TVERSION => T::Version {
            msize: r.u32()?,
            version: r.str()?,
        },
        msg::TAUTH => T::Auth {
            afid: r.u32()?,
            uname: r.str()?,
            aname: r.str()?,
            n_uname: r.u32()?,
        },
        msg::TATTACH => T::Attach {
            fid: r.u32()?,
            afid: r.u32()?,
            uname: r.str()?,
            aname: r.str()?,
            n_uname: r.u32()?,
        },
        msg::TFLUSH => T::Flush { oldtag: r.u16()? },
        msg::TWALK => {
            let (fid, newfid, n) = (r.u32()?, r.u32()?, r.u16()?);
            if n as usize > MAXWELEM {
                return Err(DecodeError::TooManyNames(n));
            }
            let mut names = Vec::with_capacity(n as usize);
            for _ in 0..n {
                names.push(r.str()?);
            }
            T::Walk { fid, newfid, names }
        }
        msg::TREAD => T::Read {
            fid: r.u32()?,
            offset: r.u64()?,
            count: r.u32()?,
        },
        msg::TWRITE => {
            let (fid, offset, count) = (r.u32()?, r.u64()?, r.u32()?);
            T::Write {
                fid,
                offset,
                data: r.bytes(count as usize)?,
            }
        }
        msg::TCLUNK => T::Clunk { fid: r.u32()? },
        msg::TREMOVE => T::Remove { fid: r.u32()? },
        msg::TSTATFS => T::Statfs { fid: r.u32()? },
        msg::TLOPEN => T::Lopen {
            fid: r.u32()?,
            flags: r.u32()?,
        },
        msg::TLCREATE => T::Lcreate {
            fid: r.u32()?,
            name: r.str()?,
            flags: r.u32()?,
            mode: r.u32()?,
            gid: r.u32()?,
        },
        msg::TSYMLINK => T::Symlink {
            fid: r.u32()?,
            name: r.str()?,
            target: r.str()?,
            gid: r.u32()?,
        },
        msg::TMKNOD => T::Mknod {
            dfid: r.u32()?,
            name: r.str()?,
            mode: r.u32()?,
            major: r.u32()?,
            minor: r.u32()?,
            gid: r.u32()?,
        },
        msg::TRENAME => T::Rename {
            fid: r.u32()?,
            dfid: r.u32()?,
            name: r.str()?,
        },
        msg::TREADLINK => T::Readlink { fid: r.u32()? },
        msg::TGETATTR => T::Getattr {
            fid: r.u32()?,
            mask: r.u64()?,
        },
        msg::TSETATTR => T::Setattr {
            fid: r.u32()?,
            attr: SetAttr {
                valid: r.u32()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
                size: r.u64()?,
                atime_sec: r.u64()?,
                atime_nsec: r.u64()?,
                mtime_sec: r.u64()?,
                mtime_nsec: r.u64()?,
            },
        },
        msg::TXATTRWALK => T::Xattrwalk {
            fid: r.u32()?,
            newfid: r.u32()?,
            name: r.str()?,
        },
        msg::TXATTRCREATE => T::Xattrcreate {
            fid: r.u32()?,
            name: r.str()?,
            size: r.u64()?,
            flags: r.u32()?,
        },
        msg::TREADDIR => T::Readdir {
            fid: r.u32()?,
            offset: r.u64()?,
            count: r.u32()?,
        },
        msg::TFSYNC => T::Fsync {
            fid: r.u32()?,
            datasync: r.u32()? != 0,
        },
        msg::TLOCK => {
            let (fid, ty, flags) = (r.u32()?, r.u8()?, r.u32()?);
            let lock = Lock {
                ty,
                start: r.u64()?,
                length: r.u64()?,
                proc_id: r.u32()?,
                client_id: r.str()?,
            };
            T::Lock { fid, lock, flags }
        }
        msg::TGETLOCK => {
            let (fid, ty) = (r.u32()?, r.u8()?);
            let lock = Lock {
                ty,
                start: r.u64()?,
                length: r.u64()?,
                proc_id: r.u32()?,
                client_id: r.str()?,
            };
            T::Getlock { fid, lock }
        }
        msg::TLINK => T::Link {
            dfid: r.u32()?,
            fid: r.u32()?,
            name: r.str()?,
        },
        msg::TMKDIR => T::Mkdir {
            dfid: r.u32()?,
            name: r.str()?,
            mode: r.u32()?,
            gid: r.u32()?,
        },
        msg::TRENAMEAT => T::Renameat {
            olddirfid: r.u32()?,
            oldname: r.str()?,
            newdirfid: r.u32()?,
            newname: r.str()?,
        },
        msg::TUNLINKAT => T::Unlinkat {
            dfid: r.u32()?,
            name: r.str()?,
            flags: r.u32()?,
        },
        other => return Err(DecodeError::UnknownType(other)),
    })
}

/// Reads little-endian fields off the front of a body.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()?;
        self.bytes(n as usize)
    }
}

#[cfg(test)]
mod tests;
