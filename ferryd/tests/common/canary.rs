//! A shared directory next to a canary tree outside it, and byte-for-byte snapshots of
//! everything outside the share, for the escape suite (tests/escape.rs).
//!
//! Layout: `BASE/share` (served) and `BASE/canary` (never reachable). Every canary file holds
//! the secret token (so a reply that carries it proves a read escape), every canary entry
//! name holds the mark (so a listing that carries it proves a directory escape), and the
//! canary's modes, owners, times, link counts and xattrs are set to known values. A snapshot
//! records, for `BASE` itself and every canary entry: inode, type and mode, owner, link
//! count, size, mtime, ctime, the atime of regular files (read with O_NOATIME, so reading
//! them here leaves it alone, and set years back, so under relatime any other read moves
//! it), contents, symlink target and every xattr.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The share, the canary and the tokens.
pub struct World {
    pub base: TempDir,
    pub share: PathBuf,
    pub canary: PathBuf,
    /// Unique per world; names the guest creates while escaping carry `esc<nonce>`.
    pub nonce: String,
    /// In every canary file's contents, xattr value and symlink target; never sent.
    pub secret: String,
    /// In every canary entry name.
    pub mark: String,
    /// Absolute paths outside `BASE` that an absolute name could create.
    pub probes: Vec<PathBuf>,
}

/// Old times for the canary (2001-09-09), so relatime updates the atime on any read.
const OLD: i64 = 1_000_000_000;

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

