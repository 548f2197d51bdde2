//! Owner mapping between the guest's user and group ids and the host's: virtiofsd's
//! `--uid-map`/`--gid-map` (a user namespace's ranges, which libvirt passes for `<idmap>`) and
//! `--translate-uid`/`--translate-gid` (directional rules), done in the daemon.
//!
//! Applied by the session to each request's credentials and to the owner a SETATTR sets
//! (guest → host), and to every owner in a reply (host → guest). Pure arithmetic, no I/O.
//!
//! - With `--uid-map`, as in a user namespace, an id no range covers has no counterpart: a
//!   host owner outside the map is shown to the guest as the overflow id 65534, and a guest id
//!   outside it never acts on the host (its requests that would change the tree are refused
//!   with EPERM, a chown to it with EINVAL).
//! - With `--translate-*`, as in virtiofsd, an id no rule covers maps to itself; a
//!   `forbid-guest` id never acts on the host, as above.
//! - `u32::MAX` (-1, "no change" to the kernel) is never a result of either direction.

use std::fmt;

/// What an unmapped host owner looks like to the guest (the kernel's overflowuid/gid).
pub const OVERFLOW_ID: u32 = 65534;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `from + k` becomes `base + k`.
    Shift(u32),
    /// Every id of the range becomes this one.
    One(u32),
    /// Refused.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: u32,
    count: u32,
    target: Target,
}

impl Range {
    fn last(&self) -> u32 {
        self.from + (self.count - 1)
    }

    fn get(&self, id: u32) -> Option<Target> {
        if id < self.from || id > self.last() {
            return None;
        }
        Some(match self.target {
            Target::Shift(base) => Target::Shift(base + (id - self.from)),
            t => t,
        })
    }
}

/// One direction's ranges, which never overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table(Vec<Range>);

impl Table {
    fn add(&mut self, r: Range) -> Result<(), String> {
        if r.count == 0 {
            return Err("a count of 0".into());
        }
        let end = u64::from(r.from) + u64::from(r.count) - 1;
        let tend = match r.target {
            Target::Shift(base) => u64::from(base) + u64::from(r.count) - 1,
            Target::One(id) => u64::from(id),
            Target::Fail => 0,
        };
        // -1 is "leave unchanged" to chown and setresuid: never an id to map to or from.
        if end >= u64::from(u32::MAX) || tend >= u64::from(u32::MAX) {
            return Err("a range that reaches 4294967295 (-1)".into());
        }
        if let Some(o) = self
            .0
            .iter()
            .find(|o| r.from <= o.last() && o.from <= end as u32)
        {
            return Err(format!(
                "{}..={} overlaps {}..={} of an earlier rule",
                r.from,
                end,
                o.from,
                o.last()
            ));
        }
        self.0.push(r);
        Ok(())
    }

    fn get(&self, id: u32) -> Option<Target> {
        self.0.iter().find_map(|r| r.get(id))
    }
}

/// How one kind of id (users or groups) maps, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    to_host: Table,
    to_guest: Table,
    /// `--uid-map` semantics: an id no range covers has no counterpart (else: itself).
    strict: bool,
}

impl IdMap {
    /// Whether every id maps to itself.
    pub fn is_identity(&self) -> bool {
        !self.strict && self.to_host.0.is_empty() && self.to_guest.0.is_empty()
    }

