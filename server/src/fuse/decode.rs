//! The one FUSE request decoder: guest bytes in, a typed [`Request`] or a [`Rejected`] out.
//!
//! Decoding is total: every input either decodes or is rejected with the errno to reply (or with
//! no reply at all when not even the header is there). Nothing here does I/O, allocates more than
//! the input justifies, or panics.

use std::ffi::CStr;
use std::mem::size_of;

use fuse_backend_rs::abi::fuse_abi::{
    AccessIn, BatchForgetIn, CopyFileRangeIn, CreateIn, FallocateIn, FlushIn, ForgetIn, ForgetOne,
    FsyncIn, GetattrIn, GetxattrIn, InHeader, InitIn, InitIn2, LinkIn, LkIn, LseekIn, MkdirIn,
    MknodIn, OpenIn, ReadIn, ReleaseIn, Rename2In, RenameIn, SetattrIn, SetxattrIn, WriteIn,
};
use vm_memory_fbr::ByteValued;

use super::mapping::{RemoveMappingIn, RemoveMappingOne, SetupMappingIn, MAX_REMOVE};
use super::opcode as op;
use super::statx::StatxIn;
use crate::name::{
    check_symlink_target, check_xattr_name, split_cstr, LookupName, Name, NameError,
};

/// Largest WRITE payload the server negotiates (FUSE max_write).
pub const MAX_WRITE: u32 = 1 << 20;
/// Largest request accepted: a maximal WRITE plus its header and arguments, with slack.
pub const MAX_REQUEST: usize = MAX_WRITE as usize + 4096;
/// Largest value accepted for SETXATTR (Linux's XATTR_SIZE_MAX).
pub const XATTR_SIZE_MAX: usize = 65536;
/// RENAME2 flags Linux defines: NOREPLACE, EXCHANGE, WHITEOUT.
pub const RENAME_FLAGS: u32 =
    libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT;

/// A request that cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not even an in_header: complete the chain with nothing written.
    NoReply,
    /// Reply to `unique` with this errno.
    Errno { unique: u64, errno: libc::c_int },
}

/// A decoded FUSE request. Borrowed slices point into the request buffer.
#[derive(Debug)]
pub enum Request<'a> {
    Init {
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u64,
    },
    Destroy,
    Lookup(LookupName<'a>),
    Forget(u64),
    BatchForget(Vec<(u64, u64)>),
    Getattr(GetattrIn),
    Setattr(SetattrIn),
    Readlink,
    Symlink {
        name: Name<'a>,
        target: &'a CStr,
    },
    Mknod {
        arg: MknodIn,
        name: Name<'a>,
    },
    Mkdir {
        arg: MkdirIn,
        name: Name<'a>,
    },
    Unlink(Name<'a>),
    Rmdir(Name<'a>),
    Rename {
        newdir: u64,
        flags: u32,
        old: Name<'a>,
        new: Name<'a>,
    },
    Link {
        oldnodeid: u64,
        name: Name<'a>,
    },
    Open(OpenIn),
    Read(ReadIn),
    Write {
        arg: WriteIn,
        /// The payload, or None when it stayed in the guest's buffers (see [`decode_split`]).
        data: Option<&'a [u8]>,
    },
    Statfs,
    Release(ReleaseIn),
    Fsync(FsyncIn),
    Setxattr {
        arg: SetxattrIn,
        /// FUSE_SETXATTR_* flags of the extended form (0 without FUSE_SETXATTR_EXT).
        setxattr_flags: u32,
        name: &'a CStr,
        value: &'a [u8],
    },
    Getxattr {
        size: u32,
        name: &'a CStr,
    },
    Listxattr {
        size: u32,
    },
    Removexattr(&'a CStr),
    Flush(FlushIn),
    Opendir(OpenIn),
    Readdir {
        arg: ReadIn,
        plus: bool,
    },
    Releasedir(ReleaseIn),
    Fsyncdir(FsyncIn),
    Getlk(LkIn),
    Setlk {
        arg: LkIn,
        wait: bool,
    },
    Access(AccessIn),
    Create {
        arg: CreateIn,
        name: Name<'a>,
    },
    Interrupt,
    Fallocate(FallocateIn),
    Lseek(LseekIn),
    CopyFileRange(CopyFileRangeIn),
    Syncfs,
    /// O_TMPFILE in the node's directory. The kernel sends the dentry name "/", which is
    /// neither checked nor used.
    Tmpfile(CreateIn),
    Statx(StatxIn),
    /// DAX: map a file range into the cache window.
    SetupMapping(SetupMappingIn),
    /// DAX: unmap window ranges (moffset, len), at least one.
    RemoveMapping(Vec<RemoveMappingOne>),
    /// A request the server knows but does not implement (ENOSYS), or an unknown opcode.
    Unsupported(u32),
}

impl Request<'_> {
    /// Whether the kernel expects no reply to this request.
    pub fn is_noreply(&self) -> bool {
        matches!(
            self,
            Request::Forget(_) | Request::BatchForget(_) | Request::Interrupt
        )
    }
}

/// Reads `T` off the front of `buf` (no alignment needed), advancing it.
fn take<T: ByteValued + Default>(buf: &mut &[u8]) -> Option<T> {
    let n = size_of::<T>();
    if buf.len() < n {
        return None;
    }
    let mut t = T::default();
    t.as_mut_slice().copy_from_slice(&buf[..n]);
    *buf = &buf[n..];
    Some(t)
}

/// Which errno a refused name becomes, as Linux's VFS would answer for each kind of request.
#[derive(Clone, Copy)]
enum NameUse {
    Create,
    Unlink,
    Rmdir,
    Rename,
}

fn name_errno(e: NameError, usage: NameUse) -> libc::c_int {
    match (e, usage) {
        (NameError::TooLong, _) => libc::ENAMETOOLONG,
        (NameError::Dot | NameError::DotDot, NameUse::Create) => libc::EEXIST,
        (NameError::Dot, NameUse::Rmdir) => libc::EINVAL,
        (NameError::DotDot, NameUse::Rmdir) => libc::ENOTEMPTY,
        (NameError::Dot | NameError::DotDot, NameUse::Unlink) => libc::EISDIR,
        (NameError::Dot | NameError::DotDot, NameUse::Rename) => libc::EBUSY,
        (NameError::NoNul | NameError::Empty | NameError::Slash, _) => libc::EINVAL,
    }
}

fn name<'a>(buf: &mut &'a [u8], usage: NameUse) -> Result<Name<'a>, libc::c_int> {
    let (c, rest) = split_cstr(buf).map_err(|e| name_errno(e, usage))?;
    *buf = rest;
    Name::new(c).map_err(|e| name_errno(e, usage))
}

