//! The id maps: libvirt's `<idmap>` ranges, virtiofsd's translation forms, and hostile rules.

use super::*;

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn libvirt_idmap_ranges_behave_as_a_user_namespace() {
    // <idmap><uid start='0' target='100000' count='65536'/></idmap>
    let m = IdMap::from_userns(&v(&[":0:100000:65536:"])).unwrap();
    assert_eq!(m.to_host(0), Some(100000));
    assert_eq!(m.to_host(1000), Some(101000));
    assert_eq!(m.to_host(65535), Some(165535));
    // Outside the map: never a host id.
    assert_eq!(m.to_host(65536), None);
    assert_eq!(m.to_host(u32::MAX), None);
    assert_eq!(m.to_guest(100000), 0);
    assert_eq!(m.to_guest(165535), 65535);
    // Host owners outside the map look like nobody.
    assert_eq!(m.to_guest(0), OVERFLOW_ID);
    assert_eq!(m.to_guest(1000), OVERFLOW_ID);
    assert_eq!(m.to_guest(165536), OVERFLOW_ID);
    assert!(!m.is_identity());
}

#[test]
fn several_ranges_and_separators() {
    let m = IdMap::from_userns(&v(&[":0:1000:1:", "/1/100000/1000/"])).unwrap();
    assert_eq!(m.to_host(0), Some(1000));
    assert_eq!(m.to_host(1), Some(100000));
    assert_eq!(m.to_host(1000), Some(100999));
    assert_eq!(m.to_host(1001), None);
    assert_eq!(m.to_guest(1000), 0);
    assert_eq!(m.to_guest(100500), 501);
}

#[test]
fn translation_forms_as_virtiofsd_documents_them() {
    let m = IdMap::from_translate(&v(&[
        "map:1000:2000:10",
        "squash-guest:5000:3000:100",
        "squash-host:7000:42:5",
        "forbid-guest:9000:2",
        "guest:20000:30000:1",
        "host:40000:50000:1",
    ]))
    .unwrap();
    assert_eq!(m.to_host(1005), Some(2005));
    assert_eq!(m.to_guest(2005), 1005);
    assert_eq!(m.to_host(5099), Some(3000));
    assert_eq!(m.to_guest(3000), 3000, "squash-guest is one way");
    assert_eq!(m.to_guest(7004), 42);
    assert_eq!(m.to_host(9001), None);
    assert_eq!(m.to_host(9002), Some(9002));
    assert_eq!(m.to_host(20000), Some(30000));
    assert_eq!(m.to_guest(30000), 30000, "guest: is one way");
    assert_eq!(m.to_guest(40000), 50000);
    // What no rule covers maps to itself, but -1 never.
    assert_eq!(m.to_host(0), Some(0));
    assert_eq!(m.to_guest(0), 0);
    assert_eq!(m.to_host(u32::MAX), None);
    assert_eq!(m.to_guest(u32::MAX), OVERFLOW_ID);
    assert!(IdMap::from_translate(&[]).unwrap().is_identity());
    // Any separator, the same one throughout; the type in any case.
    let m = IdMap::from_translate(&v(&["MAP/1/2/3"])).unwrap();
    assert_eq!(m.to_host(3), Some(4));
}

#[test]
fn hostile_rules_are_refused() {
    let bad_userns = [
        ":0:100000:0:",        // empty range
        ":0:100000:",          // a field short
        ":0:100000:1:2:",      // a field too many
        "0:100000:1",          // no frame
        ":0:100000:1",         // not closed
        "a0a1a1a",             // alphanumeric separator
        ":x:1:1:",             // not a number
        ":-1:1:1:",            // negative
        ":4294967295:0:1:",    // from -1
        ":0:4294967295:1:",    // to -1
        ":4294967290:0:100:",  // wraps past -1
        ":0:4294967200:1000:", // target wraps
        "",
    ];
    for item in bad_userns {
        assert!(
            IdMap::from_userns(&v(&[item])).is_err(),
            "{item:?} accepted"
        );
    }
    // Overlapping ranges, either side.
    assert!(IdMap::from_userns(&v(&[":0:100000:10:", ":5:200000:10:"])).is_err());
    assert!(IdMap::from_userns(&v(&[":0:100000:10:", ":100:100005:10:"])).is_err());
    let bad_translate = [
        "map:1:2",
        "map:1:2:3:4",
        "map:1:2:0",
        "forbid-guest:1:2:3",
        "squash:1:2:3",
        "map",
        "map:1/2:3",
        "map:1:2:3:",
    ];
    for item in bad_translate {
        assert!(
            IdMap::from_translate(&v(&[item])).is_err(),
            "{item:?} accepted"
        );
    }
    assert!(IdMap::from_translate(&v(&["map:0:10:10", "forbid-guest:5:1"])).is_err());
    assert!(IdMap::from_translate(&v(&["squash-host:0:10:10", "host:5:1:1"])).is_err());
    // A guest rule and a host rule over the same ids are two directions: allowed.
    assert!(IdMap::from_translate(&v(&["guest:0:10:10", "host:0:10:10"])).is_ok());
}

#[test]
fn callers_map_both_ids_or_none() {
    let ids = Ids {
        uid: IdMap::from_userns(&v(&[":0:100000:1000:"])).unwrap(),
        gid: IdMap::from_userns(&v(&[":0:200000:1000:"])).unwrap(),
    };
    assert_eq!(ids.caller(0, 0), Some((100000, 200000)));
    assert_eq!(ids.caller(999, 5), Some((100999, 200005)));
    assert_eq!(ids.caller(1000, 0), None);
    assert_eq!(ids.caller(0, 1000), None);
    assert!(Ids::default().is_identity());
    assert_eq!(Ids::default().caller(7, 8), Some((7, 8)));
}
