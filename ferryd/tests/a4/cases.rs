//! The rows of SECURITY.md A4. Each case builds its chain from the prepared objects; the
//! `ferryd` column is the table's outcome, the `virtiofsd` column what virtiofsd 1.14 does.
//!
//! Rows that are not single requests, tested elsewhere:
//! - #23 "a link across mounts → EXDEV": tests/state.rs `a4_23_link_across_mounts_is_exdev`
//!   (a tmpfs mounted inside the share).
//! - #24 "CREATE in a setgid directory by a non-member": tests/state.rs
//!   `a4_24_create_in_a_setgid_directory_by_a_non_member` (typed client, host checks the mode).
//!   "WRITE to a suid file clears suid/sgid": server/src/fs/linux/tests.rs
//!   `a4_24_a_non_root_write_clears_setuid_and_setgid`.
//! - #25 "a rename racing lookups", "a component swapped for a symlink": tests/escape.rs (a host
//!   thread swaps a directory for symlinks to outside while clients work in it); "EMFILE once
//!   over quota": server/src/fs/linux/tests.rs `a4_25_lookup_flood_gets_emfile_*`. Only the
//!   LOOKUP flood without FORGET is here.

use ferry_guest_client::fuse::opcode::{self as op, init};
use ferry_guest_client::{Client, Creds, Seg, ROOT};
use libc::{
    E2BIG, EBADF, EBUSY, EEXIST, EFBIG, EINVAL, EIO, EISDIR, ELOOP, ENAMETOOLONG, ENOMEM, ENOSYS,
    ENOTEMPTY, EPERM, ERANGE,
};

use super::{cat, le32, le64, simple, z, Case, Expect::*, Prep};

const OUT_OF_RAM: u64 = 1 << 40;

/// Where case 11d asks for a symlink outside the share (removed by the table's runner).
pub fn escape_path() -> String {
    format!("/tmp/ferry-a4-escape-{}", std::process::id())
}

fn getattr_body() -> Vec<u8> {
    vec![0u8; 16]
}

fn read_in(fh: u64, offset: u64, size: u32) -> Vec<u8> {
    cat(&[&le64(fh), &le64(offset), &le32(size), &[0u8; 20]])
}

fn write_in(fh: u64, offset: u64, size: u32) -> Vec<u8> {
    cat(&[&le64(fh), &le64(offset), &le32(size), &[0u8; 20]])
}

fn setxattr_head(c: &Client, size: u32, flags: u32) -> Vec<u8> {
    let mut v = cat(&[&le32(size), &le32(flags)]);
    if c.session()
        .is_some_and(|s| s.flags & init::SETXATTR_EXT != 0)
    {
        v.extend([0u8; 8]);
    }
    v
}

fn lookup(c: &Client, parent: u64, name: &[u8]) -> Vec<Seg> {
    simple(c, op::LOOKUP, parent, name)
}

fn dirents_ok(b: &[u8], _: &Prep) -> Result<(), String> {
    ferry_guest_client::fuse::reply::dirents(b)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn empty(b: &[u8], _: &Prep) -> Result<(), String> {
    if b.is_empty() {
        Result::Ok(())
    } else {
        Err(format!("{} bytes", b.len()))
    }
}

fn clamped(b: &[u8], p: &Prep) -> Result<(), String> {
    dirents_ok(b, p)?;
    if !b.is_empty() && b.len() <= 1 << 20 {
        Result::Ok(())
    } else {
        Err(format!("{} bytes", b.len()))
    }
}

fn entry_is_root(b: &[u8], p: &Prep) -> Result<(), String> {
    // fuse_entry_out: nodeid, generation, timeouts (24 bytes), then attr.ino at 40.
    let ino = b
        .get(40..48)
        .map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])));
    if ino == Some(p.root_ino) {
        Result::Ok(())
    } else {
        Err(format!("entry ino {ino:?}, root is {}", p.root_ino))
    }
}

