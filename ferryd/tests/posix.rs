//! POSIX semantics through the typed client, against ferryd and (when installed) upstream
//! virtiofsd: errnos, attributes, directory listings, renames, links, symlinks, special files.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{each, err, names};
use ferry_guest_client::{SetAttr, ROOT};
use libc::{EEXIST, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY};

const RDWR: u32 = libc::O_RDWR as u32;
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

#[test]
fn lookup_errnos() {
    each(&[], &[], |h| {
        let c = h.c();
        assert_eq!(err(c.lookup(ROOT, "missing")), ENOENT, "{}", h.name());
        let f = h.file(ROOT, "f", b"");
        assert_eq!(err(c.lookup(f, "x")), ENOTDIR, "{}", h.name());
        let e = c.lookup(ROOT, "f").unwrap();
        assert_eq!(e.nodeid, f, "{}: same node id for the same inode", h.name());
        assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFREG);
    });
}

#[test]
fn mkdir_rmdir_unlink_errnos() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap();
        assert_eq!(d.attr.mode & libc::S_IFMT, libc::S_IFDIR, "{n}");
        assert_eq!(d.attr.mode & 0o7777, 0o755, "{n}");
        assert!(h.host("d").is_dir());
        assert_eq!(err(c.mkdir(ROOT, "d", 0o755, 0)), EEXIST, "{n}");
        h.file(d.nodeid, "inner", b"");
        assert_eq!(err(c.rmdir(ROOT, "d")), ENOTEMPTY, "{n}");
        assert_eq!(err(c.unlink(ROOT, "d")), EISDIR, "{n}");
        h.file(ROOT, "f", b"");
        assert_eq!(err(c.rmdir(ROOT, "f")), ENOTDIR, "{n}");
        assert_eq!(err(c.rmdir(ROOT, "missing")), ENOENT, "{n}");
        assert_eq!(err(c.unlink(ROOT, "missing")), ENOENT, "{n}");
        c.unlink(d.nodeid, "inner").unwrap();
        c.rmdir(ROOT, "d").unwrap();
        assert!(!h.host("d").exists());
        assert_eq!(err(c.lookup(ROOT, "d")), ENOENT, "{n}");
        c.unlink(ROOT, "f").unwrap();
        assert!(!h.host("f").exists());
    });
}

#[test]
fn umask_applies_to_new_entries() {
    each(&[], &[], |h| {
        let c = h.c();
        let d = c.mkdir(ROOT, "d", 0o777, 0o022).unwrap();
        let (f, o) = c.create(ROOT, "f", RDWR, 0o666, 0o027).unwrap();
        c.release(f.nodeid, o.fh, RDWR).unwrap();
        // Linux sends the umask and the daemon applies it (DONT_MASK not negotiated by the
        // daemon) or the kernel already applied it; either way the host shows the result.
        let dm = std::fs::metadata(h.host("d")).unwrap().mode() & 0o777;
        let fm = std::fs::metadata(h.host("f")).unwrap().mode() & 0o777;
        assert_eq!((dm, fm), (0o755, 0o640), "{}", h.name());
        assert_eq!(d.attr.mode & 0o777, 0o755, "{}", h.name());
    });
}

