//! DAX through the guest client, which plays a VMM with a cache window: ferryd's
//! `--dax-window` announced by GET_SHMEM_CONFIG, SETUPMAPPING and REMOVEMAPPING carried out
//! with SHMEM_MAP / SHMEM_UNMAP on the backend channel, and hostile mapping requests. Upstream
//! virtiofsd has no cache window: it is only checked to refuse SETUPMAPPING.

mod common;

use std::os::unix::fs::FileExt;

use common::{daemons, err, start, try_start, Harness, Kind};
use ferry_guest_client::fuse::opcode::{self, MAPPING_READ, MAPPING_WRITE};
use ferry_guest_client::{ClientOptions, Options, Window, ROOT};

const MIB2: u64 = 2 << 20;
const WINDOW: u64 = 4 * MIB2;
const RW: u64 = MAPPING_READ | MAPPING_WRITE;

/// A client that offers FUSE_MAP_ALIGNMENT, as a Linux guest mounted with `-o dax` does.
fn dax_client() -> ClientOptions {
    ClientOptions {
        init_flags: opcode::init::LINUX_6_12 | opcode::init::MAP_ALIGNMENT,
        ..Default::default()
    }
}

fn ferryd_with_window(extra: &[&str]) -> Harness {
    let mut args = vec!["--dax-window", "8M"];
    args.extend_from_slice(extra);
    try_start(&Kind::Ferryd, &args, dax_client()).expect("ferryd with a window")
}

fn window(h: &Harness) -> &Window {
    h.c()
        .device()
        .window()
        .expect("the daemon offered a window")
}

/// A host file of `pages` pages with a known pattern; its node id and handle.
fn host_file(h: &Harness, name: &str, pages: usize) -> (u64, u64, Vec<u8>) {
    let data: Vec<u8> = (0..pages * 4096).map(|i| (i % 251) as u8).collect();
    std::fs::write(h.host(name), &data).unwrap();
    let node = h.lookup(name).nodeid;
    let fh = h.c().open(node, libc::O_RDWR as u32).unwrap().fh;
    (node, fh, data)
}

#[test]
fn without_a_window_setupmapping_is_enosys() {
    for k in daemons() {
        let h = start(&k, &[]);
        assert!(h.c().device().window().is_none(), "{}", h.name());
        let (node, fh, _) = host_file(&h, "f", 1);
        assert_eq!(
            err(h.c().setupmapping(node, fh, 0, 4096, MAPPING_READ, 0)),
            libc::ENOSYS,
            "{}",
            h.name()
        );
        assert!(h.c().getattr(ROOT, None).is_ok());
    }
    // A VMM that does not take the window up: offered, not negotiated, not used.
    let opts = ClientOptions {
        device: Options {
            dax: false,
            ..Default::default()
        },
        ..dax_client()
    };
    let h = try_start(&Kind::Ferryd, &["--dax-window", "8M"], opts).unwrap();
    assert!(h.c().device().window().is_none());
    let s = h.c().session().unwrap();
    assert_eq!(s.flags & opcode::init::MAP_ALIGNMENT, 0);
    let (node, fh, _) = host_file(&h, "f", 1);
    assert_eq!(
        err(h.c().setupmapping(node, fh, 0, 4096, MAPPING_READ, 0)),
        libc::ENOSYS
    );
}

