//! Backend tests over a temporary directory, with a canary outside it.

use std::ffi::CString;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use fuse_backend_rs::abi::fuse_abi::{CreateIn, ROOT_ID};
use fuse_backend_rs::api::filesystem::{Context, FileLock, FileSystem, GetxattrReply};

use super::*;
use crate::fs::{BackendExt, CopyRange};

struct T {
    fs: LinuxFs,
    dir: tempfile::TempDir,
    outside: tempfile::TempDir,
    ctx: Context,
}

fn opts() -> Options {
    Options {
        cache: CachePolicy::Auto,
        timeout: Duration::from_secs(1),
        writeback: false,
        xattr: Some(crate::fs::xattrmap::XattrMap::default()),
        killpriv_v2: false,
        allow_direct_io: false,
        locks: true,
        announce_submounts: false,
        max_guest_fds: None,
        file_handles: crate::config::FileHandles::Never,
        guest_root: Some((0, 0)),
        posix_acl: false,
        zero_open: false,
        allow_devices: false,
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn errno<T: std::fmt::Debug>(r: io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

impl T {
    fn new() -> T {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("canary"), b"canary").unwrap();
        let fs = LinuxFs::new(dir.path(), opts()).unwrap();
        fs.init(FsOptions::empty()).unwrap();
        T {
            fs,
            dir,
            outside,
            ctx: Context::default(),
        }
    }

    fn create(&self, parent: u64, name: &str) -> (u64, u64) {
        let a = CreateIn {
            flags: libc::O_RDWR as u32,
            mode: libc::S_IFREG | 0o644,
            umask: 0,
            fuse_flags: 0,
        };
        let (e, fh, _, _) = self.fs.create(&self.ctx, parent, &c(name), a).unwrap();
        (e.inode, fh.unwrap())
    }

    fn canary_intact(&self) {
        let p = self.outside.path();
        assert_eq!(std::fs::read(p.join("canary")).unwrap(), b"canary");
        assert_eq!(std::fs::read_dir(p).unwrap().count(), 1);
    }
}

#[test]
fn lookup_counts_and_forget() {
    let t = T::new();
    let (f, fh) = t.create(ROOT_ID, "f");
    let e = t.fs.lookup(&t.ctx, ROOT_ID, &c("f")).unwrap();
    assert_eq!(e.inode, f, "the same inode keeps its node id");
    t.fs.release(&t.ctx, f, 0, fh, false, false, None).unwrap();
    t.fs.forget(&t.ctx, f, 2);
    assert_eq!(errno(t.fs.getattr(&t.ctx, f, None)), libc::EBADF);
    assert_eq!(t.fs.inodes.len(), 1);
    assert_eq!(t.fs.handles.len(), 0);
}

#[test]
fn lookup_of_a_held_inode_is_fresh_and_a_replaced_name_is_a_new_node() {
    let t = T::new();
    let p = t.dir.path();
    std::fs::write(p.join("f"), b"one").unwrap();
    let a = t.fs.lookup(&t.ctx, ROOT_ID, &c("f")).unwrap();
    // Known inode: the same node, one more reference, attributes as the host has them now.
    std::fs::write(p.join("f"), b"longer").unwrap();
    let b = t.fs.lookup(&t.ctx, ROOT_ID, &c("f")).unwrap();
    assert_eq!((b.inode, b.attr.st_size), (a.inode, 6));
    assert_eq!(b.attr.st_ino, std::fs::metadata(p.join("f")).unwrap().ino());
    // The host puts another file under the name: a new node, while the old one stays valid.
    std::fs::write(p.join("g"), b"other!!").unwrap();
    std::fs::rename(p.join("g"), p.join("f")).unwrap();
    let n = t.fs.lookup(&t.ctx, ROOT_ID, &c("f")).unwrap();
    assert_ne!(n.inode, a.inode);
    assert_eq!(n.attr.st_size, 7);
    assert_eq!(t.fs.getattr(&t.ctx, a.inode, None).unwrap().0.st_nlink, 0);
    // A listing of the directory gives the known node for the name (looked up by name).
    let (fh, _) = t.fs.opendir(&t.ctx, ROOT_ID, 0).unwrap();
    let mut listed = Vec::new();
    t.fs.readdirplus(&t.ctx, ROOT_ID, fh.unwrap(), 4096, 0, &mut |_, e| {
        listed.push(e.inode);
        Ok(1)
    })
    .unwrap();
    assert_eq!(listed, vec![n.inode]);
    t.fs.forget(&t.ctx, a.inode, 2);
    t.fs.forget(&t.ctx, n.inode, 2);
    assert_eq!(t.fs.inodes.len(), 1);
    // Gone on the host: a negative entry, as before.
    std::fs::remove_file(p.join("f")).unwrap();
    assert_eq!(t.fs.lookup(&t.ctx, ROOT_ID, &c("f")).unwrap().inode, 0);
}

#[test]
fn names_of_held_inodes_swapped_on_the_host_give_the_right_nodes() {
    let t = T::new();
    let p = t.dir.path();
    std::fs::write(p.join("a"), b"a").unwrap();
    std::fs::write(p.join("b"), b"bb").unwrap();
    let a = t.fs.lookup(&t.ctx, ROOT_ID, &c("a")).unwrap();
    let b = t.fs.lookup(&t.ctx, ROOT_ID, &c("b")).unwrap();
    // Both names are filed under their nodes; the host swaps what they name.
    std::fs::rename(p.join("a"), p.join("tmp")).unwrap();
    std::fs::rename(p.join("b"), p.join("a")).unwrap();
    std::fs::rename(p.join("tmp"), p.join("b")).unwrap();
    let a2 = t.fs.lookup(&t.ctx, ROOT_ID, &c("a")).unwrap();
    let b2 = t.fs.lookup(&t.ctx, ROOT_ID, &c("b")).unwrap();
    assert_eq!((a2.inode, a2.attr.st_size), (b.inode, 2));
    assert_eq!((b2.inode, b2.attr.st_size), (a.inode, 1));
    // A name under which a forgotten node was filed is opened again, as a new node.
    t.fs.forget(&t.ctx, a.inode, 2);
    let b3 = t.fs.lookup(&t.ctx, ROOT_ID, &c("b")).unwrap();
    assert_ne!(b3.inode, a.inode);
    assert_eq!(b3.attr.st_size, 1);
    t.fs.forget(&t.ctx, b.inode, 2);
    t.fs.forget(&t.ctx, b3.inode, 1);
    assert_eq!(t.fs.inodes.len(), 1);
}

#[test]
fn symlinks_are_never_followed() {
    let t = T::new();
    symlink(t.outside.path(), t.dir.path().join("out")).unwrap();
    symlink(t.outside.path().join("canary"), t.dir.path().join("can")).unwrap();
    let out = t.fs.lookup(&t.ctx, ROOT_ID, &c("out")).unwrap();
    assert_eq!(out.attr.st_mode & libc::S_IFMT, libc::S_IFLNK);
    // Nothing can be looked up, created or listed through the link.
    assert_eq!(
        errno(t.fs.lookup(&t.ctx, out.inode, &c("canary"))),
        libc::ENOTDIR
    );
    let a = CreateIn {
        flags: libc::O_RDWR as u32,
        mode: 0o644,
        umask: 0,
        fuse_flags: 0,
    };
    assert!(t.fs.create(&t.ctx, out.inode, &c("x"), a).is_err());
    assert!(t.fs.mkdir(&t.ctx, out.inode, &c("x"), 0o755, 0).is_err());
    assert_eq!(errno(t.fs.opendir(&t.ctx, out.inode, 0)), libc::ENOTDIR);
    let can = t.fs.lookup(&t.ctx, ROOT_ID, &c("can")).unwrap();
    assert_eq!(
        errno(t.fs.open(&t.ctx, can.inode, libc::O_RDWR as u32, 0)),
        libc::ELOOP
    );
    assert_eq!(
        errno(t.fs.setattr(&t.ctx, can.inode, unsafe_zero(), None, SetattrValid::SIZE)),
        libc::EINVAL
    );
    // chown and utimes act on the link itself.
    t.fs.setattr(&t.ctx, can.inode, unsafe_zero(), None, SetattrValid::MTIME)
        .unwrap();
    // Extended attributes too: user.* is not allowed on a symlink, so nothing is set anywhere.
    assert!(t
        .fs
        .setxattr(&t.ctx, can.inode, &c("user.x"), b"1", 0)
        .is_err());
    assert!(t.fs.getxattr(&t.ctx, can.inode, &c("user.x"), 16).is_err());
    // A hard link of the link is a link, not the outside file.
    t.fs.link(&t.ctx, can.inode, ROOT_ID, &c("can2")).unwrap();
    let m = std::fs::symlink_metadata(t.dir.path().join("can2")).unwrap();
    assert!(m.file_type().is_symlink());
    t.canary_intact();
    let before = std::fs::metadata(t.outside.path().join("canary")).unwrap();
    assert_eq!(
        before.mtime(),
        std::fs::metadata(t.outside.path().join("canary"))
            .unwrap()
            .mtime()
    );
}

fn unsafe_zero() -> stat64 {
    // SAFETY: stat64 is plain data; zero is valid for every field.
    unsafe { std::mem::zeroed() }
}

#[test]
fn dot_dot_never_leaves_the_share() {
    let t = T::new();
    // The root's `..` is answered by the server; a directory's `..` is only a node the guest
    // already holds.
    let d = t.fs.mkdir(&t.ctx, ROOT_ID, &c("d"), 0o755, 0).unwrap();
    let up = t.fs.lookup(&t.ctx, d.inode, &c("..")).unwrap();
    assert_eq!(up.inode, ROOT_ID);
    assert_eq!(errno(t.fs.lookup(&t.ctx, ROOT_ID, &c(".."))), libc::ENOENT);
}

#[test]
fn files_read_write_and_copy() {
    let t = T::new();
    let (f, fh) = t.create(ROOT_ID, "f");
    std::fs::write(t.dir.path().join("f"), b"hello world").unwrap();
    let (g, gh) = t.create(ROOT_ID, "g");
    let r = CopyRange {
        node_in: f,
        fh_in: fh,
        off_in: 6,
        node_out: g,
        fh_out: gh,
        off_out: 0,
        len: 5,
        flags: 0,
    };
    assert_eq!(t.fs.copy_file_range(&t.ctx, &r).unwrap(), 5);
    assert_eq!(std::fs::read(t.dir.path().join("g")).unwrap(), b"world");
    // A handle used with another node is refused.
    let bad = CopyRange { node_in: g, ..r };
    assert_eq!(errno(t.fs.copy_file_range(&t.ctx, &bad)), libc::EBADF);
    t.fs.syncfs(&t.ctx, ROOT_ID).unwrap();
}

#[test]
fn tmpfile_then_link() {
    let t = T::new();
    let a = CreateIn {
        flags: libc::O_RDWR as u32,
        mode: 0o600,
        umask: 0,
        fuse_flags: 0,
    };
    let (e, fh, _) = t.fs.tmpfile(&t.ctx, ROOT_ID, a).unwrap();
    assert_eq!(e.attr.st_nlink, 0);
    assert_eq!(std::fs::read_dir(t.dir.path()).unwrap().count(), 0);
    t.fs.link(&t.ctx, e.inode, ROOT_ID, &c("named")).unwrap();
    assert!(t.dir.path().join("named").exists());
    t.fs.release(&t.ctx, e.inode, 0, fh.unwrap(), false, false, None)
        .unwrap();
}

#[test]
fn setattr_mode_size_owner() {
    let t = T::new();
    let (f, _) = t.create(ROOT_ID, "f");
    let mut st = unsafe_zero();
    st.st_mode = 0o4755;
    st.st_size = 4096;
    st.st_uid = 1234;
    let v = SetattrValid::MODE | SetattrValid::SIZE | SetattrValid::UID;
    let (a, _) = t.fs.setattr(&t.ctx, f, st, None, v).unwrap();
    assert_eq!(a.st_size, 4096);
    assert_eq!(a.st_uid, 1234);
    // chown clears setuid, as on any Linux filesystem.
    let m = std::fs::metadata(t.dir.path().join("f")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn readdir_plus_gives_back_what_did_not_fit() {
    let t = T::new();
    for i in 0..50 {
        std::fs::write(t.dir.path().join(format!("f{i}")), b"").unwrap();
    }
    let (fh, _) = t.fs.opendir(&t.ctx, ROOT_ID, 0).unwrap();
    let fh = fh.unwrap();
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let mut batch = 0;
        t.fs.readdirplus(&t.ctx, ROOT_ID, fh, 4096, offset, &mut |d, e| {
            if batch == 7 {
                return Ok(0);
            }
            batch += 1;
            seen.push((String::from_utf8_lossy(d.name).into_owned(), e.inode));
            offset = d.offset;
            Ok(1)
        })
        .unwrap();
        if batch == 0 {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 50, "each entry once, none of . and ..");
    // One reference per entry delivered, none for those refused.
    for (_, node) in &seen {
        t.fs.forget(&t.ctx, *node, 1);
    }
    assert_eq!(t.fs.inodes.len(), 1);
}

#[test]
fn posix_locks_per_owner_and_flock() {
    let t = T::new();
    let (f, fh) = t.create(ROOT_ID, "f");
    let wr = FileLock {
        start: 0,
        end: 99,
        lock_type: libc::F_WRLCK as u32,
        pid: 1,
    };
    t.fs.setlk(&t.ctx, f, fh, 1, wr, 0).unwrap();
    // Another owner sees the conflict and cannot take it.
    let got = t.fs.getlk(&t.ctx, f, fh, 2, wr, 0).unwrap();
    assert_eq!(got.lock_type, libc::F_WRLCK as u32);
    assert_eq!((got.start, got.end), (0, 99));
    assert_eq!(errno(t.fs.setlk(&t.ctx, f, fh, 2, wr, 0)), libc::EAGAIN);
    // FLUSH (close) by the owner drops its locks.
    t.fs.flush(&t.ctx, f, fh, 1).unwrap();
    t.fs.setlk(&t.ctx, f, fh, 2, wr, 0).unwrap();
    // flock on the handle.
    let ex = FileLock {
        lock_type: libc::F_WRLCK as u32,
        ..wr
    };
    t.fs.setlk(
        &t.ctx,
        f,
        fh,
        3,
        ex,
        fuse_backend_rs::abi::fuse_abi::LK_FLOCK,
    )
    .unwrap();
    let (_, fh2) = {
        let (h, _, _) = t.fs.open(&t.ctx, f, libc::O_RDWR as u32, 0).unwrap();
        ((), h.unwrap())
    };
    assert_eq!(
        errno(t.fs.setlk(
            &t.ctx,
            f,
            fh2,
            4,
            ex,
            fuse_backend_rs::abi::fuse_abi::LK_FLOCK
        )),
        libc::EWOULDBLOCK
    );
}

#[test]
fn xattrs_on_files() {
    let t = T::new();
    let (f, _) = t.create(ROOT_ID, "f");
    t.fs.setxattr(&t.ctx, f, &c("user.k"), b"v", 0).unwrap();
    match t.fs.getxattr(&t.ctx, f, &c("user.k"), 0).unwrap() {
        GetxattrReply::Count(n) => assert_eq!(n, 1),
        GetxattrReply::Value(_) => panic!("size 0 asks for the length"),
    }
    match t.fs.getxattr(&t.ctx, f, &c("user.k"), 10).unwrap() {
        GetxattrReply::Value(v) => assert_eq!(v, b"v"),
        GetxattrReply::Count(_) => panic!("asked for the value"),
    }
    let none = t.fs.getxattr(&t.ctx, f, &c("user.none"), 10).map(drop);
    assert_eq!(errno(none), libc::ENODATA);
    t.fs.removexattr(&t.ctx, f, &c("user.k")).unwrap();
}

#[test]
fn special_files_are_never_opened() {
    let t = T::new();
    let e =
        t.fs.mknod(&t.ctx, ROOT_ID, &c("p"), libc::S_IFIFO | 0o666, 0, 0)
            .unwrap();
    assert_eq!(
        errno(t.fs.open(&t.ctx, e.inode, libc::O_RDONLY as u32, 0)),
        libc::ENXIO
    );
    assert_eq!(errno(t.fs.syncfs(&t.ctx, e.inode)), libc::ENXIO);
}

#[test]
fn a4_25_a_lookup_flood_past_the_fd_budget_closes_idle_nodes_and_the_daemon_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
    }
    let fs = LinuxFs::new(
        dir.path(),
        Options {
            max_guest_fds: Some(5),
            ..opts()
        },
    )
    .unwrap();
    let ctx = Context::default();
    // Twice as many nodes as the budget has fds: the idle ones give theirs up.
    let mut got = Vec::new();
    for i in 0..10 {
        got.push(
            fs.lookup(&ctx, ROOT_ID, &c(&format!("f{i}")))
                .unwrap()
                .inode,
        );
        assert!(fs.budget.used() <= 5);
    }
    for &n in &got {
        fs.getattr(&ctx, n, None).unwrap();
    }
    assert!(fs.inodes.open_fds() <= 5);
    // Handles the guest holds are not taken back: once they and the root fill the budget, a
    // request that needs another fd gets EMFILE, and the daemon goes on.
    let dirs: Vec<u64> = (0..4)
        .map(|_| fs.opendir(&ctx, ROOT_ID, 0).unwrap().0.unwrap())
        .collect();
    assert_eq!(errno(fs.opendir(&ctx, ROOT_ID, 0)), libc::EMFILE);
    let closed = got
        .iter()
        .find(|&&n| errno(fs.getattr(&ctx, n, None)) == libc::EMFILE);
    let closed = *closed.expect("a node whose fd was closed needs one");
    fs.releasedir(&ctx, ROOT_ID, 0, dirs[0]).unwrap();
    fs.getattr(&ctx, closed, None).unwrap();
    fs.getattr(&ctx, ROOT_ID, None).unwrap();
}

#[test]
fn create_of_an_existing_fifo_never_opens_it() {
    // Found by the request_path fuzzer: open(O_CREAT) of an existing FIFO blocked a worker.
    let t = T::new();
    t.fs.mknod(&t.ctx, ROOT_ID, &c("p"), libc::S_IFIFO | 0o666, 0, 0)
        .unwrap();
    let a = CreateIn {
        flags: libc::O_RDONLY as u32,
        mode: 0o644,
        umask: 0,
        fuse_flags: 0,
    };
    assert_eq!(
        errno(t.fs.create(&t.ctx, ROOT_ID, &c("p"), a).map(drop)),
        libc::ENXIO
    );
    // An existing regular file is opened (and truncated when asked), as open(2) would.
    std::fs::write(t.dir.path().join("f"), b"old").unwrap();
    let a = CreateIn {
        flags: (libc::O_RDWR | libc::O_TRUNC) as u32,
        ..a
    };
    let (e, fh, _, _) = t.fs.create(&t.ctx, ROOT_ID, &c("f"), a).unwrap();
    assert!(fh.is_some());
    assert_eq!(e.attr.st_size, 0);
    // With O_EXCL it is EEXIST.
    let a = CreateIn {
        flags: (libc::O_RDWR | libc::O_EXCL) as u32,
        ..a
    };
    assert_eq!(
        errno(t.fs.create(&t.ctx, ROOT_ID, &c("f"), a).map(drop)),
        libc::EEXIST
    );
}

#[test]
fn a4_24_chown_follows_the_callers_rights() {
    let t = T::new();
    let (f, _) = t.create(ROOT_ID, "f"); // owned by root
    let user = Context {
        uid: 1000,
        gid: 1000,
        ..Context::default()
    };
    let mut st = unsafe_zero();
    st.st_uid = 1000;
    st.st_gid = 1000;
    let both = SetattrValid::UID | SetattrValid::GID;
    // A non-owner may neither take the file nor change its group.
    assert_eq!(errno(t.fs.setattr(&user, f, st, None, both)), libc::EPERM);
    assert_eq!(
        errno(t.fs.setattr(&user, f, st, None, SetattrValid::GID)),
        libc::EPERM
    );
    // Root may; then the new owner may change the group, but not give the file away.
    t.fs.setattr(&t.ctx, f, st, None, SetattrValid::UID)
        .unwrap();
    st.st_gid = 4242;
    t.fs.setattr(&user, f, st, None, SetattrValid::GID).unwrap();
    st.st_uid = 0;
    assert_eq!(
        errno(t.fs.setattr(&user, f, st, None, SetattrValid::UID)),
        libc::EPERM
    );
    let m = std::fs::metadata(t.dir.path().join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 4242));
}

#[test]
fn a4_24_a_non_root_write_clears_setuid_and_setgid() {
    let t = T::new();
    let (f, fh) = t.create(ROOT_ID, "f");
    let p = t.dir.path().join("f");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o6775)).unwrap();
    // Root keeps the bits, as on the host.
    let mut r = crate::zerocopy::SliceReader::new(b"x");
    t.fs.write(&t.ctx, f, fh, &mut r, 1, 0, None, false, 0, 0)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
        0o6775
    );
    let user = Context {
        uid: 1000,
        gid: 1000,
        ..Context::default()
    };
    let mut r = crate::zerocopy::SliceReader::new(b"y");
    t.fs.write(&user, f, fh, &mut r, 1, 1, None, false, 0, 0)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
        0o775
    );
}

