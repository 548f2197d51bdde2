//! Extended attributes: set, get, list, remove.

use fuse_backend_rs::abi::fuse_abi::{GetxattrIn, GetxattrOut};
use vm_memory_fbr::ByteValued;

use super::opcode::{self, init};
use super::reply::fixed;
use super::{cstr, Client, MAX_IO};
use crate::error::{Error, Result};

/// The answer to GETXATTR or LISTXATTR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrReply {
    /// Asked with size 0: the size needed.
    Size(u32),
    /// The value (or the NUL-separated list of names).
    Data(Vec<u8>),
}

impl Client {
    /// SETXATTR `name` = `value` with `flags` (XATTR_CREATE 1, XATTR_REPLACE 2). Uses the
    /// extended form when INIT agreed on FUSE_SETXATTR_EXT, as Linux does.
    pub fn setxattr(
        &self,
        nodeid: u64,
        name: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
    ) -> Result<()> {
        self.setxattr_ext(nodeid, name, value, flags, 0)
    }

    /// SETXATTR with `setxattr_flags` in the extended form (FUSE_SETXATTR_ACL_KILL_SGID 1),
    /// which Linux sends only once INIT agreed on FUSE_SETXATTR_EXT (dropped otherwise).
    pub fn setxattr_ext(
        &self,
        nodeid: u64,
        name: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
        setxattr_flags: u32,
    ) -> Result<()> {
        let size = u32::try_from(value.len())
            .map_err(|_| Error::InvalidRequest("xattr value over 4 GiB".into()))?;
        let mut head = Vec::with_capacity(16);
        head.extend(size.to_le_bytes());
        head.extend(flags.to_le_bytes());
        if self.has(init::SETXATTR_EXT) {
            // setxattr_flags (ACL kill-sgid), padding
            head.extend(setxattr_flags.to_le_bytes());
            head.extend([0u8; 4]);
        }
        self.call(opcode::SETXATTR, nodeid, &[&head, &cstr(name), value], 0)
            .map(drop)
    }

    fn xattr_reply(&self, b: Vec<u8>, size: u32, what: &str) -> Result<XattrReply> {
        if size == 0 {
            let o: GetxattrOut = fixed(&b, what)?;
            return Ok(XattrReply::Size(o.size));
        }
        if b.len() > size as usize {
            return Err(Error::BadReply(format!(
                "{what} of {size} returned {}",
                b.len()
            )));
        }
        Ok(XattrReply::Data(b))
    }

    /// GETXATTR; `size` 0 asks for the length.
    pub fn getxattr(&self, nodeid: u64, name: impl AsRef<[u8]>, size: u32) -> Result<XattrReply> {
        let a = GetxattrIn { size, padding: 0 };
        let room = if size == 0 { 8 } else { size.min(MAX_IO) };
        let b = self.call(opcode::GETXATTR, nodeid, &[a.as_slice(), &cstr(name)], room)?;
        self.xattr_reply(b, size, "GETXATTR")
    }

    /// LISTXATTR; `size` 0 asks for the length.
    pub fn listxattr(&self, nodeid: u64, size: u32) -> Result<XattrReply> {
        let a = GetxattrIn { size, padding: 0 };
        let room = if size == 0 { 8 } else { size.min(MAX_IO) };
        let b = self.call(opcode::LISTXATTR, nodeid, &[a.as_slice()], room)?;
        self.xattr_reply(b, size, "LISTXATTR")
    }

    /// REMOVEXATTR.
    pub fn removexattr(&self, nodeid: u64, name: impl AsRef<[u8]>) -> Result<()> {
        self.call(opcode::REMOVEXATTR, nodeid, &[&cstr(name)], 0)
            .map(drop)
    }
}
