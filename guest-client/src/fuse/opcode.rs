//! FUSE opcodes and the INIT flags this client offers: the numbers from `ferry_fuse`, what
//! this client offers its own.

#![allow(missing_docs)]

pub use ferry_fuse::fattr;
/// SETUPMAPPING flags.
pub use ferry_fuse::mapping::{READ as MAPPING_READ, WRITE as MAPPING_WRITE};
pub use ferry_fuse::opcode::*;

/// FUSE protocol version this client speaks (Linux 6.12).
pub const KERNEL_VERSION: u32 = ferry_fuse::VERSION;
/// Minor version (Linux 6.12).
pub const KERNEL_MINOR_VERSION: u32 = ferry_fuse::LINUX_6_12_MINOR;

/// INIT flag bits (include/uapi/linux/fuse.h), and what this client offers.
pub mod init {
    pub use ferry_fuse::init::*;

    /// What Linux 6.12's virtiofs offers (fuse_send_init), minus the flags that make the
    /// kernel append request extensions this client does not write (SECURITY_CTX,
    /// CREATE_SUPP_GROUP) and the DAX ones (no cache window).
    pub const LINUX_6_12: u64 = ASYNC_READ
        | POSIX_LOCKS
        | ATOMIC_O_TRUNC
        | EXPORT_SUPPORT
        | BIG_WRITES
        | DONT_MASK
        | SPLICE_WRITE
        | SPLICE_MOVE
        | SPLICE_READ
        | FLOCK_LOCKS
        | HAS_IOCTL_DIR
        | AUTO_INVAL_DATA
        | DO_READDIRPLUS
        | READDIRPLUS_AUTO
        | ASYNC_DIO
        | WRITEBACK_CACHE
        | NO_OPEN_SUPPORT
        | PARALLEL_DIROPS
        | HANDLE_KILLPRIV
        | POSIX_ACL
        | ABORT_ERROR
        | MAX_PAGES
        | CACHE_SYMLINKS
        | NO_OPENDIR_SUPPORT
        | EXPLICIT_INVAL_DATA
        | SUBMOUNTS
        | HANDLE_KILLPRIV_V2
        | SETXATTR_EXT
        | INIT_EXT
        | HAS_EXPIRE_ONLY
        | DIRECT_IO_ALLOW_MMAP
        | NO_EXPORT_SUPPORT
        | HAS_RESEND;
}
