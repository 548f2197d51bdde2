//! Directories: OPENDIR, READDIR, READDIRPLUS. POSIX gives no portable cookie to resume a
//! listing from (telldir values belong to one stream), so a handle keeps the listing it read
//! (at OPENDIR, and again when the guest starts over at offset 0) and positions are indexes
//! into it: as POSIX allows, entries made or removed after the listing was read may or may not
//! show. `.` and `..` are left out (the server lists them itself).

use std::io;

use fuse_backend_rs::abi::fuse_abi::OpenOptions;
use fuse_backend_rs::api::filesystem::{DirEntry, Entry};

use super::handles::Open;
use super::sys;
use super::PortableFs;
use crate::fs::rules;

impl PortableFs {
    pub(super) fn do_opendir(&self, node: u64) -> io::Result<(u64, OpenOptions)> {
        let n = self.dir_node(node)?;
        let listing = sys::list(n.dir()?)?;
        let fh = self
            .handles
            .insert(node, Open::Dir(std::sync::Mutex::new(listing)));
        Ok((fh, rules::open_options(self.opts.cache, true)))
    }

    /// Lists entries from `offset` until `add` returns 0 (reply full) or the listing ends.
    /// With `plus`, each entry is looked up and `add` gets its Entry; a reference the reply
    /// could not carry is given back at once.
    pub(super) fn do_readdir(
        &self,
        node: u64,
        fh: u64,
        _size: u32,
        offset: u64,
        add: &mut dyn FnMut(DirEntry, Option<Entry>) -> io::Result<usize>,
        plus: bool,
    ) -> io::Result<()> {
        let h = self.handles.get(fh, node)?;
        let dir = self.dir_node(node)?;
        let mut listing = h
            .listing()?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if offset == 0 {
            *listing = sys::list(dir.dir()?)?;
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, ent) in listing.iter().enumerate().skip(start) {
            let d = DirEntry {
                ino: ent.ino,
                offset: i as u64 + 1,
                type_: u32::from(ent.typ),
                name: ent.name.to_bytes(),
            };
            let e = if plus {
                match self.lookup_in(&dir, &ent.name) {
                    Ok(e) => Some(e),
                    Err(x) => match rules::unlooked(&x, ent.ino) {
                        Some(e) => Some(e),
                        None => continue,
                    },
                }
            } else {
                None
            };
            let taken = e.as_ref().map(|e| e.inode).filter(|&n| n != 0);
            if add(d, e)? == 0 {
                if let Some(n) = taken {
                    self.nodes.forget(n, 1);
                }
                return Ok(());
            }
        }
        Ok(())
    }
}
