//! The null backend: fuse-backend-rs's `FileSystem` with every default (ENOSYS, or nothing for
//! FORGET), so the fuzzers reach the decoder and the session's own logic without any I/O.

use fuse_backend_rs::api::filesystem::FileSystem;

/// A backend that answers every request with the trait's default.
pub struct NullFs;

impl FileSystem for NullFs {
    type Inode = u64;
    type Handle = u64;
}

impl ferry_server::session::BackendExt for NullFs {}
