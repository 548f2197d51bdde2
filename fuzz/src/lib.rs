//! The bodies of ferry's fuzz targets, shared by the cargo-fuzz binaries in `fuzz_targets/`, the
//! seed generator and the tests.
//!
//! Input formats:
//!
//! - `decode`, `request_path`: one flags byte (see [`Flags`]), then records `len: u16 LE`,
//!   `cap: u8`, `len` request bytes (fewer if the input ends first). Each record goes to
//!   [`decode`](ferry_server::fuse::decode::decode) and to `Server::handle` with a reply room from
//!   `cap` (below 0x80: 2 MiB; from 0x80: `(cap - 0x80) * 8` bytes). A valid INIT is sent first.
//! - `virtqueue`: see [`virtqueue`].
//! - `p9_decode`, `p9_request_path`: see [`p9`].
//!
//! Every target's server has a DAX window ([`window::CheckedWindow`]) that asserts the ranges
//! and fds the server would hand a VMM.

pub mod contain;
pub mod null;
pub mod p9;
pub mod seeds;
pub mod window;

use std::sync::{Arc, OnceLock};

use fuse_backend_rs::abi::fuse_abi::{InHeader, InitIn};
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vm_memory_fbr::ByteValued;

use ferry_server::config::Config;
use ferry_server::fuse::opcode as op;
use ferry_server::session::{Backend, Readdirplus, Server, ServerOptions};
use virtio_queue::{Queue, QueueOwnedT, QueueT};

/// The options byte at the start of a `decode` or `request_path` input.
#[derive(Debug, Clone, Copy)]
pub struct Flags(pub u8);

impl Flags {
    pub const READONLY: u8 = 1 << 0;
    pub const READDIRPLUS: u8 = 1 << 1;
    /// `request_path`: the backend's allow_devices option.
    pub const ALLOW_DEVICES: u8 = 1 << 2;
    /// `request_path`: also turns the backend's zero-message opens off.
    pub const POSIX_ACL: u8 = 1 << 3;
    pub const AUTO_INVAL_DATA: u8 = 1 << 4;
    /// `request_path`: the backend's writeback option; `decode`: allow_mmap.
    pub const WRITEBACK: u8 = 1 << 5;
    /// `request_path`: the backend's killpriv_v2 option; `decode`: flush_needed.
    pub const KILLPRIV_V2: u8 = 1 << 6;
    pub const SUBMOUNTS: u8 = 1 << 7;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// The server's options for these flags.
    pub fn server_options(self) -> ServerOptions {
        ServerOptions {
            readonly: self.has(Self::READONLY),
            readdirplus: match self.has(Self::READDIRPLUS) {
                true => Readdirplus::Always,
                false => Readdirplus::Never,
            },
            announce_submounts: self.has(Self::SUBMOUNTS),
            posix_acl: self.has(Self::POSIX_ACL),
            auto_inval_data: self.has(Self::AUTO_INVAL_DATA),
            allow_mmap: self.has(Self::WRITEBACK),
            flush_needed: self.has(Self::KILLPRIV_V2),
            ids: Default::default(),
            agent: None,
            // Every regular file a DAX file under dax=inode: the attribute path always runs.
            dax_min_size: 0,
        }
    }
}

/// Reply room for a record's `cap` byte.
pub fn reply_cap(cap: u8) -> usize {
    if cap < 0x80 {
        2 << 20
    } else {
        usize::from(cap - 0x80) * 8
    }
}

/// Splits a record stream into (request, reply room) pairs.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    std::iter::from_fn(move || {
        if data.len() < 3 {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let cap = reply_cap(data[2]);
        let rest = &data[3..];
        let len = len.min(rest.len());
        let (req, tail) = rest.split_at(len);
        data = tail;
        Some((req, cap))
    })
}

/// The INIT a Linux guest sends: FUSE 7.38, offering every flag of the first word.
pub fn init_request() -> Vec<u8> {
    let init = InitIn {
        major: 7,
        minor: 38,
        max_readahead: 1 << 20,
        flags: !(ferry_fuse::init::INIT_EXT as u32),
    };
    request(op::INIT, u64::MAX, 0, init.as_slice())
}

/// A request: in_header (as root) plus `body`.
pub fn request(opcode: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
    let h = InHeader {
        len: u32::try_from(std::mem::size_of::<InHeader>() + body.len()).unwrap_or(u32::MAX),
        opcode,
        unique,
        nodeid,
        ..Default::default()
    };
    let mut v = h.as_slice().to_vec();
    v.extend_from_slice(body);
    v
}

/// Sends INIT, then every record of `data`, through `server`; checks each reply is sane.
fn drive<F: Backend>(server: &Server<F>, data: &[u8], out: &mut Vec<u8>) {
    let n = server.handle(&init_request(), out, 1 << 21);
    assert!(n >= 16, "INIT got no reply");
    for (req, cap) in records(data) {
        // The decoder alone, then the whole session.
        let _ = ferry_server::fuse::decode::decode(req);
        let n = server.handle(req, out, cap);
        check_reply(out, n, cap);
    }
}

