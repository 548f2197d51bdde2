//! The daemon's cost, read from /proc for its whole process tree (a sandboxed ferryd forks
//! and its child serves): CPU time (utime + stime of every process, threads included) and
//! peak RSS (the sum of every process's VmHWM). And one fact about the host filesystem that
//! skews the comparison (whether it is ext4 without a journal).

use std::collections::HashSet;
use std::fs;

/// `pid` and all its descendants, found through /proc/PID/task/*/children.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        if !seen.insert(p) {
            continue;
        }
        out.push(p);
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(s) = fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            todo.extend(s.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    out
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of one process, in ticks (fields 14 and 15 of /proc/PID/stat).
fn ticks(pid: u32) -> u64 {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// CPU seconds used so far by the tree rooted at `pid`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let t: u64 = tree(pid).into_iter().map(ticks).sum();
    t as f64 / clock_ticks()
}

/// Sum of VmHWM (peak resident set) over the tree rooted at `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| {
            let s = fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// The block device of `dir` if it is an ext4 filesystem mounted without a journal (ext4 then
/// skips inodes deleted in the last minutes when it allocates new ones, so a create + unlink
/// loop slows down as it runs, and whoever runs later pays for the deletes of earlier runs).
pub fn unjournaled_ext4(dir: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(dir).ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let uevent = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).ok()?;
    let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
    // /proc/fs/ext4/NAME exists for a mounted ext4; /proc/fs/jbd2/NAME-INO for its journal.
    fs::metadata(format!("/proc/fs/ext4/{name}")).ok()?;
    let prefix = format!("{name}-");
    let journaled = fs::read_dir("/proc/fs/jbd2")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        })
        .unwrap_or(false);
    (!journaled).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measured() {
        let me = std::process::id();
        assert_eq!(tree(me)[0], me);
        assert!(peak_rss_kib(me) > 0);
        let mut x = 0u64;
        let t0 = std::time::Instant::now();
        while t0.elapsed().as_millis() < 50 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0 && cpu_seconds(me) > 0.0);
    }
}
