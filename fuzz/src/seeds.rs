//! The seed corpus: small valid sessions in each target's input format (see the crate
//! documentation). `cargo run --example gen-seeds` writes them to `corpus/<target>/`.
//!
//! Over the real backend every input starts from an empty share, so node ids and file handles
//! are predictable: the root is 1, the first node created 2, the first handle 1.

use fuse_backend_rs::abi::fuse_abi::{
    AccessIn, BatchForgetIn, CopyFileRangeIn, CreateIn, FallocateIn, FlushIn, ForgetIn, ForgetOne,
    FsyncIn, GetattrIn, GetxattrIn, LinkIn, LseekIn, MkdirIn, MknodIn, OpenIn, ReadIn, ReleaseIn,
    Rename2In, RenameIn, SetattrIn, SetxattrIn, WriteIn,
};
use vm_memory_fbr::ByteValued;

use crate::{request, Flags, MAX_QUEUE, VQ_HEADER};
use ferry_server::fuse::mapping::SetupMappingIn;
use ferry_server::fuse::opcode as op;

/// Builds one `decode`/`request_path` input.
pub struct Session {
    bytes: Vec<u8>,
    unique: u64,
}

fn with_names<A: ByteValued>(a: &A, names: &[&[u8]]) -> Vec<u8> {
    let mut b = a.as_slice().to_vec();
    for n in names {
        b.extend_from_slice(n);
        b.push(0);
    }
    b
}

fn names(names: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for n in names {
        b.extend_from_slice(n);
        b.push(0);
    }
    b
}

impl Session {
    pub fn new(flags: u8) -> Self {
        Session {
            bytes: vec![flags],
            unique: 0,
        }
    }

    /// Appends a request with a full reply room.
    pub fn req(self, opcode: u32, nodeid: u64, body: &[u8]) -> Self {
        self.req_cap(opcode, nodeid, body, 0)
    }

    /// Appends a request with the record's `cap` byte.
    pub fn req_cap(mut self, opcode: u32, nodeid: u64, body: &[u8], cap: u8) -> Self {
        self.unique += 1;
        let r = request(opcode, self.unique, nodeid, body);
        self.raw(&r, cap)
    }

