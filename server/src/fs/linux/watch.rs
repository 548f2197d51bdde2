//! The host watcher: fanotify marks on every directory the guest holds, reporting directory
//! entry changes (create, delete, rename) and changes of the entries' content and attributes,
//! whoever makes them, except the daemon itself (its own pid: the guest's own changes are not
//! echoed back). Each event names a directory by its file handle and an entry by name; the
//! directory's node is found by that handle, and the change queued for the agent.
//!
//! Why fanotify and directory marks rather than inotify or a filesystem mark: fanotify reports
//! the pid behind each change (inotify does not, and echo suppression would be guesswork);
//! marks on the directories the guest holds need no privilege and cover exactly what the
//! guest can have cached (a directory the guest never looked up has nothing cached), while a
//! filesystem mark needs CAP_SYS_ADMIN and reports the whole host filesystem. Marks are
//! counted against fs.fanotify.max_user_marks; a mark that fails makes the watcher
//! `incomplete` (the session then keeps short timeouts).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use log::{debug, warn};

use super::sys::{self, fanotify};
use crate::fs::changes::{Change, ChangeQueue, Kind};

/// What a directory mark asks for: entry changes in it and changes of its entries.
const MASK: u64 = libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_RENAME
    | libc::FAN_MODIFY
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_ATTRIB
    | libc::FAN_ONDIR
    | libc::FAN_EVENT_ON_CHILD;

/// The watcher's pause between two reads of the fanotify queue.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// How many changes wait for the agent at most before they are dropped for a resync.
pub const QUEUE_CAP: usize = 65536;

#[derive(Default)]
struct Marks {
    /// Directory handle key (fsid, type, bytes) → node.
    by_key: HashMap<Vec<u8>, u64>,
    /// Node → its handle key.
    by_node: HashMap<u64, Vec<u8>>,
}

pub struct Watcher {
    fan: OwnedFd,
    marks: Mutex<Marks>,
    pub queue: ChangeQueue,
    incomplete: AtomicBool,
}

impl Watcher {
    /// A fanotify group and the thread reading it.
    pub fn start() -> io::Result<Arc<Watcher>> {
        let w = Arc::new(Watcher {
            fan: fanotify::init()?,
            marks: Mutex::default(),
            queue: ChangeQueue::new(QUEUE_CAP),
            incomplete: AtomicBool::new(false),
        });
        let reader = Arc::clone(&w);
        std::thread::Builder::new()
            .name("ferryd-watch".into())
            .spawn(move || reader.run())?;
        Ok(w)
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether some directory the guest holds could not be marked.
    pub fn incomplete(&self) -> bool {
        self.incomplete.load(Ordering::Relaxed)
    }

    /// Watches the directory `fd` (node `node`), once; `proc` is /proc/self/fd.
    pub fn watch(&self, node: u64, proc: BorrowedFd<'_>, fd: BorrowedFd<'_>) {
        if self.marks().by_node.contains_key(&node) {
            return;
        }
        let key = fanotify::fsid(fd).and_then(|fsid| Ok(sys::file_handle(fd)?.key(fsid)));
        let res =
            key.and_then(|k| fanotify::mark(self.fan.as_fd(), proc, fd, MASK, false).map(|()| k));
        match res {
            Ok(k) => {
                let mut m = self.marks();
                m.by_key.insert(k.clone(), node);
                m.by_node.insert(node, k);
            }
            Err(e) => {
                if !self.incomplete.swap(true, Ordering::Relaxed) {
                    warn!("watcher: cannot watch a directory ({e}): host changes there reach the guest by timeout only");
                }
            }
        }
    }

    /// The guest forgot the directory `node`; `fd` is its fd if still open.
    pub fn unwatch(&self, node: u64, proc: BorrowedFd<'_>, fd: Option<BorrowedFd<'_>>) {
        let mut m = self.marks();
        let Some(k) = m.by_node.remove(&node) else {
            return;
        };
        if m.by_key.get(&k) == Some(&node) {
            m.by_key.remove(&k);
        }
        drop(m);
        if let Some(fd) = fd {
            let _ = fanotify::mark(self.fan.as_fd(), proc, fd, MASK, true);
        }
    }

    fn node_of(&self, key: &[u8]) -> Option<u64> {
        self.marks().by_key.get(key).copied()
    }

    fn run(&self) {
        let mut buf = vec![0u8; 64 * 1024];
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        loop {
            let n = match fanotify::read(self.fan.as_fd(), &mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("watcher: read: {e}; host changes are no longer watched");
                    self.incomplete.store(true, Ordering::Relaxed);
                    self.queue.lose();
                    return;
                }
            };
            let events = parse(&buf[..n]);
            for ev in &events {
                if ev.mask & libc::FAN_Q_OVERFLOW != 0 {
                    debug!("watcher: fanotify queue overflow");
                    self.queue.lose();
                    continue;
                }
                if ev.pid == me {
                    continue;
                }
                self.queue_event(ev);
            }
            self.queue.wake();
            // Let events gather (the kernel merges repeats of one file's): one wake-up per
            // PAUSE at most, whoever writes (the daemon's own writes for the guest raise
            // events too, dropped above), for PAUSE more latency.
            std::thread::sleep(PAUSE);
        }
    }

