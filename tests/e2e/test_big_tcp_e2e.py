# SPDX-License-Identifier: BSD-2-Clause
"""End to end: BIG TCP through bpfsplit's tc entry points. The client, the node and the
backend allow GSO packets of 128 KiB (gso_max_size and gso_ipv4_max_size on every veth of
the path), so the client's stack sends, and the backend's answers, TCP packets over
64 KiB whose IPv4 total length or IPv6 payload length is 0. A 16 MiB upload and its
16 MiB echo through the frontend must arrive complete and intact (a digest on each side),
with no packet passed as truncated or unparsed: such a packet would reach the node
untranslated, addressed to the frontend, and earn an ICMP "unreachable" (the IPv4
connection is then reset). Linux hands tc IPv6 BIG TCP packets with a jumbo hop-by-hop
header. The node's kernel answers forwarded IPv6 BIG TCP packets with "packet too big"
whether bpfsplit is there or not, so the IPv6 client falls back to smaller packets after
the first ones: the test counts the big ones that arrived and the unreachable errors."""

import json
import os
import subprocess
import sys
import time
import unittest

from harness import DataPath, Lab

PY = "/usr/bin/python3"
BIG = 131072
SIZE = 16 << 20
PORT_FE, PORT_BE = 90, 9090

# Backend: for each connection, read to EOF, answer count + sha256 of what came, then
# the same number of bytes of a fixed pattern.
SERVER = r"""
import hashlib, socket, struct, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
PATTERN = bytes(range(256)) * 4096
def serve(c):
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(struct.pack("!Q", n) + h.digest())
    left = n
    while left:
        k = min(left, len(PATTERN))
        c.sendall(PATTERN[:k])
        left -= k
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# Client: upload SIZE bytes, then check the backend's count, digest and echo.
CLIENT = r"""
import hashlib, json, socket, struct, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PATTERN = bytes(range(256)) * 4096
data = (bytes((i * 7 + 3) & 0xff for i in range(65536)) * 16)
c = socket.create_connection((host, port), timeout=30)
h, sent = hashlib.sha256(), 0
while sent < size:
    k = min(size - sent, len(data))
    c.sendall(data[:k])
    h.update(data[:k])
    sent += k
c.shutdown(socket.SHUT_WR)
hdr = b""
while len(hdr) < 40:
    b = c.recv(40 - len(hdr))
    if not b:
        break
    hdr += b
n, digest = struct.unpack("!Q", hdr[:8])[0], hdr[8:]
got, ok = 0, True
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    off = got % len(PATTERN)
    want = (PATTERN[off:] + PATTERN)[:len(b)] if off + len(b) > len(PATTERN) else PATTERN[off:off + len(b)]
    ok = ok and b == want
    got += len(b)
print(json.dumps({"sent": sent, "counted": n, "digest_ok": digest == h.digest(), "echoed": got, "echo_ok": ok}))
"""


# Watch the node's client-facing veth until stdin closes: IP packets over 64 KiB that
# arrive (BIG TCP reached the node), and ICMP "destination unreachable" errors the node
# sends the client (what an untranslated packet to the frontend address earns: the
# frontend address has no route). A packet socket sees arrivals before tc ingress and
# departures after tc egress.
CAPTURE = r"""
import json, select, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
big_in = unreachable_out = 0
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in r:
        break
    b, addr = s.recvfrom(262144)
    et = b[12:14]
    if addr[2] == socket.PACKET_OUTGOING:
        if et == b"\x08\x00" and b[23] == 1 and b[14 + (b[14] & 15) * 4] == 3:
            unreachable_out += 1
        elif et == b"\x86\xdd" and b[20] == 58 and b[54] == 1:
            unreachable_out += 1
    elif len(b) > 14 + 65535:
        big_in += 1
print(json.dumps({"big_in": big_in, "unreachable_out": unreachable_out}), flush=True)
"""

# Set a link's GSO/GRO limits (IPv6 and IPv4) over rtnetlink: Debian 12's iproute2 does
# not know gso_ipv4_max_size. Prints the four values read back.
GSO_SET = r"""
import socket, struct, sys
IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE = 41, 58, 63, 64
RTM_NEWLINK, RTM_GETLINK = 16, 18
ifname, size = sys.argv[1], int(sys.argv[2])
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
def msg(kind, flags, attrs):
    body = struct.pack("=BxHiII", 0, 0, idx, 0, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), kind, flags, 1, 0) + body