pub fn cases() -> Vec<Case> {
    vec![
        // #1 Readable part shorter than the in header.
        Case::new("1a", "20-byte request", |_, _| vec![Seg::In(vec![0; 20]), Seg::Out(4096)], Used(0), Exits),
        Case::new("1b", "header split over three descriptors (valid)", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::In(r[..10].to_vec()), Seg::In(r[10..40].to_vec()), Seg::In(r[40..].to_vec()), Seg::Out(4096)]
        }, Ok, Ok),
        Case::new("1c", "empty readable descriptor before the request (valid)", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::In(vec![]), Seg::In(r), Seg::Out(4096)]
        }, Ok, Ok),
        // #2 in_header.len lies.
        Case::new("2a", "len larger than the bytes present", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), Some(40 + 16 + 100));
            vec![Seg::In(r), Seg::Out(4096)]
        }, Errno(EINVAL), Ok),
        Case::new("2b", "len 40, fixed args present", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), Some(40));
            vec![Seg::In(r), Seg::Out(4096)]
        }, Errno(EINVAL), Ok),
        Case::new("2c", "len below the header size", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), Some(8));
            vec![Seg::In(r), Seg::Out(4096)]
        }, Errno(EINVAL), Ok),
        Case::new("2d", "WRITE shorter than its fixed args", |c, p| {
            let (r, _) = c.raw_encode(op::WRITE, p.f, &le64(p.fh_rw), None);
            vec![Seg::In(r), Seg::Out(4096)]
        }, Errno(EINVAL), Exits),
        Case::new("2e", "readable descriptor longer than the request", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::InLen { data: r, len: 4096 }, Seg::Out(4096)]
        }, Errno(EINVAL), Ok),
        // #3 Oversized request.
        Case::new("3", "WRITE of max_write + 8 KiB", |c, p| {
            let n = (1u32 << 20) + 8192;
            let (r, _) = c.raw_encode(op::WRITE, p.f, &cat(&[&write_in(p.fh_rw, 0, n), &vec![b'x'; n as usize]]), None);
            vec![Seg::In(r), Seg::Out(4096)]
        }, Errno(ENOMEM), Errno(ENOMEM)),
        // #4 No usable writable descriptor.
        Case::new("4a", "no writable descriptor", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::In(r)]
        }, Used(0), Exits),
        Case::new("4b", "writable descriptor of 8 bytes", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::In(r), Seg::Out(8)]
        }, Used(0), Exits),
        Case::new("4c", "writable descriptor outside guest memory", |c, p| {
            let (r, _) = c.raw_encode(op::GETATTR, p.f, &getattr_body(), None);
            vec![Seg::In(r), Seg::Forged { addr: OUT_OF_RAM, len: 4096, writable: true }]
        }, Used(0), Exits),
        Case::new("4d", "readable descriptor outside guest memory", |_, _| {
            vec![Seg::Forged { addr: OUT_OF_RAM, len: 56, writable: false }, Seg::Out(4096)]
        }, Used(0), Exits),
        Case::new("4e", "readable descriptor wrapping the address space", |_, _| {
            vec![Seg::Forged { addr: u64::MAX - 8, len: 56, writable: false }, Seg::Out(4096)]
        }, Used(0), Exits),
        // #5 Opcodes not served.
        Case::new("5a", "unknown opcode 9999", |c, p| simple(c, 9999, p.f, &[]), Errno(ENOSYS), Errno(ENOSYS)),
        Case::new("5b", "IOCTL", |c, p| simple(c, op::IOCTL, p.f, &cat(&[&le64(p.fh_rw), &[0u8; 24]])), Errno(ENOSYS), Errno(ENOSYS)),
        Case::new("5c", "POLL", |c, p| simple(c, op::POLL, p.f, &cat(&[&le64(p.fh_rw), &[0u8; 16]])), Errno(ENOSYS), Errno(ENOSYS)),
        Case::new("5d", "SETUPMAPPING without DAX", |c, p| simple(c, op::SETUPMAPPING, p.f, &cat(&[&le64(p.fh_rw), &[0u8; 32]])), Errno(ENOSYS), Errno(ENOSYS)),
        // #6 INIT order.
        Case::new("6a", "GETATTR before INIT", |c, _| simple(c, op::GETATTR, ROOT, &getattr_body()), Errno(EIO), Errno(EBADF)).no_init(),
        Case::new("6b", "second INIT", |c, _| {
            let init = cat(&[&le32(7), &le32(41), &le32(0), &le32(0), &[0u8; 48]]);
            simple(c, op::INIT, 0, &init)
        }, Errno(EIO), Ok),
        // #7 Bad node ids.
        Case::new("7a", "node id 0", |c, _| simple(c, op::GETATTR, 0, &getattr_body()), Errno(EBADF), Errno(EBADF)),
        Case::new("7b", "forged node id", |c, _| simple(c, op::GETATTR, 0xdead_beef, &getattr_body()), Errno(EBADF), Errno(EBADF)),
        Case::new("7c", "forgotten node id", |c, p| simple(c, op::GETATTR, p.gone, &getattr_body()), Errno(EBADF), Errno(EBADF)),
        // #8 FORGET abuse (hiprio queue, no reply).
        Case::new("8a", "FORGET of an unknown node", |c, _| {
            let (r, _) = c.raw_encode(op::FORGET, 0xdead_beef, &le64(1), None);
            vec![Seg::In(r)]
        }, Used(0), Used(0)).hiprio(),
        Case::new("8b", "FORGET of the root, huge count", |c, _| {
            let (r, _) = c.raw_encode(op::FORGET, ROOT, &le64(u64::MAX), None);
            vec![Seg::In(r)]
        }, Used(0), LosesRoot).hiprio(),
        Case::new("8c", "FORGET above the refcount", |c, p| {
            let (r, _) = c.raw_encode(op::FORGET, p.f, &le64(u64::MAX), None);
            vec![Seg::In(r)]
        }, Used(0), Used(0)).hiprio(),
        // #9 BATCH_FORGET with a lying count.
        Case::new("9a", "BATCH_FORGET count 1000, one entry", |c, p| {
            let (r, _) = c.raw_encode(op::BATCH_FORGET, 0, &cat(&[&le32(1000), &le32(0), &le64(p.g), &le64(1)]), None);
            vec![Seg::In(r)]
        }, Used(0), Exits).hiprio(),
        Case::new("9b", "BATCH_FORGET count*16 over 1 MiB", |c, p| {
            let (r, _) = c.raw_encode(op::BATCH_FORGET, 0, &cat(&[&le32(70_000), &le32(0), &le64(p.g), &le64(1)]), None);
            vec![Seg::In(r), Seg::Out(4096)]
        }, Used(0), Errno(ENOMEM)).hiprio(),
        // #10 Names without their NUL.
        Case::new("10a", "LOOKUP name without NUL", |c, _| lookup(c, ROOT, b"f"), Errno(EINVAL), Exits),
        Case::new("10b", "MKDIR name without NUL", |c, _| simple(c, op::MKDIR, ROOT, &cat(&[&le32(0o755), &le32(0), b"x"])), Errno(EINVAL), Exits),
        Case::new("10c", "LOOKUP name with an interior NUL", |c, _| lookup(c, ROOT, b"f\0g\0"), Errno(EINVAL), Exits),
        // #11 Empty names, names with '/'.
        Case::new("11a", "LOOKUP empty name", |c, _| lookup(c, ROOT, b"\0"), Errno(EINVAL), Errno(libc::ENOENT)),
        Case::new("11b", "LOOKUP d/sub", |c, _| lookup(c, ROOT, b"d/sub\0"), Errno(EINVAL), Ok),
        Case::new("11c", "MKDIR d/new", |c, _| simple(c, op::MKDIR, ROOT, &cat(&[&le32(0o755), &le32(0), b"d/new\0"])), Errno(EINVAL), Ok),
        // virtiofsd creates this link outside the share (see symlink_named_by_an_absolute_path_stays_in_the_share).
        Case::new("11d", "SYMLINK whose name is an absolute host path", |c, _| {
            let _ = std::fs::remove_file(escape_path());
            simple(c, op::SYMLINK, ROOT, &cat(&[&z(escape_path().as_bytes()), b"x\0"]))
        }, Errno(EINVAL), Errno(libc::ENOENT)),
        // #12 Long names and targets.
        Case::new("12a", "LOOKUP of a 256-byte name", |c, _| lookup(c, ROOT, &z(&[b'n'; 256])), Errno(ENAMETOOLONG), Errno(ENAMETOOLONG)),
        Case::new("12b", "SYMLINK target of 4096 bytes", |c, _| simple(c, op::SYMLINK, ROOT, &cat(&[b"t\0", &z(&[b'x'; 4096])])), Errno(ENAMETOOLONG), Errno(ENAMETOOLONG)),
        // #13 .. at the root.
        Case::new("13a", "LOOKUP .. at the root", |c, _| lookup(c, ROOT, b"..\0"), Check(entry_is_root), Check(entry_is_root)),
        Case::new("13b", "LOOKUP . at the root", |c, _| lookup(c, ROOT, b".\0"), Check(entry_is_root), Check(entry_is_root)),
        // #14 . and .. as names.
        Case::new("14a", "MKDIR .", |c, _| simple(c, op::MKDIR, ROOT, &cat(&[&le32(0o755), &le32(0), b".\0"])), Errno(EEXIST), Errno(EEXIST)),
        Case::new("14b", "MKDIR ..", |c, p| simple(c, op::MKDIR, p.d, &cat(&[&le32(0o755), &le32(0), b"..\0"])), Errno(EEXIST), Errno(EEXIST)),
        Case::new("14c", "MKNOD .", |c, _| simple(c, op::MKNOD, ROOT, &cat(&[&le32(libc::S_IFREG | 0o644), &le32(0), &le32(0), &le32(0), b".\0"])), Errno(EEXIST), Errno(EEXIST)),
        Case::new("14d", "SYMLINK ..", |c, p| simple(c, op::SYMLINK, p.d, b"..\0x\0"), Errno(EEXIST), Errno(EEXIST)),
        Case::new("14e", "CREATE .", |c, _| simple(c, op::CREATE, ROOT, &cat(&[&le32((libc::O_CREAT | libc::O_RDWR) as u32), &le32(0o644), &le32(0), &le32(0), b".\0"])), Errno(EEXIST), Errno(EISDIR)),
        Case::new("14f", "LINK f as ..", |c, p| simple(c, op::LINK, p.d, &cat(&[&le64(p.f), b"..\0"])), Errno(EEXIST), Errno(EEXIST)),
        Case::new("14g", "RMDIR .", |c, p| simple(c, op::RMDIR, p.d, b".\0"), Errno(EINVAL), Errno(EINVAL)),
        Case::new("14h", "RMDIR ..", |c, p| simple(c, op::RMDIR, p.sub, b"..\0"), Errno(ENOTEMPTY), Errno(ENOTEMPTY)),
        Case::new("14i", "UNLINK .", |c, p| simple(c, op::UNLINK, p.d, b".\0"), Errno(EISDIR), Errno(EISDIR)),
        Case::new("14j", "RENAME . to x", |c, p| simple(c, op::RENAME, p.d, &cat(&[&le64(ROOT), b".\0x\0"])), Errno(EBUSY), Errno(EBUSY)),
        Case::new("14k", "RENAME f to ..", |c, p| simple(c, op::RENAME, ROOT, &cat(&[&le64(p.d), b"f\0..\0"])), Errno(EBUSY), Errno(EBUSY)),
        // #15 Symlinks are never followed.
        Case::new("15a", "OPEN of a symlink to /etc/shadow", |c, p| simple(c, op::OPEN, p.ln, &cat(&[&le32(libc::O_RDONLY as u32), &le32(0)])), Errno(ELOOP), Errno(EBADF)),
        Case::new("15b", "LOOKUP through a symlink", |c, p| lookup(c, p.ln, b"passwd\0"), Errno(libc::ENOTDIR), Errno(libc::ENOTDIR)),
        // #16 Device nodes.
        Case::new("16", "MKNOD of /dev/null's numbers", |c, _| {
            let rdev = libc::makedev(1, 3) as u32;
            simple(c, op::MKNOD, ROOT, &cat(&[&le32(libc::S_IFCHR | 0o666), &le32(rdev), &le32(0), &le32(0), b"null\0"]))
        }, Errno(EPERM), Ok),
        // #17 FIFOs and sockets are not opened (and no thread blocks on them).
        Case::new("17a", "OPEN of a FIFO for reading", |c, p| simple(c, op::OPEN, p.fifo, &cat(&[&le32(libc::O_RDONLY as u32), &le32(0)])), OneOf(&[libc::ENXIO, EPERM, EBADF, libc::EACCES, ELOOP]), Errno(EBADF)),
        Case::new("17b", "OPEN of a FIFO for writing", |c, p| simple(c, op::OPEN, p.fifo, &cat(&[&le32(libc::O_WRONLY as u32), &le32(0)])), OneOf(&[libc::ENXIO, EPERM, EBADF, libc::EACCES, ELOOP]), Errno(EBADF)),
        // #18 Bad file handles.
        Case::new("18a", "WRITE on a read-only handle", |c, p| simple(c, op::WRITE, p.f, &cat(&[&write_in(p.fh_ro, 0, 1), b"x"])), Errno(EBADF), Errno(EBADF)),
        Case::new("18b", "WRITE on another inode's handle", |c, p| simple(c, op::WRITE, p.f, &cat(&[&write_in(p.fh_g, 0, 1), b"x"])), Errno(EBADF), Errno(EBADF)),
        Case::new("18c", "WRITE on a released handle", |c, p| simple(c, op::WRITE, p.f, &cat(&[&write_in(p.fh_stale, 0, 1), b"x"])), Errno(EBADF), Errno(EBADF)),
        Case::new("18d", "READ on a forged handle", |c, p| simple(c, op::READ, p.f, &read_in(0xdead_beef, 0, 10)), Errno(EBADF), Errno(EBADF)),
        // #19 Sizes and offsets.
        Case::new("19a", "READ of 2 MiB", |c, p| {
            let (r, _) = c.raw_encode(op::READ, p.f, &read_in(p.fh_ro, 0, 2 << 20), None);
            vec![Seg::In(r), Seg::Out((2 << 20) + 16)]
        }, OneOf(&[ENOMEM, EINVAL]), Ok),
        Case::new("19b", "READ at an offset that overflows", |c, p| simple(c, op::READ, p.f, &read_in(p.fh_ro, u64::MAX - 10, 100)), OneOf(&[EFBIG, EINVAL]), Exits),
        Case::new("19c", "WRITE at an offset that overflows", |c, p| simple(c, op::WRITE, p.f, &cat(&[&write_in(p.fh_rw, u64::MAX - 1, 4), b"abcd"])), OneOf(&[EFBIG, EINVAL]), Exits),
        // #20 READDIR abuse.
        // A cookie is the host filesystem's directory offset; on ext4 (hash order) any 63-bit
        // value is a valid position, so a garbage cookie may list entries. What matters is a
        // well-formed reply; u64::MAX is past the end on every filesystem.
        Case::new("20a", "READDIR from a garbage cookie", |c, p| simple(c, op::READDIR, ROOT, &read_in(p.fh_root, 0xdead_beef_0000, 4096)), Check(dirents_ok), Check(dirents_ok)),
        Case::new("20b", "READDIR from cookie u64::MAX", |c, p| simple(c, op::READDIR, ROOT, &read_in(p.fh_root, u64::MAX, 4096)), AnyOf(&[Check(empty), Errno(EINVAL)]), AnyOf(&[Check(empty), Errno(EINVAL)])),
        Case::new("20c", "READDIR of 4 GiB", |c, p| {
            let (r, _) = c.raw_encode(op::READDIR, ROOT, &read_in(p.fh_root, 0, u32::MAX), None);
            vec![Seg::In(r), Seg::Out((2 << 20) + 16)]
        }, Check(clamped), Check(clamped)),
        // #21 SETXATTR abuse (with --xattr).
        // ferryd keeps it as user.virtiofs.trusted.x (tests/xattr.rs checks the host file);
        // virtiofsd passes it to the host, which refuses it for want of CAP_SYS_ADMIN.
        Case::new("21a", "SETXATTR trusted.x", |c, p| simple(c, op::SETXATTR, p.f, &cat(&[&setxattr_head(c, 1, 0), b"trusted.x\0", b"v"])), Ok, Errno(EPERM)).flags(&["--xattr"]),
        Case::new("21b", "SETXATTR declared size 100, 3 bytes present", |c, p| simple(c, op::SETXATTR, p.f, &cat(&[&setxattr_head(c, 100, 0), b"user.x\0", b"abc"])), Errno(EINVAL), Exits).flags(&["--xattr"]),
        Case::new("21c", "SETXATTR value over 64 KiB", |c, p| simple(c, op::SETXATTR, p.f, &cat(&[&setxattr_head(c, 65537, 0), b"user.x\0", &vec![b'v'; 65537]])), Errno(E2BIG), Errno(E2BIG)).flags(&["--xattr"]),
        // #22 GETXATTR sizes.
        Case::new("22a", "GETXATTR size 0", |c, p| {
            c.setxattr(p.f, "user.x", b"value", 0).unwrap();
            simple(c, op::GETXATTR, p.f, &cat(&[&le32(0), &le32(0), b"user.x\0"]))
        }, Check(|b, _| if b.get(..4) == Some(&5u32.to_le_bytes()[..]) { Result::Ok(()) } else { Err(format!("{b:?}")) }), Check(|b, _| if b.get(..4) == Some(&5u32.to_le_bytes()[..]) { Result::Ok(()) } else { Err(format!("{b:?}")) })).flags(&["--xattr"]),
        Case::new("22b", "GETXATTR too small", |c, p| {
            c.setxattr(p.f, "user.x", b"value", 0).unwrap();
            simple(c, op::GETXATTR, p.f, &cat(&[&le32(2), &le32(0), b"user.x\0"]))
        }, Errno(ERANGE), Errno(ERANGE)).flags(&["--xattr"]),
        Case::new("22c", "GETXATTR of 4 GiB", |c, p| {
            c.setxattr(p.f, "user.x", b"value", 0).unwrap();
            simple(c, op::GETXATTR, p.f, &cat(&[&le32(u32::MAX), &le32(0), b"user.x\0"]))
        }, Check(|b, _| if b == b"value" { Result::Ok(()) } else { Err(format!("{b:?}")) }), OneOf(&[ENOMEM])).flags(&["--xattr"]),
        // #23 Rename and link abuse.
        Case::new("23a", "RENAME d into its own child", |c, p| simple(c, op::RENAME, ROOT, &cat(&[&le64(p.sub), b"d\0", b"inside\0"])), Errno(EINVAL), Errno(EINVAL)),
        Case::new("23b", "RENAME2 with unknown flags", |c, _| simple(c, op::RENAME2, ROOT, &cat(&[&le64(ROOT), &le32(1 << 10), &le32(0), b"f\0", b"f2\0"])), Errno(EINVAL), Ok),
        Case::new("23c", "LINK of a directory", |c, p| simple(c, op::LINK, ROOT, &cat(&[&le64(p.d), b"dlink\0"])), Errno(EPERM), Errno(EPERM)),
        // #24 Credentials.
        Case::new("24a", "chown by a non-owner (uid 1000)", |c, p| {
            c.set_creds(Creds { uid: 1000, gid: 1000, pid: 1 });
            let mut s = vec![0u8; 88];
            s[..4].copy_from_slice(&(2u32 | 4).to_le_bytes()); // FATTR_UID | FATTR_GID
            s[76..80].copy_from_slice(&1000u32.to_le_bytes());
            s[80..84].copy_from_slice(&1000u32.to_le_bytes());
            let segs = simple(c, op::SETATTR, p.f, &s);
            c.set_creds(Creds::default());
            segs
        }, Errno(EPERM), Ok),
        // #25 LOOKUP flood without FORGET: the counts grow, nothing breaks.
        Case::new("25", "20,000 LOOKUPs without FORGET", |c, p| {
            for _ in 0..20_000 {
                c.lookup(ROOT, "f").unwrap();
            }
            simple(c, op::GETATTR, p.f, &getattr_body())
        }, Ok, Ok),
    ]
}
