//! The 9P session over the Linux backend on a temporary directory, driven by hand-made frames.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ferry_9p::{lock, msg, AT_REMOVEDIR, NOFID, NONUNAME, NOTAG};

use super::*;
use crate::config::Config;
use crate::fs::LinuxFs;

/// A T-message body under construction.
#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn s(self, v: &[u8]) -> Self {
        let mut b = self.u16(v.len() as u16);
        b.0.extend_from_slice(v);
        b
    }
    fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

fn frame(ty: u8, tag: u16, body: B) -> Vec<u8> {
    let mut v = ((7 + body.0.len()) as u32).to_le_bytes().to_vec();
    v.push(ty);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&body.0);
    v
}

struct T {
    s: Session<LinuxFs>,
    dir: tempfile::TempDir,
}

/// Result of one request: Ok(body of the R-message) or Err(errno of Rlerror).
type Res = Result<Vec<u8>, u32>;

impl T {
    fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(backend(dir.path()));
        T {
            s: Session::new(fs, SessionOptions::default()),
            dir,
        }
    }

    fn call(&mut self, ty: u8, body: B) -> Res {
        let mut out = Vec::new();
        let n = self.s.handle(&frame(ty, 1, body), &mut out);
        assert_eq!(n, out.len());
        assert_eq!(u32::from_le_bytes(out[..4].try_into().unwrap()) as usize, n);
        assert_eq!(
            &out[5..7],
            &1u16.to_le_bytes(),
            "the reply carries the request's tag"
        );
        if out[4] == msg::RLERROR {
            return Err(u32::from_le_bytes(out[7..11].try_into().unwrap()));
        }
        assert_eq!(out[4], ty + 1);
        Ok(out[7..].to_vec())
    }

    /// Tversion and Tattach of fid 0 as uid 0.
    fn attached() -> T {
        let mut t = T::new();
        let r = t
            .call(msg::TVERSION, B::default().u32(65536).s(b"9P2000.L"))
            .unwrap();
        assert_eq!(&r[..4], &65536u32.to_le_bytes());
        t.call(
            msg::TATTACH,
            B::default().u32(0).u32(NOFID).s(b"").s(b"").u32(0),
        )
        .unwrap();
        t
    }

    fn walk(&mut self, fid: u32, newfid: u32, names: &[&[u8]]) -> Res {
        let mut b = B::default().u32(fid).u32(newfid).u16(names.len() as u16);
        for n in names {
            b = b.s(n);
        }
        self.call(msg::TWALK, b)
    }

    fn clunk(&mut self, fid: u32) -> Res {
        self.call(msg::TCLUNK, B::default().u32(fid))
    }

    fn read(&mut self, fid: u32, off: u64, count: u32) -> Res {
        let r = self.call(msg::TREAD, B::default().u32(fid).u64(off).u32(count))?;
        let n = u32::from_le_bytes(r[..4].try_into().unwrap()) as usize;
        assert_eq!(n, r.len() - 4);
        Ok(r[4..].to_vec())
    }

    fn host(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
}

fn backend(root: &std::path::Path) -> LinuxFs {
    let mut cfg = Config::defaults_for(root);
    cfg.xattr = true;
    cfg.locks = true;
    let fs = crate::fs::linux(&cfg).unwrap();
    init_backend(&fs).unwrap();
    fs
}

