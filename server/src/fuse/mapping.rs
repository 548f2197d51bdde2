//! FUSE_SETUPMAPPING and FUSE_REMOVEMAPPING: the guest's DAX requests. The guest asks for a
//! range of a file to appear at an offset of the device's cache window (a virtio shared memory
//! region, id 0); the daemon has the VMM map it there. Only the wire format and its checks are
//! here: which ranges fit is the window's to say ([`check_range`]).

use vm_memory_fbr::ByteValued;

/// `struct fuse_setupmapping_in`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetupMappingIn {
    /// The guest's handle of the file (0 under zero-message opens: the node's file).
    pub fh: u64,
    /// Offset in the file.
    pub foffset: u64,
    /// Length of the range.
    pub len: u64,
    /// FUSE_SETUPMAPPING_FLAG_*.
    pub flags: u64,
    /// Offset in the cache window.
    pub moffset: u64,
}

// SAFETY: plain integers in a repr(C) struct without padding; any bit pattern is valid.
unsafe impl ByteValued for SetupMappingIn {}

/// `struct fuse_removemapping_in`: how many `fuse_removemapping_one` follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct RemoveMappingIn {
    pub count: u32,
}

// SAFETY: as above.
unsafe impl ByteValued for RemoveMappingIn {}

/// `struct fuse_removemapping_one`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RemoveMappingOne {
    pub moffset: u64,
    pub len: u64,
}

// SAFETY: as above.
unsafe impl ByteValued for RemoveMappingOne {}

/// The mapping may be written through, or read through.
pub use ferry_fuse::mapping::{READ as FLAG_READ, WRITE as FLAG_WRITE};

/// Most ranges one REMOVEMAPPING carries (Linux: a page of `fuse_removemapping_one`).
pub const MAX_REMOVE: usize = 4096 / std::mem::size_of::<RemoveMappingOne>();

/// log2 of the alignment of file and window offsets and lengths, sent in INIT's
/// `map_alignment`: 2 MiB, the size of every range Linux maps (FUSE_DAX_SHIFT, the largest
/// alignment it accepts). Coarser than a page, it also bounds how many mappings a guest can
/// make the VMM hold to the window's size over 2 MiB.
pub const MAP_ALIGNMENT_SHIFT: u16 = 21;
const ALIGN: u64 = 1 << MAP_ALIGNMENT_SHIFT;

/// Checks a range of a window of `window` bytes: not empty, aligned, inside. `foffset` is
/// the file offset for a SETUPMAPPING (none for a REMOVEMAPPING); the file range must fit in
/// an off_t.
pub fn check_range(
    moffset: u64,
    len: u64,
    foffset: Option<u64>,
    window: u64,
) -> Result<(), libc::c_int> {
    let aligned = |v: u64| v.is_multiple_of(ALIGN);
    if len == 0 || !aligned(moffset) || !aligned(len) || !foffset.is_none_or(aligned) {
        return Err(libc::EINVAL);
    }
    if moffset.checked_add(len).is_none_or(|end| end > window) {
        return Err(libc::EINVAL);
    }
    if let Some(f) = foffset {
        if f.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
            return Err(libc::EINVAL);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 8 << 20;

    #[test]
    fn ranges_must_be_aligned_non_empty_and_inside_the_window() {
        assert_eq!(check_range(0, W, Some(0), W), Ok(()));
        assert_eq!(check_range(W - ALIGN, ALIGN, None, W), Ok(()));
        for (m, l, f) in [
            (0, 0, Some(0)),
            (1, ALIGN, Some(0)),
            (0, ALIGN + 1, Some(0)),
            (0, ALIGN, Some(7)),
            (0, 4096, Some(0)),
            (4096, ALIGN, Some(0)),
            (W, ALIGN, Some(0)),
            (W - ALIGN, 2 * ALIGN, None),
            (u64::MAX - ALIGN + 1, ALIGN, None),
            (0, ALIGN, Some(i64::MAX as u64 & !(ALIGN - 1))),
            (0, ALIGN, Some(!(ALIGN - 1))),
        ] {
            assert_eq!(check_range(m, l, f, W), Err(libc::EINVAL), "{m} {l} {f:?}");
        }
        assert_eq!(
            check_range(0, ALIGN, None, 0),
            Err(libc::EINVAL),
            "no window"
        );
    }
}
