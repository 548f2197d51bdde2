//! Extended attribute requests: SETXATTR, GETXATTR, LISTXATTR.

use std::ffi::CStr;

use fuse_backend_rs::abi::fuse_abi::{GetxattrOut, SetattrValid, SetxattrIn};
use fuse_backend_rs::api::filesystem::{GetxattrReply, ListxattrReply};

use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::decode::XATTR_SIZE_MAX;
use ferry_fuse::setxattr::ACL_KILL_SGID as SETXATTR_ACL_KILL_SGID;

/// The attribute that holds a file's access ACL.
const POSIX_ACL_ACCESS: &CStr = c"system.posix_acl_access";

/// Largest LISTXATTR reply Linux asks for (XATTR_LIST_MAX).
const XATTR_LIST_MAX: u32 = 65536;

impl<F: Backend> Server<F> {
    pub(super) fn setxattr(
        &self,
        c: &mut Ctx<'_, '_>,
        a: SetxattrIn,
        setxattr_flags: u32,
        name: &CStr,
        value: &[u8],
    ) -> Result<(), Errno> {
        self.fs
            .setxattr(&c.ctx, c.h.nodeid, name, value, a.flags)
            .map_err(errno)?;
        // The daemon (CAP_FSETID) keeps the setgid bit where the guest's caller would lose it
        // by setting an access ACL: the guest says so, and the bit goes here.
        if setxattr_flags & SETXATTR_ACL_KILL_SGID != 0 && name == POSIX_ACL_ACCESS {
            let (st, _) = self.fs.getattr(&c.ctx, c.h.nodeid, None).map_err(errno)?;
            if st.st_mode & libc::S_ISGID != 0 {
                // SAFETY: stat64 is plain data; zero is valid for every field.
                let mut attr: libc::stat64 = unsafe { std::mem::zeroed() };
                attr.st_mode = st.st_mode & 0o7777 & !libc::S_ISGID;
                self.fs
                    .setattr(&c.ctx, c.h.nodeid, attr, None, SetattrValid::MODE)
                    .map_err(errno)?;
            }
        }
        Ok(())
    }

    pub(super) fn getxattr(
        &self,
        c: &mut Ctx<'_, '_>,
        size: u32,
        name: &CStr,
    ) -> Result<(), Errno> {
        let size = size.min(XATTR_SIZE_MAX as u32);
        match self
            .fs
            .getxattr(&c.ctx, c.h.nodeid, name, size)
            .map_err(errno)?
        {
            GetxattrReply::Value(v) if v.len() > size as usize => return Err(libc::ERANGE),
            GetxattrReply::Value(v) => c.reply.push_bytes(&v),
            GetxattrReply::Count(n) => c.reply.push_obj(&GetxattrOut {
                size: n,
                padding: 0,
            }),
        }
        Ok(())
    }

    pub(super) fn listxattr(&self, c: &mut Ctx<'_, '_>, size: u32) -> Result<(), Errno> {
        let size = size.min(XATTR_LIST_MAX);
        match self.fs.listxattr(&c.ctx, c.h.nodeid, size).map_err(errno)? {
            ListxattrReply::Names(v) if v.len() > size as usize => return Err(libc::ERANGE),
            ListxattrReply::Names(v) => c.reply.push_bytes(&v),
            ListxattrReply::Count(n) => c.reply.push_obj(&GetxattrOut {
                size: n,
                padding: 0,
            }),
        }
        Ok(())
    }
}