fn set_times(p: &Path, atime: i64, mtime: i64) {
    let ts = [
        libc::timespec {
            tv_sec: atime,
            tv_nsec: 123,
        },
        libc::timespec {
            tv_sec: mtime,
            tv_nsec: 456,
        },
    ];
    let c = cpath(p);
    // SAFETY: `c` is a NUL-terminated path and `ts` two valid timespecs, both alive for the
    // call.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        r,
        0,
        "utimensat {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = cpath(p);
    let n = CString::new(name).expect("xattr name");
    // SAFETY: NUL-terminated path and name, and a value buffer of the length given, all
    // alive for the call.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "lsetxattr {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// Every xattr of `p` (not following a symlink): name → value.
fn xattrs(p: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let c = cpath(p);
    let mut list = vec![0u8; 64 << 10];
    // SAFETY: NUL-terminated path; `list` is writable for the length given.
    let n = unsafe { libc::llistxattr(c.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    let mut out = BTreeMap::new();
    if n <= 0 {
        return out;
    }
    list.truncate(n as usize);
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cn = CString::new(name).expect("xattr name");
        let mut v = vec![0u8; 64 << 10];
        // SAFETY: NUL-terminated path and name; `v` is writable for the length given.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        v.truncate(usize::try_from(m).unwrap_or(0));
        out.insert(name.to_vec(), v);
    }
    out
}

impl World {
    /// Builds `BASE/share` (empty) and the canary tree.
    pub fn new() -> World {
        let base = tempfile::Builder::new()
            .prefix("ferry-escape.")
            .tempdir()
            .expect("tempdir");
        let share = base.path().join("share");
        let canary = base.path().join("canary");
        fs::create_dir(&share).unwrap();
        fs::create_dir(&canary).unwrap();
        let mut seed = [0u8; 8];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .expect("urandom");
        let nonce: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let w = World {
            share,
            canary,
            secret: format!("FERRYSECRET{nonce}"),
            mark: format!("cnry{nonce}"),
            probes: vec![
                PathBuf::from(format!("/esc{nonce}")),
                PathBuf::from(format!("/tmp/esc{nonce}")),
            ],
            nonce,
            base,
        };
        w.build_canary();
        set_times(w.base.path(), OLD, OLD + 1);
        w
    }

    /// Puts everything outside the share back as `new` made it (fresh inodes): removes
    /// whatever sits next to the share and builds the canary again. For daemons that escape,
    /// so each later escape is seen on its own.
    pub fn rebuild_canary(&self) {
        for e in fs::read_dir(self.base.path()).expect("read BASE") {
            let e = e.expect("entry");
            if e.file_name().as_bytes() == b"share" {
                continue;
            }
            let p = e.path();
            if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&p).expect("remove");
            } else {
                fs::remove_file(&p).expect("remove");
            }
        }
        fs::create_dir(&self.canary).unwrap();
        self.build_canary();
        set_times(self.base.path(), OLD, OLD + 1);
    }

    /// `canary/<name>` with the mark in it.
    pub fn cname(&self, what: &str) -> String {
        format!("{what}-{}", self.mark)
    }

    /// The absolute path of a canary entry.
    pub fn cpath(&self, rel: &str) -> PathBuf {
        self.canary.join(rel)
    }

    /// A name the guest may create: `esc<nonce>` plus `what`.
    pub fn esc(&self, what: &str) -> String {
        format!("esc{}{what}", self.nonce)
    }

    fn secret_data(&self, what: &str) -> Vec<u8> {
        format!("{what}:{}\n", self.secret).repeat(64).into_bytes()
    }

    fn build_canary(&self) {
        let c = &self.canary;
        let secret = self.cpath(&self.cname("secret"));
        fs::write(&secret, self.secret_data("secret")).unwrap();
        fs::write(c.join("f"), self.secret_data("f")).unwrap();
        fs::hard_link(&secret, self.cpath(&self.cname("hard"))).unwrap();
        let dir = self.cpath(&self.cname("dir"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("f"), self.secret_data("dir/f")).unwrap();
        fs::write(dir.join(self.cname("inner")), self.secret_data("inner")).unwrap();
        fs::create_dir(dir.join(self.cname("sub"))).unwrap();
        fs::create_dir(self.cpath(&self.cname("empty"))).unwrap();
        let link = self.cpath(&self.cname("link"));
        std::os::unix::fs::symlink(format!("target-{}", self.secret), &link).unwrap();

        let v = format!("val-{}", self.secret);
        set_xattr(&secret, "user.cn", v.as_bytes());
        set_xattr(&dir, "user.cn", v.as_bytes());
        set_xattr(c, "user.cn", v.as_bytes());
        set_xattr(&link, "trusted.cn", v.as_bytes());
        let named = format!("user.{}", self.secret);
        set_xattr(&secret, &named, b"1");
        set_xattr(&dir, &named, b"1");

        let perm = |p: &Path, m: u32| {
            fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
        };
        perm(&secret, 0o640);
        perm(&c.join("f"), 0o4755);
        perm(&dir, 0o750);
        perm(&dir.join("f"), 0o666);
        std::os::unix::fs::lchown(&secret, Some(1234), Some(2345)).unwrap();
        std::os::unix::fs::lchown(&dir, Some(4321), Some(4321)).unwrap();
        std::os::unix::fs::lchown(dir.join("f"), Some(4321), Some(4321)).unwrap();
        std::os::unix::fs::lchown(&link, Some(777), Some(778)).unwrap();
        // Times last, deepest first: leaves, then the directories that hold them.
        for p in [
            secret.clone(),
            c.join("f"),
            dir.join("f"),
            dir.join(self.cname("inner")),
            link.clone(),
            dir.join(self.cname("sub")),
            self.cpath(&self.cname("empty")),
            dir.clone(),
            c.clone(),
        ] {
            set_times(&p, OLD, OLD + 1);
        }
    }

    /// Everything outside the share: `BASE` itself and every entry under it but `share`.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        let base = self.base.path();
        s.record(base, PathBuf::from("."), false);
        let mut top: Vec<_> = fs::read_dir(base)
            .expect("read BASE")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n.as_bytes() != b"share")
            .collect();
        top.sort();
        for n in top {
            s.walk(base, Path::new(&n));
        }
        s
    }

    /// The probes that exist (each one an escape).
    pub fn probes_present(&self) -> Vec<PathBuf> {
        self.probes
            .iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .cloned()
            .collect()
    }

    /// Removes probes an escaping daemon created (they carry the nonce, so nothing else).
    pub fn remove_probes(&self) {
        for p in self.probes_present() {
            let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.remove_probes();
    }
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// Regular files only (the others are read by this snapshot in ways that move it).
    pub atime: Option<(i64, i64)>,
    pub contents: Option<Vec<u8>>,
    pub target: Option<Vec<u8>>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Relative path → node, for everything outside the share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub nodes: BTreeMap<PathBuf, Node>,
}

