//! The one name check: every file name a guest sends, over FUSE or 9P, passes through here once.
//!
//! A [`Name`] is a single path component that is safe to hand to an `*at` call relative to a
//! directory fd: non-empty, at most 255 bytes, no `/`, no NUL, and neither `.` nor `..`.
//! The few requests that may legitimately name `.` or `..` (LOOKUP) get a [`LookupName`].

use std::ffi::CStr;

/// Longest file name Linux accepts (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Longest symlink target Linux accepts (PATH_MAX - 1).
pub const SYMLINK_MAX: usize = 4095;
/// Longest extended attribute name Linux accepts (XATTR_NAME_MAX).
pub const XATTR_NAME_MAX: usize = 255;

/// Why a name was refused; the request decides which errno that becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is not NUL-terminated")]
    NoNul,
    #[error("name is empty")]
    Empty,
    #[error("name contains '/'")]
    Slash,
    #[error("name is longer than {NAME_MAX} bytes")]
    TooLong,
    #[error("name is '.'")]
    Dot,
    #[error("name is '..'")]
    DotDot,
}

/// A validated single path component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a>(&'a CStr);

impl<'a> Name<'a> {
    /// Checks a NUL-terminated component (the NUL is part of `c`).
    pub fn new(c: &'a CStr) -> Result<Self, NameError> {
        match c.to_bytes() {
            b"" => Err(NameError::Empty),
            b"." => Err(NameError::Dot),
            b".." => Err(NameError::DotDot),
            b if b.len() > NAME_MAX => Err(NameError::TooLong),
            b if b.contains(&b'/') => Err(NameError::Slash),
            _ => Ok(Name(c)),
        }
    }

    pub fn as_cstr(&self) -> &'a CStr {
        self.0
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.to_bytes()
    }
}

/// The name of a LOOKUP: an ordinary component, or `.`/`..`, which the server resolves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupName<'a> {
    Dot,
    DotDot,
    Name(Name<'a>),
}

impl<'a> LookupName<'a> {
    pub fn new(c: &'a CStr) -> Result<Self, NameError> {
        match Name::new(c) {
            Ok(n) => Ok(LookupName::Name(n)),
            Err(NameError::Dot) => Ok(LookupName::Dot),
            Err(NameError::DotDot) => Ok(LookupName::DotDot),
            Err(e) => Err(e),
        }
    }
}

/// Splits one NUL-terminated string off the front of `buf`: returns it (with its NUL) and the rest.
pub fn split_cstr(buf: &[u8]) -> Result<(&CStr, &[u8]), NameError> {
    let nul = buf.iter().position(|&b| b == 0).ok_or(NameError::NoNul)?;
    let (s, rest) = buf.split_at(nul + 1);
    let c = CStr::from_bytes_with_nul(s).map_err(|_| NameError::NoNul)?;
    Ok((c, rest))
}

/// Checks a symlink target: stored as text, never followed by the server.
pub fn check_symlink_target(c: &CStr) -> Result<(), libc::c_int> {
    match c.to_bytes().len() {
        0 => Err(libc::ENOENT),
        n if n > SYMLINK_MAX => Err(libc::ENAMETOOLONG),
        _ => Ok(()),
    }
}

/// Checks an extended attribute name (any bytes but NUL; the host kernel checks namespaces).
pub fn check_xattr_name(c: &CStr) -> Result<(), libc::c_int> {
    match c.to_bytes().len() {
        0 => Err(libc::EINVAL),
        n if n > XATTR_NAME_MAX => Err(libc::ERANGE),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(b: &[u8]) -> &CStr {
        CStr::from_bytes_with_nul(b).unwrap()
    }

    #[test]
    fn accepts_ordinary_names() {
        assert!(Name::new(c(b"file.txt\0")).is_ok());
        assert!(Name::new(c(b"...\0")).is_ok());
        assert!(Name::new(c(b".hidden\0")).is_ok());
        let long = [b'a'; NAME_MAX];
        let mut v = long.to_vec();
        v.push(0);
        assert!(Name::new(c(&v)).is_ok());
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(Name::new(c(b"\0")), Err(NameError::Empty));
        assert_eq!(Name::new(c(b".\0")), Err(NameError::Dot));
        assert_eq!(Name::new(c(b"..\0")), Err(NameError::DotDot));
        assert_eq!(Name::new(c(b"/etc/passwd\0")), Err(NameError::Slash));
        assert_eq!(Name::new(c(b"a/../../b\0")), Err(NameError::Slash));
        let mut v = vec![b'a'; NAME_MAX + 1];
        v.push(0);
        assert_eq!(Name::new(c(&v)), Err(NameError::TooLong));
    }

    #[test]
    fn lookup_allows_dots() {
        assert_eq!(LookupName::new(c(b"..\0")), Ok(LookupName::DotDot));
        assert_eq!(LookupName::new(c(b".\0")), Ok(LookupName::Dot));
        assert!(LookupName::new(c(b"a/b\0")).is_err());
    }

    #[test]
    fn split_requires_nul() {
        assert_eq!(split_cstr(b"abc"), Err(NameError::NoNul));
        let (s, rest) = split_cstr(b"ab\0cd\0").unwrap();
        assert_eq!(s.to_bytes(), b"ab");
        assert_eq!(rest, b"cd\0");
    }

    #[test]
    fn symlink_targets() {
        assert_eq!(check_symlink_target(c(b"\0")), Err(libc::ENOENT));
        assert!(check_symlink_target(c(b"/etc/shadow\0")).is_ok());
        let mut v = vec![b'a'; SYMLINK_MAX + 1];
        v.push(0);
        assert_eq!(check_symlink_target(c(&v)), Err(libc::ENAMETOOLONG));
    }
}
