//! Server state the guest builds up: extended attributes, lookup counts and FORGET, and
//! POSIX/BSD locks, on ferryd and (when installed) upstream virtiofsd.

mod common;

use common::{daemons, each, err, start, Kind};
use ferry_guest_client::{Creds, FileLock, XattrReply, ROOT};
use libc::{EEXIST, ENODATA, ERANGE};

const RDWR: u32 = libc::O_RDWR as u32;
const XATTR_CREATE: u32 = 1;
const XATTR_REPLACE: u32 = 2;

fn host_xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and `buf` is writable for its length.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(r).ok()?;
    buf.truncate(len);
    Some(buf)
}

#[test]
fn xattrs_set_get_list_remove() {
    each(&["--xattr"], &["--xattr"], |h| {
        let c = h.c();
        let n = h.name();
        let f = h.file(ROOT, "f", b"");
        c.setxattr(f, "user.a", b"v1", 0).unwrap();
        assert_eq!(
            host_xattr(&h.host("f"), "user.a").as_deref(),
            Some(&b"v1"[..]),
            "{n}"
        );
        assert_eq!(
            c.getxattr(f, "user.a", 0).unwrap(),
            XattrReply::Size(2),
            "{n}"
        );
        assert_eq!(
            c.getxattr(f, "user.a", 100).unwrap(),
            XattrReply::Data(b"v1".to_vec()),
            "{n}"
        );
        assert_eq!(err(c.getxattr(f, "user.a", 1)), ERANGE, "{n}");
        assert_eq!(err(c.getxattr(f, "user.missing", 100)), ENODATA, "{n}");

        assert_eq!(
            err(c.setxattr(f, "user.a", b"v2", XATTR_CREATE)),
            EEXIST,
            "{n}"
        );
        assert_eq!(
            err(c.setxattr(f, "user.b", b"v2", XATTR_REPLACE)),
            ENODATA,
            "{n}"
        );
        c.setxattr(f, "user.a", b"longer value", XATTR_REPLACE)
            .unwrap();
        c.setxattr(f, "user.b", b"", XATTR_CREATE).unwrap();
        assert_eq!(
            c.getxattr(f, "user.b", 0).unwrap(),
            XattrReply::Size(0),
            "{n}: empty value"
        );

        let XattrReply::Size(len) = c.listxattr(f, 0).unwrap() else {
            panic!("{n}")
        };
        let XattrReply::Data(list) = c.listxattr(f, len).unwrap() else {
            panic!("{n}")
        };
        let mut names: Vec<&[u8]> = list.split(|&b| b == 0).filter(|s| !s.is_empty()).collect();
        names.sort();
        assert_eq!(names, vec![&b"user.a"[..], b"user.b"], "{n}");
        assert_eq!(err(c.listxattr(f, 1)), ERANGE, "{n}");

        c.removexattr(f, "user.a").unwrap();
        assert_eq!(err(c.getxattr(f, "user.a", 100)), ENODATA, "{n}");
        assert_eq!(err(c.removexattr(f, "user.a")), ENODATA, "{n}");
        assert_eq!(host_xattr(&h.host("f"), "user.a"), None);

        // Directories carry xattrs too.
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        c.setxattr(d, "user.dir", b"x", 0).unwrap();
        assert_eq!(
            c.getxattr(d, "user.dir", 10).unwrap(),
            XattrReply::Data(b"x".to_vec()),
            "{n}"
        );
    });
}

#[test]
fn xattrs_off_by_default() {
    for k in daemons() {
        let h = start(&k, &[]);
        let f = h.file(ROOT, "f", b"");
        let e = err(h.c().setxattr(f, "user.a", b"v", 0));
        // Both answer ENOSYS, which makes the guest kernel stop sending xattr requests.
        assert_eq!(e, libc::ENOSYS, "{}: setxattr without --xattr", h.name());
        h.disconnect();
    }
}

