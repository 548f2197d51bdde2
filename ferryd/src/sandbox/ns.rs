//! `--sandbox namespace`: new PID, mount and network namespaces, a private /proc, and the
//! shared directory as the root of the daemon's filesystem view (pivot_root).

use std::ffi::CString;
use std::io;
use std::path::Path;

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn mount(
    src: &std::ffi::CStr,
    target: &std::ffi::CStr,
    fstype: Option<&std::ffi::CStr>,
    flags: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: all strings are NUL-terminated or null; no data argument is passed.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            std::ptr::null(),
        )
    })
}

/// Enters the namespaces. The calling process forks: the parent stays outside, forwards
/// SIGTERM/SIGINT/SIGHUP/SIGUSR1 to the child and exits with its status (it never returns from
/// here); the child returns as PID 1 of the new PID namespace, with a fresh /proc mounted and
/// `root` bind-mounted onto itself, ready for [`pivot_into`]. Must run before any thread starts.
pub fn enter(root: &Path) -> io::Result<()> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "--sandbox namespace needs root; use --sandbox chroot or --sandbox none",
        ));
    }
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWNET) })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create namespaces ({e}); in a container, use --sandbox chroot"),
            )
        })?;
    // SAFETY: fork in a process that has no other thread yet (see the doc comment).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        supervise(pid);
    }
    // The child: die with the parent, whatever kills it.
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) })?;
    // As PID 1 the child ignores signals it has no handler for: exit on the usual ones.
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only calls _exit, which is async-signal-safe.
        unsafe { signal_hook::low_level::register(sig, || libc::_exit(0)) }?;
    }
    // Mounts made from here on stay in this namespace.
    mount(c"none", c"/", None, libc::MS_SLAVE | libc::MS_REC)?;
    mount(
        c"proc",
        c"/proc",
        Some(c"proc"),
        libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_RELATIME,
    )?;
    let r = cpath(root)?;
    // pivot_root needs the new root to be a mount point.
    mount(&r, &r, None, libc::MS_BIND | libc::MS_REC)
}

/// The parent's side: waits for the child and exits with its status.
fn supervise(child: libc::pid_t) -> ! {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: the handler only calls kill, which is async-signal-safe.
        let r = unsafe {
            signal_hook::low_level::register(sig, move || {
                // SAFETY: kill takes integers only.
                libc::kill(child, sig);
            })
        };
        if let Err(e) = r {
            log::warn!("cannot forward signal {sig} to the sandboxed daemon: {e}");
        }
    }
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            std::process::exit(1);
        }
        if libc::WIFEXITED(status) {
            std::process::exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            std::process::exit(128 + libc::WTERMSIG(status));
        }
    }
}

/// Makes `root` (bind-mounted by [`enter`]) the root of this mount namespace and detaches the
/// old root, so no path the daemon could name leads outside the shared directory.
pub fn pivot_into(root: &Path) -> io::Result<()> {
    let r = cpath(root)?;
    // SAFETY: chdir reads a NUL-terminated path.
    check(unsafe { libc::chdir(r.as_ptr()) })?;
    // pivot_root(".", "."): the old root ends up stacked on the new one, then goes.
    // SAFETY: both paths are static NUL-terminated strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    check(ret as libc::c_int)?;
    // SAFETY: as above.
    check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })?;
    // SAFETY: as above.
    check(unsafe { libc::chdir(c"/".as_ptr()) })
}
