//! The vhost-user-fs device: queues, features, config space, and the request loop that moves
//! descriptor chains between guest memory and the FUSE [`Server`].

use std::io;
use std::ops::ControlFlow;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use log::error;
use smallvec::SmallVec;
use vhost::vhost_user::message::{
    VhostUserProtocolFeatures, VhostUserShMemConfig, VhostUserVirtioFeatures,
};
use vhost::vhost_user::Backend as BackendReq;
use vhost_user_backend::{VhostUserBackend, VhostUserDaemon, VringEpollHandler, VringT};
use virtio_bindings::bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::bindings::virtio_ring::{
    VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC,
};
use virtio_queue::QueueOwnedT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;

use super::kick::{FsVring, KickPoll};
use super::park::Held;
use super::pool::Pool;
use ferry_server::session::{Backend, Server};
use ferry_server::transport::chain::{serve_chain, serve_or_hold, Chain, Mem};
use ferry_server::transport::shmem::ShmemWindow;

/// Chains a queue thread serves before it puts them on the used ring.
const COMPLETE_BATCH: usize = 64;

/// Length of the tag field in the virtio-fs config space.
pub const TAG_LEN: usize = 36;
/// Largest queue the device accepts (virtiofsd's value; QEMU asks for at most 1024).
const MAX_QUEUE_SIZE: usize = 32768;

/// Device settings the VMM sees.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Request queues offered (the hiprio queue comes on top).
    pub request_queues: usize,
    /// Tag announced through the config space (VHOST_USER_PROTOCOL_F_CONFIG), if any.
    pub tag: Option<String>,
    /// Worker threads; 0 handles requests on the queue threads.
    pub thread_pool_size: usize,
}

/// The vhost-user-fs backend. Serve it through [`FsDevice::into_daemon`], which tells it where
/// its queue threads wait for kicks.
pub struct FsDevice<F: Backend + 'static> {
    server: Arc<Server<F>>,
    cfg: DeviceConfig,
    mem: RwLock<Option<Mem>>,
    event_idx: AtomicBool,
    pool: Option<Pool>,
    /// The DAX cache window, whose SHMEM_MAP/UNMAP go through that channel.
    window: Option<Arc<ShmemWindow>>,
    /// The queue threads' epolls, by thread, where the kick eventfds go (see [`FsVring`]).
    threads: OnceLock<Vec<Weak<Handler<F>>>>,
    /// Where the agent's READs wait for host changes (when the server has an agent node).
    held: Option<Arc<Held<F>>>,
}

/// A queue thread of vhost-user-backend, serving an [`FsDevice`].
type Handler<F> = VringEpollHandler<Arc<FsDevice<F>>>;

/// A queue's kick eventfd in its thread's epoll, reported to the device as `event`.
struct ThreadPoll<F: Backend + 'static> {
    thread: Weak<Handler<F>>,
    event: u64,
}

impl<F: Backend + 'static> ThreadPoll<F> {
    fn thread(&self) -> io::Result<Arc<Handler<F>>> {
        self.thread
            .upgrade()
            .ok_or_else(|| io::Error::other("queue thread gone"))
    }
}

/// Kicks wake the queue thread once each, and are never read.
const KICK_EVENTS: EventSet = EventSet::IN.union(EventSet::EDGE_TRIGGERED);

impl<F: Backend + 'static> KickPoll for ThreadPoll<F> {
    fn add(&self, fd: RawFd) -> io::Result<()> {
        self.thread()?
            .register_listener(fd, KICK_EVENTS, self.event)
    }

    fn del(&self, fd: RawFd) -> io::Result<()> {
        self.thread()?
            .unregister_listener(fd, KICK_EVENTS, self.event)
    }
}

