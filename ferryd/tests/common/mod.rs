//! Shared harness of the integration tests: start a daemon (this build's ferryd, or upstream
//! virtiofsd when installed) on a temporary directory and socket, and connect the
//! guest-client to it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry_guest_client::{Client, ClientOptions, Daemon, EntryOut, ROOT};
use tempfile::TempDir;

/// Which daemon a harness runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// This build's ferryd.
    Ferryd,
    /// Upstream virtiofsd at this path.
    Virtiofsd(PathBuf),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Ferryd => "ferryd",
            Kind::Virtiofsd(_) => "virtiofsd",
        }
    }

    pub fn is_ferryd(&self) -> bool {
        *self == Kind::Ferryd
    }
}

/// Upstream virtiofsd: `$FERRY_VIRTIOFSD`, else `.work/tools/bin/virtiofsd` of the checkout.
pub fn virtiofsd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRY_VIRTIOFSD") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.work/tools/bin/virtiofsd");
    p.is_file().then_some(p)
}

/// ferryd, and virtiofsd when installed (a notice is printed when it is not).
/// `FERRY_TEST_ONLY=ferryd` or `=virtiofsd` restricts the list.
pub fn daemons() -> Vec<Kind> {
    let only = std::env::var("FERRY_TEST_ONLY").unwrap_or_default();
    let mut v = Vec::new();
    if only.is_empty() || only == "ferryd" {
        v.push(Kind::Ferryd);
    }
    if !(only.is_empty() || only == "virtiofsd") {
        return v;
    }
    match virtiofsd() {
        Some(p) => v.push(Kind::Virtiofsd(p)),
        None => eprintln!(
            "NOTICE: upstream virtiofsd not found (set FERRY_VIRTIOFSD or run \
             scripts/prepare-guest.sh); its half of this test is skipped"
        ),
    }
    v
}

/// A running daemon, its shared directory and a connected, initialised client.
pub struct Harness {
    // Field order is drop order: the client hangs up before the daemon is reaped.
    pub client: Client,
    pub daemon: Daemon,
    pub kind: Kind,
    pub dir: TempDir,
    pub sock_dir: TempDir,
}

/// Starts `kind` with extra daemon flags.
pub fn start(kind: &Kind, extra: &[&str]) -> Harness {
    try_start(kind, extra, ClientOptions::default())
        .unwrap_or_else(|e| panic!("{}: cannot start and connect: {e}", kind.name()))
}

pub fn spawn(kind: &Kind, extra: &[&str]) -> (Daemon, TempDir, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (daemon, sock_dir) = spawn_at(kind, dir.path(), extra);
    (daemon, dir, sock_dir)
}

/// Starts `kind` serving `dir` (which the caller owns); returns the daemon and the directory
/// holding its socket.
pub fn spawn_at(kind: &Kind, dir: &Path, extra: &[&str]) -> (Daemon, TempDir) {
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let sock = sock_dir.path().join("vfs.sock");
    let mut cmd = match kind {
        Kind::Ferryd => Command::new(env!("CARGO_BIN_EXE_ferryd")),
        Kind::Virtiofsd(p) => {
            let mut c = Command::new(p);
            c.arg("--sandbox").arg("none");
            c
        }
    };
    cmd.arg("--socket-path")
        .arg(&sock)
        .arg("--shared-dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null());
    if std::env::var_os("FERRY_TEST_DAEMON_LOG").is_none() {
        cmd.stderr(Stdio::null()).stdout(Stdio::null());
    }
    let daemon = Daemon::spawn(cmd, &sock, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
    (daemon, sock_dir)
}

/// Starts `kind` serving `dir` (prepared by the caller), with a connected client.
#[allow(dead_code)]
pub fn start_at_owned(kind: &Kind, dir: TempDir, extra: &[&str]) -> Harness {
    let (daemon, sock_dir) = spawn_at(kind, dir.path(), extra);
    let client = Client::connect_and_init(daemon.socket(), ClientOptions::default())
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", kind.name()));
    Harness {
        client,
        daemon,
        kind: kind.clone(),
        dir,
        sock_dir,
    }
}

pub fn try_start(
    kind: &Kind,
    extra: &[&str],
    opts: ClientOptions,
) -> ferry_guest_client::Result<Harness> {
    let (daemon, dir, sock_dir) = spawn(kind, extra);
    let client = Client::connect_and_init(daemon.socket(), opts)?;
    Ok(Harness {
        client,
        daemon,
        kind: kind.clone(),
        dir,
        sock_dir,
    })
}

impl Harness {
    pub fn c(&self) -> &Client {
        &self.client
    }

    pub fn is_ferryd(&self) -> bool {
        self.kind.is_ferryd()
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Host path of `rel` inside the shared directory.
    pub fn host(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// LOOKUP of `name` in the root.
    pub fn lookup(&self, name: &str) -> EntryOut {
        self.client
            .lookup(ROOT, name)
            .unwrap_or_else(|e| panic!("{}: lookup {name}: {e}", self.name()))
    }

    /// Creates `name` in `parent` with `data`; returns its node id (handle released).
    pub fn file(&self, parent: u64, name: &str, data: &[u8]) -> u64 {
        let c = &self.client;
        let (e, o) = c
            .create(parent, name, libc::O_RDWR as u32, 0o644, 0)
            .unwrap_or_else(|e| panic!("{}: create {name}: {e}", self.name()));
        if !data.is_empty() {
            assert_eq!(
                c.write(e.nodeid, o.fh, 0, data).unwrap() as usize,
                data.len()
            );
        }
        c.release(e.nodeid, o.fh, libc::O_RDWR as u32).unwrap();
        e.nodeid
    }

    /// Hangs up and returns the daemon's exit status (None if it did not exit in 10 s).
    pub fn disconnect(self) -> Option<std::process::ExitStatus> {
        let Harness {
            client, mut daemon, ..
        } = self;
        drop(client);
        daemon.wait_timeout(Duration::from_secs(10)).expect("wait")
    }
}

/// Runs `f` against every available daemon.
pub fn each(extra_ferryd: &[&str], extra_virtiofsd: &[&str], f: impl Fn(&Harness)) {
    for k in daemons() {
        let extra = if k.is_ferryd() {
            extra_ferryd
        } else {
            extra_virtiofsd
        };
        let h = start(&k, extra);
        eprintln!("--- {}", h.name());
        f(&h);
        let st = h.disconnect();
        assert!(st.is_some(), "daemon did not exit after the client hung up");
    }
}

/// The errno of a call that must fail with one.
#[track_caller]
pub fn err<T: std::fmt::Debug>(r: ferry_guest_client::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an errno, got Ok({v:?})"),
        Err(ferry_guest_client::Error::Errno(e)) => e.0,
        Err(e) => panic!("expected an errno, got a transport failure: {e}"),
    }
}

/// Names in a directory listing, without `.` and `..`, sorted.
pub fn names(c: &Client, dir: u64) -> Vec<String> {
    let fh = c.opendir(dir).expect("opendir").fh;
    let mut v: Vec<String> = c
        .readdir_all(dir, fh, 4096, 100_000)
        .expect("readdir")
        .into_iter()
        .map(|e| e.name_str())
        .filter(|n| n != "." && n != "..")
        .collect();
    c.releasedir(dir, fh).expect("releasedir");
    v.sort();
    v
}
