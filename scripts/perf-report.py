#!/usr/bin/env python3
"""Summarise a scripts/perf-matrix.sh run: OUT/raw.tsv + OUT/meta.json ->
OUT/results.json, OUT/table.txt, OUT/table.md and OUT/chart.svg (+ chart.png).

    scripts/perf-report.py OUT [--no-chart]

raw.tsv: one line per figure, "config<TAB>workload<TAB>rep<TAB>value<TAB>unit" (rep: the
round, or round.rep, the figure came from).
Units MiB/s and IOPS are higher-is-better, s is lower-is-better. The slowdown
xN of a config is how many times slower than the "volume" config it is on that
workload (volume / value for rates, value / volume for times): x1.0 is as fast
as the guest's own disk, x2.0 twice as slow, x0.5 twice as fast.
"""
import json
import math
import os
import statistics
import sys

WORKLOADS = [
    ("seqwrite", "sequential write, 1 MiB"),
    ("seqread", "sequential read, 1 MiB, cold"),
    ("randread-qd1", "random read 4 KiB, psync qd1, direct"),
    ("randread-qd16", "random read 4 KiB, libaio qd16, direct"),
    ("randwrite-fsync", "random write 4 KiB + fsync"),
    ("meta-create", "create files"),
    ("meta-list", "list names, cold"),
    ("meta-find", "find, cold"),
    ("meta-tar", "tar read-all"),
    ("meta-lstat5", "lstat every entry x5, warm"),
    ("meta-status3", "readdir + lstat every entry x3, warm (git status-like)"),
    ("meta-rm", "rm -rf"),
    ("bigmeta-create", "create files"),
    ("bigmeta-list", "list names, cold"),
    ("bigmeta-find", "find, cold"),
    ("bigmeta-tar", "tar read-all"),
    ("bigmeta-lstat5", "lstat every entry x5, warm"),
    ("bigmeta-status3", "readdir + lstat every entry x3, warm (git status-like)"),
    ("bigmeta-rm", "rm -rf"),
]
HIGHER_IS_BETTER = {"MiB/s", "IOPS"}
# The metadata phases, whose geometric mean is the target (the name-only listing is
# reported beside them, not in the mean).
GEOMEAN_PHASES = {"meta-create", "meta-find", "meta-tar", "meta-lstat5", "meta-rm"}
BASELINE = "volume"


