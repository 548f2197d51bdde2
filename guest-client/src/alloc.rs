//! A first-fit allocator for request and reply buffers in guest memory. Free ranges are kept
//! sorted and merged with their neighbours on free.

use std::collections::BTreeMap;

/// Alignment of every allocation.
pub const ALIGN: u64 = 64;

/// Allocates address ranges inside `[start, end)`.
#[derive(Debug)]
pub struct Allocator {
    /// start → length of each free range, never adjacent to another.
    free: BTreeMap<u64, u64>,
}

fn round_up(v: u64) -> Option<u64> {
    v.checked_add(ALIGN - 1).map(|v| v & !(ALIGN - 1))
}

impl Allocator {
    /// An allocator owning `[start, end)`; `start` is rounded up to [`ALIGN`].
    pub fn new(start: u64, end: u64) -> Self {
        let mut free = BTreeMap::new();
        if let Some(s) = round_up(start) {
            if end > s {
                free.insert(s, end - s);
            }
        }
        Allocator { free }
    }

    /// A range of at least `len` bytes (at least one byte is reserved for `len == 0`), or None.
    pub fn alloc(&mut self, len: u64) -> Option<u64> {
        let len = round_up(len.max(1))?;
        let (&start, &flen) = self.free.iter().find(|(_, &flen)| flen >= len)?;
        self.free.remove(&start);
        if flen > len {
            self.free.insert(start + len, flen - len);
        }
        Some(start)
    }

    /// Returns the range `alloc(len)` gave at `start`.
    pub fn free(&mut self, start: u64, len: u64) {
        let Some(mut len) = round_up(len.max(1)) else {
            return;
        };
        let mut start = start;
        if let Some((&ps, &pl)) = self.free.range(..start).next_back() {
            if ps + pl == start {
                self.free.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(&nl) = self.free.get(&(start + len)) {
            self.free.remove(&(start + len));
            len += nl;
        }
        self.free.insert(start, len);
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_merges_back() {
        let mut a = Allocator::new(0x1000, 0x2000);
        let x = a.alloc(10).unwrap();
        let y = a.alloc(100).unwrap();
        let z = a.alloc(64).unwrap();
        assert_eq!(x, 0x1000);
        assert_eq!(y, 0x1040);
        assert_eq!(z, 0x10c0);
        a.free(y, 100);
        assert_eq!(a.alloc(65).unwrap(), y, "first fit reuses the hole");
        a.free(y, 65);
        a.free(x, 10);
        a.free(z, 64);
        assert_eq!(a.free_bytes(), 0x1000);
        assert_eq!(a.free.len(), 1, "all ranges merged");
    }

    #[test]
    fn exhaustion_is_none() {
        let mut a = Allocator::new(3, 200);
        assert_eq!(a.alloc(64), Some(64));
        assert_eq!(a.alloc(128), None, "72 bytes left");
        assert_eq!(a.alloc(72), None, "72 rounds up to 128");
        assert_eq!(a.alloc(1), Some(128));
    }

    #[test]
    fn huge_request_is_none() {
        let mut a = Allocator::new(0, 4096);
        assert_eq!(a.alloc(u64::MAX), None);
        assert_eq!(a.alloc(4097), None);
        assert_eq!(a.alloc(4096), Some(0));
    }
}
