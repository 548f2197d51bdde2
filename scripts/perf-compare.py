#!/usr/bin/env python3
"""Is config B slower than config A in one scripts/perf-matrix.sh run, beyond the run's noise?

    scripts/perf-compare.py OUT A B [--same A2]

OUT is a perf-matrix output directory (its raw.tsv: config, workload, round, value, unit).
For each workload: A's and B's medians, B's slowdown against A (>1: B slower, whichever way
the unit runs), and the two-sided Mann-Whitney p-value of B's figures against A's (exact,
by enumeration: the matrix boots each config a handful of times). --same A2 names a second
config that runs exactly what A runs (e.g. `ferryd:--agent-timeout=30` beside `ferryd`:
the option does nothing without an agent): A and A2 are then pooled as A, and the A/A
column shows how far two identical configs drift apart in the same run, the yardstick for
B's slowdown.
"""

import argparse
import collections
import importlib.util
import itertools
import os
import statistics
import sys

HIGHER_IS_BETTER = {"MiB/s", "IOPS"}


def read_raw(out):
    """{workload: {config: [values]}} and {workload: unit} from a run's directory (read by
    perf-report.py's loader)."""
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("perf_report", os.path.join(here, "perf-report.py"))
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    _meta, raw, units, _keyed = report.load(out)
    rows = collections.defaultdict(dict)
    for config, works in raw.items():
        for work, values in works.items():
            rows[work][config] = values
    return rows, units


def mann_whitney_p(a, b):
    """Exact two-sided p-value of the Mann-Whitney U statistic of a against b (ties count
    half), over every split of the pooled values into groups of len(a) and len(b)."""
    if not a or not b:
        return float("nan")

    def u(x, y):
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)

    pooled = a + b
    mean = len(a) * len(b) / 2
    seen = abs(u(a, b) - mean)
    hits = total = 0
    for pick in itertools.combinations(range(len(pooled)), len(a)):
        chosen = set(pick)
        x = [pooled[i] for i in pick]
        y = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        total += 1
        if abs(u(x, y) - mean) >= seen - 1e-9:
            hits += 1
    return hits / total


def slowdown(base, other, unit):
    """How much slower `other` is than `base` (medians): >1 slower, <1 faster."""
    if unit in HIGHER_IS_BETTER:
        return base / other
    return other / base


def compare(rows, units, a, b, same=None):
    """One dict per workload that both configs ran."""
    out = []
    for work, by in rows.items():
        if a not in by or b not in by:
            continue
        unit = units[work]
        base = list(by[a])
        row = {"workload": work, "unit": unit, "a": statistics.median(by[a])}
        if same and same in by:
            row["a2"] = statistics.median(by[same])
            row["aa"] = slowdown(row["a"], row["a2"], unit)
            row["p_aa"] = mann_whitney_p(by[same], by[a])
            base += by[same]
        row["pooled"] = statistics.median(base)
        row["b"] = statistics.median(by[b])
        row["slowdown"] = slowdown(row["pooled"], row["b"], unit)
        row["p"] = mann_whitney_p(by[b], base)
        out.append(row)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--same", help="a config that runs exactly what A runs (pooled with A)")
    args = ap.parse_args(argv)
    rows, units = read_raw(args.out)
    table = compare(rows, units, args.a, args.b, args.same)
    if not table:
        print(f"no workload ran under both {args.a!r} and {args.b!r}", file=sys.stderr)
        return 1
    print(f"A = {args.a}" + (f", A2 = {args.same} (pooled with A)" if args.same else "")
          + f"; B = {args.b}; slower by: median against median (>1 slower), p: Mann-Whitney")
    if args.same:
        print("| workload | unit | A | A2 | A2 slower by | p A2/A | A and A2 | B | B slower by | p |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    else:
        print("| workload | unit | A | B | B slower by | p |")
        print("|---|---|---|---|---|---|")
    for r in table:
        mid = ""
        if args.same:
            mid = (f" {r['a2']:.4g} | {r['aa']:.3f} | {r['p_aa']:.3f} | {r['pooled']:.4g} |"
                   if "aa" in r else " - | - | - | - |")
        print(f"| {r['workload']} | {r['unit']} | {r['a']:.4g} |{mid} {r['b']:.4g} "
              f"| {r['slowdown']:.3f} | {r['p']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