impl<F: Backend + 'static> FsDevice<F> {
    pub fn new(server: Arc<Server<F>>, cfg: DeviceConfig) -> io::Result<Self> {
        if let Some(t) = &cfg.tag {
            if t.is_empty() || t.len() > TAG_LEN {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tag must be 1 to {TAG_LEN} bytes"),
                ));
            }
        }
        let pool = (cfg.thread_pool_size > 0).then(|| Pool::new(cfg.thread_pool_size));
        let held = match server.has_agent() {
            true => Some(Held::start(Arc::clone(&server))?),
            false => None,
        };
        Ok(FsDevice {
            server,
            cfg,
            mem: RwLock::new(None),
            event_idx: AtomicBool::new(false),
            pool,
            window: None,
            threads: OnceLock::new(),
            held,
        })
    }

    /// The vhost-user daemon serving this device, its queue threads known to the device.
    pub fn into_daemon(
        self: Arc<Self>,
        name: &str,
    ) -> Result<VhostUserDaemon<Arc<Self>>, vhost_user_backend::Error> {
        let daemon = VhostUserDaemon::new(
            name.to_string(),
            Arc::clone(&self),
            GuestMemoryAtomic::new(GuestMemoryMmap::new()),
        )?;
        let threads = daemon
            .get_epoll_handlers()
            .iter()
            .map(Arc::downgrade)
            .collect();
        // A fresh device: nothing has set it.
        let _ = self.threads.set(threads);
        Ok(daemon)
    }

    /// The event a kick of the thread's `q`-th queue reports: past the crate's own events
    /// (its queues, then its exit event).
    fn kick_event(&self, q: usize) -> usize {
        self.num_queues() + 1 + q
    }

    /// Where thread `thread`'s `q`-th queue is kicked.
    fn kick_poll(&self, thread: usize, q: usize) -> Option<Box<dyn KickPoll>> {
        let Some(t) = self.threads.get().and_then(|t| t.get(thread)) else {
            error!("queue thread {thread} unknown: its kicks are lost (FsDevice::into_daemon)");
            return None;
        };
        Some(Box::new(ThreadPoll {
            thread: Weak::clone(t),
            event: self.kick_event(q) as u64,
        }))
    }

    /// Offers `window` to the VMM as shared memory region 0 (VHOST_USER_PROTOCOL_F_SHMEM).
    /// The server must map through the same window.
    pub fn with_window(mut self, window: Arc<ShmemWindow>) -> Self {
        self.window = Some(window);
        self
    }

    /// A ring the driver left in a state no chain can be taken from (an available index more
    /// than a queue's worth ahead of the device's): nothing is served now, and notifications
    /// are turned back on so that the driver's next kick, once it has put the ring right, is
    /// heard. Without that, a device that had turned them off stays deaf to the queue for
    /// good. Logged once per daemon: the driver can repeat it at will.
    fn bad_ring(vring: &FsVring, e: &virtio_queue::Error) -> io::Result<()> {
        static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !LOGGED.swap(true, Ordering::Relaxed) {
            log::warn!("queue skipped until the driver kicks again: {e}");
        }
        vring.enable_notification().map_err(io::Error::other)?;
        Ok(())
    }

    /// Serves `chain`, popped from queue `q`, and returns its used length; or None if the
    /// agent's long poll holds it (see [`super::park`]).
    fn serve_popped(
        server: &Server<F>,
        held: Option<&Held<F>>,
        vring: &FsVring,
        q: usize,
        chain: Chain,
    ) -> Option<u32> {
        let Some(h) = held.filter(|_| server.agent_attached()) else {
            return Some(serve_chain(server, chain));
        };
        let chain = match serve_or_hold(server, chain, true) {
            Ok(used) => return Some(used),
            Err(chain) => chain,
        };
        match h.hold(vring, q, chain) {
            Ok(()) => None,
            Err(chain) => Some(serve_chain(server, chain)),
        }
    }

    fn process_queue(&self, vring: &FsVring, q: usize) -> io::Result<()> {
        let Some(mem) = self
            .mem
            .read()
            .map_err(|_| io::Error::other("poisoned"))?
            .clone()
        else {
            return Err(io::Error::other("request before SET_MEM_TABLE"));
        };
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        super::serve_until_empty(vring, event_idx, || {
            match &self.pool {
                Some(pool) => {
                    // The queue's lock is let go before a bad ring is dealt with.
                    let popped = (vring.get_mut().get_queue_mut())
                        .iter(mem.memory())
                        .map(|it| it.collect::<Vec<Chain>>());
                    let chains = match popped {
                        Ok(chains) => chains,
                        Err(e) => return Self::bad_ring(vring, &e).map(ControlFlow::Break),
                    };
                    for chain in chains {
                        let server = Arc::clone(&self.server);
                        let held = self.held.clone();
                        let vring = vring.clone();
                        pool.spawn(move || {
                            let head = chain.head_index();
                            let served =
                                Self::serve_popped(&server, held.as_deref(), &vring, q, chain);
                            if let Some(used) = served {
                                vring.complete(&[(head, used)]);
                            }
                        });
                    }
                }
                None => {
                    // Served here as they are popped, over one hold of the guest memory, and
                    // completed in batches (a guest that keeps the ring full is still answered).
                    let m = mem.memory();
                    let mut done: SmallVec<[(u16, u32); COMPLETE_BATCH]> = SmallVec::new();
                    loop {
                        let popped = (vring.get_mut().get_queue_mut())
                            .iter(m.clone())
                            .map(|mut it| it.next());
                        let next = match popped {
                            Ok(next) => next,
                            Err(e) => {
                                if !done.is_empty() {
                                    vring.complete(&done);
                                }
                                return Self::bad_ring(vring, &e).map(ControlFlow::Break);
                            }
                        };
                        let Some(chain) = next else { break };
                        let head = chain.head_index();
                        let held = self.held.as_deref();
                        if let Some(used) = Self::serve_popped(&self.server, held, vring, q, chain)
                        {
                            done.push((head, used));
                        }
                        if done.len() == COMPLETE_BATCH {
                            vring.complete(&done);
                            done.clear();
                        }
                    }
                    if !done.is_empty() {
                        vring.complete(&done);
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }
}

impl<F: Backend + 'static> VhostUserBackend for FsDevice<F> {
    type Bitmap = ();
    type Vring = FsVring;

    fn num_queues(&self) -> usize {
        1 + self.cfg.request_queues
    }

    fn max_queue_size(&self) -> usize {
        MAX_QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_RING_F_INDIRECT_DESC)
            | (1 << VIRTIO_RING_F_EVENT_IDX)
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        let mut f = VhostUserProtocolFeatures::MQ
            | VhostUserProtocolFeatures::BACKEND_REQ
            | VhostUserProtocolFeatures::BACKEND_SEND_FD
            | VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS;
        if self.cfg.tag.is_some() {
            f |= VhostUserProtocolFeatures::CONFIG;
        }
        if self.window.is_some() {
            f |= VhostUserProtocolFeatures::SHMEM;
        }
        f
    }

    fn set_event_idx(&self, enabled: bool) {
        self.event_idx.store(enabled, Ordering::Relaxed);
    }

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        // struct virtio_fs_config { u8 tag[36]; le32 num_request_queues; le32 notify_buf_size; }
        let mut cfg = [0u8; TAG_LEN + 8];
        if let Some(t) = &self.cfg.tag {
            cfg[..t.len()].copy_from_slice(t.as_bytes());
        }
        let nrq = u32::try_from(self.cfg.request_queues).unwrap_or(u32::MAX);
        cfg[TAG_LEN..TAG_LEN + 4].copy_from_slice(&nrq.to_le_bytes());
        let start = (offset as usize).min(cfg.len());
        let end = start.saturating_add(size as usize).min(cfg.len());
        cfg[start..end].to_vec()
    }

    fn update_memory(&self, mem: Mem) -> io::Result<()> {
        *self.mem.write().map_err(|_| io::Error::other("poisoned"))? = Some(mem);
        Ok(())
    }

    fn set_backend_req_fd(&self, backend: BackendReq) {
        // Only the DAX window sends backend requests.
        if let Some(w) = &self.window {
            w.connect(backend);
        }
    }

    fn get_shmem_config(&self) -> io::Result<VhostUserShMemConfig> {
        match &self.window {
            Some(w) => Ok(VhostUserShMemConfig::new(1, &[w.announced_size()])),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no DAX window (--dax-window)",
            )),
        }
    }

    fn queues_per_thread(&self) -> Vec<u64> {
        // Thread 0 serves the hiprio queue and the first request queue; each further request
        // queue gets a thread of its own.
        let mut v = vec![0b11u64];
        v.extend((2..self.num_queues().min(64)).map(|q| 1u64 << q));
        v
    }

    fn handle_event(
        &self,
        device_event: u16,
        evset: EventSet,
        vrings: &[Self::Vring],
        thread: usize,
    ) -> io::Result<()> {
        if evset != EventSet::IN {
            return Err(io::Error::other(format!("unexpected event set {evset:?}")));
        }
        let ev = device_event as usize;
        let kicked = ev >= self.kick_event(0);
        let q = if kicked { ev - self.kick_event(0) } else { ev };
        let vring = vrings
            .get(q)
            .ok_or_else(|| io::Error::other(format!("no queue for event {ev}")))?;
        if kicked {
            // A kick that raced GET_VRING_BASE or SET_VRING_ENABLE 0.
            if !vring.runnable() {
                return Ok(());
            }
        } else {
            // The crate runs a queue when it starts or is enabled: its kicks come here from now on.
            vring.attach(|| self.kick_poll(thread, q));
        }
        self.process_queue(vring, q)
    }

    fn stop_vring(&self, queue_index: u32) -> io::Result<()> {
        // The VMM reads the ring's state next: a held request is answered first.
        if let Some(h) = &self.held {
            h.release_queue(queue_index as usize);
        }
        Ok(())
    }

    fn reset_device(&self) {
        // The driver starts over: nothing held is to be answered into its new rings.
        if let Some(h) = &self.held {
            h.forget();
        }
    }
}
