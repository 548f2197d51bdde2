//! The 9P2000.L wire protocol, as Linux's v9fs client (net/9p, fs/9p) speaks it.
//!
//! - [`mod@decode`]: one T-message from one whole frame, borrowing its strings and data; no I/O,
//!   no allocation but a walk's name list; every length checked against the frame.
//! - [`mod@encode`]: R-messages into a byte buffer, with the frame's size filled in at the end.
//!
//! Numbers are little-endian; a string is a 2-byte length and that many bytes (no NUL); a
//! frame is `size[4] type[1] tag[2]` and the body, `size` counting itself.

pub mod decode;
pub mod encode;

pub use decode::{decode, DecodeError, Tmessage};
pub use encode::Reply;

/// 9P2000.L message types (T is even, its R is T + 1).
pub mod msg {
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const TLOPEN: u8 = 12;
    pub const TLCREATE: u8 = 14;
    pub const TSYMLINK: u8 = 16;
    pub const TMKNOD: u8 = 18;
    pub const TRENAME: u8 = 20;
    pub const TREADLINK: u8 = 22;
    pub const TGETATTR: u8 = 24;
    pub const TSETATTR: u8 = 26;
    pub const TXATTRWALK: u8 = 30;
    pub const TXATTRCREATE: u8 = 32;
    pub const TREADDIR: u8 = 40;
    pub const TFSYNC: u8 = 50;
    pub const TLOCK: u8 = 52;
    pub const TGETLOCK: u8 = 54;
    pub const TLINK: u8 = 70;
    pub const TMKDIR: u8 = 72;
    pub const TRENAMEAT: u8 = 74;
    pub const TUNLINKAT: u8 = 76;
    pub const TVERSION: u8 = 100;
    pub const TAUTH: u8 = 102;
    pub const TATTACH: u8 = 104;
    pub const TFLUSH: u8 = 108;
    pub const TWALK: u8 = 110;
    pub const TREAD: u8 = 116;
    pub const TWRITE: u8 = 118;
    pub const TCLUNK: u8 = 120;
    pub const TREMOVE: u8 = 122;
}

/// Bytes of a frame's header: `size[4] type[1] tag[2]`.
pub const HEADER: usize = 7;
/// The tag of Tversion, which no other request may use.
pub const NOTAG: u16 = 0xffff;
/// "No fid" (Tattach's afid when there is no authentication).
pub const NOFID: u32 = 0xffff_ffff;
/// "No numeric user name" in Tattach: the client sent only a textual one.
pub const NONUNAME: u32 = 0xffff_ffff;
/// Most names one Twalk may carry.
pub const MAXWELEM: usize = 16;
/// The protocol version this crate speaks.
pub const VERSION: &[u8] = b"9P2000.L";
/// Bytes of an Rread's or Rreaddir's header and count before its data: size, type, tag, count.
pub const IOHDRSZ: u32 = 11;
/// Bytes of a Twrite before its data: size, type, tag, fid, offset, count.
pub const TWRITE_HDRSZ: u32 = 23;

/// A qid's type bits.
pub mod qtype {
    pub const DIR: u8 = 0x80;
    pub const SYMLINK: u8 = 0x02;
    pub const FILE: u8 = 0x00;
}

/// Tgetattr's request mask and Rgetattr's valid mask.
pub mod getattr {
    pub const MODE: u64 = 0x1;
    pub const NLINK: u64 = 0x2;
    pub const UID: u64 = 0x4;
    pub const GID: u64 = 0x8;
    pub const RDEV: u64 = 0x10;
    pub const ATIME: u64 = 0x20;
    pub const MTIME: u64 = 0x40;
    pub const CTIME: u64 = 0x80;
    pub const INO: u64 = 0x100;
    pub const SIZE: u64 = 0x200;
    pub const BLOCKS: u64 = 0x400;
    /// Everything a stat(2) has.
    pub const BASIC: u64 = 0x7ff;
}

/// Tsetattr's valid mask.
pub mod setattr {
    pub const MODE: u32 = 0x1;
    pub const UID: u32 = 0x2;
    pub const GID: u32 = 0x4;
    pub const SIZE: u32 = 0x8;
    /// Change atime: to the given time with ATIME_SET, else to now.
    pub const ATIME: u32 = 0x10;
    pub const MTIME: u32 = 0x20;
    pub const CTIME: u32 = 0x40;
    pub const ATIME_SET: u32 = 0x80;
    pub const MTIME_SET: u32 = 0x100;
}

/// Tlock's and Tgetlock's lock types, Tlock's flags and Rlock's status.
pub mod lock {
    pub const RDLCK: u8 = 0;
    pub const WRLCK: u8 = 1;
    pub const UNLCK: u8 = 2;
    /// The client waits (it retries on BLOCKED).
    pub const FLAGS_BLOCK: u32 = 1;
    pub const SUCCESS: u8 = 0;
    pub const BLOCKED: u8 = 1;
    pub const ERROR: u8 = 2;
}

/// Tunlinkat's flag for a directory (Linux's AT_REMOVEDIR).
pub const AT_REMOVEDIR: u32 = 0x200;

/// A server's unique identification of a file: type bits, version, and a path number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Qid {
    pub ty: u8,
    pub version: u32,
    pub path: u64,
}

/// Bytes of a qid on the wire.
pub const QID_SIZE: usize = 13;

/// Bytes an Rreaddir entry takes: qid, offset, type, name.
pub fn dirent_size(name_len: usize) -> usize {
    QID_SIZE + 8 + 1 + 2 + name_len
}
