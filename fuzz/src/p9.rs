//! The 9P targets. Input: one flags byte, then a byte stream of 9P frames, served as one
//! client connection by `ferry_server::p9::serve` (framing included); every frame whose size
//! field fits is also decoded on its own by `ferry_9p::decode`.
//!
//! Flags: bit 0, no Tversion and Tattach (of fid 0, as uid 0) first; bit 1, a read-only
//! session; bit 2, a fid table of 4.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use ferry_server::config::Config;
use ferry_server::fs::Backend;
use ferry_server::p9::{init_backend, serve, Session, SessionOptions};

/// A client connection: the input to read, the replies written.
struct Conn<'a> {
    input: &'a [u8],
    out: Vec<u8>,
}

impl Read for Conn<'_> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(b)
    }
}

impl Write for Conn<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tversion (msize 64 KiB) and Tattach of fid 0 as uid 0.
pub fn prologue() -> Vec<u8> {
    let mut v = frame(100, 0xffff, &[&65536u32.to_le_bytes()[..], &s(b"9P2000.L")].concat());
    let attach = [
        &0u32.to_le_bytes()[..],
        &u32::MAX.to_le_bytes(),
        &s(b""),
        &s(b""),
        &0u32.to_le_bytes(),
    ]
    .concat();
    v.extend(frame(104, 1, &attach));
    v
}

/// One frame of type `ty`.
pub fn frame(ty: u8, tag: u16, body: &[u8]) -> Vec<u8> {
    let mut v = u32::try_from(7 + body.len()).unwrap_or(u32::MAX).to_le_bytes().to_vec();
    v.push(ty);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// A 9P string.
pub fn s(b: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(b.len()).unwrap_or(u16::MAX).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn drive<F: Backend>(fs: Arc<F>, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // The decoder alone, on every whole frame of the stream.
    let mut p = rest;
    while p.len() >= 4 {
        let n = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
        if n < 7 || n > p.len() {
            break;
        }
        let _ = ferry_9p::decode(&p[..n]);
        p = &p[n..];
    }
    let opts = SessionOptions {
        readonly: flags & 2 != 0,
        max_fids: if flags & 4 != 0 { 4 } else { 64 },
        ..Default::default()
    };
    let mut session = Session::new(fs, opts);
    let input = if flags & 1 == 0 { [prologue(), rest.to_vec()].concat() } else { rest.to_vec() };
    let mut conn = Conn { input: &input, out: Vec::new() };
    let _ = serve(&mut session, &mut conn);
    check_replies(&conn.out);
}

/// The replies are whole R-messages back to back, each within the largest msize.
fn check_replies(mut out: &[u8]) {
    while !out.is_empty() {
        assert!(out.len() >= 7, "a reply shorter than its header");
        let n = u32::from_le_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert!(n >= 7 && n <= out.len(), "reply size {n} of {} bytes", out.len());
        assert!(n <= SessionOptions::default().max_msize as usize, "reply over msize");
        let ty = out[4];
        assert!(ty % 2 == 1 && ty <= 127, "reply type {ty}");
        if ty == ferry_9p::msg::RLERROR {
            assert_eq!(n, 11, "an Rlerror carries one errno");
            let e = u32::from_le_bytes([out[7], out[8], out[9], out[10]]);
            assert!(e > 0 && e < 4096, "errno {e}");
        }
        out = &out[n..];
    }
}

/// Target `p9_decode`: the decoder and the session over the null backend.
pub fn decode(data: &[u8]) {
    drive(Arc::new(crate::null::NullFs), data);
}

/// Target `p9_request_path`: the session over ferry's Linux backend on a fresh, empty share
/// (a small tmpfs) for every input, inside the sandbox of [`crate::contain`].
pub fn request_path(data: &[u8]) {
    let share = crate::contain::fresh_share();
    static BASE: OnceLock<Config> = OnceLock::new();
    let mut cfg = BASE.get_or_init(|| Config::defaults_for(share)).clone();
    cfg.xattr = true;
    cfg.locks = true;
    let fs = ferry_server::fs::linux(&cfg).expect("the Linux backend opens the share");
    init_backend(&fs).expect("the backend starts");
    drive(Arc::new(fs), data);
}

/// Seeds: small valid sessions after the prologue (flags 0).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let u32b = |v: u32| v.to_le_bytes().to_vec();
    let u64b = |v: u64| v.to_le_bytes().to_vec();
    let walk = |fid: u32, newfid: u32, names: &[&[u8]]| {
        let mut b = [u32b(fid), u32b(newfid), (names.len() as u16).to_le_bytes().to_vec()].concat();
        for n in names {
            b.extend(s(n));
        }
        frame(110, 2, &b)
    };
    let create = frame(14, 3, &[u32b(1), s(b"f"), u32b(2), u32b(0o644), u32b(0)].concat());
    let write = frame(118, 4, &[u32b(1), u64b(0), u32b(5), b"hello".to_vec()].concat());
    let read = frame(116, 5, &[u32b(1), u64b(0), u32b(100)].concat());
    let clunk = |fid: u32| frame(120, 6, &u32b(fid));
    let mkdir = frame(72, 7, &[u32b(0), s(b"d"), u32b(0o755), u32b(0)].concat());
    let lopen_dir = frame(12, 8, &[u32b(2), u32b(0)].concat());
    let readdir = frame(40, 9, &[u32b(2), u64b(0), u32b(4096)].concat());
    let getattr = frame(24, 10, &[u32b(0), u64b(0x7ff)].concat());
    let xcreate = frame(32, 11, &[u32b(3), s(b"user.a"), u64b(3), u32b(0)].concat());
    let xwrite = frame(118, 12, &[u32b(3), u64b(0), u32b(3), b"abc".to_vec()].concat());
    let xwalk = frame(30, 13, &[u32b(0), u32b(4), s(b"")].concat());
    let lock = frame(52, 14, &[u32b(1), vec![1], u32b(0), u64b(0), u64b(0), u32b(7), s(b"c")].concat());
    let rename = frame(74, 15, &[u32b(0), s(b"f"), u32b(0), s(b"g")].concat());
    let unlink = frame(76, 16, &[u32b(0), s(b"g"), u32b(0)].concat());
    let symlink = frame(16, 17, &[u32b(0), s(b"l"), s(b"/etc"), u32b(0)].concat());
    let setattr = frame(26, 18, &[u32b(0), u32b(1), u32b(0o700), u32b(0), u32b(0), u64b(0), u64b(0), u64b(0), u64b(0), u64b(0)].concat());
    let seq = |parts: &[&Vec<u8>]| {
        let mut v = vec![0u8];
        for p in parts {
            v.extend_from_slice(p);
        }
        v
    };
    vec![
        ("p9_prologue", vec![0]),
        ("p9_create_write_read", seq(&[&walk(0, 1, &[]), &create, &write, &read, &clunk(1)])),
        ("p9_mkdir_readdir", seq(&[&mkdir, &walk(0, 2, &[b"d"]), &lopen_dir, &readdir, &getattr])),
        ("p9_xattr", seq(&[&walk(0, 1, &[]), &create, &walk(1, 3, &[]), &xcreate, &xwrite, &clunk(3), &xwalk])),
        ("p9_names", seq(&[&walk(0, 1, &[b"..", b"x"]), &symlink, &walk(0, 5, &[b"l"]), &setattr])),
        ("p9_lock_rename", seq(&[&walk(0, 1, &[]), &create, &lock, &clunk(1), &rename, &unlink])),
    ]
}
