//! The device's life: connecting, INIT, many requests in flight, the tag, and the daemon's
//! exit status when the client (the VMM) hangs up.

mod common;

use std::time::Duration;

use common::{daemons, spawn, start, Kind};
use ferry_guest_client::{fuse::opcode, Client, ClientOptions, Error, Options, ROOT};

#[test]
fn init_negotiates_and_root_answers() {
    for k in daemons() {
        let h = start(&k, &[]);
        let s = h.c().session().expect("INIT done");
        assert_eq!(s.out.major, 7, "{}", h.name());
        assert!(s.out.minor >= 31, "{}: minor {}", h.name(), s.out.minor);
        assert!(
            s.max_write >= 4096 && s.max_write <= 1 << 20,
            "{}",
            h.name()
        );
        let a = h.c().getattr(ROOT, None).unwrap();
        assert_eq!(
            a.attr.ino,
            std::fs::metadata(h.dir.path())
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.ino()
                })
                .unwrap(),
            "{}: root inode",
            h.name()
        );
        assert_eq!(a.attr.mode & libc::S_IFMT, libc::S_IFDIR, "{}", h.name());
        let st = h.disconnect();
        assert_eq!(
            st.and_then(|s| s.code()),
            Some(0),
            "{} exit status",
            k.name()
        );
    }
}

#[test]
fn ferryd_exits_zero_on_disconnect_without_init() {
    let (mut d, _dir, _s) = spawn(&Kind::Ferryd, &[]);
    let c = Client::connect(d.socket(), ClientOptions::default()).unwrap();
    drop(c);
    let st = d.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(0));
}

#[test]
fn ferryd_exits_zero_after_work_and_a_second_client_is_not_needed() {
    let h = start(&Kind::Ferryd, &["--thread-pool-size", "2"]);
    for i in 0..50 {
        h.file(ROOT, &format!("f{i}"), b"x");
    }
    assert_eq!(h.disconnect().and_then(|s| s.code()), Some(0));
}

#[test]
fn many_requests_in_flight_per_queue() {
    for k in daemons() {
        let h = start(&k, &["--thread-pool-size", "4"]);
        let c = h.c();
        let n = 64;
        for i in 0..n {
            h.file(ROOT, &format!("f{i}"), format!("{i}").as_bytes());
        }
        let pend: Vec<_> = (0..n)
            .map(|i| {
                let name = format!("f{i}\0");
                c.submit(opcode::LOOKUP, ROOT, &[name.as_bytes()], 128)
                    .unwrap()
            })
            .collect();
        assert!(c.device().request_queue(0).in_flight() > 1, "{}", h.name());
        // Collect in reverse order: completions of others are kept meanwhile.
        for (i, p) in pend.into_iter().enumerate().rev() {
            let b = c
                .wait(p)
                .unwrap_or_else(|e| panic!("{}: lookup f{i}: {e}", h.name()));
            assert_eq!(b.len(), 128);
        }
        assert_eq!(c.device().request_queue(0).in_flight(), 0);
        h.disconnect();
    }
}

#[test]
fn several_request_queues_and_threads() {
    let (d, _dir, _s) = spawn(
        &Kind::Ferryd,
        &["--request-queues", "3", "--thread-pool-size", "2"],
    );
    let o = ClientOptions {
        device: Options {
            request_queues: 3,
            ..Options::default()
        },
        ..Default::default()
    };
    let c = Client::connect_and_init(d.socket(), o).unwrap();
    assert_eq!(c.device().request_queues(), 3);
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in 0..40 {
                    let (e, f) = c
                        .create(ROOT, format!("t{t}-{i}"), libc::O_RDWR as u32, 0o600, 0)
                        .unwrap();
                    c.write(e.nodeid, f.fh, 0, b"abc").unwrap();
                    assert_eq!(c.read(e.nodeid, f.fh, 0, 10).unwrap(), b"abc");
                    c.release(e.nodeid, f.fh, 0).unwrap();
                }
            });
        }
    });
    assert_eq!(
        c.readdir_all(ROOT, c.opendir(ROOT).unwrap().fh, 4096, 1000)
            .unwrap()
            .len(),
        162
    );
}

#[test]
fn tag_is_read_from_config_space() {
    let (d, _dir, _s) = spawn(&Kind::Ferryd, &["--tag", "myshare"]);
    let c = Client::connect_and_init(d.socket(), ClientOptions::default()).unwrap();
    assert_eq!(c.device().tag(), Some("myshare"));
}

