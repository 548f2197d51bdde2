//! The mapping rules against the examples of virtiofsd's documentation, the default map, and
//! hostile rule sets and names.

use super::*;

fn map(s: &str) -> XattrMap {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn host(m: &XattrMap, guest: &str) -> Result<String, i32> {
    let c = CString::new(guest).unwrap();
    m.to_host(&c)
        .map(|n| String::from_utf8(n.to_bytes().to_vec()).unwrap())
}

fn list(m: &XattrMap, host: &[&str]) -> Vec<String> {
    let mut raw = Vec::new();
    for n in host {
        raw.extend_from_slice(n.as_bytes());
        raw.push(0);
    }
    let out = m.list_to_guest(&raw);
    assert!(out.is_empty() || out.ends_with(&[0]));
    out.split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8(n.to_vec()).unwrap())
        .collect()
}

#[test]
fn example_1_prefix_everything() {
    let a = map(":prefix:all::user.virtiofs.::bad:all:::");
    let b = map(":map::user.virtiofs.:");
    assert_eq!(a, b, "the map rule is the same two rules");
    for m in [&a, &b] {
        assert_eq!(host(m, "user.foo").unwrap(), "user.virtiofs.user.foo");
        assert_eq!(
            host(m, "security.selinux").unwrap(),
            "user.virtiofs.security.selinux"
        );
        assert_eq!(
            list(
                m,
                &["user.virtiofs.user.foo", "security.selinux", "user.bar"]
            ),
            ["user.foo"]
        );
    }
}

