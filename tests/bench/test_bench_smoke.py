# SPDX-License-Identifier: BSD-2-Clause
"""Smoke test of the benchmarks (bench/): the whole pipeline of bench/run.py in its
seconds-long configuration (--tiny), then checks that the JSON it writes has every
section, with numbers. No timing assertions: only that each measured path is the one
meant (verdict reasons, canary shares), and that nothing is left behind (pins, lab
namespaces). Needs root; uses the build in $BPFSPLIT_BUILD (default build/).

    /usr/bin/python3 -m unittest discover -s tests/bench -v
"""

import glob
import json
import numbers
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build")))
RUN_PY = os.path.join(ROOT, "bench", "run.py")

SPLITTERS = ["direct", "bpf-xdp", "bpf-tc", "iptables", "nftables", "haproxy-tcp", "haproxy-http"]
CONTROLS = ["bpf-xdp-1be", "bpf-tc-1be"]
PKT_CASES = ["xdp.syn", "xdp.est", "xdp.pass", "tc.syn", "tc.est", "tc.pass", "tc-egress.reply"]
FLOORS = ["xdp.pass", "xdp.parse", "xdp.lookup", "tc.pass", "tc.parse", "tc.lookup"]


def is_num(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and v == v  # not NaN


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class BenchSmoke(unittest.TestCase):
    result = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("the benchmarks need root (BPF, bpffs, network namespaces)")
        cls.tmp = tempfile.mkdtemp(prefix="bs-bench-smoke-")
        cls.out = os.path.join(cls.tmp, "latest.json")
        cls.proc = subprocess.run(["/usr/bin/python3", RUN_PY, "--tiny", "--out", cls.out, "--no-markdown", BUILD],
                                  cwd=ROOT, capture_output=True, text=True, timeout=900)
        if cls.proc.returncode == 0 and os.path.exists(cls.out):
            with open(cls.out) as f:
                cls.result = json.load(f)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "tmp", None):
            for name in os.listdir(cls.tmp):
                os.unlink(os.path.join(cls.tmp, name))
            os.rmdir(cls.tmp)

    def setUp(self):
        self.assertEqual(self.proc.returncode, 0,
                         f"bench/run.py --tiny failed:\n{self.proc.stdout[-3000:]}\n{self.proc.stderr[-3000:]}")
        self.assertIsNotNone(self.result)

    def assert_nums(self, d, keys, where):
        for k in keys:
            self.assertIn(k, d, f"{where}: no {k}")
            self.assertTrue(is_num(d[k]), f"{where}.{k} is not a number: {d[k]!r}")

    def test_machine_and_conditions(self):
        m = self.result["machine"]
        for k in ("kernel", "cpu_model", "cpus", "git_commit"):
            self.assertTrue(m.get(k), f"machine.{k} missing")
        self.assertTrue(self.result["date"])
        self.assertEqual(self.result["profile"], "tiny")

    def test_per_packet_has_every_case_and_floor(self):
        pp = self.result["per_packet"]
        configs = list(pp["configs"])
        self.assertGreaterEqual(len(configs), 3, "base, larger and filled configurations")
        for cfg in configs:
            for case in PKT_CASES:
                it = pp["items"][f"{cfg}/{case}"]
                self.assert_nums(it, ["call_ns", "call_mean_ns", "wall_ns_per_call", "path_ok", "runs"], f"{cfg}/{case}")
                self.assertEqual(len(it["call_mean_ns_rounds"]), pp["params"]["rounds"])
                # every run took the path it is meant to measure (verdict reasons counted)
                self.assertGreaterEqual(it["path_ok"], 0.99, f"{cfg}/{case} took another path")
                if case in ("xdp.est", "tc.est", "tc-egress.reply", "xdp.pass", "tc.pass"):
                    self.assert_nums(it, ["loop_ns"], f"{cfg}/{case}")
                    self.assertGreaterEqual(it["loop_path_ok"], 0.99, f"{cfg}/{case} loop took another path")
            for case in PKT_CASES:
                self.assertIn(f"{configs[-1]}:spread/{case}", pp["items"])
        for f in FLOORS:
            self.assert_nums(pp["items"][f"floor/{f}"], ["call_mean_ns", "loop_ns"], f"floor/{f}")
        s = self.result["summary"]["per_packet"]
        for row in s["cases"]:
            self.assert_nums(row, ["call_mean_ns", "ratio_parse_call", "ratio_lookup_call",
                                   "extra_over_parse_wall_ns"], f"summary {row['entry']}.{row['case']}")

    def test_scale_ratios(self):
        sc = self.result["summary"]["scale"]
        self.assertEqual(len(sc["cases"]), len(PKT_CASES))
        for row in sc["cases"]:
            self.assert_nums(row, ["ratio_largest_to_smallest", "ratio_largest_config_to_base", "ratio_spread_to_base"],
                             f"scale {row['entry']}.{row['case']}")

    def test_e2e_every_splitter_with_numbers(self):
        runs = self.result["e2e"]["runs"]
        for name in SPLITTERS + CONTROLS:
            self.assertIn(name, runs)
            modes = ["keepalive"] if name in CONTROLS else ["fresh", "keepalive"]
            for mode in modes:
                self.assertTrue(runs[name][mode], f"no {mode} run of {name}")
                for r in runs[name][mode]:
                    self.assert_nums(r, ["rate_per_s", "latency_p50_us", "latency_p99_us", "cpu_us_per_request",
                                         "canary_share"], f"e2e {name} {mode}")
                    self.assertGreater(r["requests"], 0, f"e2e {name} {mode}: no request served")
                    self.assertEqual(r["errors"], 0, f"e2e {name} {mode}: {r['error_detail']}")
            if name == "direct" or name in CONTROLS:
                for mode in modes:
                    for r in runs[name][mode]:
                        self.assertEqual(r["g1_share"], 1.0, f"{name} {mode} reached another backend than g1")
            else:
                for r in runs[name]["fresh"]:
                    # 70/30 over thousands of fresh connections: the canary got about 30%
                    self.assertTrue(0.15 <= r["canary_share"] <= 0.45,
                                    f"{name}: canary share {r['canary_share']:.3f} is not a 70/30 split")
        self.assertFalse(self.result["e2e"]["anomalies"], "checksum errors moved during the e2e runs")

    def test_accuracy(self):
        a = self.result["accuracy"]
        self.assertEqual(sorted(a["weights"], key=int), ["1", "30", "50", "99"])
        for w, v in a["weights"].items():
            self.assert_nums(v, ["configured_pct", "observed_pct", "deviation_pp", "binomial_sd_pp"], f"accuracy {w}")
            self.assertEqual(v["not_forwarded"], 0)
        self.assert_nums(self.result["summary"]["accuracy"], ["worst_deviation_pp"], "accuracy summary")

    def test_control_plane(self):
        cp = self.result["control_plane"]
        self.assert_nums(cp["library_write_path"], ["weight_change_p50_us", "weight_change_p99_us", "bulk_apply_s"],
                         "library write path")
        if not os.path.exists(os.path.join(BUILD, "bpfsplit-agent")):
            self.assertIn("not measured yet", cp["status"])
            return
        self.assertEqual(cp["status"], "measured")
        for key in ("agent_default", "agent_no_status"):
            r = cp[key]
            self.assertEqual(r.get("status"), "measured", r.get("status"))
            self.assert_nums(r, ["sync_s", "rss_mib_at_sync", "rss_peak_mib", "weight_changes"], key)
            self.assertGreater(r["weight_changes_seen"], 0, f"{key}: no weight change reached the maps")

    def test_memory(self):
        mem = self.result["memory"]
        self.assert_nums(mem["per_connection"], ["total_bytes", "bs_conns_bytes", "bs_rnat_bytes"], "memory")
        self.assert_nums(mem["per_frontend"], ["total_bytes", "bs_maglev_bytes", "bs_splits_bytes"], "memory")
        self.assertGreater(mem["per_connection"]["total_bytes"], mem["per_connection"]["key_value_bytes"] - 1)
        for name, m in mem["maps"].items():
            self.assert_nums(m, ["max_entries", "memlock_empty"], f"memory map {name}")
            self.assertGreater(m["memlock_empty"], 0, f"bpftool gave no memlock for {name}")

    def test_open(self):
        op = self.result["open"]
        self.assert_nums(op, ["frontends", "apply_s", "ro_open_ms_p50", "writer_open_ms_p50", "writer_open_ms_max",
                              "ro_read_all_ms_p50"], "open")
        self.assertEqual(op["frontends"], 200)

    def test_targets_table(self):
        t = self.result["summary"]["targets"]
        self.assertGreater(len(t), 10)
        for row in t:
            self.assertIn(row["status"], ("pass", "miss", "not measured"))
            if row["status"] != "not measured":
                self.assertTrue(is_num(row["value"]), row)
        self.assertIn("Targets", self.proc.stdout, "the table is printed at the end")

    def test_nothing_left_behind(self):
        prefix = self.result["pin_prefix"]
        self.assertTrue(prefix.startswith("/sys/fs/bpf/bs-bench-"))
        self.assertEqual(glob.glob(prefix + "*"), [], "pins left under /sys/fs/bpf")
        lab_id = self.result["e2e"]["conditions"]["lab_id"]
        self.assertEqual({n for n in namespaces() if n.startswith("bs") and lab_id in n}, set(),
                         "lab namespaces left")


if __name__ == "__main__":
    unittest.main()