    /// The host id the guest's `id` acts as; None where it must not act on the host.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        match self.to_host.get(id) {
            Some(Target::Shift(h) | Target::One(h)) => Some(h),
            Some(Target::Fail) => None,
            None if self.strict || id == u32::MAX => None,
            None => Some(id),
        }
    }

    /// The id the guest sees for the host's `id`.
    pub fn to_guest(&self, id: u32) -> u32 {
        match self.to_guest.get(id) {
            Some(Target::Shift(g) | Target::One(g)) => g,
            Some(Target::Fail) | None if self.strict || id == u32::MAX => OVERFLOW_ID,
            _ => id,
        }
    }

    /// `--uid-map`/`--gid-map` items, `:guest_id:host_id:count:` each (any one non-alphanumeric
    /// separator, first and last).
    pub fn from_userns(items: &[String]) -> Result<IdMap, String> {
        let mut m = IdMap {
            strict: true,
            ..Default::default()
        };
        for item in items {
            let f = fields(item, 3, true).map_err(|e| format!("{item:?}: {e}"))?;
            let (guest, host, count) = (f[0], f[1], f[2]);
            let add = |t: &mut Table, r| t.add(r).map_err(|e| format!("{item:?}: {e}"));
            add(
                &mut m.to_host,
                Range {
                    from: guest,
                    count,
                    target: Target::Shift(host),
                },
            )?;
            add(
                &mut m.to_guest,
                Range {
                    from: host,
                    count,
                    target: Target::Shift(guest),
                },
            )?;
        }
        Ok(m)
    }

    /// `--translate-uid`/`--translate-gid` rules, virtiofsd's forms: `map:GUEST:HOST:COUNT`,
    /// `guest:GUEST:HOST:COUNT` (guest to host only), `host:HOST:GUEST:COUNT` (host to guest
    /// only), `squash-guest:GUEST:HOST:COUNT` (a guest range to one host id),
    /// `squash-host:HOST:GUEST:COUNT` (a host range to one guest id), `forbid-guest:GUEST:COUNT`.
    pub fn from_translate(items: &[String]) -> Result<IdMap, String> {
        let mut m = IdMap::default();
        for item in items {
            m.add_translate(item)
                .map_err(|e| format!("{item:?}: {e}"))?;
        }
        Ok(m)
    }

    fn add_translate(&mut self, item: &str) -> Result<(), String> {
        let kind_len = item
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .ok_or("expected TYPE:FIELDS")?;
        let (kind, rest) = item.split_at(kind_len);
        let n = if kind.eq_ignore_ascii_case("forbid-guest") {
            2
        } else {
            3
        };
        let f = fields(rest, n, false)?;
        let range = |from, count, target| Range {
            from,
            count,
            target,
        };
        match kind.to_ascii_lowercase().as_str() {
            "map" => {
                self.to_host.add(range(f[0], f[2], Target::Shift(f[1])))?;
                self.to_guest.add(range(f[1], f[2], Target::Shift(f[0])))
            }
            "guest" => self.to_host.add(range(f[0], f[2], Target::Shift(f[1]))),
            "host" => self.to_guest.add(range(f[0], f[2], Target::Shift(f[1]))),
            "squash-guest" => self.to_host.add(range(f[0], f[2], Target::One(f[1]))),
            "squash-host" => self.to_guest.add(range(f[0], f[2], Target::One(f[1]))),
            "forbid-guest" => self.to_host.add(range(f[0], f[1], Target::Fail)),
            _ => Err(format!(
                "unknown type {kind:?} (expected map, guest, host, squash-guest, squash-host \
                 or forbid-guest)"
            )),
        }
    }
}

/// `n` numbers separated by the first character of `s` (which also ends `s` when `framed`).
fn fields(s: &str, n: usize, framed: bool) -> Result<Vec<u32>, String> {
    let sep = s.chars().next().ok_or("empty")?;
    if sep.is_ascii_alphanumeric() {
        return Err(format!("{sep:?} cannot separate fields"));
    }
    let mut body = &s[sep.len_utf8()..];
    if framed {
        body = body
            .strip_suffix(sep)
            .ok_or("expected the separator at the end too")?;
    }
    let f: Vec<&str> = body.split(sep).collect();
    if f.len() != n {
        return Err(format!("expected {n} fields, found {}", f.len()));
    }
    f.iter()
        .map(|x| x.parse::<u32>().map_err(|_| format!("{x:?} is not an id")))
        .collect()
}

/// Both maps, as the session applies them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    pub uid: IdMap,
    pub gid: IdMap,
}

impl Ids {
    /// Whether nothing is mapped.
    pub fn is_identity(&self) -> bool {
        self.uid.is_identity() && self.gid.is_identity()
    }

    /// The (uid, gid) the guest sees for a host owner.
    pub fn owner_to_guest(&self, uid: u32, gid: u32) -> (u32, u32) {
        (self.uid.to_guest(uid), self.gid.to_guest(gid))
    }

    /// The host's (uid, gid) for the guest's caller, None where either must not act.
    pub fn caller(&self, uid: u32, gid: u32) -> Option<(u32, u32)> {
        Some((self.uid.to_host(uid)?, self.gid.to_host(gid)?))
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |t: &Table| -> String {
            t.0.iter()
                .map(|r| match r.target {
                    Target::Shift(b) => format!("{}..={} -> {b}..", r.from, r.last()),
                    Target::One(b) => format!("{}..={} -> {b}", r.from, r.last()),
                    Target::Fail => format!("{}..={} refused", r.from, r.last()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "guest to host [{}], host to guest [{}], others {}",
            show(&self.to_host),
            show(&self.to_guest),
            if self.strict { "unmapped" } else { "unchanged" }
        )
    }
}

#[cfg(test)]
mod tests;
