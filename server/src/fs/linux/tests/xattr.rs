//! Extended attributes through the default map: what the guest sets under `security.*` and
//! `trusted.*` never lands in the host's own namespaces (SECURITY.md A4 #21), and a remapped
//! file capability goes on write, truncate and chown as a real one would.

use fuse_backend_rs::api::filesystem::ListxattrReply;

use super::*;

fn host_get(t: &T, file: &str, name: &str) -> Option<Vec<u8>> {
    ::xattr::get(t.dir.path().join(file), name).unwrap()
}

fn guest_get(t: &T, node: u64, name: &str) -> Result<Vec<u8>, i32> {
    match t.fs.getxattr(&t.ctx, node, &c(name), 256) {
        Ok(GetxattrReply::Value(v)) => Ok(v),
        Ok(GetxattrReply::Count(_)) => panic!("asked for the value"),
        Err(e) => Err(e.raw_os_error().unwrap()),
    }
}

fn guest_list(t: &T, node: u64) -> Vec<String> {
    let n = match t.fs.listxattr(&t.ctx, node, 0).unwrap() {
        ListxattrReply::Count(n) => n,
        ListxattrReply::Names(_) => panic!("size 0 asks for the length"),
    };
    let ListxattrReply::Names(v) = t.fs.listxattr(&t.ctx, node, n).unwrap() else {
        panic!("asked for the names");
    };
    assert_eq!(v.len(), n as usize, "the count is the mapped list's length");
    if n > 0 {
        assert_eq!(
            errno(t.fs.listxattr(&t.ctx, node, n - 1).map(drop)),
            libc::ERANGE
        );
    }
    let mut names: Vec<String> = v
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8(n.to_vec()).unwrap())
        .collect();
    names.sort();
    names
}

/// Version 2 capability data granting CAP_NET_RAW (effective bit set).
const CAPS: &[u8] = &[
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn a4_21_guest_security_and_trusted_names_stay_out_of_the_host_namespaces() {
    let t = T::new();
    let (f, _) = t.create(ROOT_ID, "f");
    t.fs.setxattr(&t.ctx, f, &c("security.capability"), CAPS, 0)
        .unwrap();
    t.fs.setxattr(&t.ctx, f, &c("trusted.overlay.opaque"), b"y", 0)
        .unwrap();
    t.fs.setxattr(&t.ctx, f, &c("user.k"), b"v", 0).unwrap();
    // The host file carries no capability and no trusted attribute...
    assert_eq!(host_get(&t, "f", "security.capability"), None);
    assert_eq!(host_get(&t, "f", "trusted.overlay.opaque"), None);
    // ...only user attributes, which grant nothing.
    assert_eq!(
        host_get(&t, "f", "user.virtiofs.security.capability").as_deref(),
        Some(CAPS)
    );
    assert_eq!(
        host_get(&t, "f", "user.virtiofs.trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(host_get(&t, "f", "user.k").as_deref(), Some(&b"v"[..]));
    // The guest reads back what it set, under its own names.
    assert_eq!(guest_get(&t, f, "security.capability").unwrap(), CAPS);
    assert_eq!(guest_get(&t, f, "trusted.overlay.opaque").unwrap(), b"y");
    // The host's own trusted and security attributes are hidden from the guest.
    ::xattr::set(t.dir.path().join("f"), "trusted.host", b"1").unwrap();
    ::xattr::set(t.dir.path().join("f"), "security.host", b"1").unwrap();
    assert_eq!(
        guest_list(&t, f),
        ["security.capability", "trusted.overlay.opaque", "user.k"]
    );
    assert_eq!(guest_get(&t, f, "trusted.host"), Err(libc::ENODATA));
    // The guest cannot reach the remapped names directly (an unprivileged guest user could
    // forge a capability through user.*).
    for name in ["user.virtiofs.security.capability", "user.virtiofs.x"] {
        assert_eq!(
            errno(t.fs.setxattr(&t.ctx, f, &c(name), CAPS, 0)),
            libc::EPERM
        );
        assert_eq!(guest_get(&t, f, name), Err(libc::EPERM));
        assert_eq!(errno(t.fs.removexattr(&t.ctx, f, &c(name))), libc::EPERM);
    }
    t.fs.removexattr(&t.ctx, f, &c("security.capability"))
        .unwrap();
    assert_eq!(host_get(&t, "f", "user.virtiofs.security.capability"), None);
}

#[test]
fn remapped_capabilities_go_on_write_truncate_and_chown() {
    let t = T::new();
    let (f, fh) = t.create(ROOT_ID, "f");
    let set = || {
        t.fs.setxattr(&t.ctx, f, &c("security.capability"), CAPS, 0)
            .unwrap();
        assert!(host_get(&t, "f", "user.virtiofs.security.capability").is_some());
    };
    let gone = |how: &str| {
        assert_eq!(
            host_get(&t, "f", "user.virtiofs.security.capability"),
            None,
            "{how} keeps the capability"
        );
        assert_eq!(guest_get(&t, f, "security.capability"), Err(libc::ENODATA));
    };
    set();
    // As root, with no KILL flag: the host kernel drops a real capability on any write.
    let mut r = crate::zerocopy::SliceReader::new(b"x");
    t.fs.write(&t.ctx, f, fh, &mut r, 1, 0, None, false, 0, 0)
        .unwrap();
    gone("a write");
    // Set again after it was known absent: the next change still finds it.
    set();
    let mut st = unsafe_zero();
    st.st_size = 0;
    t.fs.setattr(&t.ctx, f, st, None, SetattrValid::SIZE)
        .unwrap();
    gone("a truncate");
    set();
    st.st_uid = 1000;
    t.fs.setattr(&t.ctx, f, st, None, SetattrValid::UID)
        .unwrap();
    gone("a chown");
    // A mode or time change keeps it, as on the host.
    set();
    st.st_mode = 0o755;
    t.fs.setattr(&t.ctx, f, st, None, SetattrValid::MODE)
        .unwrap();
    assert_eq!(guest_get(&t, f, "security.capability").unwrap(), CAPS);
}
