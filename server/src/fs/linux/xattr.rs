//! Extended attributes (`--xattr`): reached through /proc/self/fd/N, the magic link naming the
//! inode itself, so they work on O_PATH fds and never follow a symlink.

use std::ffi::CStr;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use fuse_backend_rs::api::filesystem::{GetxattrReply, ListxattrReply};

use super::inode::Inode;
use super::{err, sys, LinuxFs};

/// XATTR_SIZE_MAX: no attribute value or list is larger.
const XATTR_SIZE_MAX: u32 = 64 * 1024;

impl LinuxFs {
    /// The inode whose attributes a request reaches (held for the call, so its fd number
    /// cannot be closed and reused meanwhile).
    fn xattr_inode(&self, node: u64) -> io::Result<Arc<Inode>> {
        if !self.opts.xattr {
            // ENOSYS: the guest stops asking.
            return Err(err(libc::ENOSYS));
        }
        self.inodes.get(node)
    }

    pub(super) fn do_getxattr(
        &self,
        node: u64,
        name: &CStr,
        size: u32,
    ) -> io::Result<GetxattrReply> {
        let i = self.xattr_inode(node)?;
        let fd = i.fd().as_raw_fd();
        let mut buf = vec![0u8; size.min(XATTR_SIZE_MAX) as usize];
        let n = sys::xattr::get(fd, name, &mut buf)?;
        if size == 0 {
            return Ok(GetxattrReply::Count(n as u32));
        }
        buf.truncate(n);
        Ok(GetxattrReply::Value(buf))
    }

    pub(super) fn do_listxattr(&self, node: u64, size: u32) -> io::Result<ListxattrReply> {
        let i = self.xattr_inode(node)?;
        let fd = i.fd().as_raw_fd();
        let mut buf = vec![0u8; size.min(XATTR_SIZE_MAX) as usize];
        let n = sys::xattr::list(fd, &mut buf)?;
        if size == 0 {
            return Ok(ListxattrReply::Count(n as u32));
        }
        buf.truncate(n);
        Ok(ListxattrReply::Names(buf))
    }

    pub(super) fn do_setxattr(
        &self,
        node: u64,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        let i = self.xattr_inode(node)?;
        let fd = i.fd().as_raw_fd();
        sys::xattr::set(fd, name, value, flags)
    }

    pub(super) fn do_removexattr(&self, node: u64, name: &CStr) -> io::Result<()> {
        let i = self.xattr_inode(node)?;
        let fd = i.fd().as_raw_fd();
        sys::xattr::remove(fd, name)
    }
}
