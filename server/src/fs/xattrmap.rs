//! Extended attribute name mapping: virtiofsd's `--xattrmap` rules, and the map ferryd applies
//! by default under `--xattr`.
//!
//! A map is a list of rules `:type:scope:key:prepend:` (the first character of each rule is
//! its separator). A name from the guest (GETXATTR, SETXATTR, REMOVEXATTR) is tested against
//! each rule with the `client` scope in order, by `key` as a prefix; a name from the host
//! (LISTXATTR) against each rule with the `server` scope, by `prepend` as a prefix. The first
//! match decides:
//!
//! | type | guest name | host name |
//! |---|---|---|
//! | `prefix` | `prepend` + name | `prepend` stripped |
//! | `ok` | unchanged | unchanged |
//! | `bad` | EPERM | hidden |
//! | `unsupported` | ENOTSUP | hidden |
//!
//! A name no rule matches is refused (EPERM) or hidden. `:map:key:prepend:`, allowed once as
//! the last rule, stands for the rules that prefix `key` names with `prepend`, hide host names
//! under `key` that are not prefixed, keep the guest from reaching `prepend` names directly
//! and let the rest through (or, with an empty key, prefix everything and hide the rest).
//!
//! Pure name arithmetic: no I/O, so every backend can use it.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fmt;
use std::str::FromStr;

/// Where the daemon keeps the guest's `security.*` and `trusted.*` attributes by default.
pub const DEFAULT_PREFIX: &str = "user.virtiofs.";

/// The map `--xattr` applies without `--xattrmap`: the guest's `security.*` and `trusted.*`
/// names are kept under [`DEFAULT_PREFIX`] on the host, so nothing a guest sets (file
/// capabilities, SELinux labels, overlayfs' trusted attributes) can grant privilege there;
/// the host's own `security.*` and `trusted.*` are hidden from the guest, and the guest cannot
/// reach the prefixed names directly (an unprivileged guest user could otherwise forge a
/// capability through `user.*`). Everything else passes unchanged.
pub const DEFAULT_RULES: &str = ":prefix:all:security.:user.virtiofs.: \
     :prefix:all:trusted.:user.virtiofs.: \
     :bad:server::security.: \
     :bad:server::trusted.: \
     :bad:client:user.virtiofs.:: \
     :ok:all:::";

/// The attribute that holds file capabilities.
const CAPS: &[u8] = b"security.capability";

/// XATTR_NAME_MAX: no attribute name is longer.
const NAME_MAX: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prefix,
    Ok,
    Bad,
    Unsupported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    kind: Kind,
    client: bool,
    server: bool,
    key: Vec<u8>,
    prepend: Vec<u8>,
}

impl Rule {
    fn new(kind: Kind, scope: (bool, bool), key: &[u8], prepend: &[u8]) -> Rule {
        Rule {
            kind,
            client: scope.0,
            server: scope.1,
            key: key.to_vec(),
            prepend: prepend.to_vec(),
        }
    }
}

const ALL: (bool, bool) = (true, true);
const CLIENT: (bool, bool) = (true, false);
const SERVER: (bool, bool) = (false, true);

/// A parsed set of mapping rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrMap {
    rules: Vec<Rule>,
}

/// Why a mapping did not parse; `rule` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no rules")]
    Empty,
    #[error("rule {rule}: not terminated by its separator")]
    Unterminated { rule: usize },
    #[error("rule {rule}: unknown type {got:?} (expected prefix, ok, bad, unsupported or map)")]
    Type { rule: usize, got: String },
    #[error("rule {rule}: unknown scope {got:?} (expected all, client or server)")]
    Scope { rule: usize, got: String },
    #[error("rule {rule}: a map rule must be the only map rule and the last rule")]
    MapNotLast { rule: usize },
    #[error("rule {rule}: a name contains a NUL byte")]
    Nul { rule: usize },
}

impl FromStr for XattrMap {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut rules = Vec::new();
        let mut rest = s.trim_start().as_bytes();
        let mut n = 0;
        while let Some((&sep, body)) = rest.split_first() {
            n += 1;
            let mut fields = Vec::with_capacity(4);
            let mut tail = body;
            let want = |ty: &[u8]| if ty == b"map" { 3 } else { 4 };
            while fields.len() < fields.first().map_or(4, |t: &&[u8]| want(t)) {
                let end = tail
                    .iter()
                    .position(|&b| b == sep)
                    .ok_or(ParseError::Unterminated { rule: n })?;
                fields.push(&tail[..end]);
                tail = &tail[end + 1..];
            }
            if fields.iter().any(|f| f.contains(&0)) {
                return Err(ParseError::Nul { rule: n });
            }
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let kind = match fields[0] {
                b"prefix" => Some(Kind::Prefix),
                b"ok" => Some(Kind::Ok),
                b"bad" => Some(Kind::Bad),
                b"unsupported" => Some(Kind::Unsupported),
                b"map" => None,
                t => {
                    return Err(ParseError::Type {
                        rule: n,
                        got: text(t),
                    })
                }
            };
            rest = trim_start(tail);
            match kind {
                Some(kind) => {
                    let scope = match fields[1] {
                        b"all" => ALL,
                        b"client" => CLIENT,
                        b"server" => SERVER,
                        t => {
                            return Err(ParseError::Scope {
                                rule: n,
                                got: text(t),
                            })
                        }
                    };
                    rules.push(Rule::new(kind, scope, fields[2], fields[3]));
                }
                None => {
                    if !rest.is_empty() {
                        return Err(ParseError::MapNotLast { rule: n });
                    }
                    expand_map(&mut rules, fields[1], fields[2]);
                }
            }
        }
        if rules.is_empty() {
            return Err(ParseError::Empty);
        }
        Ok(XattrMap { rules })
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[skip..]
}

