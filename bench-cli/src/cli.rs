//! The command line (clap derive): `ferry bench` and its options.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// ferry: tools around the ferryd vhost-user-fs daemon.
#[derive(Parser, Debug)]
#[command(name = "ferry", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Benchmark vhost-user-fs daemons request by request, without a VM.
    ///
    /// Plays the VMM and the guest's virtio-fs driver (ferry-guest-client) over the daemon's
    /// vhost-user socket and runs FUSE workloads on a directory it prepares. Every workload
    /// gets a fresh daemon; the daemon's CPU time (utime+stime) and peak RSS (VmHWM) are read
    /// from /proc for its whole process tree, so a daemon that forks into a sandbox is counted
    /// whole. Latency is per FUSE request (submission to completion). An "op" is one file
    /// stat (meta, devtree), one file created and removed (create), one directory entry
    /// (readdirplus), or one READ/WRITE request (seq*, rand*).
    ///
    /// Example: ferry bench --compare '.work/tools/bin/virtiofsd --socket-path {socket}
    /// --shared-dir {dir} --sandbox none --cache auto' --rounds 3 --plot cmp.svg
    Bench(Box<BenchArgs>),
}

/// A workload `ferry bench` can run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// LOOKUP + GETATTR of each of --files files in one directory (a stat storm).
    Meta,
    /// CREATE + RELEASE + UNLINK of fresh files in one directory, as a Linux guest sends them
    /// once it has opened a file: without the RELEASE where the daemon chose zero-message opens.
    Create,
    /// READDIRPLUS through a directory of --dir-entries entries (each entry's reference forgotten).
    Readdirplus,
    /// Sequential READs of --request-size through a --file-size file.
    Seqread,
    /// Sequential WRITEs of --request-size through a --file-size file.
    Seqwrite,
    /// 4 KiB READs at random aligned offsets of a --file-size file.
    Randread,
    /// 4 KiB WRITEs at random aligned offsets of a --file-size file.
    Randwrite,
    /// Sequential reads through the DAX cache window: per op, SETUPMAPPING of the next 2 MiB
    /// of the --file-size file into a window slot, then a copy of those 2 MiB out of the
    /// window (no READ). Needs a daemon with a window (`ferryd --dax-window SIZE`); not in the
    /// default set.
    Daxread,
    /// A `git status` over a node_modules-like tree of --tree-files files: LOOKUP of every
    /// path component, then GETATTR, for each file.
    Devtree,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Meta => "meta",
            Workload::Create => "create",
            Workload::Readdirplus => "readdirplus",
            Workload::Seqread => "seqread",
            Workload::Seqwrite => "seqwrite",
            Workload::Randread => "randread",
            Workload::Randwrite => "randwrite",
            Workload::Devtree => "devtree",
            Workload::Daxread => "daxread",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The daemon to measure: a command line run with `sh -c 'exec ...'` after replacing
    /// {socket} (the vhost-user socket path) and {dir} (the shared directory). Default: this
    /// build's ferryd (next to the `ferry` binary, else target/release/ferryd):
    /// `FERRYD --socket-path {socket} --shared-dir {dir}`.
    #[arg(long, value_name = "CMD")]
    pub daemon: Option<String>,

    /// A second daemon command (same placeholders). Every workload then runs against both,
    /// interleaved for --rounds rounds, A then B in the first round, B then A in the second
    /// and so on (neither always runs first), and the ratio A/B is printed.
    #[arg(long, value_name = "CMD")]
    pub compare: Option<String>,

    /// Names shown for --daemon and --compare in tables, JSON and the chart.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub names: Vec<String>,

    /// Workloads to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "meta,create,readdirplus,seqread,seqwrite,randread,randwrite,devtree"
    )]
    pub workloads: Vec<Workload>,

    /// Directory to prepare and share (default: a fresh temporary directory, removed at the
    /// end). Data sets already prepared in it with the same sizes are reused.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Seconds each workload runs (per daemon and round).
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub duration: f64,

    /// Stop each workload after this many ops instead (or at --duration, whichever is first;
    /// for readdirplus, this many full listings).
    #[arg(long, value_name = "N")]
    pub ops: Option<u64>,

    /// Rounds per daemon; medians are reported.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub rounds: u32,

    /// Client threads issuing requests.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    /// Request queues to ask for (the daemon may offer fewer; virtiofsd offers one).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub queues: usize,

    /// Ops in flight per thread (each keeps up to this many request chains submitted).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub depth: usize,

    /// Files of the meta workload.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub files: u64,

    /// Entries of the readdirplus directory.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub dir_entries: u64,

    /// Files of the devtree (spread over packages of 40 files in nested directories).
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub tree_files: u64,

    /// Size of the read and write files (K, M, G suffixes are powers of 1024).
    #[arg(long, default_value = "64M", value_parser = parse_size, value_name = "BYTES")]
    pub file_size: u64,

    /// Request size of seqread and seqwrite (capped at the daemon's max_write).
    #[arg(long, default_value = "1M", value_parser = parse_size, value_name = "BYTES")]
    pub request_size: u64,

    /// Buffer size of each READDIRPLUS request.
    #[arg(long, default_value = "64K", value_parser = parse_size, value_name = "BYTES")]
    pub readdir_size: u64,

    /// Print the results as JSON on stdout instead of tables (no progress bar).
    #[arg(long)]
    pub json: bool,

    /// Draw the comparison (A/B ratios per workload) as an SVG bar chart to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// "4096", "4K", "1M", "1MiB", "2G" (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => return Err(format!("unknown size suffix in {s:?}")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("size out of range: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1X").is_err());
    }
}
