#!/usr/bin/env python3
"""The request counts of a `scripts/perf-matrix.sh --counts` run: OUT/counts.tsv +
OUT/meta.json -> OUT/counts.md, OUT/counts.txt and OUT/counts.json.

    scripts/perf-counts.py OUT

counts.tsv: one line per workload, repetition and FUSE opcode,
"config<TAB>workload<TAB>rep<TAB>opcode<TAB>requests", counted in the guest kernel
(scripts/guest/perf.sh), so every daemon is counted the same way. Each table cell is the
median over repetitions of the requests a workload sent, then the opcodes that make up at
least 5 % of them. For the metadata workloads the total is also given per file. Where the
daemon was run with --stats (ferryd configs), its own time serving each workload, from the
tables it printed at the guest's FERRY-STATS-MARK lines, is added in brackets (median over
repetitions; "service_ms" in counts.json).
"""
import glob
import json
import os
import re
import statistics
import sys

OPCODES = {
    1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 6: "SYMLINK",
    8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK",
    14: "OPEN", 15: "READ", 16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC",
    21: "SETXATTR", 22: "GETXATTR", 23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH",
    26: "INIT", 27: "OPENDIR", 28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR",
    31: "GETLK", 32: "SETLK", 33: "SETLKW", 34: "ACCESS", 35: "CREATE", 36: "INTERRUPT",
    37: "BMAP", 38: "DESTROY", 39: "IOCTL", 40: "POLL", 42: "BATCH_FORGET",
    43: "FALLOCATE", 44: "READDIRPLUS", 45: "RENAME2", 46: "LSEEK",
    47: "COPY_FILE_RANGE", 48: "SETUPMAPPING", 49: "REMOVEMAPPING", 50: "SYNCFS",
    51: "TMPFILE", 52: "STATX",
}


def opname(op):
    try:
        return OPCODES.get(int(op), f"op{op}")
    except ValueError:
        return op


def load(out):
    with open(os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    # counts[config][workload][rep][opname] = requests
    counts = {}
    with open(os.path.join(out, "counts.tsv")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            config, workload, rep, op, n = parts
            try:
                n = int(n)
            except ValueError:
                continue
            reps = counts.setdefault(config, {}).setdefault(workload, {})
            ops = reps.setdefault(rep, {})
            ops[opname(op)] = ops.get(opname(op), 0) + n
    return meta, counts


def stats_tables(log):
    """The --stats tables in a ferryd log, in order: [{opcode: (requests, total ms)}]."""
    tables, cur = [], None
    with open(log, errors="replace") as f:
        for line in f:
            parts = line.split()
            if line.startswith("ferryd request statistics"):
                cur = {}
                tables.append(cur)
            elif cur is not None and parts and parts[0] == "total":
                cur = None
            elif cur is not None and len(parts) == 7 and re.fullmatch(r"[A-Z_0-9]+", parts[0]):
                cur[parts[0]] = (int(parts[1]), float(parts[5]))
    return tables


def service(out, meta):
    """The daemon's own time per workload, from the tables it printed at each
    FERRY-STATS-MARK (configs run with --stats): service[config][workload] = [{"ms": total,
    "ops": {opcode: ms}}, one per repetition]."""
    result = {}
    for c in meta["configs"]:
        slug = re.sub(r"[^A-Za-z0-9=.-]", "_", c["label"])
        for dlog in sorted(glob.glob(os.path.join(out, "logs", f"{slug}.r*.daemon.log"))):
            serial = dlog[: -len("daemon.log")] + "serial.log"
            tables = stats_tables(dlog)
            if not tables or not os.path.exists(serial):
                continue
            with open(serial, errors="replace") as f:
                marks = re.findall(r"FERRY-STATS-MARK (\S+) (\S+) (begin|end)", f.read())
            if len(tables) < len(marks):
                print(f"{dlog}: {len(tables)} statistics tables for {len(marks)} marks; "
                      "its workloads get no service time", file=sys.stderr)
                continue
            begun = {}
            for (w, rep, edge), table in zip(marks, tables):
                if edge == "begin":
                    begun[(w, rep)] = table
                    continue
                before = begun.pop((w, rep), None)
                if before is None:
                    continue
                ops = {op: ms - before.get(op, (0, 0.0))[1] for op, (_, ms) in table.items()}
                ops = {op: ms for op, ms in ops.items() if ms > 0}
                result.setdefault(c["label"], {}).setdefault(w, []).append(
                    {"ms": sum(ops.values()), "ops": ops})
    return result


def summarise(meta, counts):
    """results[workload][config] = {"total": median, "ops": {op: median}, "per_file": ...}"""
    files = {"meta": meta["params"]["files"], "bigmeta": meta["params"]["big_files"]}
    results = {}
    for config, workloads in counts.items():
        for workload, reps in workloads.items():
            names = sorted({op for ops in reps.values() for op in ops})
            ops = {op: statistics.median([r.get(op, 0) for r in reps.values()]) for op in names}
            total = statistics.median([sum(r.values()) for r in reps.values()])
            entry = {"total": total, "ops": ops, "reps": len(reps)}
            n = files.get(workload.split("-")[0])
            if n:
                entry["per_file"] = total / n
            results.setdefault(workload, {})[config] = entry
    return results


def order(meta, results):
    configs = [c["label"] for c in meta["configs"] if c["daemon"] != "none"]
    known = ["seqwrite", "seqread", "randread-qd1", "randread-qd16", "randwrite-fsync"]
    known += [f"{p}-{w}" for p in ("meta", "bigmeta")
              for w in ("create", "list", "find", "tar", "lstat5", "status3", "rm")]
    workloads = [w for w in known if w in results]
    workloads += sorted(w for w in results if w not in known)
    return configs, workloads


def add_service(results, served):
    """Adds each workload's median daemon time ("service_ms") where the daemon gave it."""
    for config, workloads in served.items():
        for w, reps in workloads.items():
            entry = results.get(w, {}).get(config)
            if entry is not None:
                entry["service_ms"] = statistics.median(r["ms"] for r in reps)
                entry["service_reps"] = reps


def cell(entry):
    if entry is None:
        return "-"
    total = entry["total"]
    text = f"{total:,.0f}"
    if "per_file" in entry:
        text += f" ({entry['per_file']:.2f}/file)"
    if "service_ms" in entry:
        text += f" [daemon {entry['service_ms']:,.1f} ms]"
    big = sorted(((n, op) for op, n in entry["ops"].items() if total and n >= 0.05 * total),
                 reverse=True)
    if big:
        text += ": " + ", ".join(f"{op} {n:,.0f}" for n, op in big)
    return text


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    meta, counts = load(out)
    results = summarise(meta, counts)
    add_service(results, service(out, meta))
    configs, workloads = order(meta, results)
    lines = ["| workload | " + " | ".join(configs) + " |",
             "|---" * (len(configs) + 1) + "|"]
    text = []
    for w in workloads:
        cells = [cell(results[w].get(c)) for c in configs]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
        text.append(w)
        text += [f"    {c}: {x}" for c, x in zip(configs, cells)]
    with open(os.path.join(out, "counts.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "counts.txt"), "w") as f:
        f.write("\n".join(text) + "\n")
    with open(os.path.join(out, "counts.json"), "w") as f:
        json.dump({"command": meta.get("command"), "results": results}, f, indent=1)
    print("FUSE requests per workload (guest kernel's count, median over repetitions):")
    print("\n".join(text))


if __name__ == "__main__":
    main()
