# SPDX-License-Identifier: BSD-2-Clause
"""End to end with the agent: bpfsplit-agent watches the test API server while the
Argo player replays a rollout (GET+PUT of the HTTPRoute weights, canary scaling,
selector switch at promotion, abort), and real HTTP flows from the client namespace.
After each step the maps hold exactly the expected weights and backends, 2000 fresh
connections from chosen source ports reach exactly the colours the shared flow
hash predicts, and held connections keep their backend.
The API server going away leaves traffic flowing; a 410 makes the agent relist."""

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import BUILD, DataPath, FRONTEND4, Lab, ROOT, expected_colours, source_ports

sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "argo"))
import fake_apiserver as fa  # noqa: E402
from argo_player import ArgoPlayer, STEPS  # noqa: E402


AGENT = os.path.join(BUILD, "bpfsplit-agent")
N = int(os.environ.get("BPFSPLIT_E2E_FRESH", "2000"))


def wait_for(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class AgentE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bs-agent-e2e-")
        cls.lab = Lab(n_green=3, n_orange=3, ipv6=True)
        cls.lab.up()
        cls.agent = None
        cls.srv = None
        try:
            cls.lab.start_backends()
            cls.dp = DataPath(cls.lab, "tc-ingress")
            cls.dp.attach_node()
            cls.srv = fa.FakeApiServer(os.path.join(cls.tmp, "api"), token="e2e-token", bookmark_interval=0.5,
                                       rbac=os.path.join(ROOT, "deploy", "rbac.yaml"))
            cls.srv.start()
            cls.kubeconfig = cls.srv.write_kubeconfig(os.path.join(cls.tmp, "kubeconfig"))
            cls.player = ArgoPlayer(cls.srv, {"green": cls.lab.green, "orange": cls.lab.orange})
            cls.player.apply_seed()
            cls.log_path = os.path.join(cls.tmp, "agent.log")
            cls.log_file = open(cls.log_path, "w")
            cls.agent = subprocess.Popen(
                [AGENT, "--kubeconfig", cls.kubeconfig, "--pin-root", cls.dp.pin_root, "--gateway-class",
                 "agentgateway", "--metrics-addr", "127.0.0.1:0", "--endpoint-grace", "30s", "-v"],
                stdout=cls.log_file, stderr=subprocess.STDOUT)
            wait_for(lambda: cls.weights() == (100, 0), timeout=20, what="the agent's first sync")
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
    def frontend(cls):
        return cls.dp.cli("frontend", "show", FRONTEND4, json_out=True, check=False)

    @classmethod
    def weights(cls):
        fe = cls.frontend()
        return tuple(g["weight"] for g in fe["groups"]) if fe else None

    def ready_backends(self):
        return [sorted(b["address"] for b in g["backends"] if b["state"] == "ready")
                for g in self.frontend()["groups"]]

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def expect(self, stable_weight, canary_weight, stable_pods, canary_pods):
        wait_for(lambda: self.weights() == (stable_weight, canary_weight), what=f"{stable_weight}/{canary_weight}")
        addr = lambda pods: sorted(f"{b.ipv4}:8080" for b in pods)  # noqa: E731
        wait_for(lambda: self.ready_backends() == [addr(stable_pods), addr(canary_pods)],
                 what=f"ready backends {addr(stable_pods)} / {addr(canary_pods)}")

    def assert_share(self, canary_colour, weight):
        """N fresh connections from source ports the test chooses reach exactly the colours
        the shared flow hash predicts at weights (100 - weight, weight): group 0 is the
        stable Service, group 1 the canary, and the other colour is the stable one."""
        stable_colour = "green" if canary_colour == "orange" else "orange"
        ports = source_ports(N)
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8, source_ports=ports,
                           local_addr=[self.lab.client_ipv4])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        expected = expected_colours(self.lab, self.dp, (100 - weight, weight), (stable_colour, canary_colour), ports)
        self.assertEqual(r["counts"], expected, f"canary {canary_colour} at weight {weight}")

    def test_1_rollout_promotion_and_abort(self):
        green, orange = self.lab.green, self.lab.orange
        self.expect(100, 0, green, green)  # steady state: both Services select green
        self.player.start_canary("orange")
        with self.lab.hold(self.lab.url(4), n=8, requests=5) as held:
            before = {c["id"]: set(c["backends"]) for c in held.round()["connections"]}
            for i, step in enumerate(STEPS):
                if "setWeight" not in step:
                    continue
                w = step["setWeight"]
                self.player.set_weight(i, w)
                self.expect(100 - w, w, green, orange[: math.ceil(w / 100 * 3)])
                self.assert_share("orange", w)
                r = held.round()
                self.assertEqual(r["errors"], 0, r)
                for c in r["connections"]:
                    self.assertEqual(set(c["backends"]), before[c["id"]], "a held connection moved")
        # Promotion: the stable selector switches first, then the route goes back to 100/0.
        self.player.promote()
        self.expect(100, 0, orange, orange)  # both Services now select the orange pods
        self.assert_share("green", 0)
        # The greens left the stable Service: draining, not forgotten.
        states = {b["address"]: b["state"] for b in self.frontend()["groups"][0]["backends"]}
        for b in green:
            self.assertEqual(states.get(f"{b.ipv4}:8080"), "draining")
        # Act 2: a new canary, aborted at 30%: every new connection back to stable at once.
        self.player.start_canary("green")
        self.player.set_weight(0, 30)
        self.expect(70, 30, orange, green[:1])
        self.assert_share("green", 30)
        self.player.abort(0)
        wait_for(lambda: self.weights() == (100, 0), what="abort to 100/0")
        self.assert_share("green", 0)

    def new_canary(self):
        """Start a canary of the colour that is not stable; returns that colour."""
        colour = "green" if self.player.stable_colour == "orange" else "orange"
        self.player.start_canary(colour)
        self.player.scale_canary(100)
        return colour

    def test_2_api_server_outage_then_catch_up(self):
        canary = self.new_canary()
        self.player.set_route_weights(30)
        wait_for(lambda: self.weights() == (70, 30), what="70/30")
        self.srv.pause()
        try:
            time.sleep(0.5)
            self.assert_share(canary, 30)  # the data path does not need the API server
            self.assertIsNone(self.agent.poll(), "the agent died with the API server gone")
        finally:
            self.srv.resume()
        self.player.set_route_weights(60)
        wait_for(lambda: self.weights() == (40, 60), timeout=30, what="catch-up to 40/60 after the outage")
        self.assert_share(canary, 60)

    def test_3_watch_410_relists_and_converges(self):
        before = len(re.findall(r"relist", self.log()))
        # Drop the open watches and forget history: the agent's resourceVersions are now too old.
        self.srv.pause(mode="close")
        self.player_set_weights_offline(20)
        self.srv.compact()
        self.srv.resume()
        wait_for(lambda: self.weights() == (80, 20), timeout=30, what="convergence to 80/20 after 410")
        self.assert_share(self.player.canary_colour, 20)
        self.assertGreater(len(re.findall(r"relist", self.log())), before, "no relist was logged")

    def test_4_empty_stable_slice_at_promotion_refuses_nothing(self):
        """Promotion where the stable Service's slices are empty for a moment (the selector
        switched, the endpoints controller not yet caught up) while the route already sends
        everything to stable: the pods ready behind it a moment ago take the connections
        (endpoint grace), none is refused."""
        canary = self.new_canary()
        old = self.player.stable_colour
        self.player.set_route_weights(100)
        wait_for(lambda: self.weights() == (0, 100), what="0/100")
        self.player.set_selector("rollouts-demo-stable", canary)
        t0 = time.monotonic()
        self.player.set_endpoints("rollouts-demo-stable", [])
        self.player.stable_colour = canary
        self.player.set_route_weights(0)
        wait_for(lambda: self.weights() == (100, 0), what="100/0 with the stable slices empty")
        addr = lambda pods: sorted(f"{b.ipv4}:8080" for b in pods)  # noqa: E731
        self.assertEqual(self.ready_backends()[0], addr(self.lab.green if old == "green" else self.lab.orange))
        ports = source_ports(N)
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8, source_ports=ports,
                           local_addr=[self.lab.client_ipv4])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        self.assertEqual(r["counts"], {old: N})
        # the gap lasts a second, then the new pods fill the slices
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        pods = self.lab.green if canary == "green" else self.lab.orange
        self.player.set_endpoints("rollouts-demo-stable", pods[:3])
        self.expect(100, 0, pods, pods)
        self.assert_share(old, 0)

    def player_set_weights_offline(self, w):
        """Change the route while the agent cannot watch."""
        self.player.set_route_weights(w)


if __name__ == "__main__":
    unittest.main()
