//! The inode table: the guest's node ids mapped to host inodes.
//!
//! A node id is handed to the guest once per LOOKUP-like reply and counted; FORGET gives the
//! counts back and the last one drops the node. The same host inode (device, inode number,
//! mount) gets the same node id while the guest knows it, unless its birth time shows a new
//! file behind a reused inode number. Node ids the guest never got (forged or stale) are
//! simply absent: every request on them gets EBADF.
//!
//! How many nodes the guest may know is not bounded by the daemon's open-file limit. Each node
//! holds an O_PATH fd only while it is in use: when the guest's fd budget runs short, the fds
//! of the nodes used least recently are closed (a second-chance clock), and a node whose fd was
//! closed is opened again when a request needs it, through its [`Anchor`]: by its name in its
//! parent (its parent reopened the same way, up to a node that has an fd), or by its host file
//! handle (`--inode-file-handles`). A reopened file must be the same inode (device, number,
//! mount, birth time), or the request gets ESTALE. Nodes that no name leads back to (the root,
//! a file the guest removed or made with O_TMPFILE) keep their fd.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::hash::BuildHasher;
use std::io;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};

use arc_swap::ArcSwapOption;

use fuse_backend_rs::abi::fuse_abi::{stat64, ROOT_ID};

use super::fds::{Budget, HeldFd};
use super::handle::Handle;
use super::sys::{self, FileHandle};
use crate::fs::ListingCache;

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

/// How a node whose fd was closed is found again.
#[derive(Debug, Clone)]
pub enum Anchor {
    /// Never closed: nothing leads back to it (the root, a file the guest unlinked, an
    /// O_TMPFILE), or it must stay as it is.
    Pinned,
    /// By its name in `parent` (the inode it was last found in or renamed into by the guest).
    Name { parent: Arc<Inode>, name: CString },
    /// By its host file handle.
    Handle(FileHandle),
}

/// One inode the guest knows.
#[derive(Debug)]
pub struct Inode {
    /// The O_PATH fd, while it is open (read without a lock on every request).
    fd: ArcSwapOption<HeldFd>,
    pub id: InodeId,
    /// The birth time seen when the node was made (0 if the filesystem has none).
    btime: u64,
    /// The file type bits (S_IFMT) of the inode; they never change.
    pub kind: u32,
    anchor: Mutex<Anchor>,
    /// Used since the clock last passed it: spared once.
    used: AtomicBool,
    /// Still in the table (a forgotten node may live on as another node's anchor, fd closed).
    live: AtomicBool,
    /// With zero-message opens, the file opened read-only for the guest's reads, kept until
    /// the guest forgets the node or the fd budget runs short. (Writes reopen per request: a
    /// writable fd held on the host would make exec(2) of the file fail there with ETXTBSY.)
    reader: Mutex<Option<Arc<Handle>>>,
    /// Whether the guest's file capabilities may be on the file under a remapped name (see
    /// [`super::LinuxFs::kill_remapped_caps`]): 0 once known absent; any other value may have
    /// them, and changes with each SETXATTR of them, so a removal that raced one does not
    /// mark them absent.
    caps: AtomicU32,
    /// A directory's: [`LISTED`] once the guest opened it, [`CHILD_READ`] when a file found
    /// in it was READ since (the guest then wants those files' attributes again: see
    /// [`Inodes::note_read`]).
    listing: AtomicU8,
}

