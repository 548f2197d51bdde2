//! The typed FUSE client over the virtqueues: one method per request, each returning the
//! decoded reply or the daemon's errno ([`Error::Errno`]).

mod dir;
mod entry;
mod file;
pub mod opcode;
pub mod reply;
mod xattr;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{InHeader, InitIn, InitIn2, InitOut};
use vm_memory_fbr::ByteValued;

pub use self::entry::SetAttr;
pub use self::file::setupmapping_in;
pub use self::reply::{DirEntry, DirEntryPlus};
pub use self::xattr::XattrReply;
use crate::device::{Device, Options};
use crate::error::{Error, Result};
use crate::queue::{Seg, Ticket};

/// Node id of the root directory.
pub const ROOT: u64 = 1;
/// Size of `fuse_in_header`.
pub const IN_HEADER_LEN: usize = 40;
/// Largest write or read this client issues, whatever the daemon allows (Linux's limit).
pub const MAX_IO: u32 = 1 << 20;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Device settings.
    pub device: Options,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// INIT flags offered.
    pub init_flags: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            device: Options::default(),
            timeout: Duration::from_secs(10),
            init_flags: opcode::init::LINUX_6_12,
        }
    }
}

/// What INIT negotiated.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// The daemon's reply.
    pub out: InitOut,
    /// Flags both sides agreed on (flags | flags2 << 32, masked with what was offered).
    pub flags: u64,
    /// Largest WRITE payload to send.
    pub max_write: u32,
}

/// Credentials put in every request header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Creds {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id.
    pub pid: u32,
}

/// A FUSE request submitted and not yet answered.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    ticket: Ticket,
    unique: u64,
}

/// A FUSE session over a vhost-user-fs device.
pub struct Client {
    dev: Device,
    opts: ClientOptions,
    unique: AtomicU64,
    next_queue: AtomicUsize,
    creds: Mutex<Creds>,
    session: Mutex<Option<Session>>,
    /// The daemon answered OPEN with ENOSYS to a client that offered FUSE_NO_OPEN_SUPPORT:
    /// files are no longer opened or released, their I/O names handle 0 (as Linux does).
    no_open: AtomicBool,
}

fn cstr(name: impl AsRef<[u8]>) -> Vec<u8> {
    let mut v = name.as_ref().to_vec();
    v.push(0);
    v
}

impl Client {
    /// Connects to the socket at `path` and sets the device up (no INIT yet).
    pub fn connect(path: &Path, opts: ClientOptions) -> Result<Self> {
        let dev = Device::connect(path, &opts.device)?;
        Ok(Self::new(dev, opts))
    }

    /// Connects, sets the device up and sends INIT.
    pub fn connect_and_init(path: &Path, opts: ClientOptions) -> Result<Self> {
        let c = Self::connect(path, opts)?;
        c.init()?;
        Ok(c)
    }

