//! Results: one [`Sample`] per (workload, daemon, round), medians per (workload, daemon), the
//! A/B ratios, printed as tables or JSON.

use serde_json::{json, Value};

use crate::cli::Workload;
use crate::engine::Tally;

/// One measured run of one workload on one daemon.
#[derive(Debug, Clone)]
pub struct Sample {
    pub workload: Workload,
    pub daemon: usize,
    pub round: u32,
    pub ops: u64,
    pub bytes: u64,
    pub requests: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub cpu_s: f64,
    pub rss_kib: u64,
}

impl Sample {
    pub fn new(
        workload: Workload,
        daemon: usize,
        round: u32,
        t: &Tally,
        secs: f64,
        cpu_s: f64,
        rss_kib: u64,
    ) -> Self {
        let q = |p: f64| t.hist.value_at_quantile(p) as f64 / 1000.0;
        Sample {
            workload,
            daemon,
            round,
            ops: t.ops,
            bytes: t.bytes,
            requests: t.requests,
            secs,
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            cpu_s,
            rss_kib,
        }
    }

    fn json(&self) -> Value {
        json!({
            "workload": self.workload.name(), "daemon": self.daemon, "round": self.round,
            "ops": self.ops, "bytes": self.bytes, "requests": self.requests, "seconds": self.secs,
            "p50_us": self.p50_us, "p99_us": self.p99_us, "p999_us": self.p999_us,
            "daemon_cpu_seconds": self.cpu_s, "daemon_peak_rss_kib": self.rss_kib,
        })
    }
}

/// Medians over the rounds of one workload on one daemon.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub ops_s: f64,
    pub mib_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Daemon CPU seconds per 100,000 ops.
    pub cpu_100k: f64,
    pub rss_mib: f64,
    pub rounds: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The medians of `samples` for `w` on daemon `d`, if any ran.
pub fn summarize(samples: &[Sample], w: Workload, d: usize) -> Option<Summary> {
    let s: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.workload == w && s.daemon == d)
        .collect();
    if s.is_empty() {
        return None;
    }
    let m = |f: &dyn Fn(&Sample) -> f64| median(s.iter().map(|x| f(x)).collect());
    Some(Summary {
        ops_s: m(&|x| x.ops as f64 / x.secs),
        mib_s: m(&|x| x.bytes as f64 / x.secs / (1 << 20) as f64),
        p50_us: m(&|x| x.p50_us),
        p99_us: m(&|x| x.p99_us),
        p999_us: m(&|x| x.p999_us),
        cpu_100k: m(&|x| x.cpu_s / (x.ops.max(1) as f64) * 1e5),
        rss_mib: m(&|x| x.rss_kib as f64 / 1024.0),
        rounds: s.len(),
    })
}

/// A over B for one workload: throughput, and ops per daemon CPU second.
#[derive(Debug, Clone, Copy)]
pub struct Ratio {
    pub ops: f64,
    pub cpu_efficiency: f64,
}

pub fn ratio(a: &Summary, b: &Summary) -> Ratio {
    Ratio {
        ops: a.ops_s / b.ops_s,
        cpu_efficiency: b.cpu_100k / a.cpu_100k,
    }
}

/// What an op is, for the table headings.
pub fn op_unit(w: Workload) -> &'static str {
    match w {
        Workload::Meta => "op = LOOKUP+GETATTR of a file",
        Workload::Create => "op = CREATE+RELEASE+UNLINK, no RELEASE under zero-message opens",
        Workload::Readdirplus => "op = one directory entry; latency per READDIRPLUS",
        Workload::Seqread | Workload::Randread => "op = one READ",
        Workload::Seqwrite | Workload::Randwrite => "op = one WRITE",
        Workload::Devtree => "op = stat of a path: LOOKUP per component + GETATTR",
        Workload::Daxread => "op = SETUPMAPPING of 2 MiB + a copy of them out of the window",
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The tables, one per workload, with the A/B ratio when there are two daemons.
pub fn table(names: &[String], workloads: &[Workload], samples: &[Sample]) -> String {
    let mut o = String::new();
    let w0 = names.iter().map(|n| n.len()).max().unwrap_or(6).max(9);
    for &w in workloads {
        o += &format!("\n{} ({})\n", w.name(), op_unit(w));
        o += &format!(
            "  {:<w0$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14} {:>13}\n",
            "daemon",
            "ops/s",
            "MiB/s",
            "p50 µs",
            "p99 µs",
            "p999 µs",
            "CPU s/100k op",
            "peak RSS MiB"
        );
        let sums: Vec<Option<Summary>> =
            (0..names.len()).map(|d| summarize(samples, w, d)).collect();
        for (d, s) in sums.iter().enumerate() {
            let Some(s) = s else { continue };
            o += &format!(
                "  {:<w0$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14} {:>13}\n",
                names[d],
                fmt(s.ops_s),
                fmt(s.mib_s),
                fmt(s.p50_us),
                fmt(s.p99_us),
                fmt(s.p999_us),
                fmt(s.cpu_100k),
                fmt(s.rss_mib)
            );
        }
        if let [Some(a), Some(b)] = sums.as_slice() {
            let r = ratio(a, b);
            o +=
                &format!(
                "  {}/{}: {:.2}x ops/s, {:.2}x ops per daemon CPU second (medians of {} rounds)\n",
                names[0], names[1], r.ops, r.cpu_efficiency, a.rounds.min(b.rounds)
            );
        }
    }
    o
}

/// Everything as one JSON document.
pub fn json(
    names: &[String],
    commands: &[String],
    settings: Value,
    workloads: &[Workload],
    samples: &[Sample],
) -> Value {
    let mut summary = Vec::new();
    for &w in workloads {
        let sums: Vec<Option<Summary>> =
            (0..names.len()).map(|d| summarize(samples, w, d)).collect();
        let mut per = serde_json::Map::new();
        for (d, s) in sums.iter().enumerate() {
            if let Some(s) = s {
                per.insert(
                    names[d].clone(),
                    json!({
                        "ops_per_s": s.ops_s, "mib_per_s": s.mib_s, "p50_us": s.p50_us,
                        "p99_us": s.p99_us, "p999_us": s.p999_us,
                        "daemon_cpu_s_per_100k_ops": s.cpu_100k, "daemon_peak_rss_mib": s.rss_mib,
                        "rounds": s.rounds,
                    }),
                );
            }
        }
        let mut entry = json!({ "workload": w.name(), "unit": op_unit(w), "medians": per });
        if let [Some(a), Some(b)] = sums.as_slice() {
            let r = ratio(a, b);
            entry["ratio"] =
                json!({ "ops_per_s": r.ops, "ops_per_daemon_cpu_s": r.cpu_efficiency });
        }
        summary.push(entry);
    }
    let daemons: Vec<Value> = names
        .iter()
        .zip(commands)
        .map(|(n, c)| json!({ "name": n, "command": c }))
        .collect();
    json!({
        "daemons": daemons,
        "settings": settings,
        "summary": summary,
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
