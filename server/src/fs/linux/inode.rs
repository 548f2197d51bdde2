//! The inode table: the guest's node ids mapped to O_PATH fds held open on the host.
//!
//! A node id is handed to the guest once per LOOKUP-like reply and counted; FORGET gives the
//! counts back and the last one closes the fd. The same host inode (device, inode number,
//! mount) always gets the same node id while the guest knows it. Holding the fd keeps the host
//! inode alive, so its number cannot be reused behind a node id. Node ids the guest never got
//! (forged or stale) are simply absent: every request on them gets EBADF.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use fuse_backend_rs::abi::fuse_abi::{stat64, ROOT_ID};

use super::fds::{Budget, HeldFd};
use super::handle::Handle;

/// What identifies a host inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InodeId {
    pub dev: u64,
    pub ino: u64,
    pub mnt: u64,
}

impl InodeId {
    /// The identity of the file `st` describes, on mount `mnt`.
    pub fn of(st: &stat64, mnt: u64) -> Self {
        InodeId {
            dev: st.st_dev,
            ino: st.st_ino,
            mnt,
        }
    }
}

/// One inode the guest knows.
#[derive(Debug)]
pub struct Inode {
    fd: HeldFd,
    pub id: InodeId,
    /// The file type bits (S_IFMT) of the inode; they never change.
    pub kind: u32,
    /// With zero-message opens, the file opened read-only for the guest's reads, kept until
    /// the guest forgets the node or the fd budget runs short. (Writes reopen per request: a
    /// writable fd held on the host would make exec(2) of the file fail there with ETXTBSY.)
    reader: Mutex<Option<Arc<Handle>>>,
    /// Whether the guest's file capabilities may be on the file under a remapped name (see
    /// [`super::LinuxFs::kill_remapped_caps`]): 0 once known absent; any other value may have
    /// them, and changes with each SETXATTR of them, so a removal that raced one does not
    /// mark them absent.
    caps: AtomicU32,
}

impl Inode {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    fn reader_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Handle>>> {
        self.reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is known of the guest's remapped capabilities on the file: 0 for absent.
    pub fn caps_seen(&self) -> u32 {
        self.caps.load(Ordering::Acquire)
    }

    /// The guest set its capabilities on the file.
    pub fn caps_set(&self) {
        let _ = self
            .caps
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.wrapping_add(1).max(1))
            });
    }

    /// The capabilities were removed, unless they were set again since `seen`.
    pub fn caps_gone(&self, seen: u32) {
        let _ = self
            .caps
            .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The kept read-only handle, if any.
    pub fn reader(&self) -> Option<Arc<Handle>> {
        self.reader_slot().clone()
    }
}

struct Slot {
    inode: Arc<Inode>,
    refs: u64,
    /// The name key under which this node is found in `by_name`, if any.
    name: Option<NameKey>,
}

/// A hash of (parent node, name): where a node was last seen, a hint of which LOOKUPs will
/// find an inode the guest already holds. Only ever a hint: a collision, a rename or an unlink
/// sends a LOOKUP down the other path, which checks the host as the first would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameKey(u64);

/// The tables' maps: keys the server chose (node ids), the host's inode identities and
/// [`NameKey`]s (keyed hashes already), never raw guest bytes, so a fast seeded hash will do.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Table {
    by_node: Map<u64, Slot>,
    by_id: Map<InodeId, u64>,
    /// One entry per slot at most (a slot's `name`), so it never outgrows the table.
    by_name: Map<NameKey, u64>,
    next: u64,
}

impl Table {
    /// One more reference to `node`, filed under `key` if it has no name key yet; false if
    /// there is no such node.
    fn take_ref(&mut self, node: u64, key: Option<NameKey>) -> bool {
        let Some(slot) = self.by_node.get_mut(&node) else {
            return false;
        };
        slot.refs = slot.refs.saturating_add(1);
        if let (None, Some(k)) = (slot.name, key) {
            self.file_under(k, node);
        }
        true
    }

    /// Files `node` under `key`; a node filed there before is no longer.
    fn file_under(&mut self, key: NameKey, node: u64) {
        if let Some(old) = self.by_name.insert(key, node) {
            if let Some(s) = self.by_node.get_mut(&old) {
                s.name = None;
            }
        }
        if let Some(s) = self.by_node.get_mut(&node) {
            s.name = Some(key);
        }
    }
}

