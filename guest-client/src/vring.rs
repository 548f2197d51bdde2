//! The driver side of a split virtqueue (virtio 1.x §2.7) in guest memory: the descriptor
//! table, the available ring the driver fills, the used ring the device fills, and the
//! VIRTIO_RING_F_EVENT_IDX fields (`used_event` at the end of the available ring,
//! `avail_event` at the end of the used ring).
//!
//! Nothing read back from the used ring is trusted: ids and lengths are checked by the caller.

use std::sync::atomic::{fence, Ordering};

use crate::error::{Error, Result};
use crate::memory::GuestMem;

/// Descriptor flag: the chain continues in `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Used-ring flag: the device does not want kicks (without EVENT_IDX).
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;

/// One descriptor as the driver writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    /// Guest physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Whether the device writes it.
    pub writable: bool,
}

/// Where a queue of a given size lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of entries (a power of two).
    pub size: u16,
    /// Descriptor table.
    pub desc: u64,
    /// Available ring.
    pub avail: u64,
    /// Used ring.
    pub used: u64,
}

impl Layout {
    /// Places a queue of `size` entries at `base` (which should be 4 KiB aligned); returns the
    /// layout and the first address after it.
    pub fn at(base: u64, size: u16) -> (Layout, u64) {
        let n = u64::from(size);
        let desc = base;
        let avail = desc + 16 * n;
        // flags, idx, ring[n], used_event
        let avail_end = avail + 6 + 2 * n;
        let used = (avail_end + 3) & !3;
        // flags, idx, ring[n] of {id, len}, avail_event
        let end = used + 6 + 8 * n;
        (
            Layout {
                size,
                desc,
                avail,
                used,
            },
            end,
        )
    }

    fn used_event(&self) -> u64 {
        self.avail + 4 + 2 * u64::from(self.size)
    }

    fn avail_event(&self) -> u64 {
        self.used + 4 + 8 * u64::from(self.size)
    }
}

/// `vring_need_event` of the virtio spec: has `new` passed `event` since `old`?
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// The driver's state of one split virtqueue.
#[derive(Debug)]
pub struct Vring {
    layout: Layout,
    event_idx: bool,
    free: Vec<u16>,
    /// Next available index to publish.
    avail_idx: u16,
    /// Available index at the last kick decision.
    kicked_at: u16,
    /// Used entries consumed so far.
    last_used: u16,
}

impl Vring {
    /// A fresh queue; zeroes its rings in `mem`.
    pub fn new(mem: &GuestMem, layout: Layout, event_idx: bool) -> Result<Self> {
        if layout.size == 0 || !layout.size.is_power_of_two() {
            return Err(Error::InvalidRequest(format!("queue size {}", layout.size)));
        }
        let (_, end) = Layout::at(layout.desc, layout.size);
        let len = usize::try_from(end - layout.desc).unwrap_or(usize::MAX);
        mem.write(layout.desc, &vec![0u8; len])?;
        Ok(Vring {
            layout,
            event_idx,
            // Popped from the end: hand out 0, 1, 2... first.
            free: (0..layout.size).rev().collect(),
            avail_idx: 0,
            kicked_at: 0,
            last_used: 0,
        })
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The next available index to publish.
    pub fn avail_idx(&self) -> u16 {
        self.avail_idx
    }

    /// Free descriptors.
    pub fn free_descs(&self) -> usize {
        self.free.len()
    }

    /// Writes a chain and publishes its head in the available ring. Returns the descriptor
    /// indexes used (the first is the head) for [`Vring::recycle`].
    pub fn add(&mut self, mem: &GuestMem, chain: &[Desc]) -> Result<Vec<u16>> {
        if chain.is_empty() {
            return Err(Error::InvalidRequest("empty descriptor chain".into()));
        }
        if chain.len() > self.free.len() {
            return Err(Error::QueueFull("descriptors"));
        }
        let idx: Vec<u16> = (0..chain.len()).filter_map(|_| self.free.pop()).collect();
        for (i, d) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            let mut flags = if d.writable { VRING_DESC_F_WRITE } else { 0 };
            let next = if last { 0 } else { idx[i + 1] };
            if !last {
                flags |= VRING_DESC_F_NEXT;
            }
            let mut raw = [0u8; 16];
            raw[0..8].copy_from_slice(&d.addr.to_le_bytes());
            raw[8..12].copy_from_slice(&d.len.to_le_bytes());
            raw[12..14].copy_from_slice(&flags.to_le_bytes());
            raw[14..16].copy_from_slice(&next.to_le_bytes());
            mem.write(self.layout.desc + 16 * u64::from(idx[i]), &raw)?;
        }
        let slot = self.avail_idx % self.layout.size;
        mem.write(
            self.layout.avail + 4 + 2 * u64::from(slot),
            &idx[0].to_le_bytes(),
        )?;
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // Release: the descriptors and the ring entry are visible before the index.
        mem.store_u16(self.layout.avail + 2, self.avail_idx, Ordering::Release)?;
        Ok(idx)
    }

    /// Publishes `idx` as the available index instead of the driver's own (a hostile or
    /// broken driver); None publishes the driver's own again.
    pub fn publish_avail_idx(&self, mem: &GuestMem, idx: Option<u16>) -> Result<()> {
        mem.store_u16(
            self.layout.avail + 2,
            idx.unwrap_or(self.avail_idx),
            Ordering::Release,
        )
    }

    /// Whether the device asked to be kicked for what was published since the last call.
    pub fn needs_kick(&mut self, mem: &GuestMem) -> Result<bool> {
        // The published index must be visible before reading the device's event fields.
        fence(Ordering::SeqCst);
        let old = self.kicked_at;
        let new = self.avail_idx;
        self.kicked_at = new;
        if self.event_idx {
            let event = mem.load_u16(self.layout.avail_event(), Ordering::Acquire)?;
            Ok(need_event(event, new, old))
        } else {
            let flags = mem.load_u16(self.layout.used, Ordering::Acquire)?;
            Ok(flags & VRING_USED_F_NO_NOTIFY == 0)
        }
    }

    /// The next used element `(id, len)`, unchecked, if the device published one. With
    /// EVENT_IDX, asks to be notified of the one after it.
    pub fn pop_used(&mut self, mem: &GuestMem) -> Result<Option<(u32, u32)>> {
        let used_idx = mem.load_u16(self.layout.used + 2, Ordering::Acquire)?;
        if used_idx == self.last_used {
            if self.event_idx {
                mem.store_u16(self.layout.used_event(), self.last_used, Ordering::Release)?;
            }
            return Ok(None);
        }
        let slot = self.last_used % self.layout.size;
        let mut raw = [0u8; 8];
        mem.read(self.layout.used + 4 + 8 * u64::from(slot), &mut raw)?;
        self.last_used = self.last_used.wrapping_add(1);
        if self.event_idx {
            mem.store_u16(self.layout.used_event(), self.last_used, Ordering::Release)?;
        }
        let id = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let len = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
        Ok(Some((id, len)))
    }

    /// Used entries the device published beyond what was consumed (a device that claims more
    /// than the queue holds is lying).
    pub fn pending_used(&self, mem: &GuestMem) -> Result<u16> {
        let used_idx = mem.load_u16(self.layout.used + 2, Ordering::Acquire)?;
        Ok(used_idx.wrapping_sub(self.last_used))
    }

    /// Returns a completed chain's descriptors to the free list.
    pub fn recycle(&mut self, idx: &[u16]) {
        self.free.extend(idx.iter().rev());
    }
}

#[cfg(test)]
mod tests;