/// CREATE arguments of a write-only file, mode 0644.
fn write_only() -> CreateIn {
    CreateIn {
        flags: libc::O_WRONLY as u32,
        mode: libc::S_IFREG | 0o644,
        umask: 0,
        fuse_flags: 0,
    }
}

#[test]
fn unlink_closes_the_writable_fd_kept_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fs = zero_open_fs(dir.path(), false);
    let ctx = Context::default();
    let a = write_only();
    let (e, _, _, _) = fs.create(&ctx, ROOT_ID, &c("f"), a).unwrap();
    let (other, _, _, _) = fs.create(&ctx, ROOT_ID, &c("g"), a).unwrap();
    assert_eq!(fs.writers.len(), 2);
    // Only the unlinked file's fd goes; the host then holds it by the node's O_PATH fd alone.
    fs.unlink(&ctx, ROOT_ID, &c("f")).unwrap();
    assert_eq!(fs.writers.len(), 1);
    assert!(fs.writers.get(other.inode).is_some());
    let open_on_f = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|d| std::fs::read_link(d.unwrap().path()).ok())
        .filter(|t| *t == dir.path().join("f (deleted)"))
        .count();
    assert_eq!(
        open_on_f, 1,
        "only the node's O_PATH fd is left on the file"
    );
    // The guest may still write to the unlinked file it holds: the node opens it again.
    let mut r = crate::zerocopy::SliceReader::new(b"late");
    assert_eq!(
        fs.write(&ctx, e.inode, 0, &mut r, 4, 0, None, false, 0, 0)
            .unwrap(),
        4
    );
    assert_eq!(read_all(&fs, e.inode, 0).unwrap(), b"late");
    // A rename over a file closes the replaced file's fd, not the renamed one's.
    let (h, _, _, _) = fs.create(&ctx, ROOT_ID, &c("h"), a).unwrap();
    fs.rename(&ctx, ROOT_ID, &c("h"), ROOT_ID, &c("g"), 0)
        .unwrap();
    assert!(fs.writers.get(other.inode).is_none());
    assert!(fs.writers.get(h.inode).is_some());
}

