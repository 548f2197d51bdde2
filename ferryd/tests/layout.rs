//! Requests and replies spread over many descriptors, as a Linux guest lays them out (one
//! descriptor per page of a READ or WRITE buffer), with the header split at odd places: the
//! data must arrive whole and in order, on ferryd (which moves READ and WRITE data straight
//! between the file and the guest's buffers) and on virtiofsd.

mod common;

use common::each;
use ferry_guest_client::fuse::opcode;
use ferry_guest_client::Seg;
use ferry_guest_client::ROOT;
use fuse_backend_rs::abi::fuse_abi::{ReadIn, WriteIn};
use vm_memory_fbr::ByteValued;

/// `n` bytes of a pattern that repeats every 251 bytes (so a misplaced piece shows).
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// `bytes` cut into readable descriptors of `piece` bytes each (the last one shorter).
fn pieces(bytes: &[u8], piece: usize) -> Vec<Seg> {
    bytes.chunks(piece).map(|c| Seg::In(c.to_vec())).collect()
}

#[test]
fn read_and_write_data_spread_over_many_descriptors() {
    const SIZE: usize = 128 * 1024;
    each(&[], &[], |h| {
        let c = h.c();
        let n = h.name();
        let f = h.file(ROOT, "f", b"");
        let fh = c.open(f, libc::O_RDWR as u32).unwrap().fh;
        let data = pattern(SIZE, 0x5a);
        // WRITE: the in_header and write_in cut at 7 and 50 bytes, the payload in 4000-byte
        // descriptors (none aligned with the header's end).
        let w = WriteIn {
            fh,
            offset: 0,
            size: SIZE as u32,
            ..Default::default()
        };
        let (req, _) = c.raw_encode(opcode::WRITE, f, &[w.as_slice(), &data].concat(), None);
        let mut segs = vec![Seg::In(req[..7].to_vec()), Seg::In(req[7..50].to_vec())];
        segs.extend(pieces(&req[50..], 4000));
        segs.push(Seg::Out(16 + 8));
        let r = c.raw(1, &segs, c.timeout()).unwrap();
        assert_eq!(r.used_len, 24, "{n}: WRITE reply");
        assert_eq!(&r.data[..4], &24u32.to_le_bytes(), "{n}");
        assert_eq!(
            &r.data[16..20],
            &(SIZE as u32).to_le_bytes(),
            "{n}: bytes written"
        );
        assert_eq!(std::fs::read(h.host("f")).unwrap(), data, "{n}: host file");
        // READ: the reply in one 16-byte header descriptor and 32 page-sized ones, from an
        // offset that is not page aligned.
        let r_in = ReadIn {
            fh,
            offset: 1234,
            size: (SIZE - 4096) as u32,
            ..Default::default()
        };
        let (req, _) = c.raw_encode(opcode::READ, f, r_in.as_slice(), None);
        let mut segs = vec![Seg::In(req), Seg::Out(16)];
        segs.extend((0..32).map(|_| Seg::Out(4096)));
        let r = c.raw(1, &segs, c.timeout()).unwrap();
        let want = &data[1234..1234 + SIZE - 4096];
        assert_eq!(
            r.used_len as usize,
            16 + want.len(),
            "{n}: READ used length"
        );
        assert!(
            r.data[16..] == *want,
            "{n}: READ data out of order or wrong"
        );
        c.release(f, fh, libc::O_RDWR as u32).unwrap();
    });
}
