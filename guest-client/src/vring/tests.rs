//! The driver side checked against virtio-queue's device side on the same memory.

use virtio_queue::{Queue, QueueT};
use vm_memory::GuestAddress;

use super::*;

fn device_queue(l: Layout, event_idx: bool) -> Queue {
    let mut q = Queue::new(l.size).unwrap();
    q.try_set_desc_table_address(GuestAddress(l.desc)).unwrap();
    q.try_set_avail_ring_address(GuestAddress(l.avail)).unwrap();
    q.try_set_used_ring_address(GuestAddress(l.used)).unwrap();
    q.set_event_idx(event_idx);
    q.set_ready(true);
    q
}

fn setup(size: u16, event_idx: bool) -> (GuestMem, Vring, Queue) {
    let mem = GuestMem::new(1 << 20).unwrap();
    let (layout, end) = Layout::at(0x1000, size);
    assert!(end < 0x10000);
    let ring = Vring::new(&mem, layout, event_idx).unwrap();
    let dev = device_queue(layout, event_idx);
    assert!(dev.is_valid(mem.vm_memory()));
    (mem, ring, dev)
}

#[test]
fn layout_matches_spec_sizes() {
    let (l, end) = Layout::at(0, 256);
    assert_eq!(l.avail, 4096);
    assert_eq!(l.used, 4096 + 6 + 512 + 2); // rounded up to 4
    assert_eq!(end, l.used + 6 + 8 * 256);
}

#[test]
fn need_event_wraps() {
    assert!(need_event(0, 1, 0));
    assert!(!need_event(5, 3, 0));
    assert!(need_event(u16::MAX, 0, u16::MAX - 1));
    assert!(!need_event(10, 10, 9), "the device waits for index 11");
}

#[test]
fn chains_round_trip_through_the_device() {
    let (mem, mut ring, mut dev) = setup(8, true);
    let chain = [
        Desc {
            addr: 0x20000,
            len: 40,
            writable: false,
        },
        Desc {
            addr: 0x20100,
            len: 8,
            writable: false,
        },
        Desc {
            addr: 0x30000,
            len: 4096,
            writable: true,
        },
    ];
    let a = ring.add(&mem, &chain).unwrap();
    let b = ring
        .add(
            &mem,
            &[Desc {
                addr: 0x40000,
                len: 1,
                writable: false,
            }],
        )
        .unwrap();
    assert_eq!(ring.free_descs(), 4);
    assert!(
        ring.needs_kick(&mem).unwrap(),
        "a fresh device wants the first kick"
    );

    let c1 = dev.pop_descriptor_chain(mem.vm_memory()).unwrap();
    assert_eq!(c1.head_index(), a[0]);
    let seen: Vec<Desc> = c1
        .map(|d| Desc {
            addr: d.addr().0,
            len: d.len(),
            writable: d.is_write_only(),
        })
        .collect();
    assert_eq!(seen, chain);
    let c2 = dev.pop_descriptor_chain(mem.vm_memory()).unwrap();
    assert_eq!(c2.head_index(), b[0]);
    assert!(dev.pop_descriptor_chain(mem.vm_memory()).is_none());

    // Nothing used yet: no element, and the driver asks to hear about the first one.
    assert_eq!(ring.pop_used(&mem).unwrap(), None);
    dev.add_used(mem.vm_memory(), b[0], 0).unwrap();
    assert!(dev.needs_notification(mem.vm_memory()).unwrap());
    dev.add_used(mem.vm_memory(), a[0], 123).unwrap();
    assert_eq!(ring.pending_used(&mem).unwrap(), 2);
    assert_eq!(ring.pop_used(&mem).unwrap(), Some((u32::from(b[0]), 0)));
    assert_eq!(ring.pop_used(&mem).unwrap(), Some((u32::from(a[0]), 123)));
    assert_eq!(ring.pop_used(&mem).unwrap(), None);
    ring.recycle(&a);
    ring.recycle(&b);
    assert_eq!(ring.free_descs(), 8);
}

#[test]
fn indexes_wrap_around_many_times() {
    let (mem, mut ring, mut dev) = setup(4, true);
    for i in 0..1000u32 {
        let idx = ring
            .add(
                &mem,
                &[Desc {
                    addr: 0x20000,
                    len: i,
                    writable: true,
                }],
            )
            .unwrap();
        let c = dev.pop_descriptor_chain(mem.vm_memory()).unwrap();
        assert_eq!(c.head_index(), idx[0]);
        dev.add_used(mem.vm_memory(), idx[0], i).unwrap();
        assert_eq!(ring.pop_used(&mem).unwrap(), Some((u32::from(idx[0]), i)));
        ring.recycle(&idx);
    }
}

#[test]
fn event_idx_suppresses_kicks_until_the_device_asks() {
    let (mem, mut ring, mut dev) = setup(8, true);
    ring.add(
        &mem,
        &[Desc {
            addr: 0x20000,
            len: 1,
            writable: false,
        }],
    )
    .unwrap();
    assert!(ring.needs_kick(&mem).unwrap());
    // The device has not re-armed (avail_event still 0): the second buffer needs no kick.
    ring.add(
        &mem,
        &[Desc {
            addr: 0x20000,
            len: 1,
            writable: false,
        }],
    )
    .unwrap();
    assert!(!ring.needs_kick(&mem).unwrap());
    // The device consumes both and re-arms at the current index: the next one kicks.
    while dev.pop_descriptor_chain(mem.vm_memory()).is_some() {}
    dev.enable_notification(mem.vm_memory()).unwrap();
    ring.add(
        &mem,
        &[Desc {
            addr: 0x20000,
            len: 1,
            writable: false,
        }],
    )
    .unwrap();
    assert!(ring.needs_kick(&mem).unwrap());
}

#[test]
fn full_ring_and_bad_sizes_are_errors() {
    let (mem, mut ring, _dev) = setup(2, false);
    let d = Desc {
        addr: 0,
        len: 1,
        writable: false,
    };
    assert!(matches!(
        ring.add(&mem, &[d, d, d]),
        Err(Error::QueueFull(_))
    ));
    assert!(matches!(ring.add(&mem, &[]), Err(Error::InvalidRequest(_))));
    let (l, _) = Layout::at(0x1000, 3);
    assert!(Vring::new(&mem, l, false).is_err());
}
