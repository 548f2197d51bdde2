//! Each workload's setup on a connected daemon (node ids, open handles) and its op factory.

use std::sync::Arc;

use ferry_guest_client::{Client, Window, ROOT};

use crate::cli::{BenchArgs, Workload};
use crate::engine;
use crate::ops::{CreateUnlink, DaxRead, Io, Listing, Stat};
use crate::prepare::tree_path;

/// A workload ready to run on one daemon, and what to undo afterwards.
pub struct Ready {
    pub ops: Box<dyn engine::Workload>,
    /// (node id, file handle) to RELEASE at the end.
    open: Option<(u64, u64)>,
    /// Nodes looked up during setup.
    looked_up: Vec<u64>,
}

impl Ready {
    /// Releases the handle and forgets the setup's lookups.
    pub fn finish(self, c: &Client) -> Result<(), String> {
        if let Some((node, fh)) = self.open {
            c.release(node, fh, libc::O_RDWR as u32)
                .map_err(|e| format!("RELEASE: {e}"))?;
        }
        let f: Vec<(u64, u64)> = self.looked_up.iter().map(|&n| (n, 1)).collect();
        if !f.is_empty() {
            c.batch_forget(&f)
                .map_err(|e| format!("BATCH_FORGET: {e}"))?;
        }
        Ok(())
    }
}

/// A cheap deterministic mix of `i` (splitmix64), for random offsets.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Meta {
    dir: u64,
    files: u64,
}

impl engine::Workload for Meta {
    fn op(&self, i: u64) -> Box<dyn engine::Op> {
        Box::new(Stat::new(self.dir, vec![format!("f{}", i % self.files)]))
    }
}

struct Create {
    dir: u64,
    round: String,
    release_zero: bool,
}

impl engine::Workload for Create {
    fn op(&self, i: u64) -> Box<dyn engine::Op> {
        Box::new(CreateUnlink {
            parent: self.dir,
            name: format!("c{}-{i}", self.round),
            state: 0,
            node: 0,
            release_zero: self.release_zero,
        })
    }
}

struct Readdir {
    dir: u64,
    size: u32,
}

impl engine::Workload for Readdir {
    fn op(&self, _: u64) -> Box<dyn engine::Op> {
        Box::new(Listing {
            dir: self.dir,
            size: self.size,
            fh: None,
            cookie: 0,
            closing: false,
        })
    }
}

struct File {
    node: u64,
    fh: u64,
    size: u32,
    blocks: u64,
    random: bool,
    data: Option<Arc<Vec<u8>>>,
}

impl engine::Workload for File {
    fn op(&self, i: u64) -> Box<dyn engine::Op> {
        let block = if self.random { mix(i) } else { i } % self.blocks;
        Box::new(Io {
            node: self.node,
            fh: self.fh,
            offset: block * u64::from(self.size),
            size: self.size,
            data: self.data.clone(),
            sent: false,
        })
    }
}

/// The size of each DAX mapping, as Linux maps.
const DAX_CHUNK: u64 = 2 << 20;

struct Dax {
    node: u64,
    fh: u64,
    chunks: u64,
    slots: u64,
    window: Arc<Window>,
}

impl engine::Workload for Dax {
    fn op(&self, i: u64) -> Box<dyn engine::Op> {
        Box::new(DaxRead {
            node: self.node,
            fh: self.fh,
            foffset: (i % self.chunks) * DAX_CHUNK,
            moffset: (i % self.slots) * DAX_CHUNK,
            len: DAX_CHUNK,
            window: Arc::clone(&self.window),
            sent: false,
        })
    }
}

struct Tree {
    files: u64,
}

impl engine::Workload for Tree {
    fn op(&self, i: u64) -> Box<dyn engine::Op> {
        Box::new(Stat::new(ROOT, tree_path(i % self.files)))
    }
}

fn lookup(c: &Client, parent: u64, name: &str, looked: &mut Vec<u64>) -> Result<u64, String> {
    let e = c
        .lookup(parent, name)
        .map_err(|e| format!("LOOKUP {name}: {e}"))?;
    looked.push(e.nodeid);
    Ok(e.nodeid)
}

