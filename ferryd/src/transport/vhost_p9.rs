//! A virtio-9p device over vhost-user (`--protocol 9p-virtio`): the guest's 9pnet_virtio
//! driver talks 9P2000.L over a virtqueue, as with QEMU's built-in virtio-9p, but ferryd serves
//! it, through the same session and backend as its other 9P transports. QEMU attaches it with
//! its generic vhost-user device (QEMU 11.1): `-device vhost-user-test-device-pci,chardev=C,virtio-id=9,
//! num_vqs=1,config_size=64,vq_size=1024`; the guest mounts `-t 9p -o trans=virtio TAG`.
//!
//! One queue, served in order by its queue thread; the config space is virtio-9p's: the tag's
//! length (16 bits) and the tag.

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ferry_server::fs::Backend;
use ferry_server::p9::{Session, SessionOptions};
use ferry_server::transport::chain::Mem;
use ferry_server::transport::p9::serve_p9_chain;
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackend, VhostUserDaemon, VringRwLock, VringT};
use virtio_bindings::bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::bindings::virtio_ring::{
    VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC,
};
use virtio_queue::QueueOwnedT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;

/// virtio-9p's feature bit: the config space carries a mount tag.
const VIRTIO_9P_MOUNT_TAG: u64 = 0;
/// Largest queue the device accepts.
const MAX_QUEUE_SIZE: usize = 1024;
/// Longest tag (the config space's length field is 16 bits; QEMU's limit is 65,535 too, but
/// a tag is a name: keep it short).
pub const MAX_TAG: usize = 64;

/// The vhost-user virtio-9p backend.
pub struct P9Device<F: Backend + 'static> {
    session: Mutex<Session<F>>,
    fs: Arc<F>,
    opts: SessionOptions,
    tag: String,
    mem: RwLock<Option<Mem>>,
    event_idx: AtomicBool,
}

impl<F: Backend + 'static> P9Device<F> {
    pub fn new(fs: Arc<F>, opts: SessionOptions, tag: String) -> io::Result<Self> {
        if tag.is_empty() || tag.len() > MAX_TAG {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the 9P tag must be 1 to {MAX_TAG} bytes"),
            ));
        }
        Ok(P9Device {
            session: Mutex::new(Session::new(Arc::clone(&fs), opts)),
            fs,
            opts,
            tag,
            mem: RwLock::new(None),
            event_idx: AtomicBool::new(false),
        })
    }

    pub fn into_daemon(
        self: Arc<Self>,
        name: &str,
    ) -> Result<VhostUserDaemon<Arc<Self>>, vhost_user_backend::Error> {
        VhostUserDaemon::new(
            name.to_string(),
            self,
            GuestMemoryAtomic::new(GuestMemoryMmap::new()),
        )
    }

    fn process_queue(&self, vring: &VringRwLock) -> io::Result<()> {
        let mem = self
            .mem
            .read()
            .map_err(|_| io::Error::other("poisoned"))?
            .clone()
            .ok_or_else(|| io::Error::other("request before SET_MEM_TABLE"))?;
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        let mut session = self
            .session
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        super::serve_until_empty(vring, event_idx, || loop {
            let next = vring
                .get_mut()
                .get_queue_mut()
                .iter(mem.memory())
                .map_err(io::Error::other)?
                .next();
            let Some(chain) = next else {
                return Ok(ControlFlow::Continue(()));
            };
            let head = chain.head_index();
            let used = serve_p9_chain(&mut session, chain);
            vring.add_used(head, used).map_err(io::Error::other)?;
            if vring.needs_notification().map_err(io::Error::other)? {
                vring.signal_used_queue()?;
            }
        })
    }
}

impl<F: Backend + 'static> VhostUserBackend for P9Device<F> {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        1
    }

    fn max_queue_size(&self) -> usize {
        MAX_QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_RING_F_INDIRECT_DESC)
            | (1 << VIRTIO_RING_F_EVENT_IDX)
            | (1 << VIRTIO_9P_MOUNT_TAG)
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        VhostUserProtocolFeatures::MQ
            | VhostUserProtocolFeatures::CONFIG
            | VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS
    }

    fn set_event_idx(&self, enabled: bool) {
        self.event_idx.store(enabled, Ordering::Relaxed);
    }

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        let mut cfg = (self.tag.len() as u16).to_le_bytes().to_vec();
        cfg.extend_from_slice(self.tag.as_bytes());
        let start = (offset as usize).min(cfg.len());
        let end = (offset as usize).saturating_add(size as usize);
        let mut out = cfg[start..end.min(cfg.len())].to_vec();
        // Past the tag, the space the VMM asked for (config_size) reads as zeros.
        out.resize(size as usize, 0);
        out
    }

    fn update_memory(&self, mem: Mem) -> io::Result<()> {
        *self.mem.write().map_err(|_| io::Error::other("poisoned"))? = Some(mem);
        Ok(())
    }

    fn reset_device(&self) {
        // The driver starts over (a guest reboot): a new client, with no fids.
        if let Ok(mut s) = self.session.lock() {
            *s = Session::new(Arc::clone(&self.fs), self.opts);
        }
    }

    fn handle_event(
        &self,
        device_event: u16,
        evset: EventSet,
        vrings: &[VringRwLock],
        _thread_id: usize,
    ) -> io::Result<()> {
        if evset != EventSet::IN {
            return Err(io::Error::other(format!("unexpected events {evset:?}")));
        }
        let vring = vrings
            .get(usize::from(device_event))
            .ok_or_else(|| io::Error::other(format!("no queue {device_event}")))?;
        self.process_queue(vring)
    }
}
