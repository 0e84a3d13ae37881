# SPDX-License-Identifier: BSD-2-Clause
"""End to end on the cluster lab with one bpfsplit-agent per node, as the DaemonSet runs
them: each agent has its own pin root and --node-name and watches the same test API
server under the deploy/ ClusterRole, while the Argo player replays the seed rollout
(30 -> 60 -> 100, promotion) with the lab's pods as the Rollout's pods. At every step
all three nodes hold the same weights and backends, and connections from a pod on every
node (connect-time hooks) and from outside (ECMP, SNAT) reach exactly the backends each
node predicts; held connections keep theirs."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import BUILD, CLI, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "argo"))

from cluster import (CLUSTER_IP, CLUSTER_IP6, EXTERNAL_ADDR, FRONTEND_PORT, GATEWAY_VIP,  # noqa: E402
                     GATEWAY_VIP6, ClusterLab, NodeDataPath, frontend)
import fake_apiserver as fa  # noqa: E402
from argo_player import ArgoPlayer, STEPS  # noqa: E402
from test_agent_e2e import wait_for  # noqa: E402

AGENT = os.path.join(BUILD, "bpfsplit-agent")
N = int(os.environ.get("BPFSPLIT_E2E_FRESH", "2000")) // 4
FE_EW = frontend(CLUSTER_IP, FRONTEND_PORT)
FE_NS = frontend(GATEWAY_VIP, FRONTEND_PORT)


class ClusterAgents(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bs-cluster-agents-")
        cls.lab = ClusterLab(n_nodes=3, pods_per_node=2)
        cls.lab.up()
        cls.agents, cls.logs, cls.srv = [], [], None
        try:
            cls.dps = [NodeDataPath(cls.lab, n, CLI) for n in cls.lab.nodes]
            for dp in cls.dps:
                dp.attach_cgroup()
                dp.attach_snat()
            cls.srv = fa.FakeApiServer(os.path.join(cls.tmp, "api"), token="e2e-token", bookmark_interval=0.5,
                                       rbac=os.path.join(ROOT, "deploy", "rbac.yaml"))
            cls.srv.start()
            kubeconfig = cls.srv.write_kubeconfig(os.path.join(cls.tmp, "kubeconfig"))
            # The Gateway's addresses: the cluster IP pods use and the address outside
            # traffic arrives at (a test shortcut: both as frontends of one route).
            cls.player = ArgoPlayer(cls.srv, {"green": cls.lab.green, "orange": cls.lab.orange},
                                    frontends=(CLUSTER_IP, CLUSTER_IP6, GATEWAY_VIP, GATEWAY_VIP6))
            cls.player.apply_seed()
            for dp in cls.dps:
                log = open(os.path.join(cls.tmp, f"agent-{dp.node.name}.log"), "w")
                cls.logs.append(log)
                cls.agents.append(subprocess.Popen(
                    [AGENT, "--kubeconfig", kubeconfig, "--pin-root", dp.pin_root, "--gateway-class", "agentgateway",
                     "--node-name", dp.node.name, "--metrics-addr", "127.0.0.1:0", "-v"],
                    stdout=log, stderr=subprocess.STDOUT))
            cls.wait_all((100, 0), "green", "green", 3)  # the seed's canary slices list the greens
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            if a.poll() is None:
                a.send_signal(signal.SIGTERM)
                a.wait(10)
        for log in cls.logs:
            log.close()
        if cls.srv:
            cls.srv.stop()
        cls.lab.close()
        subprocess.run(["rm", "-rf", cls.tmp])

    @classmethod
    def state(cls, dp, fe):
        doc = dp.cli("frontend", "show", fe, json_out=True, check=False)
        if not doc:
            return None
        return (tuple(g["weight"] for g in doc["groups"]),
                tuple(tuple(sorted(b["address"] for b in g["backends"] if b["state"] == "ready"))
                      for g in doc["groups"]))

    @classmethod
    def wait_all(cls, weights, stable_colour, canary_colour, canary_n):
        """Every node's two frontends hold weights, the stable pods of stable_colour and the
        first canary_n pods of canary_colour."""
        stable = tuple(sorted(p.endpoint() for p in cls.lab.pods if p.colour == stable_colour))
        canary = tuple(sorted(p.endpoint() for p in [q for q in cls.lab.pods if q.colour == canary_colour][:canary_n]))
        want = (weights, (stable, canary))
        for dp in cls.dps:
            for fe in (FE_EW, FE_NS):
                wait_for(lambda: cls.state(dp, fe) == want, timeout=20,
                         what=f"{dp.node.name} {fe} = {want}")

    def check_traffic(self, base):
        """From a pod on every node and from outside: exact predicted backends."""
        reached = []
        for i, node in enumerate(self.lab.nodes):
            pod = node.pods[0]
            results = self.lab.fresh(pod, f"{CLUSTER_IP}:{FRONTEND_PORT}", (base, base + N - 1))
            want = self.dps[i].predict(FE_EW, pod.addr, (base, base + N - 1))
            for r in results:
                self.assertNotIn("error", r, f"{pod.name} port {r['port']}")
                self.assertEqual(self.lab.pod_by_name(r["backend"]).endpoint(), want[r["port"]])
                self.assertEqual(r["seen"], f"{pod.addr}:{r['port']}")
                reached.append(r["backend"])
        results = self.lab.fresh(None, f"{GATEWAY_VIP}:{FRONTEND_PORT}", (base, base + N - 1))
        wants = [dp.predict(FE_NS, EXTERNAL_ADDR, (base, base + N - 1)) for dp in self.dps]
        self.assertTrue(all(w == wants[0] for w in wants), "the nodes' agents built different tables")
        for r in results:
            self.assertNotIn("error", r, f"external port {r['port']}")
            self.assertEqual(self.lab.pod_by_name(r["backend"]).endpoint(), wants[0][r["port"]])
            self.assertEqual(r["peer"], f"{GATEWAY_VIP}:{FRONTEND_PORT}")
            reached.append(r["backend"])
        return reached

    def test_rollout_driven_by_one_agent_per_node(self):
        pod = self.lab.nodes[1].pods[0]
        held = [self.lab.hold(pod, f"{CLUSTER_IP}:{FRONTEND_PORT}", 19000),
                self.lab.hold(None, f"{GATEWAY_VIP}:{FRONTEND_PORT}", 19000)]
        try:
            first = [h.round() for h in held]
            for r in first:
                self.assertEqual(r["colour"], "green")
            self.player.start_canary("orange")
            base = 20000
            for i, step in enumerate(STEPS):
                if "setWeight" not in step:
                    continue
                w = step["setWeight"]
                self.player.set_weight(i, w)
                self.wait_all((100 - w, w), "green", "orange", -(-w * 3 // 100))  # ceil(w% of 3 replicas)
                reached = self.check_traffic(base)
                base += N
                colours = {self.lab.pod_by_name(b).colour for b in reached}
                self.assertEqual(colours, {"orange"} if w == 100 else {"green", "orange"})
                self.assertEqual([h.round() for h in held], first, f"a held connection moved at {w}")
            self.player.promote()
            self.wait_all((100, 0), "orange", "orange", 3)
            reached = self.check_traffic(base)
            self.assertEqual({self.lab.pod_by_name(b).colour for b in reached}, {"orange"})
            self.assertEqual([h.round() for h in held], first, "a held connection moved at promotion")
        finally:
            for h in held:
                h.close()


if __name__ == "__main__":
    unittest.main()
