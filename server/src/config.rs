//! The daemon's configuration, built from the command line by `TryFrom<Args>`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Where the daemon's clients come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Create and listen on this unix socket path.
    Path(PathBuf),
    /// An inherited socket: listening (libvirt's `--fd`), or, for 9P, one connected client.
    Fd(i32),
    /// 9P only: listen on this TCP address.
    Tcp(std::net::SocketAddr),
    /// 9P only: one client on standard input and output.
    Stdio,
}

/// The protocol the daemon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// vhost-user-fs: FUSE over virtqueues, for a VMM.
    #[default]
    VirtioFs,
    /// 9P2000.L over a byte stream (a socket, or stdin/stdout).
    P9,
    /// 9P2000.L over a virtqueue: a vhost-user virtio-9p device, for a VMM.
    P9Virtio,
}

impl Protocol {
    /// Whether the daemon speaks 9P (over any transport).
    pub fn is_9p(self) -> bool {
        matches!(self, Protocol::P9 | Protocol::P9Virtio)
    }
}

impl FromStr for Protocol {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "virtio-fs" | "virtiofs" | "fuse" => Ok(Protocol::VirtioFs),
            "9p" | "9P" | "9p2000.L" => Ok(Protocol::P9),
            "9p-virtio" | "virtio-9p" => Ok(Protocol::P9Virtio),
            _ => Err("expected virtio-fs, 9p or 9p-virtio"),
        }
    }
}

/// How the daemon confines itself before it serves the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// No confinement beyond fd-relative resolution and the name check.
    None,
    /// chroot into the shared directory (for containers without namespaces).
    Chroot,
    /// New PID, mount and network namespaces; the shared directory becomes `/` (pivot_root).
    Namespace,
}

/// How much the guest may cache, with virtiofsd's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// No caching: timeouts 0, direct I/O.
    Never,
    /// Metadata cached for a day, data not cached.
    Metadata,
    /// Timeouts of 1 s; data cached and revalidated on open.
    Auto,
    /// Everything cached for a day; the host must not change the tree behind the guest.
    Always,
}

impl CachePolicy {
    /// The guest-visible entry/attribute timeout of the policy (virtiofsd's values).
    pub fn timeout(self) -> Duration {
        match self {
            CachePolicy::Never => Duration::ZERO,
            CachePolicy::Auto => Duration::from_secs(1),
            CachePolicy::Metadata | CachePolicy::Always => Duration::from_secs(86400),
        }
    }
}

impl FromStr for CachePolicy {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" | "none" => Ok(CachePolicy::Never),
            "metadata" => Ok(CachePolicy::Metadata),
            "auto" => Ok(CachePolicy::Auto),
            "always" => Ok(CachePolicy::Always),
            _ => Err("expected auto, always, never or metadata"),
        }
    }
}

/// How the daemon finds a host inode again once it closed its fd (`--inode-file-handles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileHandles {
    /// By its name in its parent directory.
    #[default]
    Never,
    /// By its host file handle where the filesystem makes them, else by name.
    Prefer,
    /// By file handle only: a lookup on a filesystem without them fails.
    Mandatory,
}

impl FromStr for FileHandles {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(FileHandles::Never),
            "prefer" | "fallback" => Ok(FileHandles::Prefer),
            "mandatory" => Ok(FileHandles::Mandatory),
            _ => Err("expected never, prefer or mandatory"),
        }
    }
}

/// Which host backend serves the share (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// The Linux backend (`fs::linux`).
    #[default]
    Linux,
    /// The portable POSIX backend (`fs::portable`).
    Portable,
}

impl FromStr for BackendKind {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linux" => Ok(BackendKind::Linux),
            "portable" => Ok(BackendKind::Portable),
            _ => Err("expected linux or portable"),
        }
    }
}

/// Which directory listings carry each entry's attributes (READDIRPLUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readdirplus {
    /// Names only: every listing is READDIR.
    Never,
    /// The guest chooses per request (FUSE_READDIRPLUS_AUTO): Linux asks for attributes on the
    /// first page of a listing and on a later page only after a lookup in that directory.
    Auto,
    /// Every page of every listing carries attributes (FUSE_DO_READDIRPLUS without _AUTO), so
    /// a `stat` of any listed entry within the entry timeout needs no LOOKUP.
    #[default]
    Always,
}

