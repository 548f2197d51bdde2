use super::*;
use crate::{lock, Reply};

/// A frame of type `ty` with `tag` and `body`.
fn frame(ty: u8, tag: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ((HEADER + body.len()) as u32).to_le_bytes().to_vec();
    v.push(ty);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

#[test]
fn version_and_attach() {
    let body = [&8192u32.to_le_bytes()[..], &s(b"9P2000.L")].concat();
    let f = frame(msg::TVERSION, crate::NOTAG, &body);
    assert_eq!(
        decode(&f),
        Ok((
            crate::NOTAG,
            Tmessage::Version {
                msize: 8192,
                version: b"9P2000.L"
            }
        ))
    );
    let body = [
        &1u32.to_le_bytes()[..],
        &crate::NOFID.to_le_bytes(),
        &s(b"root"),
        &s(b""),
        &0u32.to_le_bytes(),
    ]
    .concat();
    let f = frame(msg::TATTACH, 3, &body);
    let (tag, m) = decode(&f).unwrap();
    assert_eq!(tag, 3);
    assert_eq!(
        m,
        Tmessage::Attach {
            fid: 1,
            afid: crate::NOFID,
            uname: b"root",
            aname: b"",
            n_uname: 0
        }
    );
}

#[test]
fn walk_names_and_their_limit() {
    let mut body = [
        &1u32.to_le_bytes()[..],
        &2u32.to_le_bytes(),
        &2u16.to_le_bytes(),
    ]
    .concat();
    body.extend(s(b"a"));
    body.extend(s(b".."));
    let f = frame(msg::TWALK, 1, &body);
    let (_, m) = decode(&f).unwrap();
    assert_eq!(
        m,
        Tmessage::Walk {
            fid: 1,
            newfid: 2,
            names: vec![b"a", b".."]
        }
    );

    let mut body = [
        &1u32.to_le_bytes()[..],
        &2u32.to_le_bytes(),
        &17u16.to_le_bytes(),
    ]
    .concat();
    for _ in 0..17 {
        body.extend(s(b"a"));
    }
    assert_eq!(
        decode(&frame(msg::TWALK, 1, &body)),
        Err(DecodeError::TooManyNames(17))
    );
}

#[test]
fn lying_lengths_are_refused() {
    // The size field says more than the frame holds, and less.
    let mut f = frame(msg::TCLUNK, 1, &5u32.to_le_bytes());
    f[0] += 1;
    assert!(matches!(decode(&f), Err(DecodeError::Size(..))));
    assert_eq!(decode(&f[..5]), Err(DecodeError::ShortHeader));
    // A string longer than the body.
    let body = [
        &1u32.to_le_bytes()[..],
        &2u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &9u16.to_le_bytes(),
        b"ab",
    ]
    .concat();
    assert_eq!(
        decode(&frame(msg::TWALK, 1, &body)),
        Err(DecodeError::Short)
    );
    // A write whose count is past the frame's end.
    let body = [
        &1u32.to_le_bytes()[..],
        &0u64.to_le_bytes(),
        &100u32.to_le_bytes(),
        b"abc",
    ]
    .concat();
    assert_eq!(
        decode(&frame(msg::TWRITE, 1, &body)),
        Err(DecodeError::Short)
    );
    // Bytes left over.
    let body = [&1u32.to_le_bytes()[..], b"x"].concat();
    assert_eq!(
        decode(&frame(msg::TCLUNK, 1, &body)),
        Err(DecodeError::Trailing(1))
    );
    // Legacy 9P2000 and unknown types.
    assert_eq!(
        decode(&frame(112, 1, &[])),
        Err(DecodeError::UnknownType(112))
    );
    assert_eq!(
        decode(&frame(255, 1, &[])),
        Err(DecodeError::UnknownType(255))
    );
}

#[test]
fn lock_fields_in_order() {
    let body = [
        &4u32.to_le_bytes()[..],
        &[lock::WRLCK],
        &lock::FLAGS_BLOCK.to_le_bytes(),
        &10u64.to_le_bytes(),
        &0u64.to_le_bytes(),
        &77u32.to_le_bytes(),
        &s(b"guest"),
    ]
    .concat();
    let f = frame(msg::TLOCK, 9, &body);
    let (_, m) = decode(&f).unwrap();
    let lock = Lock {
        ty: lock::WRLCK,
        start: 10,
        length: 0,
        proc_id: 77,
        client_id: b"guest",
    };
    assert_eq!(
        m,
        Tmessage::Lock {
            fid: 4,
            lock,
            flags: lock::FLAGS_BLOCK
        }
    );
}

#[test]
fn every_prefix_of_every_message_is_refused_without_panic() {
    let bodies: Vec<(u8, Vec<u8>)> = vec![
        (msg::TSETATTR, vec![0; 4 + 4 * 4 + 8 * 5]),
        (
            msg::TGETLOCK,
            [&[0u8; 4 + 1 + 8 + 8 + 4][..], &s(b"c")].concat(),
        ),
        (
            msg::TRENAMEAT,
            [
                &1u32.to_le_bytes()[..],
                &s(b"a"),
                &2u32.to_le_bytes(),
                &s(b"b"),
            ]
            .concat(),
        ),
        (
            msg::TMKNOD,
            [&1u32.to_le_bytes()[..], &s(b"n"), &[0u8; 16]].concat(),
        ),
    ];
    for (ty, body) in bodies {
        assert!(decode(&frame(ty, 1, &body)).is_ok(), "type {ty}");
        for cut in 0..body.len() {
            assert!(
                decode(&frame(ty, 1, &body[..cut])).is_err(),
                "type {ty} cut at {cut}"
            );
        }
    }
}

#[test]
fn replies_carry_their_size() {
    let mut buf = vec![0xaa];
    let mut r = Reply::new(&mut buf, msg::TWALK + 1, 5);
    r.u16(1).qid(crate::Qid {
        ty: crate::qtype::DIR,
        version: 0,
        path: 42,
    });
    assert_eq!(r.finish(), HEADER + 2 + crate::QID_SIZE);
    assert_eq!(&buf[1..5], &22u32.to_le_bytes());
    assert_eq!(buf[5], msg::TWALK + 1);

    let mut buf = Vec::new();
    let mut r = Reply::new(&mut buf, msg::TREAD + 1, 6);
    r.u32(100).bytes(&[1; 100]);
    let n = r.into_error(5).finish();
    assert_eq!(n, HEADER + 4);
    assert_eq!(&buf, &[11, 0, 0, 0, msg::RLERROR, 6, 0, 5, 0, 0, 0]);
}
