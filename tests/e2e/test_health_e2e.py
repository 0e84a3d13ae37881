# SPDX-License-Identifier: BSD-2-Clause
"""Canary health end to end: bpfsplit-agent follows a rollout replayed against the test
API server, a real Prometheus (Debian's `prometheus`) scrapes the agent's /metrics, and
the Argo player measures the shipped AnalysisTemplate (deploy/analysis) through
Prometheus's HTTP API after every setWeight step, with the template's own thresholds.

- A healthy canary passes every step and is promoted.
- A canary whose pods reset every connection from a client port that is a multiple of 4
  fails the analysis at setWeight=30: the player aborts and the maps go back to 100%
  stable. The test chooses every source port, so it knows which connections reach the
  canary (shared flow hash) and which of those are reset: the agent's counters must
  show exactly that many connections, failures, backend resets and resets before any
  reply byte for the canary group, and none for the stable one.
- `promtool check metrics` accepts the whole /metrics page (with per-backend series).
- The PrometheusRule loads into that Prometheus (its rule file) and its alerts carry the
  AnalysisTemplate's thresholds."""

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import BUILD, DataPath, FRONTEND4, Lab, ROOT, expected_colours, predict_groups, source_ports

sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "argo"))
import analysis  # noqa: E402
import fake_apiserver as fa  # noqa: E402
from argo_player import ArgoPlayer, STEPS  # noqa: E402

AGENT = os.path.join(BUILD, "bpfsplit-agent")
N = int(os.environ.get("BPFSPLIT_HEALTH_FRESH", "400"))
RESET_MOD = 4
ARGS = {"namespace": "default", "rollout": "rollouts-demo"}


def wait_for(fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {labels}, value)] of a Prometheus text page."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(_LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return out


