# SPDX-License-Identifier: BSD-2-Clause
"""End to end, north-south on a cluster: an external client behind a router that reaches
the Gateway address over ECMP across three nodes. Every node runs bpfsplit with the tc
entry point on its uplink and pod bridge in SNAT mode: whichever node a connection
arrives on chooses (the same tables and hash on every node, so each bound source port's
backend is predicted exactly), rewrites the source to its own address and an allocated
port, and translates replies back — from backends on other nodes and on itself — without
its stack ever seeing them (no RST counted by any node's nstat). Backends on the pods'
veths compute checksums in software, as does the router towards the client: a wrong
checksum would show in TcpInCsumErrors."""

import json
import os
import subprocess
import sys
import time
import unittest

from harness import CLI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from cluster import (EXTERNAL_ADDR, EXTERNAL_ADDR6, FRONTEND_PORT, GATEWAY_VIP, GATEWAY_VIP6,  # noqa: E402
                     TCP_PORT, ClusterLab, NodeDataPath, binomial_bound, frontend)

N_FRESH = int(os.environ.get("BPFSPLIT_E2E_FRESH", "2000"))
FE = frontend(GATEWAY_VIP, FRONTEND_PORT)
TARGET = f"{GATEWAY_VIP}:{FRONTEND_PORT}"
FE6 = f"[{GATEWAY_VIP6}]:{FRONTEND_PORT}/tcp"
TARGET6 = f"[{GATEWAY_VIP6}]:{FRONTEND_PORT}"


