//! Command-line tests: virtiofsd's spellings accepted, unsupported flags refused by name.

use std::ffi::OsStr;

use super::*;

fn parse(argv: &[&str]) -> Result<Config, ArgsError> {
    let mut v = vec!["ferryd"];
    v.extend_from_slice(argv);
    Config::try_from(Args::try_parse_from(v).expect("clap accepts the spelling"))
}

#[test]
fn libvirt_command_lines() {
    let c = parse(&[
        "--fd=3",
        "--shared-dir",
        "/srv",
        "--cache",
        "always",
        "--xattr",
        "--thread-pool-size=4",
    ])
    .unwrap();
    assert_eq!(c.listen, Listen::Fd(3));
    assert_eq!(c.cache, CachePolicy::Always);
    assert!(c.xattr);
    assert_eq!(c.thread_pool_size, 4);
    let c = parse(&[
        "--fd",
        "3",
        "--shared-dir=/srv",
        "--sandbox=none",
        "--rlimit-nofile=4096",
        "--readonly",
    ])
    .unwrap();
    assert_eq!(c.rlimit_nofile, Some(4096));
    assert!(c.readonly);
}

#[test]
fn legacy_o_options() {
    let c = parse(&[
        "--socket-path=/tmp/s",
        "-o",
        "source=/srv,cache=never,xattr,no_readdirplus",
    ])
    .unwrap();
    assert_eq!(c.shared_dir, PathBuf::from("/srv"));
    assert_eq!(c.cache, CachePolicy::Never);
    assert!(c.xattr);
    assert_eq!(c.readdirplus, Readdirplus::Never);
    let e = parse(&["--socket-path=/tmp/s", "-o", "source=/srv,flock"]).unwrap_err();
    assert_eq!(e.to_string(), "-o flock is not supported by ferryd");
}

#[test]
fn readdirplus_modes() {
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    let mode = |extra: &[&str]| parse(&[&base[..], extra].concat()).map(|c| c.readdirplus);
    assert_eq!(mode(&[]).unwrap(), Readdirplus::Always);
    assert_eq!(mode(&["--readdirplus=auto"]).unwrap(), Readdirplus::Auto);
    assert_eq!(mode(&["--readdirplus=never"]).unwrap(), Readdirplus::Never);
    assert_eq!(
        mode(&["--readdirplus=always", "--no-readdirplus"]).unwrap(),
        Readdirplus::Never
    );
    let e = mode(&["--readdirplus=sometimes"]).unwrap_err();
    assert!(e.to_string().contains("--readdirplus"), "{e}");
}

#[test]
fn unsupported_flags_are_named() {
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    for (flag, name) in [
        ("--migration-mode=find-paths", "--migration-mode"),
        ("--syslog", "--syslog"),
        ("--security-label", "--security-label"),
        ("--preserve-noatime", "--preserve-noatime"),
    ] {
        let mut argv = base.to_vec();
        argv.push(flag);
        let e = parse(&argv).unwrap_err().to_string();
        assert_eq!(e, format!("{name} is not supported by ferryd"), "{flag}");
    }
    let mut argv = base.to_vec();
    argv.push("--sandbox=chroot");
    assert_eq!(parse(&argv).unwrap().sandbox, Sandbox::Chroot);
    argv.pop();
    argv.push("--sandbox=namespace");
    assert_eq!(parse(&argv).unwrap().sandbox, Sandbox::Namespace);
}

#[test]
fn seccomp_modcaps_and_locks() {
    use crate::sandbox::seccomp::Mode;
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    let with = |extra: &[&str]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        parse(&v)
    };
    assert_eq!(with(&["--seccomp=kill"]).unwrap().seccomp, Mode::Kill);
    assert_eq!(with(&["--seccomp", "log"]).unwrap().seccomp, Mode::Log);
    assert!(with(&["--seccomp=strict"]).is_err());
    assert_eq!(
        with(&["--modcaps=-mknod:+sys_admin"])
            .unwrap()
            .modcaps
            .len(),
        2
    );
    let e = with(&["--modcaps=mknod"]).unwrap_err().to_string();
    assert!(e.starts_with("--modcaps: "), "{e}");
    assert!(with(&["--locks", "--thread-pool-size=2"]).unwrap().locks);
    assert!(matches!(
        with(&["--locks"]),
        Err(ArgsError::Conflict("--locks", _))
    ));
}

#[test]
fn bad_values_and_missing_flags() {
    assert!(matches!(
        parse(&["--socket-path=/s"]),
        Err(ArgsError::Missing("--shared-dir"))
    ));
    assert!(matches!(
        parse(&["--shared-dir=/s"]),
        Err(ArgsError::Missing(_))
    ));
    assert!(matches!(
        parse(&["--shared-dir=/s", "--socket-path=/s", "--cache=sometimes"]),
        Err(ArgsError::Invalid {
            flag: "--cache",
            ..
        })
    ));
    assert!(matches!(
        parse(&["--shared-dir=/s", "--socket-path=/s", "--fd=3"]),
        Err(ArgsError::Conflict(..))
    ));
}

