//! Transports' shared parts: a descriptor chain served from guest memory ([`chain`]), and the
//! DAX window a VMM maps files into ([`shmem`]). The vhost-user device itself is ferryd's.

pub mod chain;
mod guest;
pub mod shmem;