    /// A client over a device already set up.
    pub fn new(dev: Device, opts: ClientOptions) -> Self {
        Client {
            dev,
            opts,
            unique: AtomicU64::new(1),
            next_queue: AtomicUsize::new(0),
            creds: Mutex::new(Creds::default()),
            session: Mutex::new(None),
            no_open: AtomicBool::new(false),
        }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The reply timeout.
    pub fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// Sets the credentials of later requests.
    pub fn set_creds(&self, c: Creds) {
        *self.creds.lock().unwrap_or_else(|p| p.into_inner()) = c;
    }

    /// What INIT negotiated, once it has.
    pub fn session(&self) -> Option<Session> {
        *self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has(&self, flag: u64) -> bool {
        self.session().is_some_and(|s| s.flags & flag != 0)
    }

    /// The mode a new entry is requested with: like Linux, the client applies the umask
    /// itself unless the daemon agreed to FUSE_DONT_MASK (the umask is sent either way).
    fn masked(&self, mode: u32, umask: u32) -> u32 {
        if self.has(opcode::init::DONT_MASK) {
            mode
        } else {
            mode & !(umask & 0o7777)
        }
    }

    /// A fresh `unique`.
    pub fn next_unique(&self) -> u64 {
        // Linux uses even uniques for requests; odd ones mark interrupts.
        self.unique.fetch_add(2, Ordering::Relaxed) + 1
    }

    /// Encodes a request: the in header (length computed) followed by `args`.
    pub fn encode(&self, opcode: u32, nodeid: u64, unique: u64, args: &[&[u8]]) -> Vec<u8> {
        let body: usize = args.iter().map(|a| a.len()).sum();
        let c = *self.creds.lock().unwrap_or_else(|p| p.into_inner());
        let h = InHeader {
            len: u32::try_from(IN_HEADER_LEN + body).unwrap_or(u32::MAX),
            opcode,
            unique,
            nodeid,
            uid: c.uid,
            gid: c.gid,
            pid: c.pid,
            padding: 0,
        };
        let mut v = Vec::with_capacity(IN_HEADER_LEN + body);
        v.extend_from_slice(h.as_slice());
        for a in args {
            v.extend_from_slice(a);
        }
        v
    }

    /// Submits a request on a request queue with room for `reply_max` bytes of reply body.
    pub fn submit(
        &self,
        opcode: u32,
        nodeid: u64,
        args: &[&[u8]],
        reply_max: u32,
    ) -> Result<Pending> {
        let unique = self.next_unique();
        let req = self.encode(opcode, nodeid, unique, args);
        let n = self.next_queue.fetch_add(1, Ordering::Relaxed);
        let q = self.dev.request_queue(n);
        let out = u32::try_from(reply::OUT_HEADER_LEN)
            .unwrap_or(16)
            .saturating_add(reply_max);
        let ticket = q.submit(&[Seg::In(req), Seg::Out(out)])?;
        Ok(Pending { ticket, unique })
    }

    /// Waits for a submitted request's reply body.
    pub fn wait(&self, p: Pending) -> Result<Vec<u8>> {
        let q = self
            .dev
            .queue(p.ticket.queue)
            .ok_or_else(|| Error::InvalidRequest("no such queue".into()))?;
        let c = q.wait(p.ticket, self.opts.timeout)?;
        reply::parse(&c, p.unique)
    }

    /// Sends a request and returns the reply body.
    pub fn call(
        &self,
        opcode: u32,
        nodeid: u64,
        args: &[&[u8]],
        reply_max: u32,
    ) -> Result<Vec<u8>> {
        let p = self.submit(opcode, nodeid, args, reply_max)?;
        self.wait(p)
    }

    /// Sends a request that gets no reply (FORGET, BATCH_FORGET) on the hiprio queue, with no
    /// writable descriptor, and waits for the daemon to return the chain.
    pub fn call_no_reply(&self, opcode: u32, nodeid: u64, args: &[&[u8]]) -> Result<()> {
        let req = self.encode(opcode, nodeid, self.next_unique(), args);
        let q = self.dev.hiprio();
        let t = q.submit(&[Seg::In(req)])?;
        let c = q.wait(t, self.opts.timeout)?;
        if c.used_len != 0 {
            return Err(Error::BadReply(format!(
                "used length {} for a request without reply",
                c.used_len
            )));
        }
        Ok(())
    }

    /// FUSE_INIT as Linux 6.12 sends it.
    pub fn init(&self) -> Result<Session> {
        self.init_with(
            opcode::KERNEL_VERSION,
            opcode::KERNEL_MINOR_VERSION,
            self.opts.init_flags,
        )
    }

    /// FUSE_INIT with any version and flags.
    pub fn init_with(&self, major: u32, minor: u32, flags: u64) -> Result<Session> {
        let a = InitIn {
            major,
            minor,
            max_readahead: 128 << 10,
            flags: flags as u32,
        };
        let b = InitIn2 {
            flags2: (flags >> 32) as u32,
            unused: [0; 11],
        };
        let body = self.call(opcode::INIT, 0, &[a.as_slice(), b.as_slice()], 256)?;
        let mut out = InitOut::default();
        let n = out.as_slice().len();
        if body.len() < 8 || body.len() > n {
            return Err(Error::BadReply(format!(
                "INIT reply of {} bytes",
                body.len()
            )));
        }
        out.as_mut_slice()[..body.len()].copy_from_slice(&body);
        let mut agreed = u64::from(out.flags);
        if agreed & opcode::init::INIT_EXT != 0 {
            agreed |= u64::from(out.flags2) << 32;
        }
        let s = Session {
            out,
            flags: agreed & flags,
            max_write: out.max_write.clamp(4096, MAX_IO),
        };
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
        Ok(s)
    }
}
