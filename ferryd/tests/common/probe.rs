//! The escape suite's attacker (tests/escape.rs): a typed client whose every request is
//! checked. After each request the tree outside the share is compared with its last
//! snapshot (and rebuilt after a difference, so each escape is seen on its own), and every
//! reply is scanned for the canary's secret, its entry names and its inode numbers. A request
//! that must be refused and succeeds is a finding too.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use ferry_guest_client::{Client, DirEntry, EntryOut, Error, RawOutHeader, SetAttr, XattrReply};
use fuse_backend_rs::abi::fuse_abi::Attr;

use super::canary::{Snapshot, World};

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    /// Something outside the share was read, created, changed or deleted.
    Escape,
    /// A request that must be refused succeeded.
    Accepted,
    /// A request stayed inside but did the wrong thing (`..` to the wrong directory).
    Wrong,
    /// The daemon stopped answering (crash or hang).
    Crash,
}

#[derive(Debug)]
pub struct Finding {
    pub what: What,
    pub step: String,
    pub detail: String,
}

/// Whether a request must fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exp {
    Fail,
    Any,
}

pub type R<T> = Result<T, i32>;
/// The errno-less error of a request not sent (daemon gone) or not answered.
pub const DEAD: i32 = -1;

pub fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The client as an attacker: every request goes through here, and every reply is checked.
pub struct Probe<'a> {
    pub c: &'a Client,
    pub w: &'a World,
    pub first: Snapshot,
    /// Inode numbers outside the share, as of `baseline`.
    pub outside: Mutex<HashSet<u64>>,
    pub baseline: Mutex<Snapshot>,
    /// The canary was rebuilt after an escape (so `first` no longer describes it).
    pub rebuilt: AtomicBool,
    pub findings: Mutex<Vec<Finding>>,
    pub dead: AtomicBool,
    /// Compare the world after every request (off during the race).
    pub each: AtomicBool,
    pub requests: AtomicU64,
}

impl<'a> Probe<'a> {
    pub fn new(c: &'a Client, w: &'a World, first: Snapshot) -> Self {
        Probe {
            c,
            w,
            outside: Mutex::new(first.inos()),
            baseline: Mutex::new(first.clone()),
            rebuilt: AtomicBool::new(false),
            first,
            findings: Mutex::new(Vec::new()),
            dead: AtomicBool::new(false),
            each: AtomicBool::new(true),
            requests: AtomicU64::new(0),
        }
    }

    pub fn note(&self, what: What, step: &str, detail: String) {
        let mut f = self.findings.lock().unwrap();
        // One line per (kind, step, detail): the race repeats itself.
        if !f
            .iter()
            .any(|x| x.what == what && x.step == step && x.detail == detail)
        {
            f.push(Finding {
                what,
                step: step.to_string(),
                detail,
            });
        }
    }