/// Opens a file once, as every guest does early on: a Linux guest learns at its first OPEN of
/// a file whether the daemon chose zero-message opens (OPEN answered ENOSYS), and from then on
/// sends no RELEASE for the files it opens or creates. The file, made for this, goes again.
fn warm_up_opens(c: &Client, dir: u64, tag: &str, looked: &mut Vec<u64>) -> Result<(), String> {
    let name = format!("warm-{tag}");
    let rw = libc::O_RDWR as u32;
    let (e, o) = c
        .create(dir, &name, rw, 0o644, 0o022)
        .map_err(|e| format!("CREATE {name}: {e}"))?;
    looked.push(e.nodeid);
    c.release(e.nodeid, o.fh, rw)
        .map_err(|e| format!("RELEASE {name}: {e}"))?;
    let o = c
        .open(e.nodeid, libc::O_RDONLY as u32)
        .map_err(|e| format!("OPEN {name}: {e}"))?;
    c.release(e.nodeid, o.fh, libc::O_RDONLY as u32)
        .map_err(|e| format!("RELEASE {name}: {e}"))?;
    c.unlink(dir, &name)
        .map_err(|e| format!("UNLINK {name}: {e}"))
}

/// Sets workload `w` up on `c` (the data set is already prepared on the host). `tag` makes
/// the names of created files unique across runs.
pub fn setup(c: &Client, w: Workload, a: &BenchArgs, tag: &str) -> Result<Ready, String> {
    let mut looked = Vec::new();
    let max_write = c.session().map(|s| s.max_write).unwrap_or(1 << 20);
    let mut open = None;
    let ops: Box<dyn engine::Workload> = match w {
        Workload::Meta => Box::new(Meta {
            dir: lookup(c, ROOT, "meta", &mut looked)?,
            files: a.files,
        }),
        Workload::Create => {
            // A fresh directory per run: ext4 places a new directory's inodes in another
            // group, so one run's freshly deleted inodes (which ext4 skips over for a while
            // when allocating) do not slow the next run down.
            let top = lookup(c, ROOT, "create", &mut looked)?;
            let name = format!("run-{tag}");
            let d = c
                .mkdir(top, &name, 0o755, 0o022)
                .map_err(|e| format!("MKDIR create/{name}: {e}"))?;
            looked.push(d.nodeid);
            warm_up_opens(c, d.nodeid, tag, &mut looked)?;
            Box::new(Create {
                dir: d.nodeid,
                round: tag.to_string(),
                release_zero: c.releases(0),
            })
        }
        Workload::Readdirplus => Box::new(Readdir {
            dir: lookup(c, ROOT, "big", &mut looked)?,
            size: u32::try_from(a.readdir_size)
                .unwrap_or(1 << 20)
                .min(1 << 20),
        }),
        Workload::Seqread | Workload::Seqwrite | Workload::Randread | Workload::Randwrite => {
            let write = matches!(w, Workload::Seqwrite | Workload::Randwrite);
            let data = lookup(c, ROOT, "data", &mut looked)?;
            let name = if write { "write.bin" } else { "read.bin" };
            let node = lookup(c, data, name, &mut looked)?;
            let flags = if write { libc::O_RDWR } else { libc::O_RDONLY } as u32;
            let fh = c
                .open(node, flags)
                .map_err(|e| format!("OPEN {name}: {e}"))?
                .fh;
            open = Some((node, fh));
            let random = matches!(w, Workload::Randread | Workload::Randwrite);
            let size = if random {
                4096
            } else {
                u32::try_from(a.request_size)
                    .unwrap_or(u32::MAX)
                    .min(max_write)
            };
            let blocks = (a.file_size / u64::from(size)).max(1);
            Box::new(File {
                node,
                fh,
                size,
                blocks,
                random,
                data: write.then(|| Arc::new(vec![0x5a; size as usize])),
            })
        }
        Workload::Devtree => Box::new(Tree {
            files: a.tree_files,
        }),
        Workload::Daxread => {
            let window = c
                .device()
                .window()
                .cloned()
                .ok_or("the daemon offers no DAX cache window (ferryd --dax-window SIZE)")?;
            let slots = window.size() / DAX_CHUNK;
            let chunks = a.file_size / DAX_CHUNK;
            if slots == 0 || chunks == 0 {
                return Err(
                    "daxread maps 2 MiB ranges: it needs a window and a --file-size of at least 2M"
                        .into(),
                );
            }
            let data = lookup(c, ROOT, "data", &mut looked)?;
            let node = lookup(c, data, "read.bin", &mut looked)?;
            let fh = c
                .open(node, libc::O_RDONLY as u32)
                .map_err(|e| format!("OPEN read.bin: {e}"))?
                .fh;
            open = Some((node, fh));
            Box::new(Dax {
                node,
                fh,
                chunks,
                slots,
                window,
            })
        }
    };
    Ok(Ready {
        ops,
        open,
        looked_up: looked,
    })
}
