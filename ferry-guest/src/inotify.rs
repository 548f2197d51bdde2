//! `ferry-guest inotify DIR`: watches DIR and every directory under it (new ones too) and
//! prints `<CLOCK_MONOTONIC ms> <EVENT|EVENT...> <path from DIR>` per event, flushed at once.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF;

const NAMES: &[(u32, &str)] = &[
    (libc::IN_CREATE, "CREATE"),
    (libc::IN_DELETE, "DELETE"),
    (libc::IN_MOVED_FROM, "MOVED_FROM"),
    (libc::IN_MOVED_TO, "MOVED_TO"),
    (libc::IN_MODIFY, "MODIFY"),
    (libc::IN_CLOSE_WRITE, "CLOSE_WRITE"),
    (libc::IN_ATTRIB, "ATTRIB"),
    (libc::IN_DELETE_SELF, "DELETE_SELF"),
    (libc::IN_ISDIR, "ISDIR"),
    (libc::IN_Q_OVERFLOW, "Q_OVERFLOW"),
];

fn now_ms() -> u64 {
    // SAFETY: timespec is plain data, filled by the kernel.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    (t.tv_sec as u64) * 1000 + (t.tv_nsec as u64) / 1_000_000
}

struct Watches {
    fd: libc::c_int,
    paths: HashMap<libc::c_int, PathBuf>,
}

impl Watches {
    fn add_tree(&mut self, root: &Path, rel: &Path) {
        let full = root.join(rel);
        let Ok(c) = CString::new(full.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // SAFETY: `c` is a C string.
        let wd = unsafe { libc::inotify_add_watch(self.fd, c.as_ptr(), MASK | libc::IN_ONLYDIR) };
        if wd < 0 {
            return;
        }
        self.paths.insert(wd, rel.to_path_buf());
        if let Ok(rd) = std::fs::read_dir(&full) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    self.add_tree(root, &rel.join(e.file_name()));
                }
            }
        }
    }
}

pub fn run(dir: &Path) -> io::Result<()> {
    // SAFETY: no pointers.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut w = Watches {
        fd,
        paths: HashMap::new(),
    };
    w.add_tree(dir, Path::new(""));
    println!("{} READY {}", now_ms(), dir.display());
    let mut out = io::stdout().lock();
    out.flush()?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let t = now_ms();
        let mut at = 0usize;
        let n = n as usize;
        while at + 16 <= n {
            let b = &buf[at..];
            let wd = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let mask = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            let len = u32::from_ne_bytes([b[12], b[13], b[14], b[15]]) as usize;
            let raw = b.get(16..16 + len).unwrap_or_default();
            let name = &raw[..raw.iter().position(|&c| c == 0).unwrap_or(raw.len())];
            at += 16 + len;
            let base = w.paths.get(&wd).cloned().unwrap_or_default();
            let rel = if name.is_empty() {
                base
            } else {
                base.join(std::ffi::OsStr::from_encoded_bytes_unchecked_safe(name))
            };
            if mask & libc::IN_ISDIR != 0 && mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
                w.add_tree(dir, &rel);
            }
            let names: Vec<&str> = NAMES
                .iter()
                .filter(|(bit, _)| mask & bit != 0)
                .map(|(_, s)| *s)
                .collect();
            writeln!(out, "{t} {} {}", names.join("|"), rel.display())?;
        }
        out.flush()?;
    }
}

/// `OsStr` from bytes read from the kernel (any bytes are a valid Unix OsStr).
trait FromBytes {
    fn from_encoded_bytes_unchecked_safe(b: &[u8]) -> &std::ffi::OsStr;
}

impl FromBytes for std::ffi::OsStr {
    fn from_encoded_bytes_unchecked_safe(b: &[u8]) -> &std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(b)
    }
}