    /// Runs one request; a transport failure is a crash finding and stops the run.
    pub fn run<T>(
        &self,
        step: &str,
        exp: Exp,
        f: impl FnOnce(&Client) -> ferry_guest_client::Result<T>,
    ) -> R<T> {
        if self.dead.load(Ordering::Relaxed) {
            return Err(DEAD);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let r = match f(self.c) {
            Ok(v) => Ok(v),
            Err(Error::Errno(e)) => Err(e.0),
            Err(e) => {
                self.dead.store(true, Ordering::Relaxed);
                self.note(What::Crash, step, format!("transport failure: {e}"));
                Err(DEAD)
            }
        };
        if exp == Exp::Fail && r.is_ok() {
            self.note(What::Accepted, step, "succeeded; must be refused".into());
        }
        if self.each.load(Ordering::Relaxed) {
            self.check_world(step);
        }
        r
    }

    /// Compares everything outside the share with the last snapshot, and the probes. After
    /// a difference the canary is rebuilt, so the next escape is seen on its own.
    pub fn check_world(&self, step: &str) {
        let now = self.w.snapshot();
        let mut base = self.baseline.lock().unwrap();
        let d = base.diff(&now);
        if !d.is_empty() {
            let mut d = d.join("; ");
            if d.len() > 600 {
                d.truncate(d.floor_char_boundary(600));
                d.push_str(" ...");
            }
            self.note(What::Escape, step, format!("outside changed: {d}"));
            self.w.rebuild_canary();
            self.rebuilt.store(true, Ordering::Relaxed);
            *base = self.w.snapshot();
            *self.outside.lock().unwrap() = base.inos();
        }
        for p in self.w.probes_present() {
            self.note(What::Escape, step, format!("{} created", p.display()));
        }
        self.w.remove_probes();
    }

    /// A reply's bytes: never the secret; never a canary name unless `names_ok`.
    pub fn see_bytes(&self, step: &str, b: &[u8], names_ok: bool) {
        if contains(b, self.w.secret.as_bytes()) {
            self.note(What::Escape, step, "reply carries canary contents".into());
        }
        if !names_ok && contains(b, self.w.mark.as_bytes()) {
            self.note(
                What::Escape,
                step,
                "reply carries a canary entry name".into(),
            );
        }
    }

    pub fn is_outside(&self, ino: u64) -> bool {
        self.outside.lock().unwrap().contains(&ino)
    }

    pub fn see_attr(&self, step: &str, a: &Attr) {
        if self.is_outside(a.ino) {
            let base = self.baseline.lock().unwrap();
            let p = base.path_of(a.ino).map(|p| p.display().to_string());
            self.note(
                What::Escape,
                step,
                format!(
                    "reply carries the attributes of BASE/{}",
                    p.unwrap_or_default()
                ),
            );
        }
    }

    pub fn see_entry(&self, step: &str, e: &EntryOut) {
        if e.nodeid != 0 {
            self.see_attr(step, &e.attr);
        }
    }

    pub fn see_dirents(&self, step: &str, v: &[DirEntry]) {
        for d in v {
            self.see_bytes(step, &d.name, false);
            if d.name != b"." && d.name != b".." && self.is_outside(d.ino) {
                self.note(
                    What::Escape,
                    step,
                    format!("lists outside {}", d.name_str()),
                );
            }
        }
    }

    pub fn lookup(&self, parent: u64, name: &[u8], exp: Exp) -> R<EntryOut> {
        let step = format!("LOOKUP({parent}, {})", show(name));
        let r = self.run(&step, exp, |c| c.lookup(parent, name));
        if let Ok(e) = &r {
            self.see_entry(&step, e);
        }
        r
    }

    pub fn getattr(&self, node: u64) -> R<()> {
        let step = format!("GETATTR({node})");
        let r = self.run(&step, Exp::Any, |c| c.getattr(node, None));
        r.map(|a| self.see_attr(&step, &a.attr))
    }

    pub fn mkdir(&self, parent: u64, name: &[u8], exp: Exp) -> R<EntryOut> {
        let step = format!("MKDIR({parent}, {})", show(name));
        let r = self.run(&step, exp, |c| c.mkdir(parent, name, 0o777, 0));
        if let Ok(e) = &r {
            self.see_entry(&step, e);
        }
        r
    }

    pub fn mknod(&self, parent: u64, name: &[u8], mode: u32, exp: Exp) -> R<EntryOut> {
        let step = format!("MKNOD({parent}, {}, {mode:o})", show(name));
        let r = self.run(&step, exp, |c| c.mknod(parent, name, mode, 0, 0));
        if let Ok(e) = &r {
            self.see_entry(&step, e);
        }
        r
    }

    pub fn symlink(&self, parent: u64, name: &[u8], target: &[u8], exp: Exp) -> R<EntryOut> {
        let step = format!("SYMLINK({parent}, {} -> {})", show(name), show(target));
        let r = self.run(&step, exp, |c| c.symlink(parent, name, target));
        if let Ok(e) = &r {
            self.see_entry(&step, e);
        }
        r
    }

    /// CREATE, then (if it succeeded) READ through the handle and RELEASE.
    pub fn create(&self, parent: u64, name: &[u8], flags: u32, exp: Exp) -> R<EntryOut> {
        let step = format!("CREATE({parent}, {}, {flags:#o})", show(name));
        let r = self.run(&step, exp, |c| c.create(parent, name, flags, 0o666, 0));
        let (e, o) = r?;
        self.see_entry(&step, &e);
        if let Ok(b) = self.run(&step, Exp::Any, |c| c.read(e.nodeid, o.fh, 0, 1 << 16)) {
            self.see_bytes(&step, &b, false);
        }
        let _ = self.run(&step, Exp::Any, |c| c.release(e.nodeid, o.fh, flags));
        Ok(e)
    }

    /// OPEN, then (if it succeeded) READ unless write-only, and RELEASE.
    pub fn open(&self, node: u64, flags: u32, exp: Exp) -> R<()> {
        let step = format!("OPEN({node}, {flags:#o})");
        let o = self.run(&step, exp, |c| c.open(node, flags))?;
        if flags & libc::O_ACCMODE as u32 != libc::O_WRONLY as u32 {
            if let Ok(b) = self.run(&step, Exp::Any, |c| c.read(node, o.fh, 0, 1 << 16)) {
                self.see_bytes(&step, &b, false);
            }
        }
        let _ = self.run(&step, Exp::Any, |c| c.release(node, o.fh, flags));
        Ok(())
    }

    /// OPENDIR, then (if it succeeded) READDIR, READDIRPLUS and RELEASEDIR.
    pub fn listdir(&self, node: u64, exp: Exp) -> R<()> {
        let step = format!("OPENDIR+READDIR({node})");
        let o = self.run(&step, exp, |c| c.opendir(node))?;
        if let Ok(v) = self.run(&step, Exp::Any, |c| c.readdir(node, o.fh, 0, 1 << 16)) {
            self.see_dirents(&step, &v);
        }
        let plus = self.run(&step, Exp::Any, |c| c.readdirplus(node, o.fh, 0, 1 << 16));
        for d in plus.iter().flatten() {
            self.see_dirents(&step, std::slice::from_ref(&d.dirent));
            self.see_entry(&step, &d.entry);
        }
        let _ = self.run(&step, Exp::Any, |c| c.releasedir(node, o.fh));
        Ok(())
    }

    pub fn link(&self, node: u64, parent: u64, name: &[u8], exp: Exp) -> R<EntryOut> {
        let step = format!("LINK({node} -> {parent}, {})", show(name));
        let r = self.run(&step, exp, |c| c.link(node, parent, name));
        if let Ok(e) = &r {
            self.see_entry(&step, e);
        }
        r
    }

    pub fn unlink(&self, parent: u64, name: &[u8], exp: Exp) -> R<()> {
        let step = format!("UNLINK({parent}, {})", show(name));
        self.run(&step, exp, |c| c.unlink(parent, name))
    }

    pub fn rmdir(&self, parent: u64, name: &[u8], exp: Exp) -> R<()> {
        let step = format!("RMDIR({parent}, {})", show(name));
        self.run(&step, exp, |c| c.rmdir(parent, name))
    }

    pub fn rename(&self, od: u64, on: &[u8], nd: u64, nn: &[u8], flags: Option<u32>, exp: Exp) {
        let step = match flags {
            None => format!("RENAME({od}, {} -> {nd}, {})", show(on), show(nn)),
            Some(f) => format!("RENAME2({od}, {} -> {nd}, {}, {f})", show(on), show(nn)),
        };
        let _ = self.run(&step, exp, |c| match flags {
            None => c.rename(od, on, nd, nn),
            Some(f) => c.rename2(od, on, nd, nn, f),
        });
    }

    pub fn setattr(&self, node: u64, what: &str, a: SetAttr) -> R<()> {
        let step = format!("SETATTR({node}, {what})");
        let r = self.run(&step, Exp::Any, |c| c.setattr(node, &a));
        r.map(|a| self.see_attr(&step, &a.attr))
    }

    pub fn setxattr(&self, node: u64, name: &[u8]) {
        let step = format!("SETXATTR({node}, {})", show(name));
        let _ = self.run(&step, Exp::Any, |c| c.setxattr(node, name, b"pwned", 0));
    }

    pub fn removexattr(&self, node: u64, name: &[u8]) {
        let step = format!("REMOVEXATTR({node}, {})", show(name));
        let _ = self.run(&step, Exp::Any, |c| c.removexattr(node, name));
    }

    pub fn getxattr(&self, node: u64, name: &[u8]) {
        let step = format!("GETXATTR({node}, {})", show(name));
        if let Ok(XattrReply::Data(b)) = self.run(&step, Exp::Any, |c| c.getxattr(node, name, 4096))
        {
            self.see_bytes(&step, &b, true);
        }
    }

    pub fn listxattr(&self, node: u64) {
        let step = format!("LISTXATTR({node})");
        if let Ok(XattrReply::Data(b)) = self.run(&step, Exp::Any, |c| c.listxattr(node, 4096)) {
            // The guest's own xattr names may name canary entries; the canary's carry the secret.
            self.see_bytes(&step, &b, true);
        }
    }

    pub fn readlink(&self, node: u64) {
        let step = format!("READLINK({node})");
        if let Ok(b) = self.run(&step, Exp::Any, |c| c.readlink(node)) {
            // The share's own symlinks name canary entries; only the canary's target is secret.
            self.see_bytes(&step, &b, true);
        }
    }

    /// One raw request: the header is built by the client, `body` is sent as is.
    pub fn raw(&self, what: &str, opcode: u32, node: u64, body: &[u8], exp: Exp) {
        let step = format!("raw {what}");
        let r = self.run(&step, Exp::Any, |c| {
            let (req, _) = c.raw_encode(opcode, node, body, None);
            c.raw_request(req, 64 << 10)
        });
        let Ok(done) = r else { return };
        self.see_bytes(&step, &done.data, false);
        let h = RawOutHeader::parse(&done.data);
        if exp == Exp::Fail && h.is_some_and(|h| h.errno().is_none()) {
            self.note(What::Accepted, &step, "succeeded; must be refused".into());
        }
        if let (Some(h), Some(body)) = (h, done.data.get(16..)) {
            // An entry reply: check the attributes it carries.
            if h.error == 0 && body.len() >= 128 {
                let ino = u64::from_le_bytes(body[40..48].try_into().unwrap());
                let nodeid = u64::from_le_bytes(body[..8].try_into().unwrap());
                if nodeid != 0 && self.is_outside(ino) {
                    self.note(
                        What::Escape,
                        &step,
                        "reply carries outside attributes".into(),
                    );
                }
            }
        }
    }
}