class NorthSouthBase:
    """Shared by the plain and the kube-proxy-coexistence variants."""

    @classmethod
    def setUpClass(cls):
        cls.lab = ClusterLab(n_nodes=3, pods_per_node=2)
        cls.lab.up()
        try:
            cls.dps = [NodeDataPath(cls.lab, n, CLI) for n in cls.lab.nodes]
            for dp in cls.dps:
                dp.attach_cgroup()
                dp.attach_snat()
            cls.extra_setup()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def extra_setup(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def all_ns(self):
        return [n.ns for n in self.lab.nodes] + [p.ns for p in self.lab.pods] + [self.lab.ext_ns]

    def setUp(self):
        self.nstat_before = {ns: self.lab.nstat(ns) for ns in self.all_ns()}

    def tearDown(self):
        for ns in self.all_ns():
            after = self.lab.nstat(ns)
            self.assertEqual(after["TcpInCsumErrors"], self.nstat_before[ns]["TcpInCsumErrors"],
                             f"TcpInCsumErrors moved in {ns}: a rewritten checksum is wrong")
            if ns in [n.ns for n in self.lab.nodes]:
                self.assertEqual(after["TcpOutRsts"], self.nstat_before[ns]["TcpOutRsts"],
                                 f"node {ns} sent a RST: a reply reached its stack")

    def apply_all(self, w_stable, w_canary):
        for dp in self.dps:
            dp.apply(FE, w_stable, w_canary)

    def check_exact(self, results, family=4):
        """Each result: no error, the predicted backend (every node predicts the same),
        the frontend as peer, a node's address as the source the backend saw. Returns
        [(entry node address, backend pod)]."""
        ports = (results[0]["port"], results[-1]["port"])
        fe, target = (FE, TARGET) if family == 4 else (FE6, TARGET6)
        client = EXTERNAL_ADDR if family == 4 else EXTERNAL_ADDR6
        wants = [dp.predict(fe, client, ports) for dp in self.dps]
        self.assertTrue(all(w == wants[0] for w in wants), "nodes disagree on the choice")
        node_addrs = {n.addr if family == 4 else n.addr6 for n in self.lab.nodes}
        out = []
        for r in results:
            self.assertNotIn("error", r, f"port {r['port']}: {r.get('error')}")
            be = self.lab.pod_by_name(r["backend"])
            self.assertEqual(be.endpoint(TCP_PORT, family), wants[0][r["port"]],
                             f"port {r['port']}: reached {r['backend']}, predicted {wants[0][r['port']]}")
            self.assertEqual(r["peer"], target, "replies must come from the frontend")
            seen_addr = r["seen"].rsplit(":", 1)[0].strip("[]")
            self.assertIn(seen_addr, node_addrs, "SNAT: the backend sees the choosing node's address")
            out.append((seen_addr, be))
        return out

    def test_1_split_70_30_through_every_node(self):
        self.apply_all(70, 30)
        opens = self.lab.nstat(self.lab.ext_ns)["TcpActiveOpens"]
        results = self.lab.fresh(None, TARGET, (40000, 40000 + N_FRESH - 1))
        pairs = self.check_exact(results)
        self.assertGreaterEqual(self.lab.nstat(self.lab.ext_ns)["TcpActiveOpens"] - opens, N_FRESH,
                                "nstat does not count the client's connections")
        canary = sum(1 for _, be in pairs if be.colour == "orange")
        low, high = binomial_bound(N_FRESH, 0.3, 3)
        self.assertTrue(low <= canary <= high, f"canary {canary}/{N_FRESH}, expected 30% within 3 sd")
        self.assertEqual({a for a, _ in pairs}, {n.addr for n in self.lab.nodes},
                         "ECMP should bring connections to every node")
        self.assertEqual({be.name for _, be in pairs}, {p.name for p in self.lab.pods})
        same_node = sum(1 for a, be in pairs if be.node.addr == a)
        self.assertGreater(same_node, 0, "no connection was served by a backend on its entry node")
        total = {"snat_new": 0, "snat_reply": 0}
        for dp in self.dps:
            reasons = dp.reasons()
            for k in total:
                total[k] += reasons.get(k, 0)
            self.assertEqual(reasons.get("drop_snat_ports", 0), 0)
            self.assertEqual(reasons.get("drop_no_route", 0), 0)
        self.assertGreaterEqual(total["snat_new"], N_FRESH)
        self.assertGreaterEqual(total["snat_reply"], N_FRESH)

    def test_2_long_lived_connection_keeps_its_backend(self):
        self.apply_all(70, 30)
        want = self.dps[0].predict(FE, "192.168.100.2", (46000, 46100))
        port = next(p for p, be in sorted(want.items())
                    if self.lab.pod_by_addr(be.split(":")[0]).colour == "green")
        held = self.lab.hold(None, TARGET, port)
        try:
            first = held.round()
            self.assertNotIn("error", first)
            self.assertEqual(first["colour"], "green")
            for w in (30, 60, 100):
                self.apply_all(100 - w, w)
                lo = 47000 + w * 10
                pairs = self.check_exact(self.lab.fresh(None, TARGET, (lo, lo + 199)))
                if w == 100:
                    self.assertTrue(all(be.colour == "orange" for _, be in pairs))
                self.assertEqual(held.round(), first, f"the held connection moved at canary weight {w}")
        finally:
            held.close()

    def test_4_ipv6_through_every_node(self):
        for dp in self.dps:
            dp.apply(FE6, 70, 30, family=6)
        results = self.lab.fresh(None, TARGET6, (52000, 52599), family=6)
        pairs = self.check_exact(results, family=6)
        self.assertEqual({a for a, _ in pairs}, {n.addr6 for n in self.lab.nodes})
        self.assertEqual({be.name for _, be in pairs}, {p.name for p in self.lab.pods})
        self.assertGreater(sum(1 for a, be in pairs if be.node.addr6 == a), 0)

    def test_6_closed_flow_holds_its_port_for_the_hold_time(self):
        """With the default hold, a closed flow's record and port outlive the linger: gc
        keeps them, so no new flow meets the backend's TIME_WAIT on that port."""
        self.apply_all(50, 50)
        pairs = self.check_exact(self.lab.fresh(None, TARGET, (54000, 54099)))
        time.sleep(2.5)  # past the linger, well within the 60 s hold
        for dp in self.dps:
            dp.cli("flow", "gc")
        held = sum(len(json.loads(subprocess.run(
            ["bpftool", "-j", "map", "dump", "pinned", f"{dp.pin_root}/bs_snat_rev"],
            capture_output=True, text=True, check=True).stdout)) for dp in self.dps)
        self.assertGreaterEqual(held, len(pairs), "closed flows gave their ports back before the hold")

    def test_3_retired_records_free_their_ports(self):
        def held_ports(dp):
            out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", f"{dp.pin_root}/bs_snat_rev"],
                                 capture_output=True, text=True, check=True).stdout
            return len(json.loads(out))

        for dp in self.dps:  # no TIME_WAIT to respect here: gc may free a port after the linger
            dp.cli("node", "set", "--snat-hold", "0")
        self.addCleanup(lambda: [dp.cli("node", "set", "--snat-hold", "60") for dp in self.dps])
        self.apply_all(50, 50)
        pairs = self.check_exact(self.lab.fresh(None, TARGET, (48000, 48199)))
        self.assertEqual(sum(held_ports(dp) for dp in self.dps) >= len(pairs), True,
                         "every flow should hold a port until its record retires")
        time.sleep(2.5)  # the default linger after FIN (2 s), so that gc may retire them
        for dp in self.dps:
            dp.cli("flow", "gc")
            self.assertEqual(held_ports(dp), 0, f"{dp.node.name}: SNAT ports still held after gc")


    def test_5_snat_ports_never_shared_and_freed_on_retire(self):
        """A range of two ports on node 1 and a frontend with one backend: two held flows
        get the two ports; a third finds none and is dropped (counted); once a flow has
        closed and its linger passed, its port serves the next flow — taken over by the
        program itself, no sweep run."""
        n1, dp1 = self.lab.nodes[0], self.dps[0]
        pod = n1.pods[1]  # outside the cgroup: its packets take node 1's tc entry (SNAT)
        target, fe = "10.96.0.40:80", "10.96.0.40:80/tcp"
        backend = self.lab.nodes[1].pods[0]
        dp1.cli("frontend", "apply", "-", input=json.dumps({"frontend": fe, "groups": [
            {"name": "stable", "weight": 100, "backends": [{"address": backend.endpoint()}]}]}))
        dp1.cli("node", "set", "--snat-ports", "62000-62001", "--snat-hold", "0")
        held = []
        try:
            for port in (53001, 53002):
                h = self.lab.hold(pod, target, port, in_cgroup=False)
                held.append(h)
            seen = [h.round() for h in held]
            for r in seen:
                self.assertNotIn("error", r)
                self.assertEqual(r["backend"], backend.name)
                self.assertEqual(r["peer"], target)
            ports = sorted(int(r["seen"].rsplit(":", 1)[1]) for r in seen)
            self.assertEqual(ports, [62000, 62001], "two flows, two distinct ports of the range")
            drops = dp1.reasons().get("drop_snat_ports", 0)
            third = self.lab.fresh(pod, target, (53003, 53003), in_cgroup=False, timeout=2.0)
            self.assertIn("error", third[0], "a third flow found a port in a full range")
            self.assertGreater(dp1.reasons().get("drop_snat_ports", 0), drops)
            freed = int(seen[0]["seen"].rsplit(":", 1)[1])
            held.pop(0).close()
            time.sleep(2.5)  # linger after FIN (2 s): then the port may be taken over
            again = self.lab.fresh(pod, target, (53004, 53004), in_cgroup=False)
            self.assertNotIn("error", again[0])
            self.assertEqual(int(again[0]["seen"].rsplit(":", 1)[1]), freed, "the retired flow's port is reused")
            self.assertEqual(held[0].round(), seen[1], "the other flow kept its port and backend")
        finally:
            for h in held:
                h.close()
            dp1.cli("node", "set", "--snat-ports", "32768-65535", "--snat-hold", "60")
            dp1.cli("frontend", "remove", fe)


class ClusterNorthSouth(NorthSouthBase, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
