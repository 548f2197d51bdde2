//! The escape suite (issue 6, item 1: containment by construction). The daemon serves
//! `BASE/share`; next to it sits a canary tree, `BASE/canary` (tests/common/canary.rs), with
//! known contents, modes, owners, times, link counts and xattrs. Through the typed client
//! and the raw API the guest then tries every way out that SECURITY.md names:
//!
//! - names: absolute, `..`, with `/`, `.`/`..` in every name-taking request (LOOKUP, MKDIR,
//!   MKNOD, SYMLINK, CREATE, LINK, UNLINK, RMDIR, RENAME and RENAME2 with both names; xattr
//!   names too, though they are not paths), in the root and in a subdirectory;
//! - symlinks to the canary (absolute, relative, dangling into it, `/`, `..`), made by the
//!   host and by the guest, then OPEN, OPENDIR/READDIR, LOOKUP, CREATE, MKDIR, MKNOD,
//!   SYMLINK, LINK, UNLINK, RMDIR, RENAME, SETATTR (truncate, chmod, chown, utimes) and the
//!   xattr requests through them (their node id as parent or target), and CREATE/MKDIR/MKNOD
//!   of their own name;
//! - hard links: LINK of symlinks and of forged node ids must bring nothing from outside in
//!   (links the host makes from the share to outside are out of scope: the host chose to
//!   share that inode);
//! - `..` at the root and in subdirectories, forged node ids (including the canary's inode
//!   numbers) and forged file handles;
//! - a race: a host thread swaps the directory `share/d` with symlinks to the canary's
//!   directory (atomically with RENAME_EXCHANGE, and in steps that leave `d` missing) while
//!   client threads LOOKUP, CREATE, OPEN, MKDIR, UNLINK, RMDIR and READDIR in `d`.
//!
//! After every request (but during the race, after it) the tree outside the share is compared
//! byte for byte with its snapshot (tests/common/probe.rs; after a difference the canary is
//! rebuilt, so each escape is reported on its own), paths an absolute name could create
//! elsewhere (`/esc<nonce>`, `/tmp/esc<nonce>`) are probed, and at the end the tree must still
//! equal its first snapshot. Every reply is scanned: none may carry the canary's secret token (in its file
//! contents, xattr values and symlink target), a canary entry name, or the inode number of
//! anything outside the share. A request the daemon must refuse (a name with `/`, `.`/`..`
//! where Linux refuses them, a symlink used as a directory) and that succeeds is a finding
//! too, even when nothing visibly escaped.
//!
//! ferryd runs with `--sandbox none` (containment must hold by construction alone) and with
//! `--sandbox namespace`, and must have no finding. Upstream virtiofsd, when installed, runs
//! with `--sandbox none` for the record: its findings are printed, not asserted (it takes
//! names with `/`, GHSA-2gv2-cffp-j227).

#[path = "common/canary.rs"]
mod canary;
mod common;
#[path = "common/probe.rs"]
mod probe;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use canary::World;
use common::{spawn_at, Kind};
use ferry_guest_client::{Client, ClientOptions, EntryOut, SetAttr, ROOT};
use probe::{contains, Exp, Probe, What, DEAD, R};

const RDONLY: u32 = libc::O_RDONLY as u32;
const RDWR: u32 = libc::O_RDWR as u32;
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
/// How long the swap race runs.
const RACE: Duration = Duration::from_secs(3);

/// What the share holds before the daemon starts (all made by the host).
fn prepare_share(w: &World) {
    let s = &w.share;
    let c = w.canary.display().to_string();
    fs::write(s.join("victim"), b"inside").unwrap();
    fs::create_dir_all(s.join("sub/subsub")).unwrap();
    fs::create_dir(s.join("d")).unwrap();
    fs::write(s.join("d/f"), b"inside d").unwrap();
    let links = [
        ("hl_abs", format!("{c}/{}", w.cname("secret"))),
        ("hl_rel", format!("../canary/{}", w.cname("secret"))),
        ("hd_abs", format!("{c}/{}", w.cname("dir"))),
        ("hd_rel", format!("../canary/{}", w.cname("dir"))),
        ("hroot", "/".into()),
        ("hup", "..".into()),
        ("hnew_abs", format!("{c}/{}", w.esc("hnew"))),
        ("hnew_rel", format!("../canary/{}", w.esc("hnew"))),
        ("hnew_probe", w.probes[1].display().to_string()),
        ("d.abs", format!("{c}/{}", w.cname("dir"))),
        ("d.rel", format!("../canary/{}", w.cname("dir"))),
    ];
    for (name, target) in links {
        symlink(target, s.join(name)).unwrap();
    }
}