fn cstr<'a>(buf: &mut &'a [u8]) -> Result<&'a CStr, libc::c_int> {
    let (c, rest) = split_cstr(buf).map_err(|_| libc::EINVAL)?;
    *buf = rest;
    Ok(c)
}

/// What INIT agreed on that changes how requests are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// FUSE_SETXATTR_EXT: SETXATTR carries setxattr_flags and padding after size and flags.
    pub setxattr_ext: bool,
}

/// The in_header at the start of `buf`, if `buf` holds one (for a transport's look at a
/// request before it is served).
pub fn header(buf: &[u8]) -> Option<InHeader> {
    let mut rest = buf;
    take(&mut rest)
}

/// Decodes one request. `buf` holds exactly the readable bytes of the descriptor chain (possibly
/// cut at [`MAX_REQUEST`] + 1 bytes by the transport).
pub fn decode(buf: &[u8]) -> Result<(InHeader, Request<'_>), Rejected> {
    decode_split(buf, 0, Layout::default())
}

/// [`decode`] of a request whose last `external` bytes are not in `buf`: a WRITE whose payload
/// the transport leaves in the guest's buffers (`buf` then ends with the write_in, and the
/// request decodes with `data: None`). Any other request with `external` > 0 is EINVAL.
pub fn decode_split(
    buf: &[u8],
    external: usize,
    layout: Layout,
) -> Result<(InHeader, Request<'_>), Rejected> {
    let mut rest = buf;
    let h: InHeader = take(&mut rest).ok_or(Rejected::NoReply)?;
    let reject = |errno| Rejected::Errno {
        unique: h.unique,
        errno,
    };
    if h.len as usize > MAX_REQUEST {
        return Err(reject(libc::ENOMEM));
    }
    if Some(h.len as usize) != buf.len().checked_add(external) {
        return Err(reject(libc::EINVAL));
    }
    let req = if external == 0 {
        decode_body(h.opcode, rest, layout)
    } else {
        decode_split_write(h.opcode, rest, external)
    };
    Ok((h, req.map_err(reject)?))
}

