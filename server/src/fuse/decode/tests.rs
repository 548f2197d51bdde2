//! Decoder tests with crafted byte buffers (SECURITY.md A4 cases that need no backend).

use super::*;
use fuse_backend_rs::abi::fuse_abi::{InHeader, OpenIn};

/// Builds a request: header (len filled in) followed by `body`.
pub(crate) fn req(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
    let h = InHeader {
        len: (size_of::<InHeader>() + body.len()) as u32,
        opcode,
        unique: 42,
        nodeid,
        ..Default::default()
    };
    let mut v = h.as_slice().to_vec();
    v.extend_from_slice(body);
    v
}

fn errno_of(buf: &[u8]) -> libc::c_int {
    match decode(buf) {
        Err(Rejected::Errno { errno, unique }) => {
            assert_eq!(unique, 42);
            errno
        }
        other => panic!("expected an errno, got {other:?}"),
    }
}

#[test]
fn short_header_gets_no_reply() {
    assert_eq!(decode(&[0u8; 39]).unwrap_err(), Rejected::NoReply);
    assert_eq!(decode(&[]).unwrap_err(), Rejected::NoReply);
}

#[test]
fn length_mismatch_is_einval() {
    let mut r = req(op::GETATTR, 1, &[0u8; 16]);
    r.push(0);
    assert_eq!(errno_of(&r), libc::EINVAL);
    let r = req(op::GETATTR, 1, &[0u8; 8]);
    assert_eq!(
        errno_of(&r),
        libc::EINVAL,
        "fixed args shorter than GetattrIn"
    );
}

#[test]
fn oversized_request_is_enomem() {
    let mut r = req(op::WRITE, 1, &[]);
    r[0..4].copy_from_slice(&((MAX_REQUEST as u32) + 1).to_le_bytes());
    assert_eq!(errno_of(&r), libc::ENOMEM);
}

#[test]
fn write_size_checks() {
    let mut w = WriteIn {
        size: 10,
        ..Default::default()
    };
    let mut body = w.as_slice().to_vec();
    body.extend_from_slice(&[7u8; 4]);
    assert_eq!(
        errno_of(&req(op::WRITE, 2, &body)),
        libc::EINVAL,
        "payload shorter than size"
    );
    w.size = MAX_WRITE + 1;
    assert_eq!(errno_of(&req(op::WRITE, 2, w.as_slice())), libc::ENOMEM);
    w = WriteIn {
        size: 4,
        offset: u64::MAX - 1,
        ..Default::default()
    };
    let mut body = w.as_slice().to_vec();
    body.extend_from_slice(&[7u8; 4]);
    assert_eq!(errno_of(&req(op::WRITE, 2, &body)), libc::EFBIG);
}

/// A request of `total` bytes whose first bytes are `head` (the rest left in the guest's
/// buffers, as the transport splits a WRITE).
fn split(opcode: u32, head: &[u8], total: usize) -> Result<(InHeader, Request<'static>), Rejected> {
    let mut r = req(opcode, 2, head);
    r[0..4].copy_from_slice(&(total as u32).to_le_bytes());
    let r: &'static [u8] = r.leak();
    decode_split(r, total - r.len(), Layout::default())
}

#[test]
fn a_split_write_leaves_its_payload_out_and_is_checked_the_same() {
    let mut w = WriteIn {
        size: 4096,
        ..Default::default()
    };
    let head = size_of::<InHeader>() + size_of::<WriteIn>();
    match split(op::WRITE, w.as_slice(), head + 4096) {
        Ok((_, Request::Write { arg, data: None })) => assert_eq!(arg.size, 4096),
        other => panic!("expected a WRITE without inline data, got {other:?}"),
    }
    let errno = |r: Result<(InHeader, Request<'_>), Rejected>| match r {
        Err(Rejected::Errno { errno, .. }) => errno,
        other => panic!("expected an errno, got {other:?}"),
    };
    assert_eq!(
        errno(split(op::WRITE, w.as_slice(), head + 4095)),
        libc::EINVAL,
        "payload short"
    );
    let mut longer = w.as_slice().to_vec();
    longer.push(0);
    assert_eq!(
        errno(split(op::WRITE, &longer, head + 4097)),
        libc::EINVAL,
        "args past write_in"
    );
    assert_eq!(
        errno(split(op::READ, &[0u8; 40], head + 4096)),
        libc::EINVAL,
        "only WRITE splits"
    );
    w.size = MAX_WRITE + 1;
    assert_eq!(
        errno(split(op::WRITE, w.as_slice(), MAX_REQUEST)),
        libc::ENOMEM
    );
    w = WriteIn {
        size: 4,
        offset: u64::MAX - 1,
        ..Default::default()
    };
    assert_eq!(errno(split(op::WRITE, w.as_slice(), head + 4)), libc::EFBIG);
    // The header's length must still be the whole request's.
    let r = req(op::WRITE, 2, w.as_slice()).leak();
    assert!(decode_split(r, 5, Layout::default()).is_err());
}