def load(out):
    with open(os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    raw = {}
    units = {}
    keyed = {}
    path = os.path.join(out, "raw.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 5:
                    continue
                config, workload, rep, value, unit = parts
                try:
                    v = float(value)
                except ValueError:
                    continue
                raw.setdefault(config, {}).setdefault(workload, []).append(v)
                keyed.setdefault(config, {}).setdefault(workload, {})[rep] = v
                units[workload] = unit
    return meta, raw, units, keyed


def describe(workload, meta):
    p = meta["params"]
    for name, text in WORKLOADS:
        if name == workload:
            if name.startswith("seq"):
                return f"{text}, {p['seq_mib']} MiB"
            if name.startswith("rand"):
                return f"{text}, {p['rand_mib']} MiB file, {p['runtime_s']} s"
            if name.startswith("meta-"):
                return f"{text}, {p['files']} files"
            if name.startswith("bigmeta-"):
                return f"{text}, {p['big_files']} files"
            return text
    return workload


def runs(p):
    """How the figures of one workload were taken."""
    rounds = p.get("rounds", 1)
    if rounds == 1:
        return f"{p['reps']} reps in one boot per config"
    return f"{rounds} boots per config in turns x {p['reps']} rep(s)"


def big_runs(p):
    """How many boots per config ran the big series (the first --big-rounds rounds)."""
    n = min(p.get("big_rounds", 1), p.get("rounds", 1))
    return "1 run" if n == 1 else f"{n} boots per config"


def slowdown(value, base, unit):
    if value is None or base is None or value <= 0 or base <= 0:
        return None
    return base / value if unit in HIGHER_IS_BETTER else value / base


def paired(keyed, c, vfs, w, unit):
    """c against the better of the configs vfs, round by round: the ratio (x faster) in
    every round (or round.rep) where all of them have a figure for w."""
    mine = keyed.get(c, {}).get(w, {})
    theirs = [keyed.get(v, {}).get(w, {}) for v in vfs]
    ratios = []
    for k in sorted(mine, key=lambda k: [float(x) for x in k.split(".")]):
        others = [t[k] for t in theirs if k in t]
        if len(others) != len(theirs) or not others:
            continue
        best = max(others) if unit in HIGHER_IS_BETTER else min(others)
        s = slowdown(mine[k], best, unit)
        if s:
            ratios.append(1 / s)
    return ratios


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def summarise(meta, raw, units, keyed):
    configs = [c["label"] for c in meta["configs"]]
    present = [w for w, _ in WORKLOADS if any(w in raw.get(c, {}) for c in configs)]
    present += sorted({w for c in raw.values() for w in c} - set(present))
    results = []
    for w in present:
        unit = units.get(w, "")
        row = {"workload": w, "description": describe(w, meta), "unit": unit,
               "higher_is_better": unit in HIGHER_IS_BETTER, "configs": {}}
        base = raw.get(BASELINE, {}).get(w)
        base_med = statistics.median(base) if base else None
        for c in configs:
            vals = raw.get(c, {}).get(w)
            if not vals:
                continue
            med = statistics.median(vals)
            row["configs"][c] = {
                "values": vals, "median": med, "min": min(vals), "max": max(vals),
                "slowdown_vs_volume": slowdown(med, base_med, unit),
            }
        # Each non-virtiofsd daemon config against the better of the virtiofsd configs.
        vfs = [row["configs"][c]["median"] for c in configs
               if c.startswith("virtiofsd") and c in row["configs"]]
        if vfs:
            best = max(vfs) if unit in HIGHER_IS_BETTER else min(vfs)
            names = [c for c in configs if c.startswith("virtiofsd") and c in row["configs"]]
            for c in configs:
                if c.startswith("ferryd") and c in row["configs"]:
                    s = slowdown(row["configs"][c]["median"], best, unit)
                    row["configs"][c]["speedup_vs_best_virtiofsd"] = 1 / s if s else None
                    # On a host whose speed drifts between boots, the boots of one round,
                    # taken back to back, compare better than medians over all rounds.
                    ratios = paired(keyed, c, names, w, unit)
                    if ratios:
                        row["configs"][c]["paired_vs_best_virtiofsd"] = {
                            "median": statistics.median(ratios), "ratios": ratios}
        results.append(row)
    return configs, results


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(r, spread=True):
    if r is None:
        return "-"
    s = fmt(r["median"])
    if spread and len(r["values"]) > 1:
        s += f" [{fmt(r['min'])}-{fmt(r['max'])}]"
    x = r.get("slowdown_vs_volume")
    if x is not None:
        s += f" x{x:.2f}"
    return s


def header_lines(meta):
    m = meta["machine"]
    p = meta["params"]
    return [
        f"command: {meta['command']}",
        f"date: {meta['date']}, ferry {meta['commit']}; ferryd {meta.get('ferryd', '?')}; "
        f"{meta['machine']['virtiofsd']}",
        f"machine: {m['cpu']}, {m['host_cpus']} host CPUs, host kernel {m['host_kernel']}, "
        f"accelerator {m['accel']} ({m['accel_args']}), {m['qemu']}",
        f"guest: {m['guest_kernel']}, {m['guest_cpus']} vCPUs, {m['guest_mem']}; "
        f"volume: {m['volume']}; daemons' shares: {m.get('shares', 'a host directory')}",
        f"sizes: seq {p['seq_mib']} MiB, random {p['rand_mib']} MiB x {p['runtime_s']} s, "
        f"{p['files']} files of {p['file_size']} B in {p['dirs']} dirs, big series "
        f"{p['big_files']} files ({big_runs(p)}), {runs(p)} (median [min-max])",
        "xN: times slower than the volume (the guest's own virtio-blk ext4 disk); "
        "MiB/s and IOPS higher is better, s lower is better",
    ]


def text_table(meta, configs, results):
    head = ["workload", "unit"] + configs
    rows = [[r["workload"], r["unit"]] + [cell(r["configs"].get(c)) for c in configs]
            for r in results]
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    lines = header_lines(meta) + [""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(x.ljust(w) for x, w in zip(row, widths)))
    vs = speedup_lines(configs, results)
    if vs:
        lines += [""] + vs
    status = [f"{c['label']}: {c['status']}" for c in meta["configs"]]
    lines += ["", "runs: " + "; ".join(status)]
    return "\n".join(lines) + "\n"


def speedup_lines(configs, results):
    lines = []
    for c in configs:
        if not c.startswith("ferryd"):
            continue
        for key, what in (("speedup_vs_best_virtiofsd", "medians"),
                          ("paired_vs_best_virtiofsd", "the median of each round's ratio")):
            parts, meta = [], []
            for r in results:
                v = r["configs"].get(c, {}).get(key)
                if isinstance(v, dict):
                    v = v["median"]
                if v is not None:
                    parts.append(f"{r['workload']} {v:.2f}")
                    if r["workload"] in GEOMEAN_PHASES:
                        meta.append(v)
            if parts:
                g = geomean(meta)
                tail = f"; meta phases geometric mean {g:.2f}" if g else ""
                lines.append(f"{c} vs the better virtiofsd (x faster, {what}): "
                             + ", ".join(parts) + tail)
    return lines


def md_table(meta, configs, results):
    lines = ["| workload | unit | " + " | ".join(configs) + " |",
             "|---|---|" + "---|" * len(configs)]
    for r in results:
        cells = [cell(r["configs"].get(c)).replace(" x", " ×") for c in configs]
        lines.append(f"| {r['workload']} ({r['description']}) | {r['unit']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(out, meta, configs, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "ferry"
    plt.rcParams["font.size"] = 9
    others = [c for c in configs if c != BASELINE]
    rows = [r for r in results if any(
        r["configs"].get(c, {}).get("slowdown_vs_volume") is not None for c in others)]
    if not rows or not others:
        print("chart: nothing to plot (no volume baseline?)", file=sys.stderr)
        return
    m = meta["machine"]
    p = meta["params"]
    # One panel for data I/O, one for the metadata series.
    panels = [
        ("data I/O (fio)", [r for r in rows if not r["workload"].startswith(("meta-", "bigmeta-"))]),
        (f"metadata: meta = {p['files']} files x {p['reps'] * p.get('rounds', 1)}, bigmeta = {p['big_files']} files x {min(p.get('big_rounds', 1), p.get('rounds', 1))}",
         [r for r in rows if r["workload"].startswith(("meta-", "bigmeta-"))]),
    ]
    panels = [(t, rs) for t, rs in panels if rs]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.9 * len(panels) + 0.8), squeeze=False)
    n = len(others)
    width = 0.8 / n
    cmap = plt.get_cmap("tab10")
    for (title, prow), ax in zip(panels, axes[:, 0]):
        for i, c in enumerate(others):
            xs, ys, lo, hi = [], [], [], []
            for j, r in enumerate(prow):
                rc = r["configs"].get(c)
                base = r["configs"].get(BASELINE)
                if not rc or rc.get("slowdown_vs_volume") is None:
                    continue
                x = rc["slowdown_vs_volume"]
                a = slowdown(rc["min"], base["median"], r["unit"])
                b = slowdown(rc["max"], base["median"], r["unit"])
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(x)
                lo.append(max(0.0, x - min(a, b)))
                hi.append(max(0.0, max(a, b) - x))
            ax.bar(xs, ys, width, label=c, color=cmap(i), yerr=[lo, hi], capsize=2,
                   error_kw={"elinewidth": 0.8})
            for x, y, h in zip(xs, ys, hi):
                ax.annotate(f"{y:.1f}", (x, y + h), textcoords="offset points", xytext=(0, 2),
                            ha="center", va="bottom", fontsize=6.5, rotation=90)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(min(lo_y, 0.5), hi_y * 1.8)
        lo_y, hi_y = ax.get_ylim()
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128) if lo_y <= t <= hi_y]
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_ylabel("× slower than the volume (log)")
        ax.set_xticks(range(len(prow)))
        ax.set_xticklabels([r["workload"] for r in prow], rotation=20, ha="right")
        ax.set_title(title, fontsize=9.5)
        ax.legend(fontsize=7.5, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"ferry perf matrix, {m['accel']} guest: slowdown against the guest's own "
                 f"virtio-blk ext4 disk (1 = as fast; median of {p['reps'] * p.get('rounds', 1)}, bars min-max)",
                 fontsize=10)
    fig.text(0.01, 0.005, f"{meta['command']}  |  {meta['date']}  |  {m['cpu']}, "
             f"{m['host_cpus']} CPUs, host {m['host_kernel']}, {m['accel']}  |  seq "
             f"{p['seq_mib']} MiB, random {p['rand_mib']} MiB x {p['runtime_s']} s",
             fontsize=6.5, color="#555555")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(os.path.join(out, "chart.svg"), metadata={"Date": None})
    fig.savefig(os.path.join(out, "chart.png"), dpi=110)
    plt.close(fig)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = args[0]
    meta, raw, units, keyed = load(out)
    configs, results = summarise(meta, raw, units, keyed)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "baseline": BASELINE, "results": results}, f, indent=1)
    txt = text_table(meta, configs, results)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(txt)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(md_table(meta, configs, results))
    if "--no-chart" not in sys.argv:
        try:
            chart(out, meta, configs, results)
        except ImportError as e:
            print(f"chart: {e} (install python3-matplotlib)", file=sys.stderr)
    sys.stdout.write(txt)


if __name__ == "__main__":
    main()
