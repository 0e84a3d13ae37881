# SPDX-License-Identifier: BSD-2-Clause
"""The cluster lab itself (tests/lab/cluster.py): topology, routing without
encapsulation between pod CIDRs, ECMP towards the Gateway address, per-node cgroups that
processes really run in, colour servers answering colour and peer, and a clean teardown
(namespaces, cgroups, work directory). No bpfsplit involved."""

import json
import os
import unittest

from cluster import GATEWAY_VIP, GATEWAY_VIP6, ClusterLab, run


class ClusterLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = ClusterLab(n_nodes=3, pods_per_node=2)
        cls.lab.up()

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def test_topology(self):
        lab = self.lab
        self.assertEqual(len(lab.nodes), 3)
        self.assertEqual(len(lab.green), 3)
        self.assertEqual(len(lab.orange), 3)
        for n in lab.nodes:
            addrs = json.loads(run(["ip", "-n", n.ns, "-j", "addr", "show"]))
            have = {(a["ifname"], i["local"]) for a in addrs for i in a.get("addr_info", []) if i["family"] == "inet"}
            self.assertIn(("eth0", n.addr), have)
            self.assertIn(("cni0", n.gw), have)
            self.assertTrue(os.path.isdir(n.cgroup))

    def test_pod_cidrs_routed_without_encapsulation(self):
        """A pod reaches pods on every node, and each sees the caller's own address."""
        src = self.lab.nodes[0].pods[0]
        for dst in self.lab.pods:
            r = self.lab.fresh(src, dst.endpoint(), (41000 + self.lab.pods.index(dst), 41000 + self.lab.pods.index(dst)))
            self.assertNotIn("error", r[0], f"{src.name} -> {dst.name}")
            self.assertEqual(r[0]["backend"], dst.name)
            self.assertEqual(r[0]["colour"], dst.colour)
            self.assertEqual(r[0]["seen"].split(":")[0], src.addr)
        # No tunnel device anywhere: plain routes via the other nodes' addresses.
        routes = run(["ip", "-n", self.lab.nodes[0].ns, "route"])
        for n in self.lab.nodes[1:]:
            self.assertIn(f"{n.cidr} via {n.addr}", routes)

    def test_ipv6_dual_stack(self):
        src = self.lab.nodes[0].pods[1]
        dst = self.lab.nodes[2].pods[0]
        r = self.lab.fresh(src, dst.endpoint(family=6), (41500, 41501), family=6)
        for x in r:
            self.assertNotIn("error", x)
            self.assertEqual(x["seen"], f"[{src.addr6}]:{x['port']}")
        r = self.lab.fresh(None, dst.endpoint(family=6), (41600, 41600), family=6)
        self.assertNotIn("error", r[0])

    def test_external_client_reaches_pods_and_ecmp_spans_every_node(self):
        r = self.lab.fresh(None, self.lab.nodes[2].pods[1].endpoint(), (42000, 42002))
        for x in r:
            self.assertNotIn("error", x)
        route = json.loads(run(["ip", "-n", self.lab.router_ns, "-j", "route", "show", f"{GATEWAY_VIP}/32"]))
        hops = {h["gateway"] for h in route[0]["nexthops"]}
        self.assertEqual(hops, {n.addr for n in self.lab.nodes})
        route = json.loads(run(["ip", "-n", self.lab.router_ns, "-6", "-j", "route", "show", f"{GATEWAY_VIP6}/128"]))
        hops = {h["gateway"] for h in route[0]["nexthops"]}
        self.assertEqual(hops, {n.addr6 for n in self.lab.nodes})

    def test_processes_run_in_the_node_cgroup(self):
        for n in self.lab.nodes:
            out = self.lab.run_in(n.pods[0].ns, ["cat", "/proc/self/cgroup"], node=n)
            self.assertIn(f"0::/{os.path.basename(n.cgroup)}", out)

    def test_udp_answers(self):
        pod = self.lab.nodes[1].pods[0]
        dst = self.lab.nodes[2].pods[1]
        r = self.lab.fresh(pod, dst.endpoint(5353), (43000, 43001), udp=True)
        for x in r:
            self.assertNotIn("error", x)
            self.assertEqual(x["backend"], dst.name)
            self.assertEqual(x["peer"], dst.endpoint(5353))


class ClusterLabTeardown(unittest.TestCase):
    def test_close_removes_everything(self):
        lab = ClusterLab(n_nodes=3, pods_per_node=2)
        lab.up()
        names = list(lab.created_ns)
        cgroups = [n.cgroup for n in lab.nodes]
        workdir = lab.workdir
        lab.close()
        left = set(run(["ip", "netns", "list"]).split())
        self.assertFalse(set(names) & left)
        for cg in cgroups:
            self.assertFalse(os.path.exists(cg))
        self.assertFalse(os.path.exists(workdir))


if __name__ == "__main__":
    unittest.main()