#[test]
fn mapped_ranges_share_the_host_page_cache_both_ways() {
    let h = ferryd_with_window(&[]);
    let c = h.c();
    let s = c.session().unwrap();
    assert_ne!(s.flags & opcode::init::MAP_ALIGNMENT, 0);
    assert_eq!(s.out.map_alignment, 21, "2 MiB, as Linux maps");
    let w = window(&h);
    assert_eq!(w.size(), WINDOW);
    let (node, fh, data) = host_file(&h, "f", 3);

    // A read-only mapping of the file's first 2 MiB range, as Linux maps DAX ranges.
    c.setupmapping(node, fh, 0, MIB2, MAPPING_READ, MIB2)
        .unwrap();
    let mut b = vec![0u8; data.len()];
    w.read(MIB2, &mut b).unwrap();
    assert_eq!(b, data);
    assert!(w.write(MIB2, b"x").is_err(), "mapped read-only");

    // The host's write shows at once: the same pages.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(h.host("f"))
        .unwrap();
    f.write_all_at(b"HOST", 4096).unwrap();
    let mut four = [0u8; 4];
    w.read(MIB2 + 4096, &mut four).unwrap();
    assert_eq!(&four, b"HOST");

    // A writable mapping of the same range elsewhere: the guest's stores reach the file.
    c.setupmapping(node, fh, 0, MIB2, RW, 3 * MIB2).unwrap();
    w.write(3 * MIB2 + 100, b"guest").unwrap();
    let mut on_host = [0u8; 5];
    std::fs::File::open(h.host("f"))
        .unwrap()
        .read_exact_at(&mut on_host, 100)
        .unwrap();
    assert_eq!(&on_host, b"guest");
    w.read(MIB2 + 100, &mut on_host).unwrap();
    assert_eq!(&on_host, b"guest", "and through the other mapping");

    // Another file mapped over the first mapping replaces it there.
    let (g, fh_g, _) = host_file(&h, "g", 1);
    std::fs::write(h.host("g"), [9u8; 4096]).unwrap();
    c.setupmapping(g, fh_g, 0, MIB2, MAPPING_READ, MIB2)
        .unwrap();
    w.read(MIB2, &mut four).unwrap();
    assert_eq!(four, [9u8; 4]);

    // REMOVEMAPPING: the range is gone, the other stays.
    c.removemapping(node, &[(MIB2, MIB2)]).unwrap();
    assert!(w.read(MIB2 + 4096, &mut four).is_err());
    assert_eq!(w.mapped(), vec![(3 * MIB2, MIB2, true)]);
    c.removemapping(node, &[(0, WINDOW / 2), (WINDOW / 2, WINDOW / 2)])
        .unwrap();
    assert!(w.mapped().is_empty());
    assert_eq!(h.disconnect().and_then(|s| s.code()), Some(0));
}

/// Hostile SETUPMAPPINGs: (what, node, foffset, len, flags, moffset, errno).
#[rustfmt::skip]
fn setup_cases(node: u64, link: u64) -> Vec<(&'static str, u64, u64, u64, u64, u64, i32)> {
    const R: u64 = MAPPING_READ;
    let end = WINDOW;
    vec![
        ("window offset at the end", node, 0, MIB2, R, end, libc::EINVAL),
        ("range past the end", node, 0, 2 * MIB2, R, end - MIB2, libc::EINVAL),
        ("window offset wraps", node, 0, MIB2, R, u64::MAX - MIB2 + 1, libc::EINVAL),
        ("length wraps", node, 0, u64::MAX - MIB2 + 1, R, MIB2, libc::EINVAL),
        ("empty", node, 0, 0, R, 0, libc::EINVAL),
        ("a page, not 2 MiB", node, 0, 4096, R, 0, libc::EINVAL),
        ("window offset unaligned", node, 0, MIB2, R, 4096, libc::EINVAL),
        ("file offset unaligned", node, 4096, MIB2, R, 0, libc::EINVAL),
        ("file offset past off_t", node, i64::MAX as u64 & !(MIB2 - 1), MIB2, R, 0, libc::EINVAL),
        ("unknown flags", node, 0, MIB2, 1 << 7, 0, libc::EINVAL),
        ("a directory", ROOT, 0, MIB2, R, 0, libc::EISDIR),
        ("a symlink", link, 0, MIB2, R, 0, libc::ELOOP),
        ("a node never handed out", 77_777, 0, MIB2, R, 0, libc::EBADF),
    ]
}