/// A backend that negotiated zero-message opens, as with a Linux guest under `--cache=auto`.
fn zero_open_fs(dir: &std::path::Path, locks: bool) -> LinuxFs {
    let o = Options {
        zero_open: true,
        locks,
        ..opts()
    };
    let fs = LinuxFs::new(dir, o).unwrap();
    fs.init(FsOptions::ZERO_MESSAGE_OPEN).unwrap();
    fs
}

fn read_all(fs: &LinuxFs, node: u64, fh: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = crate::zerocopy::VecWriter::new(&mut buf, 4096);
    let n = fs.read(&Context::default(), node, fh, &mut w, 4096, 0, None, 0)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn zero_message_opens_serve_io_through_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let fs = zero_open_fs(dir.path(), false);
    let ctx = Context::default();
    let a = write_only();
    // CREATE gives no handle: the guest will not RELEASE it.
    let (e, fh, _, _) = fs.create(&ctx, ROOT_ID, &c("f"), a).unwrap();
    assert_eq!(fh, None);
    let f = e.inode;
    // The created fd is kept as the node's writer, for the writes that usually follow; one
    // opened for appends is not (a WRITE names its offset).
    assert!(fs.writers.get(f).is_some());
    let append = CreateIn {
        flags: (libc::O_WRONLY | libc::O_APPEND) as u32,
        ..a
    };
    let (g, _, _, _) = fs.create(&ctx, ROOT_ID, &c("g"), append).unwrap();
    assert!(fs.writers.get(g.inode).is_none());
    // OPEN of a file tells the guest to stop opening; directories still open.
    assert_eq!(
        errno(fs.open(&ctx, f, libc::O_RDONLY as u32, 0)),
        libc::ENOSYS
    );
    let (dh, _) = fs.opendir(&ctx, ROOT_ID, 0).unwrap();
    assert!(dh.is_some());
    // I/O with handle 0 goes through the node.
    let mut r = crate::zerocopy::SliceReader::new(b"hello");
    assert_eq!(
        fs.write(&ctx, f, 0, &mut r, 5, 0, None, false, 0, 0)
            .unwrap(),
        5
    );
    assert_eq!(read_all(&fs, f, 0).unwrap(), b"hello");
    // Reads share one fd kept with the node; each write opens its own.
    let r1 = fs.file(0, f, libc::O_RDONLY).unwrap();
    let r2 = fs.file(0, f, libc::O_RDONLY).unwrap();
    assert!(Arc::ptr_eq(&r1, &r2));
    let w1 = fs.file(0, f, libc::O_WRONLY).unwrap();
    assert!(!Arc::ptr_eq(&r1, &w1));
    // A writable fd is kept while the guest writes, and closed once it stops for a second.
    let w2 = fs.file(0, f, libc::O_WRONLY).unwrap();
    assert!(Arc::ptr_eq(&w1, &w2));
    assert_eq!(fs.writers.len(), 1);
    drop((r1, r2, w1, w2));
    std::thread::sleep(writers::IDLE * 2);
    assert_eq!(fs.writers.len(), 0);
    fs.fsync(&ctx, f, false, 0).unwrap();
    assert_eq!(fs.lseek(&ctx, f, 0, 0, libc::SEEK_END as u32).unwrap(), 5);
    // A truncating open arrives as SETATTR with FATTR_FH and handle 0.
    let mut st = unsafe_zero();
    st.st_size = 2;
    let (at, _) = fs
        .setattr(&ctx, f, st, Some(0), SetattrValid::SIZE)
        .unwrap();
    assert_eq!(at.st_size, 2);
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"he");
    // FLUSH has nothing to do (ENOSYS: the guest stops sending it); RELEASE of 0 is fine.
    assert_eq!(errno(fs.flush(&ctx, f, 0, 0)), libc::ENOSYS);
    fs.release(&ctx, f, 0, 0, false, false, None).unwrap();
    // Handles the guest was never given are still refused.
    assert_eq!(errno(read_all(&fs, f, 77)), libc::EBADF);
    // Only regular files are opened for it: never a directory or a FIFO.
    assert_eq!(errno(read_all(&fs, ROOT_ID, 0)), libc::EISDIR);
    let p = fs
        .mknod(&ctx, ROOT_ID, &c("p"), libc::S_IFIFO | 0o666, 0, 0)
        .unwrap();
    assert_eq!(errno(read_all(&fs, p.inode, 0)), libc::ENXIO);
    let mut r = crate::zerocopy::SliceReader::new(b"x");
    let w = fs.write(&ctx, p.inode, 0, &mut r, 1, 0, None, false, 0, 0);
    assert_eq!(errno(w), libc::ENXIO);
}

