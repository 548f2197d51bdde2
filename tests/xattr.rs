//! Extended attributes through the real ferryd binary, with its default sandbox and
//! capabilities: the guest's `security.*` and `trusted.*` never reach the host file's own
//! namespaces (SECURITY.md A4 #21), a map that says so passes them, and KILLPRIV_V2 is
//! negotiated so a remapped capability goes on the next write.

mod common;

use common::{each, err, start, Kind};
use ferry_guest_client::fuse::opcode::init;
use ferry_guest_client::{XattrReply, ROOT};

/// Version 2 file capability data granting CAP_NET_RAW (effective bit set).
const CAPS: &[u8] = &[
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn host_xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(path, name).unwrap()
}

#[test]
fn guest_capabilities_and_trusted_names_never_land_on_host_files() {
    each(&["--xattr"], &["--xattr"], |h| {
        let c = h.c();
        let f = h.file(ROOT, "f", b"x");
        let p = h.host("f");
        let set_caps = c.setxattr(f, "security.capability", CAPS, 0);
        let set_trusted = c.setxattr(f, "trusted.overlay.opaque", b"y", 0);
        let landed = host_xattr(&p, "security.capability").is_some();
        if !h.is_ferryd() {
            // Measured, not required: upstream virtiofsd passes the name through.
            eprintln!(
                "NOTICE: virtiofsd --xattr: SETXATTR security.capability {set_caps:?}, \
                 on the host file: {landed}"
            );
            return;
        }
        set_caps.unwrap();
        set_trusted.unwrap();
        assert!(!landed, "the guest gave a host file capabilities");
        assert_eq!(host_xattr(&p, "trusted.overlay.opaque"), None);
        assert_eq!(
            host_xattr(&p, "user.virtiofs.security.capability").as_deref(),
            Some(CAPS)
        );
        match c.getxattr(f, "security.capability", 64).unwrap() {
            XattrReply::Data(v) => assert_eq!(v, CAPS),
            XattrReply::Size(_) => panic!("asked for the value"),
        }
        assert_eq!(
            err(c.setxattr(f, "user.virtiofs.security.capability", CAPS, 0)),
            libc::EPERM
        );
        // KILLPRIV_V2 is on by default: the guest kernel leaves the capability to the daemon,
        // which drops the remapped one on the next write.
        let s = c.session().unwrap();
        assert_ne!(
            s.flags & init::HANDLE_KILLPRIV_V2,
            0,
            "KILLPRIV_V2 negotiated"
        );
        let o = c.open(f, libc::O_RDWR as u32).unwrap();
        c.write(f, o.fh, 0, b"z").unwrap();
        assert_eq!(host_xattr(&p, "user.virtiofs.security.capability"), None);
        assert_eq!(err(c.getxattr(f, "security.capability", 64)), libc::ENODATA);
    });
}

#[test]
fn a_map_that_says_so_passes_names_through() {
    let h = start(&Kind::Ferryd, &["--xattrmap=:ok:all:::"]);
    let c = h.c();
    let f = h.file(ROOT, "f", b"");
    // The daemon keeps CAP_SETFCAP (not CAP_SYS_ADMIN, which trusted.* would need).
    c.setxattr(f, "security.capability", CAPS, 0).unwrap();
    assert_eq!(
        host_xattr(&h.host("f"), "security.capability").as_deref(),
        Some(CAPS)
    );
    let h = start(
        &Kind::Ferryd,
        &["--xattrmap=/bad/all/trusted./trusted./ /ok/all///"],
    );
    let f = h.file(ROOT, "f", b"");
    assert_eq!(err(h.c().setxattr(f, "trusted.t", b"1", 0)), libc::EPERM);
    h.c().setxattr(f, "user.u", b"1", 0).unwrap();
    assert_eq!(
        host_xattr(&h.host("f"), "user.u").as_deref(),
        Some(&b"1"[..])
    );
}
