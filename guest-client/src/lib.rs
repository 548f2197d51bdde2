//! `ferry-guest-client`: a user-space virtio-fs driver. It plays both the VMM (the
//! vhost-user frontend: features, memory table, vrings) and the guest's virtio-fs driver
//! (split virtqueues in shared memory, FUSE requests) over the same socket QEMU uses, so a
//! vhost-user-fs daemon — ferryd, upstream virtiofsd, any other — can be driven and tested
//! without a VM.
//!
//! ```no_run
//! use ferry_guest_client::{Client, ClientOptions, ROOT};
//! # fn main() -> Result<(), ferry_guest_client::Error> {
//! let c = Client::connect_and_init("/tmp/vfs.sock".as_ref(), ClientOptions::default())?;
//! let e = c.create(ROOT, "hello", libc::O_RDWR as u32, 0o644, 0)?;
//! c.write(e.0.nodeid, e.1.fh, 0, b"hi")?;
//! assert_eq!(c.read(e.0.nodeid, e.1.fh, 0, 10)?, b"hi");
//! c.release(e.0.nodeid, e.1.fh, 0)?;
//! # Ok(()) }
//! ```
//!
//! Layers: [`memory`] (memfd guest RAM) and [`alloc`] (buffers in it) → [`vring`] (the split
//! queue's driver side) → [`queue`] (chains, kicks, completions) → [`device`] (vhost-user
//! control plane, with the DAX cache [`window`]) → [`fuse`] (typed requests) and [`raw`]
//! (arbitrary chains). Nothing the
//! daemon returns is trusted: a bad reply is an [`Error`], never a panic.

pub mod alloc;
pub mod daemon;
pub mod device;
pub mod error;
pub mod fuse;
pub mod memory;
pub mod queue;
pub mod raw;
pub mod vring;
pub mod window;

pub use daemon::Daemon;
pub use device::{Device, Options};
pub use error::{Errno, Error, Result, ResultExt};
pub use fuse::{Client, ClientOptions, Creds, DirEntry, DirEntryPlus, SetAttr, XattrReply, ROOT};
pub use fuse_backend_rs::abi::fuse_abi::{AttrOut, EntryOut, FileLock, InitOut, Kstatfs, OpenOut};
pub use queue::{Completion, Seg, Ticket};
pub use raw::RawOutHeader;
pub use window::Window;
