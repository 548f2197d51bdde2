//! A descriptor chain's buffers in guest memory as fuse-backend-rs's zero-copy traits: READ data
//! goes from the file straight into the guest's reply buffers (a preadv into the mapped
//! descriptors) and WRITE data straight from the guest's request buffers into the file (a
//! pwritev), without passing through a daemon buffer.

use std::io;
use std::marker::PhantomData;

use fuse_backend_rs::api::filesystem::{ZeroCopyReader, ZeroCopyWriter};
use fuse_backend_rs::file_buf::FileVolatileSlice;
use fuse_backend_rs::file_traits::FileReadWriteVolatile;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::DescriptorChain;
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap};

/// The device-writable buffers of a chain (where replies go).
pub struct Writable;
/// The device-readable buffers of a chain (where requests come from).
pub struct Readable;

/// One side of a descriptor chain, from some offset on.
pub struct GuestBufs<'a, S> {
    /// (start, length) of each range in the daemon's mapping of guest memory; those before
    /// `at` are used up. (A Linux guest gives one descriptor per page: 256 for 1 MiB.)
    ranges: Vec<(*mut u8, usize)>,
    at: usize,
    /// Ties the pointers to the memory they point into.
    _mem: PhantomData<(&'a GuestMemoryMmap, S)>,
}

/// Which side of a chain a [`GuestBufs`] covers.
pub trait Side {
    /// That side's descriptors.
    fn descs<M>(chain: DescriptorChain<M>) -> impl Iterator<Item = Descriptor>
    where
        M: std::ops::Deref<Target = GuestMemoryMmap> + Clone;
}

impl Side for Writable {
    fn descs<M>(chain: DescriptorChain<M>) -> impl Iterator<Item = Descriptor>
    where
        M: std::ops::Deref<Target = GuestMemoryMmap> + Clone,
    {
        chain.writable()
    }
}

impl Side for Readable {
    fn descs<M>(chain: DescriptorChain<M>) -> impl Iterator<Item = Descriptor>
    where
        M: std::ops::Deref<Target = GuestMemoryMmap> + Clone,
    {
        chain.readable()
    }
}

impl<'a, S: Side> GuestBufs<'a, S> {
    /// The `S` side of `chain` after its first `skip` bytes, or None if one of its buffers is
    /// not a single range of `mem` (the caller then copies through a buffer).
    pub fn of<M>(
        mem: &'a GuestMemoryMmap,
        chain: &DescriptorChain<M>,
        mut skip: usize,
    ) -> Option<Self>
    where
        M: std::ops::Deref<Target = GuestMemoryMmap> + Clone,
    {
        let mut ranges = Vec::new();
        for d in S::descs(chain.clone()) {
            let len = d.len() as usize;
            let s = mem.get_slice(d.addr(), len).ok()?;
            let ptr = s.ptr_guard_mut().as_ptr();
            if skip >= len {
                skip -= len;
                continue;
            }
            // SAFETY: `skip` < len, so the pointer stays inside the slice just obtained.
            ranges.push((unsafe { ptr.add(skip) }, len - skip));
            skip = 0;
        }
        Some(GuestBufs {
            ranges,
            at: 0,
            _mem: PhantomData,
        })
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
        // SAFETY: (p, n) lies inside a writable descriptor's mapped range (see `slices`); the
        // source is a distinct daemon buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, n) };
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
        // SAFETY: (p, n) lies inside a readable descriptor's mapped range (see `slices`); the
        // destination is a distinct daemon buffer.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), n) };
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
