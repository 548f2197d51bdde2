//! The agent channel through the real ferryd binary: the reserved node, host changes reported
//! with their paths (and the guest's own changes not echoed), the agent's replay requests
//! never acting on the host, and the long timeouts only while an agent reads.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{err, start, Harness, Kind};
use ferry_agent_proto::{decode, Kind as K, Record, NODE_NAME};
use ferry_guest_client::{Creds, SetAttr, ROOT};

const AGENT_PID: u32 = 4242;
const OTHER_PID: u32 = 77;

fn as_pid(h: &Harness, pid: u32) {
    h.c().set_creds(Creds {
        uid: 0,
        gid: 0,
        pid,
    });
}

/// The agent node's id, opened (or not: zero-message opens) and read once.
fn attach(h: &Harness) -> (u64, u64) {
    as_pid(h, AGENT_PID);
    let e = h
        .c()
        .lookup(ROOT, NODE_NAME)
        .expect("lookup the agent node");
    let fh = h
        .c()
        .open(e.nodeid, libc::O_RDONLY as u32)
        .expect("open")
        .fh;
    (e.nodeid, fh)
}

/// Reads records until `want` says the batch so far is enough, or 5 s pass.
fn read_until(h: &Harness, node: (u64, u64), want: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let t = Instant::now();
    let mut all = Vec::new();
    as_pid(h, AGENT_PID);
    while t.elapsed() < Duration::from_secs(5) {
        let b = h.c().read(node.0, node.1, 0, 64 * 1024).expect("read");
        all.extend(decode(&b).expect("records decode"));
        if want(&all) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    all
}

fn has(v: &[Record], kind: K, path: &str) -> bool {
    v.iter()
        .any(|r| r.kind == kind && r.path == path.as_bytes())
}

#[test]
fn the_agent_node_is_reserved_unlisted_and_root_only() {
    let h = start(&Kind::Ferryd, &[]);
    fs::write(h.host(NODE_NAME), b"host file").unwrap();
    let e = h.c().lookup(ROOT, NODE_NAME).unwrap();
    assert_eq!(e.nodeid, u64::MAX - 1);
    let d = h.c().opendir(ROOT).unwrap();
    let names: Vec<String> = h
        .c()
        .readdir_all(ROOT, d.fh, 4096, 1000)
        .unwrap()
        .iter()
        .map(|d| d.name_str())
        .collect();
    // The host file of that name is hidden from lookups, not from listings.
    assert!(names.iter().filter(|n| *n == NODE_NAME).count() <= 1);
    h.c().set_creds(Creds {
        uid: 1000,
        gid: 1000,
        pid: 5,
    });
    assert_eq!(err(h.c().read(e.nodeid, 0, 0, 4096)), libc::EACCES);

    let h = start(&Kind::Ferryd, &["--no-agent"]);
    fs::write(h.host(NODE_NAME), b"host file").unwrap();
    let e = h.c().lookup(ROOT, NODE_NAME).unwrap();
    assert_ne!(e.nodeid, u64::MAX - 1, "--no-agent: an ordinary name");
}

#[test]
fn host_changes_reach_the_agent_and_the_guests_own_do_not() {
    let h = start(&Kind::Ferryd, &[]);
    let d = h.host("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("f"), b"1").unwrap();
    fs::write(d.join("a"), b"a").unwrap();
    fs::write(d.join("gone"), b"g").unwrap();
    fs::create_dir(d.join("olddir")).unwrap();
    as_pid(&h, OTHER_PID);
    let dnode = h.c().lookup(ROOT, "d").unwrap().nodeid;
    let node = attach(&h);
    // Attaching starts with a resync: what was cached before may be stale.
    let first = read_until(&h, node, |v| !v.is_empty());
    assert!(has(&first, K::Resync, ""), "{first:?}");

    fs::write(d.join("new"), b"n").unwrap();
    fs::write(d.join("f"), b"22").unwrap();
    fs::set_permissions(d.join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::rename(d.join("a"), d.join("b")).unwrap();
    fs::remove_file(d.join("gone")).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    fs::remove_dir(d.join("olddir")).unwrap();
    let v = read_until(&h, node, |v| has(v, K::Delete, "d/olddir"));
    assert!(has(&v, K::Create, "d/new"), "{v:?}");
    assert!(has(&v, K::Modify, "d/f"), "{v:?}");
    assert!(has(&v, K::Attrib, "d/f"), "{v:?}");
    assert!(
        v.iter()
            .any(|r| r.kind == K::Rename && r.path == b"d/a" && r.to == b"d/b"),
        "{v:?}"
    );
    assert!(has(&v, K::Delete, "d/gone"), "{v:?}");
    let sub = v.iter().find(|r| r.kind == K::Create && r.path == b"d/sub");
    assert_eq!(sub.map(|r| r.mode), Some(libc::S_IFDIR), "{v:?}");
    assert!(has(&v, K::Delete, "d/olddir"), "{v:?}");

    // A change the guest makes through the daemon is not echoed back.
    as_pid(&h, OTHER_PID);
    h.file(dnode, "mine", b"guest data");
    h.c().mkdir(dnode, "mydir", 0o755, 0).unwrap();
    fs::write(d.join("marker"), b"m").unwrap();
    let v = read_until(&h, node, |v| has(v, K::Create, "d/marker"));
    assert!(has(&v, K::Create, "d/marker"), "{v:?}");
    assert!(
        !v.iter()
            .any(|r| r.path.starts_with(b"d/mine") || r.path.starts_with(b"d/mydir")),
        "echoed: {v:?}"
    );
}

#[test]
fn the_agents_replays_never_act_on_the_host() {
    let h = start(&Kind::Ferryd, &[]);
    let d = h.host("d");
    fs::create_dir(&d).unwrap();
    as_pid(&h, OTHER_PID);
    let dnode = h.c().lookup(ROOT, "d").unwrap().nodeid;
    let node = attach(&h);
    read_until(&h, node, |v| !v.is_empty());
    fs::write(d.join("x"), b"host").unwrap();
    fs::set_permissions(d.join("x"), fs::Permissions::from_mode(0o640)).unwrap();
    let v = read_until(&h, node, |v| has(v, K::Create, "d/x"));
    assert!(has(&v, K::Create, "d/x"), "{v:?}");

    as_pid(&h, AGENT_PID);
    // The name about to be created is hidden from the agent, not from anyone else.
    assert_eq!(err(h.c().lookup(dnode, "x")), libc::ENOENT);
    as_pid(&h, OTHER_PID);
    assert!(h.c().lookup(dnode, "x").is_ok());
    as_pid(&h, AGENT_PID);
    // A create of the wrong type is refused; of the right type, answers the host's entry.
    assert_eq!(
        err(h.c().mkdir(dnode, "x", 0o755, 0)),
        libc::EEXIST,
        "mkdir over a file"
    );
    let e = h
        .c()
        .mknod(dnode, "x", libc::S_IFREG | 0o777, 0, 0)
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(e.attr.ino, fs::metadata(d.join("x")).unwrap().ino());
    assert_eq!(
        e.attr.mode & 0o7777,
        0o640,
        "the host's mode, not the agent's"
    );
    // Lookups are truthful again once replayed.
    assert!(h.c().lookup(dnode, "x").is_ok());
    // Removals, renames and attribute changes succeed without touching the host.
    h.c().unlink(dnode, "x").unwrap();
    h.c().rename(dnode, "x", dnode, "y").unwrap();
    let set = SetAttr {
        mode: Some(0o777),
        ..Default::default()
    };
    let a = h.c().setattr(e.nodeid, &set).unwrap();
    assert_eq!(a.attr.mode & 0o7777, 0o640);
    assert_eq!(fs::read(d.join("x")).unwrap(), b"host");
    assert!(!d.join("y").exists());
    assert_eq!(
        fs::metadata(d.join("x")).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert_eq!(
        err(h.c().mknod(dnode, "nothere", libc::S_IFREG, 0, 0)),
        libc::ENOENT
    );
    assert!(!d.join("nothere").exists());
    // Anyone else's create is a create.
    as_pid(&h, OTHER_PID);
    assert_eq!(
        err(h.c().mknod(dnode, "x", libc::S_IFREG | 0o644, 0, 0)),
        libc::EEXIST
    );
}

#[test]
fn long_timeouts_only_while_an_agent_reads() {
    let h = start(&Kind::Ferryd, &["--agent-timeout=77", "--cache=auto"]);
    fs::write(h.host("f"), b"x").unwrap();
    as_pid(&h, OTHER_PID);
    let short = h.c().lookup(ROOT, "f").unwrap();
    assert!(short.entry_valid < 77, "no agent: {}", short.entry_valid);
    let node = attach(&h);
    read_until(&h, node, |v| !v.is_empty());
    as_pid(&h, OTHER_PID);
    let long = h.c().lookup(ROOT, "f").unwrap();
    assert_eq!((long.entry_valid, long.attr_valid), (77, 77));
    // A file with another name may change through it, where no mark sees it: its attributes
    // keep the short timeout.
    fs::hard_link(h.host("f"), h.host("f2")).unwrap();
    let linked = h.c().lookup(ROOT, "f2").unwrap();
    assert_eq!(
        (linked.entry_valid, linked.attr_valid),
        (77, short.attr_valid)
    );
    let neg = h.c().lookup(ROOT, "absent");
    if let Ok(n) = neg {
        assert_eq!((n.nodeid, n.entry_valid), (0, 77), "a negative entry");
    }
    // Listings stay cached in the guest from the second on (a directory listed once, by find
    // or a cold walk, is not worth the guest's copy), until it reads a file of the directory
    // (it then wants every file's attributes again: one listing from the daemon gives them all).
    use ferry_fuse::fopen::{CACHE_DIR, KEEP_CACHE};
    let flags = |h: &Harness| {
        let o = h.c().opendir(ROOT).unwrap();
        h.c().releasedir(ROOT, o.fh).unwrap();
        o.open_flags & (CACHE_DIR | KEEP_CACHE)
    };
    assert_eq!(flags(&h), 0, "the first listing is not kept");
    assert_eq!(flags(&h), CACHE_DIR | KEEP_CACHE);
    let o = h.c().open(long.nodeid, libc::O_RDONLY as u32).unwrap();
    h.c().read(long.nodeid, o.fh, 0, 10).unwrap();
    assert_eq!(flags(&h), CACHE_DIR, "a file of it was read: listed again");
    assert_eq!(flags(&h), CACHE_DIR | KEEP_CACHE);
    // An agent that stops reading is gone after the heartbeat: short timeouts again.
    std::thread::sleep(Duration::from_millis(2300));
    let again = h.c().lookup(ROOT, "f").unwrap();
    assert_eq!(again.entry_valid, short.entry_valid);
    assert_eq!(flags(&h), 0, "no agent: listings are not kept");
}

#[test]
fn an_idle_read_is_held_until_a_host_change() {
    let h = start(&Kind::Ferryd, &[]);
    let node = attach(&h);
    read_until(&h, node, |v| !v.is_empty());
    as_pid(&h, AGENT_PID);
    // Nothing to tell: the daemon holds the read, up to a second, and answers it empty.
    let t = Instant::now();
    let b = h.c().read(node.0, node.1, 0, 4096).expect("read");
    let waited = t.elapsed();
    assert!(decode(&b).expect("decodes").is_empty());
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}"
    );
    // A host change while a read is held ends the wait.
    let late = h.host("late");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        fs::write(late, b"x").unwrap();
    });
    let t = Instant::now();
    let b = h.c().read(node.0, node.1, 0, 4096).expect("read");
    let waited = t.elapsed();
    writer.join().unwrap();
    let v = decode(&b).expect("decodes");
    assert!(has(&v, K::Create, "late"), "{v:?} after {waited:?}");
    assert!(
        waited < Duration::from_millis(900),
        "answered after {waited:?}"
    );
}
