//! The guest side of a request, in process: the guest-client's split-ring mechanics against
//! virtio-queue's device side on the same memory, reply parsing, and a whole LOOKUP round trip
//! (encode, ring, ferry's session over the Linux backend, ring, parse) without a socket.

use std::hint::black_box;
use std::mem::size_of;

use criterion::{criterion_group, criterion_main, Criterion};
use ferry_guest_client::fuse::reply::{direntplus, fixed, parse};
use ferry_guest_client::memory::GuestMem;
use ferry_guest_client::vring::{Desc, Layout, Vring};
use ferry_guest_client::Completion;
use ferry_server::config::Config;
use ferry_server::fs;
use ferry_server::fuse::opcode as op;
use ferry_server::session::{Server, ServerOptions};
use fuse_backend_rs::abi::fuse_abi::{EntryOut, InHeader, InitIn, OpenIn, OpenOut, ReadIn};
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestAddress;
use vm_memory_fbr::ByteValued;

const MEM: u64 = 4 << 20;
const REQ: u64 = 1 << 20;
const REPLY: u64 = 2 << 20;

fn req(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
    let h = InHeader {
        len: (size_of::<InHeader>() + body.len()) as u32,
        opcode,
        unique: 2,
        nodeid,
        ..Default::default()
    };
    [h.as_slice(), body].concat()
}

/// A driver ring (guest-client) and a device ring (virtio-queue) over one memory.
struct Rig {
    mem: GuestMem,
    ring: Vring,
    dev: Queue,
}

fn rig() -> Rig {
    let mem = GuestMem::new(MEM).expect("guest memory");
    let (l, _) = Layout::at(0, 256);
    let ring = Vring::new(&mem, l, true).expect("vring");
    let mut dev = Queue::new(256).expect("device queue");
    dev.try_set_desc_table_address(GuestAddress(l.desc))
        .expect("desc");
    dev.try_set_avail_ring_address(GuestAddress(l.avail))
        .expect("avail");
    dev.try_set_used_ring_address(GuestAddress(l.used))
        .expect("used");
    dev.set_event_idx(true);
    dev.set_ready(true);
    Rig { mem, ring, dev }
}

impl Rig {
    /// Driver: publishes a request of `len` bytes and a reply buffer of `cap` bytes.
    fn add(&mut self, len: u32, cap: u32) -> Vec<u16> {
        let chain = [
            Desc {
                addr: REQ,
                len,
                writable: false,
            },
            Desc {
                addr: REPLY,
                len: cap,
                writable: true,
            },
        ];
        let idx = self.ring.add(&self.mem, &chain).expect("add");
        self.ring.needs_kick(&self.mem).expect("kick check");
        idx
    }

    /// Device: takes the chain, lets `serve` turn the request bytes into the reply, returns it.
    fn serve(
        &mut self,
        serve: &mut dyn FnMut(&[u8], &mut Vec<u8>),
        buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        let chain = self
            .dev
            .pop_descriptor_chain(self.mem.vm_memory())
            .expect("a chain");
        let head = chain.head_index();
        let mut used = 0u32;
        for d in chain {
            if d.is_write_only() {
                let n = out.len().min(d.len() as usize);
                self.mem.write(d.addr().0, &out[..n]).expect("reply");
                used = n as u32;
            } else {
                buf.resize(d.len() as usize, 0);
                self.mem.read(d.addr().0, buf).expect("request");
                out.clear();
                serve(buf, out);
            }
        }
        self.dev
            .add_used(self.mem.vm_memory(), head, used)
            .expect("add_used");
        self.dev
            .needs_notification(self.mem.vm_memory())
            .expect("notify check");
    }

    /// Driver: collects the completion and recycles the chain.
    fn collect(&mut self, idx: &[u16], data: &mut Vec<u8>) -> Completion {
        let (_, len) = self.ring.pop_used(&self.mem).expect("pop").expect("used");
        self.ring.recycle(idx);
        data.resize(len as usize, 0);
        self.mem.read(REPLY, data).expect("read reply");
        Completion {
            used_len: len,
            data: std::mem::take(data),
            writable_len: 4096,
        }
    }
}

