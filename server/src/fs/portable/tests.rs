//! Portable backend tests over a temporary directory, with a canary outside it.

use std::ffi::CString;
use std::os::unix::fs::{symlink, MetadataExt};

use fuse_backend_rs::abi::fuse_abi::{CreateIn, ROOT_ID};
use fuse_backend_rs::api::filesystem::{Context, FileSystem};

use super::*;

struct T {
    fs: PortableFs,
    dir: tempfile::TempDir,
    outside: tempfile::TempDir,
    ctx: Context,
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn errno<T: std::fmt::Debug>(r: io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

impl T {
    fn new() -> T {
        T::with(FsOptions::empty())
    }

    /// A backend offered `zero_open` (all of them) and initialised with what the guest offers.
    fn with(offered: FsOptions) -> T {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("canary"), b"canary").unwrap();
        let opts = Options {
            cache: CachePolicy::Auto,
            timeout: Duration::from_secs(1),
            guest_root: Some((0, 0)),
            allow_devices: false,
            zero_open: true,
        };
        let fs = PortableFs::new(dir.path(), opts).unwrap();
        fs.init(offered).unwrap();
        T {
            fs,
            dir,
            outside,
            ctx: Context::default(),
        }
    }

    fn lookup(&self, parent: u64, name: &str) -> io::Result<Entry> {
        let e = self.fs.lookup(&self.ctx, parent, &c(name))?;
        if e.inode == 0 {
            return Err(err(libc::ENOENT));
        }
        Ok(e)
    }

    fn create(&self, parent: u64, name: &str, mode: u32) -> (Entry, u64) {
        let args = CreateIn {
            flags: 2, // O_RDWR
            mode: libc::S_IFREG | mode,
            umask: 0o022,
            fuse_flags: 0,
        };
        let (e, fh, _, _) = self.fs.create(&self.ctx, parent, &c(name), args).unwrap();
        (e, fh.unwrap())
    }

    fn names(&self, dir: u64) -> Vec<String> {
        let (fh, _) = self.fs.opendir(&self.ctx, dir, 0).unwrap();
        let mut v = Vec::new();
        self.fs
            .readdir(&self.ctx, dir, fh.unwrap(), 4096, 0, &mut |d| {
                v.push(String::from_utf8_lossy(d.name).into_owned());
                Ok(1)
            })
            .unwrap();
        v.sort();
        v
    }
}

#[test]
fn files_are_made_found_renamed_linked_and_removed_by_name() {
    let t = T::new();
    let (e, fh) = t.create(ROOT_ID, "a", 0o640);
    assert_eq!(e.attr.st_mode & 0o7777, 0o640 & !0o022);
    t.fs.release(&t.ctx, e.inode, 0, fh, false, false, None)
        .unwrap();
    assert_eq!(t.lookup(ROOT_ID, "a").unwrap().inode, e.inode);

    // Renamed by the guest: the node follows its new name.
    let d = t.fs.mkdir(&t.ctx, ROOT_ID, &c("d"), 0o755, 0).unwrap();
    t.fs.rename(&t.ctx, ROOT_ID, &c("a"), d.inode, &c("b"), 0)
        .unwrap();
    let (st, _) = t.fs.getattr(&t.ctx, e.inode, None).unwrap();
    assert_eq!(st.st_ino, e.attr.st_ino);

    // A hard link: the node is found under either name, and survives the first's removal.
    let l = t.fs.link(&t.ctx, e.inode, ROOT_ID, &c("l")).unwrap();
    assert_eq!(l.inode, e.inode);
    assert_eq!(l.attr.st_nlink, 2);
    t.fs.unlink(&t.ctx, d.inode, &c("b")).unwrap();
    let (st, _) = t.fs.getattr(&t.ctx, e.inode, None).unwrap();
    assert_eq!(st.st_nlink, 1);
    t.fs.unlink(&t.ctx, ROOT_ID, &c("l")).unwrap();
    assert_eq!(errno(t.fs.getattr(&t.ctx, e.inode, None)), libc::ENOENT);
    t.fs.rmdir(&t.ctx, ROOT_ID, &c("d")).unwrap();
    assert!(t.names(ROOT_ID).is_empty());
    // renameat2's flags are Linux's.
    assert_eq!(
        errno(t.fs.rename(&t.ctx, ROOT_ID, &c("x"), ROOT_ID, &c("y"), 1)),
        libc::EINVAL
    );
}

#[test]
fn a_file_removed_while_open_is_reached_through_its_handle() {
    let t = T::new();
    let (e, fh) = t.create(ROOT_ID, "f", 0o644);
    t.fs.unlink(&t.ctx, ROOT_ID, &c("f")).unwrap();
    let (st, _) = t.fs.getattr(&t.ctx, e.inode, None).unwrap();
    assert_eq!(st.st_nlink, 0);
    let mut attr = st;
    attr.st_size = 10;
    let (st, _) =
        t.fs.setattr(&t.ctx, e.inode, attr, Some(fh), SetattrValid::SIZE)
            .unwrap();
    assert_eq!(st.st_size, 10);
}

#[test]
fn symlinks_are_never_followed() {
    let t = T::new();
    let canary = t.outside.path().join("canary");
    let before = std::fs::metadata(&canary).unwrap();
    symlink(&canary, t.dir.path().join("out")).unwrap();
    symlink(t.outside.path(), t.dir.path().join("outdir")).unwrap();
    let l = t.lookup(ROOT_ID, "out").unwrap();
    assert_eq!(l.attr.st_mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(
        t.fs.readlink(&t.ctx, l.inode).unwrap(),
        canary.as_os_str().as_encoded_bytes()
    );
    assert_eq!(errno(t.fs.open(&t.ctx, l.inode, 0, 0)), libc::ELOOP);
    let mut attr = l.attr;
    attr.st_mode = 0o777;
    attr.st_size = 0;
    assert_eq!(
        errno(t.fs.setattr(&t.ctx, l.inode, attr, None, SetattrValid::MODE)),
        libc::EOPNOTSUPP
    );
    assert!(t
        .fs
        .setattr(&t.ctx, l.inode, attr, None, SetattrValid::SIZE)
        .is_err());
    // Chown and times act on the link itself.
    attr.st_uid = 0;
    attr.st_gid = 0;
    t.fs.setattr(
        &t.ctx,
        l.inode,
        attr,
        None,
        SetattrValid::UID | SetattrValid::MTIME_NOW,
    )
    .unwrap();
    let d = t.lookup(ROOT_ID, "outdir").unwrap();
    assert_eq!(
        errno(t.fs.lookup(&t.ctx, d.inode, &c("canary"))),
        libc::ENOTDIR
    );
    assert_eq!(errno(t.fs.opendir(&t.ctx, d.inode, 0)), libc::ENOTDIR);
    // Nothing outside changed.
    let m = std::fs::metadata(&canary).unwrap();
    assert_eq!(
        (m.mode(), m.uid(), m.mtime()),
        (before.mode(), before.uid(), before.mtime())
    );
    assert_eq!(std::fs::read(&canary).unwrap(), b"canary");
}

#[test]
fn a_name_swapped_on_the_host_is_not_the_node_any_more() {
    let t = T::new();
    std::fs::write(t.dir.path().join("f"), b"one").unwrap();
    let e = t.lookup(ROOT_ID, "f").unwrap();
    std::fs::remove_file(t.dir.path().join("f")).unwrap();
    symlink(t.outside.path().join("canary"), t.dir.path().join("f")).unwrap();
    // The name now leads to a symlink: the file node is gone, never the link's target.
    assert_eq!(errno(t.fs.open(&t.ctx, e.inode, 2, 0)), libc::ENOENT);
    assert_eq!(errno(t.fs.getattr(&t.ctx, e.inode, None)), libc::ENOENT);
    assert_eq!(
        std::fs::read(t.outside.path().join("canary")).unwrap(),
        b"canary"
    );
}

#[test]
fn setattr_by_name_changes_mode_size_and_times() {
    let t = T::new();
    std::fs::write(t.dir.path().join("f"), b"hello").unwrap();
    let e = t.lookup(ROOT_ID, "f").unwrap();
    let mut attr = e.attr;
    attr.st_mode = 0o4755;
    attr.st_size = 2;
    attr.st_mtime = 1_000_000;
    attr.st_mtime_nsec = 7;
    let valid = SetattrValid::MODE | SetattrValid::SIZE | SetattrValid::MTIME;
    let (st, _) = t.fs.setattr(&t.ctx, e.inode, attr, None, valid).unwrap();
    assert_eq!(st.st_mode & 0o7777, 0o4755);
    assert_eq!(st.st_size, 2);
    assert_eq!((st.st_mtime, st.st_mtime_nsec), (1_000_000, 7));
}

#[test]
fn listings_resume_from_their_offsets_and_plus_takes_references() {
    let t = T::new();
    for i in 0..50 {
        std::fs::write(t.dir.path().join(format!("f{i:02}")), b"").unwrap();
    }
    std::fs::create_dir(t.dir.path().join("sub")).unwrap();
    let (fh, _) = t.fs.opendir(&t.ctx, ROOT_ID, 0).unwrap();
    let fh = fh.unwrap();
    let mut seen = Vec::new();
    let mut off = 0;
    loop {
        let mut batch = Vec::new();
        t.fs.readdirplus(&t.ctx, ROOT_ID, fh, 4096, off, &mut |d, e| {
            if batch.len() == 7 {
                return Ok(0);
            }
            assert_ne!(e.inode, 0);
            batch.push((String::from_utf8_lossy(d.name).into_owned(), d.offset));
            Ok(1)
        })
        .unwrap();
        let Some(&(_, last)) = batch.last() else {
            break;
        };
        off = last;
        seen.extend(batch.into_iter().map(|(n, _)| n));
    }
    seen.sort();
    assert_eq!(seen.len(), 51);
    assert_eq!(seen[50], "sub");
    // The subdirectory was looked up: it is held now, with its fd.
    let sub = t.lookup(ROOT_ID, "sub").unwrap();
    assert!(t.fs.nodes.get(sub.inode).unwrap().dir().is_ok());
}

#[test]
fn forged_nodes_and_handles_get_ebadf() {
    let t = T::new();
    let (e, fh) = t.create(ROOT_ID, "f", 0o644);
    assert_eq!(errno(t.fs.getattr(&t.ctx, 999, None)), libc::EBADF);
    assert_eq!(errno(t.fs.open(&t.ctx, 999, 0, 0)), libc::EBADF);
    assert_eq!(
        errno(t.fs.release(&t.ctx, ROOT_ID, 0, fh, false, false, None)),
        libc::EBADF
    );
    assert_eq!(errno(t.fs.flush(&t.ctx, e.inode, fh + 1, 0)), libc::EBADF);
    assert_eq!(errno(t.fs.lookup(&t.ctx, e.inode, &c("x"))), libc::ENOTDIR);
    // Device nodes are refused unless allowed.
    assert_eq!(
        errno(t.fs.mknod(&t.ctx, ROOT_ID, &c("dev"), libc::S_IFCHR | 0o600, 0x0103, 0)),
        libc::EPERM
    );
    // A FIFO is made and never opened.
    let f =
        t.fs.mknod(&t.ctx, ROOT_ID, &c("fifo"), libc::S_IFIFO | 0o600, 0, 0)
            .unwrap();
    assert_eq!(f.attr.st_mode & libc::S_IFMT, libc::S_IFIFO);
    assert_eq!(errno(t.fs.open(&t.ctx, f.inode, 0, 0)), libc::ENXIO);
}

#[test]
fn guest_open_flags_become_this_hosts() {
    assert_eq!(sys::open_flags(0), libc::O_RDONLY);
    assert_eq!(sys::open_flags(0o2001), libc::O_WRONLY | libc::O_APPEND);
    assert_eq!(sys::open_flags(0o4010002), libc::O_RDWR | libc::O_SYNC);
    assert_eq!(sys::open_flags(0o10000), libc::O_DSYNC);
    // O_DIRECT, O_NOATIME, O_CREAT, O_TRUNC: not open flags of a reopen.
    assert_eq!(
        sys::open_flags(0o40000 | 0o1000000 | 0o100 | 0o1000),
        libc::O_RDONLY
    );
    assert_eq!(sys::whence(3).unwrap(), libc::SEEK_DATA);
    assert_eq!(sys::whence(4).unwrap(), libc::SEEK_HOLE);
    assert!(sys::whence(5).is_err());
}

#[test]
fn the_backend_changes_nothing_of_the_process() {
    let cwd = std::env::current_dir().unwrap();
    // SAFETY: umask only sets this process's mask; it is put back at once.
    let umask = unsafe { libc::umask(0o027) };
    // SAFETY: as above.
    unsafe { libc::umask(umask) };
    let t = T::new();
    let (e, _) = t.create(ROOT_ID, "f", 0o666);
    assert_eq!(
        e.attr.st_mode & 0o777,
        0o644,
        "the guest's umask, not the process's"
    );
    assert_eq!(std::env::current_dir().unwrap(), cwd);
    // SAFETY: as above.
    let now = unsafe { libc::umask(umask) };
    assert_eq!(now, umask);
}

#[test]
fn a_read_only_open_with_o_trunc_truncates() {
    let t = T::new();
    std::fs::write(t.dir.path().join("f"), b"hello").unwrap();
    let e = t.lookup(ROOT_ID, "f").unwrap();
    let (fh, _, _) = t.fs.open(&t.ctx, e.inode, 0o1000, 0).unwrap();
    assert!(fh.is_some());
    assert_eq!(std::fs::metadata(t.dir.path().join("f")).unwrap().len(), 0);
}

fn read_all(t: &T, node: u64, fh: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = crate::zerocopy::VecWriter::new(&mut buf, 4096);
    let n = t.fs.read(&t.ctx, node, fh, &mut w, 4096, 0, None, 0)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn zero_message_opens_serve_files_by_node_even_once_removed() {
    let t = T::with(FsOptions::ZERO_MESSAGE_OPEN);
    let args = CreateIn {
        flags: 2,
        mode: libc::S_IFREG | 0o644,
        umask: 0,
        fuse_flags: 0,
    };
    let (e, fh, _, _) = t.fs.create(&t.ctx, ROOT_ID, &c("f"), args).unwrap();
    assert_eq!(fh, None, "the guest names the node with handle 0");
    let mut r = crate::zerocopy::SliceReader::new(b"hello");
    let n =
        t.fs.write(&t.ctx, e.inode, 0, &mut r, 5, 0, None, false, 0, 0)
            .unwrap();
    assert_eq!(n, 5);
    assert_eq!(read_all(&t, e.inode, 0).unwrap(), b"hello");
    assert_eq!(errno(t.fs.open(&t.ctx, e.inode, 0, 0)), libc::ENOSYS);
    // Only regular files: a symlink is still refused, as a special file is.
    t.fs.symlink(&t.ctx, &c("/etc/passwd"), ROOT_ID, &c("l"))
        .unwrap();
    let l = t.lookup(ROOT_ID, "l").unwrap();
    assert_eq!(errno(t.fs.open(&t.ctx, l.inode, 0, 0)), libc::ELOOP);
    assert_eq!(errno(t.fs.flush(&t.ctx, e.inode, 0, 0)), libc::ENOSYS);
    t.fs.release(&t.ctx, e.inode, 0, 0, false, false, None)
        .unwrap();
    // Removed while the guest may hold it open: still read, written and stat'ed.
    t.fs.unlink(&t.ctx, ROOT_ID, &c("f")).unwrap();
    assert_eq!(read_all(&t, e.inode, 0).unwrap(), b"hello");
    let (st, _) = t.fs.getattr(&t.ctx, e.inode, None).unwrap();
    assert_eq!((st.st_nlink, st.st_size), (0, 5));
    // Handle 0 reaches regular files only.
    let d = t.fs.mkdir(&t.ctx, ROOT_ID, &c("d"), 0o755, 0).unwrap();
    assert_eq!(errno(read_all(&t, d.inode, 0)), libc::EISDIR);
    // Without the guest's offer, no zero-message opens.
    let plain = T::new();
    let (e, _) = plain.create(ROOT_ID, "g", 0o644);
    assert_eq!(errno(read_all(&plain, e.inode, 0)), libc::EBADF);
}
