//! `ferry-guest watch`: the agent's loop. Reads one page of the mount's agent node at offset
//! 0, each time after dropping it from the guest's page cache (the daemon opens the node
//! with direct I/O, but under zero-message opens the guest sends no OPEN and reads through
//! its page cache), and replays each record. ferryd holds a read that has nothing to tell
//! until a change comes, or a second passes (a long poll); an empty batch that came back
//! sooner than `idle` means a daemon that does not hold reads, and the next read comes after
//! a pause that grows to `idle`. Reads are the heartbeat: the daemon keeps long timeouts only
//! while they come, at least every 2 s.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_agent_proto::{decode, Kind, NODE_NAME};

use crate::{replay, sys};

/// Bytes per read: one page, so one FUSE request whichever way the guest reads (a larger
/// read can be split into requests sent at once, each taking its own batch, in any order).
/// The daemon fits whole records into each reply.
const BUF: usize = 4096;

pub fn run(mount: &Path, idle: Duration, verbose: bool) -> io::Result<()> {
    let mpath = sys::cpath(mount.as_os_str().as_encoded_bytes())?;
    let m = sys::open(&mpath, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", mount.display())))?;
    let node = sys::cpath(NODE_NAME.as_bytes())?;
    let ch = sys::openat(m.as_fd(), &node, libc::O_RDONLY).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}/{NODE_NAME}: {e} (is this a ferryd share?)",
                mount.display()
            ),
        )
    })?;
    sys::fadvise(ch.as_fd(), libc::POSIX_FADV_RANDOM)?;
    let mut buf = vec![0u8; BUF];
    let mut pause = Duration::from_millis(1);
    loop {
        sys::fadvise(ch.as_fd(), libc::POSIX_FADV_DONTNEED)?;
        let asked = Instant::now();
        let n = match sys::pread0(ch.as_fd(), &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOTCONN | libc::EBADF | libc::EACCES)
                ) =>
            {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading {NODE_NAME}: {e}"),
                ));
            }
            Err(e) => {
                // The daemon went back to short timeouts if this lasts: try again.
                eprintln!("ferry-guest: reading {NODE_NAME}: {e}; again in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let batch = &buf[..n];
        if batch.len() < 4 || batch[..4] == [0; 4] {
            if asked.elapsed() < idle {
                std::thread::sleep(pause);
                pause = (pause * 2).min(idle);
            }
            continue;
        }
        pause = Duration::from_millis(1);
        let records = match decode(batch) {
            Ok(r) => r,
            Err(e) => {
                // Never expected; what the batch said is lost, so everything may be stale.
                eprintln!("ferry-guest: a batch of {n} bytes does not decode ({e:?}): resync");
                vec![ferry_agent_proto::Record {
                    kind: Kind::Resync,
                    mode: libc::S_IFDIR,
                    path: Vec::new(),
                    to: Vec::new(),
                }]
            }
        };
        for r in &records {
            let res = replay::replay(m.as_fd(), r);
            if verbose || (res.is_err() && r.kind != Kind::Resync) {
                let to = if r.to.is_empty() {
                    String::new()
                } else {
                    format!(" -> {}", String::from_utf8_lossy(&r.to))
                };
                eprintln!(
                    "ferry-guest: {:?} {}{to}: {}",
                    r.kind,
                    String::from_utf8_lossy(&r.path),
                    match &res {
                        Ok(()) => "ok".to_string(),
                        Err(e) => e.to_string(),
                    }
                );
            }
        }
    }
}
