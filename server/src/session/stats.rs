//! Per-opcode request statistics: how many requests of each kind, the bytes they moved and the
//! time the daemon spent serving them. Enabled by `ferryd --stats`; printed at exit and on
//! SIGUSR1.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::fuse::opcode;

/// Opcodes are counted up to this value; anything above shares the last slot.
const SLOTS: usize = 64;

#[derive(Default)]
struct Slot {
    count: AtomicU64,
    errors: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    nanos: AtomicU64,
}

/// Counters shared by every queue thread; updates are relaxed atomics.
pub struct Stats {
    slots: [Slot; SLOTS],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            slots: std::array::from_fn(|_| Slot::default()),
        }
    }
}

/// One row of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub opcode: u32,
    pub count: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub time: Duration,
}

impl Stats {
    /// Records one served request.
    pub fn record(&self, op: u32, bytes_in: usize, bytes_out: usize, error: bool, time: Duration) {
        let s = &self.slots[(op as usize).min(SLOTS - 1)];
        s.count.fetch_add(1, Ordering::Relaxed);
        s.errors.fetch_add(u64::from(error), Ordering::Relaxed);
        s.bytes_in.fetch_add(bytes_in as u64, Ordering::Relaxed);
        s.bytes_out.fetch_add(bytes_out as u64, Ordering::Relaxed);
        s.nanos.fetch_add(
            u64::try_from(time.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The opcodes seen so far.
    pub fn snapshot(&self) -> Vec<Row> {
        (0..SLOTS)
            .filter_map(|i| {
                let s = &self.slots[i];
                let count = s.count.load(Ordering::Relaxed);
                (count > 0).then(|| Row {
                    opcode: i as u32,
                    count,
                    errors: s.errors.load(Ordering::Relaxed),
                    bytes_in: s.bytes_in.load(Ordering::Relaxed),
                    bytes_out: s.bytes_out.load(Ordering::Relaxed),
                    time: Duration::from_nanos(s.nanos.load(Ordering::Relaxed)),
                })
            })
            .collect()
    }

    /// A table for humans, one line per opcode plus a total.
    pub fn table(&self) -> String {
        let rows = self.snapshot();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>8} {:>12} {:>12} {:>10} {:>9}",
            "opcode", "requests", "errors", "bytes in", "bytes out", "total ms", "mean us"
        );
        let (mut n, mut t) = (0u64, Duration::ZERO);
        for r in &rows {
            n += r.count;
            t += r.time;
            let mean = r.time.as_secs_f64() * 1e6 / r.count as f64;
            let _ = writeln!(
                out,
                "{:<16} {:>10} {:>8} {:>12} {:>12} {:>10.1} {:>9.1}",
                opcode::name(r.opcode),
                r.count,
                r.errors,
                r.bytes_in,
                r.bytes_out,
                r.time.as_secs_f64() * 1e3,
                mean
            );
        }
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>44.1}",
            "total",
            n,
            t.as_secs_f64() * 1e3
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_opcode() {
        let s = Stats::default();
        s.record(opcode::LOOKUP, 50, 144, false, Duration::from_micros(3));
        s.record(opcode::LOOKUP, 50, 16, true, Duration::from_micros(1));
        s.record(9999, 40, 16, true, Duration::ZERO);
        let rows = s.snapshot();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].opcode, opcode::LOOKUP);
        assert_eq!(
            (rows[0].count, rows[0].errors, rows[0].bytes_out),
            (2, 1, 160)
        );
        assert_eq!(rows[0].time, Duration::from_micros(4));
        assert_eq!(rows[1].opcode, 63);
        assert!(s.table().contains("LOOKUP"));
    }
}
