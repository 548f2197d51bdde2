//! Extended attribute requests: SETXATTR, GETXATTR, LISTXATTR.

use std::ffi::CStr;

use fuse_backend_rs::abi::fuse_abi::{GetxattrOut, SetxattrIn};
use fuse_backend_rs::api::filesystem::{GetxattrReply, ListxattrReply};

use super::{errno, Backend, Ctx, Errno, Server};
use crate::fuse::decode::XATTR_SIZE_MAX;

/// Largest LISTXATTR reply Linux asks for (XATTR_LIST_MAX).
const XATTR_LIST_MAX: u32 = 65536;

impl<F: Backend> Server<F> {
    pub(super) fn setxattr(
        &self,
        c: &mut Ctx<'_, '_>,
        a: SetxattrIn,
        name: &CStr,
        value: &[u8],
    ) -> Result<(), Errno> {
        self.fs
            .setxattr(&c.ctx, c.h.nodeid, name, value, a.flags)
            .map_err(errno)
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
