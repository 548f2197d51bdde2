//! Errors: a daemon's errno reply, and everything that can go wrong below FUSE (the vhost-user
//! control plane, guest memory, the virtqueue, a reply that breaks the protocol).

use std::fmt;
use std::io;

/// An errno the daemon answered with (positive, as in `libc::ENOENT`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Errno({} {})",
            self.0,
            io::Error::from_raw_os_error(self.0)
        )
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "errno {}: {}",
            self.0,
            io::Error::from_raw_os_error(self.0)
        )
    }
}

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered the request with an errno.
    #[error("daemon replied {0}")]
    Errno(Errno),
    /// The vhost-user control plane failed.
    #[error("vhost-user: {0}")]
    Vhost(#[source] vhost::Error),
    /// A system call of the client failed.
    #[error("{what}: {source}")]
    Io {
        /// What the client was doing.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Guest memory could not be set up or accessed.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The daemon's socket did not appear, or did not accept, in time.
    #[error("no vhost-user socket at {0} in time")]
    NoSocket(String),
    /// The daemon lacks something the client needs.
    #[error("daemon does not offer {0}")]
    Unsupported(&'static str),
    /// No completion arrived in time.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The daemon hung up the vhost-user socket.
    #[error("daemon disconnected")]
    Disconnected,
    /// The queue has no room for the chain (descriptors or buffer space).
    #[error("queue full: {0}")]
    QueueFull(&'static str),
    /// The request cannot be expressed (a bad argument on the client side).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The daemon broke the virtqueue protocol (used id not in flight, used length beyond
    /// the writable buffers); the queue is unusable afterwards.
    #[error("virtqueue protocol violation: {0}")]
    Ring(String),
    /// A reply that does not parse: too short, wrong unique, inconsistent lengths.
    #[error("bad reply: {0}")]
    BadReply(String),
}

impl Error {
    /// The errno, if the daemon answered with one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Errno(e) => Some(e.0),
            _ => None,
        }
    }

    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { what, source }
    }
}

impl From<vhost::Error> for Error {
    fn from(e: vhost::Error) -> Self {
        Error::Vhost(e)
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Errno(e)
    }
}

/// Result of a client call.
pub type Result<T> = std::result::Result<T, Error>;

/// `Result` helpers for tests and callers that only care about the errno.
pub trait ResultExt<T> {
    /// `Ok(v)`, `Err(errno)` for an errno reply; panics on a transport failure, which is never
    /// a legitimate outcome in a test.
    fn errno(self) -> std::result::Result<T, i32>;
}

impl<T> ResultExt<T> for Result<T> {
    fn errno(self) -> std::result::Result<T, i32> {
        match self {
            Ok(v) => Ok(v),
            Err(Error::Errno(e)) => Err(e.0),
            Err(e) => panic!("transport failure, not an errno: {e}"),
        }
    }
}
