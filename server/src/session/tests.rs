//! Session tests: the server over the real Linux backend in a temporary directory.

use std::mem::size_of;

use fuse_backend_rs::abi::fuse_abi::{
    CreateIn, EntryOut, FsOptions, InHeader, InitIn, InitOut, MkdirIn, MknodIn, OpenIn, OpenOut,
    OutHeader, ReadIn, WriteIn,
};
use vm_memory_fbr::ByteValued;

use super::*;
use crate::config::Config;
use crate::fs;
use crate::fuse::opcode as op;

struct T {
    server: Server<fs::LinuxFs>,
    dir: tempfile::TempDir,
    out: Vec<u8>,
    unique: u64,
}

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::defaults_for(dir);
    c.xattr = true;
    c
}

fn obj<T: ByteValued + Default>(b: &[u8]) -> T {
    let mut t = T::default();
    t.as_mut_slice().copy_from_slice(&b[..size_of::<T>()]);
    t
}

impl T {
    fn new(readonly: bool) -> T {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.readonly = readonly;
        let opts = ServerOptions {
            readonly,
            readdirplus: Readdirplus::Auto,
            ..Default::default()
        };
        let server = Server::new(fs::linux(&cfg).unwrap(), opts);
        T {
            server,
            dir,
            out: Vec::new(),
            unique: 0,
        }
    }

    fn started(readonly: bool) -> T {
        let mut t = T::new(readonly);
        let init = InitIn {
            major: 7,
            minor: 38,
            max_readahead: 1 << 20,
            flags: 0,
        };
        assert_eq!(t.call(op::INIT, 0, init.as_slice()).0, 0);
        t
    }

    /// Sends a request; returns (errno, payload).
    fn call(&mut self, opcode: u32, nodeid: u64, body: &[u8]) -> (i32, Vec<u8>) {
        self.unique += 1;
        let h = InHeader {
            len: (size_of::<InHeader>() + body.len()) as u32,
            opcode,
            unique: self.unique,
            nodeid,
            ..Default::default()
        };
        let mut req = h.as_slice().to_vec();
        req.extend_from_slice(body);
        let n = self.server.handle(&req, &mut self.out, 1 << 21);
        assert!(n >= size_of::<OutHeader>(), "no reply to opcode {opcode}");
        let oh: OutHeader = obj(&self.out);
        assert_eq!(oh.len as usize, n);
        assert_eq!(oh.unique, self.unique);
        (-oh.error, self.out[size_of::<OutHeader>()..n].to_vec())
    }

    fn with_name<A: ByteValued>(a: &A, name: &[u8]) -> Vec<u8> {
        let mut b = a.as_slice().to_vec();
        b.extend_from_slice(name);
        b.push(0);
        b
    }

    fn mkdir(&mut self, parent: u64, name: &[u8]) -> (i32, u64) {
        let a = MkdirIn {
            mode: 0o755,
            umask: 0,
        };
        let (e, p) = self.call(op::MKDIR, parent, &Self::with_name(&a, name));
        (
            e,
            if e == 0 {
                obj::<EntryOut>(&p).nodeid
            } else {
                0
            },
        )
    }

    fn create(&mut self, parent: u64, name: &[u8]) -> (u64, u64) {
        let a = CreateIn {
            flags: libc::O_RDWR as u32,
            mode: 0o644 | libc::S_IFREG,
            umask: 0,
            fuse_flags: 0,
        };
        let (e, p) = self.call(op::CREATE, parent, &Self::with_name(&a, name));
        assert_eq!(e, 0);
        let entry: EntryOut = obj(&p);
        let open: OpenOut = obj(&p[size_of::<EntryOut>()..]);
        (entry.nodeid, open.fh)
    }
}

#[test]
fn requests_before_init_and_second_init_get_eio() {
    let mut t = T::new(false);
    assert_eq!(t.call(op::GETATTR, 1, &[0u8; 16]).0, libc::EIO);
    let init = InitIn {
        major: 7,
        minor: 38,
        max_readahead: 0,
        flags: 0,
    };
    assert_eq!(t.call(op::INIT, 0, init.as_slice()).0, 0);
    assert_eq!(t.call(op::INIT, 0, init.as_slice()).0, libc::EIO);
    assert_eq!(t.call(op::GETATTR, 1, &[0u8; 16]).0, 0);
}

