//! The queue against a device played by virtio-queue on the same memory: completions out of
//! order, a lying device (unknown used id, used length beyond the buffers), timeouts and
//! hang-ups end in errors, never in a panic or a hang.

use std::os::unix::net::UnixStream;

use virtio_queue::{Queue as DevQueue, QueueT};
use vm_memory::GuestAddress;

use super::*;
use crate::vring::Layout;

struct Rig {
    mem: Arc<GuestMem>,
    q: Queue,
    dev: DevQueue,
    _ours: UnixStream,
    _peer: Option<UnixStream>,
}

fn rig(size: u16) -> Rig {
    let mem = Arc::new(GuestMem::new(4 << 20).unwrap());
    let (l, end) = Layout::at(0, size);
    let ring = Vring::new(&mem, l, true).unwrap();
    let alloc = Arc::new(Mutex::new(Allocator::new(end, 4 << 20)));
    let (ours, peer) = UnixStream::pair().unwrap();
    let q = Queue::new(1, mem.clone(), alloc, ring, ours.as_raw_fd()).unwrap();
    let mut dev = DevQueue::new(size).unwrap();
    dev.try_set_desc_table_address(GuestAddress(l.desc))
        .unwrap();
    dev.try_set_avail_ring_address(GuestAddress(l.avail))
        .unwrap();
    dev.try_set_used_ring_address(GuestAddress(l.used)).unwrap();
    dev.set_event_idx(true);
    dev.set_ready(true);
    Rig {
        mem,
        q,
        dev,
        _ours: ours,
        _peer: Some(peer),
    }
}

/// The device side: writes `reply` into the chain's writable buffers, returns it with
/// `used` (or the real length) and signals.
fn complete(r: &mut Rig, reply: &[u8], used: Option<u32>, id: Option<u16>) -> u16 {
    let chain = r.dev.pop_descriptor_chain(r.mem.vm_memory()).unwrap();
    let head = chain.head_index();
    let mut left = reply;
    for d in chain {
        if d.is_write_only() && !left.is_empty() {
            let n = left.len().min(d.len() as usize);
            r.mem.write(d.addr().0, &left[..n]).unwrap();
            left = &left[n..];
        }
    }
    let len = used.unwrap_or(reply.len() as u32);
    r.dev
        .add_used(r.mem.vm_memory(), id.unwrap_or(head), len)
        .unwrap();
    r.q.call_fd().write(1).unwrap();
    head
}

const T: Duration = Duration::from_secs(2);

#[test]
fn completions_in_any_order_reach_their_waiters() {
    let mut r = rig(8);
    let a =
        r.q.submit(&[Seg::In(b"one".to_vec()), Seg::Out(16)])
            .unwrap();
    let b =
        r.q.submit(&[Seg::In(b"two".to_vec()), Seg::Out(8), Seg::Out(8)])
            .unwrap();
    assert_eq!(r.q.in_flight(), 2);
    assert!(r.q.kick.read().is_ok(), "the first submission kicked");
    complete(&mut r, b"AAAA", None, None);
    complete(&mut r, b"0123456789", None, None);
    // Wait for the second first: the first completion is kept for its waiter.
    let cb = r.q.wait(b, T).unwrap();
    assert_eq!(cb.data, b"0123456789", "spans both writable buffers");
    assert_eq!(cb.writable_len, 16);
    let ca = r.q.wait(a, T).unwrap();
    assert_eq!((ca.used_len, &ca.data[..]), (4, &b"AAAA"[..]));
    assert_eq!(r.q.in_flight(), 0);
}

#[test]
fn buffers_and_descriptors_are_recycled() {
    let mut r = rig(4);
    let free = r.q.alloc.lock().unwrap().free_bytes();
    for i in 0..100u32 {
        let t =
            r.q.submit(&[Seg::In(vec![1; 100]), Seg::Out(4096)])
                .unwrap();
        complete(&mut r, &i.to_le_bytes(), None, None);
        assert_eq!(r.q.wait(t, T).unwrap().data, i.to_le_bytes());
    }
    assert_eq!(r.q.alloc.lock().unwrap().free_bytes(), free);
}

#[test]
fn used_length_beyond_the_buffers_is_reported() {
    let mut r = rig(8);
    let t = r.q.submit(&[Seg::In(vec![0; 8]), Seg::Out(32)]).unwrap();
    complete(&mut r, b"xy", Some(1 << 30), None);
    let c = r.q.wait(t, T).unwrap();
    assert!(c.overflow());
    assert_eq!(c.data.len(), 32, "only the buffer's bytes are read back");
    assert!(matches!(
        crate::fuse::reply::parse(&c, 1),
        Err(Error::Ring(_))
    ));
}

#[test]
fn unknown_used_id_breaks_the_queue() {
    let mut r = rig(8);
    let t = r.q.submit(&[Seg::In(vec![0; 8]), Seg::Out(32)]).unwrap();
    complete(&mut r, b"", Some(0), Some(7));
    assert!(matches!(r.q.wait(t, T), Err(Error::Ring(_))));
    assert!(matches!(
        r.q.submit(&[Seg::In(vec![0; 8])]),
        Err(Error::Ring(_))
    ));
}

#[test]
fn silence_is_a_timeout_and_hang_up_a_disconnect() {
    let mut r = rig(8);
    let t = r.q.submit(&[Seg::In(vec![0; 8]), Seg::Out(32)]).unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        r.q.wait(t, Duration::from_millis(100)),
        Err(Error::Timeout(_))
    ));
    assert!(t0.elapsed() < Duration::from_secs(1));
    // The abandoned chain is reclaimed when the device finally returns it.
    complete(&mut r, b"late", None, None);
    let t2 = r.q.submit(&[Seg::In(vec![0; 8]), Seg::Out(32)]).unwrap();
    r._peer = None;
    assert!(matches!(r.q.wait(t2, T), Err(Error::Disconnected)));
    assert_eq!(
        r.q.in_flight(),
        1,
        "the late chain was freed, the new one abandoned"
    );
}

#[test]
fn client_side_errors() {
    let r = rig(2);
    assert!(matches!(
        r.q.submit(&vec![Seg::In(vec![0; 1]); 3]),
        Err(Error::QueueFull(_))
    ));
    assert!(matches!(
        r.q.submit(&[Seg::Out(8 << 20)]),
        Err(Error::QueueFull(_))
    ));
    let (_, end) = Layout::at(0, 2);
    assert_eq!(
        r.q.alloc.lock().unwrap().free_bytes(),
        (4 << 20) - ((end + 63) & !63),
        "nothing leaked"
    );
    let bogus = Ticket { queue: 1, head: 1 };
    assert!(matches!(r.q.wait(bogus, T), Err(Error::InvalidRequest(_))));
}
