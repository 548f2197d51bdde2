//! `ferry bench`: prepares the directory, then for every workload and round starts each
//! daemon fresh (A, B, A, B...), measures it, and prints the report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_guest_client::fuse::opcode;
use ferry_guest_client::{ClientOptions, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::{BenchArgs, Workload};
use crate::daemon::{self, Spec};
use crate::engine::{self, Budget, Tally};
use crate::report::{self, Sample};
use crate::{plot, prepare, procfs, workloads};

fn specs(a: &BenchArgs) -> Result<Vec<Spec>, String> {
    let name = |i: usize| a.names.get(i).map(String::as_str);
    let mut v = vec![match &a.daemon {
        Some(t) => Spec::from_template(t, name(0))?,
        None => {
            let mut s = Spec::default_ferryd()?;
            if let Some(n) = name(0) {
                s.name = n.into();
            }
            s
        }
    }];
    if let Some(t) = &a.compare {
        let mut b = Spec::from_template(t, name(1))?;
        if b.name == v[0].name {
            b.name += "-B";
        }
        v.push(b);
    }
    Ok(v)
}

fn client_options(a: &BenchArgs) -> ClientOptions {
    let inflight = (a.threads * a.depth).max(1) as u64;
    let per = a.request_size.max(a.readdir_size).max(4096) * 2 + (64 << 10);
    let mem = (128u64 << 20).max((inflight * per + (32 << 20)).next_power_of_two());
    let qsize = (2 * inflight).next_power_of_two().clamp(256, 32768);
    ClientOptions {
        device: Options {
            mem_size: mem,
            queue_size: u16::try_from(qsize).unwrap_or(32768),
            request_queues: a.queues.max(1),
            ..Options::default()
        },
        // As a Linux guest mounted with -o dax: a daemon with a cache window maps 2 MiB
        // ranges (daxread); the others ignore the flag.
        init_flags: opcode::init::LINUX_6_12 | opcode::init::MAP_ALIGNMENT,
        ..ClientOptions::default()
    }
}

fn bar(hidden: bool, a: &BenchArgs, label: String) -> ProgressBar {
    let ms = (a.duration * 1000.0) as u64;
    let pb = ProgressBar::new(ms.max(1));
    if hidden {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{prefix:>28} [{bar:30}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(label);
    pb
}

struct Ctx<'a> {
    a: &'a BenchArgs,
    dir: &'a Path,
    sockdir: &'a Path,
    hidden: bool,
}

/// One workload, one daemon, one round.
fn measure(cx: &Ctx, spec: &Spec, d: usize, w: Workload, round: u32) -> Result<Sample, String> {
    let a = cx.a;
    let socket = cx.sockdir.join(format!("d{d}.sock"));
    let log = cx.sockdir.join(format!("d{d}.log"));
    prepare::settle(cx.dir, w)?;
    let run = daemon::start(spec, &socket, cx.dir, &log, client_options(a))?;
    let tag = format!("{d}-{round}-{}", std::process::id());
    let ready =
        workloads::setup(&run.client, w, a, &tag).map_err(|e| format!("{}: {e}", spec.name))?;
    let pid = run.daemon.pid();
    let pb = bar(
        cx.hidden,
        a,
        format!("{} {} {}/{}", w.name(), spec.name, round + 1, a.rounds),
    );
    let budget = Budget::new(a.ops, Duration::from_secs_f64(a.duration));
    let progress = AtomicU64::new(0);
    let cpu0 = procfs::cpu_seconds(pid);
    let t0 = Instant::now();
    let results: Vec<Result<Tally, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..a.threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    engine::worker(&run.client, ready.ops.as_ref(), &budget, a.depth, &progress)
                })
            })
            .collect();
        while !hs.iter().all(|h| h.is_finished()) {
            let el = t0.elapsed();
            pb.set_position(el.as_millis() as u64);
            let ops = progress.load(Ordering::Relaxed);
            pb.set_message(format!(
                "{ops} ops, {:.0} ops/s",
                ops as f64 / el.as_secs_f64().max(1e-3)
            ));
            std::thread::sleep(Duration::from_millis(100));
        }
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(pid) - cpu0;
    let rss = procfs::peak_rss_kib(pid);
    pb.finish_and_clear();
    let mut total = Tally::new();
    for r in results {
        total.merge(
            &r.map_err(|e| format!("{} {}: {e}{}", spec.name, w.name(), daemon::log_tail(&log)))?,
        );
    }
    ready
        .finish(&run.client)
        .map_err(|e| format!("{}: {e}", spec.name))?;
    run.stop();
    Ok(Sample::new(w, d, round, &total, secs, cpu, rss))
}