#[test]
fn capabilities_are_json_libvirt_reads() {
    let v: serde_json::Value = serde_json::from_str(CAPABILITIES).unwrap();
    assert_eq!(v["type"], "fs");
    assert!(v["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "separate-options"));
}

#[test]
fn confinement_defaults_follow_virtiofsd() {
    let c = parse(&["--socket-path=/tmp/s", "--shared-dir=/srv"]).unwrap();
    assert_eq!(c.seccomp, crate::sandbox::seccomp::Mode::Kill);
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let want = if root {
        Sandbox::Namespace
    } else {
        Sandbox::None
    };
    assert_eq!(c.sandbox, want);
    let c = parse(&[
        "--socket-path=/tmp/s",
        "--shared-dir=/srv",
        "-o",
        "sandbox=chroot",
    ])
    .unwrap();
    assert_eq!(c.sandbox, Sandbox::Chroot);
}

#[test]
fn dax_window_sizes() {
    let base = ["--fd=3", "--shared-dir=/srv"];
    let window = |v: &str| {
        let flag = format!("--dax-window={v}");
        let mut a = base.to_vec();
        a.push(&flag);
        parse(&a).map(|c| c.dax_window)
    };
    assert_eq!(parse(&base).unwrap().dax_window, None);
    assert_eq!(window("8M").unwrap(), Some(8 << 20));
    assert_eq!(window("1GiB").unwrap(), Some(1 << 30));
    assert_eq!(window("1T").unwrap(), Some(1 << 40));
    for bad in ["0", "3M", "4097K", "2T", "lots", "-2M"] {
        assert!(window(bad).is_err(), "{bad}");
    }
}

#[test]
fn xattrmap_implies_xattr_and_killpriv_v2_is_on_by_default() {
    use ferry_server::fs::xattrmap::XattrMap;
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    let c = with(&[]).unwrap();
    assert!(!c.xattr && c.xattrmap.is_none() && c.killpriv_v2);
    assert!(!with(&["--no-killpriv-v2"]).unwrap().killpriv_v2);
    assert!(
        with(&["--no-killpriv-v2", "--killpriv-v2"])
            .unwrap()
            .killpriv_v2
    );
    assert!(!with(&["-o", "no_killpriv_v2"]).unwrap().killpriv_v2);
    let c = with(&["--xattrmap=:map::user.virtiofs.:"]).unwrap();
    assert!(c.xattr);
    assert_eq!(
        c.xattrmap,
        Some(":map::user.virtiofs.:".parse::<XattrMap>().unwrap())
    );
    let c = with(&["-o", "xattrmap=/ok/all///"]).unwrap();
    assert!(c.xattr && c.xattrmap.is_some());
    let e = with(&["--xattrmap=:prefix:all:x"]).unwrap_err().to_string();
    assert_eq!(e, "--xattrmap: rule 1: not terminated by its separator");
}

#[test]
fn id_maps_as_libvirt_and_virtiofsd_spell_them() {
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    let c = with(&["--uid-map=:0:100000:65536:", "--gid-map=:0:100000:65536:"]).unwrap();
    assert_eq!(c.ids.caller(0, 0), Some((100000, 100000)));
    assert_eq!(c.ids.caller(65536, 0), None);
    let c = with(&[
        "--translate-uid=map:1000:2000:1",
        "--translate-gid",
        "squash-guest:0:5:10",
    ])
    .unwrap();
    assert_eq!(c.ids.caller(1000, 3), Some((2000, 5)));
    assert!(with(&[]).unwrap().ids.is_identity());
    let e = with(&["--uid-map=:0:1:1:", "--translate-uid=map:0:1:1"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--uid-map and --translate-uid cannot be used together"
    );
    let e = with(&["--gid-map=:0:1:0:"]).unwrap_err().to_string();
    assert!(e.starts_with("--gid-map: "), "{e}");
    let e = with(&["--translate-gid=map:0:1:1", "--translate-gid=map:0:5:1"]).unwrap_err();
    assert!(e.to_string().contains("overlaps"), "{e}");
}

#[test]
fn posix_acl_modes_imply_xattr_and_refuse_id_maps() {
    let base = ["--socket-path=/tmp/s", "--shared-dir=/srv"];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    let c = with(&["--posix-acl"]).unwrap();
    assert!(c.posix_acl && c.xattr);
    assert!(with(&["--posix-acl=always"]).unwrap().posix_acl);
    assert!(!with(&["--posix-acl=never"]).unwrap().posix_acl);
    assert!(!with(&[]).unwrap().posix_acl);
    assert!(with(&["--posix-acl=sometimes"]).is_err());
    let e = with(&["--posix-acl", "--uid-map=:0:100000:10:"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--posix-acl and --uid-map/--gid-map cannot be used together"
    );
    assert!(with(&["--posix-acl", "--translate-gid=map:0:1:1"]).is_err());
}

#[test]
fn the_librarys_defaults_are_the_command_lines() {
    let dir = std::path::Path::new("/some/dir");
    let parsed = Config::try_from(Args::parse_from([
        OsStr::new("ferryd"),
        OsStr::new("--fd=-1"),
        OsStr::new("--shared-dir"),
        dir.as_os_str(),
    ]))
    .unwrap();
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Config::defaults_for(dir))
    );
}
