//! The data sets, made on the host before any daemon starts: files for the stat storm, a big
//! directory, read and write files, and a node_modules-like tree. Each set is made once per
//! directory and size (a marker file remembers it).

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::cli::{BenchArgs, Workload};

/// Files per devtree package.
pub const PACKAGE_FILES: u64 = 40;

/// The path components (from the shared root) of devtree file `i`: a package directory of
/// 40 files spread over its root, lib/, lib/internal/ and test/.
pub fn tree_path(i: u64) -> Vec<String> {
    let (p, k) = (i / PACKAGE_FILES, i % PACKAGE_FILES);
    let mut v = vec!["tree".into(), "node_modules".into(), format!("pkg{p}")];
    match k % 4 {
        1 => v.push("lib".into()),
        2 => v.extend(["lib".into(), "internal".into()]),
        3 => v.push("test".into()),
        _ => {}
    }
    v.push(if k == 0 {
        "package.json".into()
    } else {
        format!("f{k}.js")
    });
    v
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("prepare {what}: {e}")
}

/// Runs `make` unless the marker for (`what`, `size`) exists, then writes the marker.
fn once(
    dir: &Path,
    what: &str,
    size: u64,
    make: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let marker = dir.join(format!(".ferry-bench-{what}-{size}"));
    if marker.exists() {
        return Ok(());
    }
    make()?;
    fs::write(&marker, b"").map_err(io(what))
}

fn empty_files(d: &Path, prefix: &str, n: u64) -> Result<(), String> {
    fs::create_dir_all(d).map_err(io(prefix))?;
    for i in 0..n {
        fs::File::create(d.join(format!("{prefix}{i}"))).map_err(io(prefix))?;
    }
    Ok(())
}

fn data_file(path: &Path, size: u64) -> Result<(), String> {
    let mut f = fs::File::create(path).map_err(io("data"))?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for b in chunk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(io("data"))?;
        left -= n as u64;
    }
    f.sync_all().map_err(io("data"))
}

/// Prepares what the chosen workloads need under `dir`.
pub fn prepare(dir: &Path, a: &BenchArgs) -> Result<(), String> {
    let w = &a.workloads;
    if w.contains(&Workload::Meta) {
        once(dir, "meta", a.files, || {
            empty_files(&dir.join("meta"), "f", a.files)
        })?;
    }
    if w.contains(&Workload::Create) {
        let d = dir.join("create");
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).map_err(io("create"))?;
    }
    if w.contains(&Workload::Readdirplus) {
        once(dir, "big", a.dir_entries, || {
            empty_files(&dir.join("big"), "e", a.dir_entries)
        })?;
    }
    if w.iter().any(|w| {
        matches!(
            w,
            Workload::Seqread | Workload::Randread | Workload::Daxread
        )
    }) {
        once(dir, "read", a.file_size, || {
            fs::create_dir_all(dir.join("data")).map_err(io("data"))?;
            data_file(&dir.join("data/read.bin"), a.file_size)
        })?;
    }
    if w.iter()
        .any(|w| matches!(w, Workload::Seqwrite | Workload::Randwrite))
    {
        // Written whole, not sparse: otherwise the first run fills holes (allocating blocks)
        // and every later one overwrites, so whoever runs first pays.
        once(dir, "write", a.file_size, || {
            fs::create_dir_all(dir.join("data")).map_err(io("data"))?;
            data_file(&dir.join("data/write.bin"), a.file_size)
        })?;
    }
    if w.contains(&Workload::Devtree) {
        once(dir, "tree", a.tree_files, || {
            for i in 0..a.tree_files {
                let p = tree_path(i);
                let mut path = dir.to_path_buf();
                for c in &p[..p.len() - 1] {
                    path.push(c);
                }
                if i % PACKAGE_FILES < 4 {
                    fs::create_dir_all(&path).map_err(io("tree"))?;
                }
                path.push(&p[p.len() - 1]);
                fs::write(&path, b"module.exports = {};\n").map_err(io("tree"))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Puts the data file of an I/O workload back in the same state before each run: written to
/// disk, dropped from the host's page cache and read back whole. Which daemon ran before, and
/// how (1 MiB writes leave large folios that make every later 4 KiB write into them dearer),
/// then no longer shows in the next run's figures.
pub fn settle(dir: &Path, w: Workload) -> Result<(), String> {
    let name = match w {
        Workload::Seqread | Workload::Randread | Workload::Daxread => "data/read.bin",
        Workload::Seqwrite | Workload::Randwrite => "data/write.bin",
        _ => return Ok(()),
    };
    let mut f = fs::File::open(dir.join(name)).map_err(io("settle"))?;
    f.sync_all().map_err(io("settle"))?;
    // SAFETY: posix_fadvise only takes an fd we own and two lengths; no memory is passed.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r != 0 {
        return Err(format!("settle {name}: posix_fadvise: errno {r}"));
    }
    std::io::copy(&mut f, &mut std::io::sink()).map_err(io("settle"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tree_path;

    #[test]
    fn tree_paths_nest() {
        assert_eq!(
            tree_path(0).join("/"),
            "tree/node_modules/pkg0/package.json"
        );
        assert_eq!(
            tree_path(2).join("/"),
            "tree/node_modules/pkg0/lib/internal/f2.js"
        );
        assert_eq!(tree_path(43).join("/"), "tree/node_modules/pkg1/test/f3.js");
    }
}
