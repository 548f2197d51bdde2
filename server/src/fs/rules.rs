//! What every backend decides the same way, as pure functions of the request and the host's
//! attributes: the open options of a cache policy, who may change a file's owner, which mode
//! bits a write takes away, the times a SETATTR sets, and the entries a backend answers when
//! a name is absent or cannot be looked up.

use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{stat64, OpenOptions, SetattrValid};
use fuse_backend_rs::api::filesystem::Entry;

use crate::config::CachePolicy;

/// FOPEN_* flags for a file or directory the guest opened, from the cache policy (the same as
/// virtiofsd's). Keeping the page cache and listings across opens in `auto`
/// (FOPEN_KEEP_CACHE, FOPEN_CACHE_DIR with FUSE_AUTO_INVAL_DATA) was tried and undone:
/// pjdfstest's open::etxtbsy then failed in one of three guest runs, as it fails under
/// `always` (which keeps the cache) on virtiofsd too.
pub fn open_options(cache: CachePolicy, dir: bool) -> OpenOptions {
    match (cache, dir) {
        (CachePolicy::Never | CachePolicy::Metadata, false) => OpenOptions::DIRECT_IO,
        (CachePolicy::Metadata | CachePolicy::Always, true) => {
            OpenOptions::CACHE_DIR | OpenOptions::KEEP_CACHE
        }
        (CachePolicy::Always, false) => OpenOptions::KEEP_CACHE,
        _ => OpenOptions::empty(),
    }
}

/// Whether a MKNOD of file type `kind` (mode & S_IFMT) may be made. A device node in the share
/// would hand the guest's choice of host device to every host user who can open it: refused
/// unless --allow-devices (SECURITY.md A4 #16), whichever protocol asks. The daemon itself
/// never opens one either way.
pub fn may_make_node(kind: u32, allow_devices: bool) -> bool {
    allow_devices || (kind != libc::S_IFCHR && kind != libc::S_IFBLK)
}

/// The ownership rules the host would apply to a caller that is not the guest's root (A4 #24),
/// checked by the backend because the change itself runs as the daemon: only root gives a file
/// away, and only the owner changes its group (to one of the caller's groups, which the guest
/// kernel checked: a request carries no supplementary groups). `owner` is the file's uid now.
pub fn may_chown(caller: u32, owner: u32, attr: &stat64, valid: SetattrValid) -> bool {
    let gives_away = valid.contains(SetattrValid::UID) && attr.st_uid != owner;
    !gives_away && owner == caller
}

/// The (uid, gid) a SETATTR gives to fchown (-1: unchanged), or None if it changes neither.
pub fn chown_ids(attr: &stat64, valid: SetattrValid) -> Option<(u32, u32)> {
    let pick = |bit, id| if valid.contains(bit) { id } else { u32::MAX };
    valid
        .intersects(SetattrValid::UID | SetattrValid::GID)
        .then(|| {
            (
                pick(SetattrValid::UID, attr.st_uid),
                pick(SetattrValid::GID, attr.st_gid),
            )
        })
}

/// The mode a file of mode `mode` keeps once an unprivileged process writes, truncates or
/// chowns it, as the kernel leaves it: no setuid, and no setgid where group-exec makes it mean
/// setgid. None if nothing changes.
pub fn killed_suidgid(mode: u32) -> Option<u32> {
    let before = mode & 0o7777;
    let mut after = before & !libc::S_ISUID;
    if after & libc::S_IXGRP != 0 {
        after &= !libc::S_ISGID;
    }
    (after != before).then_some(after)
}

/// The (atime, mtime) a SETATTR sets, as utimensat takes them, or None if it sets neither.
pub fn setattr_times(attr: &stat64, valid: SetattrValid) -> Option<[libc::timespec; 2]> {
    let any = SetattrValid::ATIME
        | SetattrValid::MTIME
        | SetattrValid::ATIME_NOW
        | SetattrValid::MTIME_NOW;
    if !valid.intersects(any) {
        return None;
    }
    let t = |set: bool, now: bool, sec: i64, nsec: i64| libc::timespec {
        tv_sec: if set && !now { sec as libc::time_t } else { 0 },
        tv_nsec: if now {
            libc::UTIME_NOW
        } else if set {
            nsec as _
        } else {
            libc::UTIME_OMIT
        },
    };
    Some([
        t(
            valid.contains(SetattrValid::ATIME),
            valid.contains(SetattrValid::ATIME_NOW),
            attr.st_atime,
            attr.st_atime_nsec,
        ),
        t(
            valid.contains(SetattrValid::MTIME),
            valid.contains(SetattrValid::MTIME_NOW),
            attr.st_mtime,
            attr.st_mtime_nsec,
        ),
    ])
}

