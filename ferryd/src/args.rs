//! The command line: virtiofsd 1.14's flags, parsed with clap and checked into a [`Config`].
//!
//! Every virtiofsd flag is either implemented or refused with an error naming it: none is
//! silently ignored.

use std::path::PathBuf;

use clap::Parser;

use crate::sandbox::{caps, seccomp};
use ferry_server::config::{
    BackendKind, CachePolicy, Config, FileHandles, Listen, Protocol, Readdirplus, Sandbox,
};
use ferry_server::fs::xattrmap;
use ferry_server::session::ids::{IdMap, Ids};

/// What `--print-capabilities` prints: libvirt reads it to learn which options it may pass.
pub const CAPABILITIES: &str = r#"{"type":"fs","features":["separate-options"]}"#;

#[derive(Debug, Parser)]
#[command(
    name = "ferryd",
    version,
    about = "vhost-user-fs daemon: serves a host directory to a VM's virtiofs driver (a drop-in for virtiofsd)"
)]
pub struct Args {
    /// Shared directory path
    #[arg(long)]
    pub shared_dir: Option<PathBuf>,
    /// Tag announced to the guest through the device config space (VHOST_USER_PROTOCOL_F_CONFIG)
    #[arg(long)]
    pub tag: Option<String>,
    /// vhost-user socket path
    #[arg(long, alias = "socket")]
    pub socket_path: Option<PathBuf>,
    /// Name of the group that may connect to the socket
    #[arg(long)]
    pub socket_group: Option<String>,
    /// File descriptor of an already-listening vhost-user socket (with --protocol 9p: a
    /// listening socket, or one connected client, such as a vsock connection a proxy hands over)
    #[arg(long)]
    pub fd: Option<i32>,
    /// The protocol served: virtio-fs (vhost-user-fs, for a VMM), 9p (9P2000.L over a unix
    /// socket, TCP, an inherited socket or stdin/stdout, for a guest's v9fs client) or
    /// 9p-virtio (9P2000.L as a vhost-user virtio-9p device, for a VMM: QEMU's
    /// vhost-user-test-device-pci with virtio-id=9, QEMU 11.1; --tag is the mount tag, default ferry)
    #[arg(long, default_value = "virtio-fs")]
    pub protocol: String,
    /// With --protocol 9p: listen on TCP, as tcp:ADDR:PORT (e.g. tcp:127.0.0.1:5640). Loopback
    /// only, unless --allow-remote: 9P has no authentication, and anyone who reaches the port
    /// acts on the share as any user
    #[arg(long, value_name = "tcp:ADDR:PORT")]
    pub listen: Option<String>,
    /// With --listen: accept a non-loopback address
    #[arg(long)]
    pub allow_remote: bool,
    /// With --protocol 9p: serve one client on standard input and output
    #[arg(long)]
    pub stdio: bool,
    /// Worker threads; 0 serves requests on the queue threads
    #[arg(long, default_value_t = 0)]
    pub thread_pool_size: usize,
    /// Request queues offered to the VMM (QEMU's num-request-queues)
    #[arg(long, default_value_t = 1)]
    pub request_queues: usize,
    /// Enable extended attributes. The guest's security.* and trusted.* names are kept under
    /// user.virtiofs. on the host and the host's own are hidden (unless --xattrmap says
    /// otherwise), so nothing the guest sets can grant privilege on the host
    #[arg(long)]
    pub xattr: bool,
    /// xattr name mapping rules in virtiofsd's syntax (":type:scope:key:prepend:" rules,
    /// types prefix, ok, bad, unsupported, and ":map:key:prepend:"); implies --xattr.
    /// ":ok:all:::" passes every name through unchanged
    #[arg(long, value_name = "RULES")]
    pub xattrmap: Option<String>,
    /// Let the guest create block and character device nodes in the share (refused with EPERM
    /// by default: any host user who can reach such a node can open the host device)
    #[arg(long)]
    pub allow_devices: bool,
    /// Serve the guest's POSIX (fcntl) and BSD (flock) locks with host locks, so host processes
    /// and other guests see them. Off by default, as in virtiofsd: the guest kernel then keeps
    /// locks to itself. A waiting lock (F_SETLKW) occupies a worker thread until granted, so
    /// this needs --thread-pool-size > 0
    #[arg(long)]
    pub locks: bool,
    /// POSIX ACLs: auto or always (what a bare --posix-acl means) offer them to the guest,
    /// which then enforces them and keeps them as system.posix_acl_* xattrs on the host;
    /// never (the default). Implies --xattr; not with id mapping (ACL entries hold ids)
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "auto")]
    pub posix_acl: Option<String>,
    /// Sandbox mode: namespace (new PID, mount and network namespaces with the shared directory
    /// as the root), chroot (confine the daemon to the shared directory, for containers without
    /// namespaces) or none. Default: namespace when run as root (as virtiofsd), none otherwise
    /// (creating those namespaces needs root)
    #[arg(long)]
    pub sandbox: Option<String>,
    /// What a system call outside ferryd's allow-list does: kill the daemon, log it, trap
    /// (SIGSYS), or none (no filter)
    #[arg(long, default_value = "kill")]
    pub seccomp: String,
    /// Export the directory read-only (EROFS for every change, enforced in the daemon)
    #[arg(long)]
    pub readonly: bool,
    /// Tell the guest which directories are mount points (FUSE_SUBMOUNTS)
    #[arg(long, overrides_with = "no_announce_submounts")]
    pub announce_submounts: bool,
    /// Do not announce submounts
    #[arg(long)]
    pub no_announce_submounts: bool,
    /// How a host inode whose fd the daemon closed is found again: never (by its name in its
    /// parent), prefer (by file handle where the filesystem has them, else by name; alias
    /// fallback) or mandatory (by file handle only). The daemon keeps an O_PATH fd only for the
    /// inodes in use and closes the least recently used when its fd limit runs short, so the
    /// guest may know any number of files whatever the mode. File handles need
    /// CAP_DAC_READ_SEARCH, which the daemon then keeps
    #[arg(long, value_name = "MODE", default_value = "never")]
    pub inode_file_handles: String,
    /// Caching policy the guest may use: auto, always, never, metadata
    #[arg(long, default_value = "auto")]
    pub cache: String,
    /// Host backend: linux (O_PATH inodes, openat2, file handles, xattrs, ACLs, locks, the
    /// agent's host watch) or portable (POSIX calls only, as on macOS and the BSDs: no
    /// xattrs, ACLs, locks or host watch; virtio-fs only)
    #[arg(long, value_name = "KIND", default_value = "linux")]
    pub backend: String,
    /// Allow shared mmap when --cache=never or metadata (FUSE_DIRECT_IO_ALLOW_MMAP)
    #[arg(long)]
    pub allow_mmap: bool,
    /// Which listings carry attributes: always (every page), auto (the guest asks per page),
    /// never
    #[arg(long, value_name = "MODE", default_value = "always")]
    pub readdirplus: String,
    /// Disable READDIRPLUS (as --readdirplus=never)
    #[arg(long)]
    pub no_readdirplus: bool,
    /// Enable the guest's writeback cache
    #[arg(long)]
    pub writeback: bool,
    /// Honour the guest's O_DIRECT
    #[arg(long)]
    pub allow_direct_io: bool,
    /// Keep OPEN, FLUSH and RELEASE for files. By default, with --cache=auto or always and
    /// without --locks or --writeback, ferryd answers OPEN with ENOSYS so that the guest stops
    /// sending them (FUSE zero-message opens) and serves file I/O through the node
    #[arg(long)]
    pub no_zero_open: bool,
    /// Offer the guest a DAX cache window of this size (e.g. 1G; a multiple of 2 MiB): the
    /// VMM maps file ranges into it on the daemon's SHMEM_MAP requests
    /// (VHOST_USER_PROTOCOL_F_SHMEM), and a guest mounted with -o dax reads and writes them as
    /// memory. Off by default; needs a VMM that implements the shared memory region
    #[arg(long, value_name = "SIZE")]
    pub dax_window: Option<String>,
    /// With a DAX window and a guest mounted with -o dax=inode, map only regular files of at
    /// least this size (e.g. 64K); smaller files are read and written with requests, where
    /// a 2 MiB mapping would cost more round trips than it saves
    #[arg(long, value_name = "SIZE", default_value = "64K")]
    pub dax_min_size: String,
    /// Count requests per opcode (number, bytes, service time); print the table at exit and on
    /// SIGUSR1
    #[arg(long)]
    pub stats: bool,
    /// Print the vhost-user.json capabilities and exit
    #[arg(long)]
    pub print_capabilities: bool,
    /// Print this manual as a man page (roff) and exit (for packages)
    #[arg(long, hide = true)]
    pub print_manpage: bool,
    /// Log level: error, warn, info, debug, trace, off
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Set RLIMIT_NOFILE (0: raise to min(1,000,000, nr_open))
    #[arg(long)]
    pub rlimit_nofile: Option<u64>,
    /// Offer FUSE_HANDLE_KILLPRIV_V2 (the default): the daemon clears setuid, setgid and file
    /// capabilities on write, truncate and chown, so the guest no longer asks for
    /// security.capability before every write
    #[arg(long, overrides_with = "no_killpriv_v2")]
    pub killpriv_v2: bool,
    /// Do not offer FUSE_HANDLE_KILLPRIV_V2 (the guest kernel then clears them itself)
    #[arg(long)]
    pub no_killpriv_v2: bool,
    /// Entry and attribute timeout (seconds) while a guest agent (`ferry-guest watch`) reads
    /// host changes: the longest a change can stay unseen if the agent dies
    #[arg(long, default_value_t = 30)]
    pub agent_timeout: u64,
    /// No agent channel: the share's root has no reserved name (.ferry-agent)
    #[arg(long)]
    pub no_agent: bool,
    /// Debug logging (deprecated: --log-level=debug)
    #[arg(short = 'd')]
    pub debug: bool,
    /// Foreground: a no-op kept for compatibility
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Legacy comma-separated options (source=DIR,cache=MODE,xattr,...)
    #[arg(short = 'o', value_delimiter = ',')]
    pub legacy: Vec<String>,

    // virtiofsd flags ferryd does not implement: accepted by the parser so that the error can
    // name them, then refused.
    /// Change the capabilities the daemon keeps (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID,
    /// SETUID, MKNOD, SETFCAP), e.g. --modcaps=+sys_admin:-mknod
    #[arg(long)]
    pub modcaps: Option<String>,
    #[arg(long, hide = true)]
    pub syslog: bool,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "auto")]
    pub security_label: Option<String>,
    /// Map a range of guest user ids to host ones as a user namespace would (libvirt's
    /// idmap element): :GUEST_UID:HOST_UID:COUNT: (repeatable). Host owners outside the map look like
    /// 65534 to the guest; a guest id outside it never acts on the host (changes EPERM, chown
    /// to it EINVAL)
    #[arg(long, value_name = ":GUEST:HOST:COUNT:")]
    pub uid_map: Vec<String>,
    /// As --uid-map, for group ids
    #[arg(long, value_name = ":GUEST:HOST:COUNT:")]
    pub gid_map: Vec<String>,
    /// Translate user ids between guest and host (repeatable): map:GUEST:HOST:COUNT (both
    /// ways), guest:GUEST:HOST:COUNT and host:HOST:GUEST:COUNT (one way),
    /// squash-guest:GUEST:HOST:COUNT (a guest range to one host id),
    /// squash-host:HOST:GUEST:COUNT (a host range to one guest id), forbid-guest:GUEST:COUNT
    /// (those guest ids never act on the host). Ids no rule covers are unchanged
    #[arg(long, value_name = "TYPE:...")]
    pub translate_uid: Vec<String>,
    /// As --translate-uid, for group ids
    #[arg(long, value_name = "TYPE:...")]
    pub translate_gid: Vec<String>,
    #[arg(long, hide = true)]
    pub preserve_noatime: bool,
    #[arg(long, hide = true)]
    pub migration_mode: Option<String>,
    #[arg(long, hide = true)]
    pub migration_on_error: Option<String>,
    #[arg(long, hide = true)]
    pub migration_verify_handles: bool,
    #[arg(long, hide = true)]
    pub migration_confirm_paths: bool,
}

