//! A descriptor chain's buffers in guest memory: the request is read from its readable side and
//! the reply written to its writable side ([`io::Read`], [`io::Write`]), and, through
//! fuse-backend-rs's zero-copy traits, READ data goes from the file straight into the guest's
//! reply buffers (a preadv into the mapped descriptors) and WRITE data straight from the guest's
//! request buffers into the file (a pwritev), without passing through a daemon buffer.

use std::io;
use std::marker::PhantomData;

use fuse_backend_rs::api::filesystem::{ZeroCopyReader, ZeroCopyWriter};
use fuse_backend_rs::file_buf::FileVolatileSlice;
use fuse_backend_rs::file_traits::FileReadWriteVolatile;
use smallvec::SmallVec;
use virtio_queue::DescriptorChain;
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, VolatileSlice};

/// The device-writable buffers of a chain (where replies go).
pub struct Writable;
/// The device-readable buffers of a chain (where requests come from).
pub struct Readable;

/// One side of a descriptor chain, from some offset on.
pub struct GuestBufs<'a, S> {
    /// (start, length) of each range in the daemon's mapping of guest memory; those before
    /// `at` are used up. (A Linux guest gives one descriptor per page: 256 for 1 MiB; a
    /// metadata request and its reply take one or two each, kept inline.)
    ranges: SmallVec<[(*mut u8, usize); 4]>,
    at: usize,
    /// Ties the pointers to the memory they point into.
    _mem: PhantomData<(&'a GuestMemoryMmap, S)>,
}

/// The readable (request) and writable (reply) sides of `chain`, or None if one of its buffers
/// lies outside `mem`. One pass over the chain; a buffer that spans two regions of guest memory
/// becomes two ranges.
pub fn sides<'a, M>(
    mem: &'a GuestMemoryMmap,
    chain: &DescriptorChain<M>,
) -> Option<(GuestBufs<'a, Readable>, GuestBufs<'a, Writable>)>
where
    M: std::ops::Deref<Target = GuestMemoryMmap> + Clone,
{
    let (mut r, mut w) = (GuestBufs::empty(), GuestBufs::empty());
    for d in chain.clone() {
        let ranges = if d.is_write_only() {
            &mut w.ranges
        } else {
            &mut r.ranges
        };
        for s in mem.get_slices(d.addr(), d.len() as usize) {
            let s = s.ok()?;
            ranges.push((s.ptr_guard_mut().as_ptr(), s.len()));
        }
    }
    Some((r, w))
}

impl<'a, S> GuestBufs<'a, S> {
    fn empty() -> Self {
        GuestBufs {
            ranges: SmallVec::new(),
            at: 0,
            _mem: PhantomData,
        }
    }

    /// The same buffers after their first `n` bytes.
    pub fn after(&self, n: usize) -> Self {
        let mut b = GuestBufs {
            ranges: self.left().iter().copied().collect(),
            at: 0,
            _mem: PhantomData,
        };
        b.advance(n);
        b
    }

    /// Bytes left.
    pub fn len(&self) -> usize {
        self.left().iter().map(|r| r.1).sum()
    }

    fn left(&self) -> &[(*mut u8, usize)] {
        self.ranges.get(self.at..).unwrap_or_default()
    }

    /// Drops the first `n` bytes of the remaining ranges.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(&(p, l)) = self.ranges.get(self.at) else {
                return;
            };
            if n >= l {
                self.at += 1;
                n -= l;
            } else {
                // SAFETY: n < l, so the pointer stays inside the range.
                self.ranges[self.at] = (unsafe { p.add(n) }, l - n);
                n = 0;
            }
        }
    }

    /// The remaining ranges, cut to `count` bytes, as fuse-backend-rs slices.
    fn slices(&self, count: usize) -> Vec<FileVolatileSlice<'a>> {
        let mut left = count;
        let mut v = Vec::new();
        for &(p, l) in self.left() {
            if left == 0 {
                break;
            }
            let n = l.min(left);
            // SAFETY: (p, n) lies inside a descriptor's range of guest memory, mapped for as
            // long as the chain's memory guard lives ('a). The guest may change those bytes
            // at any time: they are only ever accessed as volatile memory by the kernel.
            v.push(unsafe { FileVolatileSlice::from_raw_ptr(p, n) });
            left -= n;
        }
        v
    }

    /// Moves up to `count` bytes between the ranges and the file with `io` (one vectored
    /// call per round) until `count` are done or `io` moves none. An error after some bytes
    /// moved ends the transfer short; only one before any is returned.
    fn transfer(
        &mut self,
        count: usize,
        mut io: impl FnMut(&[FileVolatileSlice<'a>], usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let count = count.min(self.len());
        let mut done = 0;
        while done < count {
            let n = match io(&self.slices(count - done), done) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            self.advance(n);
            done += n;
        }
        Ok(done)
    }
}

impl io::Write for GuestBufs<'_, Writable> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(&(p, l)) = self.left().first() else {
            return Ok(0);
        };
        let n = l.min(data.len());
        // SAFETY: (p, n) lies inside a writable descriptor's range of guest memory, mapped for
        // as long as the chain's memory guard lives ('a; see `slices`).
        let to = unsafe { VolatileSlice::new(p, n) };
        // The guest may touch those bytes at any time: written through vm-memory's volatile
        // accessor, never as a Rust reference.
        to.copy_from(&data[..n]);
        self.advance(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ZeroCopyWriter for GuestBufs<'_, Writable> {
    fn write_from(
        &mut self,
        f: &mut dyn FileReadWriteVolatile,
        count: usize,
        off: u64,
    ) -> io::Result<usize> {
        self.transfer(count, |bufs, done| {
            f.read_vectored_at_volatile(bufs, off + done as u64)
        })
    }

    fn available_bytes(&self) -> usize {
        self.len()
    }
}