/// The guest's own symlinks to outside: (name, target).
fn guest_links(w: &World) -> Vec<(String, String)> {
    let c = w.canary.display().to_string();
    vec![
        ("gl_abs".into(), format!("{c}/{}", w.cname("secret"))),
        ("gl_rel".into(), format!("../canary/{}", w.cname("secret"))),
        ("gd_abs".into(), format!("{c}/{}", w.cname("dir"))),
        ("gd_rel".into(), format!("../canary/{}", w.cname("dir"))),
        ("gup".into(), "..".into()),
        ("gupup".into(), "../..".into()),
        ("gnew_abs".into(), format!("{c}/{}", w.esc("gnew"))),
        ("gnew_probe".into(), w.probes[0].display().to_string()),
    ]
}

/// Names that point outside, or are not single components.
fn evil_names(w: &World, depth: usize) -> Vec<Vec<u8>> {
    let up = "../".repeat(depth + 1);
    let c = w.canary.display().to_string();
    let base = w.base.path().display().to_string();
    let (s, d, e, n) = (
        w.cname("secret"),
        w.cname("dir"),
        w.cname("empty"),
        w.esc(""),
    );
    let mut v: Vec<String> = vec![
        format!("{up}.."),
        up.clone(),
        format!("{up}canary"),
        format!("{up}canary/{s}"),
        format!("{up}canary/{d}"),
        format!("{up}canary/{d}/f"),
        format!("{up}canary/{e}"),
        format!("{up}canary/{n}"),
        format!("{up}{n}"),
        format!("{up}../../../../../../tmp/{n}"),
        format!("./{up}canary/{s}"),
        format!("subsub/../{up}canary/{s}"),
        format!("victim/{up}canary/{s}"),
        format!("hd_rel/{}", w.cname("inner")),
        format!("hd_abs/{n}"),
        "hl_abs/".into(),
        format!("{c}/{s}"),
        format!("{c}/{d}"),
        format!("{c}/{e}"),
        format!("{c}/{n}"),
        format!("{base}/{n}"),
        format!("/{n}"),
        format!("/tmp/{n}"),
        "/".into(),
        "//".into(),
    ];
    if depth > 0 {
        v.push(format!("../canary/{s}"));
        v.push(format!("../../canary/{n}"));
    }
    v.into_iter().map(String::into_bytes).collect()
}

/// Every name-taking request with every evil name, in the root and in `sub`.
fn names(p: &Probe, w: &World) {
    let sub = p.lookup(ROOT, b"sub", Exp::Any).map_or(0, |e| e.nodeid);
    let victim = p.lookup(ROOT, b"victim", Exp::Any).map_or(0, |e| e.nodeid);
    let stolen = w.esc("stolen");
    let restore = || {
        if !w.share.join("victim").exists() {
            fs::write(w.share.join("victim"), b"inside").unwrap();
        }
    };
    for (parent, depth) in [(ROOT, 0), (sub, 1)] {
        let evil = evil_names(w, depth);
        // Reads first, then creations, then removals and renames.
        for n in &evil {
            p.lookup(parent, n, Exp::Fail).ok();
        }
        let dots: [&[u8]; 2] = [b".", b".."];
        for n in evil.iter().map(Vec::as_slice).chain(dots) {
            p.mkdir(parent, n, Exp::Fail).ok();
            p.mknod(parent, n, libc::S_IFREG | 0o644, Exp::Fail).ok();
            p.mknod(parent, n, libc::S_IFIFO | 0o644, Exp::Fail).ok();
            p.symlink(parent, n, b"x", Exp::Fail).ok();
            p.create(parent, n, RDWR, Exp::Fail).ok();
            p.create(parent, n, RDWR | libc::O_TRUNC as u32, Exp::Fail)
                .ok();
            p.link(victim, parent, n, Exp::Fail).ok();
        }
        for n in evil.iter().map(Vec::as_slice).chain(dots) {
            p.unlink(parent, n, Exp::Fail).ok();
            p.rmdir(parent, n, Exp::Fail).ok();
            for flags in [None, Some(0), Some(RENAME_NOREPLACE), Some(RENAME_EXCHANGE)] {
                p.rename(parent, n, ROOT, stolen.as_bytes(), flags, Exp::Fail);
                p.rename(ROOT, b"victim", parent, n, flags, Exp::Fail);
                restore();
            }
        }
    }
    // xattr names are not paths; nothing may reach the canary through them either.
    let c = w.canary.display().to_string();
    for node in [ROOT, victim, sub] {
        for n in [
            "../canary".to_string(),
            format!("../canary/{}", w.cname("secret")),
            format!("{c}/{}", w.cname("secret")),
            "user.../../canary".into(),
            format!("user./../canary/{}", w.cname("secret")),
            "user.cn".into(),
        ] {
            p.setxattr(node, n.as_bytes());
            p.getxattr(node, n.as_bytes());
            p.listxattr(node);
            p.removexattr(node, n.as_bytes());
        }
    }
}

