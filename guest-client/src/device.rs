//! The control plane: a vhost-user frontend that sets a vhost-user-fs daemon up the way QEMU
//! does (features, protocol features, owner, memory table, vrings), then hands out the
//! hiprio queue (index 0) and the request queues.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::debug;
use vhost::vhost_user::message::{
    VhostUserConfigFlags, VhostUserProtocolFeatures, VhostUserVirtioFeatures,
};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VringConfigData};
use virtio_bindings::bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;

use crate::alloc::Allocator;
use crate::error::{Error, Result};
use crate::memory::{GuestMem, GUEST_BASE};
use crate::queue::Queue;
use crate::vring::{Layout, Vring};
use crate::window::{Channel, Window};

/// Length of the tag in the virtio-fs config space.
pub const TAG_LEN: usize = 36;

/// How to set the device up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Guest memory size in bytes.
    pub mem_size: u64,
    /// Entries per queue (a power of two).
    pub queue_size: u16,
    /// Request queues wanted (at least 1; fewer if the daemon offers fewer).
    pub request_queues: usize,
    /// How long to wait for the socket to appear and accept.
    pub connect_timeout: Duration,
    /// Negotiate VIRTIO_RING_F_EVENT_IDX when offered.
    pub event_idx: bool,
    /// Set up the DAX cache window when the daemon offers one (VHOST_USER_PROTOCOL_F_SHMEM):
    /// negotiate the backend channel, ask GET_SHMEM_CONFIG, reserve the window and serve the
    /// daemon's SHMEM_MAP/UNMAP on it.
    pub dax: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mem_size: 128 << 20,
            queue_size: 256,
            request_queues: 1,
            connect_timeout: Duration::from_secs(10),
            event_idx: true,
            dax: true,
        }
    }
}

/// A vhost-user-fs device, set up and running.
pub struct Device {
    // Dropped first: closing the socket is what tells the daemon we are gone.
    frontend: Frontend,
    queues: Vec<Queue>,
    mem: Arc<GuestMem>,
    alloc: Arc<Mutex<Allocator>>,
    features: u64,
    protocol_features: VhostUserProtocolFeatures,
    tag: Option<String>,
    window: Option<Arc<Window>>,
    /// The thread serving the window's backend channel (stopped on drop).
    _channel: Option<Channel>,
}

