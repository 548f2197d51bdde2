//! The thin layer over libc that the daemon itself needs (the backend has its own).

use std::ffi::CString;
use std::io;
use std::path::Path;

/// Raises RLIMIT_NOFILE to `want` (0: to the kernel's nr_open, at most 1,000,000, as
/// virtiofsd does). Returns the limit in force afterwards.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let target = if want == 0 {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        nr_open.min(1_000_000)
    } else {
        want
    };
    let lim = libc::rlimit {
        rlim_cur: target,
        rlim_max: target,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
        return Ok(target);
    }
    let err = io::Error::last_os_error();
    // Without CAP_SYS_RESOURCE the hard limit is the ceiling: take all of it.
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; the result is checked.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } != 0 {
        return Err(err);
    }
    let lim = libc::rlimit {
        rlim_cur: cur.rlim_max,
        rlim_max: cur.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(err);
    }
    Ok(cur.rlim_max)
}

/// Gives the socket at `path` to group `group` and lets that group connect.
pub fn set_socket_group(path: &Path, group: &str) -> io::Result<()> {
    let gname = CString::new(group).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: getgrnam reads a NUL-terminated string; the result is checked before use.
    let gr = unsafe { libc::getgrnam(gname.as_ptr()) };
    if gr.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no group named {group}"),
        ));
    }
    // SAFETY: gr is non-null and points to libc's static group entry.
    let gid = unsafe { (*gr).gr_gid };
    let cpath = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: chown and chmod read the NUL-terminated path; results are checked.
    if unsafe { libc::chown(cpath.as_ptr(), u32::MAX, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::chmod(cpath.as_ptr(), 0o660) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes over an inherited listening socket (`--fd`), after checking it is one.
pub fn listener_from_fd(fd: i32) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::fd::FromRawFd;
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat writes into `st` only; the result is checked before `st` is read.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--fd {fd}: {}", io::Error::last_os_error()),
        ));
    }
    // SAFETY: fstat succeeded, so the kernel initialised `st`.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--fd {fd} is not a socket"),
        ));
    }
    // SAFETY: the fd is an open socket handed to this process for it to own; nothing else in
    // the daemon uses it.
    Ok(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
}

/// Drops every supplementary group (CVE-2022-0358: a guest must not create files with
/// groups the daemon inherited). Needs CAP_SETGID; without it there is nothing to drop that the
/// process could not already use, so EPERM is reported to the caller to decide.
pub fn drop_supplementary_groups() -> io::Result<()> {
    // SAFETY: setgroups with a zero count reads no memory.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the process umask to `mask`, returning the old one. The daemon sets 0: the guest's
/// mode bits are then applied as sent, with no chmod after each create.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// Confines the process to `dir`: chroot into it and make it the working directory.
pub fn chroot_into(dir: &Path) -> io::Result<()> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: chroot and chdir read the NUL-terminated paths; results are checked.
    if unsafe { libc::chroot(c.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above, with a static path.
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the socket `fd` is listening (SO_ACCEPTCONN), rather than one connection.
pub fn is_listening(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`; the result is checked.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut v).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v != 0)
}

/// Sets TCP_NODELAY on a TCP socket; the connections a listener accepts inherit it, so the
/// sandboxed daemon never needs setsockopt. 9P's replies are small and answer one request
/// each: Nagle's delay would hold every one back.
pub fn set_nodelay(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` (its size given); the result is checked.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Accepts one connection on the listening socket `fd` (of any family), close-on-exec.
pub fn accept(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: accept4 with null address pointers writes no memory; the result is checked.
    let c = unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if c < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: accept4 returned a new fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(c) })
}