#[test]
fn write_read_and_setattr() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let (e, o) = c.create(ROOT, "f", RDWR, 0o644, 0).unwrap();
        assert_eq!(c.write(e.nodeid, o.fh, 0, b"hello world").unwrap(), 11);
        assert_eq!(c.write(e.nodeid, o.fh, 20, b"!").unwrap(), 1);
        assert_eq!(
            c.read(e.nodeid, o.fh, 6, 100).unwrap(),
            b"world\0\0\0\0\0\0\0\0\0!"
        );
        assert_eq!(
            c.read(e.nodeid, o.fh, 100, 10).unwrap(),
            b"",
            "{n}: read past EOF"
        );
        assert_eq!(c.getattr(e.nodeid, None).unwrap().attr.size, 21, "{n}");
        assert_eq!(std::fs::read(h.host("f")).unwrap().len(), 21);

        let a = c
            .setattr(
                e.nodeid,
                &SetAttr {
                    size: Some(5),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(a.attr.size, 5, "{n}: truncate");
        assert_eq!(std::fs::read(h.host("f")).unwrap(), b"hello");
        let a = c
            .setattr(
                e.nodeid,
                &SetAttr {
                    size: Some(0),
                    fh: Some(o.fh),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(a.attr.size, 0, "{n}: truncate through the handle");

        let a = c
            .setattr(
                e.nodeid,
                &SetAttr {
                    mode: Some(0o600),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(a.attr.mode & 0o7777, 0o600, "{n}: chmod");
        assert_eq!(
            std::fs::metadata(h.host("f")).unwrap().mode() & 0o7777,
            0o600
        );

        let t = SetAttr {
            atime: Some((1_000_000_000, 5)),
            mtime: Some((1_200_000_000, 7)),
            ..Default::default()
        };
        let a = c.setattr(e.nodeid, &t).unwrap();
        assert_eq!(
            (a.attr.atime, a.attr.atimensec),
            (1_000_000_000, 5),
            "{n}: atime"
        );
        assert_eq!(
            (a.attr.mtime, a.attr.mtimensec),
            (1_200_000_000, 7),
            "{n}: mtime"
        );
        let m = std::fs::metadata(h.host("f")).unwrap();
        assert_eq!(m.mtime(), 1_200_000_000);

        let a = c
            .setattr(
                e.nodeid,
                &SetAttr {
                    uid: Some(1234),
                    gid: Some(4321),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            (a.attr.uid, a.attr.gid),
            (1234, 4321),
            "{n}: chown (the tests run as root)"
        );
        let m = std::fs::metadata(h.host("f")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 4321));

        let a = c
            .setattr(
                e.nodeid,
                &SetAttr {
                    mtime_now: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(a.attr.mtime > 1_600_000_000, "{n}: mtime now");

        c.flush(e.nodeid, o.fh, 0).unwrap();
        c.fsync(e.nodeid, o.fh, false).unwrap();
        c.fsync(e.nodeid, o.fh, true).unwrap();
        c.release(e.nodeid, o.fh, RDWR).unwrap();

        let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();
        assert_eq!(c.read(e.nodeid, o.fh, 0, 10).unwrap(), b"", "{n}");
        c.release(e.nodeid, o.fh, 0).unwrap();
    });
}

#[test]
fn big_io_up_to_max_write() {
    each(&[], &[], |h| {
        let c = h.c();
        let max = c.session().unwrap().max_write;
        let (e, o) = c.create(ROOT, "big", RDWR, 0o644, 0).unwrap();
        let data: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            c.write(e.nodeid, o.fh, 0, &data).unwrap(),
            max,
            "{}",
            h.name()
        );
        assert_eq!(
            c.read(e.nodeid, o.fh, 0, max).unwrap(),
            data,
            "{}",
            h.name()
        );
        assert_eq!(std::fs::read(h.host("big")).unwrap(), data);
        c.release(e.nodeid, o.fh, RDWR).unwrap();
    });
}

#[test]
fn readdir_and_readdirplus_list_the_directory() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        let want: Vec<String> = (0..40)
            .map(|i| format!("entry-{i:03}-{}", "x".repeat(i)))
            .collect();
        for w in &want {
            h.file(d, w, b"");
        }
        c.mkdir(d, "sub", 0o700, 0).unwrap();
        std::os::unix::fs::symlink("target", h.host("d/ln")).unwrap();
        let mut all = want.clone();
        all.push("ln".into());
        all.push("sub".into());
        all.sort();
        assert_eq!(names(c, d), all, "{n}");

        // Small buffers page through every entry exactly once, with . and .. included.
        let fh = c.opendir(d).unwrap().fh;
        let listed = c.readdir_all(d, fh, 200, 10_000).unwrap();
        let mut got: Vec<String> = listed.iter().map(|e| e.name_str()).collect();
        got.sort();
        let mut expect = all.clone();
        expect.extend([".".to_string(), "..".to_string()]);
        expect.sort();
        assert_eq!(got, expect, "{n}: paged readdir");
        let sub = listed.iter().find(|e| e.name == b"sub").unwrap();
        assert_eq!(sub.typ, libc::DT_DIR as u32, "{n}");
        let ln = listed.iter().find(|e| e.name == b"ln").unwrap();
        assert_eq!(ln.typ, libc::DT_LNK as u32, "{n}");

        // READDIRPLUS: each real entry comes with its lookup.
        let plus = c.readdirplus(d, fh, 0, 1 << 16).unwrap();
        assert!(plus.len() >= 10, "{n}");
        for p in &plus {
            let name = p.dirent.name_str();
            if name == "." || name == ".." {
                continue;
            }
            assert_ne!(p.entry.nodeid, 0, "{n}: {name} has a node id");
            assert_eq!(p.entry.attr.ino, p.dirent.ino, "{n}: {name}");
            let host = std::fs::symlink_metadata(h.host(&format!("d/{name}"))).unwrap();
            assert_eq!(p.entry.attr.ino, host.ino(), "{n}: {name}");
            assert_eq!(p.entry.attr.mode, host.mode(), "{n}: {name}");
            // The lookup count it took is ours to forget.
            c.forget(p.entry.nodeid, 1).unwrap();
        }
        c.releasedir(d, fh).unwrap();
        // Empty directory: only . and ..
        let e = c.mkdir(ROOT, "empty", 0o755, 0).unwrap().nodeid;
        assert!(names(c, e).is_empty(), "{n}");
    });
}

/// A listing with attributes gives every entry its node even past the daemon's fd limit
/// (here a budget of 16 fds for 300 entries): idle nodes give their fds up and are reopened
/// when used, by name or by file handle.
#[test]
fn readdirplus_gives_every_name_a_node_past_the_fd_limit() {
    for mode in ["never", "mandatory"] {
        let flags = [
            "--rlimit-nofile=128",
            &format!("--inode-file-handles={mode}"),
        ];
        let h = common::start(&common::Kind::Ferryd, &flags);
        let c = h.c();
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        let want: Vec<String> = (0..300).map(|i| format!("f{i:03}")).collect();
        for w in &want {
            std::fs::write(h.host(&format!("d/{w}")), w.as_bytes()).unwrap();
        }
        let fh = c.opendir(d).unwrap().fh;
        let (mut got, mut held, mut off) = (Vec::new(), Vec::new(), 0);
        loop {
            let page = c.readdirplus(d, fh, off, 1 << 16).unwrap();
            let Some(last) = page.last() else { break };
            off = last.dirent.off;
            for p in page {
                let name = p.dirent.name_str();
                if name != "." && name != ".." {
                    assert_ne!(p.entry.nodeid, 0, "{mode}: {name} listed without its node");
                    held.push((p.entry.nodeid, h.host(&format!("d/{name}"))));
                    got.push(name);
                }
            }
        }
        got.sort();
        assert_eq!(got, want, "{mode}: every name, once");
        c.releasedir(d, fh).unwrap();
        // Every node still reaches its own file, whose fd was long closed.
        for (n, path) in &held {
            let a = c.getattr(*n, None).unwrap().attr;
            assert_eq!(a.ino, std::fs::metadata(path).unwrap().ino(), "{mode}");
            assert_eq!(a.size, 4);
        }
        for (n, _) in held {
            c.forget(n, 1).unwrap();
        }
    }
}

#[test]
fn rename_cases() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let a = h.file(ROOT, "a", b"AAA");
        h.file(ROOT, "b", b"BBB");
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        let full = c.mkdir(ROOT, "full", 0o755, 0).unwrap().nodeid;
        h.file(full, "x", b"");

        c.rename(ROOT, "a", d, "a2").unwrap();
        assert_eq!(std::fs::read(h.host("d/a2")).unwrap(), b"AAA", "{n}");
        assert_eq!(
            c.lookup(d, "a2").unwrap().nodeid,
            a,
            "{n}: same node after rename"
        );
        assert_eq!(err(c.lookup(ROOT, "a")), ENOENT, "{n}");
        assert_eq!(err(c.rename(ROOT, "missing", ROOT, "x")), ENOENT, "{n}");

        // NOREPLACE refuses an existing target; plain rename replaces it.
        assert_eq!(
            err(c.rename2(d, "a2", ROOT, "b", RENAME_NOREPLACE)),
            EEXIST,
            "{n}"
        );
        c.rename2(d, "a2", ROOT, "c", RENAME_NOREPLACE).unwrap();
        c.rename(ROOT, "c", ROOT, "b").unwrap();
        assert_eq!(std::fs::read(h.host("b")).unwrap(), b"AAA", "{n}: replaced");

        // EXCHANGE swaps two entries, even a file and a directory.
        h.file(ROOT, "e", b"EEE");
        c.rename2(ROOT, "b", ROOT, "e", RENAME_EXCHANGE).unwrap();
        assert_eq!(std::fs::read(h.host("b")).unwrap(), b"EEE", "{n}");
        assert_eq!(std::fs::read(h.host("e")).unwrap(), b"AAA", "{n}");
        c.rename2(ROOT, "e", ROOT, "d", RENAME_EXCHANGE).unwrap();
        assert!(h.host("e").is_dir() && h.host("d").is_file(), "{n}");
        assert_eq!(
            err(c.rename2(ROOT, "e", ROOT, "nothing", RENAME_EXCHANGE)),
            ENOENT,
            "{n}"
        );
        assert_eq!(
            err(c.rename2(ROOT, "e", ROOT, "b", RENAME_EXCHANGE | RENAME_NOREPLACE)),
            EINVAL,
            "{n}"
        );

        // Directories: over a non-empty one, file over dir, dir over file.
        assert_eq!(err(c.rename(ROOT, "e", ROOT, "full")), ENOTEMPTY, "{n}");
        assert_eq!(err(c.rename(ROOT, "b", ROOT, "e")), EISDIR, "{n}");
        assert_eq!(err(c.rename(ROOT, "e", ROOT, "b")), ENOTDIR, "{n}");
        let ino = std::fs::metadata(h.host("e")).unwrap().ino();
        let empty = c.mkdir(ROOT, "empty", 0o755, 0).unwrap();
        let _ = empty;
        c.rename(ROOT, "e", ROOT, "empty").unwrap();
        assert_eq!(
            std::fs::metadata(h.host("empty")).unwrap().ino(),
            ino,
            "{n}: dir over empty dir"
        );
        // Into its own subdirectory.
        let sub = c.mkdir(full, "sub", 0o755, 0).unwrap().nodeid;
        assert_eq!(err(c.rename(ROOT, "full", sub, "loop")), EINVAL, "{n}");
    });
}

