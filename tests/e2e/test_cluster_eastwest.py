# SPDX-License-Identifier: BSD-2-Clause
"""End to end, east-west on a cluster: pods on each of three nodes connect to a frontend's
cluster IP; bpfsplit's socket hooks on each node's cgroup choose the backend at connect()
(one bpfsplit per node, own pin root, same tables). Every connection binds its source
port, so each one's backend is predicted exactly (`bpfsplit flow predict`, the data
path's own hash and tables) and must match; backends see the pod's own address (no
NAT); getpeername() shows the cluster IP; existing connections keep their backend through
30 -> 60 -> 100; unconnected UDP gets its answers from the cluster IP."""

import os
import sys
import unittest

from harness import CLI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from cluster import (CLUSTER_IP, CLUSTER_IP6, FRONTEND_PORT, TCP_PORT, UDP_FRONTEND_PORT,  # noqa: E402
                     UDP_PORT, ClusterLab, NodeDataPath, binomial_bound, frontend)

N_FRESH = int(os.environ.get("BPFSPLIT_E2E_FRESH", "2000"))
FE = frontend(CLUSTER_IP, FRONTEND_PORT)
FE_UDP = frontend(CLUSTER_IP, UDP_FRONTEND_PORT, "udp")
TARGET = f"{CLUSTER_IP}:{FRONTEND_PORT}"


class ClusterEastWest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = ClusterLab(n_nodes=3, pods_per_node=2)
        cls.lab.up()
        try:
            cls.dps = [NodeDataPath(cls.lab, n, CLI) for n in cls.lab.nodes]
            for dp in cls.dps:
                dp.attach_cgroup()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def apply_all(self, w_stable, w_canary):
        for dp in self.dps:
            dp.apply(FE, w_stable, w_canary)

    def check_exact(self, node_i, pod, results, fe=FE, peer=TARGET, be_port=TCP_PORT):
        """Every result: no error, exactly the predicted backend, the pod's own address seen
        by the backend, the frontend as the peer. Returns the list of backend pods."""
        ports = (results[0]["port"], results[-1]["port"])
        want = self.dps[node_i].predict(fe, pod.addr, ports)
        reached = []
        for r in results:
            self.assertNotIn("error", r, f"{pod.name} port {r['port']}: {r.get('error')}")
            be = self.lab.pod_by_name(r["backend"])
            self.assertEqual(be.endpoint(be_port), want[r["port"]],
                             f"{pod.name} port {r['port']}: reached {r['backend']}, predicted {want[r['port']]}")
            self.assertEqual(r["seen"], f"{pod.addr}:{r['port']}", "the backend must see the pod itself (no NAT)")
            self.assertEqual(r["peer"], peer, "getpeername()/recvfrom() must show the frontend")
            reached.append(be)
        return reached

    def test_1_split_70_30_from_pods_on_every_node(self):
        self.apply_all(70, 30)
        nodes_reached = set()
        for i, node in enumerate(self.lab.nodes):
            pod = node.pods[i % len(node.pods)]
            results = self.lab.fresh(pod, TARGET, (40000, 40000 + N_FRESH - 1))
            reached = self.check_exact(i, pod, results)
            canary = sum(1 for be in reached if be.colour == "orange")
            low, high = binomial_bound(N_FRESH, 0.3, 3)
            self.assertTrue(low <= canary <= high,
                            f"from {pod.name}: canary {canary}/{N_FRESH}, expected 30% within 3 sd")
            nodes_reached |= {be.node.i for be in reached}
            self.assertEqual({be.name for be in reached}, {p.name for p in self.lab.pods},
                             f"from {pod.name}: every backend on every node should be reached")
        self.assertEqual(nodes_reached, {n.i for n in self.lab.nodes})
        for dp in self.dps:
            self.assertGreaterEqual(dp.reasons().get("sock_connect", 0), N_FRESH)

    def test_2_existing_connection_keeps_its_backend_through_weight_changes(self):
        self.apply_all(70, 30)
        node_i, pod = 1, self.lab.nodes[1].pods[0]
        # A source port whose connection goes to stable now: moving it would show.
        want = self.dps[node_i].predict(FE, pod.addr, (42000, 42100))
        port = next(p for p, be in sorted(want.items())
                    if self.lab.pod_by_addr(be.split(":")[0]).colour == "green")
        held = self.lab.hold(pod, TARGET, port)
        try:
            first = held.round()
            self.assertNotIn("error", first)
            self.assertEqual(first["colour"], "green")
            for w in (30, 60, 100):
                self.apply_all(100 - w, w)
                fresh = self.lab.fresh(pod, TARGET, (43000 + w * 10, 43000 + w * 10 + 199))
                reached = self.check_exact(node_i, pod, fresh)
                if w == 100:
                    self.assertTrue(all(be.colour == "orange" for be in reached))
                again = held.round()
                self.assertEqual(again, first, f"the held connection moved at canary weight {w}")
        finally:
            held.close()

    def test_3_unconnected_udp_answers_come_from_the_frontend(self):
        for dp in self.dps:
            dp.apply(FE_UDP, 70, 30, port=UDP_PORT)
        for i, node in enumerate(self.lab.nodes):
            pod = node.pods[1]
            results = self.lab.fresh(pod, f"{CLUSTER_IP}:{UDP_FRONTEND_PORT}", (44000, 44199), udp=True)
            reached = self.check_exact(i, pod, results, fe=FE_UDP, peer=f"{CLUSTER_IP}:{UDP_FRONTEND_PORT}",
                                        be_port=UDP_PORT)
            self.assertEqual({be.colour for be in reached}, {"green", "orange"})

    def test_5_ipv6_connect_time_split(self):
        fe6 = f"[{CLUSTER_IP6}]:{FRONTEND_PORT}/tcp"
        for dp in self.dps:
            dp.apply(fe6, 70, 30, family=6)
        reached_all = set()
        for i, node in enumerate(self.lab.nodes):
            pod = node.pods[0]
            results = self.lab.fresh(pod, f"[{CLUSTER_IP6}]:{FRONTEND_PORT}", (51000, 51299), family=6)
            want = self.dps[i].predict(fe6, pod.addr6, (51000, 51299))
            for r in results:
                self.assertNotIn("error", r, f"{pod.name} port {r['port']}: {r.get('error')}")
                be = self.lab.pod_by_name(r["backend"])
                self.assertEqual(be.endpoint(TCP_PORT, 6), want[r["port"]])
                self.assertEqual(r["seen"], f"[{pod.addr6}]:{r['port']}", "the backend must see the pod itself")
                self.assertEqual(r["peer"], f"[{CLUSTER_IP6}]:{FRONTEND_PORT}")
                reached_all.add(be.name)
        self.assertEqual(reached_all, {p.name for p in self.lab.pods})

    def test_4_process_outside_the_cgroup_is_not_split(self):
        """The hooks act on the node's cgroup only: a process outside it reaching the cluster
        IP is left to the network (here: no route, as no kube-proxy rule exists)."""
        self.apply_all(70, 30)
        pod = self.lab.nodes[0].pods[0]
        results = self.lab.fresh(pod, TARGET, (45000, 45001), in_cgroup=False)
        for r in results:
            self.assertIn("error", r)


if __name__ == "__main__":
    unittest.main()