    fn queue_event(&self, ev: &Event<'_>) {
        let dir = ev.mask & libc::FAN_ONDIR != 0;
        let Some((key, name)) = ev.dfid_name else {
            return;
        };
        if name.is_empty() || name == b"." {
            // An event on a marked directory itself: its parent's mark reports it too.
            return;
        }
        let Some(parent) = self.node_of(key) else {
            return;
        };
        let change = |kind| Change {
            kind,
            dir,
            parent,
            name: name.to_vec(),
            to: None,
        };
        if ev.mask & libc::FAN_RENAME != 0 {
            let (Some((ok, oname)), Some((nk, nname))) = (ev.old, ev.new) else {
                return;
            };
            match (self.node_of(ok), self.node_of(nk)) {
                (Some(op), Some(np)) => self.queue.push(Change {
                    kind: Kind::Rename,
                    dir,
                    parent: op,
                    name: oname.to_vec(),
                    to: Some((np, nname.to_vec())),
                }),
                (Some(op), None) => self.queue.push(Change {
                    parent: op,
                    name: oname.to_vec(),
                    ..change(Kind::Delete)
                }),
                (None, Some(np)) => self.queue.push(Change {
                    parent: np,
                    name: nname.to_vec(),
                    ..change(Kind::Create)
                }),
                (None, None) => {}
            }
            return;
        }
        if ev.mask & libc::FAN_CREATE != 0 {
            self.queue.push(change(Kind::Create));
        }
        if ev.mask & libc::FAN_DELETE != 0 {
            self.queue.push(change(Kind::Delete));
        }
        if ev.mask & (libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE) != 0 {
            self.queue.push(change(Kind::Modify));
        }
        if ev.mask & libc::FAN_ATTRIB != 0 {
            self.queue.push(change(Kind::Attrib));
        }
    }
}

/// One event as read: the mask, the pid behind it, and its directory handle keys and names
/// (the directory and name; for a rename, also the old and new ones).
#[derive(Debug, Default)]
struct Event<'a> {
    mask: u64,
    pid: i32,
    dfid_name: Option<(&'a [u8], &'a [u8])>,
    old: Option<(&'a [u8], &'a [u8])>,
    new: Option<(&'a [u8], &'a [u8])>,
}

/// fanotify_event_metadata's length.
const META: usize = 24;

