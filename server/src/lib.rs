//! ferry: a shared-filesystem server for virtual machines.
//!
//! Layers, outermost first: [`transport`] (vhost-user, virtqueues) → [`server`] (the FUSE
//! session) → [`fuse`] (decode/encode, the name check; no I/O) → [`fs`] (host backends, the only
//! code that touches the shared tree). [`sandbox`] confines the daemon before it serves.

pub mod args;
pub mod config;
pub mod fs;
pub mod fuse;
pub mod sandbox;
pub mod server;
pub mod sys;
pub mod transport;
