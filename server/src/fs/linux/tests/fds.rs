//! Nodes past the fd budget: the clock closes idle nodes' fds and a request reopens them by
//! name or by file handle, checked to be the same inode.

use super::*;
use crate::config::FileHandles;

fn fs_with(dir: &std::path::Path, cap: usize, handles: FileHandles) -> LinuxFs {
    let fs = LinuxFs::new(
        dir,
        Options {
            max_guest_fds: Some(cap),
            file_handles: handles,
            ..opts()
        },
    )
    .unwrap();
    fs.init(FsOptions::empty()).unwrap();
    fs
}

const BOTH: [FileHandles; 2] = [FileHandles::Never, FileHandles::Mandatory];

fn close_all(fs: &LinuxFs) {
    // Two passes: the first takes every node's second chance.
    fs.inodes.evict(usize::MAX);
    fs.inodes.evict(usize::MAX);
    assert_eq!(fs.inodes.open_fds(), 1, "only the root keeps its fd");
}

#[test]
fn a_deep_tree_is_reopened_from_the_nearest_open_ancestor() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let fs = fs_with(dir.path(), 8, mode);
        let ctx = Context::default();
        let mut parent = ROOT_ID;
        let mut nodes = Vec::new();
        for depth in 0..40 {
            let name = c(&format!("d{depth}"));
            parent = fs.mkdir(&ctx, parent, &name, 0o755, 0).unwrap().inode;
            nodes.push(parent);
            assert!(fs.budget.used() <= 8, "{mode:?}");
        }
        let (f, _, _, _) = fs
            .create(
                &ctx,
                parent,
                &c("leaf"),
                CreateIn {
                    flags: libc::O_RDWR as u32,
                    mode: libc::S_IFREG | 0o644,
                    umask: 0,
                    fuse_flags: 0,
                },
            )
            .unwrap();
        close_all(&fs);
        assert_eq!(
            fs.getattr(&ctx, f.inode, None).unwrap().0.st_ino,
            f.attr.st_ino
        );
        for &n in nodes.iter().rev() {
            let st = fs.getattr(&ctx, n, None).unwrap().0;
            assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR, "{mode:?}");
        }
        assert!(fs.budget.used() <= 8);
    }
}

#[test]
fn a_listing_of_more_entries_than_fds_gives_every_entry_a_node() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..300 {
            std::fs::write(dir.path().join(format!("f{i:03}")), b"x").unwrap();
        }
        let fs = fs_with(dir.path(), 16, mode);
        let ctx = Context::default();
        let (fh, _) = fs.opendir(&ctx, ROOT_ID, 0).unwrap();
        let mut listed = Vec::new();
        let mut off = 0;
        loop {
            let mut page = Vec::new();
            fs.readdirplus(&ctx, ROOT_ID, fh.unwrap(), 4096, off, &mut |d, e| {
                page.push((d.offset, e.inode));
                Ok(1)
            })
            .unwrap();
            let Some(&(last, _)) = page.last() else {
                break;
            };
            off = last;
            listed.extend(page.into_iter().map(|(_, n)| n));
        }
        assert_eq!(listed.len(), 300, "{mode:?}");
        assert!(
            listed.iter().all(|&n| n != 0),
            "{mode:?}: a name without its node"
        );
        for &n in &listed {
            assert_eq!(fs.getattr(&ctx, n, None).unwrap().0.st_size, 1);
        }
        assert!(fs.budget.used() <= 16);
    }
}

#[test]
fn a_node_the_guest_renamed_is_found_under_its_new_name() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("a/f"), b"one").unwrap();
        std::fs::write(dir.path().join("b/g"), b"two").unwrap();
        let fs = fs_with(dir.path(), 8, mode);
        let ctx = Context::default();
        let a = fs.lookup(&ctx, ROOT_ID, &c("a")).unwrap().inode;
        let b = fs.lookup(&ctx, ROOT_ID, &c("b")).unwrap().inode;
        let f = fs.lookup(&ctx, a, &c("f")).unwrap().inode;
        let g = fs.lookup(&ctx, b, &c("g")).unwrap().inode;
        fs.rename(&ctx, a, &c("f"), b, &c("h"), 0).unwrap();
        // Swapped, and `a/f` then replaced (the old `g` is gone from every name).
        fs.rename(&ctx, b, &c("h"), b, &c("g"), libc::RENAME_EXCHANGE)
            .unwrap();
        close_all(&fs);
        assert_eq!(fs.getattr(&ctx, f, None).unwrap().0.st_size, 3, "{mode:?}");
        assert_eq!(fs.getattr(&ctx, g, None).unwrap().0.st_size, 3, "{mode:?}");
    }
}

#[test]
fn files_the_guest_removed_keep_their_fd() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"data").unwrap();
        std::fs::write(dir.path().join("g"), b"gone").unwrap();
        std::fs::write(dir.path().join("new"), b"new!!").unwrap();
        let fs = fs_with(dir.path(), 8, mode);
        let ctx = Context::default();
        let f = fs.lookup(&ctx, ROOT_ID, &c("f")).unwrap().inode;
        let g = fs.lookup(&ctx, ROOT_ID, &c("g")).unwrap().inode;
        fs.unlink(&ctx, ROOT_ID, &c("f")).unwrap();
        // RENAME over a name removes what was there.
        fs.rename(&ctx, ROOT_ID, &c("new"), ROOT_ID, &c("g"), 0)
            .unwrap();
        fs.inodes.evict(usize::MAX);
        fs.inodes.evict(usize::MAX);
        let st = fs.getattr(&ctx, f, None).unwrap().0;
        assert_eq!((st.st_nlink, st.st_size), (0, 4), "{mode:?}");
        let st = fs.getattr(&ctx, g, None).unwrap().0;
        assert_eq!((st.st_nlink, st.st_size), (0, 4), "{mode:?}");
    }
}

#[test]
fn a_file_the_host_replaced_is_stale_never_another_file() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let fs = fs_with(dir.path(), 8, mode);
        let ctx = Context::default();
        let old = fs.lookup(&ctx, ROOT_ID, &c("f")).unwrap();
        close_all(&fs);
        // The host removes the file and makes another under the name, which may well get the
        // same inode number.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"new file").unwrap();
        let r = fs.getattr(&ctx, old.inode, None);
        assert_eq!(errno(r), libc::ESTALE, "{mode:?}");
        let new = fs.lookup(&ctx, ROOT_ID, &c("f")).unwrap();
        assert_ne!(new.inode, old.inode, "{mode:?}");
        assert_eq!(new.attr.st_size, 8);
    }
}

#[test]
fn a_file_the_host_renamed_is_found_by_handle_and_stale_by_name() {
    for mode in BOTH {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let fs = fs_with(dir.path(), 8, mode);
        let ctx = Context::default();
        let f = fs.lookup(&ctx, ROOT_ID, &c("f")).unwrap().inode;
        close_all(&fs);
        std::fs::rename(dir.path().join("f"), dir.path().join("moved")).unwrap();
        let r = fs.getattr(&ctx, f, None).map(|(st, _)| st.st_size);
        match mode {
            FileHandles::Never => assert_eq!(errno(r), libc::ESTALE),
            _ => assert_eq!(r.unwrap(), 1),
        }
    }
}