/// Symlinks to outside, made by the host and by the guest, used every way.
fn symlinks(p: &Probe, w: &World) {
    for (name, target) in guest_links(w) {
        p.symlink(ROOT, name.as_bytes(), target.as_bytes(), Exp::Any)
            .ok();
    }
    let victim = p.lookup(ROOT, b"victim", Exp::Any).map_or(0, |e| e.nodeid);
    let mut all: Vec<String> = [
        "hl_abs",
        "hl_rel",
        "hd_abs",
        "hd_rel",
        "hroot",
        "hup",
        "hnew_abs",
        "hnew_rel",
        "hnew_probe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend(guest_links(w).into_iter().map(|(n, _)| n));
    let n = w.esc("");
    let (inner, sub, empty) = (w.cname("inner"), w.cname("sub"), w.cname("empty"));
    for name in &all {
        let step = format!("LOOKUP(1, {name:?})");
        let Ok(l) = p.lookup(ROOT, name.as_bytes(), Exp::Any) else {
            p.note(What::Crash, &step, "the symlink cannot be looked up".into());
            continue;
        };
        if l.attr.mode & libc::S_IFMT != libc::S_IFLNK {
            p.note(
                What::Escape,
                &step,
                format!("followed: mode {:o}", l.attr.mode),
            );
        }
        let ln = l.nodeid;
        p.getattr(ln).ok();
        p.readlink(ln);
        // Through it, as a file.
        for flags in [
            RDONLY,
            RDWR,
            libc::O_WRONLY as u32 | libc::O_TRUNC as u32,
            RDONLY | libc::O_DIRECTORY as u32,
        ] {
            p.open(ln, flags, Exp::Fail).ok();
        }
        // Through it, as a directory.
        p.listdir(ln, Exp::Fail).ok();
        for child in ["f", &w.cname("secret"), &inner, "..", "."] {
            p.lookup(ln, child.as_bytes(), Exp::Fail).ok();
        }
        p.create(ln, n.as_bytes(), RDWR, Exp::Fail).ok();
        p.create(ln, b"f", RDWR, Exp::Fail).ok();
        p.mkdir(ln, n.as_bytes(), Exp::Fail).ok();
        p.mknod(ln, n.as_bytes(), libc::S_IFREG | 0o644, Exp::Fail)
            .ok();
        p.symlink(ln, n.as_bytes(), b"x", Exp::Fail).ok();
        p.link(victim, ln, n.as_bytes(), Exp::Fail).ok();
        p.unlink(ln, b"f", Exp::Fail).ok();
        p.unlink(ln, inner.as_bytes(), Exp::Fail).ok();
        p.rmdir(ln, sub.as_bytes(), Exp::Fail).ok();
        p.rmdir(ln, empty.as_bytes(), Exp::Fail).ok();
        p.rename(ln, b"f", ROOT, w.esc("stolen").as_bytes(), None, Exp::Fail);
        p.rename(ROOT, b"victim", ln, n.as_bytes(), None, Exp::Fail);
        p.rename(ROOT, b"victim", ln, b"f", Some(RENAME_EXCHANGE), Exp::Fail);
        // Its own name, as if it were absent.
        p.create(ROOT, name.as_bytes(), RDWR, Exp::Fail).ok();
        p.mkdir(ROOT, name.as_bytes(), Exp::Fail).ok();
        p.mknod(ROOT, name.as_bytes(), libc::S_IFREG | 0o644, Exp::Fail)
            .ok();
        // Its attributes: whatever the daemon does, only the link itself may change.
        let t = Some((OLD_T, 0));
        p.setattr(
            ln,
            "size 0",
            SetAttr {
                size: Some(0),
                ..Default::default()
            },
        )
        .ok();
        p.setattr(
            ln,
            "mode 0777",
            SetAttr {
                mode: Some(0o7777),
                ..Default::default()
            },
        )
        .ok();
        let own = SetAttr {
            uid: Some(99),
            gid: Some(99),
            ..Default::default()
        };
        p.setattr(ln, "owner 99:99", own).ok();
        let times = SetAttr {
            atime: t,
            mtime: t,
            ..Default::default()
        };
        p.setattr(ln, "times", times).ok();
        let now = SetAttr {
            atime_now: true,
            mtime_now: true,
            ..Default::default()
        };
        p.setattr(ln, "times now", now).ok();
        for x in [
            "user.cn",
            "trusted.cn",
            "user.pwn",
            "trusted.pwn",
            "security.capability",
        ] {
            p.getxattr(ln, x.as_bytes());
            p.setxattr(ln, x.as_bytes());
            p.removexattr(ln, x.as_bytes());
        }
        p.listxattr(ln);
        // A hard link of the link: the link itself, never its target.
        let lname = w.esc(&format!("-link-{name}"));
        if let Ok(e) = p.link(ln, ROOT, lname.as_bytes(), Exp::Any) {
            if e.attr.ino != l.attr.ino {
                p.note(
                    What::Escape,
                    &lname,
                    format!("LINK of {name} linked another inode"),
                );
            }
        }
    }
}

/// Twenty years ago, for SETATTR of times.
const OLD_T: u64 = 1_000_000_000;

/// `..` at the root and below it.
fn dotdot(p: &Probe, w: &World) {
    use std::os::unix::fs::MetadataExt;
    let ino = |rel: &str| fs::metadata(w.share.join(rel)).unwrap().ino();
    let expect = |step: &str, e: &R<EntryOut>, want: u64| match e {
        Ok(e) if e.attr.ino == want => {}
        Ok(e) => p.note(What::Wrong, step, format!("ino {} not {want}", e.attr.ino)),
        Err(DEAD) => {}
        Err(errno) => p.note(What::Wrong, step, format!("errno {errno}; must succeed")),
    };
    let root_ino = ino("");
    let mut node = ROOT;
    for i in 0..3 {
        let e = p.lookup(node, b"..", Exp::Any);
        expect(&format!("LOOKUP(.. of the root #{i})"), &e, root_ino);
        let Ok(e) = e else { break };
        node = e.nodeid;
        p.listdir(node, Exp::Any).ok();
        p.create(node, w.esc("dd").as_bytes(), RDWR, Exp::Any).ok();
        p.mkdir(node, w.esc("dd-dir").as_bytes(), Exp::Any).ok();
        p.lookup(node, b"canary", Exp::Fail).ok();
        p.lookup(node, b"share", Exp::Fail).ok();
        p.lookup(node, w.cname("secret").as_bytes(), Exp::Fail).ok();
    }
    let root_dot = p.lookup(ROOT, b".", Exp::Any);
    expect("LOOKUP(1, .)", &root_dot, root_ino);
    let Ok(sub) = p.lookup(ROOT, b"sub", Exp::Any) else {
        return;
    };
    let e = p.lookup(sub.nodeid, b"..", Exp::Any);
    expect("LOOKUP(sub, ..)", &e, root_ino);
    if let Ok(ss) = p.lookup(sub.nodeid, b"subsub", Exp::Any) {
        let e = p.lookup(ss.nodeid, b"..", Exp::Any);
        expect("LOOKUP(subsub, ..)", &e, ino("sub"));
        if let Ok(up) = e {
            let e = p.lookup(up.nodeid, b"..", Exp::Any);
            expect("LOOKUP(subsub/.., ..)", &e, root_ino);
            if let Ok(top) = e {
                let e = p.lookup(top.nodeid, b"..", Exp::Any);
                expect("LOOKUP(subsub/../.., ..)", &e, root_ino);
            }
        }
    }
    p.listdir(ROOT, Exp::Any).ok();
}

/// Node ids and handles the guest never got.
fn forged(p: &Probe, w: &World) {
    let mut ids: Vec<u64> = p.outside.lock().unwrap().iter().copied().collect();
    ids.sort_unstable();
    ids.extend([0, u64::MAX, u64::MAX - 1, 1 << 32, (1 << 32) + 1, 1 << 48]);
    ids.extend(2..=64);
    let victim = p.lookup(ROOT, b"victim", Exp::Any).map_or(0, |e| e.nodeid);
    for id in ids {
        p.getattr(id).ok();
        p.lookup(id, b"f", Exp::Any).ok();
        p.lookup(id, w.cname("secret").as_bytes(), Exp::Any).ok();
        p.open(id, RDONLY, Exp::Any).ok();
        p.listdir(id, Exp::Any).ok();
        p.readlink(id);
        p.getxattr(id, b"user.cn");
        p.listxattr(id);
        p.link(
            id,
            ROOT,
            w.esc(&format!("-forged-{id}")).as_bytes(),
            Exp::Any,
        )
        .ok();
    }
    let mut fhs: Vec<u64> = (0..=64).collect();
    fhs.extend([u64::MAX, 1 << 32, 1 << 48]);
    for fh in fhs {
        let step = format!("READ(victim, fh {fh})");
        if let Ok(b) = p.run(&step, Exp::Any, |c| c.read(victim, fh, 0, 4096)) {
            p.see_bytes(&step, &b, false);
        }
        let step = format!("READDIR(1, fh {fh})");
        if let Ok(v) = p.run(&step, Exp::Any, |c| c.readdir(ROOT, fh, 0, 4096)) {
            p.see_dirents(&step, &v);
        }
    }
}

/// The same escapes as raw requests: names the typed client would not build.
fn raw(p: &Probe, w: &World) {
    use ferry_guest_client::fuse::opcode;
    let c = w.canary.display().to_string();
    let z = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    let sec = format!("../canary/{}", w.cname("secret"));
    let abs = format!("{c}/{}", w.esc("raw"));
    p.raw(
        "LOOKUP ../canary",
        opcode::LOOKUP,
        ROOT,
        &z(&sec),
        Exp::Fail,
    );
    // GHSA-2gv2-cffp-j227 as sent: an absolute SYMLINK name.
    p.raw(
        "SYMLINK abs name",
        opcode::SYMLINK,
        ROOT,
        &[z(&abs), z("x")].concat(),
        Exp::Fail,
    );
    let mk = [0o755u32.to_le_bytes(), 0u32.to_le_bytes()].concat();
    p.raw(
        "MKDIR abs name",
        opcode::MKDIR,
        ROOT,
        &[mk.clone(), z(&abs)].concat(),
        Exp::Fail,
    );
    let ren = ROOT.to_le_bytes().to_vec();
    let body = [ren, z(&sec), z(&w.esc("rawstolen"))].concat();
    p.raw(
        "RENAME ../canary out",
        opcode::RENAME,
        ROOT,
        &body,
        Exp::Fail,
    );
    let body = [ROOT.to_le_bytes().to_vec(), z("victim"), z(&abs)].concat();
    p.raw(
        "RENAME victim to abs",
        opcode::RENAME,
        ROOT,
        &body,
        Exp::Fail,
    );
    // Last: virtiofsd exits on it.
    p.raw(
        "LOOKUP interior NUL",
        opcode::LOOKUP,
        ROOT,
        &[z("victim"), z(&sec)].concat(),
        Exp::Any,
    );
}

fn exchange(dir: &Path, a: &str, b: &str) -> bool {
    let ca = std::ffi::CString::new(dir.join(a).into_os_string().into_encoded_bytes()).unwrap();
    let cb = std::ffi::CString::new(dir.join(b).into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: two NUL-terminated paths alive for the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    r == 0
}

/// A host thread swaps `share/d` for symlinks into the canary while the guest works in `d`.
fn race(p: &Probe, w: &World) {
    p.each.store(false, Ordering::Relaxed);
    let stop = AtomicBool::new(false);
    let swaps = AtomicU64::new(0);
    let as_link = AtomicU64::new(0);
    let s = &w.share;
    let (inner, sub) = (w.cname("inner"), w.cname("sub"));
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let link = if i.is_multiple_of(2) {
                    "d.abs"
                } else {
                    "d.rel"
                };
                if i % 4 < 2 {
                    assert!(exchange(s, "d", link), "exchange");
                    std::thread::yield_now();
                    assert!(exchange(s, "d", link), "exchange back");
                } else {
                    fs::rename(s.join("d"), s.join("d.away")).unwrap();
                    fs::rename(s.join(link), s.join("d")).unwrap();
                    std::thread::yield_now();
                    fs::rename(s.join("d"), s.join(link)).unwrap();
                    fs::rename(s.join("d.away"), s.join("d")).unwrap();
                }
                i += 1;
                swaps.store(i, Ordering::Relaxed);
            }
        });
        for t in 0..3u32 {
            let (stop, as_link, inner, sub) = (&stop, &as_link, &inner, &sub);
            sc.spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) && !p.dead.load(Ordering::Relaxed) {
                    i += 1;
                    let Ok(d) = p.lookup(ROOT, b"d", Exp::Any) else {
                        p.lookup(ROOT, b"d/f", Exp::Fail).ok();
                        continue;
                    };
                    if d.attr.mode & libc::S_IFMT == libc::S_IFLNK {
                        as_link.fetch_add(1, Ordering::Relaxed);
                    }
                    let dn = d.nodeid;
                    let mine = w.esc(&format!("-race-{t}-{i}"));
                    match t {
                        0 => {
                            if let Ok(f) = p.lookup(dn, b"f", Exp::Any) {
                                p.open(f.nodeid, RDONLY, Exp::Any).ok();
                                let _ = p.c.forget(f.nodeid, 1);
                            }
                            p.lookup(dn, inner.as_bytes(), Exp::Fail).ok();
                            p.open(dn, RDONLY | libc::O_DIRECTORY as u32, Exp::Any).ok();
                        }
                        1 => {
                            if p.create(dn, mine.as_bytes(), RDWR, Exp::Any).is_ok() {
                                p.unlink(dn, mine.as_bytes(), Exp::Any).ok();
                            }
                            p.create(dn, b"f", RDWR, Exp::Any).ok();
                            p.unlink(dn, inner.as_bytes(), Exp::Fail).ok();
                        }
                        _ => {
                            if p.mkdir(dn, mine.as_bytes(), Exp::Any).is_ok() {
                                p.rmdir(dn, mine.as_bytes(), Exp::Any).ok();
                            }
                            p.rmdir(dn, sub.as_bytes(), Exp::Fail).ok();
                            p.listdir(dn, Exp::Any).ok();
                        }
                    }
                    let _ = p.c.forget(dn, 1);
                }
            });
        }
        std::thread::sleep(RACE);
        stop.store(true, Ordering::Relaxed);
    });
    p.each.store(true, Ordering::Relaxed);
    p.check_world("the swap race");
    eprintln!(
        "race: {} swaps by the host, LOOKUP d gave the symlink {} times",
        swaps.load(Ordering::Relaxed),
        as_link.load(Ordering::Relaxed)
    );
    assert!(
        w.share.join("d").is_dir(),
        "the host thread left d in place"
    );
}