#[test]
fn hard_links_and_nlink() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let f = h.file(ROOT, "f", b"data");
        let d = c.mkdir(ROOT, "d", 0o755, 0).unwrap().nodeid;
        let l = c.link(f, d, "g").unwrap();
        assert_eq!(l.nodeid, f, "{n}: the link is the same node");
        assert_eq!(l.attr.nlink, 2, "{n}");
        assert_eq!(c.getattr(f, None).unwrap().attr.nlink, 2, "{n}");
        assert_eq!(
            std::fs::metadata(h.host("d/g")).unwrap().ino(),
            std::fs::metadata(h.host("f")).unwrap().ino()
        );
        assert_eq!(err(c.link(f, d, "g")), EEXIST, "{n}");
        assert_eq!(
            err(c.link(d, ROOT, "dlink")),
            libc::EPERM,
            "{n}: link of a directory"
        );
        c.unlink(ROOT, "f").unwrap();
        assert_eq!(
            c.getattr(f, None).unwrap().attr.nlink,
            1,
            "{n}: node lives on"
        );
        let o = c.open(f, libc::O_RDONLY as u32).unwrap();
        assert_eq!(c.read(f, o.fh, 0, 10).unwrap(), b"data", "{n}");
        c.release(f, o.fh, 0).unwrap();
        c.unlink(d, "g").unwrap();
        if h.is_ferryd() {
            // nlink 0 and still reachable through the node id until forgotten (ferryd holds
            // an O_PATH fd per node).
            assert_eq!(c.getattr(f, None).unwrap().attr.nlink, 0, "{n}");
        } else {
            // virtiofsd answers ESTALE for a node whose last name is gone.
            assert_eq!(err(c.getattr(f, None)), libc::ESTALE, "{n}");
        }
    });
}

