//! Guest reply buffers as fuse-backend-rs's `ZeroCopyWriter`: READ data goes from the file
//! straight into the guest's memory (a preadv into the mapped descriptors), without passing
//! through a daemon buffer.

use std::io;

use fuse_backend_rs::api::filesystem::ZeroCopyWriter;
use fuse_backend_rs::file_buf::FileVolatileSlice;
use fuse_backend_rs::file_traits::FileReadWriteVolatile;
use virtio_queue::DescriptorChain;
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap};

/// The writable part of one descriptor chain, from some offset on.
pub struct GuestWriter<'a> {
    /// (start, length) of each remaining writable range in the daemon's mapping of guest
    /// memory.
    ranges: Vec<(*mut u8, usize)>,
    /// Ties the pointers to the memory they point into.
    _mem: std::marker::PhantomData<&'a GuestMemoryMmap>,
}

impl<'a> GuestWriter<'a> {
    /// The writable descriptors of `chain` after their first `skip` bytes, or None if one of
    /// them is not a single range of `mem` (the caller then copies through a buffer).
    pub fn new<M>(mem: &'a GuestMemoryMmap, chain: &DescriptorChain<M>, skip: usize) -> Option<Self>
    where
        M: std::ops::Deref<Target = GuestMemoryMmap> + Clone,
    {
        let mut ranges = Vec::new();
        let mut skip = skip;
        for d in chain.clone().writable() {
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
        Some(GuestWriter {
            ranges,
            _mem: std::marker::PhantomData,
        })
    }

    /// Drops the first `n` bytes of the remaining ranges.
    fn advance(&mut self, mut n: usize) {
        while n > 0 && !self.ranges.is_empty() {
            let (p, l) = self.ranges[0];
            if n >= l {
                self.ranges.remove(0);
                n -= l;
            } else {
                // SAFETY: n < l, so the pointer stays inside the range.
                self.ranges[0] = (unsafe { p.add(n) }, l - n);
                n = 0;
            }
        }
    }

    /// The remaining ranges, cut to `count` bytes, as fuse-backend-rs slices.
    fn slices(&self, count: usize) -> Vec<FileVolatileSlice<'a>> {
        let mut left = count;
        let mut v = Vec::new();
        for &(p, l) in &self.ranges {
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
}

impl io::Write for GuestWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(&(p, l)) = self.ranges.first() else {
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

impl ZeroCopyWriter for GuestWriter<'_> {
    fn write_from(
        &mut self,
        f: &mut dyn FileReadWriteVolatile,
        count: usize,
        off: u64,
    ) -> io::Result<usize> {
        let count = count.min(self.available_bytes());
        let mut done = 0;
        while done < count {
            let bufs = self.slices(count - done);
            let n = f.read_vectored_at_volatile(&bufs, off + done as u64)?;
            if n == 0 {
                break;
            }
            self.advance(n);
            done += n;
        }
        Ok(done)
    }

    fn available_bytes(&self) -> usize {
        self.ranges.iter().map(|r| r.1).sum()
    }
}
