#!/usr/bin/env python3
"""How far any daemon could go on each workload, given the requests the guest sends: joins a
timed scripts/perf-matrix.sh run with a counting one (--counts) of the same build.

    scripts/perf-bound.py TIMED COUNTS [CONFIG]

For CONFIG (default "ferryd"), COUNTS/counts.json holds the time the daemon itself spent
serving each workload ("service_ms": its --stats tables, taken before and after the
workload). What is left of CONFIG's time in TIMED is what the same requests cost with no
daemon work at all: the guest, QEMU and the vhost-user round trips (the daemon's wake-ups
included, so the bound is a generous one). The best virtiofsd time over that floor is the
highest ratio any daemon could reach while the guest sends those requests.

Times are per unit: a metadata phase's seconds; for the fio rows, seconds per MiB or per
I/O (1 / the rate), the daemon's share taken from the counting run's own rate. Prints a
Markdown table and writes COUNTS/bound.md and COUNTS/bound.json.
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def report_module():
    spec = importlib.util.spec_from_file_location("perf_report",
                                                  os.path.join(HERE, "perf-report.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load(path, name):
    with open(os.path.join(path, name)) as f:
        return json.load(f)


def per_unit(value, unit):
    """Seconds per unit of work: a phase's time, or the inverse of a rate."""
    return value if unit == "s" else 1.0 / value


def units_done(value, unit, params):
    """How many units the counting run did: 1 phase, MiB moved or I/Os."""
    if unit == "s":
        return 1.0
    if unit == "MiB/s":
        return float(params["seq_mib"])
    return value * float(params["runtime_s"])


def compute(timed, counting, config):
    """rows (one per workload CONFIG has a service time for) and their summary."""
    report = report_module()
    results = {r["workload"]: r for r in load(timed, "results.json")["results"]}
    counted = {r["workload"]: r for r in load(counting, "results.json")["results"]}
    counts = load(counting, "counts.json")["results"]
    params = load(counting, "meta.json")["params"]

    rows = []
    for w, r in results.items():
        unit = r["unit"]
        entry = counts.get(w, {}).get(config, {})
        mine = r["configs"].get(config, {}).get("median")
        there = counted.get(w, {}).get("configs", {}).get(config, {}).get("median")
        vfs = [c["median"] for n, c in r["configs"].items() if n.startswith("virtiofsd")]
        if "service_ms" not in entry or not mine or not there or not vfs:
            continue
        service = entry["service_ms"] / 1e3 / units_done(there, unit, params)
        t = per_unit(mine, unit)
        best = min(per_unit(v, unit) for v in vfs)
        floor = t - service
        rows.append({
            "workload": w, "unit": unit, "time": t, "requests": entry["total"],
            "service": service, "service_share": service / t, "floor": floor,
            "best_virtiofsd": best, "ratio": best / t,
            "bound": best / floor if floor > 0 else None,
        })

    phases = [x for x in rows if x["workload"] in report.GEOMEAN_PHASES]
    summary = {
        "ratio_geomean": report.geomean([x["ratio"] for x in phases]),
        "bound_geomean": report.geomean([x["bound"] for x in phases]),
        "phases": sorted(x["workload"] for x in phases),
    }
    return rows, summary


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    timed, counting = sys.argv[1], sys.argv[2]
    config = sys.argv[3] if len(sys.argv) == 4 else "ferryd"
    rows, summary = compute(timed, counting, config)
    per = {"s": "s", "MiB/s": "s/MiB", "IOPS": "s/I/O"}
    lines = [
        f"| workload | per | {config} | requests | daemon | share | floor "
        "| best virtiofsd | ratio | bound |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        bound = f"{x['bound']:.2f}" if x["bound"] else "-"
        lines.append(
            f"| {x['workload']} | {per.get(x['unit'], x['unit'])} | {x['time']:.3g} "
            f"| {x['requests']:,.0f} | {x['service']:.3g} | {x['service_share']:.0%} "
            f"| {x['floor']:.3g} | {x['best_virtiofsd']:.3g} | {x['ratio']:.2f} | {bound} |")
    if summary["bound_geomean"]:
        lines.append("")
        lines.append(
            f"Geometric mean over {', '.join(summary['phases'])}: ratio "
            f"{summary['ratio_geomean']:.2f}, bound {summary['bound_geomean']:.2f}.")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(counting, "bound.md"), "w") as f:
        f.write(text)
    with open(os.path.join(counting, "bound.json"), "w") as f:
        json.dump({"timed": timed, "counts": counting, "config": config,
                   "rows": rows, "summary": summary}, f, indent=1)
    print(text, end="")


if __name__ == "__main__":
    main()