impl FromStr for Readdirplus {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" | "no" => Ok(Readdirplus::Never),
            "auto" => Ok(Readdirplus::Auto),
            "always" | "yes" => Ok(Readdirplus::Always),
            _ => Err("expected auto, always or never"),
        }
    }
}

/// What ferryd's seccomp filter does to a system call outside its list (`--seccomp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    None,
    /// Kill the whole daemon (the default, as in virtiofsd).
    Kill,
    /// Allow it, and log it to the kernel's audit log.
    Log,
    /// Send SIGSYS.
    Trap,
}

impl std::str::FromStr for SeccompMode {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(SeccompMode::None),
            "kill" => Ok(SeccompMode::Kill),
            "log" => Ok(SeccompMode::Log),
            "trap" => Ok(SeccompMode::Trap),
            _ => Err("expected kill, log, trap or none"),
        }
    }
}

/// One `--modcaps` change to the capabilities ferryd keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapChange {
    pub add: bool,
    /// The capability's name, as `CAP_SYS_ADMIN` (checked when the command line is read).
    pub cap: String,
}

/// Everything ferryd needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub shared_dir: PathBuf,
    pub backend: BackendKind,
    pub listen: Listen,
    pub protocol: Protocol,
    pub socket_group: Option<String>,
    pub tag: Option<String>,
    pub thread_pool_size: usize,
    pub request_queues: usize,
    pub xattr: bool,
    /// `--xattrmap`: the xattr name rules; None: ferryd's default map (see
    /// [`crate::fs::xattrmap::DEFAULT_RULES`]).
    pub xattrmap: Option<crate::fs::xattrmap::XattrMap>,
    pub sandbox: Sandbox,
    pub seccomp: SeccompMode,
    /// `--modcaps` changes to the capabilities the daemon keeps.
    pub modcaps: Vec<CapChange>,
    pub stats: bool,
    pub allow_devices: bool,
    pub locks: bool,
    pub readonly: bool,
    pub announce_submounts: bool,
    pub cache: CachePolicy,
    pub allow_mmap: bool,
    pub readdirplus: Readdirplus,
    pub writeback: bool,
    pub allow_direct_io: bool,
    /// FUSE zero-message opens for files where the cache policy allows them.
    pub zero_open: bool,
    pub killpriv_v2: bool,
    /// The long timeout granted while a guest agent reads changes; None: no agent channel.
    pub agent_timeout: Option<std::time::Duration>,
    /// Size of the DAX cache window offered to the VMM, if any.
    pub dax_window: Option<u64>,
    /// Under `-o dax=inode`, the smallest regular file mapped through the window.
    pub dax_min_size: u64,
    pub rlimit_nofile: Option<u64>,
    pub inode_file_handles: FileHandles,
    /// How guest ids map to host ids (`--uid-map`, `--gid-map`, `--translate-uid/gid`).
    pub ids: crate::session::ids::Ids,
    /// POSIX ACLs (`--posix-acl`): negotiated with the guest, served as their xattrs.
    pub posix_acl: bool,
    pub log_level: log::LevelFilter,
}

impl Config {
    /// The configuration `ferryd --fd=-1 --shared-dir DIR` runs with (ferryd's tests check
    /// that the two agree): for embedding the server, tests and benchmarks.
    pub fn defaults_for(dir: &std::path::Path) -> Config {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        Config {
            shared_dir: dir.to_path_buf(),
            backend: BackendKind::Linux,
            listen: Listen::Fd(-1),
            protocol: Protocol::VirtioFs,
            socket_group: None,
            tag: None,
            thread_pool_size: 0,
            request_queues: 1,
            xattr: false,
            xattrmap: None,
            sandbox: if root {
                Sandbox::Namespace
            } else {
                Sandbox::None
            },
            seccomp: SeccompMode::Kill,
            modcaps: Vec::new(),
            stats: false,
            allow_devices: false,
            locks: false,
            readonly: false,
            announce_submounts: false,
            cache: CachePolicy::Auto,
            allow_mmap: false,
            readdirplus: Readdirplus::Always,
            writeback: false,
            allow_direct_io: false,
            zero_open: true,
            killpriv_v2: true,
            agent_timeout: Some(Duration::from_secs(30)),
            dax_window: None,
            dax_min_size: 64 << 10,
            rlimit_nofile: None,
            inode_file_handles: FileHandles::Never,
            ids: crate::session::ids::Ids::default(),
            posix_acl: false,
            log_level: log::LevelFilter::Info,
        }
    }
}
