"""Unit tests of the perf matrix's report scripts (python3 -m unittest discover scripts/tests)."""
import importlib.util
import json
import os
import tempfile
import unittest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"),
                                                  os.path.join(SCRIPTS, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


counts = module("perf-counts")
bound = module("perf-bound")


def table(rows):
    """A ferryd --stats table: rows of (opcode, requests, total ms)."""
    out = ["ferryd request statistics:",
           "opcode             requests   errors     bytes in    bytes out   total ms   mean us"]
    for op, n, ms in rows:
        out.append(f"{op:<16} {n:>10} {0:>8} {0:>12} {0:>12} {ms:>10.1f} {ms * 1e3 / n:>9.1f}")
    out.append(f"{'total':<16} {sum(r[1] for r in rows):>10} {sum(r[2] for r in rows):>44.1f}")
    return "\n".join(out) + "\n"


class ServiceTimes(unittest.TestCase):
    def write(self, d, name, text):
        with open(os.path.join(d, "logs", name), "w") as f:
            f.write(text)

    def run_service(self, marks, tables):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "logs"))
            self.write(d, "ferryd_--x.r1.serial.log",
                       "".join(f"\r[  1.0] FERRY-STATS-MARK {m}\r\n" for m in marks))
            self.write(d, "ferryd_--x.r1.daemon.log",
                       "[INFO] serving\n" + "".join(table(t) for t in tables))
            meta = {"configs": [{"label": "ferryd --x"}, {"label": "virtiofsd"}]}
            return counts.service(d, meta)

    def test_each_workload_gets_the_time_between_its_marks(self):
        got = self.run_service(
            ["meta-create 1 begin", "meta-create 1 end", "meta-rm 1 begin", "meta-rm 1 end"],
            [[("LOOKUP", 5, 1.0)],
             [("LOOKUP", 9, 3.0), ("CREATE", 4, 8.0)],
             [("LOOKUP", 9, 3.5), ("CREATE", 4, 8.0)],
             [("LOOKUP", 9, 3.5), ("CREATE", 4, 8.0), ("UNLINK", 4, 4.0)],
             # At exit.
             [("LOOKUP", 9, 3.5), ("CREATE", 4, 8.0), ("UNLINK", 4, 4.0)]])
        create = got["ferryd --x"]["meta-create"]
        self.assertEqual(len(create), 1)
        self.assertAlmostEqual(create[0]["ms"], 10.0)
        self.assertEqual(set(create[0]["ops"]), {"LOOKUP", "CREATE"})
        self.assertAlmostEqual(got["ferryd --x"]["meta-rm"][0]["ms"], 4.0)
        self.assertNotIn("virtiofsd", got)

    def test_missing_tables_give_no_time(self):
        got = self.run_service(["meta-create 1 begin", "meta-create 1 end"],
                               [[("LOOKUP", 5, 1.0)]])
        self.assertEqual(got, {})


class Bound(unittest.TestCase):
    def test_units(self):
        params = {"seq_mib": 256, "runtime_s": 5}
        self.assertEqual(bound.per_unit(2.0, "s"), 2.0)
        self.assertEqual(bound.per_unit(4.0, "IOPS"), 0.25)
        self.assertEqual(bound.units_done(2.0, "s", params), 1.0)
        self.assertEqual(bound.units_done(100.0, "MiB/s", params), 256.0)
        self.assertEqual(bound.units_done(100.0, "IOPS", params), 500.0)

    def test_the_floor_is_the_time_without_the_daemon(self):
        with tempfile.TemporaryDirectory() as d:
            timed, counted = os.path.join(d, "t"), os.path.join(d, "c")
            os.mkdir(timed)
            os.mkdir(counted)

            def results(path, ferryd, vfs):
                rows = [{"workload": "meta-rm", "unit": "s", "configs": {
                    "ferryd": {"median": ferryd}, "virtiofsd --cache=auto": {"median": vfs}}}]
                with open(os.path.join(path, "results.json"), "w") as f:
                    json.dump({"results": rows}, f)

            results(timed, 1.0, 1.2)
            results(counted, 1.5, 1.7)
            with open(os.path.join(counted, "counts.json"), "w") as f:
                json.dump({"results": {"meta-rm": {"ferryd": {
                    "total": 6000, "service_ms": 200.0}}}}, f)
            with open(os.path.join(counted, "meta.json"), "w") as f:
                json.dump({"params": {"seq_mib": 256, "runtime_s": 5}}, f)
            rows, summary = bound.compute(timed, counted, "ferryd")
            row = rows[0]
            self.assertAlmostEqual(row["floor"], 0.8)
            self.assertAlmostEqual(row["ratio"], 1.2)
            self.assertAlmostEqual(row["bound"], 1.5)


if __name__ == "__main__":
    unittest.main()


compare = module("perf-compare")


class Compare(unittest.TestCase):
    def test_exact_mann_whitney(self):
        # Completely separated groups of 3 and 3: 2 of the 20 splits are as extreme.
        self.assertAlmostEqual(compare.mann_whitney_p([1, 2, 3], [4, 5, 6]), 0.1)
        self.assertAlmostEqual(compare.mann_whitney_p([1, 2, 3], [1, 2, 3]), 1.0)

    def test_slowdown_follows_the_unit(self):
        self.assertAlmostEqual(compare.slowdown(2.0, 3.0, "s"), 1.5)
        self.assertAlmostEqual(compare.slowdown(300.0, 200.0, "MiB/s"), 1.5)

    def test_pools_the_identical_config(self):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw.tsv")
            with open(raw, "w") as f:
                for cfg, vals in (("a", [1.0, 1.1]), ("a2", [1.2, 1.3]), ("b", [2.0, 2.2])):
                    for i, v in enumerate(vals):
                        f.write(f"{cfg}\tmeta-list\t{i + 1}\t{v}\ts\n")
            with open(os.path.join(d, "meta.json"), "w") as f:
                f.write("{}")
            rows, units = compare.read_raw(d)
            [r] = compare.compare(rows, units, "a", "b", same="a2")
            self.assertAlmostEqual(r["pooled"], 1.15)
            self.assertAlmostEqual(r["slowdown"], 2.1 / 1.15)
            self.assertAlmostEqual(r["aa"], 1.25 / 1.05)
            # b above all four pooled values: 1 split of 15 each way.
            self.assertAlmostEqual(r["p"], 2 / 15)
