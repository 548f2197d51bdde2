//! FUSE_STATX (7.39): the guest asks for what stat(2) has no room for (the birth time). Linux
//! sends it when a caller's statx mask goes beyond the basic fields; the reply is the first
//! part of a `struct statx`.

use std::time::Duration;

use vm_memory_fbr::ByteValued;

/// `struct fuse_statx_in`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct StatxIn {
    pub getattr_flags: u32,
    pub reserved: u32,
    pub fh: u64,
    pub sx_flags: u32,
    pub sx_mask: u32,
}

// SAFETY: plain integers in a repr(C) struct without padding; any bit pattern is valid.
unsafe impl ByteValued for StatxIn {}

/// Size of `struct fuse_statx_out`: 32 bytes of header, 256 of `struct fuse_statx`.
pub const STATX_OUT_LEN: usize = 32 + 256;

/// Encodes `struct fuse_statx_out` for `st`, valid for `valid`, with FUSE_ATTR_* `flags`.
pub fn encode_out(st: &libc::statx, valid: Duration, flags: u32) -> [u8; STATX_OUT_LEN] {
    let mut b = [0u8; STATX_OUT_LEN];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        b[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&valid.as_secs().to_le_bytes());
    put(&valid.subsec_nanos().to_le_bytes());
    put(&flags.to_le_bytes());
    put(&[0u8; 16]); // spare
    put(&st.stx_mask.to_le_bytes());
    put(&st.stx_blksize.to_le_bytes());
    put(&st.stx_attributes.to_le_bytes());
    put(&st.stx_nlink.to_le_bytes());
    put(&st.stx_uid.to_le_bytes());
    put(&st.stx_gid.to_le_bytes());
    put(&st.stx_mode.to_le_bytes());
    put(&[0u8; 2]);
    put(&st.stx_ino.to_le_bytes());
    put(&st.stx_size.to_le_bytes());
    put(&st.stx_blocks.to_le_bytes());
    put(&st.stx_attributes_mask.to_le_bytes());
    for t in [&st.stx_atime, &st.stx_btime, &st.stx_ctime, &st.stx_mtime] {
        put(&t.tv_sec.to_le_bytes());
        put(&t.tv_nsec.to_le_bytes());
        put(&[0u8; 4]);
    }
    put(&st.stx_rdev_major.to_le_bytes());
    put(&st.stx_rdev_minor.to_le_bytes());
    put(&st.stx_dev_major.to_le_bytes());
    put(&st.stx_dev_minor.to_le_bytes());
    // The rest is __spare2, already zero.
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<StatxIn>(), 24);
        // SAFETY: statx is plain data; zero is valid for every field.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        st.stx_mask = 0x7ff;
        st.stx_mode = 0o100644;
        st.stx_ino = 42;
        st.stx_btime.tv_sec = 7;
        st.stx_dev_minor = 9;
        let b = encode_out(&st, Duration::new(1, 5), 0);
        assert_eq!(&b[0..8], &1u64.to_le_bytes());
        assert_eq!(&b[8..12], &5u32.to_le_bytes());
        let s = &b[32..];
        assert_eq!(&s[0..4], &0x7ffu32.to_le_bytes());
        assert_eq!(&s[28..30], &0o100644u16.to_le_bytes());
        assert_eq!(&s[32..40], &42u64.to_le_bytes());
        // atime at 64, btime at 80.
        assert_eq!(&s[80..88], &7i64.to_le_bytes());
        assert_eq!(&s[140..144], &9u32.to_le_bytes());
    }
}