#[test]
fn symlinks_store_text_and_are_not_followed() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let s = c.symlink(ROOT, "ln", "/etc/shadow").unwrap();
        assert_eq!(s.attr.mode & libc::S_IFMT, libc::S_IFLNK, "{n}");
        assert_eq!(s.attr.size, 11, "{n}");
        assert_eq!(c.readlink(s.nodeid).unwrap(), b"/etc/shadow", "{n}");
        assert_eq!(
            std::fs::read_link(h.host("ln")).unwrap().to_str(),
            Some("/etc/shadow")
        );
        let l = c.lookup(ROOT, "ln").unwrap();
        assert_eq!(l.nodeid, s.nodeid, "{n}");
        assert_eq!(
            l.attr.mode & libc::S_IFMT,
            libc::S_IFLNK,
            "{n}: lookup does not follow"
        );
        // Relative target naming a file in the share: still not followed.
        h.file(ROOT, "real", b"x");
        let r = c.symlink(ROOT, "rel", "real").unwrap();
        assert_eq!(
            err(c.lookup(r.nodeid, "x")),
            ENOTDIR,
            "{n}: lookup through a symlink"
        );
        assert_eq!(err(c.symlink(ROOT, "ln", "x")), EEXIST, "{n}");
        let f = h.file(ROOT, "plain", b"");
        // READLINK of a regular file (the guest kernel never sends one): ferryd answers
        // EINVAL as readlink(2) does; virtiofsd's readlinkat(fd, "") on the O_PATH fd ENOENT.
        let want = if h.is_ferryd() { EINVAL } else { ENOENT };
        assert_eq!(err(c.readlink(f)), want, "{n}: readlink of a regular file");

        // OPEN of a symlink is refused: ferryd answers ELOOP (as open(O_NOFOLLOW), A4 #15);
        // virtiofsd's is_safe_inode check answers EBADF.
        let want = if h.is_ferryd() {
            libc::ELOOP
        } else {
            libc::EBADF
        };
        assert_eq!(
            err(c.open(r.nodeid, libc::O_RDONLY as u32)),
            want,
            "{n}: open symlink"
        );
        // LINK of a symlink links the symlink itself, never its target: virtiofsd through
        // /proc/self/fd, ferryd's own backend through linkat(AT_EMPTY_PATH) on its O_PATH fd
        // (server/src/fs/linux/sys.rs `link_fd`: "symlinks included").
        let l = c.link(r.nodeid, ROOT, "rel2").unwrap();
        assert_eq!(l.attr.mode & libc::S_IFMT, libc::S_IFLNK, "{n}");
        assert_eq!(l.attr.nlink, 2, "{n}");
        assert_eq!(
            std::fs::read_link(h.host("rel2")).unwrap().to_str(),
            Some("real")
        );
    });
}

