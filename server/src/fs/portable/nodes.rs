//! The nodes the guest holds. Without O_PATH a non-directory cannot be held open whatever its
//! mode (a symlink, a socket, a file without read permission), so:
//!
//! - a directory is held by an fd of it (O_RDONLY | O_DIRECTORY), through which every entry
//!   in it is reached with `*at` calls: the directory can be renamed, by the guest or the host,
//!   and its fd still names it;
//! - anything else is known by the names the guest found it under (parent node, name), the
//!   latest first, each checked against the node's (device, inode) before use; a name that no
//!   longer leads to the node is dropped. A file the host renamed or deleted behind the
//!   guest's back is found again only by a new lookup (or through a handle the guest holds).

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fuse_backend_rs::abi::fuse_abi::{stat64, ROOT_ID};

use super::sys::{self, err};

/// (device, inode number): what the host says a node is.
pub type Id = (u64, u64);

// dev_t is u64 on Linux but i32 on macOS; only equality matters.
#[allow(clippy::unnecessary_cast)]
pub fn id_of(st: &stat64) -> Id {
    (st.st_dev as u64, st.st_ino)
}

/// Most names kept per node: a file with many hard links is found under the latest ones.
const MAX_NAMES: usize = 4;

/// One node the guest holds.
pub struct Node {
    /// S_IFMT bits.
    pub kind: u32,
    pub id: Id,
    /// A directory's own fd.
    dir: Option<OwnedFd>,
    /// Where a non-directory was found, the latest first.
    names: Mutex<Vec<(Arc<Node>, CString)>>,
    /// With zero-message opens, an fd of a regular file the guest removed a name of while it
    /// may hold it open (no handle says whether it does): its I/O goes on through this.
    pinned: Mutex<Option<Arc<std::fs::File>>>,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    /// The directory's fd (ENOTDIR for anything else).
    pub fn dir(&self) -> io::Result<BorrowedFd<'_>> {
        self.dir
            .as_ref()
            .map(AsFd::as_fd)
            .ok_or_else(|| err(libc::ENOTDIR))
    }

    /// The fd kept for a removed name, if any.
    pub fn pinned(&self) -> Option<Arc<std::fs::File>> {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `f` (an fd of this regular file) for as long as the node lives.
    pub fn pin(&self, f: std::fs::File) {
        let mut p = self.pinned.lock().unwrap_or_else(PoisonError::into_inner);
        if p.is_none() {
            *p = Some(Arc::new(f));
        }
    }

    fn names(&self) -> MutexGuard<'_, Vec<(Arc<Node>, CString)>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the node is (also) `name` in `parent`, first in line.
    pub fn add_name(&self, parent: &Arc<Node>, name: &CStr) {
        if self.is_dir() {
            return;
        }
        let mut n = self.names();
        n.retain(|(p, m)| !(Arc::ptr_eq(p, parent) && m.as_c_str() == name));
        n.insert(0, (Arc::clone(parent), name.to_owned()));
        n.truncate(MAX_NAMES);
    }

    /// Forgets that the node is `name` in `parent` (the name was removed or renamed).
    pub fn drop_name(&self, parent: &Node, name: &CStr) {
        self.names()
            .retain(|(p, m)| !(std::ptr::eq(&**p, parent) && m.as_c_str() == name));
    }

    /// A name the non-directory is still found under in its parent, and its attributes now;
    /// names that lead elsewhere are dropped. ENOENT when none is left.
    pub fn locate(&self) -> io::Result<(Arc<Node>, CString, stat64)> {
        let mut n = self.names();
        while let Some((parent, name)) = n.first().cloned() {
            match parent.dir().and_then(|d| sys::stat_at(d, &name)) {
                Ok(st) if id_of(&st) == self.id && st.st_mode & libc::S_IFMT == self.kind => {
                    return Ok((parent, name, st));
                }
                _ => {
                    n.remove(0);
                }
            }
        }
        Err(err(libc::ENOENT))
    }
}

struct Slot {
    node: Arc<Node>,
    refs: u64,
}