fn decode_split_write(
    opcode: u32,
    mut b: &[u8],
    external: usize,
) -> Result<Request<'_>, libc::c_int> {
    let arg: WriteIn = args(&mut b)?;
    if opcode != op::WRITE || !b.is_empty() || (arg.size as usize) > external {
        return Err(libc::EINVAL);
    }
    write_request(arg, None)
}

/// A WRITE of `arg.size` bytes (`data`, or the guest's buffers), checked.
fn write_request(arg: WriteIn, data: Option<&[u8]>) -> Result<Request<'_>, libc::c_int> {
    if arg.size > MAX_WRITE {
        return Err(libc::ENOMEM);
    }
    if arg
        .offset
        .checked_add(u64::from(arg.size))
        .is_none_or(|e| e > i64::MAX as u64)
    {
        return Err(libc::EFBIG);
    }
    Ok(Request::Write { arg, data })
}

fn args<T: ByteValued + Default>(buf: &mut &[u8]) -> Result<T, libc::c_int> {
    take(buf).ok_or(libc::EINVAL)
}

/// Requests whose last argument is a name or a value: the kernel sizes it exactly, so bytes
/// after it mean an interior NUL or a lying length (A4 #10).
const ENDS_WITH_STRING: &[u32] = &[
    op::LOOKUP,
    op::SYMLINK,
    op::MKNOD,
    op::MKDIR,
    op::UNLINK,
    op::RMDIR,
    op::RENAME,
    op::RENAME2,
    op::LINK,
    op::CREATE,
    op::SETXATTR,
    op::GETXATTR,
    op::REMOVEXATTR,
];

fn decode_body(opcode: u32, mut b: &[u8], layout: Layout) -> Result<Request<'_>, libc::c_int> {
    let b = &mut b;
    let req = decode_args(opcode, b, layout)?;
    if !b.is_empty() && ENDS_WITH_STRING.contains(&opcode) {
        return Err(libc::EINVAL);
    }
    Ok(req)
}

