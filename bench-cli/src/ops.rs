//! The requests the workloads send, encoded as Linux's FUSE client sends them, and the ops
//! (chains of dependent requests) built from them.

use std::sync::Arc;

use ferry_guest_client::fuse::opcode as op;
use ferry_guest_client::fuse::reply::{direntplus, fixed, prefix};
use ferry_guest_client::fuse::setupmapping_in;
use ferry_guest_client::{EntryOut, Error, Window};
use fuse_backend_rs::abi::fuse_abi::{
    CreateIn, GetattrIn, OpenIn, OpenOut, ReadIn, ReleaseIn, WriteIn, WriteOut,
};
use vm_memory_fbr::ByteValued;

use crate::engine::{Cx, Op, Req, Step};

const ENTRY: u32 = 128;
const ATTR: u32 = 104;

fn cstr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn lookup(parent: u64, name: &str) -> Req {
    Req {
        opcode: op::LOOKUP,
        nodeid: parent,
        body: cstr(name),
        reply_max: ENTRY,
    }
}

pub fn getattr(node: u64) -> Req {
    let a = GetattrIn {
        flags: 0,
        dummy: 0,
        fh: 0,
    };
    Req {
        opcode: op::GETATTR,
        nodeid: node,
        body: a.as_slice().to_vec(),
        reply_max: ATTR,
    }
}

pub fn create(parent: u64, name: &str) -> Req {
    let a = CreateIn {
        flags: (libc::O_RDWR | libc::O_CREAT) as u32,
        mode: libc::S_IFREG | 0o644,
        umask: 0o022,
        fuse_flags: 0,
    };
    let mut body = a.as_slice().to_vec();
    body.extend_from_slice(&cstr(name));
    Req {
        opcode: op::CREATE,
        nodeid: parent,
        body,
        reply_max: ENTRY + 16,
    }
}

fn release_req(opcode: u32, node: u64, fh: u64, flags: u32) -> Req {
    let a = ReleaseIn {
        fh,
        flags,
        release_flags: 0,
        lock_owner: 0,
    };
    Req {
        opcode,
        nodeid: node,
        body: a.as_slice().to_vec(),
        reply_max: 0,
    }
}

pub fn release(node: u64, fh: u64) -> Req {
    release_req(op::RELEASE, node, fh, libc::O_RDWR as u32)
}

pub fn unlink(parent: u64, name: &str) -> Req {
    Req {
        opcode: op::UNLINK,
        nodeid: parent,
        body: cstr(name),
        reply_max: 0,
    }
}

pub fn read(node: u64, fh: u64, offset: u64, size: u32) -> Req {
    let a = ReadIn {
        fh,
        offset,
        size,
        ..Default::default()
    };
    Req {
        opcode: op::READ,
        nodeid: node,
        body: a.as_slice().to_vec(),
        reply_max: size,
    }
}

pub fn write(node: u64, fh: u64, offset: u64, data: &[u8]) -> Req {
    let a = WriteIn {
        fh,
        offset,
        size: data.len() as u32,
        ..Default::default()
    };
    let mut body = Vec::with_capacity(a.as_slice().len() + data.len());
    body.extend_from_slice(a.as_slice());
    body.extend_from_slice(data);
    Req {
        opcode: op::WRITE,
        nodeid: node,
        body,
        reply_max: 8,
    }
}

pub fn opendir(node: u64) -> Req {
    let a = OpenIn {
        flags: (libc::O_RDONLY | libc::O_DIRECTORY) as u32,
        fuse_flags: 0,
    };
    Req {
        opcode: op::OPENDIR,
        nodeid: node,
        body: a.as_slice().to_vec(),
        reply_max: 16,
    }
}

pub fn readdirplus(node: u64, fh: u64, offset: u64, size: u32) -> Req {
    let a = ReadIn {
        fh,
        offset,
        size,
        ..Default::default()
    };
    Req {
        opcode: op::READDIRPLUS,
        nodeid: node,
        body: a.as_slice().to_vec(),
        reply_max: size,
    }
}