/// "No such name", cacheable by the guest for `timeout` (node id 0).
pub fn negative_entry(timeout: Duration) -> Entry {
    Entry {
        inode: 0,
        generation: 0,
        // SAFETY: stat64 is plain data; zero is valid for every field.
        attr: unsafe { std::mem::zeroed() },
        attr_flags: 0,
        attr_timeout: Duration::ZERO,
        entry_timeout: timeout,
    }
}

/// What a listing carries for a name whose lookup failed: nothing if the name is gone since
/// the directory was read (the host changed the tree), else the name without attributes (node
/// id 0, which the guest lists without instantiating it) rather than a listing that hides it:
/// no fd left, or no search permission on the directory for an unprivileged daemon.
pub fn unlooked(e: &std::io::Error, ino: u64) -> Option<Entry> {
    if e.raw_os_error() == Some(libc::ENOENT) {
        return None;
    }
    let mut entry = negative_entry(Duration::ZERO);
    entry.attr.st_ino = ino;
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_lookup_lists_the_name_unless_it_is_gone() {
        let gone = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert!(unlooked(&gone, 7).is_none());
        for errno in [libc::EMFILE, libc::EACCES, libc::ENOMEM] {
            let e = unlooked(&std::io::Error::from_raw_os_error(errno), 7).unwrap();
            assert_eq!((e.inode, e.attr.st_ino), (0, 7));
            assert!(e.entry_timeout.is_zero() && e.attr_timeout.is_zero());
        }
    }

    #[test]
    fn device_nodes_only_when_allowed() {
        for kind in [libc::S_IFCHR, libc::S_IFBLK] {
            assert!(!may_make_node(kind, false));
            assert!(may_make_node(kind, true));
        }
        for kind in [libc::S_IFREG, libc::S_IFIFO, libc::S_IFSOCK] {
            assert!(may_make_node(kind, false));
        }
    }

    #[test]
    fn writes_take_setuid_and_group_exec_setgid() {
        assert_eq!(killed_suidgid(0o4755), Some(0o755));
        assert_eq!(killed_suidgid(0o6755), Some(0o755));
        // setgid without group-exec is mandatory locking, not setgid: kept.
        assert_eq!(killed_suidgid(0o2644), None);
        assert_eq!(killed_suidgid(0o644), None);
    }

    #[test]
    fn only_the_owner_changes_the_group_and_nobody_gives_a_file_away() {
        // SAFETY: stat64 is plain data; zero is valid for every field.
        let mut attr: stat64 = unsafe { std::mem::zeroed() };
        attr.st_uid = 1000;
        assert!(may_chown(1000, 1000, &attr, SetattrValid::GID));
        assert!(!may_chown(1001, 1000, &attr, SetattrValid::GID));
        assert!(may_chown(1000, 1000, &attr, SetattrValid::UID));
        attr.st_uid = 0;
        assert!(!may_chown(1000, 1000, &attr, SetattrValid::UID));
    }

    #[test]
    fn times_set_now_given_or_left_alone() {
        // SAFETY: stat64 is plain data; zero is valid for every field.
        let mut attr: stat64 = unsafe { std::mem::zeroed() };
        attr.st_mtime = 5;
        attr.st_mtime_nsec = 6;
        assert!(setattr_times(&attr, SetattrValid::MODE).is_none());
        let t = setattr_times(&attr, SetattrValid::MTIME | SetattrValid::ATIME_NOW).unwrap();
        assert_eq!(t[0].tv_nsec, libc::UTIME_NOW);
        assert_eq!((t[1].tv_sec, t[1].tv_nsec), (5, 6));
        let t = setattr_times(&attr, SetattrValid::MTIME_NOW).unwrap();
        assert_eq!(
            (t[0].tv_nsec, t[1].tv_nsec),
            (libc::UTIME_OMIT, libc::UTIME_NOW)
        );
    }
}