class HealthE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bs-health-e2e-")
        cls.lab = Lab(n_green=3, n_orange=3, ipv6=True)
        cls.lab.up()
        cls.agent = cls.srv = cls.prom = None
        try:
            cls.lab.start_backends()
            cls.dp = DataPath(cls.lab, "tc-ingress")
            cls.dp.attach_node()
            cls.srv = fa.FakeApiServer(os.path.join(cls.tmp, "api"), token="health-token", bookmark_interval=0.5,
                                       rbac=os.path.join(ROOT, "deploy", "rbac.yaml"))
            cls.srv.start()
            cls.kubeconfig = cls.srv.write_kubeconfig(os.path.join(cls.tmp, "kubeconfig"))
            cls.player = ArgoPlayer(cls.srv, {"green": cls.lab.green, "orange": cls.lab.orange})
            cls.player.apply_seed()
            cls.metrics_port = analysis.free_port()
            cls.log_file = open(os.path.join(cls.tmp, "agent.log"), "w")
            cls.agent = subprocess.Popen(
                [AGENT, "--kubeconfig", cls.kubeconfig, "--pin-root", cls.dp.pin_root, "--gateway-class",
                 "agentgateway", "--metrics-addr", f"127.0.0.1:{cls.metrics_port}", "--metrics-per-backend"],
                stdout=cls.log_file, stderr=subprocess.STDOUT)
            wait_for(lambda: cls.weights() == (100, 0), what="the agent's first sync")
            cls.prom = analysis.Prometheus([f"127.0.0.1:{cls.metrics_port}"], workdir=os.path.join(cls.tmp, "prom"))
            cls.template = analysis.load_template()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prom:
            cls.prom.close()
        if cls.agent and cls.agent.poll() is None:
            cls.agent.send_signal(signal.SIGTERM)
            cls.agent.wait(10)
        if getattr(cls, "log_file", None):
            cls.log_file.close()
        if cls.srv:
            cls.srv.stop()
        if getattr(cls, "dp", None):
            cls.dp.close()
        cls.lab.close()
        subprocess.run(["rm", "-rf", cls.tmp])

    @classmethod
    def weights(cls):
        fe = cls.dp.cli("frontend", "show", FRONTEND4, json_out=True, check=False)
        return tuple(g["weight"] for g in fe["groups"]) if fe else None

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode()

    def group_counters(self, prefix="bpfsplit_group_"):
        """{(family, group, reason or direction): value} of the lab frontend's bpfsplit_group_*
        series (bpfsplit_backend_*: summed over the group's backends)."""
        out = {}
        for name, labels, value in parse_metrics(self.metrics_text()):
            if name.startswith(prefix) and labels.get("frontend") == FRONTEND4 and "le" not in labels:
                key = (name, labels.get("group"), labels.get("reason") or labels.get("direction"))
                out[key] = out.get(key, 0) + value
        return out

    def delta(self, before, after, name, group, extra=None):
        return after.get((name, group, extra), 0) - before.get((name, group, extra), 0)

    def traffic(self, weight):
        """N fresh connections from chosen ports; (result, ports, canary ports)."""
        ports = source_ports(N)
        groups = predict_groups(self.dp.hash_key(), (100 - weight, weight),
                                [(self.lab.client_ipv4, p, self.lab.vip4, self.lab.vip_port, "tcp") for p in ports])
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8, source_ports=ports, timeout=3.0,
                           local_addr=[self.lab.client_ipv4])
        return r, ports, [p for p, g in zip(ports, groups) if g == 1]

    def analyse(self, step_index, weight, t0):
        """The player's analysis step over the window since t0 (the step's start): it aborts
        the rollout itself when a measurement fails."""
        self.prom.wait_scraped()
        args = dict(ARGS, window=f"{int(math.ceil(time.time() - t0))}s")
        passed, line, ms = self.player.analysis_step(self.prom, step_index, weight, args, self.template)
        print(line, flush=True)
        return ms, line

    def expect_weights(self, w):
        wait_for(lambda: self.weights() == (100 - w, w), what=f"{100 - w}/{w}")

    def test_1_healthy_canary_passes_and_is_promoted(self):
        self.player.start_canary("orange")
        for i, step in enumerate(STEPS):
            if "setWeight" not in step:
                continue
            w = step["setWeight"]
            self.player.set_weight(i, w)
            self.expect_weights(w)
            t0 = time.time()
            before = self.group_counters()
            r, ports, canary_ports = self.traffic(w)
            self.assertEqual(r["errors"], 0, r.get("error_samples"))
            self.assertEqual(r["counts"], expected_colours(self.lab, self.dp, (100 - w, w), ("green", "orange"), ports))
            after = self.group_counters()
            self.assertEqual(self.delta(before, after, "bpfsplit_group_connections_total", "canary"), len(canary_ports))
            self.assertEqual(self.delta(before, after, "bpfsplit_group_connections_total", "stable"),
                             N - len(canary_ports))
            self.assertEqual(self.delta(before, after, "bpfsplit_group_failed_connections_total", "canary"), 0)
            ms, line = self.analyse(i, w, t0)
            self.assertTrue(all(m.ok for m in ms), line)
            self.assertRegex(line, rf"^analysis: canary failure ratio 0\.00 <= 0\.05, .* at setWeight={w} -> pass$")
        self.player.promote()
        wait_for(lambda: self.weights() == (100, 0), what="promotion to 100/0")
        print("promoted: stable=orange", flush=True)

    def test_2_unhealthy_canary_fails_analysis_and_is_aborted(self):
        # The new version (green): its pods reset every connection from a port that is a
        # multiple of RESET_MOD, before reading or sending a byte.
        for b in self.lab.green:
            self.lab.backend_args[b.name] = ["--reset-mod", str(RESET_MOD)]
            self.lab.stop_backend(b.name)
            self.lab.start_backend(b.name)
        self.assertEqual(self.player.stable_colour, "orange", "test_1 promotes orange first")
        self.player.start_canary("green")
        self.player.set_weight(0, 30)
        self.expect_weights(30)
        # A sample of the counters before the traffic, so that the window sees only this step.
        t0 = time.time()
        self.prom.wait_scraped()
        before = self.group_counters()
        before_be = self.group_counters("bpfsplit_backend_")
        r, ports, canary_ports = self.traffic(30)
        resets = [p for p in canary_ports if p % RESET_MOD == 0]
        self.assertGreater(len(resets), 0)
        self.assertEqual(r["errors"], len(resets), r.get("error_samples"))
        after = self.group_counters()
        d = lambda name, group, extra=None: self.delta(before, after, name, group, extra)  # noqa: E731
        self.assertEqual(d("bpfsplit_group_connections_total", "canary"), len(canary_ports))
        self.assertEqual(d("bpfsplit_group_failed_connections_total", "canary"), len(resets))
        self.assertEqual(d("bpfsplit_group_backend_resets_total", "canary"), len(resets))
        self.assertEqual(d("bpfsplit_group_resets_before_reply_total", "canary"), len(resets))
        self.assertEqual(d("bpfsplit_group_handshake_duration_seconds_count", "canary"), len(canary_ports))
        self.assertEqual(d("bpfsplit_group_failed_connections_total", "stable"), 0)
        self.assertEqual(d("bpfsplit_group_backend_resets_total", "stable"), 0)
        self.assertEqual(d("bpfsplit_group_connections_total", "stable"), N - len(canary_ports))
        # --metrics-per-backend: the canary's backends add up to the same exact counts.
        after_be = self.group_counters("bpfsplit_backend_")
        self.assertEqual(self.delta(before_be, after_be, "bpfsplit_backend_connections_total", "canary"),
                         len(canary_ports))
        self.assertEqual(self.delta(before_be, after_be, "bpfsplit_backend_failed_connections_total", "canary"),
                         len(resets))

        ms, line = self.analyse(0, 30, t0)
        m = re.match(r"^analysis: canary failure ratio (\d+\.\d\d) > 0\.05 at setWeight=30 -> abort$", line)
        self.assertIsNotNone(m, line)
        ratio = next(x.value for x in ms if x.metric == "canary-failure-ratio")
        exact = len(resets) / len(canary_ports)
        # Prometheus extrapolates rates over the window (a series that starts at 0 is
        # extrapolated differently): its ratio is close to, not equal to, the exact one.
        print(f"canary failure ratio from Prometheus {ratio:.4f}, from the counters {exact:.4f} "
              f"({len(resets)}/{len(canary_ports)})", flush=True)
        self.assertGreater(ratio, 0.05)
        # The player aborted the rollout on the failed measurement.
        wait_for(lambda: self.weights() == (100, 0), what="abort to 100/0")
        # Every new connection back to the stable version, none reset.
        r, ports, canary_ports = self.traffic(0)
        self.assertEqual(canary_ports, [])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        self.assertEqual(r["counts"], {"orange": N})
        print("aborted: maps back to 100% stable", flush=True)

    def test_3_promtool_accepts_the_metrics_page(self):
        text = self.metrics_text()
        self.assertIn("bpfsplit_backend_connections_total{", text)
        self.assertIn('bpfsplit_group_handshake_duration_seconds_bucket{', text)
        p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), "")

    def test_5_no_live_page_unless_asked(self):
        # The agent here runs without --ui: /ui is off by default.
        for path in ("/ui", "/ui/data.json"):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=10)
            self.assertEqual(e.exception.code, 404)

    def test_4_rules_loaded_with_the_templates_thresholds(self):
        rules = self.prom.query('count(ALERTS) or vector(0)')  # the server answers rule queries
        self.assertTrue(rules is not None)
        with urllib.request.urlopen(self.prom.url + "/api/v1/rules", timeout=10) as r:
            import json
            groups = json.load(r)["data"]["groups"]
        names = {rule["name"]: rule for g in groups for rule in g["rules"]}
        self.assertIn("bpfsplit:group_failure_ratio:rate2m", names)
        self.assertTrue(all(rule.get("health") == "ok" for rule in names.values()),
                        {n: r.get("lastError") for n, r in names.items() if r.get("health") != "ok"})
        thresholds = {m["name"]: float(re.search(r"([-+0-9.eE]+)\s*$", m["successCondition"]).group(1))
                      for m in self.template["spec"]["metrics"]}

        def alert_threshold(name):
            return float(re.search(r">\s*([-+0-9.eE]+)\s*$", names[name]["query"]).group(1))
        self.assertEqual(alert_threshold("BpfsplitCanaryConnectionsFailing"), thresholds["canary-failure-ratio"])
        self.assertEqual(alert_threshold("BpfsplitCanaryFailingMoreThanStable"),
                         thresholds["canary-failure-ratio-above-stable"])
        self.assertEqual(alert_threshold("BpfsplitCanarySlowHandshakes"),
                         thresholds["canary-handshake-p99-above-stable"])

    def test_6_dashboard_queries_run_and_answer(self):
        # Every panel's query, with the dashboard's variables set to match everything, is
        # valid PromQL that this Prometheus answers (with series, after the tests' traffic).
        import json
        with open(os.path.join(ROOT, "deploy", "analysis", "grafana-dashboard.json")) as f:
            dash = json.load(f)
        self.prom.wait_scraped()
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 8)
        answered = 0
        for e in exprs:
            q = e.replace("$namespace", ".*").replace("$rollout", ".*")
            answered += bool(self.prom.query(q))  # raises on a query Prometheus refuses
        self.assertGreaterEqual(answered, len(exprs) // 2, "most panels should show data after the traffic")


if __name__ == "__main__":
    unittest.main()
