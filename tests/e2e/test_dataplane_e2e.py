# SPDX-License-Identifier: BSD-2-Clause
"""End to end: real HTTP from the client namespace through bpfsplit's programs on the
node to green (stable) and orange (canary) backends. Run once with the XDP entry point
(client transmit checksums offloaded off, as from a wire) and once with the tc entry
point (default offloads: CHECKSUM_PARTIAL seeds). The node's backend-side veths always
compute checksums in software, so a wrong checksum shows in TcpInCsumErrors."""

import json
import os
import subprocess
import unittest

from harness import DataPath, Lab, expected_colours, predict_groups, source_ports

N_FRESH = int(os.environ.get("BPFSPLIT_E2E_FRESH", "2000"))


class _DataPathE2E:
    entry = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(n_green=3, n_orange=1, ipv6=True, tx_off_client=(cls.entry == "xdp"))
        cls.lab.up()
        try:
            cls.lab.start_backends()
            cls.dp = DataPath(cls.lab, cls.entry)
            cls.how = cls.dp.attach_node()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.dp.close()
        finally:
            cls.lab.close()

    def setUp(self):
        self.csum_before = self.lab.csum_errors()

    def tearDown(self):
        after = self.lab.csum_errors()
        for ns, counters in after.items():
            for name, value in counters.items():
                self.assertEqual(value, self.csum_before[ns].get(name, 0),
                                 f"{name} moved in {ns}: a rewritten checksum is wrong")

    def fresh_exact(self, w_stable, w_canary, n, family=4, **kw):
        """n fresh connections from source ports the test chooses: the colours they reach
        must be exactly those the shared flow hash predicts for the weights (green =
        stable, orange = canary), every connection answered."""
        ports = source_ports(n)
        # The source address too: with several addresses on the client's interface the
        # kernel's choice (IPv6 especially) is not the test's to predict.
        client = self.lab.client_ipv6 if family == 6 else self.lab.client_ipv4
        r = self.lab.fresh(self.lab.url(family), n=n, source_ports=ports, local_addr=[client], **kw)
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        expected = expected_colours(self.lab, self.dp, (w_stable, w_canary), ("green", "orange"), ports, family)
        self.assertEqual(r["counts"], expected,
                         f"at {w_stable}/{w_canary}: colours reached differ from the flow hash's prediction")
        return r

    def test_attach_reports_entry_point(self):
        self.assertIn("xdp" if self.entry == "xdp" else "tc", self.how)

    def test_split_70_30_ipv4(self):
        self.dp.split(70, 30)
        r = self.fresh_exact(70, 30, N_FRESH, concurrency=8)
        self.assertEqual(set(r["counts"]), {"green", "orange"})

    def test_split_ipv6(self):
        self.dp.split(50, 50, family=6)
        self.fresh_exact(50, 50, 1000, family=6, concurrency=8)

    def test_client_affinity_keeps_each_client_on_one_colour(self):
        addrs = self.lab.client_addresses or self.lab.add_client_addresses(12)
        self.dp.split(50, 50, affinity="client")
        r = self.lab.fresh(self.lab.url(4), n=12 * 20, local_addr=addrs[:12])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        # Client affinity hashes the client address alone: the port plays no part.
        groups = predict_groups(self.dp.hash_key(), (50, 50),
                                [(a, 0, self.lab.vip4, self.lab.vip_port, "tcp") for a in addrs[:12]], "client")
        self.assertEqual(set(groups), {0, 1}, "the test needs clients of both colours: choose other addresses")
        for addr, g in zip(addrs[:12], groups):
            backends = r["by_source"][addr]
            self.assertEqual(len(backends), 1, f"client {addr} reached {backends}")
            self.assertEqual(next(iter(backends))[0], "go"[g], f"client {addr}: colour differs from the prediction")

    def test_open_connections_keep_their_backend_while_weights_change(self):
        self.dp.split(70, 30)
        seen = {}  # connection id -> backends it answered from, over all rounds
        requests = {}
        with self.lab.hold(self.lab.url(4), n=16, requests=25) as held:
            for w in (30, 60, 100, 0):
                self.dp.split(100 - w, w)
                r = held.round()
                self.assertEqual(r["errors"], 0, r)
                self.assertEqual(r["alive"], 16)
                for c in r["connections"]:
                    seen.setdefault(c["id"], set()).update(c["backends"])
                    requests[c["id"]] = requests.get(c["id"], 0) + c["requests"]
                fresh = self.fresh_exact(100 - w, w, 400, concurrency=8)
                if w in (0, 100):
                    self.assertEqual(fresh["counts"], {"orange" if w else "green": 400})
        self.assertEqual(len(seen), 16)
        for cid, backends in seen.items():
            self.assertEqual(requests[cid], 100)
            self.assertEqual(len(backends), 1, f"connection {cid} moved: {backends}")

    def test_reused_source_ports_follow_new_weights(self):
        self.dp.split(100, 0)
        ports = [41001, 41002, 41003, 41004]
        r = self.lab.fresh(self.lab.url(4), n=40, concurrency=4, source_ports=ports)
        self.assertEqual(r["counts"], {"green": 40})
        self.dp.split(0, 100)
        r = self.lab.fresh(self.lab.url(4), n=200, concurrency=4, source_ports=ports)
        self.assertEqual(r["counts"], {"orange": 200}, r)

    def test_draining_backend_finishes_old_connections_gets_no_new(self):
        self.dp.split(100, 0)
        with self.lab.hold(self.lab.url(4), n=12, requests=5) as held:
            first = held.round()
            on_g1 = [c for c in first["connections"] if "g1" in c["backends"]]
            self.assertTrue(on_g1, "no held connection reached g1")
            self.dp.split(100, 0, draining={"g1"})
            fresh = self.lab.fresh(self.lab.url(4), n=300)
            self.assertEqual(fresh["errors"], 0)
            self.assertNotIn("g1", fresh["backends"])
            second = held.round()
            self.assertEqual(second["errors"], 0, second)
            self.assertEqual(second["alive"], 12)
            before = {c["id"]: set(c["backends"]) for c in first["connections"]}
            for c in second["connections"]:
                self.assertEqual(set(c["backends"]), before[c["id"]], "a held connection changed backend")

    def test_no_weight_is_refused_at_once(self):
        self.dp.split(0, 0)
        before = self.dp.reasons()
        r = self.lab.fresh(self.lab.url(4), n=20, concurrency=2, timeout=3)
        self.assertEqual(r["errors"], 20)
        self.assertTrue(all("refused" in s.lower() or "reset" in s.lower() for s in r["error_samples"]),
                        r["error_samples"])
        after = self.dp.reasons()
        self.assertGreaterEqual(after["reject_zero_weight"] - before["reject_zero_weight"], 20)


    def test_new_process_reuses_pins_without_losing_connections(self):
        """The attaching process has long exited; a new one loads again (reusing the
        pinned maps), re-applies and changes weights: held connections never notice."""
        self.dp.split(70, 30)
        with self.lab.hold(self.lab.url(4), n=8, requests=10) as held:
            first = {c["id"]: set(c["backends"]) for c in held.round()["connections"]}
            self.dp.cli("dataplane", "load")
            self.dp.split(0, 100)
            second = held.round()
            self.assertEqual(second["errors"], 0, second)
            for c in second["connections"]:
                self.assertEqual(set(c["backends"]), first[c["id"]])
        self.assertEqual(self.lab.fresh(self.lab.url(4), n=50)["counts"], {"orange": 50})

    def test_rp_filter_strict_and_loose(self):
        self.dp.split(70, 30)
        try:
            for mode in (1, 2):
                self.lab.set_rp_filter(mode)
                self.fresh_exact(70, 30, 300)
        finally:
            self.lab.set_rp_filter(0)

    def test_conntrack_invalid_drop_rule_does_no_harm(self):
        """kube-proxy drops ct state invalid in forward: with DNAT before the stack
        (XDP_PASS or tc ingress) conntrack sees the rewritten connection both ways."""
        rules = ("table inet bstest { chain forward_filter { type filter hook forward priority 0; "
                 "ct state invalid counter drop; }; }")
        self.lab.ns_exec(self.lab.node_ns, ["nft", "-f", "-"], input=rules)
        try:
            self.dp.split(70, 30)
            self.fresh_exact(70, 30, 300)
            listing = self.lab.ns_exec(self.lab.node_ns, ["nft", "list", "table", "inet", "bstest"])
            self.assertIn("counter packets 0 bytes 0", listing)
        finally:
            self.lab.ns_exec(self.lab.node_ns, ["nft", "delete", "table", "inet", "bstest"], check=False)

    def test_bpftool_prints_named_fields(self):
        self.dp.split(70, 30)
        self.lab.fresh(self.lab.url(4), n=20)
        expected = {
            "bs_conns": ({"saddr", "daddr", "sport", "dport", "family", "proto"},
                         {"backend_addr", "backend_port", "backend_id", "frontend_id", "syn_seq", "flags"}),
            "bs_frontends": ({"addr", "port", "family", "proto"}, {"id"}),
            "bs_fe_splits": (None, {"split_id"}),
            "bs_splits": (None, {"n_groups", "affinity", "thresholds", "tables"}),
            "bs_groups": ({"frontend_id", "group"}, {"weight", "table_id", "name"}),
        }
        for name, (key_fields, value_fields) in expected.items():
            out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", f"{self.dp.pin_root}/{name}"],
                                 capture_output=True, text=True, check=True).stdout
            entries = json.loads(out)
            self.assertTrue(entries, f"{name} is empty")
            entry = entries[0]["formatted"]
            if key_fields:
                self.assertEqual(set(entry["key"]) & key_fields, key_fields, name)
            self.assertEqual(set(entry["value"]) & value_fields, value_fields, name)


class XdpEntryE2E(_DataPathE2E, unittest.TestCase):
    entry = "xdp"


class TcEntryE2E(_DataPathE2E, unittest.TestCase):
    entry = "tc-ingress"


if __name__ == "__main__":
    unittest.main()