/// The daemons' order in round `round` (from 0): as given in even rounds, reversed in odd ones,
/// so that with two daemons neither always runs first (A B, B A, A B...).
fn round_order(daemons: usize, round: u32) -> Vec<usize> {
    let mut v: Vec<usize> = (0..daemons).collect();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

/// `ferry bench`.
pub fn bench(a: BenchArgs) -> Result<(), String> {
    if a.rounds == 0 || a.threads == 0 || a.depth == 0 || a.duration <= 0.0 {
        return Err("--rounds, --threads, --depth and --duration must be positive".into());
    }
    let specs = specs(&a)?;
    let hidden = a.json || !std::io::stdout().is_terminal();
    let tmp = tempfile::Builder::new()
        .prefix("ferry-bench-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let dir: PathBuf = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            d.canonicalize()
                .map_err(|e| format!("{}: {e}", d.display()))?
        }
        None => {
            let d = tmp.path().join("share");
            std::fs::create_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            d
        }
    };
    let sockdir = tmp.path().join("sockets");
    std::fs::create_dir(&sockdir).map_err(|e| format!("{}: {e}", sockdir.display()))?;
    if !a.json {
        eprintln!("ferry bench: preparing {}", dir.display());
    }
    prepare::prepare(&dir, &a)?;
    if let Some(dev) = procfs::unjournaled_ext4(&dir) {
        eprintln!(
            "ferry bench: note: {} is on ext4 without a journal ({dev}): ext4 then skips \
             recently deleted inodes when allocating, so create figures fall as runs go on and \
             depend on the order; a journaled filesystem (or tmpfs) compares daemons better",
            dir.display()
        );
    }
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    if !a.json {
        for s in &specs {
            println!("{}: {}", s.name, s.template);
        }
        println!(
            "{} s per run, {} round(s), {} thread(s) x depth {}, {} request queue(s) asked; dir {}",
            a.duration,
            a.rounds,
            a.threads,
            a.depth,
            a.queues,
            dir.display()
        );
    }
    let cx = Ctx {
        a: &a,
        dir: &dir,
        sockdir: &sockdir,
        hidden,
    };
    let mut samples = Vec::new();
    let mut workloads: Vec<Workload> = Vec::new();
    for &w in &a.workloads {
        if !workloads.contains(&w) {
            workloads.push(w);
        }
    }
    for &w in &workloads {
        for round in 0..a.rounds {
            for d in round_order(specs.len(), round) {
                samples.push(measure(&cx, &specs[d], d, w, round)?);
            }
        }
        if !a.json {
            print!("{}", report::table(&names, &[w], &samples));
        }
    }
    if a.json {
        let settings = json!({
            "duration_s": a.duration, "ops": a.ops, "rounds": a.rounds, "threads": a.threads,
            "depth": a.depth, "queues": a.queues, "files": a.files, "dir_entries": a.dir_entries,
            "tree_files": a.tree_files, "file_size": a.file_size, "request_size": a.request_size,
            "readdir_size": a.readdir_size, "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        });
        let commands: Vec<String> = specs.iter().map(|s| s.template.clone()).collect();
        let doc = report::json(&names, &commands, settings, &workloads, &samples);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
        );
    }
    if let Some(p) = &a.plot {
        let caption = format!(
            "ferry bench: {} vs {} (medians of {} rounds; higher is better for {})",
            names[0],
            names.get(1).map(String::as_str).unwrap_or("?"),
            a.rounds,
            names[0]
        );
        plot::plot(p, &names, &workloads, &samples, &caption)?;
        if !a.json {
            println!("chart: {}", p.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::round_order;

    #[test]
    fn daemons_take_turns_to_run_first() {
        assert_eq!(round_order(2, 0), [0, 1]);
        assert_eq!(round_order(2, 1), [1, 0]);
        assert_eq!(round_order(2, 2), [0, 1]);
        assert_eq!(round_order(1, 1), [0]);
    }
}