attrs = b"".join(struct.pack("=HHI", 8, a, size) for a in
                 (IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE))
s.send(msg(RTM_NEWLINK, 0x1 | 0x4, attrs))
r = s.recv(65536)
err = struct.unpack("=i", r[16:20])[0]
if err:
    sys.exit(f"{ifname}: RTM_NEWLINK: error {err}")
s.send(msg(RTM_GETLINK, 0x1, b""))
r = s.recv(65536)
off, got = 16 + 16, {}
while off + 4 <= len(r):
    ln, typ = struct.unpack("=HH", r[off:off + 4])
    if ln < 4:
        break
    if typ in (IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE):
        got[typ] = struct.unpack("=I", r[off + 4:off + 8])[0]
    off += (ln + 3) & ~3
print(" ".join(str(got.get(a)) for a in (41, 58, 63, 64)))
"""


class BigTcpE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(n_green=1, n_orange=1, ipv6=True)
        cls.lab.up()
        cls.server = None
        try:
            g1 = cls.lab.green[0]
            for ns, ifname in ((cls.lab.client_ns, cls.lab.client_if), (cls.lab.node_ns, cls.lab.node_client_if),
                               (cls.lab.node_ns, g1.node_if), (g1.ns, g1.ifname)):
                got = cls.lab.ns_exec(ns, [PY, "-c", GSO_SET, ifname, str(BIG)]).split()
                if got != [str(BIG)] * 4:
                    raise RuntimeError(f"{ns} {ifname}: GSO/GRO limits read back as {got}, not {BIG}")
            cls.server = subprocess.Popen(["ip", "netns", "exec", g1.ns, PY, "-c", SERVER, str(PORT_BE)],
                                          stdout=subprocess.PIPE, text=True)
            if cls.server.stdout.readline().strip() != "ready":
                raise RuntimeError("the backend's test server did not start")
            cls.dp = DataPath(cls.lab, "tc-ingress")
            cls.dp.attach_node()
            for fe, be in ((f"{cls.lab.vip4}:{PORT_FE}/tcp", f"{g1.ipv4}:{PORT_BE}"),
                           (f"[{cls.lab.vip6}]:{PORT_FE}/tcp", f"[{g1.ipv6}]:{PORT_BE}")):
                cls.dp.apply(fe, [{"name": "big", "weight": 1, "backends": [be]}])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "dp", None):
                cls.dp.close()
        finally:
            if cls.server:
                cls.server.kill()
                cls.server.wait()
            cls.lab.close()

    def transfer(self, host):
        before = self.dp.reasons()
        cap = subprocess.Popen(["ip", "netns", "exec", self.lab.node_ns, PY, "-c", CAPTURE, self.lab.node_client_if],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(cap.stdout.readline().strip(), "ready")
            proc = subprocess.run(["ip", "netns", "exec", self.lab.client_ns, PY, "-c", CLIENT, host, str(PORT_FE),
                                   str(SIZE)], capture_output=True, text=True, timeout=120)
        finally:
            seen = json.loads(cap.communicate(input="", timeout=30)[0] or "{}")
        self.assertEqual(proc.returncode, 0, f"transfer to {host}:{PORT_FE} failed: {proc.stderr[-2000:]}")
        r = json.loads(proc.stdout)
        after = self.dp.reasons()
        self.assertEqual(r, {"sent": SIZE, "counted": SIZE, "digest_ok": True, "echoed": SIZE, "echo_ok": True})
        # BIG TCP really happened (or the test proves nothing)...
        self.assertGreater(seen.get("big_in", 0), 0, "no packet over 64 KiB reached the node")
        # ...and every such packet was translated: none passed as truncated or unparsed
        # on to the frontend address, which has no route.
        self.assertEqual(seen.get("unreachable_out"), 0, "the node answered untranslated packets")
        self.assertEqual(after["pass_truncated"], before["pass_truncated"], "packets were passed as truncated")
        self.assertGreater(after["reply_nat"], before["reply_nat"])

    def test_big_tcp_ipv4(self):
        self.transfer(self.lab.vip4)

    def test_big_tcp_ipv6(self):
        self.transfer(self.lab.vip6)


if __name__ == "__main__":
    unittest.main()
