//! `ferry bench` end to end: a short run against this build's ferryd (and upstream virtiofsd
//! where installed), its JSON, and the requests each op cost, which say whether the client
//! sends what a Linux guest would.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const OPS: u64 = 300;

/// This build's ferryd, beside `ferry` (a workspace test run builds both).
fn ferryd() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_ferry")).with_file_name("ferryd");
    p.is_file().then_some(p)
}

/// Upstream virtiofsd: `$FERRY_VIRTIOFSD`, else `.work/tools/bin/virtiofsd` of the checkout.
fn virtiofsd() -> Option<PathBuf> {
    let p = std::env::var_os("FERRY_VIRTIOFSD").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.work/tools/bin/virtiofsd"),
        PathBuf::from,
    );
    p.is_file().then_some(p)
}

/// Runs create and meta for `OPS` ops each against `daemon` and returns the JSON report.
fn bench(daemon: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("bench")
        .arg("--dir")
        .arg(dir.path())
        .args(["--workloads", "create,meta", "--files", "100"])
        .args(["--ops", &OPS.to_string(), "--rounds", "1", "--json"])
        .args(["--daemon", daemon])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ferry bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ferry bench --json prints JSON")
}

/// (ops, requests) of `workload`'s one sample.
fn counts(report: &Value, workload: &str) -> (u64, u64) {
    let s = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["workload"] == workload)
        .unwrap_or_else(|| panic!("no {workload} sample in {report}"));
    (s["ops"].as_u64().unwrap(), s["requests"].as_u64().unwrap())
}

#[test]
fn ferryd_creates_cost_two_requests_as_in_a_linux_guest() {
    let Some(bin) = ferryd() else {
        panic!("no ferryd beside ferry: run the workspace's tests (cargo test --workspace)");
    };
    let r = bench(&format!(
        "{} --socket-path {{socket}} --shared-dir {{dir}}",
        bin.display()
    ));
    // Zero-message opens: once the client has opened a file, a create is CREATE + UNLINK.
    assert_eq!(counts(&r, "create"), (OPS, 2 * OPS));
    assert_eq!(counts(&r, "meta"), (OPS, 2 * OPS));
}

#[test]
fn virtiofsd_creates_are_released() {
    let Some(bin) = virtiofsd() else {
        eprintln!("NOTICE: upstream virtiofsd not installed: its ferry bench run is skipped");
        return;
    };
    let r = bench(&format!(
        "{} --socket-path {{socket}} --shared-dir {{dir}} --sandbox none --cache auto",
        bin.display()
    ));
    // virtiofsd answers OPEN with a handle: every created file is RELEASEd.
    assert_eq!(counts(&r, "create"), (OPS, 3 * OPS));
}
