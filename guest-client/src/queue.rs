//! One virtqueue as the driver uses it: descriptor chains built from [`Seg`]s with buffers in
//! guest memory, the kick and call eventfds, and completions matched to submissions. Several
//! chains may be in flight; any thread may wait for any of them.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vmm_sys_util::eventfd::EventFd;

use crate::alloc::Allocator;
use crate::error::{Error, Result};
use crate::memory::GuestMem;
use crate::vring::{Desc, Layout, Vring};

/// One descriptor of a chain, as the raw API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A device-readable descriptor holding exactly these bytes.
    In(Vec<u8>),
    /// A device-readable descriptor that claims `len` bytes; its buffer holds `data` followed
    /// by zeroes (`len` may also be shorter than `data`: the descriptor then cuts it).
    InLen {
        /// Bytes written at the start of the buffer.
        data: Vec<u8>,
        /// Length the descriptor claims.
        len: u32,
    },
    /// A device-writable descriptor of `len` bytes.
    Out(u32),
    /// A descriptor with any address, length and direction, with no buffer behind it (for
    /// example outside guest memory).
    Forged {
        /// Guest address.
        addr: u64,
        /// Claimed length.
        len: u32,
        /// Device-writable?
        writable: bool,
    },
}

/// What the device did with a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The used length the device reported.
    pub used_len: u32,
    /// The first `min(used_len, writable bytes)` bytes of the writable buffers, in order.
    pub data: Vec<u8>,
    /// Total length of the chain's writable buffers (forged ones included).
    pub writable_len: u64,
}

impl Completion {
    /// Whether the device claimed to write more than the chain offered.
    pub fn overflow(&self) -> bool {
        u64::from(self.used_len) > self.writable_len
    }
}

/// A submitted chain, to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// Queue index.
    pub queue: usize,
    /// Head descriptor.
    pub head: u16,
}

#[derive(Debug)]
struct InFlight {
    descs: Vec<u16>,
    /// (address, length) of the allocated buffers.
    bufs: Vec<(u64, u64)>,
    /// (address, length) of writable buffers backed by memory, and forged ones as None.
    writable: Vec<Option<(u64, u32)>>,
    writable_len: u64,
}

#[derive(Debug)]
struct State {
    ring: Vring,
    inflight: HashMap<u16, InFlight>,
    /// Heads the device returned, with their used length, not yet collected.
    done: HashMap<u16, u32>,
    /// Heads whose waiter gave up: freed as soon as they come back.
    abandoned: HashSet<u16>,
    /// Set once the device broke the ring protocol.
    broken: Option<String>,
    /// Whether a waiter is polling the call eventfd (the others wait on `reaped`).
    polling: bool,
}

/// A virtqueue of the device.
pub struct Queue {
    index: usize,
    mem: Arc<GuestMem>,
    alloc: Arc<Mutex<Allocator>>,
    state: Mutex<State>,
    /// Signalled whenever the polling waiter has looked at the ring.
    reaped: Condvar,
    kick: EventFd,
    call: EventFd,
    /// The vhost-user socket, watched for hang-up while waiting.
    sock: RawFd,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

const POLL_SLICE: Duration = Duration::from_millis(20);

impl Queue {
    pub(crate) fn new(
        index: usize,
        mem: Arc<GuestMem>,
        alloc: Arc<Mutex<Allocator>>,
        ring: Vring,
        sock: RawFd,
    ) -> Result<Self> {
        let kick = EventFd::new(libc::EFD_NONBLOCK).map_err(Error::io("eventfd"))?;
        let call = EventFd::new(libc::EFD_NONBLOCK).map_err(Error::io("eventfd"))?;
        Ok(Queue {
            index,
            mem,
            alloc,
            state: Mutex::new(State {
                ring,
                inflight: HashMap::new(),
                done: HashMap::new(),
                abandoned: HashSet::new(),
                broken: None,
                polling: false,
            }),
            reaped: Condvar::new(),
            kick,
            call,
            sock,
        })
    }

    pub(crate) fn kick_fd(&self) -> &EventFd {
        &self.kick
    }

    pub(crate) fn call_fd(&self) -> &EventFd {
        &self.call
    }

    /// Where its rings are.
    pub(crate) fn layout(&self) -> Layout {
        lock(&self.state).ring.layout()
    }

