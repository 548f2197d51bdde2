//! Capabilities: the daemon keeps only what serving a guest needs (virtiofsd's set), adjusted
//! by `--modcaps=+name:-name`.

use std::io;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

/// What a root daemon keeps: ownership, permission overrides for the caller's files, setuid
/// bits, per-thread credentials, device and FIFO nodes, file capabilities.
const DEFAULT: [Capability; 8] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_MKNOD,
    Capability::CAP_SETFCAP,
];

pub use ferry_server::config::CapChange;

/// Parses `--modcaps`: `+name` or `-name` items separated by `:`, names with or without the
/// `cap_` prefix, in any case (`+sys_admin:-mknod`).
pub fn parse_modcaps(s: &str) -> Result<Vec<CapChange>, String> {
    s.split(':')
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (add, name) = match item.split_at(1) {
                ("+", n) => (true, n),
                ("-", n) => (false, n),
                _ => return Err(format!("{item:?}: expected +name or -name")),
            };
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            let cap =
                Capability::from_str(&full).map_err(|_| format!("unknown capability {name:?}"))?;
            Ok(CapChange {
                add,
                cap: cap.to_string(),
            })
        })
        .collect()
}

/// The capabilities the daemon keeps under `changes`.
pub fn wanted(changes: &[CapChange]) -> CapsHashSet {
    let mut keep: CapsHashSet = DEFAULT.into_iter().collect();
    for c in changes {
        // Names were checked when the command line was read.
        let Ok(cap) = Capability::from_str(&c.cap) else {
            log::warn!("--modcaps: unknown capability {:?} ignored", c.cap);
            continue;
        };
        if c.add {
            keep.insert(cap);
        } else {
            keep.remove(&cap);
        }
    }
    keep
}

/// Reduces the permitted and effective sets to `changes` applied to the default set (only those
/// the process has: an unprivileged daemon keeps its empty set). Inheritable and ambient sets
/// are cleared, so nothing the daemon might execute inherits anything.
pub fn drop_to(changes: &[CapChange]) -> io::Result<CapsHashSet> {
    let to_io = |e: caps::errors::CapsError| io::Error::other(e.to_string());
    let have = caps::read(None, CapSet::Permitted).map_err(to_io)?;
    let keep: CapsHashSet = wanted(changes).intersection(&have).copied().collect();
    caps::clear(None, CapSet::Ambient).map_err(to_io)?;
    caps::clear(None, CapSet::Inheritable).map_err(to_io)?;
    caps::set(None, CapSet::Effective, &keep).map_err(to_io)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(to_io)?;
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modcaps_spellings() {
        let c = parse_modcaps("+sys_admin:-MKNOD:+cap_dac_read_search").unwrap();
        assert_eq!(c.len(), 3);
        let k = wanted(&c);
        assert!(k.contains(&Capability::CAP_SYS_ADMIN));
        assert!(k.contains(&Capability::CAP_DAC_READ_SEARCH));
        assert!(!k.contains(&Capability::CAP_MKNOD));
        assert!(k.contains(&Capability::CAP_CHOWN));
        assert!(parse_modcaps("sys_admin").is_err());
        assert!(parse_modcaps("+no_such_cap").is_err());
        assert!(parse_modcaps("").unwrap().is_empty());
    }
}
