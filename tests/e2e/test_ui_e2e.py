# SPDX-License-Identifier: BSD-2-Clause
"""The agent's live page (--ui) against a running lab: /ui/data.json carries each
frontend's route, rollout step and per-version weight and connection counts (exact for
connections from ports the test chooses); the page, loaded in headless Chromium (Debian's
`chromium`), shows a weight change made by the Argo player both in its plot's data and
on the page, and a screenshot is saved as a test artefact (build/test-artifacts/)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import BUILD, DataPath, FRONTEND4, Lab, ROOT, predict_groups, source_ports

sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "argo"))
import analysis  # noqa: E402
import cdp  # noqa: E402
import fake_apiserver as fa  # noqa: E402
from argo_player import ArgoPlayer  # noqa: E402
from test_health_e2e import wait_for  # noqa: E402

AGENT = os.path.join(BUILD, "bpfsplit-agent")
ARTEFACTS = os.path.join(BUILD, "test-artifacts")
N = 200


class UiE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bs-ui-e2e-")
        cls.lab = Lab(n_green=3, n_orange=3, ipv6=True)
        cls.lab.up()
        cls.agent = cls.srv = None
        try:
            cls.lab.start_backends()
            cls.dp = DataPath(cls.lab, "tc-ingress")
            cls.dp.attach_node()
            cls.srv = fa.FakeApiServer(os.path.join(cls.tmp, "api"), token="ui-token", bookmark_interval=0.5,
                                       rbac=os.path.join(ROOT, "deploy", "rbac.yaml"))
            cls.srv.start()
            kubeconfig = cls.srv.write_kubeconfig(os.path.join(cls.tmp, "kubeconfig"))
            cls.player = ArgoPlayer(cls.srv, {"green": cls.lab.green, "orange": cls.lab.orange})
            cls.player.apply_seed()
            cls.port = analysis.free_port()
            cls.log_file = open(os.path.join(cls.tmp, "agent.log"), "w")
            cls.agent = subprocess.Popen(
                [AGENT, "--kubeconfig", kubeconfig, "--pin-root", cls.dp.pin_root, "--gateway-class", "agentgateway",
                 "--metrics-addr", f"127.0.0.1:{cls.port}", "--ui"],
                stdout=cls.log_file, stderr=subprocess.STDOUT)
            wait_for(lambda: cls.weights() == (100, 0), what="the agent's first sync")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
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

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return r.headers.get("Content-Type"), r.read().decode()

    def data(self):
        doc = json.loads(self.get("/ui/data.json")[1])
        return next(f for f in doc["frontends"] if f["frontend"] == FRONTEND4)

    def traffic(self, weight):
        ports = source_ports(N)
        groups = predict_groups(self.dp.hash_key(), (100 - weight, weight),
                                [(self.lab.client_ipv4, p, self.lab.vip4, self.lab.vip_port, "tcp") for p in ports])
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8, source_ports=ports, local_addr=[self.lab.client_ipv4])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        return sum(1 for g in groups if g == 1)

    def set_weight(self, step_index, w):
        self.player.set_weight(step_index, w)
        wait_for(lambda: self.weights() == (100 - w, w), what=f"{100 - w}/{w}")

    def test_1_data_json(self):
        self.player.start_canary("orange")
        self.set_weight(0, 30)
        wait_for(lambda: self.data()["step"] == 1, what="the rollout step in the data")
        before = self.data()
        canary = self.traffic(30)
        after = self.data()
        self.assertEqual(after["route"], "argo-rollouts-http-route")
        self.assertEqual(after["rollout"], "rollouts-demo")
        self.assertEqual(after["namespace"], "default")
        g = {x["group"]: x for x in after["groups"]}
        b = {x["group"]: x for x in before["groups"]}
        self.assertEqual(g["canary"]["weight_ratio"], 0.3)
        self.assertEqual(g["stable"]["weight_ratio"], 0.7)
        self.assertEqual(g["canary"]["service"], "default/rollouts-demo-canary")
        self.assertEqual(g["canary"]["new_conns"] - b["canary"]["new_conns"], canary)
        self.assertEqual(g["stable"]["new_conns"] - b["stable"]["new_conns"], N - canary)
        self.assertEqual(g["canary"]["failed"], 0)
        ctype, html = self.get("/ui")
        self.assertTrue(ctype.startswith("text/html"))
        self.assertIn("<script>", html)

    def test_2_weight_change_in_chromium(self):
        self.assertEqual(self.weights(), (70, 30), "test_1 leaves 70/30")
        os.makedirs(ARTEFACTS, exist_ok=True)
        b = cdp.Browser(log_path=os.path.join(self.tmp, "chromium.log"))
        try:
            b.open(f"http://127.0.0.1:{self.port}/ui?interval=300")
            row = f'document.querySelector(\'[data-frontend="{FRONTEND4}"] tr[data-group="canary"] td.weight\')'
            b.wait(f"{row} && {row}.textContent === '30.0%'", what="canary at 30% on the page")
            polls = b.evaluate("bsui.polls")
            self.set_weight(2, 60)
            self.traffic(60)
            # The plot's data: a canary sample at 0.6 after earlier ones at 0.3...
            hist = f'bsui.history["{FRONTEND4}"]'
            b.wait(f'{hist}.some(h => h.groups.some(g => g.group === "canary" && g.weight_ratio === 0.6))',
                   what="the weight change in the plot's data")
            ratios = b.evaluate(f'{hist}.map(h => h.groups.find(g => g.group === "canary").weight_ratio)')
            self.assertIn(0.3, ratios)
            self.assertEqual(ratios[-1], 0.6)
            self.assertLess(ratios.index(0.3), ratios.index(0.6))
            # ...drawn (the canary's configured-weight line has a point per sample)...
            pts = b.evaluate('document.querySelectorAll("polyline.weight")[1].getAttribute("points").split(" ").length')
            self.assertGreaterEqual(pts, 2)
            # ...and on the page: weight, observed share over the window, no failures.
            b.wait(f"{row}.textContent === '60.0%'", what="canary at 60% on the page")
            obs = f'document.querySelector(\'[data-frontend="{FRONTEND4}"] tr[data-group="canary"] td.observed\')'
            b.wait(f"{obs}.textContent.endsWith('%') && parseFloat({obs}.textContent) > 0",
                   what="an observed canary share")
            fail = f'document.querySelector(\'[data-frontend="{FRONTEND4}"] tr[data-group="canary"] td.failed-total\')'
            self.assertEqual(b.evaluate(f"{fail}.textContent"), "0")
            step = f'document.querySelector(\'[data-frontend="{FRONTEND4}"] .step\').textContent'
            b.wait(f"{step} === 'step 3/6'", what="the rollout step on the page")
            self.assertGreater(b.evaluate("bsui.polls"), polls)
            shot = b.screenshot(os.path.join(ARTEFACTS, "ui-weight-change.png"))
        finally:
            b.close()
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print(f"screenshot: {shot}", flush=True)


if __name__ == "__main__":
    unittest.main()