#[test]
fn create_write_read_list_and_remove() {
    let mut t = T::attached();
    t.walk(0, 1, &[]).unwrap();
    let r = t.call(
        msg::TLCREATE,
        B::default()
            .u32(1)
            .s(b"f")
            .u32(libc::O_RDWR as u32)
            .u32(0o640)
            .u32(0),
    );
    assert_eq!(r.unwrap()[0], ferry_9p::qtype::FILE);
    let w = t
        .call(msg::TWRITE, B::default().u32(1).u64(0).u32(5).raw(b"hello"))
        .unwrap();
    assert_eq!(w, 5u32.to_le_bytes());
    assert_eq!(t.read(1, 1, 100).unwrap(), b"ello");
    t.clunk(1).unwrap();
    assert_eq!(std::fs::read(t.host("f")).unwrap(), b"hello");
    assert_eq!(
        std::fs::metadata(t.host("f")).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // getattr of the file, through a walk.
    let q = t.walk(0, 2, &[b"f"]).unwrap();
    assert_eq!(&q[..2], &1u16.to_le_bytes());
    let a = t
        .call(
            msg::TGETATTR,
            B::default().u32(2).u64(ferry_9p::getattr::BASIC),
        )
        .unwrap();
    let size = u64::from_le_bytes(a[8 + 13 + 12 + 16..8 + 13 + 12 + 24].try_into().unwrap());
    assert_eq!(size, 5);

    // The listing names it, after `.` and `..`.
    std::fs::create_dir(t.host("d")).unwrap();
    t.walk(0, 3, &[]).unwrap();
    t.call(msg::TLOPEN, B::default().u32(3).u32(libc::O_RDONLY as u32))
        .unwrap();
    let r = t
        .call(msg::TREADDIR, B::default().u32(3).u64(0).u32(4096))
        .unwrap();
    let mut names = Vec::new();
    let mut p = &r[4..];
    while !p.is_empty() {
        let len = u16::from_le_bytes([p[22], p[23]]) as usize;
        names.push(String::from_utf8(p[24..24 + len].to_vec()).unwrap());
        p = &p[24 + len..];
    }
    names.sort();
    assert_eq!(names, [".", "..", "d", "f"]);

    t.call(msg::TUNLINKAT, B::default().u32(0).s(b"f").u32(0))
        .unwrap();
    t.call(
        msg::TUNLINKAT,
        B::default().u32(0).s(b"d").u32(AT_REMOVEDIR),
    )
    .unwrap();
    assert!(!t.host("f").exists() && !t.host("d").exists());
}

#[test]
fn walks_stay_beneath_the_share() {
    let mut t = T::attached();
    std::fs::create_dir(t.host("sub")).unwrap();
    // `..` of the root is the root; `..` of sub is the root.
    let root_qid = t.walk(0, 1, &[b".."]).unwrap();
    let via_sub = t.walk(0, 2, &[b"sub", b".."]).unwrap();
    assert_eq!(&root_qid[2..], &via_sub[2 + 13..]);
    // Names with a slash, empty ones and NULs are refused (9pfs CVE-2016-7116).
    assert_eq!(t.walk(0, 3, &[b"sub/.."]), Err(libc::ENOENT as u32));
    assert_eq!(t.walk(0, 3, &[b""]), Err(libc::ENOENT as u32));
    assert_eq!(t.walk(0, 3, &[b"a\0b"]), Err(libc::EINVAL as u32));
    assert_eq!(t.walk(0, 3, &[b"/etc"]), Err(libc::ENOENT as u32));
    // A symlink out of the share is a symlink, never followed: walking on through it fails,
    // opening it fails.
    std::os::unix::fs::symlink("/etc", t.host("out")).unwrap();
    let q = t.walk(0, 3, &[b"out"]).unwrap();
    assert_eq!(q[2], ferry_9p::qtype::SYMLINK);
    let r = t.walk(0, 4, &[b"out", b"passwd"]).unwrap();
    assert_eq!(
        &r[..2],
        &1u16.to_le_bytes(),
        "the walk stops at the symlink"
    );
    assert_eq!(t.clunk(4), Err(libc::EBADF as u32));
    assert!(t.call(msg::TLOPEN, B::default().u32(3).u32(0)).is_err());
    let target = t.call(msg::TREADLINK, B::default().u32(3)).unwrap();
    assert_eq!(&target[2..], b"/etc");
    // A partial walk answers the qids it got and makes no new fid.
    let r = t.walk(0, 5, &[b"sub", b"missing"]).unwrap();
    assert_eq!(&r[..2], &1u16.to_le_bytes());
    assert_eq!(t.clunk(5), Err(libc::EBADF as u32));
}

#[test]
fn hostile_requests_get_errors_and_the_session_goes_on() {
    let mut t = T::new();
    // Before Tversion, nothing else is served.
    let attach = || B::default().u32(0).u32(NOFID).s(b"").s(b"").u32(0);
    assert_eq!(t.call(msg::TATTACH, attach()), Err(libc::EPROTO as u32));
    // A huge msize is cut to the server's; an unknown version is answered "unknown".
    let r = t
        .call(msg::TVERSION, B::default().u32(u32::MAX).s(b"9P2000.u"))
        .unwrap();
    assert_eq!(&r[4..], &[7, 0, b'u', b'n', b'k', b'n', b'o', b'w', b'n']);
    let r = t
        .call(msg::TVERSION, B::default().u32(u32::MAX).s(b"9P2000.L"))
        .unwrap();
    assert_eq!(
        u32::from_le_bytes(r[..4].try_into().unwrap()),
        SessionOptions::default().max_msize
    );
    t.call(msg::TATTACH, attach()).unwrap();
    // Fid reuse, unknown fids, authentication, unknown and legacy types, lying lengths.
    assert_eq!(t.call(msg::TATTACH, attach()), Err(libc::EBADF as u32));
    assert_eq!(t.walk(0, 1, &[]).map(|_| ()), Ok(()));
    assert_eq!(t.walk(0, 1, &[]), Err(libc::EBADF as u32));
    assert_eq!(t.walk(9, 10, &[]), Err(libc::EBADF as u32));
    assert_eq!(
        t.call(msg::TAUTH, B::default().u32(5).s(b"").s(b"").u32(NONUNAME)),
        Err(libc::EOPNOTSUPP as u32)
    );
    assert_eq!(
        t.call(112, B::default().u32(1).u8(0)),
        Err(libc::EOPNOTSUPP as u32)
    );
    assert_eq!(
        t.call(msg::TCLUNK, B::default().u16(1)),
        Err(libc::EINVAL as u32)
    );
    let names: Vec<&[u8]> = vec![b"a"; 17];
    assert_eq!(t.walk(0, 2, &names), Err(libc::EINVAL as u32));
    // Reads and writes on fids that are not open for them.
    assert_eq!(t.read(0, 0, 10), Err(libc::EBADF as u32));
    assert_eq!(
        t.call(msg::TWRITE, B::default().u32(0).u64(0).u32(1).raw(b"x")),
        Err(libc::EBADF as u32)
    );
    assert_eq!(
        t.call(msg::TREADDIR, B::default().u32(0).u64(0).u32(100)),
        Err(libc::EBADF as u32)
    );
    // `.` and `..` where an entry is made or removed.
    assert_eq!(
        t.call(msg::TMKDIR, B::default().u32(0).s(b"..").u32(0o755).u32(0)),
        Err(libc::EEXIST as u32)
    );
    assert_eq!(
        t.call(
            msg::TUNLINKAT,
            B::default().u32(0).s(b".").u32(AT_REMOVEDIR)
        ),
        Err(libc::EINVAL as u32)
    );
    assert_eq!(
        t.call(
            msg::TUNLINKAT,
            B::default().u32(0).s(b"..").u32(AT_REMOVEDIR)
        ),
        Err(libc::ENOTEMPTY as u32)
    );
    assert_eq!(
        t.call(msg::TUNLINKAT, B::default().u32(0).s(b"x").u32(1)),
        Err(libc::EINVAL as u32)
    );
    // Still serving.
    t.call(msg::TMKDIR, B::default().u32(0).s(b"ok").u32(0o755).u32(0))
        .unwrap();
    assert!(t.host("ok").is_dir());
}

#[test]
fn the_fid_table_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(backend(dir.path()));
    let mut t = T {
        s: Session::new(
            fs,
            SessionOptions {
                max_fids: 3,
                ..Default::default()
            },
        ),
        dir,
    };
    t.call(msg::TVERSION, B::default().u32(8192).s(b"9P2000.L"))
        .unwrap();
    t.call(
        msg::TATTACH,
        B::default().u32(0).u32(NOFID).s(b"").s(b"").u32(0),
    )
    .unwrap();
    t.walk(0, 1, &[]).unwrap();
    t.walk(0, 2, &[]).unwrap();
    assert_eq!(t.walk(0, 3, &[]), Err(libc::EMFILE as u32));
    assert_eq!(t.s.fids.len(), 3);
    t.clunk(2).unwrap();
    t.walk(0, 3, &[]).unwrap();
}

