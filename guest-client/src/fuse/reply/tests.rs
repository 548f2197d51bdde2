//! Reply parsing against hostile replies.

use super::*;

fn out(len: u32, error: i32, unique: u64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(len.to_le_bytes());
    v.extend(error.to_le_bytes());
    v.extend(unique.to_le_bytes());
    v.extend(body);
    v
}

fn comp(data: Vec<u8>, writable_len: u64) -> Completion {
    Completion {
        used_len: data.len() as u32,
        data,
        writable_len,
    }
}

#[test]
fn good_reply_and_errno() {
    let c = comp(out(20, 0, 7, &[1, 2, 3, 4]), 100);
    assert_eq!(parse(&c, 7).unwrap(), vec![1, 2, 3, 4]);
    let c = comp(out(16, -libc::ENOENT, 9, &[]), 100);
    assert_eq!(parse(&c, 9).unwrap_err().errno(), Some(libc::ENOENT));
}

#[test]
fn hostile_replies_are_errors() {
    // Too short for the header.
    assert!(matches!(
        parse(&comp(vec![0; 15], 100), 1),
        Err(Error::BadReply(_))
    ));
    assert!(matches!(
        parse(&comp(vec![], 100), 1),
        Err(Error::BadReply(_))
    ));
    // Wrong unique.
    assert!(matches!(
        parse(&comp(out(16, 0, 2, &[]), 100), 1),
        Err(Error::BadReply(_))
    ));
    // Header length disagrees with the used length, both ways.
    assert!(matches!(
        parse(&comp(out(17, 0, 1, &[]), 100), 1),
        Err(Error::BadReply(_))
    ));
    assert!(matches!(
        parse(&comp(out(16, 0, 1, &[0]), 100), 1),
        Err(Error::BadReply(_))
    ));
    assert!(matches!(
        parse(&comp(out(u32::MAX, 0, 1, &[]), 100), 1),
        Err(Error::BadReply(_))
    ));
    // Positive or absurd error.
    assert!(matches!(
        parse(&comp(out(16, 5, 1, &[]), 100), 1),
        Err(Error::BadReply(_))
    ));
    assert!(matches!(
        parse(&comp(out(16, i32::MIN, 1, &[]), 100), 1),
        Err(Error::BadReply(_))
    ));
    // Used length beyond the writable buffers.
    let c = Completion {
        used_len: 4096,
        data: out(16, 0, 1, &[]),
        writable_len: 16,
    };
    assert!(matches!(parse(&c, 1), Err(Error::Ring(_))));
}

#[test]
fn fixed_size_bodies_must_match() {
    assert!(fixed::<EntryOut>(&[0; 127], "e").is_err());
    assert!(fixed::<EntryOut>(&[0; 129], "e").is_err());
    let e: EntryOut = fixed(&[0; 128], "e").unwrap();
    assert_eq!(e.nodeid, 0);
}

fn dirent(ino: u64, off: u64, typ: u32, name: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(ino.to_le_bytes());
    v.extend(off.to_le_bytes());
    v.extend((name.len() as u32).to_le_bytes());
    v.extend(typ.to_le_bytes());
    v.extend(name);
    while v.len() % 8 != 0 {
        v.push(0);
    }
    v
}

#[test]
fn dirents_parse_and_reject_garbage() {
    let mut buf = dirent(5, 1, 4, b".");
    buf.extend(dirent(6, 2, 8, b"hello-world"));
    let e = dirents(&buf).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].name, b"hello-world");
    assert_eq!((e[1].ino, e[1].off, e[1].typ), (6, 2, 8));
    // Last entry without its padding is accepted.
    let mut cut = dirent(7, 3, 8, b"abc");
    cut.truncate(24 + 3);
    assert_eq!(dirents(&cut).unwrap()[0].name, b"abc");

    assert!(dirents(&dirent(1, 1, 8, b"")).is_err(), "empty name");
    assert!(dirents(&dirent(1, 1, 8, b"a/b")).is_err(), "slash");
    let mut long = dirent(1, 1, 8, b"abcdefgh");
    long[16..20].copy_from_slice(&1000u32.to_le_bytes());
    assert!(dirents(&long).is_err(), "name past the end");
    long[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(dirents(&long).is_err(), "huge name length");
    assert!(dirents(&[0u8; 10]).is_err(), "truncated header");
}

#[test]
fn direntplus_parses() {
    let mut e = EntryOut {
        nodeid: 42,
        ..Default::default()
    };
    e.attr.ino = 6;
    let mut buf = e.as_slice().to_vec();
    buf.extend(dirent(6, 1, 8, b"f"));
    let v = direntplus(&buf).unwrap();
    assert_eq!(v[0].entry.nodeid, 42);
    assert_eq!(v[0].dirent.name, b"f");
    assert!(direntplus(&buf[..100]).is_err());
    assert!(direntplus(&buf[..128]).is_err(), "entry without dirent");
}
