# SPDX-License-Identifier: BSD-2-Clause
"""Self-test of the bpfsplit namespace lab (lab.py, client.py, colour_server.py).

Needs root, ip/ethtool/nstat.  Run:
    /usr/bin/python3 -m unittest discover -s tests/lab -v

No BPF program is attached here: traffic goes straight to backend addresses
through the node, which checks topology, routing (both ways, IPv4 and IPv6),
the client's JSON output, checksum accounting and that every exit path
removes the lab.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as labmod  # noqa: E402
from lab import Lab, PYTHON, list_namespaces, read_marker  # noqa: E402

LAB_PY = os.path.join(HERE, "lab.py")

FETCH = ("import sys, urllib.request\n"
         "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")

# Sends three TCP SYNs whose checksum is wrong (raw socket: a full checksum,
# as from a wire).  argv: src dst dport
BAD_SYN = r"""
import random, socket, struct, sys
src, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])

def csum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

tcp = struct.pack("!HHIIBBHHH", random.randint(20000, 30000), dport,
                  random.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
pseudo = (socket.inet_aton(src) + socket.inet_aton(dst)
          + struct.pack("!BBH", 0, 6, len(tcp)))
bad = (csum(pseudo + tcp) + 0x0101) & 0xffff
tcp = tcp[:16] + struct.pack("!H", bad) + tcp[18:]
iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                  socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for _ in range(3):
    s.sendto(iph + tcp, (dst, 0))
"""

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
from lab import Lab
with Lab(n_green=1, n_orange=0) as lab:
    lab.start_backends()
    print(json.dumps({{"namespaces": lab.namespaces, "workdir": lab.workdir}}),
          flush=True)
    time.sleep(120)
"""


def lab_cli(*args, check=True):
    out = subprocess.run([PYTHON, LAB_PY] + list(args), capture_output=True,
                         text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"lab.py {args} failed: {out.stderr}")
    return out


def wait_gone(names, timeout=15.0):
    """Wait until none of names is in `ip netns list`; return leftovers."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(set(names) & set(list_namespaces()))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


class DefaultLabTest(unittest.TestCase):
    """The default topology: 3 green + 1 orange, dual-stack."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.lab.up()
        try:
            cls.lab.start_backends()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        names = cls.lab.namespaces
        cls.lab.close()
        left = wait_gone(names, timeout=5)
        assert not left, f"namespaces left behind: {left}"

    def fetch(self, url):
        out = self.lab.ns_exec(self.lab.client_ns, [PYTHON, "-c", FETCH, url])
        return out.strip()

    def test_namespaces_are_marked(self):
        lab = self.lab
        self.assertEqual(len(lab.backends), 4)
        self.assertEqual([b.colour for b in lab.backends],
                         ["green"] * 3 + ["orange"])
        existing = set(list_namespaces())
        for ns in lab.namespaces:
            self.assertIn(ns, existing)
            marker = read_marker(ns)
            self.assertEqual(marker["id"], lab.id)
            self.assertEqual(int(marker["pid"]), os.getpid())

    def test_node_and_client_settings(self):
        lab = self.lab
        self.assertEqual(lab.sysctl(lab.node_ns, "net.ipv4.ip_forward"), "1")
        self.assertEqual(lab.sysctl(lab.node_ns,
                                    "net.ipv6.conf.all.forwarding"), "1")
        for iface in ["all", lab.node_client_if, lab.backends[0].node_if]:
            self.assertEqual(lab.sysctl(
                lab.node_ns, f"net.ipv4.conf.{iface}.rp_filter"), "0")
        self.assertEqual(lab.sysctl(lab.client_ns, "net.ipv4.tcp_tw_reuse"), "1")
        for b in lab.backends:
            self.assertFalse(lab.tx_offload(lab.node_ns, b.node_if))
        self.assertFalse(lab.tx_offload(lab.node_ns, lab.node_client_if))
        self.assertTrue(lab.tx_offload(lab.client_ns, lab.client_if))

    def test_vip_is_routed_to_node_but_not_assigned(self):
        lab = self.lab
        for family, vip in ((4, lab.vip4), (6, lab.vip6)):
            route = lab.ns_exec(lab.client_ns, ["ip", f"-{family}", "route",
                                                "get", vip])
            self.assertIn(f"dev {lab.client_if}", route)
            self.assertIn("via", route)
            for ns in (lab.client_ns, lab.node_ns):
                addrs = lab.ns_exec(ns, ["ip", "addr"])
                self.assertNotIn(vip + "/", addrs)

    def test_node_neighbours_are_permanent(self):
        lab = self.lab
        neigh = lab.ns_exec(lab.node_ns, ["ip", "neigh", "show"])
        for b in lab.backends:
            self.assertIn(f"{b.ipv4} dev {b.node_if} lladdr {b.mac} PERMANENT",
                          neigh)
        neigh = lab.ns_exec(lab.client_ns, ["ip", "neigh", "show"])
        self.assertIn(f"lladdr {lab.node_client_mac} PERMANENT", neigh)

    def test_each_backend_answers_directly_v4_and_v6(self):
        lab = self.lab
        for b in lab.backends:
            for family, client_addr in ((4, lab.client_ipv4),
                                        (6, lab.client_ipv6)):
                with self.subTest(backend=b.name, family=family):
                    r = lab.fresh(lab.backend_url(b, family), n=3)
                    self.assertEqual(r["counts"], {b.colour: 3})
                    self.assertEqual(r["backends"], {b.name: 3})
                    self.assertEqual(r["errors"], 0, r["error_samples"])
                    who = json.loads(self.fetch(
                        lab.backend_url(b, family, "/whoami")))
                    self.assertEqual(who["backend"], b.name)
                    self.assertEqual(who["colour"], b.colour)
                    self.assertEqual(who["client_addr"], client_addr)
                    self.assertEqual(who["server_addr"],
                                     b.ipv6 if family == 6 else b.ipv4)

    def test_html_page(self):
        page = self.fetch(self.lab.backend_url("o1", 4, "/"))
        self.assertIn("orange", page)
        self.assertIn("<html>", page)

    def test_fresh_json(self):
        lab = self.lab
        r = lab.fresh(lab.backend_url("g2"), n=300, concurrency=8)
        self.assertEqual(r["errors"], 0, r["error_samples"])
        self.assertEqual((r["n"], r["ok"]), (300, 300))
        self.assertEqual(r["counts"], {"green": 300})
        self.assertEqual(r["backends"], {"g2": 300})
        self.assertGreater(r["source_ports_distinct"], 8)
        self.assertGreater(r["rate_per_s"], 0)

    def test_fresh_same_source_port(self):
        lab = self.lab
        r = lab.fresh(lab.backend_url("g3", 6), n=10, source_ports=[41234])
        self.assertEqual(r["errors"], 0, r["error_samples"])
        self.assertEqual(r["backends"], {"g3": 10})
        self.assertEqual(r["source_ports_distinct"], 1)
        r = lab.fresh(lab.backend_url("g3"), n=12, concurrency=3,
                      source_ports=[41240, 41241, 41242])
        self.assertEqual((r["ok"], r["source_ports_distinct"]), (12, 3), r)

    def test_fresh_several_source_addresses(self):
        lab = self.lab
        if not lab.client_addresses:
            lab.add_client_addresses(3)
        addrs = lab.client_addresses[:3]
        r = lab.fresh(lab.backend_url("o1"), n=9, local_addr=addrs)
        self.assertEqual(r["errors"], 0, r["error_samples"])
        self.assertEqual(r["by_source"], {a: {"o1": 3} for a in addrs})
        who = json.loads(lab.ns_exec(lab.client_ns, [
            PYTHON, "-c",
            "import socket, sys\n"
            "s = socket.create_connection((sys.argv[1], 8080), 5, (sys.argv[2], 0))\n"
            "s.sendall(b'GET /whoami HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
            "print(b''.join(iter(lambda: s.recv(4096), b'')).split(b'\\r\\n\\r\\n', 1)[1].decode())",
            lab.backend("o1").ipv4, addrs[1]]))
        self.assertEqual(who["client_addr"], addrs[1])

    def test_hold_json(self):
        lab = self.lab
        url = lab.backend_url("o1")
        with lab.hold(url, n=4, requests=10) as h:
            self.assertTrue(h.ready["ready"])
            self.assertEqual(h.ready["alive"], 4)
            ports = h.ready["local_ports"]
            self.assertEqual(len(set(ports)), 4)
            for number in (1, 2):
                r = h.round()
                self.assertEqual(r["round"], number)
                self.assertEqual(r["errors"], 0)
                self.assertEqual([c["local_port"] for c in r["connections"]],
                                 ports)
                for c in r["connections"]:
                    self.assertTrue(c["alive"])
                    self.assertEqual(c["requests"], 10)
                    self.assertEqual(c["backends"], {"o1": 10})
                    self.assertEqual(c["colours"], {"orange": 10})
            r = h.round(3)
            self.assertEqual(r["connections"][0]["backends"], {"o1": 3})
            final = h.close()
        self.assertEqual(final, {"closed": True, "rounds": 3})

    def test_no_checksum_errors_with_software_checksums(self):
        lab = self.lab
        for b in lab.backends:
            for family in (4, 6):
                r = lab.fresh(lab.backend_url(b, family), n=100)
                self.assertEqual(r["errors"], 0, r["error_samples"])
        for ns, counters in lab.csum_errors().items():
            with self.subTest(ns=ns):
                self.assertEqual(counters["TcpInCsumErrors"], 0, counters)
                self.assertEqual(counters["UdpInCsumErrors"], 0, counters)

    def test_stop_and_start_backend(self):
        lab = self.lab
        lab.stop_backend("g1")
        r = lab.fresh(lab.backend_url("g1"), n=2, timeout=1)
        self.assertEqual(r["errors"], 2)
        lab.start_backend("g1")
        r = lab.fresh(lab.backend_url("g1"), n=2)
        self.assertEqual(r["backends"], {"g1": 2})


class OtherSettingsTest(unittest.TestCase):
    """IPv4 only, rp_filter 2 then 1, software checksums on the client."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(n_green=1, n_orange=1, ipv6=False, rp_filter=2,
                      tx_off_client=True, tcp_tw_reuse=2)
        cls.lab.up()
        try:
            cls.lab.start_backends()
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def test_rp_filter_modes(self):
        lab = self.lab
        for mode in (2, 1):
            lab.set_rp_filter(mode)
            for iface in ["all", "default", lab.node_client_if, "to-o1"]:
                self.assertEqual(lab.sysctl(
                    lab.node_ns, f"net.ipv4.conf.{iface}.rp_filter"), str(mode))
            r = lab.fresh(lab.backend_url("o1"), n=20)
            self.assertEqual(r["backends"], {"o1": 20}, r["error_samples"])

    def test_client_tx_off_and_tw_reuse(self):
        lab = self.lab
        self.assertFalse(lab.tx_offload(lab.client_ns, lab.client_if))
        self.assertEqual(lab.sysctl(lab.client_ns, "net.ipv4.tcp_tw_reuse"), "2")
        addrs = lab.ns_exec(lab.client_ns, ["ip", "addr"])
        self.assertNotIn("fd00:200::2", addrs)

    def test_bad_checksum_is_counted(self):
        """Positive control: a wrong TCP checksum shows in the backend's
        TcpInCsumErrors (what the end-to-end tests rely on)."""
        lab = self.lab
        g1 = lab.backend("g1")
        before = lab.nstat_csum_errors(g1.ns)["TcpInCsumErrors"]
        lab.ns_exec(lab.client_ns, [PYTHON, "-c", BAD_SYN, lab.client_ipv4,
                                    g1.ipv4, str(g1.port)])
        deadline = time.monotonic() + 3
        while True:
            after = lab.nstat_csum_errors(g1.ns)["TcpInCsumErrors"]
            if after > before or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertGreaterEqual(after - before, 1)
        other = lab.nstat_csum_errors(lab.backend("o1").ns)
        self.assertEqual(other["TcpInCsumErrors"], 0)


class CleanupTest(unittest.TestCase):
    """Every exit path removes the namespaces and the work directory."""

    def assert_removed(self, names, workdir, timeout=5.0):
        self.assertEqual(wait_gone(names, timeout), [])
        self.assertFalse(os.path.exists(workdir), workdir)

    def test_context_exit(self):
        with Lab(n_green=1, n_orange=1) as lab:
            lab.start_backends()
            names, workdir = lab.namespaces, lab.workdir
            pid = lab.backends[0].pid
            self.assertTrue(set(names) <= set(list_namespaces()))
        self.assert_removed(names, workdir, timeout=0)
        self.assertIsNone(labmod.proc_start_time(pid))

    def test_exception_inside_block(self):
        with self.assertRaises(ZeroDivisionError):
            with Lab(n_green=1, n_orange=0) as lab:
                names, workdir = lab.namespaces, lab.workdir
                1 / 0
        self.assert_removed(names, workdir, timeout=0)

    def test_failed_setup_cleans_up(self):
        lab = Lab(n_green=1, n_orange=0)
        lab.backends[0].node_if = "x" * 20   # too long: `ip link add` fails
        with self.assertRaises(labmod.LabError):
            lab.up()
        self.assert_removed(lab.namespaces, lab.workdir, timeout=0)

    def run_child_and_kill(self, sig):
        child = subprocess.Popen([PYTHON, "-c", CHILD.format(here=HERE)],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline()
            if not line:
                self.fail(f"child lab failed: {child.stderr.read()}")
            info = json.loads(line)
            self.assertTrue(set(info["namespaces"]) <= set(list_namespaces()))
            child.send_signal(sig)
            rc = child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()
        return info, rc

    def test_sigterm(self):
        info, rc = self.run_child_and_kill(signal.SIGTERM)
        self.assertEqual(rc, 128 + signal.SIGTERM)
        self.assert_removed(info["namespaces"], info["workdir"], timeout=0)

    def test_sigint(self):
        info, rc = self.run_child_and_kill(signal.SIGINT)
        self.assertNotEqual(rc, 0)
        self.assert_removed(info["namespaces"], info["workdir"], timeout=0)

    def test_sigkill_reaper(self):
        info, rc = self.run_child_and_kill(signal.SIGKILL)
        self.assertEqual(rc, -signal.SIGKILL)
        self.assert_removed(info["namespaces"], info["workdir"], timeout=15)


class CliTest(unittest.TestCase):
    """lab.py up / down --state / down --all-stale."""

    def setUp(self):
        fd, self.state = tempfile.mkstemp(prefix="bslab-state-", suffix=".json")
        os.close(fd)

    def tearDown(self):
        if os.path.exists(self.state):
            lab_cli("down", "--state", self.state, check=False)
        if os.path.exists(self.state):
            os.unlink(self.state)

    def test_up_then_down(self):
        lab_cli("up", "--state", self.state, "--green", "1", "--orange", "1",
                "--owner-pid", "0")
        with open(self.state) as f:
            state = json.load(f)
        names = state["namespaces"]
        self.assertTrue(set(names) <= set(list_namespaces()))
        self.assertEqual([b["name"] for b in state["backends"]], ["g1", "o1"])
        self.assertEqual(state["node"]["client_if"], "to-client")
        lab = Lab.attach(self.state)
        r = lab.fresh(lab.backend_url("o1", 6), n=5)
        self.assertEqual(r["backends"], {"o1": 5})
        lab.close()   # attached: must not remove anything
        self.assertTrue(set(names) <= set(list_namespaces()))
        lab_cli("down", "--state", self.state)
        self.assertEqual(wait_gone(names, 0), [])
        self.assertFalse(os.path.exists(state["workdir"]))
        self.assertFalse(os.path.exists(self.state))

    def test_down_all_stale(self):
        dead = subprocess.Popen(["true"])
        dead.wait()
        lab_cli("up", "--state", self.state, "--green", "1", "--orange", "0",
                "--no-backends", "--owner-pid", str(dead.pid))
        with open(self.state) as f:
            stale = json.load(f)
        with Lab(n_green=1, n_orange=0) as live:
            removed = {}
            for lab_id in (stale["id"], live.id):
                out = lab_cli("down", "--all-stale", "--id", lab_id)
                removed[lab_id] = json.loads(out.stdout)["removed"]
            self.assertEqual(removed[live.id], [])
            self.assertTrue(set(live.namespaces) <= set(list_namespaces()))
        self.assertEqual(sorted(removed[stale["id"]]),
                         sorted(stale["namespaces"]))
        self.assertEqual(wait_gone(stale["namespaces"], 0), [])
        self.assertFalse(os.path.exists(stale["workdir"]))


if __name__ == "__main__":
    unittest.main()