/// A command line that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("{0} is not supported by ferryd")]
    Unsupported(String),
    #[error("invalid value {value:?} for {flag}: {why}")]
    Invalid {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0}: {1}")]
    Ids(&'static str, String),
    #[error("--xattrmap: {0}")]
    Xattrmap(String),
    #[error("--modcaps: {0}")]
    Modcaps(String),
    #[error("{0} and {1} cannot be used together")]
    Conflict(&'static str, &'static str),
}

fn unsupported(flag: &str) -> ArgsError {
    ArgsError::Unsupported(flag.to_string())
}

impl Args {
    /// Refuses every virtiofsd flag ferryd does not implement, naming it.
    fn refuse_unsupported(&self) -> Result<(), ArgsError> {
        let set: [(&str, bool); 7] = [
            ("--syslog", self.syslog),
            ("--security-label", self.security_label.is_some()),
            ("--preserve-noatime", self.preserve_noatime),
            ("--migration-mode", self.migration_mode.is_some()),
            ("--migration-on-error", self.migration_on_error.is_some()),
            ("--migration-verify-handles", self.migration_verify_handles),
            ("--migration-confirm-paths", self.migration_confirm_paths),
        ];
        match set.iter().find(|(_, on)| *on) {
            Some((flag, _)) => Err(unsupported(flag)),
            None => Ok(()),
        }
    }

