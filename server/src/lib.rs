//! ferry: a shared-filesystem server for virtual machines, as a library.
//!
//! Layers, outermost first: [`transport`] (a descriptor chain served from guest memory, the DAX
//! window) → [`session`] (the FUSE session) and [`p9`] (the 9P2000.L session over a byte stream)
//! → [`fuse`] and the `ferry-9p` crate (decode/encode; no I/O), [`name`] (the one name check)
//! → [`fs`] (host backends, the only code that touches the shared tree). Nothing here changes the
//! process (its umask, working directory, signals or limits): an in-process VMM can embed the
//! session and a backend. The `ferryd` package is the daemon: the command line, the sandbox and
//! the vhost-user device.

pub mod config;
pub mod fs;
pub mod fuse;
pub mod name;
pub mod p9;
pub mod session;
pub mod transport;
pub mod zerocopy;