#[test]
fn mknod_fifo_and_devices() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let p = c.mknod(ROOT, "fifo", libc::S_IFIFO | 0o644, 0, 0).unwrap();
        assert_eq!(p.attr.mode & libc::S_IFMT, libc::S_IFIFO, "{n}");
        assert!(std::fs::symlink_metadata(h.host("fifo")).is_ok());
        let r = c.mknod(ROOT, "reg", libc::S_IFREG | 0o600, 0, 0).unwrap();
        assert_eq!(r.attr.mode & libc::S_IFMT, libc::S_IFREG, "{n}");
        assert_eq!(
            err(c.mknod(ROOT, "reg", libc::S_IFREG | 0o600, 0, 0)),
            EEXIST,
            "{n}"
        );
        // /dev/null's numbers (1, 3).
        let rdev = libc::makedev(1, 3) as u32;
        let chr = c.mknod(ROOT, "null", libc::S_IFCHR | 0o666, rdev, 0);
        if h.is_ferryd() {
            assert_eq!(
                err(chr),
                libc::EPERM,
                "{n}: device nodes refused without --allow-devices"
            );
            assert!(!h.host("null").exists());
        } else {
            // virtiofsd creates it (the tests run as root).
            assert_eq!(chr.unwrap().attr.mode & libc::S_IFMT, libc::S_IFCHR, "{n}");
        }
    });
}