#[test]
fn forget_drops_nodes_only_at_zero() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        // CREATE counts one lookup; three LOOKUPs three more.
        let f = h.file(ROOT, "f", b"data");
        for _ in 0..3 {
            assert_eq!(c.lookup(ROOT, "f").unwrap().nodeid, f, "{n}");
        }
        c.forget(f, 3).unwrap();
        assert_eq!(
            c.getattr(f, None).unwrap().attr.size,
            4,
            "{n}: one reference left"
        );
        c.forget(f, 1).unwrap();
        // The node id is gone now: ferryd answers EBADF (A4 #7); so does virtiofsd.
        assert_eq!(err(c.getattr(f, None)), libc::EBADF, "{n}: forgotten node");
        // The file is not: a new LOOKUP finds it again.
        let again = c.lookup(ROOT, "f").unwrap();
        let o = c.open(again.nodeid, libc::O_RDONLY as u32).unwrap();
        assert_eq!(c.read(again.nodeid, o.fh, 0, 10).unwrap(), b"data", "{n}");
        c.release(again.nodeid, o.fh, 0).unwrap();

        // More than it holds: saturates, the node goes.
        let g = h.file(ROOT, "g", b"");
        c.forget(g, 1000).unwrap();
        assert_eq!(err(c.getattr(g, None)), libc::EBADF, "{n}");
        c.mkdir(ROOT, "d", 0o755, 0).unwrap();

        // A node stays valid across a rename while referenced.
        let x = h.file(ROOT, "x", b"");
        c.rename(ROOT, "x", ROOT, "y").unwrap();
        assert_eq!(c.getattr(x, None).unwrap().attr.size, 0, "{n}");
        assert_eq!(c.lookup(ROOT, "y").unwrap().nodeid, x, "{n}");

        // FORGET of the root with a huge count (A4 #8): ferryd keeps the root pinned;
        // virtiofsd drops it, and the session loses its root (EBADF from then on).
        c.forget(ROOT, 1000).unwrap();
        if h.is_ferryd() {
            assert!(c.getattr(ROOT, None).is_ok(), "{n}: root pinned");
            assert!(c.lookup(ROOT, "d").is_ok(), "{n}");
        } else {
            assert_eq!(
                err(c.getattr(ROOT, None)),
                libc::EBADF,
                "{n}: root forgotten"
            );
        }
    });
}

/// BATCH_FORGET (header node id 0, as the FUSE protocol and Linux's /dev/fuse send it) drops
/// each listed node's lookup count. (This test found ferryd dropping them: it refused node id 0
/// before looking at the opcode.)
#[test]
fn batch_forget_drops_nodes() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        let g = h.file(ROOT, "g", b"");
        c.batch_forget(&[(d, 1), (g, 1000)]).unwrap();
        assert_eq!(
            err(c.getattr(d, None)),
            libc::EBADF,
            "{n}: forgotten by BATCH_FORGET"
        );
        assert_eq!(
            err(c.getattr(g, None)),
            libc::EBADF,
            "{n}: count above the refcount"
        );
        assert!(c.getattr(ROOT, None).is_ok(), "{n}");
    });
}

#[test]
fn forget_of_unknown_nodes_is_harmless() {
    each(&[], &[], |h| {
        let c = h.c();
        c.forget(0xdead_beef, 1).unwrap();
        c.forget(0, 1).unwrap();
        c.batch_forget(&[(0xdead_beef, 1), (0, 0)]).unwrap();
        c.batch_forget(&[]).unwrap();
        assert!(c.getattr(ROOT, None).is_ok(), "{}", h.name());
    });
}

fn lk(start: u64, end: u64, typ: i32) -> FileLock {
    FileLock {
        start,
        end,
        type_: typ as u32,
        pid: 0,
    }
}

#[test]
fn posix_and_flock_locks_with_ferryd_locks() {
    let h = start(&Kind::Ferryd, &["--locks", "--thread-pool-size", "2"]);
    let c = h.c();
    let locks = ferry_guest_client::fuse::opcode::init::POSIX_LOCKS
        | ferry_guest_client::fuse::opcode::init::FLOCK_LOCKS;
    assert_eq!(
        c.session().unwrap().flags & locks,
        locks,
        "--locks offers both lock kinds"
    );
    let f = h.file(ROOT, "f", b"0123456789");
    let a = c.open(f, RDWR).unwrap().fh;
    let b = c.open(f, RDWR).unwrap().fh;
    c.setlk(f, a, 1, lk(0, 99, libc::F_WRLCK), false, false)
        .unwrap();
    // Another owner sees the conflict and cannot take it.
    let got = c.getlk(f, b, 2, lk(0, 9, libc::F_WRLCK)).unwrap();
    assert_eq!(got.type_, libc::F_WRLCK as u32, "conflicting lock reported");
    assert_eq!(
        err(c.setlk(f, b, 2, lk(50, 60, libc::F_RDLCK), false, false)),
        libc::EAGAIN
    );
    // Beyond the locked range there is no conflict.
    c.setlk(f, b, 2, lk(100, 200, libc::F_WRLCK), false, false)
        .unwrap();
    let free = c.getlk(f, b, 2, lk(100, 200, libc::F_WRLCK)).unwrap();
    assert_eq!(free.type_, libc::F_UNLCK as u32, "own lock never conflicts");
    // Unlock, then the other owner gets it.
    c.setlk(f, a, 1, lk(0, 99, libc::F_UNLCK), false, false)
        .unwrap();
    c.setlk(f, b, 2, lk(50, 60, libc::F_WRLCK), false, false)
        .unwrap();
    // BSD flock: exclusive on one handle excludes the other.
    let g = h.file(ROOT, "g", b"");
    let ga = c.open(g, RDWR).unwrap().fh;
    let gb = c.open(g, RDWR).unwrap().fh;
    c.setlk(g, ga, 1, lk(0, u64::MAX >> 1, libc::F_WRLCK), false, true)
        .unwrap();
    assert_eq!(
        err(c.setlk(g, gb, 2, lk(0, u64::MAX >> 1, libc::F_WRLCK), false, true)),
        libc::EAGAIN
    );
    c.release(g, ga, RDWR).unwrap();
    c.setlk(g, gb, 2, lk(0, u64::MAX >> 1, libc::F_WRLCK), false, true)
        .unwrap();
    assert_eq!(h.disconnect().and_then(|s| s.code()), Some(0));
}