#[test]
fn hostile_mapping_requests_get_errnos_and_the_daemon_goes_on() {
    let h = ferryd_with_window(&[]);
    let c = h.c();
    let (node, fh, _) = host_file(&h, "f", 1);
    std::os::unix::fs::symlink("f", h.host("l")).unwrap();
    let link = h.lookup("l").nodeid;
    let end = WINDOW;
    for &(what, n, foff, len, flags, moff, want) in &setup_cases(node, link) {
        let r = c.setupmapping(n, if n == node { fh } else { 0 }, foff, len, flags, moff);
        assert_eq!(err(r), want, "{what}");
    }
    assert!(window(&h).mapped().is_empty(), "nothing was mapped");

    // REMOVEMAPPING: bad ranges refused before any is unmapped; lying counts refused.
    c.setupmapping(node, fh, 0, MIB2, MAPPING_READ, 0).unwrap();
    assert_eq!(
        err(c.removemapping(node, &[(0, MIB2), (end, MIB2)])),
        libc::EINVAL
    );
    assert_eq!(window(&h).mapped(), vec![(0, MIB2, false)]);
    let mut lie = 3u32.to_le_bytes().to_vec();
    lie.extend_from_slice(&[0u8; 16]);
    assert_eq!(
        err(c.call(opcode::REMOVEMAPPING, node, &[&lie], 0)),
        libc::EINVAL
    );
    assert_eq!(err(c.removemapping(node, &[])), libc::EINVAL);
    assert_eq!(
        err(c.call(opcode::SETUPMAPPING, node, &[&[0u8; 39]], 0)),
        libc::EINVAL
    );

    // Still serving, and the mapping that was there still is.
    assert!(c.getattr(ROOT, None).is_ok());
    let mut b = [0u8; 4];
    window(&h).read(0, &mut b).unwrap();
    assert_eq!(b, [0, 1, 2, 3]);
    assert_eq!(h.disconnect().and_then(|s| s.code()), Some(0));
}

#[test]
fn handles_and_read_only_exports_bound_what_can_be_mapped() {
    // With OPEN and RELEASE kept, a mapping names the guest's own handle of the node.
    let h = ferryd_with_window(&["--no-zero-open"]);
    let c = h.c();
    let (f, fh_f, _) = host_file(&h, "f", 1);
    let (g, fh_g, _) = host_file(&h, "g", 1);
    assert_ne!(fh_f, 0);
    assert_eq!(
        err(c.setupmapping(f, fh_g, 0, MIB2, MAPPING_READ, 0)),
        libc::EBADF
    );
    assert_eq!(
        err(c.setupmapping(f, 0, 0, MIB2, MAPPING_READ, 0)),
        libc::EBADF
    );
    c.setupmapping(g, fh_g, 0, MIB2, MAPPING_READ, 0).unwrap();
    c.release(g, fh_g, libc::O_RDWR as u32).unwrap();
    // Linux names no handle at all (fh = -1): it maps by node, whatever it opened.
    c.setupmapping(f, u64::MAX, 0, MIB2, MAPPING_READ, 2 * MIB2)
        .unwrap();
    // The mapping outlives the handle, as an mmap outlives close(2).
    let mut b = [0u8; 2];
    window(&h).read(0, &mut b).unwrap();
    assert_eq!(b, [0, 1]);
    drop(h);

    let h = ferryd_with_window(&["--readonly"]);
    std::fs::write(h.host("f"), [5u8; 4096]).unwrap();
    let node = h.lookup("f").nodeid;
    let c = h.c();
    assert_eq!(err(c.setupmapping(node, 0, 0, MIB2, RW, 0)), libc::EROFS);
    c.setupmapping(node, 0, 0, MIB2, MAPPING_READ, 0).unwrap();
    window(&h).read(0, &mut b).unwrap();
    assert_eq!(b, [5, 5]);
}
