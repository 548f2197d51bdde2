//! Transports' shared parts: a descriptor chain served from guest memory ([`chain`]; a 9P
//! one, [`p9`]), and the DAX window a VMM maps files into ([`shmem`]). The vhost-user devices
//! themselves are ferryd's.

pub mod chain;
mod guest;
pub mod p9;
pub mod shmem;