    /// Folds the legacy `-o` options into the modern flags, refusing those it does not know.
    fn apply_legacy(&mut self) -> Result<(), ArgsError> {
        for opt in std::mem::take(&mut self.legacy) {
            let (key, val) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (opt.as_str(), None),
            };
            match (key, val) {
                ("source", Some(v)) => self.shared_dir = Some(v.into()),
                ("cache", Some(v)) => self.cache = v,
                ("sandbox", Some(v)) => self.sandbox = Some(v),
                ("log_level", Some(v)) => self.log_level = v,
                ("xattr", None) => self.xattr = true,
                ("xattrmap", Some(v)) => self.xattrmap = Some(v),
                ("no_xattr", None) => self.xattr = false,
                ("readdirplus", None) => self.no_readdirplus = false,
                ("no_readdirplus", None) => self.no_readdirplus = true,
                ("writeback", None) => self.writeback = true,
                ("no_writeback", None) => self.writeback = false,
                ("allow_direct_io", None) => self.allow_direct_io = true,
                ("no_allow_direct_io", None) => self.allow_direct_io = false,
                ("announce_submounts", None) => self.announce_submounts = true,
                ("killpriv_v2", None) => self.no_killpriv_v2 = false,
                ("no_killpriv_v2", None) => self.no_killpriv_v2 = true,
                _ => return Err(ArgsError::Unsupported(format!("-o {opt}"))),
            }
        }
        Ok(())
    }
}