/// Runs the whole suite against `kind`; asserts no finding if `strict`.
fn suite(kind: Kind, flags: &[&str], strict: bool) {
    let only = std::env::var("FERRY_TEST_ONLY").unwrap_or_default();
    if !only.is_empty() && only != kind.name() {
        return;
    }
    let label = format!("{} {}", kind.name(), flags.join(" "));
    let t0 = Instant::now();
    let w = World::new();
    prepare_share(&w);
    let first = w.snapshot();
    // The portable backend serves no xattrs: its xattr probes get ENOSYS.
    let mut args = vec!["--thread-pool-size", "2"];
    if !flags.contains(&"portable") {
        args.push("--xattr");
    }
    args.extend_from_slice(flags);
    let (mut daemon, _sock) = spawn_at(&kind, &w.share, &args);
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let c = Client::connect_and_init(daemon.socket(), opts)
        .unwrap_or_else(|e| panic!("{label}: cannot connect: {e}"));
    let p = Probe::new(&c, &w, first);
    type Part = fn(&Probe, &World);
    let parts: [(&str, Part); 6] = [
        ("names", names),
        ("symlinks", symlinks),
        ("dotdot", dotdot),
        ("forged", forged),
        ("race", race),
        ("raw", raw),
    ];
    // FERRY_ESCAPE_PARTS=names,race runs only those parts (for debugging one of them).
    let chosen = std::env::var("FERRY_ESCAPE_PARTS").unwrap_or_default();
    for (name, f) in parts {
        if !chosen.is_empty() && !chosen.split(',').any(|c| c == name) {
            continue;
        }
        let t = Instant::now();
        f(&p, &w);
        eprintln!("{label}: {name} done in {:?}", t.elapsed());
    }
    // The daemon still serves, and nothing outside the share differs from the start.
    if !p.dead.load(Ordering::Relaxed) {
        let r = p.run("GETATTR(1) at the end", Exp::Any, |c| c.getattr(ROOT, None));
        if r.is_err() {
            p.note(What::Crash, "GETATTR(1) at the end", format!("{r:?}"));
        }
    }
    if let Ok(Some(st)) = daemon.try_wait() {
        p.note(What::Crash, "end", format!("daemon exited: {st}"));
    }
    p.check_world("end");
    if !p.rebuilt.load(Ordering::Relaxed) {
        let total = p.first.diff(&w.snapshot());
        if !total.is_empty() {
            p.note(
                What::Escape,
                "whole run",
                format!("outside differs: {}", total.join("; ")),
            );
        }
    }
    let mut f = p.findings.into_inner().unwrap();
    f.sort_by_key(|x| x.what);
    eprintln!(
        "{label}: {} requests, {} findings, {:?}",
        p.requests.load(Ordering::Relaxed),
        f.len(),
        t0.elapsed()
    );
    // A summary by kind and request, then every finding (one line each).
    let mut by: std::collections::BTreeMap<(What, String), usize> = Default::default();
    for x in &f {
        let op: String = x
            .step
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '2')
            .collect();
        *by.entry((x.what, if op.is_empty() { x.step.clone() } else { op }))
            .or_default() += 1;
    }
    for ((what, op), n) in &by {
        eprintln!("  {label}: {what:?} {op}: {n}");
    }
    for x in &f {
        let mut line = format!("  {:?}: {}: {}", x.what, x.step, x.detail);
        if line.len() > 300 {
            line.truncate(line.floor_char_boundary(300));
            line.push_str(" ...");
        }
        eprintln!("{line}");
    }
    drop(c);
    daemon.kill();
    if strict {
        assert!(f.is_empty(), "{label}: {} findings (listed above)", f.len());
    }
}