#[test]
fn locks_are_refused_without_daemon_support() {
    for k in daemons() {
        let h = start(&k, &[]);
        let c = h.c();
        let f = h.file(ROOT, "f", b"");
        let fh = c.open(f, RDWR).unwrap().fh;
        // Neither daemon offers locks by default, so the guest kernel keeps them local and
        // never sends GETLK/SETLK.
        let flags = c.session().unwrap().flags;
        let locks = ferry_guest_client::fuse::opcode::init::POSIX_LOCKS
            | ferry_guest_client::fuse::opcode::init::FLOCK_LOCKS;
        assert_eq!(flags & locks, 0, "{}: INIT agreed to locks", h.name());
        // If a guest sends one anyway, both answer ENOSYS.
        let r = c.setlk(f, fh, 1, lk(0, 9, libc::F_WRLCK), false, false);
        assert_eq!(err(r), libc::ENOSYS, "{}", h.name());
        h.disconnect();
    }
}

/// A4 #24: a file created in a setgid directory by a caller outside its group inherits the
/// group but not the setgid bit (the host kernel decides, because the file is created with the
/// caller's uid/gid: CVE-2022-0358 was a daemon creating as root).
#[test]
fn a4_24_create_in_a_setgid_directory_by_a_non_member() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    each(&[], &[], |h| {
        let c = h.c();
        let g = h.host("g");
        std::fs::create_dir(&g).unwrap();
        std::os::unix::fs::chown(&g, Some(0), Some(4242)).unwrap();
        std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o2777)).unwrap();
        let gnode = c.lookup(ROOT, "g").unwrap().nodeid;
        c.set_creds(Creds {
            uid: 1000,
            gid: 1000,
            pid: 1,
        });
        let made = c.create(gnode, "f", libc::O_RDWR as u32, 0o2755, 0);
        let made_dir = c.mkdir(gnode, "d", 0o2755, 0);
        c.set_creds(Creds::default());
        made.unwrap();
        made_dir.unwrap();
        let f = std::fs::metadata(h.host("g/f")).unwrap();
        assert_eq!(
            (f.uid(), f.gid()),
            (1000, 4242),
            "{}: owner and inherited group",
            h.name()
        );
        assert_eq!(f.mode() & 0o7777, 0o755, "{}: setgid stripped", h.name());
        // A directory keeps setgid (inherited from its parent), as on any Linux filesystem.
        let d = std::fs::metadata(h.host("g/d")).unwrap();
        assert_eq!(d.gid(), 4242, "{}", h.name());
        assert_ne!(d.mode() & libc::S_ISGID, 0, "{}", h.name());
    });
}

/// A4 #23: a hard link across mounts is EXDEV (a tmpfs mounted inside the share; needs root).
/// ferryd runs without its namespace sandbox here: in its own mount namespace a mount the host
/// makes after the start is not seen (as with virtiofsd), and the link lands in the directory
/// under it.
#[test]
fn a4_23_link_across_mounts_is_exdev() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTICE: not root, a4_23_link_across_mounts_is_exdev skipped");
        return;
    }
    each(&["--sandbox", "none"], &[], |h| {
        let c = h.c();
        let f = h.file(ROOT, "f", b"x");
        let m = h.host("m");
        std::fs::create_dir(&m).unwrap();
        let target = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: all strings are NUL-terminated; the result is checked.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        let mnode = c.lookup(ROOT, "m").unwrap().nodeid;
        let r = c.link(f, mnode, "l");
        // SAFETY: as above.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        assert_eq!(err(r), libc::EXDEV, "{}", h.name());
    });
}

/// With zero-message opens ferryd keeps a writable fd while the guest writes and never hears
/// the guest close the file; a held writable fd makes exec(2) of the file fail on the host
/// (ETXTBSY). Once the guest stops writing for a second the fd must be gone, so the host can
/// run a program the guest just built. (virtiofsd closes its fd at RELEASE.)
#[test]
fn a_program_the_guest_wrote_runs_on_the_host_once_writes_stop() {
    each(&[], &[], |h| {
        let c = h.c();
        let (e, o) = c
            .create(ROOT, "run.sh", libc::O_WRONLY as u32, 0o755, 0)
            .unwrap();
        let script = b"#!/bin/sh\nexit 7\n";
        assert_eq!(
            c.write(e.nodeid, o.fh, 0, script).unwrap() as usize,
            script.len()
        );
        c.release(e.nodeid, o.fh, libc::O_WRONLY as u32).unwrap();
        // The idle second, the reaper's half-second period and a margin.
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let st = std::process::Command::new(h.host("run.sh"))
            .status()
            .unwrap_or_else(|e| panic!("{}: exec on the host: {e}", h.name()));
        assert_eq!(st.code(), Some(7), "{}", h.name());
    });
}