#[test]
fn example_2_prefix_trusted_and_let_the_rest_through() {
    let a = map("/prefix/all/trusted./user.virtiofs./
         /bad/server//trusted./
         /bad/client/user.virtiofs.//
         /ok/all///");
    let b = map("/map/trusted./user.virtiofs./");
    assert_eq!(a, b);
    for m in [&a, &b] {
        assert_eq!(
            host(m, "trusted.overlay.opaque").unwrap(),
            "user.virtiofs.trusted.overlay.opaque"
        );
        assert_eq!(host(m, "user.virtiofs.trusted.x"), Err(libc::EPERM));
        assert_eq!(host(m, "user.mime").unwrap(), "user.mime");
        assert_eq!(host(m, "security.selinux").unwrap(), "security.selinux");
        assert_eq!(
            list(
                m,
                &[
                    "trusted.host",
                    "user.virtiofs.trusted.x",
                    "user.mime",
                    "security.selinux"
                ]
            ),
            ["trusted.x", "user.mime", "security.selinux"]
        );
    }
}

#[test]
fn example_3_hide_security() {
    let m = map("/bad/all/security./security./\n /ok/all///");
    assert_eq!(host(&m, "security.capability"), Err(libc::EPERM));
    assert_eq!(host(&m, "user.a").unwrap(), "user.a");
    assert_eq!(list(&m, &["security.selinux", "user.a"]), ["user.a"]);
}

#[test]
fn unsupported_is_enotsup_and_hidden() {
    let m = map(":unsupported:all:system.posix_acl:system.posix_acl: :ok:all:::");
    assert_eq!(host(&m, "system.posix_acl_access"), Err(libc::ENOTSUP));
    assert_eq!(
        list(&m, &["system.posix_acl_default", "user.x"]),
        ["user.x"]
    );
}

#[test]
fn no_matching_rule_refuses_and_hides() {
    let m = map(":ok:client:user.::");
    assert_eq!(host(&m, "user.x").unwrap(), "user.x");
    assert_eq!(host(&m, "trusted.x"), Err(libc::EPERM));
    // No rule has the server scope: the host's names are all hidden.
    assert!(list(&m, &["user.x"]).is_empty());
}

#[test]
fn the_default_keeps_security_and_trusted_off_the_host() {
    let m = XattrMap::default();
    assert_eq!(
        host(&m, "security.capability").unwrap(),
        "user.virtiofs.security.capability"
    );
    assert_eq!(
        host(&m, "security.selinux").unwrap(),
        "user.virtiofs.security.selinux"
    );
    assert_eq!(
        host(&m, "trusted.overlay.opaque").unwrap(),
        "user.virtiofs.trusted.overlay.opaque"
    );
    assert_eq!(host(&m, "user.comment").unwrap(), "user.comment");
    assert_eq!(
        host(&m, "system.posix_acl_access").unwrap(),
        "system.posix_acl_access"
    );
    // The guest cannot write the prefixed names itself, whatever follows the prefix.
    assert_eq!(
        host(&m, "user.virtiofs.security.capability"),
        Err(libc::EPERM)
    );
    assert_eq!(host(&m, "user.virtiofs."), Err(libc::EPERM));
    // The prefix boundary: names that only start like the prefix pass.
    assert_eq!(host(&m, "user.virtiofsx").unwrap(), "user.virtiofsx");
    assert_eq!(host(&m, "securityx").unwrap(), "securityx");
    assert_eq!(
        list(
            &m,
            &[
                "security.selinux",
                "trusted.overlay.opaque",
                "user.virtiofs.security.capability",
                "user.virtiofs.",
                "user.comment",
            ]
        ),
        ["security.capability", "user.comment"]
    );
    assert_eq!(
        m.remapped_caps().as_deref(),
        Some(c"user.virtiofs.security.capability")
    );
}

#[test]
fn capabilities_are_remapped_only_where_a_prefix_rule_moves_them() {
    assert_eq!(map(":ok:all:::").remapped_caps(), None);
    assert_eq!(map(":bad:all:security.:: :ok:all:::").remapped_caps(), None);
    assert_eq!(
        map(":map::user.vm.:").remapped_caps().as_deref(),
        Some(c"user.vm.security.capability")
    );
}

#[test]
fn names_longer_than_the_host_allows_are_erange() {
    let m = XattrMap::default();
    let long = format!("security.{}", "a".repeat(240));
    assert_eq!(host(&m, &long), Err(libc::ERANGE));
    let fits = format!("security.{}", "a".repeat(255 - 9 - DEFAULT_PREFIX.len()));
    assert_eq!(host(&m, &fits).unwrap().len(), 255);
}

#[test]
fn malformed_maps_are_refused_with_the_rule_number() {
    assert_eq!("".parse::<XattrMap>(), Err(ParseError::Empty));
    assert_eq!("  \n ".parse::<XattrMap>(), Err(ParseError::Empty));
    assert_eq!(
        ":prefix:client:hi".parse::<XattrMap>(),
        Err(ParseError::Unterminated { rule: 1 })
    );
    assert_eq!(
        ":ok:all::: :map:a:b: :ok:all:::".parse::<XattrMap>(),
        Err(ParseError::MapNotLast { rule: 2 })
    );
    assert!(matches!(
        ":TOMATOPIRATE:all:a:b:".parse::<XattrMap>(),
        Err(ParseError::Type { rule: 1, .. })
    ));
    assert!(matches!(
        ":ok:all::: /prefix/helloworld///".parse::<XattrMap>(),
        Err(ParseError::Scope { rule: 2, .. })
    ));
    assert_eq!(
        ":ok:all:a\0:b:".parse::<XattrMap>(),
        Err(ParseError::Nul { rule: 1 })
    );
    // A separator of the rule's own choosing, and one that is a multi-byte character's byte,
    // parse or fail without a panic.
    assert!(
        ":prefix:all:trusted.:user.vm.: /prefix/all/trusted./user.vm./"
            .parse::<XattrMap>()
            .is_ok()
    );
    let _ = "é".parse::<XattrMap>();
    let _ = "\u{e9}ok\u{e9}all\u{e9}\u{e9}\u{e9}".parse::<XattrMap>();
}

#[test]
fn overlapping_rules_take_the_first_match_once() {
    // The second rule would match the output of the first; mapping is one step, never a loop.
    let m = map(":prefix:all::a.: :prefix:all:a.:a.: :ok:all:::");
    assert_eq!(host(&m, "a.x").unwrap(), "a.a.x");
    assert_eq!(list(&m, &["a.a.x"]), ["a.x"]);
}