#[test]
fn readdirplus_mode_decides_the_init_flags() {
    let offered = (FsOptions::DO_READDIRPLUS | FsOptions::READDIRPLUS_AUTO).bits();
    for (mode, plus, auto) in [
        (Readdirplus::Never, false, false),
        (Readdirplus::Auto, true, true),
        (Readdirplus::Always, true, false),
    ] {
        let mut t = T::new(false);
        t.server.opts.readdirplus = mode;
        let init = InitIn {
            major: 7,
            minor: 38,
            max_readahead: 0,
            flags: offered as u32,
        };
        let (e, p) = t.call(op::INIT, 0, init.as_slice());
        assert_eq!(e, 0);
        let got = FsOptions::from_bits_truncate(obj::<InitOut>(&p).flags as u64);
        assert_eq!(got.contains(FsOptions::DO_READDIRPLUS), plus, "{mode:?}");
        assert_eq!(got.contains(FsOptions::READDIRPLUS_AUTO), auto, "{mode:?}");
    }
}

#[test]
fn forged_and_zero_nodeids_get_ebadf() {
    let mut t = T::started(false);
    assert_eq!(t.call(op::GETATTR, 0, &[0u8; 16]).0, libc::EBADF);
    assert_eq!(t.call(op::GETATTR, 0xdead_beef, &[0u8; 16]).0, libc::EBADF);
}

#[test]
fn dotdot_at_root_is_root() {
    let mut t = T::started(false);
    let (e, p) = t.call(op::LOOKUP, 1, b"..\0");
    assert_eq!(e, 0);
    assert_eq!(obj::<EntryOut>(&p).nodeid, 1);
}

#[test]
fn create_write_read_readdir() {
    let mut t = T::started(false);
    let (e, d) = t.mkdir(1, b"sub");
    assert_eq!(e, 0);
    let (ino, fh) = t.create(d, b"f");
    let w = WriteIn {
        fh,
        offset: 0,
        size: 5,
        ..Default::default()
    };
    let (e, _) = t.call(op::WRITE, ino, &[w.as_slice(), b"hello"].concat());
    assert_eq!(e, 0);
    assert_eq!(std::fs::read(t.dir.path().join("sub/f")).unwrap(), b"hello");
    let r = ReadIn {
        fh,
        offset: 1,
        size: 100,
        ..Default::default()
    };
    let (e, data) = t.call(op::READ, ino, r.as_slice());
    assert_eq!((e, data.as_slice()), (0, &b"ello"[..]));
    let (e, p) = t.call(op::OPENDIR, d, OpenIn::default().as_slice());
    assert_eq!(e, 0);
    let dfh = obj::<OpenOut>(&p).fh;
    let r = ReadIn {
        fh: dfh,
        offset: 0,
        size: 4096,
        ..Default::default()
    };
    let (e, p) = t.call(op::READDIR, d, r.as_slice());
    assert_eq!(e, 0);
    assert!(p.windows(1).any(|w| w == b"f"), "readdir lists the file");
}

#[test]
fn readonly_export_refuses_changes() {
    let mut t = T::started(true);
    assert_eq!(t.mkdir(1, b"x").0, libc::EROFS);
    let o = OpenIn {
        flags: libc::O_WRONLY as u32,
        fuse_flags: 0,
    };
    assert_eq!(t.call(op::OPEN, 1, o.as_slice()).0, libc::EROFS);
    let c = CreateIn {
        flags: libc::O_RDONLY as u32,
        mode: 0o644 | libc::S_IFREG,
        umask: 0,
        fuse_flags: 0,
    };
    assert_eq!(
        t.call(op::CREATE, 1, &T::with_name(&c, b"y")).0,
        libc::EROFS
    );
    assert!(!t.dir.path().join("x").exists());
    assert!(!t.dir.path().join("y").exists());
}

#[test]
fn device_nodes_are_refused() {
    let mut t = T::started(false);
    let a = MknodIn {
        mode: libc::S_IFCHR | 0o666,
        rdev: 0x0801,
        umask: 0,
        padding: 0,
    };
    assert_eq!(
        t.call(op::MKNOD, 1, &T::with_name(&a, b"sda")).0,
        libc::EPERM
    );
    let a = MknodIn {
        mode: libc::S_IFIFO | 0o644,
        rdev: 0,
        umask: 0,
        padding: 0,
    };
    assert_eq!(t.call(op::MKNOD, 1, &T::with_name(&a, b"fifo")).0, 0);
}

#[test]
fn unsupported_opcodes_get_enosys() {
    let mut t = T::started(false);
    for opc in [op::IOCTL, op::POLL, op::SETUPMAPPING, op::BMAP, 777] {
        assert_eq!(t.call(opc, 1, &[0u8; 64]).0, libc::ENOSYS, "opcode {opc}");
    }
}

#[test]
fn no_room_for_a_header_means_no_reply_and_no_action() {
    let t = T::started(false);
    let a = MkdirIn {
        mode: 0o755,
        umask: 0,
    };
    let body = T::with_name(&a, b"quiet");
    let h = InHeader {
        len: (40 + body.len()) as u32,
        opcode: op::MKDIR,
        unique: 9,
        nodeid: 1,
        ..Default::default()
    };
    let mut out = Vec::new();
    let n = t
        .server
        .handle(&[h.as_slice(), &body].concat(), &mut out, 8);
    assert_eq!(n, 0);
    assert!(!t.dir.path().join("quiet").exists());
}