#[test]
fn xattrs_are_written_and_read_as_fids() {
    let mut t = T::attached();
    std::fs::write(t.host("f"), b"").unwrap();
    t.walk(0, 1, &[b"f"]).unwrap();
    t.walk(1, 2, &[]).unwrap();
    t.call(
        msg::TXATTRCREATE,
        B::default().u32(2).s(b"user.k").u64(5).u32(0),
    )
    .unwrap();
    // Out of order, or past the declared size: refused.
    assert_eq!(
        t.call(msg::TWRITE, B::default().u32(2).u64(1).u32(1).raw(b"v")),
        Err(libc::EINVAL as u32)
    );
    t.call(msg::TWRITE, B::default().u32(2).u64(0).u32(5).raw(b"value"))
        .unwrap();
    assert_eq!(
        t.call(msg::TWRITE, B::default().u32(2).u64(5).u32(1).raw(b"v")),
        Err(libc::EINVAL as u32)
    );
    t.clunk(2).unwrap();
    assert_eq!(
        xattr::get(t.host("f"), "user.k").unwrap().unwrap(),
        b"value"
    );

    let r = t
        .call(msg::TXATTRWALK, B::default().u32(1).u32(3).s(b"user.k"))
        .unwrap();
    assert_eq!(r, 5u64.to_le_bytes());
    assert_eq!(t.read(3, 0, 3).unwrap(), b"val");
    assert_eq!(t.read(3, 3, 100).unwrap(), b"ue");
    t.clunk(3).unwrap();
    let r = t
        .call(msg::TXATTRWALK, B::default().u32(1).u32(3).s(b""))
        .unwrap();
    assert_eq!(r, 7u64.to_le_bytes());
    assert_eq!(t.read(3, 0, 100).unwrap(), b"user.k\0");
    t.clunk(3).unwrap();
    // A value that was declared longer than was written fails at clunk, and sets nothing.
    t.walk(1, 2, &[]).unwrap();
    t.call(
        msg::TXATTRCREATE,
        B::default().u32(2).s(b"user.short").u64(9).u32(0),
    )
    .unwrap();
    t.call(msg::TWRITE, B::default().u32(2).u64(0).u32(2).raw(b"ab"))
        .unwrap();
    assert_eq!(t.clunk(2), Err(libc::EINVAL as u32));
    assert!(xattr::get(t.host("f"), "user.short").unwrap().is_none());
    assert_eq!(
        t.call(
            msg::TXATTRCREATE,
            B::default().u32(1).s(b"user.big").u64(1 << 20).u32(0)
        ),
        Err(libc::E2BIG as u32)
    );
}