/// A reply fits its room and its header's length is its length.
fn check_reply(out: &[u8], n: usize, cap: usize) {
    assert!(n <= cap, "reply of {n} bytes for a room of {cap}");
    if n > 0 {
        assert!(n >= 16 && n <= out.len(), "reply of {n} bytes");
        let len = u32::from_le_bytes([out[0], out[1], out[2], out[3]]);
        assert_eq!(
            len as usize, n,
            "out_header.len differs from the reply length"
        );
        let error = i32::from_le_bytes([out[4], out[5], out[6], out[7]]);
        assert!(error <= 0 && error > -4096, "out_header.error {error}");
        if error != 0 {
            assert_eq!(n, 16, "an error reply carries a payload");
        }
    }
}

/// Target `decode`: the decoder and the whole session over the null backend.
pub fn decode(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let server = Server::new(null::NullFs, Flags(flags).server_options())
        .with_window(Arc::new(window::CheckedWindow));
    let mut out = Vec::new();
    drive(&server, rest, &mut out);
}

/// Target `request_path`: the whole session over ferry's Linux backend, on a fresh, empty
/// share (a small tmpfs) for every input, inside the sandbox of [`contain`].
pub fn request_path(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let flags = Flags(flags);
    let share = contain::fresh_share();
    static BASE: OnceLock<Config> = OnceLock::new();
    let mut cfg = BASE.get_or_init(|| Config::defaults_for(share)).clone();
    cfg.xattr = true;
    cfg.readonly = flags.has(Flags::READONLY);
    cfg.writeback = flags.has(Flags::WRITEBACK);
    cfg.killpriv_v2 = flags.has(Flags::KILLPRIV_V2);
    cfg.announce_submounts = flags.has(Flags::SUBMOUNTS);
    cfg.zero_open = !flags.has(Flags::POSIX_ACL);
    cfg.allow_devices = flags.has(Flags::ALLOW_DEVICES);
    let fs = ferry_server::fs::linux(&cfg).expect("the Linux backend opens the share");
    let mut opts = flags.server_options();
    opts.allow_mmap = false;
    opts.flush_needed = false;
    let server = Server::new(fs, opts).with_window(Arc::new(window::CheckedWindow));
    let mut out = Vec::new();
    drive(&server, rest, &mut out);
}

/// Guest memory of the `virtqueue` target.
pub const MEM_SIZE: usize = 64 << 10;
/// Largest queue the `virtqueue` target builds (the transport accepts up to 32768).
pub const MAX_QUEUE: u16 = 256;
/// Bytes before the memory image in a `virtqueue` input.
pub const VQ_HEADER: usize = 12;

/// Target `virtqueue`: raw virtqueue memory, as a guest driver could leave it.
///
/// Input: `size: u16`, `desc: u16`, `avail: u16`, `used: u16` (guest addresses of the table and
/// rings, within the 64 KiB of memory), `next_avail: u16`, `flags: u8` (bit 0: EVENT_IDX, bit 1:
/// no INIT first, bit 2: a second pass over the queue), `options: u8` ([`Flags`]), then the
/// image of guest memory from address 0 (the rest is zero). Every chain popped is served by
/// `ferry_server::transport::chain::serve_chain`, as the device does, and put on the used ring.
pub fn virtqueue(data: &[u8]) {
    if data.len() < VQ_HEADER {
        return;
    }
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
    let (size, desc, avail, used, next_avail) =
        (u16_at(0), u16_at(2), u16_at(4), u16_at(6), u16_at(8));
    let (flags, options) = (data[10], data[11]);
    let image = &data[VQ_HEADER..];
    let image = &image[..image.len().min(MEM_SIZE)];

    // Fresh memory for every input: the kernel hands out zero pages, and only the pages the
    // image or the replies touch are faulted in.
    let mmap = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)])
        .expect("64 KiB of anonymous memory");
    let mem = GuestMemoryAtomic::new(mmap);
    let m = mem.memory();
    m.write_slice(image, GuestAddress(0))
        .expect("the image fits");

    let mut q = Queue::new(MAX_QUEUE).expect("a valid maximum");
    q.set_size(size);
    q.set_desc_table_address(Some(u32::from(desc)), Some(0));
    q.set_avail_ring_address(Some(u32::from(avail)), Some(0));
    q.set_used_ring_address(Some(u32::from(used)), Some(0));
    q.set_event_idx(flags & 1 != 0);
    q.set_next_avail(next_avail);
    q.set_ready(true);
    if !q.is_valid(&*m) {
        return;
    }

    let server = Server::new(null::NullFs, Flags(options).server_options())
        .with_window(Arc::new(window::CheckedWindow));
    if flags & 2 == 0 {
        let mut out = Vec::new();
        server.handle(&init_request(), &mut out, 1 << 21);
    }
    let passes = if flags & 4 != 0 { 2 } else { 1 };
    for _ in 0..passes {
        let chains: Vec<_> = match q.iter(mem.memory()) {
            Ok(it) => it.collect(),
            Err(_) => return,
        };
        for chain in chains {
            let head = chain.head_index();
            let n = ferry_server::transport::chain::serve_chain(&server, chain);
            // A lying head or a full ring is the queue's error, as in the device.
            let _ = q.add_used(&*m, head, n);
        }
        let _ = q.needs_notification(&*m);
    }
}