    /// The queue's index (0 is hiprio).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Chains submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        lock(&self.state).inflight.len()
    }

    fn free_bufs(&self, bufs: &[(u64, u64)]) {
        let mut a = lock(&self.alloc);
        for &(addr, len) in bufs {
            a.free(addr, len);
        }
    }

    /// Publishes `idx` as the ring's available index (None: the driver's own again) and
    /// kicks, whatever the device asked: what a broken or hostile driver does.
    pub fn kick_with_avail_idx(&self, idx: Option<u16>) -> Result<()> {
        lock(&self.state).ring.publish_avail_idx(&self.mem, idx)?;
        self.kick.write(1).map_err(Error::io("kick"))
    }

    /// The driver's own available index (how many chains it has published, wrapping).
    pub fn avail_idx(&self) -> u16 {
        lock(&self.state).ring.avail_idx()
    }

    /// Writes the chain into guest memory, publishes it and kicks if the device asks.
    pub fn submit(&self, segs: &[Seg]) -> Result<Ticket> {
        let mut bufs = Vec::new();
        let r = self.place(segs, &mut bufs);
        let (descs, writable, writable_len) = match r {
            Ok(v) => v,
            Err(e) => {
                self.free_bufs(&bufs);
                return Err(e);
            }
        };
        let mut st = lock(&self.state);
        if let Some(why) = &st.broken {
            let why = why.clone();
            drop(st);
            self.free_bufs(&bufs);
            return Err(Error::Ring(why));
        }
        let idx = match st.ring.add(&self.mem, &descs) {
            Ok(i) => i,
            Err(e) => {
                drop(st);
                self.free_bufs(&bufs);
                return Err(e);
            }
        };
        let head = idx[0];
        st.inflight.insert(
            head,
            InFlight {
                descs: idx,
                bufs,
                writable,
                writable_len,
            },
        );
        if st.ring.needs_kick(&self.mem)? {
            self.kick.write(1).map_err(Error::io("kick"))?;
        }
        Ok(Ticket {
            queue: self.index,
            head,
        })
    }

    #[allow(clippy::type_complexity)]
    fn place(
        &self,
        segs: &[Seg],
        bufs: &mut Vec<(u64, u64)>,
    ) -> Result<(Vec<Desc>, Vec<Option<(u64, u32)>>, u64)> {
        let mut descs = Vec::with_capacity(segs.len());
        let mut writable = Vec::new();
        let mut writable_len = 0u64;
        let mut alloc = |len: u64| -> Result<u64> {
            let a = lock(&self.alloc)
                .alloc(len)
                .ok_or(Error::QueueFull("guest memory for buffers"))?;
            bufs.push((a, len));
            Ok(a)
        };
        for s in segs {
            match s {
                Seg::In(data) => {
                    let len = u32::try_from(data.len())
                        .map_err(|_| Error::InvalidRequest("segment over 4 GiB".into()))?;
                    let a = alloc(data.len() as u64)?;
                    self.mem.write(a, data)?;
                    descs.push(Desc {
                        addr: a,
                        len,
                        writable: false,
                    });
                }
                Seg::InLen { data, len } => {
                    let a = alloc((data.len() as u64).max(u64::from(*len)))?;
                    self.mem.write(a, data)?;
                    let pad = (*len as usize).saturating_sub(data.len());
                    if pad > 0 {
                        self.mem.write(a + data.len() as u64, &vec![0u8; pad])?;
                    }
                    descs.push(Desc {
                        addr: a,
                        len: *len,
                        writable: false,
                    });
                }
                Seg::Out(len) => {
                    let a = alloc(u64::from(*len))?;
                    descs.push(Desc {
                        addr: a,
                        len: *len,
                        writable: true,
                    });
                    writable.push(Some((a, *len)));
                    writable_len += u64::from(*len);
                }
                Seg::Forged {
                    addr,
                    len,
                    writable: w,
                } => {
                    descs.push(Desc {
                        addr: *addr,
                        len: *len,
                        writable: *w,
                    });
                    if *w {
                        writable.push(None);
                        writable_len += u64::from(*len);
                    }
                }
            }
        }
        Ok((descs, writable, writable_len))
    }

