//! Hot paths of a request: decoding, the name check, encoding, and a whole request served by
//! the session over the Linux backend (GETATTR and LOOKUP on a temporary directory).

use std::hint::black_box;
use std::mem::size_of;

use criterion::{criterion_group, criterion_main, Criterion};
use ferry::config::Config;
use ferry::fs;
use ferry::fuse::decode::decode;
use ferry::fuse::name::Name;
use ferry::fuse::opcode as op;
use ferry::fuse::reply::Reply;
use ferry::server::{Server, ServerOptions};
use fuse_backend_rs::abi::fuse_abi::{EntryOut, InHeader, InitIn, WriteIn};
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
}

criterion_group!(benches, protocol, session);
criterion_main!(benches);
