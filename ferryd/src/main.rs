//! ferryd: the vhost-user-fs daemon a VMM spawns once per shared directory. The command line
//! ([`args`]), the sandbox ([`sandbox`]) and the vhost-user device ([`transport`]) over the
//! `ferry_server` library.

mod args;
mod sandbox;
mod sys;
mod transport;

use std::process::ExitCode;
use std::sync::Arc;

use crate::args::{Args, CAPABILITIES};
use crate::sandbox::Confinable;
use crate::transport::vhost_p9::P9Device;
use crate::transport::vhost_user::{DeviceConfig, FsDevice};
use clap::Parser;
use ferry_server::config::{BackendKind, CachePolicy, Config, Listen, Protocol};
use ferry_server::fs::{self, Backend};
use ferry_server::session::stats::Stats;
use ferry_server::session::{Server, ServerOptions, Window};
use ferry_server::transport::shmem::ShmemWindow;
use log::{error, info, warn};
use signal_hook::consts::SIGUSR1;
use signal_hook::iterator::Signals;
use vhost::vhost_user::{Error as VuError, Listener};
use vhost_user_backend::{Error as DaemonError, VhostUserBackend, VhostUserDaemon};

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_capabilities {
        println!("{CAPABILITIES}");
        return ExitCode::SUCCESS;
    }
    if args.print_manpage {
        let man = clap_mangen::Man::new(<Args as clap::CommandFactory>::command());
        if let Err(e) = man.render(&mut std::io::stdout().lock()) {
            eprintln!("ferryd: {e}");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let cfg = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferryd: {e}");
            return ExitCode::FAILURE;
        }
    };
    env_logger::Builder::new()
        .filter_level(cfg.log_level)
        .parse_env("FERRY_LOG")
        .init();
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: Config) -> Result<(), Box<dyn std::error::Error>> {
    match cfg.rlimit_nofile {
        Some(0) => {}
        want => match sys::raise_nofile(want.unwrap_or(0)) {
            Ok(n) => info!("RLIMIT_NOFILE {n}"),
            Err(e) if want.is_none() => warn!("cannot raise RLIMIT_NOFILE: {e}"),
            Err(e) => return Err(format!("--rlimit-nofile: {e}").into()),
        },
    }
    match cfg.backend {
        BackendKind::Linux => serve(cfg, fs::linux),
        BackendKind::Portable => serve(cfg, fs::portable),
    }
}

/// How a backend is made for a configuration (`fs::linux`, `fs::portable`).
type Make<B> = fn(&Config) -> std::io::Result<B>;

/// Serves the share with the backend `make` makes, over the configured protocol.
fn serve<B: Backend + Confinable + 'static>(
    cfg: Config,
    make: Make<B>,
) -> Result<(), Box<dyn std::error::Error>> {
    match cfg.protocol {
        Protocol::P9 => return run_9p(cfg, make),
        Protocol::P9Virtio => return run_9p_virtio(cfg, make),
        Protocol::VirtioFs => {}
    }
    // The socket comes first: the sandbox may hide its path from the daemon.
    let listener = vhost_listener(&cfg)?;
    let backend = confined_backend(&cfg, make)?;
    let opts = ServerOptions {
        readonly: cfg.readonly,
        readdirplus: cfg.readdirplus,
        announce_submounts: cfg.announce_submounts,
        posix_acl: cfg.posix_acl,
        auto_inval_data: cfg.cache != CachePolicy::Never,
        allow_mmap: cfg.allow_mmap,
        flush_needed: cfg.locks,
        ids: cfg.ids.clone(),
        agent: cfg
            .agent_timeout
            .map(|long| ferry_server::session::agent::AgentOptions { long }),
        dax_min_size: cfg.dax_min_size,
    };
    let mut server = Server::new(backend, opts);
    let stats = cfg.stats.then(|| Arc::new(Stats::default()));
    if let Some(s) = &stats {
        server = server.with_stats(Arc::clone(s));
        dump_stats_on_sigusr1(Arc::clone(s))?;
    }
    let window = match cfg.dax_window {
        Some(size) => Some(Arc::new(ShmemWindow::new(size)?)),
        None => None,
    };
    if let Some(w) = &window {
        server = server.with_window(Arc::clone(w) as Arc<dyn Window>);
    }
    let mut device = FsDevice::new(
        Arc::new(server),
        DeviceConfig {
            request_queues: cfg.request_queues,
            tag: cfg.tag.clone(),
            thread_pool_size: cfg.thread_pool_size,
        },
    )?;
    if let Some(w) = window {
        device = device.with_window(w);
    }
    let device = Arc::new(device);
    let daemon = device
        .into_daemon("ferryd")
        .map_err(|e| format!("cannot create the vhost-user daemon: {e:?}"))?;
    let res = serve_vhost(&cfg, daemon, listener);
    if let Some(s) = stats {
        eprint!("ferryd request statistics:\n{}", s.table());
    }
    res
}

/// The share's backend, with the process confined around it: the sandbox prepared (namespace
/// or chroot), umask 0 (files are created with the modes the guest asks for), the backend
/// opened on the share (and set up for 9P when serving 9P), then the sandbox and the seccomp
/// filter closed around it. Every protocol goes through here; sockets are opened before.
fn confined_backend<B: Backend + Confinable>(
    cfg: &Config,
    make: Make<B>,
) -> Result<B, Box<dyn std::error::Error>> {
    let shared = |e: std::io::Error| format!("{}: {e}", cfg.shared_dir.display());
    let root = cfg.shared_dir.canonicalize().map_err(shared)?;
    sandbox::prepare(cfg, &root).map_err(|e| format!("sandbox: {e}"))?;
    sys::set_umask(0);
    let backend = make(cfg).map_err(shared)?;
    if cfg.protocol != Protocol::VirtioFs {
        ferry_server::p9::init_backend(&backend)?;
    }
    sandbox::confine(cfg, &root, &backend).map_err(|e| format!("sandbox: {e}"))?;
    Ok(backend)
}