    /// Moves whatever the device returned into `done`; frees abandoned chains.
    fn reap(&self, st: &mut State) -> Result<()> {
        if let Some(why) = &st.broken {
            return Err(Error::Ring(why.clone()));
        }
        let size = st.ring.layout().size;
        if st.ring.pending_used(&self.mem)? > size {
            st.broken = Some("used index ran ahead of the queue size".into());
        }
        while st.broken.is_none() {
            let Some((id, len)) = st.ring.pop_used(&self.mem)? else {
                break;
            };
            let head = match u16::try_from(id) {
                Ok(h) if st.inflight.contains_key(&h) && !st.done.contains_key(&h) => h,
                _ => {
                    st.broken = Some(format!("used id {id} is not a chain in flight"));
                    break;
                }
            };
            if st.abandoned.remove(&head) {
                if let Some(f) = st.inflight.remove(&head) {
                    st.ring.recycle(&f.descs);
                    self.free_bufs(&f.bufs);
                }
            } else {
                st.done.insert(head, len);
            }
        }
        match &st.broken {
            Some(why) => Err(Error::Ring(why.clone())),
            None => Ok(()),
        }
    }

    fn collect(&self, st: &mut State, head: u16, used_len: u32) -> Result<Completion> {
        let f = st
            .inflight
            .remove(&head)
            .ok_or_else(|| Error::Ring(format!("head {head} not in flight")))?;
        st.ring.recycle(&f.descs);
        let mut want = u64::from(used_len).min(f.writable_len);
        let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let mut res = Ok(());
        for w in &f.writable {
            if want == 0 {
                break;
            }
            match w {
                Some((addr, len)) => {
                    let n = want.min(u64::from(*len));
                    let start = data.len();
                    data.resize(start + n as usize, 0);
                    if let Err(e) = self.mem.read(*addr, &mut data[start..]) {
                        res = Err(e);
                        break;
                    }
                    want -= n;
                }
                // A forged writable descriptor has nothing to read back: stop there.
                None => break,
            }
        }
        self.free_bufs(&f.bufs);
        res?;
        Ok(Completion {
            used_len,
            data,
            writable_len: f.writable_len,
        })
    }

    /// Waits until the device returns `t`'s chain, or `timeout` passes, or the daemon hangs up.
    ///
    /// One waiter at a time polls the call eventfd and reaps for everyone; the others sleep on
    /// a condition variable and are woken after each reap, so no completion waits for a poll
    /// slice because another thread drained the eventfd.
    pub fn wait(&self, t: Ticket, timeout: Duration) -> Result<Completion> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            self.reap(&mut st)?;
            if let Some(len) = st.done.remove(&t.head) {
                return self.collect(&mut st, t.head, len);
            }
            if !st.inflight.contains_key(&t.head) {
                return Err(Error::InvalidRequest(format!(
                    "no chain {} in flight",
                    t.head
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                st.abandoned.insert(t.head);
                return Err(Error::Timeout(timeout));
            }
            let slice = (deadline - now).min(POLL_SLICE);
            if st.polling {
                st = self
                    .reaped
                    .wait_timeout(st, slice)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
            st.polling = true;
            drop(st);
            let ev = self.poll(slice);
            st = lock(&self.state);
            st.polling = false;
            self.reaped.notify_all();
            match ev? {
                Event::Call | Event::Nothing => {}
                Event::HangUp => {
                    // One last look: the reply may have come before the hang-up.
                    self.reap(&mut st)?;
                    if let Some(len) = st.done.remove(&t.head) {
                        return self.collect(&mut st, t.head, len);
                    }
                    st.abandoned.insert(t.head);
                    return Err(Error::Disconnected);
                }
            }
        }
    }

    fn poll(&self, d: Duration) -> Result<Event> {
        let mut fds = [
            libc::pollfd {
                fd: self.call.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.sock,
                events: libc::POLLRDHUP,
                revents: 0,
            },
        ];
        let ms = i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(Event::Nothing);
            }
            return Err(Error::io("poll")(e));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // Another waiter may have drained it already: EAGAIN is fine.
            let _ = self.call.read();
            return Ok(Event::Call);
        }
        if fds[1].revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            return Ok(Event::HangUp);
        }
        Ok(Event::Nothing)
    }
}

enum Event {
    Call,
    HangUp,
    Nothing,
}

#[cfg(test)]
mod tests;
