//! Extended attributes (`--xattr`): reached through /proc/self/fd/N, the magic link naming the
//! inode itself, so they work on O_PATH fds and never follow a symlink. Every name passes
//! through the daemon's [`XattrMap`] (virtiofsd's `--xattrmap`, or ferryd's default, which
//! keeps the guest's `security.*` and `trusted.*` off the host's own namespaces).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use fuse_backend_rs::api::filesystem::{GetxattrReply, ListxattrReply};

use super::inode::Node;
use super::{err, sys, LinuxFs};
use crate::fs::xattrmap::XattrMap;

/// XATTR_SIZE_MAX: no attribute value is larger.
const XATTR_SIZE_MAX: u32 = 64 * 1024;
/// XATTR_LIST_MAX: no host list of names is larger.
const XATTR_LIST_MAX: usize = 64 * 1024;

impl LinuxFs {
    /// The map and the inode a request reaches (held for the call, so its fd number cannot be
    /// closed and reused meanwhile).
    fn xattr_inode(&self, node: u64) -> io::Result<(&XattrMap, Node)> {
        // ENOSYS: the guest stops asking.
        let map = self.opts.xattr.as_ref().ok_or_else(|| err(libc::ENOSYS))?;
        Ok((map, self.inodes.get(node)?))
    }

    pub(super) fn do_getxattr(
        &self,
        node: u64,
        name: &CStr,
        size: u32,
    ) -> io::Result<GetxattrReply> {
        let (map, i) = self.xattr_inode(node)?;
        let name = map.to_host(name).map_err(err)?;
        let fd = i.fd().as_raw_fd();
        let mut buf = vec![0u8; size.min(XATTR_SIZE_MAX) as usize];
        let n = sys::xattr::get(fd, &name, &mut buf)?;
        if size == 0 {
            return Ok(GetxattrReply::Count(n as u32));
        }
        buf.truncate(n);
        Ok(GetxattrReply::Value(buf))
    }

    pub(super) fn do_listxattr(&self, node: u64, size: u32) -> io::Result<ListxattrReply> {
        let (map, i) = self.xattr_inode(node)?;
        let fd = i.fd().as_raw_fd();
        // The whole host list, whatever the guest asked: only the mapped list has the size the
        // guest must be told.
        let mut buf = vec![0u8; XATTR_LIST_MAX];
        let n = sys::xattr::list(fd, &mut buf)?;
        buf.truncate(n);
        let names = map.list_to_guest(&buf);
        match size {
            0 => Ok(ListxattrReply::Count(names.len() as u32)),
            s if names.len() > s as usize => Err(err(libc::ERANGE)),
            _ => Ok(ListxattrReply::Names(names)),
        }
    }

    pub(super) fn do_setxattr(
        &self,
        node: u64,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        let (map, i) = self.xattr_inode(node)?;
        let host = map.to_host(name).map_err(err)?;
        sys::xattr::set(i.fd().as_raw_fd(), &host, value, flags)?;
        if XattrMap::is_caps(name) {
            i.caps_set();
        }
        Ok(())
    }

    pub(super) fn do_removexattr(&self, node: u64, name: &CStr) -> io::Result<()> {
        let (map, i) = self.xattr_inode(node)?;
        let host = map.to_host(name).map_err(err)?;
        sys::xattr::remove(i.fd().as_raw_fd(), &host)
    }

    /// Drops the guest's file capabilities from `node` where the map keeps them under another
    /// name, as the host kernel drops `security.capability` itself on a write, truncate or
    /// chown (CVE-2021-20263: a remapped capability that survived writes). One removexattr per
    /// node at most until the guest sets the capability again. `fd` is any fd of the file (the
    /// request's own: the node's O_PATH fd is not reopened for this).
    pub(super) fn kill_remapped_caps(&self, node: u64, fd: BorrowedFd<'_>) -> io::Result<()> {
        let Some(name) = &self.caps_name else {
            return Ok(());
        };
        let i = self.inodes.inode(node)?;
        let seen = i.caps_seen();
        if !i.is_reg() || seen == 0 {
            return Ok(());
        }
        remove_caps(fd.as_raw_fd(), name)?;
        i.caps_gone(seen);
        Ok(())
    }

    /// As [`LinuxFs::kill_remapped_caps`], for a file the guest holds no node of yet.
    pub(super) fn kill_remapped_caps_at(&self, fd: RawFd) -> io::Result<()> {
        match &self.caps_name {
            Some(name) => remove_caps(fd, name),
            None => Ok(()),
        }
    }
}

/// Removes the attribute `name` from the file `fd` if it is there.
fn remove_caps(fd: RawFd, name: &CStr) -> io::Result<()> {
    match sys::xattr::remove(fd, name) {
        Err(e) if !matches!(e.raw_os_error(), Some(libc::ENODATA | libc::ENOTSUP)) => Err(e),
        _ => Ok(()),
    }
}