struct Table {
    by_node: HashMap<u64, Slot>,
    by_id: HashMap<Id, u64>,
    next: u64,
}

/// The node table: node ids the guest holds, with their reference counts.
pub struct Nodes(Mutex<Table>);

impl Nodes {
    /// A table holding the shared directory, `root` (its fd), as ROOT_ID, never forgotten.
    pub fn new(root: OwnedFd, st: &stat64) -> Nodes {
        let node = Arc::new(Node {
            kind: libc::S_IFDIR,
            id: id_of(st),
            dir: Some(root),
            names: Mutex::default(),
            pinned: Mutex::default(),
        });
        let mut t = Table {
            by_node: HashMap::new(),
            by_id: HashMap::new(),
            next: ROOT_ID + 1,
        };
        t.by_id.insert(node.id, ROOT_ID);
        t.by_node.insert(ROOT_ID, Slot { node, refs: 1 });
        Nodes(Mutex::new(t))
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The node behind a node id, or EBADF for one the guest does not hold.
    pub fn get(&self, node: u64) -> io::Result<Arc<Node>> {
        let t = self.table();
        let slot = t.by_node.get(&node).ok_or_else(|| err(libc::EBADF))?;
        Ok(Arc::clone(&slot.node))
    }

    /// The node id of a held directory with this id, with one more reference.
    pub fn ref_dir(&self, id: Id) -> Option<u64> {
        let mut t = self.table();
        let node = *t.by_id.get(&id)?;
        let slot = t.by_node.get_mut(&node)?;
        if !slot.node.is_dir() {
            return None;
        }
        slot.refs += 1;
        Some(node)
    }

    /// The node id held for this id, if any (no reference taken).
    pub fn find(&self, id: Id) -> Option<u64> {
        self.table().by_id.get(&id).copied()
    }

    /// One more guest reference to `node`.
    pub fn ref_node(&self, node: u64) -> io::Result<()> {
        let mut t = self.table();
        let slot = t.by_node.get_mut(&node).ok_or_else(|| err(libc::EBADF))?;
        slot.refs += 1;
        Ok(())
    }

    /// A guest reference to what `st` describes, found as `name` in `parent`: the node held
    /// for it if it is of the same type (a directory's `dir` fd is then not needed), else a
    /// new node (the host reused the inode number for something else).
    pub fn add_ref(
        &self,
        st: &stat64,
        dir: Option<OwnedFd>,
        parent: &Arc<Node>,
        name: &CStr,
    ) -> u64 {
        let id = id_of(st);
        let kind = st.st_mode & libc::S_IFMT;
        let mut t = self.table();
        if let Some(&node) = t.by_id.get(&id) {
            if let Some(slot) = t.by_node.get_mut(&node) {
                if slot.node.kind == kind && (kind != libc::S_IFDIR || slot.node.dir.is_some()) {
                    slot.refs += 1;
                    slot.node.add_name(parent, name);
                    return node;
                }
            }
        }
        let n = Arc::new(Node {
            kind,
            id,
            dir,
            names: Mutex::default(),
            pinned: Mutex::default(),
        });
        n.add_name(parent, name);
        let node = t.next;
        t.next += 1;
        t.by_id.insert(id, node);
        t.by_node.insert(node, Slot { node: n, refs: 1 });
        node
    }

    /// Drops `count` guest references to `node`; the node goes with the last (not the root).
    pub fn forget(&self, node: u64, count: u64) {
        if node == ROOT_ID {
            return;
        }
        let mut t = self.table();
        let Some(slot) = t.by_node.get_mut(&node) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(count);
        if slot.refs > 0 {
            return;
        }
        if let Some(slot) = t.by_node.remove(&node) {
            if t.by_id.get(&slot.node.id) == Some(&node) {
                t.by_id.remove(&slot.node.id);
            }
        }
    }

    /// The node held for whatever `name` in `parent` is now, if the guest holds it.
    pub fn named(&self, parent: &Node, name: &CStr) -> Option<Arc<Node>> {
        let st = sys::stat_at(parent.dir().ok()?, name).ok()?;
        let node = self.find(id_of(&st))?;
        self.get(node).ok()
    }
}
