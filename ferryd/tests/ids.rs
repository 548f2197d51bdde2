//! Owner mapping through the real ferryd binary: libvirt's `<idmap>` flags
//! (`--uid-map`/`--gid-map`) and virtiofsd's `--translate-uid/gid`, checked on the host files
//! and in every kind of reply.

mod common;

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};

use common::{err, start_at_owned, Kind};
use ferry_guest_client::{Creds, SetAttr, ROOT};

const HOST_BASE: u32 = 100_000;
const RDWR: u32 = libc::O_RDWR as u32;

fn as_user(c: &ferry_guest_client::Client, uid: u32, gid: u32) {
    c.set_creds(Creds { uid, gid, pid: 1 });
}

#[test]
fn libvirt_idmap_files_land_with_the_mapped_owner_and_read_back_as_the_guest_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    // As with a user namespace, the share belongs to the id the guest's root maps to.
    chown(dir.path(), Some(HOST_BASE), Some(HOST_BASE)).unwrap();
    std::fs::write(dir.path().join("host-root-file"), b"x").unwrap();
    let h = start_at_owned(
        &Kind::Ferryd,
        dir,
        &["--uid-map=:0:100000:65536:", "--gid-map=:0:100000:65536:"],
    );
    let c = h.c();
    let owner = |rel: &str| {
        let m = std::fs::metadata(h.host(rel)).unwrap();
        (m.uid(), m.gid())
    };
    // The guest's root creates: the host sees the mapped owner, the guest sees root.
    as_user(c, 0, 0);
    let (e, o) = c.create(ROOT, "by-root", RDWR, 0o644, 0).unwrap();
    c.release(e.nodeid, o.fh, RDWR).unwrap();
    assert_eq!(owner("by-root"), (HOST_BASE, HOST_BASE));
    assert_eq!((e.attr.uid, e.attr.gid), (0, 0));
    let d = c.mkdir(ROOT, "d", 0o777, 0).unwrap();
    assert_eq!(owner("d"), (HOST_BASE, HOST_BASE));
    assert_eq!(d.attr.uid, 0);
    // A guest user's ids shift the same way.
    as_user(c, 1000, 1000);
    let f = c.mkdir(d.nodeid, "by-user", 0o755, 0).unwrap();
    assert_eq!(owner("d/by-user"), (HOST_BASE + 1000, HOST_BASE + 1000));
    assert_eq!((f.attr.uid, f.attr.gid), (1000, 1000));
    assert_eq!(c.getattr(f.nodeid, None).unwrap().attr.uid, 1000);
    // A host owner outside the map is nobody to the guest, in LOOKUP and READDIRPLUS alike.
    let e = c.lookup(ROOT, "host-root-file").unwrap();
    assert_eq!((e.attr.uid, e.attr.gid), (65534, 65534));
    let fh = c.opendir(ROOT).unwrap().fh;
    let listed = c.readdirplus(ROOT, fh, 0, 1 << 16).unwrap();
    let owners: Vec<(String, u32)> = listed
        .iter()
        .filter(|p| p.entry.nodeid != 0)
        .map(|p| (p.dirent.name_str(), p.entry.attr.uid))
        .collect();
    assert!(
        owners.contains(&("host-root-file".into(), 65534)),
        "{owners:?}"
    );
    assert!(owners.contains(&("by-root".into(), 0)), "{owners:?}");
    c.releasedir(ROOT, fh).unwrap();
    // chown: to a mapped id lands shifted; to an unmapped one is EINVAL.
    as_user(c, 0, 0);
    let set = |uid: u32| SetAttr {
        uid: Some(uid),
        ..Default::default()
    };
    let a = c.setattr(f.nodeid, &set(7)).unwrap();
    assert_eq!(a.attr.uid, 7);
    assert_eq!(owner("d/by-user").0, HOST_BASE + 7);
    assert_eq!(err(c.setattr(f.nodeid, &set(70000))), libc::EINVAL);
    // A guest id outside the map never acts on the host: no change, but it may look.
    as_user(c, 70000, 70000);
    assert_eq!(err(c.mkdir(ROOT, "by-unmapped", 0o755, 0)), libc::EPERM);
    assert_eq!(err(c.unlink(ROOT, "by-root")), libc::EPERM);
    assert!(!h.host("by-unmapped").exists());
    assert_eq!(c.getattr(ROOT, None).unwrap().attr.uid, 0);
}

#[test]
fn translated_ids_follow_virtiofsd_rules() {
    let dir = tempfile::tempdir().unwrap();
    // Mapped users create as themselves on the host: let them.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let h = start_at_owned(
        &Kind::Ferryd,
        dir,
        &[
            "--translate-uid=map:1000:2000:10",
            "--translate-uid=forbid-guest:3000:1",
            "--translate-gid=squash-guest:0:4242:5000",
        ],
    );
    let c = h.c();
    as_user(c, 1001, 77);
    let d = c.mkdir(ROOT, "t", 0o755, 0).unwrap();
    let m = std::fs::metadata(h.host("t")).unwrap();
    assert_eq!((m.uid(), m.gid()), (2001, 4242));
    // uid maps back; the squashed gid has no way back and shows as the host has it.
    assert_eq!((d.attr.uid, d.attr.gid), (1001, 4242));
    // Ids no rule covers are themselves; forbidden ones never act.
    as_user(c, 0, 0);
    c.mkdir(ROOT, "r", 0o755, 0).unwrap();
    assert_eq!(std::fs::metadata(h.host("r")).unwrap().gid(), 4242);
    as_user(c, 3000, 1);
    assert_eq!(err(c.mkdir(ROOT, "x", 0o755, 0)), libc::EPERM);
}
