//! Spawning a vhost-user-fs daemon and waiting for its socket; reaping it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A daemon process this client started. Killed on drop if still running.
pub struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    /// Starts `cmd` and waits until `socket` exists (or the process exits, or `timeout`).
    pub fn spawn(mut cmd: Command, socket: &Path, timeout: Duration) -> Result<Self> {
        let child = cmd.spawn().map_err(Error::io("spawn daemon"))?;
        let mut d = Daemon {
            child,
            socket: socket.to_path_buf(),
        };
        let deadline = Instant::now() + timeout;
        while !socket.exists() {
            if let Some(st) = d.child.try_wait().map_err(Error::io("wait daemon"))? {
                return Err(Error::Io {
                    what: "daemon exited before creating its socket",
                    source: std::io::Error::other(format!("{st}")),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NoSocket(socket.display().to_string()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(d)
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().map_err(Error::io("wait daemon"))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(Some(st));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the process and reaps it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