/// The vhost-user socket: created at --socket-path, or inherited (--fd).
fn vhost_listener(cfg: &Config) -> Result<Listener, Box<dyn std::error::Error>> {
    Ok(match &cfg.listen {
        Listen::Tcp(_) | Listen::Stdio => {
            return Err("a vhost-user device needs --socket-path or --fd".into())
        }
        Listen::Path(p) => {
            let l = Listener::new(p, true).map_err(|e| format!("{}: {e}", p.display()))?;
            if let Some(g) = &cfg.socket_group {
                sys::set_socket_group(p, g).map_err(|e| format!("--socket-group {g}: {e}"))?;
            }
            l
        }
        Listen::Fd(fd) => Listener::from(sys::listener_from_fd(*fd)?),
    })
}

/// Waits for the VMM on `listener` and serves it with `daemon` until it disconnects.
fn serve_vhost<T>(
    cfg: &Config,
    mut daemon: VhostUserDaemon<T>,
    mut listener: Listener,
) -> Result<(), Box<dyn std::error::Error>>
where
    T: VhostUserBackend<Bitmap = ()> + Clone + 'static,
    T::Vring: Clone + Send + Sync,
{
    info!(
        "serving {} on {:?}, waiting for the VMM",
        cfg.shared_dir.display(),
        cfg.listen
    );
    daemon
        .start(&mut listener)
        .map_err(|e| format!("vhost-user connection failed: {e:?}"))?;
    info!("VMM connected");
    let res = match daemon.wait() {
        Ok(())
        | Err(DaemonError::HandleRequest(VuError::Disconnected | VuError::PartialMessage)) => {
            info!("VMM disconnected: exiting");
            Ok(())
        }
        Err(e) => Err(format!("vhost-user connection failed: {e:?}").into()),
    };
    // The queue threads wait for an exit event only VhostUserDaemon::serve() sends, so dropping
    // the daemon would join them forever: leave it to the process exit instead.
    std::mem::forget(daemon);
    // Dropping the listener would unlink its socket path: outside the sandbox's view, and a
    // call the seccomp filter refuses. The next start replaces the stale socket.
    std::mem::forget(listener);
    res
}

/// `--protocol 9p-virtio`: a vhost-user virtio-9p device (QEMU 11.1's generic
/// vhost-user-test-device-pci with virtio-id=9) over the same backend, sandbox and seccomp; one
/// guest, one 9P session.
fn run_9p_virtio<B: Backend + Confinable + 'static>(
    cfg: Config,
    make: Make<B>,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = vhost_listener(&cfg)?;
    let backend = confined_backend(&cfg, make)?;
    let opts = ferry_server::p9::SessionOptions {
        readonly: cfg.readonly,
        ..Default::default()
    };
    let tag = cfg
        .tag
        .clone()
        .unwrap_or_else(|| DEFAULT_9P_TAG.to_string());
    let device = Arc::new(P9Device::new(Arc::new(backend), opts, tag)?);
    let daemon = device
        .into_daemon("ferryd")
        .map_err(|e| format!("cannot create the vhost-user daemon: {e:?}"))?;
    serve_vhost(&cfg, daemon, listener)
}

/// The virtio-9p mount tag without --tag.
const DEFAULT_9P_TAG: &str = "ferry";

/// `--protocol 9p`: the same backend, sandbox and seccomp filter, with 9P2000.L clients
/// instead of a VMM. Serves until the single client leaves, or forever from a listener.
fn run_9p<B: Backend + Confinable + 'static>(
    cfg: Config,
    make: Make<B>,
) -> Result<(), Box<dyn std::error::Error>> {
    // The socket comes first: the sandbox hides its path and the network.
    let src = transport::p9::open(&cfg.listen)?;
    if let (Listen::Path(p), Some(g)) = (&cfg.listen, &cfg.socket_group) {
        sys::set_socket_group(p, g).map_err(|e| format!("--socket-group {g}: {e}"))?;
    }
    // A 9P server outlives each client: it is stopped with a signal, which is a clean exit.
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only calls _exit, which is async-signal-safe.
        unsafe { signal_hook::low_level::register(sig, || libc::_exit(0)) }?;
    }
    let backend = confined_backend(&cfg, make)?;
    info!(
        "serving {} over 9P2000.L on {:?}",
        cfg.shared_dir.display(),
        cfg.listen
    );
    let opts = ferry_server::p9::SessionOptions {
        readonly: cfg.readonly,
        ..Default::default()
    };
    transport::p9::serve(src, Arc::new(backend), opts, MAX_9P_CLIENTS)?;
    Ok(())
}

/// Most 9P clients served at once (each has a thread and its own fids).
const MAX_9P_CLIENTS: usize = 64;

/// Prints the statistics table to stderr whenever the daemon gets SIGUSR1.
fn dump_stats_on_sigusr1(stats: Arc<Stats>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGUSR1])?;
    std::thread::Builder::new()
        .name("ferryd-stats".into())
        .spawn(move || {
            for _ in signals.forever() {
                eprint!("ferryd request statistics:\n{}", stats.table());
            }
        })?;
    Ok(())
}