#[test]
fn dead_daemon_is_an_error_not_a_hang() {
    // Without a sandbox the PID killed is the server itself (with the namespace sandbox it is
    // the parent outside, and the server inside dies a moment later).
    let (mut d, _dir, _s) = spawn(&Kind::Ferryd, &["--sandbox", "none"]);
    let o = ClientOptions {
        timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let c = Client::connect_and_init(d.socket(), o).unwrap();
    d.kill();
    let t0 = std::time::Instant::now();
    let e = c.getattr(ROOT, None).unwrap_err();
    assert!(
        matches!(e, Error::Disconnected | Error::Timeout(_)),
        "unexpected {e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn works_without_event_idx_and_with_small_queues() {
    for k in daemons() {
        let (mut d, _dir, _s) = spawn(&k, &[]);
        let o = ClientOptions {
            device: Options {
                event_idx: false,
                queue_size: 4,
                mem_size: 8 << 20,
                ..Options::default()
            },
            ..Default::default()
        };
        let c = Client::connect_and_init(d.socket(), o).unwrap();
        assert_eq!(c.device().features() & (1 << 29), 0, "EVENT_IDX not acked");
        for i in 0..20 {
            let (e, f) = c
                .create(ROOT, format!("f{i}"), libc::O_RDWR as u32, 0o644, 0)
                .unwrap();
            c.write(e.nodeid, f.fh, 0, &[7u8; 3000]).unwrap();
            c.release(e.nodeid, f.fh, 0).unwrap();
        }
        assert_eq!(
            c.readdir_all(ROOT, c.opendir(ROOT).unwrap().fh, 512, 100)
                .unwrap()
                .len(),
            22,
            "{}",
            k.name()
        );
        drop(c);
        assert_eq!(
            d.wait_timeout(Duration::from_secs(10))
                .unwrap()
                .and_then(|s| s.code()),
            Some(0),
            "{}",
            k.name()
        );
    }
}

#[test]
fn queues_restarted_by_the_vmm_keep_serving() {
    // GET_VRING_BASE stops a queue and SET_VRING_KICK hands it back, as QEMU does around a
    // `stop`/`cont`: the daemon must serve the same rings from where they stopped, and hear the
    // kicks that come after.
    for k in daemons() {
        let h = start(&k, &[]);
        let c = h.c();
        let mut sent = 0u16;
        for round in 0..3 {
            for i in 0..5 {
                h.file(ROOT, &format!("r{round}-{i}"), b"x");
                sent += 3; // CREATE, WRITE, RELEASE
            }
            let e = c.lookup(ROOT, format!("r{round}-0")).unwrap();
            sent += 1;
            c.forget(e.nodeid, 1).unwrap();
            let dev = c.device();
            let base = dev.restart_queue(1).unwrap();
            assert!(
                base >= sent,
                "{}: base {base} after {sent} requests",
                h.name()
            );
            sent = base;
            dev.restart_queue(0).unwrap();
        }
        let e = c.lookup(ROOT, "r2-4").unwrap();
        assert_eq!(e.attr.size, 1, "{}", h.name());
        let name = h.name().to_string();
        assert_eq!(h.disconnect().and_then(|s| s.code()), Some(0), "{name}");
    }
}

/// A driver that publishes an available index more than a queue's worth ahead of what the
/// device has taken, then puts it right, gets its requests served again: the device keeps
/// listening for kicks (its notifications re-enabled) instead of leaving the queue for dead.
#[test]
fn a_queue_whose_avail_index_goes_wrong_and_comes_back_is_served_again() {
    let runs = daemons()
        .into_iter()
        .flat_map(|k| [&[][..], &["--thread-pool-size=2"][..]].map(|extra| (k.clone(), extra)));
    for (k, extra) in runs {
        let h = start(&k, extra);
        let c = h.c();
        c.getattr(ROOT, None).unwrap();
        let q = c.device().request_queue(0);
        let real = q.avail_idx();
        for bogus in [
            real.wrapping_add(1000),
            real.wrapping_sub(1),
            real.wrapping_add(0x8000),
        ] {
            q.kick_with_avail_idx(Some(bogus)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            q.kick_with_avail_idx(None).unwrap();
            let a = c.getattr(ROOT, None);
            if !k.is_ferryd() {
                eprintln!("NOTICE: {} after avail index {bogus}: {a:?}", h.name());
                break;
            }
            a.unwrap_or_else(|e| {
                panic!("{} {extra:?}: avail index {bogus} then back: {e}", h.name())
            });
        }
    }
}