#[test]
fn ferryd_allow_devices_creates_but_never_opens_device_nodes() {
    let h = common::start(&common::Kind::Ferryd, &["--allow-devices"]);
    let c = h.c();
    let rdev = libc::makedev(1, 3) as u32;
    let e = c
        .mknod(ROOT, "null", libc::S_IFCHR | 0o666, rdev, 0)
        .unwrap();
    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFCHR);
    let r = c.open(e.nodeid, RDWR);
    let e = err(r);
    assert!(
        e == libc::EBADF || e == libc::ENXIO || e == libc::EPERM || e == libc::EACCES,
        "open of a device node: {e}"
    );
}

#[test]
fn statfs_access_and_file_ops() {
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let s = c.statfs(ROOT).unwrap();
        assert!(s.bsize > 0 && s.namelen >= 255, "{n}: {s:?}");
        c.access(ROOT, libc::R_OK as u32 | libc::X_OK as u32)
            .unwrap();
        let (e, o) = c.create(ROOT, "f", RDWR, 0o644, 0).unwrap();
        c.fallocate(e.nodeid, o.fh, 0, 1 << 20, 0).unwrap();
        assert_eq!(
            c.getattr(e.nodeid, None).unwrap().attr.size,
            1 << 20,
            "{n}: fallocate"
        );
        c.write(e.nodeid, o.fh, 8192, b"data").unwrap();
        assert_eq!(
            c.lseek(e.nodeid, o.fh, 0, libc::SEEK_END as u32).unwrap(),
            1 << 20,
            "{n}"
        );
        let data = c.lseek(e.nodeid, o.fh, 0, libc::SEEK_DATA as u32).unwrap();
        assert!(data <= 8192, "{n}: SEEK_DATA {data}");
        let hole = c.lseek(e.nodeid, o.fh, 0, libc::SEEK_HOLE as u32).unwrap();
        assert!(hole <= 1 << 20, "{n}: SEEK_HOLE {hole}");

        let (g, go) = c.create(ROOT, "g", RDWR, 0o644, 0).unwrap();
        let copied = c
            .copy_file_range(e.nodeid, o.fh, 8192, g.nodeid, go.fh, 0, 4, 0)
            .unwrap();
        assert_eq!(copied, 4, "{n}");
        assert_eq!(std::fs::read(h.host("g")).unwrap(), b"data", "{n}");
        c.release(g.nodeid, go.fh, RDWR).unwrap();
        c.release(e.nodeid, o.fh, RDWR).unwrap();
    });
}

/// CREATE with O_EXCL of a name that exists must fail with EEXIST, as open(O_CREAT|O_EXCL)
/// does: the guest kernel's own check only sees its cache, which may be stale. (This test
/// found ferryd dropping O_EXCL, and truncating the existing file with O_TRUNC.)
#[test]
fn create_excl_of_an_existing_name_is_eexist() {
    each(&[], &[], |h| {
        let c = h.c();
        h.file(ROOT, "f", b"keep");
        let r = c.create(
            ROOT,
            "f",
            RDWR | libc::O_EXCL as u32 | libc::O_TRUNC as u32,
            0o644,
            0,
        );
        assert_eq!(err(r), EEXIST, "{}", h.name());
        assert_eq!(std::fs::read(h.host("f")).unwrap(), b"keep", "{}", h.name());
    });
}