impl TryFrom<Args> for Config {
    type Error = ArgsError;

    fn try_from(mut a: Args) -> Result<Config, ArgsError> {
        a.refuse_unsupported()?;
        a.apply_legacy()?;
        let shared_dir = a
            .shared_dir
            .take()
            .ok_or(ArgsError::Missing("--shared-dir"))?;
        let protocol: Protocol = a
            .protocol
            .parse()
            .map_err(|why| invalid("--protocol", a.protocol.clone(), why))?;
        let listen = listen_of(&mut a, protocol)?;
        if a.socket_group.is_some() && matches!(listen, Listen::Fd(_)) {
            return Err(ArgsError::Conflict("--socket-group", "--fd"));
        }
        let sandbox = match a.sandbox.as_deref() {
            // SAFETY: geteuid cannot fail.
            None if unsafe { libc::geteuid() } == 0 => Sandbox::Namespace,
            None | Some("none") => Sandbox::None,
            Some("chroot") => Sandbox::Chroot,
            Some("namespace") => Sandbox::Namespace,
            Some(v) => {
                return Err(invalid(
                    "--sandbox",
                    v.to_string(),
                    "expected namespace, chroot or none",
                ))
            }
        };
        let seccomp: seccomp::Mode = a
            .seccomp
            .parse()
            .map_err(|why| invalid("--seccomp", a.seccomp.clone(), why))?;
        let modcaps = match &a.modcaps {
            Some(m) => caps::parse_modcaps(m).map_err(ArgsError::Modcaps)?,
            None => Vec::new(),
        };
        let posix_acl = match a.posix_acl.as_deref() {
            None | Some("never") => false,
            Some("auto" | "always") => true,
            Some(v) => {
                return Err(invalid(
                    "--posix-acl",
                    v.into(),
                    "expected never, auto or always",
                ))
            }
        };
        let inode_file_handles: FileHandles = a
            .inode_file_handles
            .parse()
            .map_err(|why| invalid("--inode-file-handles", a.inode_file_handles.clone(), why))?;
        let xattrmap = match &a.xattrmap {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|e: xattrmap::ParseError| ArgsError::Xattrmap(e.to_string()))?,
            ),
        };
        let ids = Ids {
            uid: id_map("--uid-map", &a.uid_map, "--translate-uid", &a.translate_uid)?,
            gid: id_map("--gid-map", &a.gid_map, "--translate-gid", &a.translate_gid)?,
        };
        if posix_acl && !ids.is_identity() {
            // The ids inside ACL entries would need the same mapping.
            let flag = if a.uid_map.is_empty() && a.gid_map.is_empty() {
                "--translate-uid/--translate-gid"
            } else {
                "--uid-map/--gid-map"
            };
            return Err(ArgsError::Conflict("--posix-acl", flag));
        }
        if a.locks && a.thread_pool_size == 0 {
            // A waiting lock on a queue thread would also hold up the request that frees it.
            return Err(ArgsError::Conflict("--locks", "--thread-pool-size=0"));
        }
        let cache: CachePolicy = a
            .cache
            .parse()
            .map_err(|why| invalid("--cache", a.cache.clone(), why))?;
        let backend: BackendKind = a
            .backend
            .parse()
            .map_err(|why| invalid("--backend", a.backend.clone(), why))?;
        if backend == BackendKind::Portable {
            // What only the Linux backend serves (see fs::portable).
            let linux_only = [
                ("--xattr", a.xattr || a.xattrmap.is_some()),
                ("--posix-acl", posix_acl),
                ("--locks", a.locks),
                (
                    "--inode-file-handles",
                    inode_file_handles != FileHandles::Never,
                ),
                ("--protocol 9p", protocol.is_9p()),
            ];
            if let Some((flag, _)) = linux_only.iter().find(|(_, on)| *on) {
                return Err(ArgsError::Conflict("--backend portable", flag));
            }
        }
        let readdirplus = match a.no_readdirplus {
            true => Readdirplus::Never,
            false => a
                .readdirplus
                .parse()
                .map_err(|why| invalid("--readdirplus", a.readdirplus.clone(), why))?,
        };
        let log_level = match a.log_level.as_str() {
            _ if a.debug => log::LevelFilter::Debug,
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            "off" => log::LevelFilter::Off,
            _ => {
                return Err(invalid(
                    "--log-level",
                    a.log_level,
                    "expected error, warn, info, debug, trace or off",
                ))
            }
        };
        if a.request_queues == 0 || a.request_queues > 63 {
            return Err(invalid(
                "--request-queues",
                a.request_queues.to_string(),
                "expected 1 to 63",
            ));
        }
        let dax_window = match &a.dax_window {
            None => None,
            Some(v) => {
                Some(parse_window(v).map_err(|why| invalid("--dax-window", v.clone(), why))?)
            }
        };
        let dax_min_size = parse_size::Config::new()
            .with_binary()
            .parse_size(&a.dax_min_size)
            .map_err(|_| {
                invalid(
                    "--dax-min-size",
                    a.dax_min_size.clone(),
                    "expected a size such as 0, 256K or 2M",
                )
            })?;
        Ok(Config {
            dax_window,
            dax_min_size,
            shared_dir,
            backend,
            listen,
            protocol,
            socket_group: a.socket_group,
            tag: a.tag,
            thread_pool_size: a.thread_pool_size,
            request_queues: a.request_queues,
            // A 9P client has nothing to negotiate xattrs with (QEMU's 9p serves them): on.
            xattr: a.xattr || xattrmap.is_some() || posix_acl || protocol.is_9p(),
            xattrmap,
            sandbox,
            seccomp,
            modcaps,
            stats: a.stats,
            allow_devices: a.allow_devices,
            // A 9P client has no locks of its own to fall back on: the server keeps them.
            locks: a.locks || protocol.is_9p(),
            readonly: a.readonly,
            announce_submounts: a.announce_submounts && !a.no_announce_submounts,
            cache,
            allow_mmap: a.allow_mmap,
            readdirplus,
            writeback: a.writeback,
            allow_direct_io: a.allow_direct_io,
            zero_open: !a.no_zero_open,
            killpriv_v2: !a.no_killpriv_v2,
            agent_timeout: (!a.no_agent).then(|| std::time::Duration::from_secs(a.agent_timeout)),
            rlimit_nofile: a.rlimit_nofile,
            inode_file_handles,
            ids,
            posix_acl,
            log_level,
        })
    }
}