#[test]
fn zero_message_opens_need_the_guests_offer_and_no_locks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    let ctx = Context::default();
    for (offer, locks) in [(false, false), (true, true)] {
        let o = Options {
            zero_open: true,
            locks,
            ..opts()
        };
        let fs = LinuxFs::new(dir.path(), o).unwrap();
        let capable = if offer {
            FsOptions::ZERO_MESSAGE_OPEN
        } else {
            FsOptions::empty()
        };
        let got = fs.init(capable).unwrap();
        assert!(!got.contains(FsOptions::ZERO_MESSAGE_OPEN));
        let f = fs.lookup(&ctx, ROOT_ID, &c("f")).unwrap().inode;
        let (fh, _, _) = fs.open(&ctx, f, libc::O_RDONLY as u32, 0).unwrap();
        let fh = fh.unwrap();
        assert_eq!(read_all(&fs, f, fh).unwrap(), b"x");
        assert_eq!(errno(read_all(&fs, f, 0)), libc::EBADF);
    }
}

#[test]
fn kept_readers_give_way_to_inodes() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..12 {
        std::fs::write(dir.path().join(format!("f{i}")), b"x").unwrap();
    }
    let o = Options {
        zero_open: true,
        locks: false,
        max_guest_fds: Some(12),
        ..opts()
    };
    let fs = LinuxFs::new(dir.path(), o).unwrap();
    fs.init(FsOptions::ZERO_MESSAGE_OPEN).unwrap();
    let ctx = Context::default();
    let look = |i: usize| fs.lookup(&ctx, ROOT_ID, &c(&format!("f{i}")));
    // The root, four inodes and the readers kept while under three quarters of the budget.
    let mut nodes = Vec::new();
    for i in 0..4 {
        let n = look(i).unwrap().inode;
        assert_eq!(read_all(&fs, n, 0).unwrap(), b"x");
        nodes.push(n);
    }
    assert_eq!(fs.budget.used(), 8, "three readers kept, the fourth not");
    // More inodes than the budget: the readers make room first, then idle nodes' fds.
    for i in 4..12 {
        nodes.push(look(i).unwrap().inode);
        assert!(fs.budget.used() <= 12);
    }
    fs.forget(&ctx, nodes[10], 1);
    for &n in &nodes[..10] {
        assert_eq!(read_all(&fs, n, 0).unwrap(), b"x");
    }
}

mod fds;
mod xattr;
