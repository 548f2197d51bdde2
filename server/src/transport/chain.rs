//! One descriptor chain of a request queue served: the request read from guest memory, the
//! [`Server`]'s reply written back. Shared by the vhost-user device, the agent's long poll
//! (`park`), the fuzzers and in-process VMMs.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

use fuse_backend_rs::abi::fuse_abi::{InHeader, WriteIn};
use fuse_backend_rs::api::filesystem::{ZeroCopyReader, ZeroCopyWriter};
use log::warn;
use virtio_queue::DescriptorChain;
use vm_memory::{GuestMemoryAtomic, GuestMemoryLoadGuard, GuestMemoryMmap};

use super::guest;
use crate::fuse::decode::MAX_REQUEST;
use crate::fuse::opcode;
use crate::fuse::reply::OUT_HEADER_LEN;
use crate::session::{Backend, InPlace, Server};

/// The VMM's guest memory, as vhost-user-backend keeps it.
pub type Mem = GuestMemoryAtomic<GuestMemoryMmap>;
/// A descriptor chain popped from a request queue, over the VMM's guest memory.
pub type Chain = DescriptorChain<GuestMemoryLoadGuard<GuestMemoryMmap>>;

/// The bytes of a WRITE before its payload: in_header and write_in.
const WRITE_HEAD: usize = IN_HEADER_LEN + std::mem::size_of::<WriteIn>();
/// Length of a FUSE in_header.
const IN_HEADER_LEN: usize = std::mem::size_of::<InHeader>();

thread_local! {
    /// Per-thread request and reply buffers, reused across requests.
    static BUFS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Serves one chain; returns the used length (bytes written to the guest).
///
/// Public for the fuzzers (fuzz/, target `virtqueue`) and for in-process VMMs that pop chains
/// from their own queues; the vhost-user device calls it for every chain it pops.
pub fn serve_chain<F, M>(server: &Server<F>, chain: DescriptorChain<M>) -> u32
where
    F: Backend,
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    serve_or_hold(server, chain, false).unwrap_or(0)
}

/// Serves one chain and returns its used length, or, with `may_hold`, gives the chain back
/// unserved (Err) if it is a request the server would rather answer later
/// ([`Server::read_may_wait`]).
pub fn serve_or_hold<F, M>(
    server: &Server<F>,
    chain: DescriptorChain<M>,
    may_hold: bool,
) -> Result<u32, DescriptorChain<M>>
where
    F: Backend,
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    let mem = chain.memory();
    let Some((mut reader, mut writer)) = guest::sides(mem, &chain) else {
        warn_once("descriptor chain outside guest memory or malformed: completed empty");
        return Ok(0);
    };
    // One byte past the limit lets the decoder see an oversized request and refuse it.
    let want = reader.len().min(MAX_REQUEST + 1);
    // The in_header first: its opcode says what may stay in the guest's buffers.
    let mut head = [0u8; IN_HEADER_LEN];
    let got = want.min(IN_HEADER_LEN);
    if reader.read_exact(&mut head[..got]).is_err() {
        warn_once("unreadable request chain: completed empty");
        return Ok(0);
    }
    if may_hold && server.read_may_wait(&head[..got]) {
        drop((reader, writer));
        return Err(chain);
    }
    Ok(BUFS.with(|b| {
        let (req, reply) = &mut *b.borrow_mut();
        let opcode = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        // A WRITE's payload goes from the guest's buffers straight into the file.
        let in_place = opcode == opcode::WRITE && want > WRITE_HEAD && want <= MAX_REQUEST;
        let end = if in_place { WRITE_HEAD } else { want };
        req.clear();
        req.extend_from_slice(&head[..got]);
        req.resize(end, 0);
        if reader.read_exact(&mut req[got..]).is_err() {
            warn_once("unreadable request chain: completed empty");
            return 0;
        }
        let mut payload = in_place.then_some(reader);
        let cap = writer.len();
        // READ data goes straight into the guest's buffers, after the reply header.
        let mut direct = (opcode == opcode::READ).then(|| writer.after(OUT_HEADER_LEN));
        let bufs = InPlace {
            reply: direct.as_mut().map(|w| w as &mut dyn ZeroCopyWriter),
            payload: payload
                .as_mut()
                .map(|p| (p as &mut dyn ZeroCopyReader, want - WRITE_HEAD)),
        };
        let n = server.handle_with(req, reply, cap, bufs);
        if n == 0 {
            return 0;
        }
        // `reply` holds the reply's first bytes; a direct READ's data is already in place.
        match writer.write_all(&reply[..n.min(reply.len())]) {
            Ok(()) => n as u32,
            Err(e) => {
                warn_once(&format!("cannot write reply to the guest: {e}"));
                0
            }
        }
    }))
}

/// Logs a guest-triggerable warning once per process.
fn warn_once(msg: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        warn!("{msg} (further such warnings suppressed)");
    }
}