/// Where clients come from: exactly one of --socket-path, --fd, --listen and --stdio (the
/// last two with --protocol 9p only).
fn listen_of(a: &mut Args, protocol: Protocol) -> Result<Listen, ArgsError> {
    let mut given = Vec::new();
    if let Some(p) = a.socket_path.take() {
        given.push(("--socket-path", Listen::Path(p)));
    }
    if let Some(fd) = a.fd {
        given.push(("--fd", Listen::Fd(fd)));
    }
    if let Some(v) = a.listen.take() {
        let addr = parse_tcp(&v).map_err(|why| invalid("--listen", v.clone(), why))?;
        if !addr.ip().is_loopback() && !a.allow_remote {
            return Err(invalid(
                "--listen",
                v,
                "not a loopback address (add --allow-remote)",
            ));
        }
        given.push(("--listen", Listen::Tcp(addr)));
    }
    if a.stdio {
        given.push(("--stdio", Listen::Stdio));
    }
    if a.allow_remote && !given.iter().any(|(f, _)| *f == "--listen") {
        return Err(ArgsError::Missing("--listen (for --allow-remote)"));
    }
    if given.len() > 1 {
        return Err(ArgsError::Conflict(given[0].0, given[1].0));
    }
    let (flag, listen) = match given.pop() {
        Some(g) => g,
        None if protocol == Protocol::P9 => {
            return Err(ArgsError::Missing(
                "--socket-path, --fd, --listen or --stdio",
            ))
        }
        None => return Err(ArgsError::Missing("--socket-path or --fd")),
    };
    if protocol != Protocol::P9 && matches!(listen, Listen::Tcp(_) | Listen::Stdio) {
        return Err(ArgsError::Conflict(flag, "a vhost-user --protocol"));
    }
    if protocol.is_9p() {
        // What only a vhost-user-fs device has, and what the 9P session does not do yet.
        let refused = [
            ("--tag", a.tag.is_some() && protocol == Protocol::P9),
            ("--dax-window", a.dax_window.is_some()),
            ("--uid-map", !a.uid_map.is_empty()),
            ("--gid-map", !a.gid_map.is_empty()),
            ("--translate-uid", !a.translate_uid.is_empty()),
            ("--translate-gid", !a.translate_gid.is_empty()),
        ];
        if let Some((f, _)) = refused.iter().find(|(_, on)| *on) {
            return Err(ArgsError::Conflict(f, "--protocol 9p"));
        }
    }
    Ok(listen)
}

