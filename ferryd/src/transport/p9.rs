//! 9P2000.L clients: from a listening socket (a unix path, TCP, or inherited with `--fd`), or
//! a single connection (an inherited connected socket, such as a vsock connection a proxy
//! hands over, or stdin/stdout). Each client gets its own thread and its own
//! `ferry_server::p9::Session` (its own fids) over the one shared backend.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_server::config::Listen;
use ferry_server::fs::Backend;
use ferry_server::p9::{serve as serve_stream, Session, SessionOptions};
use log::{info, warn};

use crate::sys;

/// Where 9P clients come from, opened before the sandbox hides paths and the network.
#[derive(Debug)]
pub enum Source {
    Listener(OwnedFd),
    One(OwnedFd),
    Stdio,
}

/// Opens what `listen` names.
pub fn open(listen: &Listen) -> io::Result<Source> {
    Ok(match listen {
        Listen::Path(p) => {
            // A stale socket from an earlier run is replaced, as for vhost-user.
            if std::fs::symlink_metadata(p)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                std::fs::remove_file(p)?;
            }
            let l = std::os::unix::net::UnixListener::bind(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            Source::Listener(l.into())
        }
        Listen::Tcp(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
            sys::set_nodelay(l.as_fd())?;
            Source::Listener(l.into())
        }
        Listen::Fd(fd) => {
            // Checked to be a socket; then owned, as nothing else in the daemon uses it.
            let fd = OwnedFd::from(sys::listener_from_fd(*fd)?);
            if sys::is_listening(fd.as_fd())? {
                Source::Listener(fd)
            } else {
                Source::One(fd)
            }
        }
        Listen::Stdio => Source::Stdio,
    })
}

/// Serves clients until the single connection ends, or forever from a listener.
pub fn serve<F: Backend + 'static>(
    src: Source,
    fs: Arc<F>,
    opts: SessionOptions,
    max_clients: usize,
) -> io::Result<()> {
    match src {
        Source::One(fd) => {
            info!("9P: serving one connection");
            client(fs, opts, std::fs::File::from(fd));
            Ok(())
        }
        Source::Stdio => {
            info!("9P: serving standard input and output");
            client(fs, opts, StdioStream::new()?);
            Ok(())
        }
        Source::Listener(l) => {
            let active = Arc::new(AtomicUsize::new(0));
            loop {
                let c = match sys::accept(l.as_fd()) {
                    Ok(c) => c,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ECONNABORTED)) =>
                    {
                        continue
                    }
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                        warn!("9P: cannot accept a client: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if active.load(Ordering::Relaxed) >= max_clients {
                    warn!("9P: {max_clients} clients already: a new one is refused");
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (fs, active2) = (Arc::clone(&fs), Arc::clone(&active));
                let spawned =
                    std::thread::Builder::new()
                        .name("ferryd-9p".into())
                        .spawn(move || {
                            client(fs, opts, std::fs::File::from(c));
                            active2.fetch_sub(1, Ordering::Relaxed);
                        });
                if let Err(e) = spawned {
                    active.fetch_sub(1, Ordering::Relaxed);
                    warn!("9P: cannot start a client's thread: {e}");
                }
            }
        }
    }
}

/// One client's session, to the end of its connection.
fn client<F: Backend, S: Read + Write>(fs: Arc<F>, opts: SessionOptions, mut stream: S) {
    let mut session = Session::new(fs, opts);
    match serve_stream(&mut session, &mut stream) {
        Ok(()) => info!("9P: a client disconnected"),
        Err(e) => warn!("9P: a client's connection ended: {e}"),
    }
}

/// Standard input and output as one stream.
struct StdioStream {
    input: std::fs::File,
    output: std::fs::File,
}

impl StdioStream {
    fn new() -> io::Result<Self> {
        let dup = |fd| {
            // SAFETY: dup takes an fd number only; the result is checked.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if d < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `d` is a new fd nothing else owns.
            Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(d) }))
        };
        Ok(StdioStream {
            input: dup(0)?,
            output: dup(1)?,
        })
    }
}

impl Read for StdioStream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.input.read(b)
    }
}

impl Write for StdioStream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.output.write(b)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}
