//! Replaying one host change through the guest's VFS. ferryd answers these requests from the
//! agent without acting on the host (see ferryd's `session::agent`): each one makes the guest
//! kernel update its caches exactly as it would for the same change made in the guest, and
//! fire the same fsnotify events.
//!
//! | change | replay | guest events |
//! |---|---|---|
//! | create | mknod / mkdir / symlink of the name (the daemon hides it from the agent's lookup and answers with the host's entry) | IN_CREATE |
//! | delete | unlink / rmdir | IN_DELETE (IN_DELETE_SELF on the object) |
//! | rename | rename (the target hidden from the agent's lookup) | IN_MOVED_FROM / IN_MOVED_TO, one cookie |
//! | modify | statx(FORCE_SYNC) (new size and mtime; the guest drops stale pages), then open for write, fallocate(KEEP_SIZE), close | IN_MODIFY, IN_CLOSE_WRITE |
//! | attrib | statx(FORCE_SYNC), then utimensat with the times just read | IN_ATTRIB |
//! | resync | drop the guest's unused dentries and inodes | — |

use std::io;
use std::os::fd::BorrowedFd;

use ferry_agent_proto::{Kind, Record};

use crate::sys;

fn is_enoent(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

/// Replays `r` under the mount `m`.
pub fn replay(m: BorrowedFd<'_>, r: &Record) -> io::Result<()> {
    let p = sys::cpath(&r.path)?;
    match r.kind {
        Kind::Create => create(m, &p, r.mode),
        Kind::Delete => delete(m, &p, r.mode == libc::S_IFDIR),
        Kind::Modify => {
            let st = sys::statx_sync(m, &p)?;
            if u32::from(st.stx_mode) & libc::S_IFMT != libc::S_IFREG {
                return Ok(());
            }
            let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
            let fd = sys::openat(m, &p, flags)?;
            sys::fallocate_keep(std::os::fd::AsFd::as_fd(&fd))
        }
        Kind::Attrib => {
            let st = sys::statx_sync(m, &p)?;
            sys::touch_attrs(m, &p, &st)
        }
        Kind::Rename => {
            let to = sys::cpath(&r.to)?;
            match sys::renameat(m, &p, &to) {
                // The guest never knew the old name: the new one is a create to it.
                Err(e) if is_enoent(&e) => create(m, &to, r.mode),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EISDIR | libc::ENOTDIR | libc::ENOTEMPTY)
                    ) =>
                {
                    // What the guest has under the new name does not fit: drop it, then
                    // the old name, and create the new one.
                    let _ = delete(m, &to, r.mode != libc::S_IFDIR);
                    let _ = delete(m, &p, r.mode == libc::S_IFDIR);
                    create(m, &to, r.mode)
                }
                res => res,
            }
        }
        Kind::Resync => sys::drop_caches(),
    }
}

fn create(m: BorrowedFd<'_>, p: &std::ffi::CString, mode: u32) -> io::Result<()> {
    let fmt = mode & libc::S_IFMT;
    let res = match fmt {
        // Gone again already: its delete follows.
        0 => return Ok(()),
        libc::S_IFDIR => sys::mkdirat(m, p),
        libc::S_IFLNK => sys::symlinkat(m, p),
        _ => sys::mknodat(m, p, fmt | 0o600),
    };
    match res {
        // Another type under the name on the host by now: whatever the guest cached is
        // refreshed, and the change that made it so follows.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => sys::statx_sync(m, p).map(drop),
        Err(e) if is_enoent(&e) => Ok(()),
        r => r,
    }
}

fn delete(m: BorrowedFd<'_>, p: &std::ffi::CString, dir: bool) -> io::Result<()> {
    let res = match sys::unlinkat(m, p, dir) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EISDIR | libc::ENOTDIR | libc::EPERM)
            ) =>
        {
            sys::unlinkat(m, p, !dir)
        }
        r => r,
    };
    match res {
        // The guest did not have it.
        Err(e) if is_enoent(&e) => Ok(()),
        r => r,
    }
}