/// [`Inode::listing`]: the guest opened the directory.
const LISTED: u8 = 1;
/// [`Inode::listing`]: a file found in the directory was READ since it was last opened.
const CHILD_READ: u8 = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inode {
    fn new(id: InodeId, btime: u64, kind: u32, fd: Arc<HeldFd>, anchor: Anchor) -> Self {
        Inode {
            fd: ArcSwapOption::new(Some(fd)),
            id,
            btime,
            kind,
            anchor: Mutex::new(anchor),
            used: AtomicBool::new(true),
            live: AtomicBool::new(true),
            reader: Mutex::default(),
            caps: AtomicU32::new(1),
            listing: AtomicU8::new(0),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    fn current(&self) -> Option<Arc<HeldFd>> {
        self.fd.load_full()
    }

    /// Makes `fd` the open fd unless one is there already; returns the one that is.
    fn set_fd(&self, fd: &Arc<HeldFd>) -> Arc<HeldFd> {
        let prev = self
            .fd
            .compare_and_swap(&None::<Arc<HeldFd>>, Some(Arc::clone(fd)));
        match &*prev {
            Some(old) => Arc::clone(old),
            None => Arc::clone(fd),
        }
    }

    fn is_pinned(&self) -> bool {
        matches!(*lock(&self.anchor), Anchor::Pinned)
    }

    fn reader_slot(&self) -> MutexGuard<'_, Option<Arc<Handle>>> {
        lock(&self.reader)
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

/// A node in use by a request: the inode and an open fd of it, which stays open until the
/// request drops this, whatever the clock does meanwhile.
#[derive(Debug)]
pub struct Node {
    inode: Arc<Inode>,
    fd: Arc<HeldFd>,
}

impl Node {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn inode(&self) -> &Arc<Inode> {
        &self.inode
    }
}

impl Deref for Node {
    type Target = Inode;

    fn deref(&self) -> &Inode {
        &self.inode
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

    /// The node holding `id` whose birth time is `btime`.
    fn known(&self, id: &InodeId, btime: u64) -> Option<(u64, &Arc<Inode>)> {
        let node = *self.by_id.get(id)?;
        let inode = &self.by_node.get(&node)?.inode;
        (inode.btime == btime).then_some((node, inode))
    }
}

/// How many ancestors a reopen walks up at most before it gives up (ESTALE).
const MAX_DEPTH: usize = 4096;

/// All inodes the guest holds, behind one lock (lookups take the write side only to add).
pub struct Inodes {
    table: RwLock<Table>,
    budget: Arc<Budget>,
    /// Readers kept since the last time they were dropped (an upper bound: a forgotten inode
    /// takes its reader with it), so that a full budget with none kept costs no scan.
    readers: AtomicUsize,
    names: RandomState,
    /// Nodes with an open fd, oldest first (entries of nodes since closed or forgotten are
    /// skipped when met, and swept out when they outnumber the live ones). Kept only once
    /// the budget has first run short (`clocking`): until then it would cost every new node
    /// a lock for nothing, and the first pass fills it from the table.
    clock: Mutex<VecDeque<Weak<Inode>>>,
    clocking: AtomicBool,
    /// An fd on each host mount a file handle was taken on (open_by_handle_at's mount_fd).
    mounts: Mutex<HashMap<u64, OwnedFd>>,
}

fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

fn estale() -> io::Error {
    io::Error::from_raw_os_error(libc::ESTALE)
}

impl Inodes {
    /// A table holding the shared directory as [`ROOT_ID`], which is never forgotten.
    pub fn new(root: OwnedFd, id: InodeId, btime: u64, budget: Arc<Budget>) -> io::Result<Self> {
        let mut t = Table {
            next: ROOT_ID + 1,
            ..Default::default()
        };
        let fd = Arc::new(budget.hold(root)?);
        let inode = Arc::new(Inode::new(id, btime, libc::S_IFDIR, fd, Anchor::Pinned));
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
            clock: Mutex::default(),
            clocking: AtomicBool::new(false),
            mounts: Mutex::default(),
        })
    }

    /// The inode behind a node id, whether or not its fd is open, or EBADF for one the guest
    /// does not hold.
    pub fn inode(&self, node: u64) -> io::Result<Arc<Inode>> {
        let t = self.table.read().map_err(|_| ebadf())?;
        let slot = t.by_node.get(&node).ok_or_else(ebadf)?;
        Ok(Arc::clone(&slot.inode))
    }

    /// The inode behind a node id with an open fd (reopened if the clock closed it), or
    /// EBADF for one the guest does not hold.
    pub fn get(&self, node: u64) -> io::Result<Node> {
        let inode = self.inode(node)?;
        if !inode.used.load(Ordering::Relaxed) {
            inode.used.store(true, Ordering::Relaxed);
        }
        let fd = self.fd_of(&inode)?;
        Ok(Node { inode, fd })
    }

    /// The open fd of `inode`, reopened through its anchors where closed.
    fn fd_of(&self, inode: &Arc<Inode>) -> io::Result<Arc<HeldFd>> {
        if let Some(fd) = inode.current() {
            return Ok(fd);
        }
        // The inodes to reopen, `inode` first, up to an ancestor that has an fd (`base`) or
        // is reopened by handle.
        let mut chain = vec![Arc::clone(inode)];
        let mut base = None;
        loop {
            let up = match &*lock(&chain[chain.len() - 1].anchor) {
                Anchor::Name { parent, .. } => Arc::clone(parent),
                Anchor::Handle(_) => break,
                // Pinned nodes are never closed; one that is has nothing to reopen it by.
                Anchor::Pinned => return Err(estale()),
            };
            if let Some(fd) = up.current() {
                base = Some(fd);
                break;
            }
            if chain.len() >= MAX_DEPTH {
                return Err(estale());
            }
            chain.push(up);
        }
        for i in chain.iter().rev() {
            base = Some(self.reopen(i, base.as_ref())?);
        }
        base.ok_or_else(estale)
    }

    /// Opens `i` again through its anchor (`parent` is its parent's fd for a name) and checks
    /// it is the same inode.
    fn reopen(&self, i: &Arc<Inode>, parent: Option<&Arc<HeldFd>>) -> io::Result<Arc<HeldFd>> {
        let anchor = lock(&i.anchor).clone();
        let fd = match &anchor {
            Anchor::Name { name, .. } => {
                let p = parent.ok_or_else(estale)?;
                sys::open_beneath(p.as_fd(), name, libc::O_PATH).map_err(|e| {
                    match e.raw_os_error() {
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => estale(),
                        _ => e,
                    }
                })?
            }
            Anchor::Handle(h) => self.open_handle(i.id.mnt, h)?,
            Anchor::Pinned => return Err(estale()),
        };
        let (st, ident) = sys::stat_fd(fd.as_fd())?;
        if InodeId::of(&st, ident.mnt) != i.id || ident.btime != i.btime {
            return Err(estale());
        }
        self.install(i, fd)
    }

    /// Makes `fd` the open fd of `i` (unless a racing request installed one first) and
    /// returns it. A forgotten inode (reopened only to reach a child) does not keep it.
    fn install(&self, i: &Arc<Inode>, fd: OwnedFd) -> io::Result<Arc<HeldFd>> {
        let held = Arc::new(self.hold(fd)?);
        if !i.live.load(Ordering::Acquire) {
            return Ok(held);
        }
        let fd = i.set_fd(&held);
        if !Arc::ptr_eq(&fd, &held) {
            return Ok(fd);
        }
        if !i.live.load(Ordering::Acquire) {
            // Forgotten meanwhile: FORGET may have emptied the slot before this filled it.
            i.fd.store(None);
            return Ok(held);
        }
        self.clock_push(i);
        Ok(held)
    }

    /// Takes one fd from the budget, making room first if it is spent (not with the table's
    /// lock held: making room reads the table).
    fn hold(&self, fd: OwnedFd) -> io::Result<HeldFd> {
        // Twice at most: a pass may close fds that requests still use for a moment.
        for _ in 0..2 {
            if !self.budget.is_full() {
                break;
            }
            self.make_room();
        }
        self.budget.hold(fd)
    }

    /// Frees fds for what the guest asks for now: every kept reader, then the fds of an
    /// eighth of the budget's worth of nodes, least recently used first.
    pub fn make_room(&self) {
        self.drop_readers();
        self.evict((self.budget.cap() / 8).max(1));
    }

    /// Closes the fds of up to `want` nodes that have not been used since the clock last
    /// passed them (second chance); returns how many. A request still using one keeps it
    /// open until it is done.
    pub fn evict(&self, want: usize) -> usize {
        if !self.clocking.swap(true, Ordering::SeqCst) {
            // The first time: every node with an fd, from the table (nodes added from now on
            // enter the clock themselves).
            let nodes: Vec<Weak<Inode>> = self.table.read().map_or_else(
                |_| Vec::new(),
                |t| {
                    t.by_node
                        .values()
                        .filter(|s| s.inode.current().is_some())
                        .map(|s| Arc::downgrade(&s.inode))
                        .collect()
                },
            );
            lock(&self.clock).extend(nodes);
        }
        let mut clock = lock(&self.clock);
        let mut freed = 0;
        let mut steps = clock.len().saturating_mul(2);
        while freed < want && steps > 0 {
            steps -= 1;
            let Some(w) = clock.pop_front() else {
                break;
            };
            let Some(i) = w.upgrade() else {
                continue;
            };
            if !i.live.load(Ordering::Acquire) || i.is_pinned() {
                continue;
            }
            // A node a request is using keeps its fd open whatever the clock does: closing
            // its slot would free nothing now.
            let busy = i.current().is_some_and(|fd| Arc::strong_count(&fd) > 2);
            if busy || i.used.swap(false, Ordering::Relaxed) {
                clock.push_back(w);
                continue;
            }
            if i.fd.swap(None).is_some() {
                freed += 1;
            }
        }
        freed
    }

    fn clock_push(&self, i: &Arc<Inode>) {
        if !self.clocking.load(Ordering::SeqCst) {
            return;
        }
        let mut clock = lock(&self.clock);
        clock.push_back(Arc::downgrade(i));
        if clock.len() > self.budget.cap().saturating_mul(2) + 64 {
            clock.retain(|w| {
                w.upgrade()
                    .is_some_and(|i| i.live.load(Ordering::Acquire) && i.current().is_some())
            });
        }
    }

    /// Whether an fd on the mount `mnt` is kept for reopening by file handle.
    pub fn has_mount(&self, mnt: u64) -> bool {
        lock(&self.mounts).contains_key(&mnt)
    }

    /// Opens the file handle `h` of the mount `mnt` (O_PATH); ESTALE without an fd kept for
    /// that mount.
    pub fn open_handle(&self, mnt: u64, h: &FileHandle) -> io::Result<OwnedFd> {
        let m = lock(&self.mounts);
        let mount = m.get(&mnt).ok_or_else(estale)?;
        sys::open_by_handle(mount.as_fd(), h, libc::O_PATH)
    }

    /// Keeps `fd` (a directory opened for reading: open_by_handle_at refuses O_PATH fds) for
    /// reopening by file handle on the mount `mnt`, unless one is kept already.
    pub fn add_mount(&self, mnt: u64, fd: OwnedFd) {
        lock(&self.mounts).entry(mnt).or_insert(fd);
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

    /// One more reference to the inode `id` born at `btime` if the guest holds it already:
    /// its node id. The node is filed under `key` if it has no name key yet. A node whose fd
    /// is closed and whose filesystem has no birth times is not trusted to be the same file
    /// (its inode number may have been reused): None, so the caller opens the name.
    pub fn ref_known(&self, id: &InodeId, btime: u64, key: Option<NameKey>) -> Option<u64> {
        let mut t = self.table.write().ok()?;
        let (node, inode) = t.known(id, btime)?;
        if btime == 0 && inode.current().is_none() {
            return None;
        }
        t.take_ref(node, key).then_some(node)
    }

    /// Hands the guest one reference to the inode `id` born at `btime`, whose O_PATH fd is
    /// `fd`, found again through `anchor`, under the name `key` if given. A known inode keeps
    /// its node (and takes `fd` if the clock had closed its own). Returns the node id, or
    /// EMFILE when the guest's fd budget is spent and nothing can be closed.
    pub fn add_ref(
        &self,
        id: InodeId,
        btime: u64,
        kind: u32,
        fd: OwnedFd,
        key: Option<NameKey>,
        anchor: Anchor,
    ) -> io::Result<u64> {
        let fd = Arc::new(self.hold(fd)?);
        let mut t = self.table.write().map_err(|_| ebadf())?;
        if let Some((node, inode)) = t.known(&id, btime) {
            let inode = Arc::clone(inode);
            if t.take_ref(node, key) {
                drop(t);
                if Arc::ptr_eq(&inode.set_fd(&fd), &fd) {
                    self.clock_push(&inode);
                }
                return Ok(node);
            }
        }
        let node = t.next;
        t.next += 1;
        let inode = Arc::new(Inode::new(id, btime, kind, fd, anchor));
        t.by_node.insert(
            node,
            Slot {
                inode: Arc::clone(&inode),
                refs: 1,
                name: None,
            },
        );
        // A new file behind a reused inode number takes the identity over; the old node stays
        // valid under its node id until forgotten.
        t.by_id.insert(id, node);
        if let Some(k) = key {
            t.file_under(k, node);
        }
        drop(t);
        self.clock_push(&inode);
        Ok(node)
    }

    /// Keeps `node`'s fd open from now on (the guest is about to remove its last known name),
    /// unless the guest does not hold it.
    pub fn pin(&self, node: u64) {
        if let Ok(n) = self.get(node) {
            *lock(&n.anchor) = Anchor::Pinned;
        }
    }

    /// `node` is now named `name` in `parent` (the guest renamed it), if it was found by
    /// name.
    pub fn rename(&self, node: u64, parent: &Node, name: &std::ffi::CStr) {
        let Ok(t) = self.table.read() else {
            return;
        };
        if let Some(slot) = t.by_node.get(&node) {
            let mut a = lock(&slot.inode.anchor);
            if let Anchor::Name { .. } = *a {
                *a = Anchor::Name {
                    parent: Arc::clone(parent.inode()),
                    name: name.to_owned(),
                };
            }
        }
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
        if self.readers.swap(0, Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(t) = self.table.read() {
            for slot in t.by_node.values() {
                slot.inode.reader_slot().take();
            }
        }
    }

    /// One more reference to a node the guest holds (LINK, `.` lookups).
    pub fn ref_node(&self, node: u64) -> io::Result<()> {
        let mut t = self.table.write().map_err(|_| ebadf())?;
        let slot = t.by_node.get_mut(&node).ok_or_else(ebadf)?;
        slot.refs = slot.refs.saturating_add(1);
        Ok(())
    }

    /// Gives back `count` references; the last one closes the fd (returned with the inode
    /// then, for the caller to close). Unknown nodes and the root are ignored (FORGET has no
    /// reply to carry an error).
    pub fn forget(&self, node: u64, count: u64) -> Option<(Arc<Inode>, Option<Arc<HeldFd>>)> {
        if node == ROOT_ID {
            return None;
        }
        let Ok(mut t) = self.table.write() else {
            return None;
        };
        let slot = t.by_node.get_mut(&node)?;
        slot.refs = slot.refs.saturating_sub(count);
        if slot.refs > 0 {
            return None;
        }
        let slot = t.by_node.remove(&node)?;
        let i = slot.inode;
        if t.by_id.get(&i.id) == Some(&node) {
            t.by_id.remove(&i.id);
        }
        if let Some(k) = slot.name {
            t.by_name.remove(&k);
        }
        drop(t);
        // The inode may live on as a child's anchor: without its fd and reader.
        i.live.store(false, Ordering::Release);
        let fd = i.fd.swap(None);
        i.reader_slot().take();
        Some((i, fd))
    }

    /// The guest READ the file `node`: the directory it was found in is marked. (A Linux
    /// guest marks the file's atime stale on every READ, so its next stat asks for the
    /// attributes again; a listing from the daemon, with attributes, answers that for every
    /// file of the directory at once, a listing from the guest's cache does not.)
    pub fn note_read(&self, node: u64) {
        let Ok(i) = self.inode(node) else {
            return;
        };
        let anchor = lock(&i.anchor);
        if let Anchor::Name { parent, .. } = &*anchor {
            if parent.listing.load(Ordering::Relaxed) & CHILD_READ == 0 {
                parent.listing.fetch_or(CHILD_READ, Ordering::Relaxed);
            }
        }
    }

    /// How the guest may keep the listing of the directory `node`, which it opens now.
    pub fn listing_cache(&self, node: u64) -> ListingCache {
        let Ok(i) = self.inode(node) else {
            return ListingCache::Fresh;
        };
        let was = i.listing.swap(LISTED, Ordering::Relaxed);
        if was & LISTED == 0 {
            ListingCache::Uncached
        } else if was & CHILD_READ != 0 {
            ListingCache::Fresh
        } else {
            ListingCache::Keep
        }
    }

    /// The directories the guest holds.
    pub fn dirs(&self) -> Vec<u64> {
        self.table.read().map_or_else(
            |_| Vec::new(),
            |t| {
                t.by_node
                    .iter()
                    .filter(|(_, s)| s.inode.is_dir())
                    .map(|(&n, _)| n)
                    .collect()
            },
        )
    }

    /// The path of `node` from the root ("" for the root), by the names it was found or
    /// renamed under; None for a node found by handle or without a name.
    pub fn path_of(&self, node: u64) -> Option<Vec<u8>> {
        if node == ROOT_ID {
            return Some(Vec::new());
        }
        let root = self.inode(ROOT_ID).ok()?;
        let mut names: Vec<CString> = Vec::new();
        let mut at = self.inode(node).ok()?;
        while !Arc::ptr_eq(&at, &root) {
            if names.len() > MAX_DEPTH {
                return None;
            }
            let next = match &*lock(&at.anchor) {
                Anchor::Name { parent, name } => {
                    names.push(name.clone());
                    Arc::clone(parent)
                }
                _ => return None,
            };
            at = next;
        }
        let mut p = Vec::new();
        for n in names.iter().rev() {
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(n.to_bytes());
        }
        Some(p)
    }

    /// How many nodes the guest holds (the root included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.read().map_or(0, |t| t.by_node.len())
    }

    /// How many nodes have an open fd now.
    #[cfg(test)]
    pub fn open_fds(&self) -> usize {
        self.table.read().map_or(0, |t| {
            t.by_node
                .values()
                .filter(|s| s.inode.current().is_some())
                .count()
        })
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
        let t = Inodes::new(fd(), id(1), 0, Budget::with_cap(100)).unwrap();
        let a = t
            .add_ref(id(5), 0, libc::S_IFREG, fd(), None, Anchor::Pinned)
            .unwrap();
        assert_eq!(
            t.add_ref(id(5), 0, libc::S_IFREG, fd(), None, Anchor::Pinned)
                .unwrap(),
            a
        );
        t.forget(a, 1);
        assert!(t.get(a).is_ok(), "one reference left");
        t.forget(a, 1);
        assert_eq!(t.get(a).unwrap_err().raw_os_error(), Some(libc::EBADF));
        let b = t
            .add_ref(id(5), 0, libc::S_IFREG, fd(), None, Anchor::Pinned)
            .unwrap();
        assert_ne!(a, b, "node ids are not reused");
    }

    #[test]
    fn root_survives_any_forget_and_forged_nodes_are_ebadf() {
        let t = Inodes::new(fd(), id(1), 0, Budget::with_cap(100)).unwrap();
        t.forget(ROOT_ID, u64::MAX);
        assert!(t.get(ROOT_ID).is_ok());
        assert!(t.get(0).is_err());
        assert!(t.get(u64::MAX).is_err());
        t.forget(12345, 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_name_key_follows_the_last_node_filed_under_it_and_leaves_with_it() {
        let t = Inodes::new(fd(), id(1), 0, Budget::with_cap(100)).unwrap();
        let k = t.name_key(ROOT_ID, b"f");
        assert_ne!(k, t.name_key(ROOT_ID, b"g"));
        assert_ne!(k, t.name_key(ROOT_ID + 1, b"f"));
        assert!(!t.is_named(k));
        let a = t
            .add_ref(id(5), 0, libc::S_IFREG, fd(), Some(k), Anchor::Pinned)
            .unwrap();
        assert!(t.is_named(k));
        // Another inode found under the name takes the key over; forgetting the first then
        // leaves the key with the second.
        let b = t
            .add_ref(id(6), 0, libc::S_IFREG, fd(), Some(k), Anchor::Pinned)
            .unwrap();
        t.forget(a, 1);
        assert!(t.is_named(k));
        // A known node found under a second name keeps its first.
        let k2 = t.name_key(ROOT_ID, b"link");
        assert_eq!(t.ref_known(&id(6), 0, Some(k2)), Some(b));
        assert!(!t.is_named(k2));
        t.forget(b, 2);
        assert!(!t.is_named(k));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn oversized_forget_counts_saturate() {
        let t = Inodes::new(fd(), id(1), 0, Budget::with_cap(100)).unwrap();
        let a = t
            .add_ref(id(7), 0, libc::S_IFDIR, fd(), None, Anchor::Pinned)
            .unwrap();
        t.forget(a, u64::MAX);
        assert_eq!(t.len(), 1);
    }
}