#[test]
fn names_are_checked_once_here() {
    assert_eq!(
        errno_of(&req(op::LOOKUP, 1, b"abc")),
        libc::EINVAL,
        "no NUL"
    );
    assert_eq!(errno_of(&req(op::LOOKUP, 1, b"\0")), libc::EINVAL, "empty");
    assert_eq!(
        errno_of(&req(op::LOOKUP, 1, b"a/b\0")),
        libc::EINVAL,
        "slash"
    );
    assert_eq!(
        errno_of(&req(op::UNLINK, 1, b"/etc/passwd\0")),
        libc::EINVAL
    );
    let mut long = vec![b'x'; 256];
    long.push(0);
    assert_eq!(errno_of(&req(op::LOOKUP, 1, &long)), libc::ENAMETOOLONG);
    let buf = req(op::LOOKUP, 1, b"..\0");
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(r, Request::Lookup(LookupName::DotDot)));
}

#[test]
fn dot_names_get_the_vfs_errno() {
    let mkdir = |n: &[u8]| {
        let mut b = MkdirIn::default().as_slice().to_vec();
        b.extend_from_slice(n);
        req(op::MKDIR, 1, &b)
    };
    assert_eq!(errno_of(&mkdir(b".\0")), libc::EEXIST);
    assert_eq!(errno_of(&mkdir(b"..\0")), libc::EEXIST);
    assert_eq!(errno_of(&req(op::RMDIR, 1, b".\0")), libc::EINVAL);
    assert_eq!(errno_of(&req(op::RMDIR, 1, b"..\0")), libc::ENOTEMPTY);
    assert_eq!(errno_of(&req(op::UNLINK, 1, b".\0")), libc::EISDIR);
    let mut b = RenameIn { newdir: 1 }.as_slice().to_vec();
    b.extend_from_slice(b"..\0x\0");
    assert_eq!(errno_of(&req(op::RENAME, 1, &b)), libc::EBUSY);
}

#[test]
fn rename2_flags_and_names() {
    let mut b = Rename2In {
        newdir: 1,
        flags: 1 << 7,
        padding: 0,
    }
    .as_slice()
    .to_vec();
    b.extend_from_slice(b"a\0b\0");
    assert_eq!(
        errno_of(&req(op::RENAME2, 1, &b)),
        libc::EINVAL,
        "unknown flag"
    );
    let mut b = Rename2In {
        newdir: 3,
        flags: libc::RENAME_NOREPLACE,
        padding: 0,
    }
    .as_slice()
    .to_vec();
    b.extend_from_slice(b"a\0b\0");
    let buf = req(op::RENAME2, 1, &b);
    let (_, r) = decode(&buf).unwrap();
    match r {
        Request::Rename {
            newdir,
            flags,
            old,
            new,
        } => {
            assert_eq!((newdir, flags), (3, libc::RENAME_NOREPLACE));
            assert_eq!((old.as_bytes(), new.as_bytes()), (&b"a"[..], &b"b"[..]));
        }
        other => panic!("{other:?}"),
    }
    let mut b = RenameIn { newdir: 1 }.as_slice().to_vec();
    b.extend_from_slice(b"a\0b");
    assert_eq!(
        errno_of(&req(op::RENAME, 1, &b)),
        libc::EINVAL,
        "second name without NUL"
    );
}

#[test]
fn symlink_target_limits() {
    let mut b = b"link\0".to_vec();
    b.extend_from_slice(&vec![b'a'; 4096]);
    b.push(0);
    assert_eq!(errno_of(&req(op::SYMLINK, 1, &b)), libc::ENAMETOOLONG);
    let buf = req(op::SYMLINK, 1, b"l\0/etc/shadow\0");
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(r, Request::Symlink { .. }));
}

