//! Hot paths of a request: decoding, the name check, encoding, a whole request served by the
//! session over the Linux backend (GETATTR and LOOKUP on a temporary directory), and the same
//! GETATTR taken from a descriptor chain in guest memory and answered into it (the transport's
//! reader and writer).

use std::hint::black_box;
use std::mem::size_of;

use criterion::{criterion_group, criterion_main, Criterion};
use ferry_server::config::Config;
use ferry_server::fs;
use ferry_server::fuse::decode::decode;
use ferry_server::fuse::opcode as op;
use ferry_server::fuse::reply::Reply;
use ferry_server::name::Name;
use ferry_server::session::{Server, ServerOptions};
use fuse_backend_rs::abi::fuse_abi::{EntryOut, InHeader, InitIn, WriteIn};
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{
    Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap,
};
use vm_memory_fbr::ByteValued;

fn req(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
    let h = InHeader {
        len: (size_of::<InHeader>() + body.len()) as u32,
        opcode,
        unique: 1,
        nodeid,
        ..Default::default()
    };
    [h.as_slice(), body].concat()
}

fn protocol(c: &mut Criterion) {
    let lookup = req(op::LOOKUP, 1, b"node_modules\0");
    c.bench_function("decode LOOKUP", |b| {
        b.iter(|| decode(black_box(&lookup)).is_ok())
    });
    let mut write = WriteIn {
        size: 4096,
        ..Default::default()
    }
    .as_slice()
    .to_vec();
    write.extend_from_slice(&[0u8; 4096]);
    let write = req(op::WRITE, 5, &write);
    c.bench_function("decode WRITE 4 KiB", |b| {
        b.iter(|| decode(black_box(&write)).is_ok())
    });
    let name = c"package.json";
    c.bench_function("name check", |b| {
        b.iter(|| Name::new(black_box(name)).is_ok())
    });
    let mut out = Vec::with_capacity(1 << 16);
    c.bench_function("encode 100 dirents", |b| {
        b.iter(|| {
            let mut r = Reply::new(&mut out, 1, 1 << 16);
            for i in 0..100u64 {
                r.push_dirent(4096 * 16, i, i + 1, 8, b"some-file-name.js");
            }
            r.ok()
        })
    });
    c.bench_function("encode ENTRY reply", |b| {
        b.iter(|| {
            let mut r = Reply::new(&mut out, 1, 4096);
            r.push_obj(black_box(&EntryOut::default()));
            r.ok()
        })
    });
}

fn session(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let cfg = Config::defaults_for(dir.path());
    let server = Server::new(fs::linux(&cfg).unwrap(), ServerOptions::default());
    let mut out = Vec::new();
    let init = req(
        op::INIT,
        0,
        InitIn {
            major: 7,
            minor: 38,
            ..Default::default()
        }
        .as_slice(),
    );
    server.handle(&init, &mut out, 4096);
    let getattr = req(op::GETATTR, 1, &[0u8; 16]);
    c.bench_function("serve GETATTR", |b| {
        b.iter(|| server.handle(black_box(&getattr), &mut out, 4096))
    });
    let lookup = req(op::LOOKUP, 1, b"file\0");
    server.handle(&lookup, &mut out, 4096);
    let mut entry = EntryOut::default();
    entry
        .as_mut_slice()
        .copy_from_slice(&out[16..16 + size_of::<EntryOut>()]);
    let forget = req(op::FORGET, entry.nodeid, &1u64.to_le_bytes());
    server.handle(&forget, &mut out, 4096);
    c.bench_function("serve LOOKUP + FORGET", |b| {
        b.iter(|| {
            server.handle(black_box(&lookup), &mut out, 4096);
            server.handle(black_box(&forget), &mut out, 4096)
        })
    });

    // A two-descriptor chain (request, then a 4 KiB reply buffer) popped from a split queue in
    // guest memory, as the device pops it, and served by `serve_chain`.
    let (desc, avail, used, request, reply) =
        (0x0u64, 0x1000u64, 0x2000u64, 0x10000u64, 0x20000u64);
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap();
    mem.write_slice(&getattr, GuestAddress(request)).unwrap();
    for (i, (addr, len, flags)) in [(request, getattr.len() as u32, 1u16), (reply, 4096, 2)]
        .into_iter()
        .enumerate()
    {
        let at = GuestAddress(desc + 16 * i as u64);
        mem.write_obj(addr, at).unwrap();
        mem.write_obj(len, at.unchecked_add(8)).unwrap();
        mem.write_obj(flags, at.unchecked_add(12)).unwrap();
        mem.write_obj(i as u16 + 1, at.unchecked_add(14)).unwrap();
    }
    mem.write_obj(1u16, GuestAddress(avail + 2)).unwrap();
    let mut q = Queue::new(16).unwrap();
    q.set_size(16);
    q.set_desc_table_address(Some(desc as u32), Some(0));
    q.set_avail_ring_address(Some(avail as u32), Some(0));
    q.set_used_ring_address(Some(used as u32), Some(0));
    q.set_ready(true);
    let mem = GuestMemoryAtomic::new(mem);
    c.bench_function("serve GETATTR from a descriptor chain", |b| {
        b.iter(|| {
            q.set_next_avail(0);
            let chain = q.iter(mem.memory()).unwrap().next().unwrap();
            ferry_server::transport::chain::serve_chain(&server, chain)
        })
    });
}

criterion_group!(benches, protocol, session);
criterion_main!(benches);