/// The rules `:map:key:prepend:` stands for (virtiofsd's expansion).
fn expand_map(rules: &mut Vec<Rule>, key: &[u8], prepend: &[u8]) {
    rules.push(Rule::new(Kind::Prefix, ALL, key, prepend));
    if key.is_empty() {
        rules.push(Rule::new(Kind::Bad, ALL, b"", b""));
    } else {
        rules.push(Rule::new(Kind::Bad, SERVER, b"", key));
        rules.push(Rule::new(Kind::Bad, CLIENT, prepend, b""));
        rules.push(Rule::new(Kind::Ok, ALL, b"", b""));
    }
}

impl Default for XattrMap {
    fn default() -> Self {
        DEFAULT_RULES.parse().expect("the default map parses")
    }
}

impl fmt::Display for XattrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            let kind = match r.kind {
                Kind::Prefix => "prefix",
                Kind::Ok => "ok",
                Kind::Bad => "bad",
                Kind::Unsupported => "unsupported",
            };
            let scope = match (r.client, r.server) {
                (true, true) => "all",
                (true, false) => "client",
                _ => "server",
            };
            let key = String::from_utf8_lossy(&r.key);
            let prepend = String::from_utf8_lossy(&r.prepend);
            write!(f, ":{kind}:{scope}:{key}:{prepend}:")?;
        }
        Ok(())
    }
}

impl XattrMap {
    /// The host name for the guest's `name`, or the errno that refuses it.
    pub fn to_host<'a>(&self, name: &'a CStr) -> Result<Cow<'a, CStr>, i32> {
        let b = name.to_bytes();
        let Some(r) = self
            .rules
            .iter()
            .find(|r| r.client && b.starts_with(&r.key))
        else {
            return Err(libc::EPERM);
        };
        match r.kind {
            Kind::Ok => Ok(Cow::Borrowed(name)),
            Kind::Bad => Err(libc::EPERM),
            Kind::Unsupported => Err(libc::ENOTSUP),
            Kind::Prefix => {
                if r.prepend.len() + b.len() > NAME_MAX {
                    return Err(libc::ERANGE);
                }
                let mut v = Vec::with_capacity(r.prepend.len() + b.len());
                v.extend_from_slice(&r.prepend);
                v.extend_from_slice(b);
                // Neither part holds a NUL: the parser and CStr rule it out.
                Ok(Cow::Owned(CString::new(v).map_err(|_| libc::EINVAL)?))
            }
        }
    }

    /// The name the guest sees for the host's `name`, or None where it is hidden.
    pub fn to_guest<'a>(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        let r = self
            .rules
            .iter()
            .find(|r| r.server && name.starts_with(&r.prepend))?;
        match r.kind {
            Kind::Ok => Some(name),
            Kind::Bad | Kind::Unsupported => None,
            Kind::Prefix => Some(&name[r.prepend.len()..]).filter(|n| !n.is_empty()),
        }
    }

    /// A host LISTXATTR reply (NUL-terminated names) as the guest sees it.
    pub fn list_to_guest(&self, host: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(host.len());
        for name in host.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            if let Some(g) = self.to_guest(name) {
                out.extend_from_slice(g);
                out.push(0);
            }
        }
        out
    }

    /// Where the guest's `security.capability` lives on the host when that is under another
    /// name: the host kernel then no longer drops it on write, truncate and chown, so the
    /// daemon must (CVE-2021-20263). None where the name passes unchanged or is refused.
    pub fn remapped_caps(&self) -> Option<CString> {
        let caps = c"security.capability";
        debug_assert_eq!(caps.to_bytes(), CAPS);
        match self.to_host(caps).ok()? {
            Cow::Owned(n) => Some(n),
            Cow::Borrowed(_) => None,
        }
    }

    /// Whether the guest's `name` is its file capabilities.
    pub fn is_caps(name: &CStr) -> bool {
        name.to_bytes() == CAPS
    }
}

#[cfg(test)]
mod tests;