#[test]
fn remove_and_rename_act_on_the_file_the_fid_names() {
    let mut t = T::attached();
    std::fs::write(t.host("a"), b"1").unwrap();
    std::fs::create_dir(t.host("d")).unwrap();
    t.walk(0, 1, &[b"a"]).unwrap();
    t.walk(0, 2, &[b"d"]).unwrap();
    t.call(msg::TRENAME, B::default().u32(1).u32(2).s(b"b"))
        .unwrap();
    assert!(t.host("d/b").exists() && !t.host("a").exists());
    // Replaced on the host since: the fid's name no longer names its file.
    std::fs::remove_file(t.host("d/b")).unwrap();
    std::fs::write(t.host("d/b"), b"other").unwrap();
    assert_eq!(
        t.call(msg::TREMOVE, B::default().u32(1)),
        Err(libc::ESTALE as u32)
    );
    assert!(t.host("d/b").exists());
    // Tremove clunks the fid whatever its outcome.
    assert_eq!(t.clunk(1), Err(libc::EBADF as u32));
    t.walk(0, 1, &[b"d", b"b"]).unwrap();
    t.call(msg::TREMOVE, B::default().u32(1)).unwrap();
    assert!(!t.host("d/b").exists());
    t.call(msg::TRENAMEAT, B::default().u32(0).s(b"d").u32(0).s(b"e"))
        .unwrap();
    assert!(t.host("e").is_dir());
}

