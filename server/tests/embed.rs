//! The FUSE session and the Linux backend embedded in a process, as an in-process VMM would
//! use them: requests are served, and nothing of the process changes (its umask, its working
//! directory).

use std::mem::size_of;
use std::os::unix::fs::PermissionsExt;

use ferry_server::config::Config;
use ferry_server::fs;
use ferry_server::fuse::opcode as op;
use ferry_server::session::{Server, ServerOptions};
use fuse_backend_rs::abi::fuse_abi::{
    CreateIn, EntryOut, GetxattrIn, InHeader, InitIn, MkdirIn, OutHeader,
};
use vm_memory_fbr::ByteValued;

fn req(opcode: u32, nodeid: u64, parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let h = InHeader {
        len: (size_of::<InHeader>() + body.len()) as u32,
        opcode,
        unique: 7,
        nodeid,
        ..Default::default()
    };
    [h.as_slice(), &body].concat()
}

/// Serves `r`; returns the reply's errno (0: success) and body.
fn serve(s: &Server<fs::LinuxFs>, r: &[u8]) -> (i32, Vec<u8>) {
    let mut out = Vec::new();
    let n = s.handle(r, &mut out, 64 * 1024);
    let mut h = OutHeader::default();
    h.as_mut_slice()
        .copy_from_slice(&out[..size_of::<OutHeader>()]);
    (-h.error, out[size_of::<OutHeader>()..n].to_vec())
}

fn umask() -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("Umask:"))
        .unwrap()
        .to_string()
}

#[test]
fn served_in_process_without_touching_umask_or_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    xattr::set(dir.path().join("f"), "user.t", b"value").unwrap();
    // SAFETY: umask cannot fail; this test is alone in its process.
    unsafe { libc::umask(0o077) };
    let (mask, cwd) = (umask(), std::env::current_dir().unwrap());

    let mut cfg = Config::defaults_for(dir.path());
    cfg.xattr = true;
    let s = Server::new(fs::linux(&cfg).unwrap(), ServerOptions::default());
    let init = InitIn {
        major: 7,
        minor: 38,
        ..Default::default()
    };
    assert_eq!(serve(&s, &req(op::INIT, 0, &[init.as_slice()])).0, 0);

    // Modes land as the guest sent them, whatever the process umask (077 here).
    let create = CreateIn {
        flags: libc::O_RDWR as u32,
        mode: libc::S_IFREG | 0o644,
        umask: 0,
        fuse_flags: 0,
    };
    let (e, _) = serve(&s, &req(op::CREATE, 1, &[create.as_slice(), b"new\0"]));
    assert_eq!(e, 0, "CREATE");
    let mkdir = MkdirIn {
        mode: 0o755,
        umask: 0,
    };
    let (e, body) = serve(&s, &req(op::MKDIR, 1, &[mkdir.as_slice(), b"sub\0"]));
    assert_eq!(e, 0, "MKDIR");
    let mut entry = EntryOut::default();
    entry
        .as_mut_slice()
        .copy_from_slice(&body[..size_of::<EntryOut>()]);
    assert_eq!(entry.attr.mode & 0o7777, 0o755, "the reply's mode");
    let mode = |n: &str| {
        std::fs::metadata(dir.path().join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(
        (mode("new"), mode("sub")),
        (0o644, 0o755),
        "the host's modes"
    );

    // Calls with no *at form (xattrs) reach the inode without the working directory.
    let (e, body) = serve(&s, &req(op::LOOKUP, 1, &[b"f\0"]));
    assert_eq!(e, 0, "LOOKUP");
    entry
        .as_mut_slice()
        .copy_from_slice(&body[..size_of::<EntryOut>()]);
    let get = GetxattrIn {
        size: 64,
        padding: 0,
    };
    let (e, value) = serve(
        &s,
        &req(op::GETXATTR, entry.nodeid, &[get.as_slice(), b"user.t\0"]),
    );
    assert_eq!((e, value.as_slice()), (0, &b"value"[..]), "GETXATTR");

    assert_eq!(umask(), mask, "the process umask");
    assert_eq!(
        std::env::current_dir().unwrap(),
        cwd,
        "the working directory"
    );
}
