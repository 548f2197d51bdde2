//! Transports: how requests reach the [`crate::server::Server`]. Only vhost-user for now.

pub mod chain;
mod guest;
mod kick;
mod park;
pub mod pool;
pub mod shmem;
pub mod vhost_user;
