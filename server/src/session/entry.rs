//! Name and attribute requests: LOOKUP, GETATTR, SETATTR, READLINK, and the ones that create
//! directory entries (MKNOD, MKDIR, SYMLINK, LINK).

use std::ffi::CStr;
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{
    Attr, AttrOut, EntryOut, GetattrIn, MkdirIn, MknodIn, SetattrIn, SetattrValid, FATTR_FH,
    GETATTR_FH, ROOT_ID,
};
use fuse_backend_rs::api::filesystem::Entry;

use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::statx::{self, StatxIn};
use crate::name::{LookupName, Name};

const DOT: &CStr = c".";
const DOTDOT: &CStr = c"..";

impl<F: Backend> Server<F> {
    /// `st` with its owner in the guest's ids.
    fn owner_to_guest(&self, st: &mut libc::stat64) {
        let ids = &self.opts.ids;
        if !ids.is_identity() {
            (st.st_uid, st.st_gid) = ids.owner_to_guest(st.st_uid, st.st_gid);
        }
    }

    /// An entry as the guest is told of it (every entry a reply carries passes here).
    pub(super) fn entry_out(&self, mut e: Entry) -> EntryOut {
        self.owner_to_guest(&mut e.attr);
        e.entry_timeout = self.granted(e.entry_timeout);
        e.attr_timeout = self.granted_attr(e.attr_timeout, e.attr.st_mode, e.attr.st_nlink);
        e.attr_flags |= self.dax_attr(&e.attr);
        EntryOut::from(e)
    }

    pub(super) fn attr_out(&self, mut st: libc::stat64, valid: Duration) -> AttrOut {
        self.owner_to_guest(&mut st);
        let valid = self.granted_attr(valid, st.st_mode, st.st_nlink);
        let mut attr = Attr::from(st);
        attr.flags |= self.dax_attr(&st);
        AttrOut {
            attr_valid: valid.as_secs(),
            attr_valid_nsec: valid.subsec_nanos(),
            dummy: 0,
            attr,
        }
    }

    fn reply_entry(&self, c: &mut Ctx<'_, '_>, e: Entry) -> Result<(), Errno> {
        c.reply.push_obj(&self.entry_out(e));
        Ok(())
    }

    pub(super) fn lookup(&self, c: &mut Ctx<'_, '_>, name: LookupName<'_>) -> Result<(), Errno> {
        let parent = c.h.nodeid;
        let name = match name {
            LookupName::Name(n) => n.as_cstr(),
            LookupName::Dot => DOT,
            // `..` of the shared root is the root itself: never the directory above it.
            LookupName::DotDot if parent == ROOT_ID => DOT,
            LookupName::DotDot => DOTDOT,
        };
        let e = self.fs.lookup(&c.ctx, parent, name).map_err(errno)?;
        self.reply_entry(c, e)
    }

    pub(super) fn getattr(&self, c: &mut Ctx<'_, '_>, a: GetattrIn) -> Result<(), Errno> {
        let fh = (a.flags & GETATTR_FH != 0).then_some(a.fh);
        let (st, valid) = self.fs.getattr(&c.ctx, c.h.nodeid, fh).map_err(errno)?;
        c.reply.push_obj(&self.attr_out(st, valid));
        Ok(())
    }

    pub(super) fn statx(&self, c: &mut Ctx<'_, '_>, a: StatxIn) -> Result<(), Errno> {
        let fh = (a.getattr_flags & GETATTR_FH != 0).then_some(a.fh);
        let (mut st, valid) = self
            .fs
            .statx(&c.ctx, c.h.nodeid, fh, a.sx_flags, a.sx_mask)
            .map_err(errno)?;
        let ids = &self.opts.ids;
        if !ids.is_identity() {
            (st.stx_uid, st.stx_gid) = ids.owner_to_guest(st.stx_uid, st.stx_gid);
        }
        let valid = self.granted_attr(valid, u32::from(st.stx_mode), u64::from(st.stx_nlink));
        c.reply.push_bytes(&statx::encode_out(&st, valid, 0));
        Ok(())
    }

    pub(super) fn setattr(&self, c: &mut Ctx<'_, '_>, a: SetattrIn) -> Result<(), Errno> {
        let fh = (a.valid & FATTR_FH != 0).then_some(a.fh);
        let valid = SetattrValid::from_bits_truncate(a.valid);
        let mut attr: libc::stat64 = a.into();
        // The owner to set, in the host's ids; one outside the map is no owner at all (EINVAL,
        // as chown(2) to an id a user namespace does not map).
        let ids = &self.opts.ids;
        if valid.contains(SetattrValid::UID) {
            attr.st_uid = ids.uid.to_host(attr.st_uid).ok_or(libc::EINVAL)?;
        }
        if valid.contains(SetattrValid::GID) {
            attr.st_gid = ids.gid.to_host(attr.st_gid).ok_or(libc::EINVAL)?;
        }
        let (st, v) = self
            .fs
            .setattr(&c.ctx, c.h.nodeid, attr, fh, valid)
            .map_err(errno)?;
        c.reply.push_obj(&self.attr_out(st, v));
        Ok(())
    }

    pub(super) fn readlink(&self, c: &mut Ctx<'_, '_>) -> Result<(), Errno> {
        let target = self.fs.readlink(&c.ctx, c.h.nodeid).map_err(errno)?;
        c.reply.push_bytes(&target);
        Ok(())
    }

    pub(super) fn symlink(
        &self,
        c: &mut Ctx<'_, '_>,
        name: Name<'_>,
        target: &CStr,
    ) -> Result<(), Errno> {
        let e = self
            .fs
            .symlink(&c.ctx, target, c.h.nodeid, name.as_cstr())
            .map_err(errno)?;
        self.reply_entry(c, e)
    }

    pub(super) fn mknod(
        &self,
        c: &mut Ctx<'_, '_>,
        a: MknodIn,
        name: Name<'_>,
    ) -> Result<(), Errno> {
        let e = self
            .fs
            .mknod(&c.ctx, c.h.nodeid, name.as_cstr(), a.mode, a.rdev, a.umask)
            .map_err(errno)?;
        self.reply_entry(c, e)
    }

    pub(super) fn mkdir(
        &self,
        c: &mut Ctx<'_, '_>,
        a: MkdirIn,
        name: Name<'_>,
    ) -> Result<(), Errno> {
        let e = self
            .fs
            .mkdir(&c.ctx, c.h.nodeid, name.as_cstr(), a.mode, a.umask)
            .map_err(errno)?;
        self.reply_entry(c, e)
    }

    pub(super) fn link(&self, c: &mut Ctx<'_, '_>, old: u64, name: Name<'_>) -> Result<(), Errno> {
        if old == 0 {
            return Err(libc::EBADF);
        }
        let e = self
            .fs
            .link(&c.ctx, old, c.h.nodeid, name.as_cstr())
            .map_err(errno)?;
        self.reply_entry(c, e)
    }
}