impl Snapshot {
    fn record(&mut self, p: &Path, rel: PathBuf, atime: bool) -> Option<fs::Metadata> {
        let m = p.symlink_metadata().ok()?;
        let ft = m.file_type();
        let contents = ft.is_file().then(|| {
            let mut f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
                .open(p)
                .expect("open canary file");
            let mut v = Vec::new();
            f.read_to_end(&mut v).expect("read canary file");
            v
        });
        let target = ft.is_symlink().then(|| {
            fs::read_link(p)
                .expect("readlink")
                .as_os_str()
                .as_bytes()
                .to_vec()
        });
        self.nodes.insert(
            rel,
            Node {
                ino: m.ino(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                nlink: m.nlink(),
                size: m.size(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
                atime: (atime && ft.is_file()).then(|| (m.atime(), m.atime_nsec())),
                contents,
                target,
                xattrs: xattrs(p),
            },
        );
        Some(m)
    }

    fn walk(&mut self, base: &Path, rel: &Path) {
        let p = base.join(rel);
        let Some(m) = self.record(&p, rel.to_path_buf(), true) else {
            return;
        };
        if m.file_type().is_dir() {
            let mut names: Vec<_> = fs::read_dir(&p)
                .expect("read canary dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            names.sort();
            for n in names {
                self.walk(base, &rel.join(n));
            }
        }
    }

    /// Inode numbers of everything outside the share.
    pub fn inos(&self) -> HashSet<u64> {
        self.nodes.values().map(|n| n.ino).collect()
    }

    /// Relative path of the node with inode `ino`.
    pub fn path_of(&self, ino: u64) -> Option<&Path> {
        self.nodes
            .iter()
            .find(|(_, n)| n.ino == ino)
            .map(|(p, _)| p.as_path())
    }

    /// What changed from `self` to `now`, one line per difference (empty: identical).
    pub fn diff(&self, now: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (p, a) in &self.nodes {
            match now.nodes.get(p) {
                None => out.push(format!("{} deleted", p.display())),
                Some(b) if a != b => out.push(format!("{} changed: {}", p.display(), fields(a, b))),
                Some(_) => {}
            }
        }
        for p in now.nodes.keys().filter(|p| !self.nodes.contains_key(*p)) {
            out.push(format!("{} created", p.display()));
        }
        out
    }
}

fn fields(a: &Node, b: &Node) -> String {
    let mut v = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if a.$f != b.$f {
                v.push(format!("{} {:?} -> {:?}", stringify!($f), a.$f, b.$f));
            }
        )*};
    }
    cmp!(ino, mode, uid, gid, nlink, size, mtime, ctime, atime, target);
    if a.contents != b.contents {
        v.push(format!(
            "contents ({} bytes -> {} bytes)",
            a.contents.as_ref().map_or(0, Vec::len),
            b.contents.as_ref().map_or(0, Vec::len)
        ));
    }
    if a.xattrs != b.xattrs {
        let show = |x: &BTreeMap<Vec<u8>, Vec<u8>>| -> Vec<String> {
            x.keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        v.push(format!(
            "xattrs {:?} -> {:?} (or values)",
            show(&a.xattrs),
            show(&b.xattrs)
        ));
    }
    v.join(", ")
}

/// `p` as bytes, for names sent to the daemon.
pub fn bytes(p: &Path) -> Vec<u8> {
    OsStr::as_bytes(p.as_os_str()).to_vec()
}
