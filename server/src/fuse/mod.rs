//! FUSE wire protocol: the decoder and the reply encoder (names pass [`crate::name`]). No I/O here.
//!
//! The ABI structs come from fuse-backend-rs; this module adds total decoding on top of them.

pub mod decode;
pub mod mapping;
pub mod reply;
pub mod statx;

pub use fuse_backend_rs::abi::fuse_abi as abi;

pub use ferry_fuse::opcode;

/// FUSE protocol version ferryd speaks.
pub const KERNEL_VERSION: u32 = ferry_fuse::VERSION;
/// Highest minor version ferryd speaks (7.38: Linux 6.2's set, with flags2 and TMPFILE); a
/// guest that sends a higher one (Linux 6.12 sends 7.41) is answered with this one.
pub const KERNEL_MINOR_VERSION: u32 = 38;