impl io::Read for GuestBufs<'_, Readable> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some(&(p, l)) = self.left().first() else {
            return Ok(0);
        };
        let n = l.min(out.len());
        // SAFETY: (p, n) lies inside a readable descriptor's range of guest memory, mapped for
        // as long as the chain's memory guard lives ('a; see `slices`).
        let from = unsafe { VolatileSlice::new(p, n) };
        // The guest may change those bytes meanwhile: read once, through vm-memory's volatile
        // accessor, into the daemon's own buffer (which the decoder then reads).
        let n = from.copy_to(&mut out[..n]);
        self.advance(n);
        Ok(n)
    }
}

impl ZeroCopyReader for GuestBufs<'_, Readable> {
    fn read_to(
        &mut self,
        f: &mut dyn FileReadWriteVolatile,
        count: usize,
        off: u64,
    ) -> io::Result<usize> {
        self.transfer(count, |bufs, done| {
            f.write_vectored_at_volatile(bufs, off + done as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use virtio_queue::{Queue, QueueOwnedT, QueueT};
    use vm_memory::{Bytes, GuestAddress};

    use super::*;

    const DESC: u64 = 0x0;
    const AVAIL: u64 = 0x400;
    const USED: u64 = 0x800;
    const WRITE: u16 = 2;
    const NEXT: u16 = 1;

    /// Two adjacent 64 KiB regions of guest memory.
    fn memory() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x1_0000),
            (GuestAddress(0x1_0000), 0x1_0000),
        ])
        .unwrap()
    }

    /// A ready queue whose one chain is `descs` (address, length, flags), in table order.
    fn queue(mem: &GuestMemoryMmap, descs: &[(u64, u32, u16)]) -> Queue {
        for (i, &(addr, len, flags)) in descs.iter().enumerate() {
            let at = DESC + 16 * i as u64;
            let next = if i + 1 < descs.len() { NEXT } else { 0 };
            mem.write_obj(addr, GuestAddress(at)).unwrap();
            mem.write_obj(len, GuestAddress(at + 8)).unwrap();
            mem.write_obj(flags | next, GuestAddress(at + 12)).unwrap();
            mem.write_obj(i as u16 + 1, GuestAddress(at + 14)).unwrap();
        }
        // avail: flags, idx 1, ring[0] = head 0.
        mem.write_obj(1u16, GuestAddress(AVAIL + 2)).unwrap();
        mem.write_obj(0u16, GuestAddress(AVAIL + 4)).unwrap();
        let mut q = Queue::new(16).unwrap();
        q.set_size(16);
        q.set_desc_table_address(Some(DESC as u32), Some(0));
        q.set_avail_ring_address(Some(AVAIL as u32), Some(0));
        q.set_used_ring_address(Some(USED as u32), Some(0));
        q.set_ready(true);
        assert!(q.is_valid(mem));
        q
    }

    #[test]
    fn sides_split_a_chain_and_follow_buffers_across_regions() {
        let mem = memory();
        mem.write_slice(b"head", GuestAddress(0x2000)).unwrap();
        // The request's second buffer and the reply's first straddle the regions' border.
        mem.write_slice(b"tail-across", GuestAddress(0xfffa))
            .unwrap();
        let mut q = queue(
            &mem,
            &[
                (0x2000, 4, 0),
                (0xfffa, 11, 0),
                (0xfff0, 32, WRITE),
                (0x3000, 8, WRITE),
            ],
        );
        let chain = q.iter(&mem).unwrap().next().unwrap();
        let (mut r, mut w) = sides(&mem, &chain).unwrap();
        assert_eq!((r.len(), w.len()), (15, 40));
        let mut req = Vec::new();
        r.read_to_end(&mut req).unwrap();
        assert_eq!(req, b"headtail-across");

        let reply: Vec<u8> = (0..40).collect();
        let mut rest = w.after(30);
        assert_eq!(rest.len(), 10);
        rest.write_all(&[0xee; 10]).unwrap();
        w.write_all(&reply[..30]).unwrap();
        assert_eq!(
            w.len(),
            10,
            "a view after some bytes leaves the first view as it was"
        );
        assert_eq!(rest.write(&[1]).unwrap(), 0, "the view is full");
        let mut got = [0u8; 40];
        mem.read_slice(&mut got[..32], GuestAddress(0xfff0))
            .unwrap();
        mem.read_slice(&mut got[32..], GuestAddress(0x3000))
            .unwrap();
        assert_eq!(&got[..30], &reply[..30]);
        assert_eq!(&got[30..], &[0xee; 10]);
    }

    #[test]
    fn a_buffer_outside_guest_memory_gives_no_sides() {
        let mem = memory();
        for bad in [
            (0x1_fff0, 32, 0),
            (0x4_0000, 1, WRITE),
            (u64::MAX - 4, 16, 0),
        ] {
            let mut q = queue(&mem, &[(0x2000, 4, 0), bad]);
            let chain = q.iter(&mem).unwrap().next().unwrap();
            assert!(sides(&mem, &chain).is_none(), "{bad:?}");
        }
    }
}