/// Connects to `path`, retrying while it does not exist or refuses, until `timeout`.
pub fn connect_socket(path: &Path, timeout: Duration) -> Result<UnixStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) => {
                debug!("connect {}: {e}", path.display());
                if Instant::now() >= deadline {
                    return Err(Error::NoSocket(path.display().to_string()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn parse_config(cfg: &[u8]) -> (Option<String>, Option<u32>) {
    let tag = cfg.get(..TAG_LEN).map(|t| {
        let end = t.iter().position(|&b| b == 0).unwrap_or(TAG_LEN);
        String::from_utf8_lossy(&t[..end]).into_owned()
    });
    let nrq = cfg
        .get(TAG_LEN..TAG_LEN + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    (tag.filter(|t| !t.is_empty()), nrq)
}

/// The daemon's shared memory region 0 (the cache window), reserved; None if it has none.
fn cache_window(fe: &mut Frontend) -> Result<Option<Arc<Window>>> {
    let cfg = fe.get_shmem_config()?;
    if cfg.nregions == 0 {
        return Ok(None);
    }
    if cfg.nregions as usize > cfg.memory_sizes.len() {
        return Err(Error::BadReply(format!(
            "{} shared memory regions",
            cfg.nregions
        )));
    }
    Window::new(cfg.memory_sizes[0]).map(|w| Some(Arc::new(w)))
}

impl Device {
    /// Connects to the daemon's socket at `path` and sets the device up.
    pub fn connect(path: &Path, opts: &Options) -> Result<Self> {
        let stream = connect_socket(path, opts.connect_timeout)?;
        Self::from_stream(stream, opts)
    }

    /// Sets the device up over an already connected socket.
    pub fn from_stream(stream: UnixStream, opts: &Options) -> Result<Self> {
        if opts.request_queues == 0 {
            return Err(Error::InvalidRequest("at least one request queue".into()));
        }
        let sock = stream.as_raw_fd();
        let mut fe = Frontend::from_stream(stream, 1 + opts.request_queues as u64);
        fe.set_owner()?;
        let offered = fe.get_features()?;
        let proto_bit = VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits();
        if offered & (1 << VIRTIO_F_VERSION_1) == 0 {
            return Err(Error::Unsupported("VIRTIO_F_VERSION_1"));
        }
        if offered & proto_bit == 0 {
            return Err(Error::Unsupported("VHOST_USER_F_PROTOCOL_FEATURES"));
        }
        let pf_offered = fe.get_protocol_features()?;
        let mut want = VhostUserProtocolFeatures::CONFIG | VhostUserProtocolFeatures::MQ;
        let dax = VhostUserProtocolFeatures::SHMEM | VhostUserProtocolFeatures::BACKEND_REQ;
        if opts.dax && pf_offered.contains(dax) {
            want |= dax
                | VhostUserProtocolFeatures::BACKEND_SEND_FD
                | VhostUserProtocolFeatures::REPLY_ACK;
        }
        let pf = pf_offered & want;
        fe.set_protocol_features(pf)?;
        let (window, channel) = if pf.contains(dax) {
            match cache_window(&mut fe)? {
                Some(w) => {
                    let (ch, tx) = Channel::start(Arc::clone(&w))?;
                    fe.set_backend_request_fd(&tx)?;
                    (Some(w), Some(ch))
                }
                None => (None, None),
            }
        } else {
            (None, None)
        };
        let mut queues_offered = 2u64;
        if pf.contains(VhostUserProtocolFeatures::MQ) {
            queues_offered = fe.get_queue_num()?;
        }
        let (mut tag, mut nrq) = (None, None);
        if pf.contains(VhostUserProtocolFeatures::CONFIG) {
            let size = (TAG_LEN + 4) as u32;
            let (_, cfg) =
                fe.get_config(0, size, VhostUserConfigFlags::empty(), &[0; TAG_LEN + 4])?;
            (tag, nrq) = parse_config(&cfg);
        }
        let mut n = opts
            .request_queues
            .min(usize::try_from(queues_offered.saturating_sub(1)).unwrap_or(usize::MAX));
        if let Some(nrq) = nrq.filter(|&v| v > 0) {
            n = n.min(nrq as usize);
        }
        if n == 0 {
            return Err(Error::Unsupported("a request queue"));
        }
        let mut acked = offered & ((1 << VIRTIO_F_VERSION_1) | proto_bit);
        if opts.event_idx {
            acked |= offered & (1 << VIRTIO_RING_F_EVENT_IDX);
        }
        fe.set_features(acked)?;
        let event_idx = acked & (1 << VIRTIO_RING_F_EVENT_IDX) != 0;

        let mem = Arc::new(GuestMem::new(opts.mem_size)?);
        fe.set_mem_table(&[mem.region_info()])?;

        // Rings first, 4 KiB aligned, then the buffer arena.
        let mut layouts = Vec::new();
        let mut next = GUEST_BASE;
        for _ in 0..=n {
            let (l, end) = Layout::at(next, opts.queue_size);
            layouts.push(l);
            next = (end + 4095) & !4095;
        }
        if next >= GUEST_BASE + mem.size() {
            return Err(Error::Memory("guest memory too small for the rings".into()));
        }
        let alloc = Arc::new(Mutex::new(Allocator::new(next, GUEST_BASE + mem.size())));
        let mut queues = Vec::new();
        for (i, l) in layouts.into_iter().enumerate() {
            let ring = Vring::new(&mem, l, event_idx)?;
            let q = Queue::new(i, mem.clone(), alloc.clone(), ring, sock)?;
            start_queue(&mut fe, &mem, &q, 0)?;
            queues.push(q);
        }
        // A round trip: the daemon has handled every message above once this returns.
        fe.get_features()?;
        debug!("device up: features {acked:#x}, protocol {pf:?}, {n} request queues, tag {tag:?}");
        Ok(Device {
            frontend: fe,
            queues,
            mem,
            alloc,
            features: acked,
            protocol_features: pf,
            tag,
            window,
            _channel: channel,
        })
    }

    /// The DAX cache window, if the daemon offered one.
    /// Stops queue `index` and starts it again where it stopped, as a VMM does around a
    /// `stop`/`cont` or a migration: GET_VRING_BASE, then the SET_VRING_* messages again with
    /// the same rings and eventfds. Returns the base the daemon reported. Collect every request
    /// in flight on the queue first.
    pub fn restart_queue(&self, index: usize) -> Result<u16> {
        let q = self.queue(index).ok_or(Error::Unsupported("that queue"))?;
        if q.in_flight() > 0 {
            return Err(Error::InvalidRequest(format!(
                "queue {index} has requests in flight"
            )));
        }
        // A handle on the same connection (the frontend is shared and locked per message).
        let mut fe = self.frontend.clone();
        let base = fe.get_vring_base(index)?;
        let base = u16::try_from(base)
            .map_err(|_| Error::BadReply(format!("vring base {base} out of range")))?;
        start_queue(&mut fe, &self.mem, q, base)?;
        // A round trip: the daemon has handled the messages above once this returns.
        fe.get_features()?;
        Ok(base)
    }

    pub fn window(&self) -> Option<&Arc<Window>> {
        self.window.as_ref()
    }

    /// The hiprio queue (FORGET, BATCH_FORGET, INTERRUPT).
    pub fn hiprio(&self) -> &Queue {
        &self.queues[0]
    }

    /// Request queue `i` (0-based; wraps around the number of request queues).
    pub fn request_queue(&self, i: usize) -> &Queue {
        &self.queues[1 + i % (self.queues.len() - 1)]
    }

    /// Queue by vring index (0 is hiprio).
    pub fn queue(&self, index: usize) -> Option<&Queue> {
        self.queues.get(index)
    }

    /// Number of request queues set up.
    pub fn request_queues(&self) -> usize {
        self.queues.len() - 1
    }

    /// The tag from the config space, if the daemon offers VHOST_USER_PROTOCOL_F_CONFIG and
    /// has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Acked virtio features.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Acked protocol features.
    pub fn protocol_features(&self) -> VhostUserProtocolFeatures {
        self.protocol_features
    }

    /// Guest memory.
    pub fn memory(&self) -> &GuestMem {
        &self.mem
    }

    /// Free bytes in the buffer arena.
    pub fn free_buffer_bytes(&self) -> u64 {
        self.alloc.lock().map(|a| a.free_bytes()).unwrap_or(0)
    }

    /// The vhost-user frontend, for messages this type does not wrap.
    pub fn frontend(&mut self) -> &mut Frontend {
        &mut self.frontend
    }
}

/// Gives queue `q` to the daemon: its size, first avail index `base`, rings and eventfds, and
/// enables it.
fn start_queue(fe: &mut Frontend, mem: &GuestMem, q: &Queue, base: u16) -> Result<()> {
    let (i, l) = (q.index(), q.layout());
    fe.set_vring_num(i, l.size)?;
    fe.set_vring_base(i, base)?;
    fe.set_vring_addr(
        i,
        &VringConfigData {
            queue_max_size: l.size,
            queue_size: l.size,
            flags: 0,
            desc_table_addr: mem.host_addr(l.desc),
            used_ring_addr: mem.host_addr(l.used),
            avail_ring_addr: mem.host_addr(l.avail),
            log_addr: None,
        },
    )?;
    fe.set_vring_call(i, q.call_fd())?;
    fe.set_vring_kick(i, q.kick_fd())?;
    fe.set_vring_enable(i, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_space_parses() {
        let mut cfg = vec![0u8; 40];
        cfg[..5].copy_from_slice(b"share");
        cfg[36..].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(parse_config(&cfg), (Some("share".into()), Some(3)));
        assert_eq!(parse_config(&[0u8; 40]), (None, Some(0)));
        assert_eq!(
            parse_config(&[b'x'; 10]),
            (None, None),
            "short config is ignored"
        );
        let full = [b'a'; 40];
        assert_eq!(
            parse_config(&full).0.unwrap().len(),
            36,
            "tag without a NUL"
        );
    }
}