    /// Appends raw request bytes.
    pub fn raw(mut self, r: &[u8], cap: u8) -> Self {
        let len = u16::try_from(r.len()).expect("a seed request under 64 KiB");
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.push(cap);
        self.bytes.extend_from_slice(r);
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn create(name: &[u8]) -> Vec<u8> {
    let a = CreateIn {
        flags: libc::O_RDWR as u32,
        mode: 0o644 | libc::S_IFREG,
        umask: 0o022,
        fuse_flags: 0,
    };
    with_names(&a, &[name])
}

fn write(fh: u64, offset: u64, data: &[u8]) -> Vec<u8> {
    let a = WriteIn {
        fh,
        offset,
        size: data.len() as u32,
        ..Default::default()
    };
    let mut b = a.as_slice().to_vec();
    b.extend_from_slice(data);
    b
}

fn read(fh: u64, offset: u64, size: u32) -> Vec<u8> {
    ReadIn {
        fh,
        offset,
        size,
        ..Default::default()
    }
    .as_slice()
    .to_vec()
}

/// The sessions of the `decode` and `request_path` seeds, by name.
pub fn sessions() -> Vec<(&'static str, Vec<u8>)> {
    let rdp = Flags::READDIRPLUS;
    let getattr = GetattrIn::default();
    let mkdir = MkdirIn {
        mode: 0o755,
        umask: 0o022,
    };
    let open_rw = OpenIn {
        flags: libc::O_RDWR as u32,
        ..Default::default()
    };
    let open_dir = OpenIn {
        flags: libc::O_RDONLY as u32 | libc::O_DIRECTORY as u32,
        ..Default::default()
    };
    let release = |fh| ReleaseIn {
        fh,
        ..Default::default()
    };
    let mut v = Vec::new();
    v.push(("init", Session::new(rdp).bytes()));
    v.push((
        "lookup_getattr",
        Session::new(rdp)
            .req(op::LOOKUP, 1, &names(&[b"a"]))
            .req(op::LOOKUP, 1, &names(&[b".."]))
            .req(op::GETATTR, 1, getattr.as_slice())
            .req(op::STATFS, 1, &[])
            .req(
                op::ACCESS,
                1,
                AccessIn {
                    mask: 7,
                    padding: 0,
                }
                .as_slice(),
            )
            .bytes(),
    ));
    v.push((
        "mkdir_readdir",
        Session::new(rdp)
            .req(op::MKDIR, 1, &with_names(&mkdir, &[b"d"]))
            .req(op::LOOKUP, 1, &names(&[b"d"]))
            .req(op::MKDIR, 2, &with_names(&mkdir, &[b"e"]))
            .req(op::OPENDIR, 2, open_dir.as_slice())
            .req(op::READDIR, 2, &read(1, 0, 4096))
            .req(op::READDIRPLUS, 2, &read(1, 0, 4096))
            .req(op::FSYNCDIR, 2, FsyncIn::default().as_slice())
            .req(op::RELEASEDIR, 2, release(1).as_slice())
            .req(op::RMDIR, 2, &names(&[b"e"]))
            .req(op::RMDIR, 1, &names(&[b"d"]))
            .bytes(),
    ));
    let setattr = SetattrIn {
        valid: 1 << 3 | 1,
        size: 3,
        mode: 0o600 | libc::S_IFREG,
        ..Default::default()
    };
    v.push((
        "create_write_read",
        Session::new(rdp)
            .req(op::CREATE, 1, &create(b"f"))
            .req(op::WRITE, 2, &write(1, 0, b"hello, ferry"))
            .req(op::READ, 2, &read(1, 0, 4096))
            .req(
                op::LSEEK,
                2,
                LseekIn {
                    fh: 1,
                    offset: 0,
                    whence: 3,
                    padding: 0,
                }
                .as_slice(),
            )
            .req(
                op::FLUSH,
                2,
                FlushIn {
                    fh: 1,
                    ..Default::default()
                }
                .as_slice(),
            )
            .req(
                op::FSYNC,
                2,
                FsyncIn {
                    fh: 1,
                    ..Default::default()
                }
                .as_slice(),
            )
            .req(
                op::FALLOCATE,
                2,
                FallocateIn {
                    fh: 1,
                    offset: 0,
                    length: 8192,
                    mode: 0,
                    padding: 0,
                }
                .as_slice(),
            )
            .req(op::SETATTR, 2, setattr.as_slice())
            .req(op::GETATTR, 2, getattr.as_slice())
            .req(op::RELEASE, 2, release(1).as_slice())
            .req(op::OPEN, 2, open_rw.as_slice())
            .req(op::READ, 2, &read(2, 0, 4096))
            .req(op::RELEASE, 2, release(2).as_slice())
            .req(op::UNLINK, 1, &names(&[b"f"]))
            .req(op::FORGET, 2, ForgetIn { nlookup: 1 }.as_slice())
            .bytes(),
    ));
    v.push((
        "small_replies",
        Session::new(rdp)
            .req(op::CREATE, 1, &create(b"f"))
            .req_cap(op::WRITE, 2, &write(1, 0, b"0123456789"), 0x82)
            .req_cap(op::READ, 2, &read(1, 0, 4096), 0x83)
            .req_cap(op::GETATTR, 2, getattr.as_slice(), 0x84)
            .req_cap(op::LOOKUP, 1, &names(&[b"f"]), 0x80)
            .bytes(),
    ));
    v.push((
        "links_renames",
        Session::new(rdp)
            .req(op::CREATE, 1, &create(b"f"))
            .req(op::LINK, 1, &with_names(&LinkIn { oldnodeid: 2 }, &[b"g"]))
            .req(
                op::RENAME,
                1,
                &with_names(&RenameIn { newdir: 1 }, &[b"g", b"h"]),
            )
            .req(
                op::RENAME2,
                1,
                &with_names(
                    &Rename2In {
                        newdir: 1,
                        flags: libc::RENAME_EXCHANGE,
                        padding: 0,
                    },
                    &[b"f", b"h"],
                ),
            )
            .req(op::SYMLINK, 1, &names(&[b"l", b"/etc/shadow"]))
            .req(op::READLINK, 3, &[])
            .req(op::OPEN, 3, open_rw.as_slice())
            .req(
                op::MKNOD,
                1,
                &with_names(
                    &MknodIn {
                        mode: libc::S_IFIFO | 0o644,
                        rdev: 0,
                        umask: 0,
                        padding: 0,
                    },
                    &[b"p"],
                ),
            )
            .req(op::OPEN, 4, open_rw.as_slice())
            .req(op::UNLINK, 1, &names(&[b"h"]))
            .bytes(),
    ));
    let setxattr = SetxattrIn { size: 3, flags: 0 };
    let mut sx = with_names(&setxattr, &[b"user.ferry"]);
    sx.extend_from_slice(b"abc");
    v.push((
        "xattr",
        Session::new(rdp)
            .req(op::CREATE, 1, &create(b"f"))
            .req(op::SETXATTR, 2, &sx)
            .req(
                op::GETXATTR,
                2,
                &with_names(
                    &GetxattrIn {
                        size: 64,
                        padding: 0,
                    },
                    &[b"user.ferry"],
                ),
            )
            .req(
                op::GETXATTR,
                2,
                &with_names(
                    &GetxattrIn {
                        size: 0,
                        padding: 0,
                    },
                    &[b"user.ferry"],
                ),
            )
            .req(
                op::LISTXATTR,
                2,
                GetxattrIn {
                    size: 64,
                    padding: 0,
                }
                .as_slice(),
            )
            .req(op::REMOVEXATTR, 2, &names(&[b"user.ferry"]))
            .bytes(),
    ));
    let cfr = CopyFileRangeIn {
        fh_in: 1,
        offset_in: 0,
        nodeid_out: 3,
        fh_out: 2,
        offset_out: 0,
        len: 5,
        flags: 0,
    };
    let forget_two = {
        let mut b = BatchForgetIn { count: 2, dummy: 0 }.as_slice().to_vec();
        b.extend_from_slice(
            ForgetOne {
                nodeid: 2,
                nlookup: 1,
            }
            .as_slice(),
        );
        b.extend_from_slice(
            ForgetOne {
                nodeid: 3,
                nlookup: 1,
            }
            .as_slice(),
        );
        b
    };
    v.push((
        "copy_statx_forget",
        Session::new(rdp | Flags::AUTO_INVAL_DATA)
            .req(op::CREATE, 1, &create(b"a"))
            .req(op::WRITE, 2, &write(1, 0, b"12345"))
            .req(op::CREATE, 1, &create(b"b"))
            .req(op::COPY_FILE_RANGE, 2, cfr.as_slice())
            .req(op::STATX, 3, &[0u8; 24])
            .req(op::SYNCFS, 1, &[0u8; 8])
            .req(op::TMPFILE, 1, &create(b""))
            .req(op::BATCH_FORGET, 0, &forget_two)
            .req(op::DESTROY, 1, &[])
            .bytes(),
    ));
    v.push((
        "readonly",
        Session::new(rdp | Flags::READONLY)
            .req(op::MKDIR, 1, &with_names(&mkdir, &[b"d"]))
            .req(op::OPENDIR, 1, open_dir.as_slice())
            .req(op::READDIRPLUS, 1, &read(1, 0, 1 << 20))
            .bytes(),
    ));
    v.push((
        "hostile_names",
        Session::new(rdp | Flags::ALLOW_DEVICES)
            .req(op::LOOKUP, 1, b"a/b\0")
            .req(op::MKDIR, 1, &with_names(&mkdir, &[b".."]))
            .req(op::LOOKUP, 1, b"noterminator")
            .req(op::LOOKUP, 1, b"in\0terior\0")
            .req(op::LOOKUP, 1, &names(&[&[b'x'; 300]]))
            .req(op::GETATTR, 99, getattr.as_slice())
            .req(op::READ, 1, &read(77, u64::MAX - 1, 4096))
            .req(op::INIT, 0, &[0u8; 16])
            .req(999, 1, &[])
            .raw(&[1, 2, 3], 0)
            .bytes(),
    ));
    let map = |fh: u64, foffset: u64, flags: u64, moffset: u64| SetupMappingIn {
        fh,
        foffset,
        len: 2 << 20,
        flags,
        moffset,
    };
    let mut remove = 2u32.to_le_bytes().to_vec();
    for m in [0u64, 2 << 20] {
        remove.extend_from_slice(&m.to_le_bytes());
        remove.extend_from_slice(&(2u64 << 20).to_le_bytes());
    }
    v.push((
        "dax",
        Session::new(rdp)
            .req(op::CREATE, 1, &create(b"f"))
            .req(op::WRITE, 2, &write(1, 0, b"mapped"))
            .req(op::SETUPMAPPING, 2, map(1, 0, 2, 0).as_slice())
            .req(op::SETUPMAPPING, 2, map(0, 0, 3, 2 << 20).as_slice())
            .req(op::SETUPMAPPING, 2, map(1, 4096, 2, 6 << 20).as_slice())
            .req(op::SETUPMAPPING, 1, map(0, 0, 2, 0).as_slice())
            .req(op::REMOVEMAPPING, 2, &remove)
            .req(op::REMOVEMAPPING, 2, &remove[..20])
            .bytes(),
    ));
    v
}

const DESC: u16 = 0x100;
const AVAIL: u16 = 0x200;
const USED: u16 = 0x300;
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const INDIRECT: u16 = 4;

/// Builds one `virtqueue` input: a queue of `size` entries with its table and rings at fixed
/// addresses, and the buffers the descriptors point to.
pub struct Vq {
    size: u16,
    mem: Vec<u8>,
    next_desc: u16,
    heads: Vec<u16>,
    /// Next free byte for buffers.
    heap: u64,
}

impl Vq {
    pub fn new(size: u16) -> Self {
        assert!(size <= MAX_QUEUE);
        Vq {
            size,
            mem: vec![0; 0x400],
            next_desc: 0,
            heads: Vec::new(),
            heap: 0x400,
        }
    }

    fn put(&mut self, addr: u64, bytes: &[u8]) {
        let a = addr as usize;
        if self.mem.len() < a + bytes.len() {
            self.mem.resize(a + bytes.len(), 0);
        }
        self.mem[a..a + bytes.len()].copy_from_slice(bytes);
    }

    fn alloc(&mut self, bytes: &[u8], len: u32) -> u64 {
        let a = self.heap;
        self.put(a, bytes);
        self.heap += u64::from(len).next_multiple_of(16);
        a
    }

    fn desc_at(&mut self, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut d = addr.to_le_bytes().to_vec();
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&next.to_le_bytes());
        self.put(table + u64::from(i) * 16, &d);
    }

    /// A chain: `readable` buffers (each its own descriptor), then writable ones of these sizes.
    pub fn chain(mut self, readable: &[&[u8]], writable: &[u32]) -> Self {
        let n = (readable.len() + writable.len()) as u16;
        let head = self.next_desc;
        let mut i = head;
        for (k, r) in readable.iter().enumerate() {
            let a = self.alloc(r, r.len() as u32);
            let last = k + 1 == n as usize;
            let flags = if last { 0 } else { NEXT };
            self.desc_at(u64::from(DESC), i, a, r.len() as u32, flags, i + 1);
            i += 1;
        }
        for (k, &w) in writable.iter().enumerate() {
            let a = self.alloc(&[], w);
            let last = readable.len() + k + 1 == n as usize;
            let flags = WRITE | if last { 0 } else { NEXT };
            self.desc_at(u64::from(DESC), i, a, w, flags, i + 1);
            i += 1;
        }
        self.next_desc = i;
        self.heads.push(head);
        self
    }

    /// A chain of one indirect descriptor holding a readable and a writable descriptor.
    pub fn indirect(mut self, req: &[u8], reply: u32) -> Self {
        let r = self.alloc(req, req.len() as u32);
        let w = self.alloc(&[], reply);
        let table = self.alloc(&[0; 32], 32);
        self.desc_at(table, 0, r, req.len() as u32, NEXT, 1);
        self.desc_at(table, 1, w, reply, WRITE, 0);
        let head = self.next_desc;
        self.desc_at(u64::from(DESC), head, table, 32, INDIRECT, 0);
        self.next_desc += 1;
        self.heads.push(head);
        self
    }

    /// The input: header (flags as in [`crate::virtqueue`]), then the memory image.
    pub fn bytes(mut self, flags: u8) -> Vec<u8> {
        let mut avail = 0u16.to_le_bytes().to_vec();
        avail.extend_from_slice(&(self.heads.len() as u16).to_le_bytes());
        for h in self.heads.clone() {
            avail.extend_from_slice(&h.to_le_bytes());
        }
        self.put(u64::from(AVAIL), &avail);
        let mut v = Vec::with_capacity(VQ_HEADER + self.mem.len());
        for x in [self.size, DESC, AVAIL, USED, 0] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.push(flags);
        v.push(Flags::READDIRPLUS);
        // Trailing zeros are implied.
        while self.mem.last() == Some(&0) {
            self.mem.pop();
        }
        v.extend_from_slice(&self.mem);
        v
    }
}

/// The seeds of the `virtqueue` target, by name.
pub fn virtqueues() -> Vec<(&'static str, Vec<u8>)> {
    let getattr = request(op::GETATTR, 1, 1, GetattrIn::default().as_slice());
    let lookup = request(op::LOOKUP, 2, 1, &names(&[b"a"]));
    let (lh, lb) = lookup.split_at(40);
    let read = request(op::READ, 3, 1, &read(1, 0, 4096));
    let init = crate::init_request();
    vec![
        ("one_chain", Vq::new(8).chain(&[&getattr], &[256]).bytes(0)),
        (
            "split_and_indirect",
            Vq::new(8)
                .chain(&[lh, lb], &[16, 240])
                .indirect(&getattr, 256)
                .chain(&[&read], &[8])
                .chain(&[&getattr], &[])
                .bytes(1),
        ),
        (
            "init_in_queue",
            Vq::new(4)
                .chain(&[&init], &[128])
                .chain(&[&lookup], &[256])
                .bytes(2 | 4),
        ),
    ]
}