#[test]
fn a_conflicting_lock_is_blocked_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    let fs = Arc::new(backend(dir.path()));
    let mut two = Vec::new();
    for _ in 0..2 {
        let mut t = T {
            s: Session::new(fs.clone(), SessionOptions::default()),
            dir: tempfile::tempdir().unwrap(),
        };
        t.call(msg::TVERSION, B::default().u32(8192).s(b"9P2000.L"))
            .unwrap();
        t.call(
            msg::TATTACH,
            B::default().u32(0).u32(NOFID).s(b"").s(b"").u32(0),
        )
        .unwrap();
        t.walk(0, 1, &[b"f"]).unwrap();
        t.call(msg::TLOPEN, B::default().u32(1).u32(libc::O_RDWR as u32))
            .unwrap();
        two.push(t);
    }
    let lk = |ty: u8| {
        B::default()
            .u32(1)
            .u8(ty)
            .u32(lock::FLAGS_BLOCK)
            .u64(0)
            .u64(0)
            .u32(42)
            .s(b"guest")
    };
    assert_eq!(
        two[0].call(msg::TLOCK, lk(lock::WRLCK)).unwrap(),
        [lock::SUCCESS]
    );
    assert_eq!(
        two[1].call(msg::TLOCK, lk(lock::WRLCK)).unwrap(),
        [lock::BLOCKED]
    );
    let got = two[1]
        .call(
            msg::TGETLOCK,
            B::default()
                .u32(1)
                .u8(lock::WRLCK)
                .u64(0)
                .u64(0)
                .u32(42)
                .s(b"guest"),
        )
        .unwrap();
    assert_eq!(got[0], lock::WRLCK);
    assert_eq!(
        two[0].call(msg::TLOCK, lk(lock::UNLCK)).unwrap(),
        [lock::SUCCESS]
    );
    assert_eq!(
        two[1].call(msg::TLOCK, lk(lock::WRLCK)).unwrap(),
        [lock::SUCCESS]
    );
}

#[test]
fn a_stream_survives_an_oversized_frame_and_ends_at_a_bad_size() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(backend(dir.path()));
    let mut s = Session::new(fs.clone(), SessionOptions::default());
    let mut input = frame(msg::TVERSION, NOTAG, B::default().u32(8192).s(b"9P2000.L"));
    input.extend(frame(
        msg::TWRITE,
        4,
        B::default().u32(0).u64(0).u32(9000).raw(&[0; 9000]),
    ));
    input.extend(frame(
        msg::TATTACH,
        5,
        B::default().u32(0).u32(NOFID).s(b"").s(b"").u32(0),
    ));
    let mut io = Duplex {
        input: std::io::Cursor::new(input),
        output: Vec::new(),
    };
    serve(&mut s, &mut io).unwrap();
    let out = io.output;
    // Rversion, then Rlerror EMSGSIZE for tag 4, then Rattach for tag 5.
    let n0 = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
    let second = &out[n0..n0 + 11];
    assert_eq!(second[4], msg::RLERROR);
    assert_eq!(&second[5..7], &4u16.to_le_bytes());
    assert_eq!(&second[7..11], &(libc::EMSGSIZE as u32).to_le_bytes());
    assert_eq!(out[n0 + 11 + 4], msg::TATTACH + 1);

    let mut s = Session::new(fs, SessionOptions::default());
    let mut io = Duplex {
        input: std::io::Cursor::new(vec![3, 0, 0, 0, 100]),
        output: Vec::new(),
    };
    assert!(serve(&mut s, &mut io).is_err());
}