/// All inodes the guest holds, behind one lock (lookups take the write side only to add).
pub struct Inodes {
    table: RwLock<Table>,
    budget: Arc<Budget>,
    /// Readers kept since the last time they were dropped (an upper bound: a forgotten inode
    /// takes its reader with it), so that a full budget with none kept costs no scan.
    readers: AtomicUsize,
    names: RandomState,
}

fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

impl Inodes {
    /// A table holding the shared directory as [`ROOT_ID`], which is never forgotten.
    pub fn new(root: OwnedFd, id: InodeId, budget: Arc<Budget>) -> io::Result<Self> {
        let mut t = Table {
            next: ROOT_ID + 1,
            ..Default::default()
        };
        let inode = Arc::new(Inode {
            fd: budget.hold(root)?,
            id,
            kind: libc::S_IFDIR,
            reader: Mutex::default(),
            caps: AtomicU32::new(1),
        });
        t.by_node.insert(
            ROOT_ID,
            Slot {
                inode,
                refs: 1,
                name: None,
            },
        );
        t.by_id.insert(id, ROOT_ID);
        Ok(Inodes {
            table: RwLock::new(t),
            budget,
            readers: AtomicUsize::new(0),
            names: RandomState::new(),
        })
    }

    /// The inode behind a node id, or EBADF for one the guest does not hold.
    pub fn get(&self, node: u64) -> io::Result<Arc<Inode>> {
        let t = self.table.read().map_err(|_| ebadf())?;
        t.by_node
            .get(&node)
            .map(|s| Arc::clone(&s.inode))
            .ok_or_else(ebadf)
    }

    /// The node id of a host inode the guest already holds, without taking a reference.
    pub fn find(&self, id: &InodeId) -> Option<u64> {
        let t = self.table.read().ok()?;
        t.by_id.get(id).copied()
    }

    /// The key of `name` in the directory `parent` (a node id).
    pub fn name_key(&self, parent: u64, name: &[u8]) -> NameKey {
        NameKey(self.names.hash_one((parent, name)))
    }

    /// Whether a node the guest holds was last found under `key`.
    pub fn is_named(&self, key: NameKey) -> bool {
        self.table
            .read()
            .is_ok_and(|t| t.by_name.contains_key(&key))
    }

    /// The node last found under `key`, if the guest still holds it (a hint: see [`NameKey`]).
    pub fn named(&self, key: NameKey) -> Option<u64> {
        self.table.read().ok()?.by_name.get(&key).copied()
    }

    /// One more reference to the inode `id` if the guest holds it already: its node id. The
    /// node is filed under `key` if it has no name key yet.
    pub fn ref_known(&self, id: &InodeId, key: Option<NameKey>) -> Option<u64> {
        let mut t = self.table.write().ok()?;
        let node = *t.by_id.get(id)?;
        t.take_ref(node, key).then_some(node)
    }

    /// Hands the guest one reference to the inode `id`, whose O_PATH fd is `fd` (dropped if the
    /// inode is already known), found under the name `key` if given. Returns the node id, or
    /// EMFILE when the guest's fd budget is spent.
    pub fn add_ref(
        &self,
        id: InodeId,
        kind: u32,
        fd: OwnedFd,
        key: Option<NameKey>,
    ) -> io::Result<u64> {
        let mut t = self.table.write().map_err(|_| ebadf())?;
        if let Some(&node) = t.by_id.get(&id) {
            if t.take_ref(node, key) {
                return Ok(node);
            }
        }
        if self.budget.is_full() {
            // Kept readers give way to the inodes the guest asks for.
            self.drop_readers_in(&t);
        }
        let fd = self.budget.hold(fd)?;
        let node = t.next;
        t.next += 1;
        let inode = Arc::new(Inode {
            fd,
            id,
            kind,
            reader: Mutex::default(),
            caps: AtomicU32::new(1),
        });
        t.by_node.insert(
            node,
            Slot {
                inode,
                refs: 1,
                name: None,
            },
        );
        t.by_id.insert(id, node);
        if let Some(k) = key {
            t.file_under(k, node);
        }
        Ok(node)
    }

