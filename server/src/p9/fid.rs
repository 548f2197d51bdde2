//! A session's fids and the backend nodes they hold.
//!
//! Every fid names one node, and holds it: the session counts the fids on each node and the
//! backend lookups it took for it, and gives those lookups back (FORGET) when the last fid on
//! the node goes. A fid made by a walk also holds the directory it was found in, so Tremove
//! and Trename (which name a file by its fid alone) can act on its name there.

use std::collections::HashMap;
use std::ffi::CString;

use super::Errno;

/// What a fid is for.
#[derive(Debug)]
pub(super) enum Kind {
    /// Names a node (walks, attributes, creations in it).
    Node,
    /// Opened by Tlopen or Tlcreate: the backend's handle.
    Open { handle: u64, dir: bool, flags: u32 },
    /// Txattrwalk's result: a value or a name list, read with Tread.
    XattrRead(Vec<u8>),
    /// Txattrcreate's: the value being written, set on Tclunk.
    XattrWrite {
        name: CString,
        size: usize,
        flags: u32,
        value: Vec<u8>,
    },
}

#[derive(Debug)]
pub(super) struct Fid {
    pub node: u64,
    /// The S_IFMT bits of the node.
    pub kind_of_file: u32,
    /// The caller every request through this fid acts as (Tattach's n_uname).
    pub uid: u32,
    pub gid: u32,
    /// The directory it was walked to from, and its name there.
    pub origin: Option<(u64, CString)>,
    pub kind: Kind,
}

impl Fid {
    pub fn is_dir(&self) -> bool {
        self.kind_of_file == libc::S_IFDIR
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Held {
    fids: u64,
    lookups: u64,
}

/// The fid table (bounded) and the count of what it holds on each node.
#[derive(Debug)]
pub(super) struct Fids {
    fids: HashMap<u32, Fid>,
    held: HashMap<u64, Held>,
    max: usize,
}

impl Fids {
    pub fn new(max: usize) -> Self {
        Fids {
            fids: HashMap::new(),
            held: HashMap::new(),
            max,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.fids.len()
    }

    pub fn get(&self, fid: u32) -> Result<&Fid, Errno> {
        self.fids.get(&fid).ok_or(libc::EBADF)
    }

    pub fn get_mut(&mut self, fid: u32) -> Result<&mut Fid, Errno> {
        self.fids.get_mut(&fid).ok_or(libc::EBADF)
    }

    /// Whether `fid` can be created: not in use, and room in the table.
    pub fn check_new(&self, fid: u32) -> Result<(), Errno> {
        if self.fids.contains_key(&fid) {
            return Err(libc::EBADF);
        }
        if self.fids.len() >= self.max {
            return Err(libc::EMFILE);
        }
        Ok(())
    }

    /// Records one backend lookup of `node` (a LOOKUP, or an entry a creation returned).
    pub fn looked_up(&mut self, node: u64) {
        self.held.entry(node).or_default().lookups += 1;
    }

    /// Installs `f` under `fid` (checked with [`Fids::check_new`]).
    pub fn insert(&mut self, fid: u32, f: Fid) {
        self.hold(f.node);
        if let Some((dir, _)) = &f.origin {
            self.hold(*dir);
        }
        self.fids.insert(fid, f);
    }

    /// Removes `fid`; the caller releases what it held with [`Fids::release`].
    pub fn remove(&mut self, fid: u32) -> Result<Fid, Errno> {
        self.fids.remove(&fid).ok_or(libc::EBADF)
    }

    /// Every fid, removed (Tversion, the end of a connection).
    pub fn drain(&mut self) -> Vec<Fid> {
        self.fids.drain().map(|(_, f)| f).collect()
    }

    /// Counts one more fid holding `node`.
    pub fn hold(&mut self, node: u64) {
        self.held.entry(node).or_default().fids += 1;
    }

    /// Drops one fid's hold on `node`.
    pub fn unhold(&mut self, node: u64) {
        if let Some(h) = self.held.get_mut(&node) {
            h.fids = h.fids.saturating_sub(1);
        }
    }

    /// The lookups to give back: those of every node no fid holds any more.
    pub fn unheld(&mut self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        self.held.retain(|&node, h| {
            if h.fids > 0 {
                return true;
            }
            if h.lookups > 0 {
                out.push((node, h.lookups));
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fid(node: u64, origin: Option<u64>) -> Fid {
        Fid {
            node,
            kind_of_file: libc::S_IFREG,
            uid: 0,
            gid: 0,
            origin: origin.map(|d| (d, c"n".to_owned())),
            kind: Kind::Node,
        }
    }

    #[test]
    fn lookups_go_back_when_the_last_fid_goes() {
        let mut t = Fids::new(4);
        t.looked_up(5);
        t.looked_up(5);
        t.looked_up(9);
        t.insert(1, fid(5, Some(9)));
        t.insert(2, fid(5, None));
        assert_eq!(t.unheld(), vec![]);
        let f = t.remove(1).unwrap();
        t.unhold(f.node);
        t.unhold(9);
        assert_eq!(t.unheld(), vec![(9, 1)]);
        let f = t.remove(2).unwrap();
        t.unhold(f.node);
        assert_eq!(t.unheld(), vec![(5, 2)]);
        assert_eq!(t.remove(2).unwrap_err(), libc::EBADF);
    }

    #[test]
    fn the_table_is_bounded_and_fids_are_not_reused() {
        let mut t = Fids::new(2);
        t.insert(1, fid(1, None));
        assert_eq!(t.check_new(1), Err(libc::EBADF));
        t.insert(2, fid(1, None));
        assert_eq!(t.check_new(3), Err(libc::EMFILE));
    }
}
