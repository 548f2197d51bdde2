//! The vhost-user-fs device ([`vhost_user`]): its queues and kicks ([`kick`]), the worker
//! pool ([`pool`]) and the agent's long poll ([`park`]); the 9P2000.L clients over streams
//! ([`p9`]) and as a vhost-user virtio-9p device ([`vhost_p9`]).

pub mod kick;
pub mod p9;
pub mod park;
pub mod pool;
pub mod vhost_p9;
pub mod vhost_user;

use std::io;
use std::ops::ControlFlow;

use ferry_server::transport::chain::Mem;
use vhost_user_backend::VringT;

/// Serves a queue until it is empty, as VIRTIO_RING_F_EVENT_IDX needs (VIRTIO 1.2 §2.7.10):
/// the driver's kicks are off while `drain` empties the ring, and the ring is drained again if
/// requests came in as they were turned back on. Without EVENT_IDX, one drain per kick.
/// `drain` breaks to stop at once (a ring it gave up on).
pub(crate) fn serve_until_empty<V: VringT<Mem>>(
    vring: &V,
    event_idx: bool,
    mut drain: impl FnMut() -> io::Result<ControlFlow<()>>,
) -> io::Result<()> {
    loop {
        if event_idx {
            vring.disable_notification().map_err(io::Error::other)?;
        }
        if drain()?.is_break() {
            return Ok(());
        }
        if !event_idx || !vring.enable_notification().map_err(io::Error::other)? {
            return Ok(());
        }
    }
}