    /// Keeps `h` as `i`'s read-only handle (a racing request's, if it came first, stays).
    pub fn keep_reader(&self, i: &Inode, h: &Arc<Handle>) {
        let mut slot = i.reader_slot();
        if slot.is_none() {
            *slot = Some(Arc::clone(h));
            self.readers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes every kept reader (their fds go back to the budget once no request uses them).
    pub fn drop_readers(&self) {
        if let Ok(t) = self.table.read() {
            self.drop_readers_in(&t);
        }
    }

    fn drop_readers_in(&self, t: &Table) {
        if self.readers.swap(0, Ordering::Relaxed) == 0 {
            return;
        }
        for slot in t.by_node.values() {
            slot.inode.reader_slot().take();
        }
    }

    /// One more reference to a node the guest holds (LINK, `.` lookups).
    pub fn ref_node(&self, node: u64) -> io::Result<()> {
        let mut t = self.table.write().map_err(|_| ebadf())?;
        let slot = t.by_node.get_mut(&node).ok_or_else(ebadf)?;
        slot.refs = slot.refs.saturating_add(1);
        Ok(())
    }

    /// Gives back `count` references; the last one drops the fd. Unknown nodes and the root
    /// are ignored (FORGET has no reply to carry an error).
    pub fn forget(&self, node: u64, count: u64) {
        if node == ROOT_ID {
            return;
        }
        let Ok(mut t) = self.table.write() else {
            return;
        };
        let Some(slot) = t.by_node.get_mut(&node) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(count);
        if slot.refs == 0 {
            if let Some(slot) = t.by_node.remove(&node) {
                t.by_id.remove(&slot.inode.id);
                if let Some(k) = slot.name {
                    t.by_name.remove(&k);
                }
            }
        }
    }

    /// How many nodes the guest holds (the root included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.read().map_or(0, |t| t.by_node.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> OwnedFd {
        std::fs::File::open("/").unwrap().into()
    }

    fn id(ino: u64) -> InodeId {
        InodeId {
            dev: 1,
            ino,
            mnt: 1,
        }
    }

    #[test]
    fn same_inode_same_node_until_forgotten() {
        let t = Inodes::new(fd(), id(1), Budget::with_cap(100)).unwrap();
        let a = t.add_ref(id(5), libc::S_IFREG, fd(), None).unwrap();
        assert_eq!(t.add_ref(id(5), libc::S_IFREG, fd(), None).unwrap(), a);
        t.forget(a, 1);
        assert!(t.get(a).is_ok(), "one reference left");
        t.forget(a, 1);
        assert_eq!(t.get(a).unwrap_err().raw_os_error(), Some(libc::EBADF));
        let b = t.add_ref(id(5), libc::S_IFREG, fd(), None).unwrap();
        assert_ne!(a, b, "node ids are not reused");
    }

    #[test]
    fn root_survives_any_forget_and_forged_nodes_are_ebadf() {
        let t = Inodes::new(fd(), id(1), Budget::with_cap(100)).unwrap();
        t.forget(ROOT_ID, u64::MAX);
        assert!(t.get(ROOT_ID).is_ok());
        assert!(t.get(0).is_err());
        assert!(t.get(u64::MAX).is_err());
        t.forget(12345, 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_name_key_follows_the_last_node_filed_under_it_and_leaves_with_it() {
        let t = Inodes::new(fd(), id(1), Budget::with_cap(100)).unwrap();
        let k = t.name_key(ROOT_ID, b"f");
        assert_ne!(k, t.name_key(ROOT_ID, b"g"));
        assert_ne!(k, t.name_key(ROOT_ID + 1, b"f"));
        assert!(!t.is_named(k));
        let a = t.add_ref(id(5), libc::S_IFREG, fd(), Some(k)).unwrap();
        assert!(t.is_named(k));
        // Another inode found under the name takes the key over; forgetting the first then
        // leaves the key with the second.
        let b = t.add_ref(id(6), libc::S_IFREG, fd(), Some(k)).unwrap();
        t.forget(a, 1);
        assert!(t.is_named(k));
        // A known node found under a second name keeps its first.
        let k2 = t.name_key(ROOT_ID, b"link");
        assert_eq!(t.ref_known(&id(6), Some(k2)), Some(b));
        assert!(!t.is_named(k2));
        t.forget(b, 2);
        assert!(!t.is_named(k));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn oversized_forget_counts_saturate() {
        let t = Inodes::new(fd(), id(1), Budget::with_cap(100)).unwrap();
        let a = t.add_ref(id(7), libc::S_IFDIR, fd(), None).unwrap();
        t.forget(a, u64::MAX);
        assert_eq!(t.len(), 1);
    }
}
