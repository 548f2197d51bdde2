//! Which daemon to start and how: command templates with {socket} and {dir}, the default
//! ferryd, and a started daemon with its connected client.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry_guest_client::{Client, ClientOptions, Daemon};

/// A daemon under test: a name and a command template.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub template: String,
}

/// This build's ferryd: next to the running `ferry`, else target/release/ferryd.
pub fn default_ferryd() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.to_path_buf()))
    {
        tried.push(dir.join("ferryd"));
    }
    tried.push(PathBuf::from("target/release/ferryd"));
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| format!("no ferryd found (tried {tried:?}); build it or pass --daemon"))
}

impl Spec {
    /// The default daemon: ferryd with virtiofsd's two required flags.
    pub fn default_ferryd() -> Result<Self, String> {
        let bin = default_ferryd()?;
        Ok(Spec {
            name: "ferryd".into(),
            template: format!(
                "{} --socket-path {{socket}} --shared-dir {{dir}}",
                bin.display()
            ),
        })
    }

    /// A spec from a user's template; its name is the program's file name unless given.
    pub fn from_template(template: &str, name: Option<&str>) -> Result<Self, String> {
        if !template.contains("{socket}") {
            return Err(format!("daemon command has no {{socket}}: {template:?}"));
        }
        let prog = template.split_whitespace().next().unwrap_or("daemon");
        let base = Path::new(prog)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| prog.to_string());
        Ok(Spec {
            name: name.map(str::to_string).unwrap_or(base),
            template: template.to_string(),
        })
    }

    /// The shell command for this socket and directory.
    pub fn command_line(&self, socket: &Path, dir: &Path) -> String {
        self.template
            .replace("{socket}", &socket.display().to_string())
            .replace("{dir}", &dir.display().to_string())
    }
}

/// A running daemon and the client connected to it.
pub struct Running {
    pub daemon: Daemon,
    pub client: Client,
}

/// Starts `spec` on `socket` sharing `dir` and connects with `opts` (INIT done).
/// The daemon's stdout and stderr go to `log` (its last lines are quoted if it fails).
pub fn start(
    spec: &Spec,
    socket: &Path,
    dir: &Path,
    log: &Path,
    opts: ClientOptions,
) -> Result<Running, String> {
    let _ = std::fs::remove_file(socket);
    let line = spec.command_line(socket, dir);
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec {line}"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let daemon = Daemon::spawn(cmd, socket, Duration::from_secs(20))
        .map_err(|e| format!("{}: start `{line}`: {e}{}", spec.name, log_tail(log)))?;
    let client = Client::connect_and_init(socket, opts)
        .map_err(|e| format!("{}: connect and INIT: {e}{}", spec.name, log_tail(log)))?;
    Ok(Running { daemon, client })
}

/// The last lines of a daemon's log, to quote in an error.
pub fn log_tail(log: &Path) -> String {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n  daemon log ({}):\n  {tail}", log.display())
    }
}

impl Running {
    /// Hangs up (the daemon exits on its own, as when a VMM goes away), then makes sure.
    pub fn stop(self) {
        let Running { mut daemon, client } = self;
        drop(client);
        if !matches!(daemon.wait_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            daemon.kill();
        }
    }
}