pub fn releasedir(node: u64, fh: u64) -> Req {
    release_req(
        op::RELEASEDIR,
        node,
        fh,
        (libc::O_RDONLY | libc::O_DIRECTORY) as u32,
    )
}

fn ok(reply: Option<Result<Vec<u8>, Error>>, what: &str) -> Result<Vec<u8>, String> {
    match reply {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(format!("{what}: {e}")),
        None => Err(format!("{what}: no reply")),
    }
}

fn entry(b: &[u8], what: &str) -> Result<EntryOut, String> {
    let e: EntryOut = fixed(b, what).map_err(|e| e.to_string())?;
    if e.nodeid == 0 {
        return Err(format!("{what}: negative entry"));
    }
    Ok(e)
}

/// LOOKUP each component of `path` from `start`, then GETATTR the last node: one stat, as
/// the kernel does it with an empty dentry cache. Every looked-up node is forgotten once the
/// stat is done (never while a request on it may still be in flight, as the kernel does).
pub struct Stat {
    pub start: u64,
    pub path: Vec<String>,
    pub at: usize,
    pub node: u64,
    pub looked_up: Vec<u64>,
}

impl Stat {
    pub fn new(start: u64, path: Vec<String>) -> Self {
        Stat {
            start,
            path,
            at: 0,
            node: start,
            looked_up: Vec::new(),
        }
    }
}

impl Op for Stat {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String> {
        if reply.is_some() {
            let b = ok(reply, "stat")?;
            if self.at < self.path.len() {
                let e = entry(&b, "LOOKUP")?;
                self.looked_up.push(e.nodeid);
                self.node = e.nodeid;
                self.at += 1;
            } else {
                fixed::<ferry_guest_client::AttrOut>(&b, "GETATTR").map_err(|e| e.to_string())?;
                cx.forgets.extend(self.looked_up.drain(..).map(|n| (n, 1)));
                cx.ops += 1;
                return Ok(Step::Done);
            }
        } else {
            self.node = self.start;
        }
        Ok(Step::Send(match self.path.get(self.at) {
            Some(name) => lookup(self.node, name),
            None => getattr(self.node),
        }))
    }
}

/// CREATE a fresh file, RELEASE it, UNLINK it.
pub struct CreateUnlink {
    pub parent: u64,
    pub name: String,
    pub state: u8,
    pub node: u64,
    /// Whether to RELEASE a file created with handle 0 (`Client::releases(0)`).
    pub release_zero: bool,
}

impl Op for CreateUnlink {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String> {
        let s = self.state;
        self.state += 1;
        match s {
            0 => Ok(Step::Send(create(self.parent, &self.name))),
            1 => {
                let b = ok(reply, "CREATE")?;
                if b.len() != (ENTRY + 16) as usize {
                    return Err(format!("CREATE: {} bytes", b.len()));
                }
                let e = entry(&b[..ENTRY as usize], "CREATE")?;
                let o: OpenOut =
                    prefix(&b[ENTRY as usize..], "CREATE").map_err(|e| e.to_string())?;
                self.node = e.nodeid;
                if o.fh == 0 && !self.release_zero {
                    self.state = 3;
                    return Ok(Step::Send(unlink(self.parent, &self.name)));
                }
                Ok(Step::Send(release(e.nodeid, o.fh)))
            }
            2 => {
                ok(reply, "RELEASE")?;
                Ok(Step::Send(unlink(self.parent, &self.name)))
            }
            _ => {
                ok(reply, "UNLINK")?;
                cx.forgets.push((self.node, 1));
                cx.ops += 1;
                Ok(Step::Done)
            }
        }
    }
}

/// One READ or WRITE at a fixed offset.
pub struct Io {
    pub node: u64,
    pub fh: u64,
    pub offset: u64,
    pub size: u32,
    /// The payload for a write; None reads.
    pub data: Option<Arc<Vec<u8>>>,
    pub sent: bool,
}