#[test]
fn forget_of_root_keeps_it() {
    let mut t = T::started(false);
    let body = fuse_backend_rs::abi::fuse_abi::ForgetIn { nlookup: 1000 };
    let h = InHeader {
        len: 48,
        opcode: op::FORGET,
        unique: 99,
        nodeid: 1,
        ..Default::default()
    };
    let n = t
        .server
        .handle(&[h.as_slice(), body.as_slice()].concat(), &mut t.out, 4096);
    assert_eq!(n, 0);
    assert_eq!(t.call(op::GETATTR, 1, &[0u8; 16]).0, 0);
}

/// Parses a READDIR reply into (name, off) pairs.
fn dirents(p: &[u8]) -> Vec<(Vec<u8>, u64)> {
    use fuse_backend_rs::abi::fuse_abi::Dirent;
    let mut v = Vec::new();
    let mut rest = p;
    while rest.len() >= size_of::<Dirent>() {
        let d: Dirent = obj(rest);
        let end = size_of::<Dirent>() + d.namelen as usize;
        v.push((rest[size_of::<Dirent>()..end].to_vec(), d.off));
        rest = &rest[end.next_multiple_of(8).min(rest.len())..];
    }
    v
}

#[test]
fn readdir_lists_dots_once_whatever_the_buffer_size() {
    let mut t = T::started(false);
    for n in [b"a", b"b", b"c"] {
        t.create(1, n);
    }
    let (_, p) = t.call(op::OPENDIR, 1, OpenIn::default().as_slice());
    let fh = obj::<OpenOut>(&p).fh;
    for size in [4096u32, 200] {
        let mut names = Vec::new();
        let mut offset = 0;
        loop {
            let r = ReadIn {
                fh,
                offset,
                size,
                ..Default::default()
            };
            let (e, p) = t.call(op::READDIR, 1, r.as_slice());
            assert_eq!(e, 0);
            let got = dirents(&p);
            let Some(last) = got.last() else { break };
            offset = last.1;
            names.extend(got.into_iter().map(|(n, _)| n));
            assert!(
                names.len() < 20,
                "readdir does not terminate with size {size}"
            );
        }
        names.sort();
        let want: Vec<Vec<u8>> = [".", "..", "a", "b", "c"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(names, want, "buffer size {size}");
    }
    let r = ReadIn {
        fh,
        offset: 0,
        size: 8,
        ..Default::default()
    };
    assert_eq!(
        t.call(op::READDIR, 1, r.as_slice()).0,
        libc::EINVAL,
        "no room for one entry"
    );
}

/// LOOKUP as the guest reads it: a negative entry (node id 0) is ENOENT.
fn lookup(t: &mut T, parent: u64, name: &[u8]) -> (i32, EntryOut) {
    let (e, p) = t.call(op::LOOKUP, parent, &[name, b"\0"].concat());
    match e {
        0 => match obj::<EntryOut>(&p) {
            n if n.nodeid == 0 => (libc::ENOENT, n),
            n => (0, n),
        },
        e => (e, EntryOut::default()),
    }
}

fn open(t: &mut T, node: u64, flags: i32) -> (i32, u64) {
    let (e, p) = t.call(
        op::OPEN,
        node,
        OpenIn {
            flags: flags as u32,
            fuse_flags: 0,
        }
        .as_slice(),
    );
    (e, if e == 0 { obj::<OpenOut>(&p).fh } else { 0 })
}

#[test]
fn a4_15_symlinks_are_text_never_followed() {
    let mut t = T::started(false);
    let (e, p) = t.call(op::SYMLINK, 1, b"l\0/etc/shadow\0");
    assert_eq!(e, 0);
    let l = obj::<EntryOut>(&p).nodeid;
    let (e, target) = t.call(op::READLINK, l, &[]);
    assert_eq!((e, target.as_slice()), (0, &b"/etc/shadow"[..]));
    let (e, _) = open(&mut t, l, libc::O_RDONLY);
    assert_eq!(e, libc::ELOOP, "OPEN of a symlink must not open its target");
    let (e, _) = t.call(op::LOOKUP, l, b"x\0");
    assert_ne!(e, 0, "a symlink is not a directory to look up in");
}

#[test]
fn a4_17_fifo_open_is_refused_without_blocking() {
    let mut t = T::started(false);
    let a = MknodIn {
        mode: libc::S_IFIFO | 0o666,
        rdev: 0,
        umask: 0,
        padding: 0,
    };
    let (e, p) = t.call(op::MKNOD, 1, &T::with_name(&a, b"fifo"));
    assert_eq!(e, 0);
    let f = obj::<EntryOut>(&p).nodeid;
    // A blocking open would hang this test: no writer ever comes.
    assert_ne!(open(&mut t, f, libc::O_RDONLY).0, 0);
}

#[test]
fn a4_18_writes_need_a_writable_handle_of_that_inode() {
    let mut t = T::started(false);
    let (a, _) = t.create(1, b"a");
    let (b, _) = t.create(1, b"b");
    let (e, ro) = open(&mut t, a, libc::O_RDONLY);
    assert_eq!(e, 0);
    let write = |fh| {
        [
            WriteIn {
                fh,
                size: 1,
                ..Default::default()
            }
            .as_slice(),
            b"x",
        ]
        .concat()
    };
    assert_eq!(
        t.call(op::WRITE, a, &write(ro)).0,
        libc::EBADF,
        "read-only handle"
    );
    assert_eq!(
        t.call(op::WRITE, b, &write(ro)).0,
        libc::EBADF,
        "handle of another inode"
    );
    assert_eq!(
        t.call(op::WRITE, a, &write(0xfeed)).0,
        libc::EBADF,
        "handle never issued"
    );
    assert_eq!(std::fs::read(t.dir.path().join("a")).unwrap(), b"");
}

#[test]
fn a4_20_readdir_garbage_cookie_and_huge_size() {
    let mut t = T::started(false);
    t.create(1, b"f");
    let (_, p) = t.call(op::OPENDIR, 1, OpenIn::default().as_slice());
    let fh = obj::<OpenOut>(&p).fh;
    let r = ReadIn {
        fh,
        offset: 0x1234_5678_9abc,
        size: u32::MAX,
        ..Default::default()
    };
    let (e, p) = t.call(op::READDIR, 1, r.as_slice());
    assert_eq!(e, 0);
    assert!(p.len() <= 1 << 20, "reply clamped to 1 MiB");
    let r = ReadIn {
        fh,
        offset: 0,
        size: u32::MAX,
        ..Default::default()
    };
    let (e, p) = t.call(op::READDIRPLUS, 1, r.as_slice());
    assert_eq!(e, 0);
    assert!(!p.is_empty() && p.len() <= 1 << 20);
}

#[test]
fn a4_23_rename_into_own_child_and_link_of_a_directory() {
    let mut t = T::started(false);
    let (_, d) = t.mkdir(1, b"d");
    let (_, _) = t.mkdir(d, b"child");
    let mut b = fuse_backend_rs::abi::fuse_abi::RenameIn { newdir: d }
        .as_slice()
        .to_vec();
    b.extend_from_slice(b"d\0inside\0");
    assert_eq!(t.call(op::RENAME, 1, &b).0, libc::EINVAL);
    let l = fuse_backend_rs::abi::fuse_abi::LinkIn { oldnodeid: d };
    assert_eq!(
        t.call(op::LINK, 1, &T::with_name(&l, b"hard")).0,
        libc::EPERM
    );
    let (e, _) = lookup(&mut t, 1, b"hard");
    assert_eq!(e, libc::ENOENT);
}

#[test]
fn statx_reports_the_birth_time_when_asked() {
    use crate::fuse::statx::{StatxIn, STATX_OUT_LEN};
    let mut t = T::started(false);
    let a = StatxIn {
        sx_mask: libc::STATX_BTIME,
        ..Default::default()
    };
    let (e, p) = t.call(op::STATX, 1, a.as_slice());
    assert_eq!(e, 0);
    assert_eq!(p.len(), STATX_OUT_LEN);
    let mask = u32::from_le_bytes(p[32..36].try_into().unwrap());
    assert_eq!(mask & libc::STATX_BASIC_STATS, libc::STATX_BASIC_STATS);
    let mode = u16::from_le_bytes(p[60..62].try_into().unwrap());
    assert_eq!(u32::from(mode) & libc::S_IFMT, libc::S_IFDIR);
    // A forged node is EBADF, as everywhere.
    assert_eq!(t.call(op::STATX, 999, a.as_slice()).0, libc::EBADF);
}

#[test]
fn absent_names_are_negative_entries_for_the_entry_timeout() {
    let mut t = T::started(false);
    let (e, p) = t.call(op::LOOKUP, 1, b"nothing\0");
    assert_eq!(e, 0);
    let n: EntryOut = obj(&p);
    assert_eq!((n.nodeid, n.entry_valid, n.attr_valid), (0, 1, 0));
    // Other errors stay errors.
    let (f, _) = t.create(1, b"f");
    assert_eq!(t.call(op::LOOKUP, f, b"x\0").0, libc::ENOTDIR);
}
