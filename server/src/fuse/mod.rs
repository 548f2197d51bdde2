//! FUSE wire protocol: the decoder, the reply encoder and the name check. No I/O here.
//!
//! The ABI structs come from fuse-backend-rs; this module adds total decoding on top of them.

pub mod decode;
pub mod mapping;
pub mod name;
pub mod reply;
pub mod statx;

pub use fuse_backend_rs::abi::fuse_abi as abi;

/// FUSE protocol version ferryd speaks.
pub const KERNEL_VERSION: u32 = 7;
/// Highest minor version ferryd speaks (7.38: Linux 6.2's set, with flags2 and TMPFILE).
pub const KERNEL_MINOR_VERSION: u32 = 38;

/// Opcodes (include/uapi/linux/fuse.h) and the INIT flags the server negotiates itself.
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const GETLK: u32 = 31;
    pub const SETLK: u32 = 32;
    pub const SETLKW: u32 = 33;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const BMAP: u32 = 37;
    pub const DESTROY: u32 = 38;
    pub const IOCTL: u32 = 39;
    pub const POLL: u32 = 40;
    pub const NOTIFY_REPLY: u32 = 41;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
    pub const LSEEK: u32 = 46;
    pub const COPY_FILE_RANGE: u32 = 47;
    pub const SETUPMAPPING: u32 = 48;
    pub const REMOVEMAPPING: u32 = 49;
    pub const SYNCFS: u32 = 50;
    pub const TMPFILE: u32 = 51;
    pub const STATX: u32 = 52;

    /// FUSE_INIT_EXT: flags2 follows in the INIT request and reply.
    pub const INIT_EXT: u64 = 1 << 30;
    /// FUSE_SETXATTR_EXT: SETXATTR's extended form, with setxattr_flags.
    pub const SETXATTR_EXT: u64 = 1 << 29;
    /// setxattr_flags: clear the setgid bit along with a POSIX ACL (the caller may not keep it).
    pub const SETXATTR_ACL_KILL_SGID: u32 = 1;

    /// A short name for logs and statistics.
    pub fn name(op: u32) -> &'static str {
        const NAMES: [&str; 53] = [
            "0",
            "LOOKUP",
            "FORGET",
            "GETATTR",
            "SETATTR",
            "READLINK",
            "SYMLINK",
            "7",
            "MKNOD",
            "MKDIR",
            "UNLINK",
            "RMDIR",
            "RENAME",
            "LINK",
            "OPEN",
            "READ",
            "WRITE",
            "STATFS",
            "RELEASE",
            "19",
            "FSYNC",
            "SETXATTR",
            "GETXATTR",
            "LISTXATTR",
            "REMOVEXATTR",
            "FLUSH",
            "INIT",
            "OPENDIR",
            "READDIR",
            "RELEASEDIR",
            "FSYNCDIR",
            "GETLK",
            "SETLK",
            "SETLKW",
            "ACCESS",
            "CREATE",
            "INTERRUPT",
            "BMAP",
            "DESTROY",
            "IOCTL",
            "POLL",
            "NOTIFY_REPLY",
            "BATCH_FORGET",
            "FALLOCATE",
            "READDIRPLUS",
            "RENAME2",
            "LSEEK",
            "COPY_FILE_RANGE",
            "SETUPMAPPING",
            "REMOVEMAPPING",
            "SYNCFS",
            "TMPFILE",
            "STATX",
        ];
        NAMES.get(op as usize).copied().unwrap_or("UNKNOWN")
    }
}
