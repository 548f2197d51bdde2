//! The vhost-user-fs device ([`vhost_user`]): its queues and kicks ([`kick`]), the worker
//! pool ([`pool`]) and the agent's long poll ([`park`]); the 9P2000.L clients over streams
//! ([`p9`]) and as a vhost-user virtio-9p device ([`vhost_p9`]).

pub mod kick;
pub mod p9;
pub mod park;
pub mod pool;
pub mod vhost_p9;
pub mod vhost_user;