fn decode_args<'a>(
    opcode: u32,
    b: &mut &'a [u8],
    layout: Layout,
) -> Result<Request<'a>, libc::c_int> {
    Ok(match opcode {
        op::INIT => {
            let i: InitIn = args(b)?;
            let mut flags = u64::from(i.flags);
            if flags & ferry_fuse::init::INIT_EXT != 0 {
                if let Some(i2) = take::<InitIn2>(b) {
                    flags |= u64::from(i2.flags2) << 32;
                }
            }
            Request::Init {
                major: i.major,
                minor: i.minor,
                max_readahead: i.max_readahead,
                flags,
            }
        }
        op::DESTROY => Request::Destroy,
        op::LOOKUP => {
            let c = cstr(b)?;
            Request::Lookup(LookupName::new(c).map_err(|e| name_errno(e, NameUse::Create))?)
        }
        op::FORGET => Request::Forget(args::<ForgetIn>(b)?.nlookup),
        op::BATCH_FORGET => {
            let count = args::<BatchForgetIn>(b)?.count as usize;
            // Trust only the entries actually present, whatever `count` claims.
            let present = b.len() / size_of::<ForgetOne>();
            let mut v = Vec::with_capacity(count.min(present));
            while v.len() < count {
                let Some(f) = take::<ForgetOne>(b) else { break };
                v.push((f.nodeid, f.nlookup));
            }
            Request::BatchForget(v)
        }
        op::GETATTR => Request::Getattr(args(b)?),
        op::SETATTR => Request::Setattr(args(b)?),
        op::READLINK => Request::Readlink,
        op::SYMLINK => {
            let name = name(b, NameUse::Create)?;
            let target = cstr(b)?;
            check_symlink_target(target)?;
            Request::Symlink { name, target }
        }
        op::MKNOD => {
            let arg = args(b)?;
            Request::Mknod {
                arg,
                name: name(b, NameUse::Create)?,
            }
        }
        op::MKDIR => {
            let arg = args(b)?;
            Request::Mkdir {
                arg,
                name: name(b, NameUse::Create)?,
            }
        }
        op::UNLINK => Request::Unlink(name(b, NameUse::Unlink)?),
        op::RMDIR => Request::Rmdir(name(b, NameUse::Rmdir)?),
        op::RENAME | op::RENAME2 => {
            let (newdir, flags) = if opcode == op::RENAME {
                (args::<RenameIn>(b)?.newdir, 0)
            } else {
                let r: Rename2In = args(b)?;
                (r.newdir, r.flags)
            };
            if flags & !RENAME_FLAGS != 0 {
                return Err(libc::EINVAL);
            }
            let old = name(b, NameUse::Rename)?;
            let new = name(b, NameUse::Rename)?;
            Request::Rename {
                newdir,
                flags,
                old,
                new,
            }
        }
        op::LINK => {
            let l: LinkIn = args(b)?;
            Request::Link {
                oldnodeid: l.oldnodeid,
                name: name(b, NameUse::Create)?,
            }
        }
        op::OPEN => Request::Open(args(b)?),
        op::READ => {
            let arg: ReadIn = args(b)?;
            // No reply carries more than max_write (the guest was told max_pages to match).
            if arg.size > MAX_WRITE {
                return Err(libc::ENOMEM);
            }
            Request::Read(arg)
        }
        op::WRITE => {
            let arg: WriteIn = args(b)?;
            if arg.size > MAX_WRITE {
                return Err(libc::ENOMEM);
            }
            let data = b.get(..arg.size as usize).ok_or(libc::EINVAL)?;
            write_request(arg, Some(data))?
        }
        op::STATFS => Request::Statfs,
        op::RELEASE => Request::Release(args(b)?),
        op::FSYNC => Request::Fsync(args(b)?),
        op::SETXATTR => {
            let arg: SetxattrIn = args(b)?;
            let setxattr_flags = if layout.setxattr_ext {
                let flags: u32 = args(b)?;
                let _padding: u32 = args(b)?;
                flags
            } else {
                0
            };
            let name = cstr(b)?;
            check_xattr_name(name)?;
            if arg.size as usize > XATTR_SIZE_MAX {
                return Err(libc::E2BIG);
            }
            // The value is the rest of the request, exactly as long as declared.
            if b.len() != arg.size as usize {
                return Err(libc::EINVAL);
            }
            let value = std::mem::take(b);
            Request::Setxattr {
                arg,
                setxattr_flags,
                name,
                value,
            }
        }
        op::GETXATTR => {
            let g: GetxattrIn = args(b)?;
            let name = cstr(b)?;
            check_xattr_name(name)?;
            Request::Getxattr { size: g.size, name }
        }
        op::LISTXATTR => Request::Listxattr {
            size: args::<GetxattrIn>(b)?.size,
        },
        op::REMOVEXATTR => {
            let name = cstr(b)?;
            check_xattr_name(name)?;
            Request::Removexattr(name)
        }
        op::FLUSH => Request::Flush(args(b)?),
        op::OPENDIR => Request::Opendir(args(b)?),
        op::READDIR => Request::Readdir {
            arg: args(b)?,
            plus: false,
        },
        op::READDIRPLUS => Request::Readdir {
            arg: args(b)?,
            plus: true,
        },
        op::RELEASEDIR => Request::Releasedir(args(b)?),
        op::FSYNCDIR => Request::Fsyncdir(args(b)?),
        op::GETLK => Request::Getlk(args(b)?),
        op::SETLK => Request::Setlk {
            arg: args(b)?,
            wait: false,
        },
        op::SETLKW => Request::Setlk {
            arg: args(b)?,
            wait: true,
        },
        op::ACCESS => Request::Access(args(b)?),
        op::CREATE => {
            let arg = args(b)?;
            Request::Create {
                arg,
                name: name(b, NameUse::Create)?,
            }
        }
        op::INTERRUPT => Request::Interrupt,
        op::FALLOCATE => Request::Fallocate(args(b)?),
        op::LSEEK => Request::Lseek(args(b)?),
        op::COPY_FILE_RANGE => Request::CopyFileRange(args(b)?),
        op::SYNCFS => Request::Syncfs,
        op::TMPFILE => Request::Tmpfile(args(b)?),
        op::STATX => Request::Statx(args(b)?),
        op::SETUPMAPPING => Request::SetupMapping(args(b)?),
        op::REMOVEMAPPING => {
            let count = args::<RemoveMappingIn>(b)?.count as usize;
            // Exactly `count` entries, as the kernel sends them: a short or padded list lies.
            if count == 0
                || count > MAX_REMOVE
                || Some(b.len()) != count.checked_mul(size_of::<RemoveMappingOne>())
            {
                return Err(libc::EINVAL);
            }
            let mut v = Vec::with_capacity(count);
            while let Some(one) = take::<RemoveMappingOne>(b) {
                v.push(one);
            }
            Request::RemoveMapping(v)
        }
        other => Request::Unsupported(other),
    })
}

#[cfg(test)]
mod tests;