/// Splits a read of the fanotify fd into events; malformed bytes end the batch.
fn parse(mut buf: &[u8]) -> Vec<Event<'_>> {
    let mut v = Vec::new();
    while buf.len() >= META {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let meta_len = usize::from(u16::from_ne_bytes([buf[6], buf[7]]));
        if len < META || len > buf.len() || meta_len < META || meta_len > len {
            break;
        }
        let mut ev = Event {
            mask: u64::from_ne_bytes(buf[8..16].try_into().unwrap_or_default()),
            pid: i32::from_ne_bytes(buf[20..24].try_into().unwrap_or_default()),
            ..Default::default()
        };
        let mut info = &buf[meta_len..len];
        while info.len() >= 4 {
            let ty = info[0];
            let ilen = usize::from(u16::from_ne_bytes([info[2], info[3]]));
            if ilen < 4 || ilen > info.len() {
                break;
            }
            if let Some(fid) = fid_name(&info[4..ilen]) {
                match ty {
                    libc::FAN_EVENT_INFO_TYPE_DFID_NAME => ev.dfid_name = Some(fid),
                    libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME => ev.old = Some(fid),
                    libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => ev.new = Some(fid),
                    _ => {}
                }
            }
            info = &info[ilen..];
        }
        if ev.dfid_name.is_none() {
            ev.dfid_name = ev.new.or(ev.old);
        }
        v.push(ev);
        buf = &buf[len..];
    }
    v
}

/// An info record's body: fsid (8 bytes), then struct file_handle (handle_bytes u32,
/// handle_type i32, bytes), then a NUL-terminated name. Returns the handle key (the bytes
/// up to the name, as [`sys::FileHandle::key`] makes them) and the name.
fn fid_name(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let hb = u32::from_ne_bytes(b.get(8..12)?.try_into().ok()?) as usize;
    let key_end = 16usize.checked_add(hb)?;
    let rest = b.get(key_end..)?;
    let name_len = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
    Some((b.get(..key_end)?, &rest[..name_len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One fanotify event as the kernel lays it out: metadata, then an info record per
    /// (type, fsid, handle, name).
    fn event(mask: u64, pid: i32, infos: &[(u8, &[u8], &[u8])]) -> Vec<u8> {
        let mut info = Vec::new();
        for (ty, handle, name) in infos {
            let mut body = Vec::new();
            body.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]); // fsid
            body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
            body.extend_from_slice(&7i32.to_ne_bytes()); // handle type
            body.extend_from_slice(handle);
            body.extend_from_slice(name);
            body.push(0);
            while (body.len() + 4) % 4 != 0 {
                body.push(0);
            }
            info.push(*ty);
            info.push(0);
            info.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
            info.extend_from_slice(&body);
        }
        let len = META + info.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&[3, 0]); // version, reserved
        v.extend_from_slice(&(META as u16).to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&(-1i32).to_ne_bytes()); // fd: FAN_NOFD
        v.extend_from_slice(&pid.to_ne_bytes());
        v.extend_from_slice(&info);
        v
    }

    fn key(handle: &[u8]) -> Vec<u8> {
        let mut k = vec![1, 0, 0, 0, 2, 0, 0, 0];
        k.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        k.extend_from_slice(&7i32.to_ne_bytes());
        k.extend_from_slice(handle);
        k
    }

    #[test]
    fn events_parse_into_directory_keys_and_names() {
        let mut buf = event(
            libc::FAN_CREATE | libc::FAN_ONDIR,
            42,
            &[(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, b"dirA", b"sub")],
        );
        buf.extend(event(
            libc::FAN_RENAME,
            43,
            &[
                (libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, b"dirA", b"a"),
                (libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, b"dirB!", b"b"),
            ],
        ));
        let v = parse(&buf);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].pid, 42);
        assert_eq!(v[0].dfid_name, Some((&key(b"dirA")[..], &b"sub"[..])));
        assert_eq!(v[1].old, Some((&key(b"dirA")[..], &b"a"[..])));
        assert_eq!(v[1].new, Some((&key(b"dirB!")[..], &b"b"[..])));
    }

    #[test]
    fn bad_bytes_end_the_batch_without_a_panic() {
        let good = event(
            libc::FAN_DELETE,
            1,
            &[(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, b"d", b"x")],
        );
        // Every truncation, and lengths that lie.
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
        let mut zero = good.clone();
        zero[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(parse(&zero).is_empty());
        let mut long = good.clone();
        long[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse(&long).is_empty());
        let mut info = good.clone();
        info[META + 2..META + 4].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert_eq!(parse(&info).len(), 1);
        assert!(parse(&info)[0].dfid_name.is_none());
        let mut hb = good;
        hb[META + 12..META + 16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse(&hb)[0].dfid_name.is_none());
    }
}
