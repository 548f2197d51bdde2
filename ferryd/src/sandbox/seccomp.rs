//! `--seccomp kill|log|trap|none`: an allow-list of the system calls ferryd makes, compiled to
//! BPF with rust-vmm's seccompiler and applied to every thread before the guest is served.
//! The list was taken from what the daemon's code calls (the backend's `sys` module, the
//! vhost-user transport, std's threads and allocator) and checked by running the guest suite
//! under `strace -f` and under `--seccomp kill`.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

pub use ferry_server::config::SeccompMode as Mode;

/// The system calls ferryd may make once it serves the guest.
const ALLOWED: &[libc::c_long] = &[
    // Files in the share (fs/linux/sys.rs).
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    libc::SYS_close,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_fstatfs,
    // The host watcher an agent starts (fs/linux/watch.rs).
    libc::SYS_fanotify_init,
    libc::SYS_fanotify_mark,
    libc::SYS_mkdirat,
    libc::SYS_mknodat,
    libc::SYS_symlinkat,
    libc::SYS_linkat,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    libc::SYS_readlinkat,
    libc::SYS_fchownat,
    libc::SYS_fchmodat,
    libc::SYS_fchmod,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    // The portable backend's POSIX calls as glibc makes them (fs/portable/sys.rs).
    libc::SYS_fchown,
    libc::SYS_renameat,
    libc::SYS_fchmodat2,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_syncfs,
    libc::SYS_fallocate,
    libc::SYS_lseek,
    libc::SYS_copy_file_range,
    libc::SYS_getdents64,
    libc::SYS_flock,
    libc::SYS_fcntl,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getxattr,
    libc::SYS_listxattr,
    libc::SYS_setxattr,
    libc::SYS_removexattr,
    libc::SYS_fchdir,
    libc::SYS_umask,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_dup,
    // Per-request credentials (raw, per thread).
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_capget,
    libc::SYS_capset,
    // The vhost-user transport: socket messages with fds, eventfds, epoll, guest memory.
    libc::SYS_accept4,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_shutdown,
    libc::SYS_getsockopt,
    // signal-hook's self-pipe (the --stats SIGUSR1 thread).
    libc::SYS_socketpair,
    libc::SYS_pipe2,
    libc::SYS_eventfd2,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_mprotect,
    libc::SYS_brk,
    // Threads, signals, time and the process's end.
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sigaltstack,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_tgkill,
    libc::SYS_prctl,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

/// Applies the allow-list to every thread of the process (`Mode::None`: nothing).
pub fn install(mode: Mode) -> io::Result<()> {
    let mismatch = match mode {
        Mode::None => return Ok(()),
        Mode::Kill => SeccompAction::KillProcess,
        Mode::Log => SeccompAction::Log,
        Mode::Trap => SeccompAction::Trap,
    };
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|&nr| (nr, Vec::new())).collect();
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| io::Error::other(format!("seccomp: {e:?}")))?;
    let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch)
        .map_err(|e| io::Error::other(format!("seccomp filter: {e}")))?;
    let prog: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| io::Error::other(format!("seccomp filter: {e}")))?;
    seccompiler::apply_filter_all_threads(&prog)
        .map_err(|e| io::Error::other(format!("seccomp: {e}")))
}