#[test]
fn batch_forget_trusts_only_present_entries() {
    let mut b = BatchForgetIn {
        count: 1_000_000,
        dummy: 0,
    }
    .as_slice()
    .to_vec();
    b.extend_from_slice(
        ForgetOne {
            nodeid: 5,
            nlookup: 1,
        }
        .as_slice(),
    );
    b.extend_from_slice(&[1, 2, 3]);
    let buf = req(op::BATCH_FORGET, 0, &b);
    let (_, r) = decode(&buf).unwrap();
    match r {
        Request::BatchForget(v) => assert_eq!(v, vec![(5, 1)]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xattr_checks() {
    let mut b = SetxattrIn {
        size: 70_000,
        flags: 0,
    }
    .as_slice()
    .to_vec();
    b.extend_from_slice(b"user.a\0");
    assert_eq!(errno_of(&req(op::SETXATTR, 1, &b)), libc::E2BIG);
    let mut b = SetxattrIn { size: 10, flags: 0 }.as_slice().to_vec();
    b.extend_from_slice(b"user.a\0abc");
    assert_eq!(
        errno_of(&req(op::SETXATTR, 1, &b)),
        libc::EINVAL,
        "declared size != payload"
    );
    let mut b = GetxattrIn::default().as_slice().to_vec();
    b.extend_from_slice(b"\0");
    assert_eq!(
        errno_of(&req(op::GETXATTR, 1, &b)),
        libc::EINVAL,
        "empty name"
    );
}

#[test]
fn setxattr_extended_form_once_negotiated() {
    // size 3, flags 0, setxattr_flags ACL_KILL_SGID, padding; name; value.
    let mut b = SetxattrIn { size: 3, flags: 0 }.as_slice().to_vec();
    b.extend_from_slice(&1u32.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(b"user.a\0abc");
    let buf = req(op::SETXATTR, 1, &b);
    let ext = Layout { setxattr_ext: true };
    let (_, r) = decode_split(&buf, 0, ext).unwrap();
    match r {
        Request::Setxattr {
            setxattr_flags,
            name,
            value,
            ..
        } => {
            assert_eq!(setxattr_flags, 1);
            assert_eq!(name.to_bytes(), b"user.a");
            assert_eq!(value, b"abc");
        }
        other => panic!("{other:?}"),
    }
    // The same bytes in the short form do not pass for a request (the flags word holds a NUL).
    assert!(decode(&buf).is_err());
    // The short form under the extended layout: too short, or a name that is not there.
    let mut b = SetxattrIn { size: 1, flags: 0 }.as_slice().to_vec();
    b.extend_from_slice(b"user.a\0v");
    assert!(decode_split(&req(op::SETXATTR, 1, &b), 0, ext).is_err());
    let b = SetxattrIn { size: 0, flags: 0 }.as_slice().to_vec();
    assert!(decode_split(&req(op::SETXATTR, 1, &b), 0, ext).is_err());
}

#[test]
fn unknown_and_unsupported_opcodes_decode() {
    for opc in [op::IOCTL, op::POLL, op::BMAP, 9999, u32::MAX] {
        let buf = req(opc, 1, &[0u8; 64]);
        let (_, r) = decode(&buf).unwrap();
        assert!(matches!(r, Request::Unsupported(o) if o == opc));
    }
    let buf = req(op::OPEN, 1, OpenIn::default().as_slice());
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(r, Request::Open(_)));
}

#[test]
fn mapping_requests_decode_with_exact_lists() {
    use crate::fuse::mapping::{RemoveMappingOne, SetupMappingIn, MAX_REMOVE};
    let s = SetupMappingIn {
        fh: 3,
        foffset: 4096,
        len: 8192,
        flags: 2,
        moffset: 1 << 21,
    };
    let buf = req(op::SETUPMAPPING, 5, s.as_slice());
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(r, Request::SetupMapping(a) if a == s));
    assert_eq!(
        errno_of(&req(op::SETUPMAPPING, 5, &s.as_slice()[..39])),
        libc::EINVAL
    );

    let list = |count: u32, n: usize| {
        let mut b = count.to_le_bytes().to_vec();
        for i in 0..n as u64 {
            let one = RemoveMappingOne {
                moffset: i << 21,
                len: 1 << 21,
            };
            b.extend_from_slice(one.as_slice());
        }
        req(op::REMOVEMAPPING, 5, &b)
    };
    let buf = list(2, 2);
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(&r, Request::RemoveMapping(v) if v.len() == 2 && v[1].moffset == 1 << 21));
    let buf = list(MAX_REMOVE as u32, MAX_REMOVE);
    let (_, r) = decode(&buf).unwrap();
    assert!(matches!(&r, Request::RemoveMapping(v) if v.len() == MAX_REMOVE));
    // A count that lies either way, none at all, or more than the kernel ever sends.
    for (count, n) in [
        (3, 2),
        (1, 2),
        (0, 0),
        (u32::MAX, 1),
        (MAX_REMOVE as u32 + 1, MAX_REMOVE + 1),
    ] {
        assert_eq!(
            errno_of(&list(count, n)),
            libc::EINVAL,
            "count {count}, {n} present"
        );
    }
    let mut short = list(1, 1);
    short.pop();
    short[0] -= 1;
    assert_eq!(errno_of(&short), libc::EINVAL, "a cut entry");
}

#[test]
fn every_prefix_of_every_opcode_is_total() {
    // No panic on any truncation of any request kind, with junk bodies.
    let body: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    for opc in 0..=60 {
        for cut in 0..body.len() {
            let _ = decode(&req(opc, 1, &body[..cut]));
        }
    }
}
