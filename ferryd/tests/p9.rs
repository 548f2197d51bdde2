//! `ferryd --protocol 9p` as a process: its listeners (a unix socket, TCP on loopback, stdin
//! and stdout), several clients at once each with its own fids, a hostile client that does
//! not disturb the others, and a clean exit on SIGTERM. The 9P client here is written apart
//! from ferry-9p (an independent encoder, as guest-client is for FUSE).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TVERSION: u8 = 100;
const TATTACH: u8 = 104;
const TWALK: u8 = 110;
const TLCREATE: u8 = 14;
const TLOPEN: u8 = 12;
const TREAD: u8 = 116;
const TWRITE: u8 = 118;
const TCLUNK: u8 = 120;
const RLERROR: u8 = 7;

struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
    share: PathBuf,
    sock: PathBuf,
}

impl Daemon {
    fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let sock = dir.path().join("9p.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_ferryd"))
            .args(["--protocol", "9p", "--shared-dir"])
            .arg(&share)
            .arg("--socket-path")
            .arg(&sock)
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !sock.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            _dir: dir,
            share,
            sock,
        }
    }

    fn connect(&self) -> Client<UnixStream> {
        // The socket exists a moment before the daemon accepts: retry briefly.
        let t0 = Instant::now();
        loop {
            match UnixStream::connect(&self.sock) {
                Ok(s) => return Client::new(s),
                Err(e) if t0.elapsed() < Duration::from_secs(10) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connect: {e}"),
            }
        }
    }

    fn terminate(mut self) -> Option<i32> {
        // SAFETY: kill takes a pid and a signal number only.
        unsafe { libc::kill(self.child.id().cast_signed(), libc::SIGTERM) };
        wait(&mut self.child, Duration::from_secs(10))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        assert!(t0.elapsed() < limit, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Client<S: Read + Write> {
    s: S,
}

/// A reply: its type and body.
type Reply = (u8, Vec<u8>);

impl<S: Read + Write> Client<S> {
    fn new(s: S) -> Self {
        Client { s }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn recv(&mut self) -> std::io::Result<Reply> {
        let mut size = [0u8; 4];
        self.s.read_exact(&mut size)?;
        let n = u32::from_le_bytes(size) as usize;
        let mut rest = vec![0u8; n - 4];
        self.s.read_exact(&mut rest)?;
        Ok((rest[0], rest[3..].to_vec()))
    }

    fn rpc(&mut self, ty: u8, body: &[u8]) -> Reply {
        let mut f = ((7 + body.len()) as u32).to_le_bytes().to_vec();
        f.push(ty);
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(body);
        self.send_raw(&f);
        self.recv().unwrap()
    }

    fn ok(&mut self, ty: u8, body: &[u8]) -> Vec<u8> {
        let (rty, b) = self.rpc(ty, body);
        assert_eq!(rty, ty + 1, "type {ty} answered {rty} {b:?}");
        b
    }

    fn attach(&mut self) {
        self.ok(
            TVERSION,
            &[&65536u32.to_le_bytes()[..], &s(b"9P2000.L")].concat(),
        );
        let attach = [
            &0u32.to_le_bytes()[..],
            &u32::MAX.to_le_bytes(),
            &s(b""),
            &s(b""),
            &0u32.to_le_bytes(),
        ];
        self.ok(TATTACH, &attach.concat());
    }

    fn create(&mut self, fid: u32, name: &[u8], data: &[u8]) {
        self.ok(
            TWALK,
            &[
                &0u32.to_le_bytes()[..],
                &fid.to_le_bytes(),
                &0u16.to_le_bytes(),
            ]
            .concat(),
        );
        let c = [
            &fid.to_le_bytes()[..],
            &s(name),
            &2u32.to_le_bytes(),
            &0o644u32.to_le_bytes(),
            &0u32.to_le_bytes(),
        ];
        self.ok(TLCREATE, &c.concat());
        let w = [
            &fid.to_le_bytes()[..],
            &0u64.to_le_bytes(),
            &(data.len() as u32).to_le_bytes(),
            data,
        ];
        self.ok(TWRITE, &w.concat());
    }

    /// Walks fid 0 to `name` as `fid`, opens it read-only and reads it.
    fn open_and_read(&mut self, fid: u32, name: &[u8]) -> Vec<u8> {
        let walk = [
            &0u32.to_le_bytes()[..],
            &fid.to_le_bytes(),
            &1u16.to_le_bytes(),
            &s(name),
        ];
        self.ok(TWALK, &walk.concat());
        self.ok(
            TLOPEN,
            &[&fid.to_le_bytes()[..], &0u32.to_le_bytes()].concat(),
        );
        self.read(fid)
    }

    fn read(&mut self, fid: u32) -> Vec<u8> {
        let b = self.ok(
            TREAD,
            &[
                &fid.to_le_bytes()[..],
                &0u64.to_le_bytes(),
                &4096u32.to_le_bytes(),
            ]
            .concat(),
        );
        b[4..].to_vec()
    }
}

fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn host(share: &Path, name: &str) -> Vec<u8> {
    std::fs::read(share.join(name)).unwrap()
}

#[test]
fn two_clients_keep_their_own_fids() {
    let d = Daemon::start(&[]);
    let (mut a, mut b) = (d.connect(), d.connect());
    a.attach();
    b.attach();
    // The same fid numbers, in two sessions, name different files.
    a.create(1, b"from-a", b"aaa");
    b.create(1, b"from-b", b"bbbb");
    assert_eq!(a.read(1), b"aaa");
    assert_eq!(b.read(1), b"bbbb");
    b.ok(TCLUNK, &1u32.to_le_bytes());
    assert_eq!(a.read(1), b"aaa", "a's fid 1 is not b's");
    assert_eq!(host(&d.share, "from-a"), b"aaa");
    assert_eq!(host(&d.share, "from-b"), b"bbbb");
    assert_eq!(d.terminate(), Some(0), "SIGTERM is a clean exit");
}

#[test]
fn a_hostile_client_does_not_disturb_the_others() {
    let d = Daemon::start(&[]);
    let mut good = d.connect();
    good.attach();
    good.create(1, b"f", b"data");

    // A frame over msize is read, dropped and answered EMSGSIZE; the session goes on.
    let mut bad = d.connect();
    bad.attach();
    let mut big = (70_000u32).to_le_bytes().to_vec();
    big.extend_from_slice(&[TWRITE, 9, 0]);
    big.resize(70_000, 0);
    bad.send_raw(&big);
    let (ty, body) = bad.recv().unwrap();
    assert_eq!(ty, RLERROR);
    assert_eq!(body, (libc::EMSGSIZE as u32).to_le_bytes());
    // Walks out of the share, fid reuse, an unknown type: errors, not a dead server.
    let (ty, _) = bad.rpc(
        TWALK,
        &[
            &0u32.to_le_bytes()[..],
            &2u32.to_le_bytes(),
            &1u16.to_le_bytes(),
            &s(b"../.."),
        ]
        .concat(),
    );
    assert_eq!(ty, RLERROR);
    let (ty, _) = bad.rpc(
        TWALK,
        &[
            &0u32.to_le_bytes()[..],
            &0u32.to_le_bytes(),
            &1u16.to_le_bytes(),
            &s(b".."),
        ]
        .concat(),
    );
    assert_eq!(ty, TWALK + 1, "`..` of the root is the root");
    let (ty, _) = bad.rpc(
        TWALK,
        &[
            &0u32.to_le_bytes()[..],
            &0u32.to_le_bytes(),
            &0u16.to_le_bytes(),
        ]
        .concat(),
    );
    assert_eq!(ty, TWALK + 1, "walking a fid onto itself");
    let (ty, _) = bad.rpc(
        TLOPEN,
        &[&99u32.to_le_bytes()[..], &0u32.to_le_bytes()].concat(),
    );
    assert_eq!(ty, RLERROR, "unknown fid");
    let (ty, _) = bad.rpc(63, &[]);
    assert_eq!(ty, RLERROR, "unknown type");
    // A size field under the header's 7 bytes cannot be framed past: that connection ends.
    bad.send_raw(&[3, 0, 0, 0]);
    assert!(bad.recv().is_err(), "the connection is closed");

    // The first client never noticed.
    assert_eq!(good.read(1), b"data");
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn tcp_on_loopback_and_stdio() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"over tcp").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferryd"))
        .args([
            "--protocol",
            "9p",
            "--listen",
            &format!("tcp:127.0.0.1:{port}"),
            "--shared-dir",
        ])
        .arg(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if t0.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("connect: {e}"),
        }
    };
    let mut c = Client::new(stream);
    c.attach();
    assert_eq!(c.open_and_read(1, b"f"), b"over tcp");
    // SAFETY: kill takes a pid and a signal number only.
    unsafe { libc::kill(child.id().cast_signed(), libc::SIGTERM) };
    assert_eq!(wait(&mut child, Duration::from_secs(10)), Some(0));

    // One client on stdin and stdout: the daemon exits when it hangs up.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferryd"))
        .args(["--protocol", "9p", "--stdio", "--shared-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pipe = Pipe {
        w: child.stdin.take().unwrap(),
        r: child.stdout.take().unwrap(),
    };
    let mut c = Client::new(pipe);
    c.attach();
    assert_eq!(c.open_and_read(1, b"f"), b"over tcp");
    drop(c);
    assert_eq!(wait(&mut child, Duration::from_secs(10)), Some(0));
}

struct Pipe {
    w: std::process::ChildStdin,
    r: std::process::ChildStdout,
}

impl Read for Pipe {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.r.read(b)
    }
}

impl Write for Pipe {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.w.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

#[test]
fn remote_tcp_needs_an_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferryd"))
        .args([
            "--protocol",
            "9p",
            "--listen",
            "tcp:0.0.0.0:5640",
            "--shared-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}