#[test]
fn ferryd_sandbox_none_contains_by_construction() {
    suite(Kind::Ferryd, &["--sandbox", "none"], true);
}

#[test]
fn ferryd_sandbox_namespace_contains() {
    suite(Kind::Ferryd, &["--sandbox", "namespace"], true);
}

#[test]
fn ferryd_portable_backend_contains_by_construction() {
    suite(
        Kind::Ferryd,
        &["--backend", "portable", "--sandbox", "none"],
        true,
    );
}

/// For the record: upstream virtiofsd with `--sandbox none` (findings printed, not asserted).
#[test]
fn virtiofsd_sandbox_none_for_the_record() {
    match common::virtiofsd() {
        Some(p) => suite(Kind::Virtiofsd(p), &[], false),
        None => eprintln!(
            "NOTICE: upstream virtiofsd not found (set FERRY_VIRTIOFSD or run \
             scripts/prepare-guest.sh); its run of the escape suite is skipped"
        ),
    }
}

/// The detectors themselves: a read (atime), a chmod, an xattr and a new entry outside the
/// share each show up in the snapshot diff, so a clean run means something.
#[test]
fn canary_snapshot_sees_reads_and_changes() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let first = w.snapshot();
    assert!(first.diff(&w.snapshot()).is_empty(), "snapshots are stable");
    let secret = w.cpath(&w.cname("secret"));
    let data = fs::read(&secret).unwrap();
    assert!(contains(&data, w.secret.as_bytes()));
    let after_read = w.snapshot();
    let d = first.diff(&after_read);
    assert!(
        d.iter().any(|l| l.contains("atime")),
        "a plain read moves the canary's atime (relatime): {d:?}"
    );
    fs::set_permissions(w.cpath("f"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(w.base.path().join(w.esc("x")), b"").unwrap();
    let d = after_read.diff(&w.snapshot());
    assert!(d.iter().any(|l| l.contains("mode")), "{d:?}");
    assert!(d.iter().any(|l| l.ends_with("created")), "{d:?}");
    w.rebuild_canary();
    let rebuilt = w.snapshot();
    assert_eq!(
        rebuilt.nodes.len(),
        first.nodes.len(),
        "the rebuilt canary has the same entries"
    );
}