struct Duplex {
    input: std::io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl std::io::Read for Duplex {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(b)
    }
}

impl std::io::Write for Duplex {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The 9pfs CVE classes of shared/SECURITY.md, through this session.
#[test]
fn the_9pfs_cve_classes() {
    let mut t = T::attached();
    // CVE-2023-2861: open of a special file. A FIFO made by the guest is refused at open,
    // at once (no thread waits for a writer); a device node is not even made.
    t.call(
        msg::TMKNOD,
        B::default()
            .u32(0)
            .s(b"p")
            .u32(libc::S_IFIFO | 0o644)
            .u32(0)
            .u32(0)
            .u32(0),
    )
    .unwrap();
    t.walk(0, 1, &[b"p"]).unwrap();
    let t0 = std::time::Instant::now();
    assert!(t.call(msg::TLOPEN, B::default().u32(1).u32(0)).is_err());
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    let dev = B::default()
        .u32(0)
        .s(b"sda")
        .u32(libc::S_IFBLK | 0o600)
        .u32(8)
        .u32(0)
        .u32(0);
    assert_eq!(t.call(msg::TMKNOD, dev), Err(libc::EPERM as u32));
    // CVE-2016-9104/-9103: an xattr read at an offset near u64::MAX, or past the value, reads
    // nothing (no overflow, no bytes beyond the value).
    std::fs::write(t.host("f"), b"").unwrap();
    xattr::set(t.host("f"), "user.v", b"0123456789").unwrap();
    t.walk(0, 2, &[b"f"]).unwrap();
    t.call(msg::TXATTRWALK, B::default().u32(2).u32(3).s(b"user.v"))
        .unwrap();
    assert_eq!(t.read(3, u64::MAX - 2, u32::MAX).unwrap(), b"");
    assert_eq!(t.read(3, 8, u32::MAX).unwrap(), b"89");
    // CVE-2016-9602: a symlink as a middle component is never followed (walks stop there).
    std::os::unix::fs::symlink("/", t.host("root")).unwrap();
    let r = t.walk(0, 4, &[b"root", b"etc", b"passwd"]).unwrap();
    assert_eq!(&r[..2], &1u16.to_le_bytes());
    // A write at an offset whose end overflows is refused, not wrapped.
    t.walk(0, 5, &[]).unwrap();
    t.call(
        msg::TLCREATE,
        B::default()
            .u32(5)
            .s(b"w")
            .u32(libc::O_RDWR as u32)
            .u32(0o644)
            .u32(0),
    )
    .unwrap();
    let w = B::default().u32(5).u64(u64::MAX - 1).u32(4).raw(b"abcd");
    assert!(t.call(msg::TWRITE, w).is_err());
}

#[test]
fn regular_files_have_qid_versions_that_follow_their_changes() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b"one").unwrap();
    let st = |p: &std::path::Path| {
        // SAFETY: zeroed is a valid stat64; lstat64 fills it from a NUL-terminated path.
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::lstat64(c.as_ptr(), &mut st) }, 0);
        st
    };
    let before = qid(&st(&f));
    // Linux's client caches no data of a file whose version is 0.
    assert_ne!(before.version, 0);
    std::fs::write(&f, b"longer contents").unwrap();
    let after = qid(&st(&f));
    assert_ne!(
        after.version, before.version,
        "a change of size changes the version"
    );
    assert_eq!(after.path, before.path);
    assert_eq!(qid(&st(dir.path())).version, 0, "directories carry none");
}
