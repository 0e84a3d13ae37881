# SPDX-License-Identifier: BSD-2-Clause
"""End to end, bpfsplit beside kube-proxy on a cluster: every node namespace carries
kube-proxy-style nftables rules (DNAT of the frontend's cluster IP and Gateway address,
of a second Service that bpfsplit does not serve, and a forward rule dropping conntrack
INVALID packets). bpfsplit's choice wins for its frontends — the connect-time rewrite
happens before netfilter ever sees the cluster IP, and the tc entry point translates and
forwards before conntrack — so the rules for them never count a packet, every outcome is
the exact predicted one, and the second Service keeps working through kube-proxy's rules."""

import os
import sys
import unittest

from harness import CLI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from cluster import (CLUSTER_IP, FRONTEND_PORT, GATEWAY_VIP, OTHER_CLUSTER_IP, ClusterLab,  # noqa: E402
                     NodeDataPath, frontend)
from test_cluster_northsouth import NorthSouthBase  # noqa: E402

FE_EW = frontend(CLUSTER_IP, FRONTEND_PORT)


class ClusterCoexistence(NorthSouthBase, unittest.TestCase):
    @classmethod
    def extra_setup(cls):
        lab = cls.lab
        cls.lab.install_kube_proxy_rules([
            ("frontend-cluster-ip", CLUSTER_IP, FRONTEND_PORT, lab.pods),
            ("frontend-gateway", GATEWAY_VIP, FRONTEND_PORT, lab.pods),
            ("other-service", OTHER_CLUSTER_IP, FRONTEND_PORT, lab.green),
        ])
        for dp in cls.dps:
            dp.apply(FE_EW, 70, 30)

    def tearDown(self):
        super().tearDown()
        for n in self.lab.nodes:
            c = self.lab.nft_counters(n.ns)
            self.assertEqual(c["frontend-cluster-ip"], 0, f"{n.name}: kube-proxy's rule saw bpfsplit's cluster IP")
            self.assertEqual(c["frontend-gateway"], 0, f"{n.name}: kube-proxy's rule saw the Gateway address")
            self.assertEqual(c["invalid"], 0, f"{n.name}: conntrack marked packets INVALID")

    def test_4_east_west_wins_over_kube_proxy(self):
        """Also: with the tc entry point on every node's pod bridge, connections chosen at
        connect() never pass the packet path (no double choice): it chooses nothing."""
        before = [dp.reasons() for dp in self.dps]
        for i, node in enumerate(self.lab.nodes):
            pod = node.pods[0]
            results = self.lab.fresh(pod, f"{CLUSTER_IP}:{FRONTEND_PORT}", (49000, 49299))
            want = self.dps[i].predict(FE_EW, pod.addr, (49000, 49299))
            for r in results:
                self.assertNotIn("error", r, f"{pod.name} port {r['port']}: {r.get('error')}")
                self.assertEqual(self.lab.pod_by_name(r["backend"]).endpoint(), want[r["port"]])
                self.assertEqual(r["seen"], f"{pod.addr}:{r['port']}")
                self.assertEqual(r["peer"], f"{CLUSTER_IP}:{FRONTEND_PORT}")
        for dp, b in zip(self.dps, before):
            after = dp.reasons()
            self.assertGreaterEqual(after["sock_connect"] - b["sock_connect"], 300)
            for k in ("fwd_new", "snat_new"):
                self.assertEqual(after[k], b[k], f"{dp.node.name}: the packet path chose ({k}) for a socket-hook flow")

    def test_5_other_service_still_works_through_kube_proxy(self):
        if not self.lab.br_netfilter:
            self.skipTest("br_netfilter not loaded: kube-proxy-style rules cannot serve a pod from a backend "
                          "on its own bridge (bpfsplit does not need it)")
        before = {n.ns: self.lab.nft_counters(n.ns)["other-service"] for n in self.lab.nodes}
        for node in self.lab.nodes:
            pod = node.pods[1]
            results = self.lab.fresh(pod, f"{OTHER_CLUSTER_IP}:{FRONTEND_PORT}", (50000, 50099))
            for r in results:
                self.assertNotIn("error", r, f"{pod.name} port {r['port']}: {r.get('error')}")
                self.assertEqual(self.lab.pod_by_name(r["backend"]).colour, "green")
                self.assertEqual(r["seen"], f"{pod.addr}:{r['port']}")
                self.assertEqual(r["peer"], f"{OTHER_CLUSTER_IP}:{FRONTEND_PORT}")
        for n in self.lab.nodes:
            self.assertGreater(self.lab.nft_counters(n.ns)["other-service"], before[n.ns],
                               f"{n.name}: the other Service did not go through kube-proxy's rule")


if __name__ == "__main__":
    unittest.main()