impl Op for Io {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String> {
        if !self.sent {
            self.sent = true;
            return Ok(Step::Send(match &self.data {
                Some(d) => write(self.node, self.fh, self.offset, &d[..self.size as usize]),
                None => read(self.node, self.fh, self.offset, self.size),
            }));
        }
        let b = ok(reply, "I/O")?;
        let n = match &self.data {
            Some(_) => {
                let w: WriteOut = fixed(&b, "WRITE").map_err(|e| e.to_string())?;
                u64::from(w.size)
            }
            None => b.len() as u64,
        };
        if n != u64::from(self.size) {
            return Err(format!(
                "short I/O: {n} of {} bytes at {}",
                self.size, self.offset
            ));
        }
        cx.ops += 1;
        cx.bytes += n;
        Ok(Step::Done)
    }
}

thread_local! {
    /// Where DaxRead copies the window's bytes to, reused across ops.
    static DAX_COPY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A DAX read: SETUPMAPPING of `len` bytes of the file at `foffset` into the window at
/// `moffset` (replacing what was mapped there), then a copy of them out of the window.
pub struct DaxRead {
    pub node: u64,
    pub fh: u64,
    pub foffset: u64,
    pub moffset: u64,
    pub len: u64,
    pub window: Arc<Window>,
    pub sent: bool,
}

impl Op for DaxRead {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String> {
        if !self.sent {
            self.sent = true;
            let a = setupmapping_in(
                self.fh,
                self.foffset,
                self.len,
                op::MAPPING_READ,
                self.moffset,
            );
            return Ok(Step::Send(Req {
                opcode: op::SETUPMAPPING,
                nodeid: self.node,
                body: a.to_vec(),
                reply_max: 0,
            }));
        }
        ok(reply, "SETUPMAPPING")?;
        DAX_COPY
            .with(|b| {
                let mut b = b.borrow_mut();
                b.resize(self.len as usize, 0);
                self.window.read(self.moffset, &mut b)
            })
            .map_err(|e| format!("reading the window: {e}"))?;
        cx.ops += 1;
        cx.bytes += self.len;
        Ok(Step::Done)
    }
}

/// A whole listing: OPENDIR, READDIRPLUS until an empty reply (or the time is up),
/// RELEASEDIR. Each entry is an op; each entry's reference is forgotten.
pub struct Listing {
    pub dir: u64,
    pub size: u32,
    pub fh: Option<u64>,
    pub cookie: u64,
    pub closing: bool,
}

impl Op for Listing {
    fn step(&mut self, reply: Option<Result<Vec<u8>, Error>>, cx: &mut Cx) -> Result<Step, String> {
        if reply.is_none() {
            return Ok(Step::Send(opendir(self.dir)));
        }
        let b = ok(reply, "listing")?;
        if self.closing {
            return Ok(Step::Done);
        }
        let Some(fh) = self.fh else {
            let o: OpenOut = fixed(&b, "OPENDIR").map_err(|e| e.to_string())?;
            self.fh = Some(o.fh);
            return Ok(Step::Send(readdirplus(self.dir, o.fh, 0, self.size)));
        };
        let v = direntplus(&b).map_err(|e| format!("READDIRPLUS: {e}"))?;
        cx.bytes += b.len() as u64;
        for d in &v {
            if d.entry.nodeid != 0 {
                cx.forgets.push((d.entry.nodeid, 1));
            }
            if d.dirent.name != b"." && d.dirent.name != b".." {
                cx.ops += 1;
            }
        }
        match v.last() {
            Some(last) if !cx.expired => {
                self.cookie = last.dirent.off;
                Ok(Step::Send(readdirplus(
                    self.dir,
                    fh,
                    self.cookie,
                    self.size,
                )))
            }
            _ => {
                self.closing = true;
                Ok(Step::Send(releasedir(self.dir, fh)))
            }
        }
    }
}
