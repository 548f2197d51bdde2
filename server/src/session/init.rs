//! FUSE_INIT: version and feature negotiation.

use std::sync::atomic::Ordering;

use fuse_backend_rs::abi::fuse_abi::{FsOptions, InitOut};
use log::{error, info};
use vm_memory_fbr::ByteValued;

use super::{errno, Backend, Ctx, Errno, Readdirplus, Server};
use crate::fuse::decode::MAX_WRITE;
use crate::fuse::mapping::MAP_ALIGNMENT_SHIFT;
use crate::fuse::{KERNEL_MINOR_VERSION, KERNEL_VERSION};
// FUSE_DIRECT_IO_ALLOW_MMAP (7.39) is not among fuse-backend-rs's named flags.
use ferry_fuse::init::{DIRECT_IO_ALLOW_MMAP, HAS_INODE_DAX, INIT_EXT, SETXATTR_EXT};

/// Pages per request: 1 MiB with 4 KiB pages.
const MAX_PAGES: u16 = (MAX_WRITE / 4096) as u16;

impl<F: Backend> Server<F> {
    /// The features the server itself handles, whatever the backend.
    fn server_wants(&self) -> FsOptions {
        let mut o = FsOptions::ASYNC_READ
            | FsOptions::PARALLEL_DIROPS
            | FsOptions::BIG_WRITES
            | FsOptions::MAX_PAGES
            | FsOptions::ATOMIC_O_TRUNC
            | FsOptions::ASYNC_DIO
            | FsOptions::HAS_IOCTL_DIR
            | FsOptions::INIT_EXT;
        if self.opts.auto_inval_data {
            o |= FsOptions::AUTO_INVAL_DATA;
        }
        if self.opts.announce_submounts {
            o |= FsOptions::SUBMOUNTS;
        }
        if self.opts.posix_acl {
            o |= FsOptions::POSIX_ACL | FsOptions::DONT_MASK;
        }
        if self.has_window() {
            o |= FsOptions::MAP_ALIGNMENT;
        }
        o
    }

    pub(super) fn init(
        &self,
        c: &mut Ctx<'_, '_>,
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u64,
    ) -> Result<(), Errno> {
        if major < KERNEL_VERSION {
            error!("guest speaks FUSE {major}.{minor}, older than 7.x: refused");
            return Err(libc::EPROTO);
        }
        if major > KERNEL_VERSION {
            // The guest will retry with our major version.
            let out = InitOut {
                major: KERNEL_VERSION,
                minor: KERNEL_MINOR_VERSION,
                ..Default::default()
            };
            c.reply.push_obj(&out);
            return Ok(());
        }
        let capable = FsOptions::from_bits_truncate(flags);
        let mut want = self.fs.init(capable).map_err(errno)? | self.server_wants();
        match self.opts.readdirplus {
            Readdirplus::Never => {
                want.remove(FsOptions::DO_READDIRPLUS | FsOptions::READDIRPLUS_AUTO)
            }
            // Without _AUTO, Linux asks for attributes on every page of every listing.
            Readdirplus::Always => want.remove(FsOptions::READDIRPLUS_AUTO),
            Readdirplus::Auto => {}
        }
        if want.contains(FsOptions::ZERO_MESSAGE_OPEN) {
            want.remove(FsOptions::ATOMIC_O_TRUNC);
        }
        // FUSE_NO_OPEN_SUPPORT is the guest's to offer, not a feature to answer with.
        let enabled = capable & want & !FsOptions::ZERO_MESSAGE_OPEN;
        info!("FUSE INIT {major}.{minor}: guest offers {capable:?}, enabled {enabled:?}");
        let mut bits = enabled.bits() | (flags & INIT_EXT);
        if self.opts.allow_mmap {
            bits |= flags & DIRECT_IO_ALLOW_MMAP;
        }
        // With POSIX ACLs the guest needs SETXATTR's extended form to ask for the setgid bit
        // to go along with an ACL (SETXATTR_ACL_KILL_SGID).
        let setxattr_ext = self.opts.posix_acl && flags & SETXATTR_EXT != 0;
        if setxattr_ext {
            bits |= SETXATTR_EXT;
        }
        self.setxattr_ext.store(setxattr_ext, Ordering::Release);
        // A guest mounted with -o dax=inode offers FUSE_HAS_INODE_DAX: the daemon's attributes
        // then say which files it maps (FUSE_ATTR_DAX, Server::dax_attr).
        let inode_dax = self.has_window() && flags & HAS_INODE_DAX != 0;
        if inode_dax {
            bits |= HAS_INODE_DAX;
        }
        self.inode_dax.store(inode_dax, Ordering::Release);
        let out = InitOut {
            major: KERNEL_VERSION,
            minor: KERNEL_MINOR_VERSION,
            max_readahead,
            flags: bits as u32,
            max_background: u16::MAX,
            congestion_threshold: (u16::MAX / 4) * 3,
            max_write: MAX_WRITE,
            time_gran: 1,
            max_pages: MAX_PAGES,
            map_alignment: if enabled.contains(FsOptions::MAP_ALIGNMENT) {
                MAP_ALIGNMENT_SHIFT
            } else {
                0
            },
            flags2: (bits >> 32) as u32,
            unused: [0; 7],
        };
        // Older guests expect the shorter init_out of their own version.
        let len = match minor {
            0..=4 => 8,
            5..=22 => 24,
            _ => out.as_slice().len(),
        };
        c.reply.push_bytes(&out.as_slice()[..len]);
        self.initialized.store(true, Ordering::Release);
        Ok(())
    }
}