/// `tcp:ADDR:PORT` (an IPv6 address in brackets).
fn parse_tcp(v: &str) -> Result<std::net::SocketAddr, &'static str> {
    let rest = v.strip_prefix("tcp:").ok_or("expected tcp:ADDR:PORT")?;
    rest.parse()
        .map_err(|_| "expected tcp:ADDR:PORT, such as tcp:127.0.0.1:5640")
}

/// A window size: powers of 1024 for K/M/G/T, a non-zero multiple of 2 MiB, at most 1 TiB.
fn parse_window(v: &str) -> Result<u64, &'static str> {
    let n = parse_size::Config::new()
        .with_binary()
        .parse_size(v)
        .map_err(|_| "expected a size such as 512M or 2G")?;
    ferry_server::transport::shmem::check_size(n).map(|()| n)
}

/// One kind's id map from its user-namespace ranges or its translation rules (not both: the
/// two would disagree on what an id no rule covers becomes).
fn id_map(
    ns_flag: &'static str,
    ns: &[String],
    tr_flag: &'static str,
    tr: &[String],
) -> Result<IdMap, ArgsError> {
    match (ns.is_empty(), tr.is_empty()) {
        (false, false) => Err(ArgsError::Conflict(ns_flag, tr_flag)),
        (false, true) => IdMap::from_userns(ns).map_err(|e| ArgsError::Ids(ns_flag, e)),
        _ => IdMap::from_translate(tr).map_err(|e| ArgsError::Ids(tr_flag, e)),
    }
}

fn invalid(flag: &'static str, value: String, why: &'static str) -> ArgsError {
    ArgsError::Invalid { flag, value, why }
}

#[cfg(test)]
mod tests;
