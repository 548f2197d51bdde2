//! The raw API: any bytes over any descriptor layout, for hostile-input tests. Nothing is
//! checked on the way out; the completion is returned as the device reported it.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::fuse::Client;
use crate::queue::{Completion, Seg};

/// Header fields of a raw reply, read without any check beyond its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOutHeader {
    /// `len`.
    pub len: u32,
    /// `error` (negative errno or 0).
    pub error: i32,
    /// `unique`.
    pub unique: u64,
}

impl RawOutHeader {
    /// The out header at the start of `data`, if there are 16 bytes.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let d = data.get(..16)?;
        Some(RawOutHeader {
            len: u32::from_le_bytes([d[0], d[1], d[2], d[3]]),
            error: i32::from_le_bytes([d[4], d[5], d[6], d[7]]),
            unique: u64::from_le_bytes([d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]]),
        })
    }

    /// The errno if `error` is negative.
    pub fn errno(&self) -> Option<i32> {
        (self.error < 0).then(|| self.error.saturating_neg())
    }
}

impl Client {
    /// Sends `segs` as one chain on vring `queue` (0 is hiprio, 1.. the request queues) and
    /// waits up to `timeout` for the device to return it.
    pub fn raw(&self, queue: usize, segs: &[Seg], timeout: Duration) -> Result<Completion> {
        let q = self
            .device()
            .queue(queue)
            .ok_or_else(|| Error::InvalidRequest(format!("no queue {queue}")))?;
        let t = q.submit(segs)?;
        q.wait(t, timeout)
    }

    /// Sends `request` in one readable descriptor with one writable descriptor of
    /// `reply_room` bytes on the first request queue.
    pub fn raw_request(&self, request: Vec<u8>, reply_room: u32) -> Result<Completion> {
        self.raw(1, &[Seg::In(request), Seg::Out(reply_room)], self.timeout())
    }

    /// Builds a request: in header (with `len` = 40 + body, unless `len` is given) then
    /// `body`, with a fresh unique. Returns the bytes and the unique.
    pub fn raw_encode(
        &self,
        opcode: u32,
        nodeid: u64,
        body: &[u8],
        len: Option<u32>,
    ) -> (Vec<u8>, u64) {
        let unique = self.next_unique();
        let mut v = self.encode(opcode, nodeid, unique, &[body]);
        if let Some(l) = len {
            v[..4].copy_from_slice(&l.to_le_bytes());
        }
        (v, unique)
    }
}
