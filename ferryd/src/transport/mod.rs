//! The vhost-user-fs device ([`vhost_user`]): its queues and kicks ([`kick`]), the worker
//! pool ([`pool`]) and the agent's long poll ([`park`]).

pub mod kick;
pub mod park;
pub mod pool;
pub mod vhost_user;