fn ring(c: &mut Criterion) {
    let mut r = rig();
    let (mut buf, mut out, mut data) = (Vec::new(), vec![0u8; 144], Vec::new());
    c.bench_function("vring round trip (2-descriptor chain, EVENT_IDX)", |b| {
        b.iter(|| {
            let idx = r.add(48, 4096);
            r.serve(&mut |_, o| o.resize(144, 0), &mut buf, &mut out);
            data = r.collect(&idx, &mut data).data;
        })
    });
}

fn session(dir: &std::path::Path) -> Server<ferry_server::fs::LinuxFs> {
    let cfg = Config::defaults_for(dir);
    let server = Server::new(fs::linux(&cfg).expect("backend"), ServerOptions::default());
    let init = InitIn {
        major: 7,
        minor: 38,
        ..Default::default()
    };
    let mut out = Vec::new();
    server.handle(&req(op::INIT, 0, init.as_slice()), &mut out, 4096);
    server
}

fn replies(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..400 {
        std::fs::write(dir.path().join(format!("module-{i}.js")), b"x").expect("file");
    }
    std::fs::write(dir.path().join("file"), b"x").expect("file");
    let server = session(dir.path());
    let mut out = Vec::new();
    let n = server.handle(&req(op::LOOKUP, 1, b"file\0"), &mut out, 4096);
    let entry = Completion {
        used_len: n as u32,
        data: out[..n].to_vec(),
        writable_len: 4096,
    };
    c.bench_function("parse ENTRY reply", |b| {
        b.iter(|| fixed::<EntryOut>(&parse(black_box(&entry), 2).expect("ok"), "LOOKUP"))
    });
    let open = OpenIn {
        flags: (libc::O_RDONLY | libc::O_DIRECTORY) as u32,
        fuse_flags: 0,
    };
    let n = server.handle(&req(op::OPENDIR, 1, open.as_slice()), &mut out, 4096);
    let fh = fixed::<OpenOut>(&out[16..n], "OPENDIR")
        .expect("opendir")
        .fh;
    let rd = ReadIn {
        fh,
        size: 64 << 10,
        ..Default::default()
    };
    let n = server.handle(&req(op::READDIRPLUS, 1, rd.as_slice()), &mut out, 1 << 17);
    let listing = Completion {
        used_len: n as u32,
        data: out[..n].to_vec(),
        writable_len: 1 << 17,
    };
    let count = direntplus(&parse(&listing, 2).expect("ok"))
        .expect("parse")
        .len();
    c.bench_function(
        &format!("parse READDIRPLUS reply ({count} entries, 64 KiB)"),
        |b| b.iter(|| direntplus(&parse(black_box(&listing), 2).expect("ok")).expect("parse")),
    );
}

fn round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("file"), b"x").expect("file");
    let server = session(dir.path());
    let mut r = rig();
    let (mut buf, mut out, mut data) = (Vec::new(), Vec::new(), Vec::new());
    let lookup = req(op::LOOKUP, 1, b"file\0");
    let mut serve = |rq: &[u8], o: &mut Vec<u8>| {
        server.handle(rq, o, 4096);
    };
    c.bench_function(
        "LOOKUP + FORGET in process (encode, ring, serve, ring, parse)",
        |b| {
            b.iter(|| {
                r.mem.write(REQ, &lookup).expect("request");
                let idx = r.add(lookup.len() as u32, 4096);
                r.serve(&mut serve, &mut buf, &mut out);
                let done = r.collect(&idx, &mut data);
                let e: EntryOut = fixed(&parse(&done, 2).expect("ok"), "LOOKUP").expect("entry");
                data = done.data;
                let forget = req(op::FORGET, e.nodeid, &1u64.to_le_bytes());
                server.handle(&forget, &mut out, 4096);
            })
        },
    );
}

criterion_group!(benches, ring, replies, round_trip);
criterion_main!(benches);
