# SPDX-License-Identifier: BSD-2-Clause
"""Cluster benchmarks: the three ways a pod's connection to a Service can be split, side by
side in one run of the cluster lab (tests/lab/cluster.py, three nodes, six pods):

  connect-time   bpfsplit's socket hooks on node 1's cgroup: the client (wrk in pod n1o,
                 inside that cgroup) connects straight to the chosen backend, no packet work
  packet-path    the same frontend reached by the same pod outside the cgroup: bpfsplit's
                 tc entry point on node 1's pod bridge, SNAT to the node address, replies
                 translated back (the north-south path)
  nftables       kube-proxy-style nftables DNAT (numgen random over the six pods) in node 1's
                 namespace for another cluster IP, no bpfsplit involved

All three split over the same five backends (bench/http_backend, port 8081, in every pod
but the client's): green pods stable (70), orange pods canary (30). Load: wrk from pod n1o, new connections
(`Connection: close`) and keep-alive, runs interleaved (order shuffled in every repeat).
Figures: requests/s, machine-wide CPU time per request, latency, the canary share served.
"""

import json
import math
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from cluster import ClusterLab, NodeDataPath, frontend  # noqa: E402
from lab import LabError  # noqa: E402

WRK_LUA = os.path.join(HERE, "wrk_report.lua")
HZ = os.sysconf("SC_CLK_TCK")
BENCH_PORT = 8081
BPF_VIP = "10.96.0.11"
NFT_VIP = "10.96.0.30"
CASES = ("connect-time", "packet-path", "nftables")


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle, sum(fields[:8])


STATS_PY = r"""
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        out[target] = json.loads(data.split(b"\r\n\r\n", 1)[1]).get("requests")
    except (OSError, ValueError, IndexError):
        out[target] = None
print(json.dumps(out))
"""


class ClusterBench:
    def __init__(self, build, log):
        self.build, self.log = build, log
        self.lab = ClusterLab(n_nodes=3, pods_per_node=2)
        self.node = None

    def setup(self):
        lab = self.lab
        lab.up()
        self.node = lab.nodes[0]
        self.client = self.node.pods[1]
        binary = os.path.join(self.build, "bench", "http_backend")
        for p in lab.pods:
            lab.spawn(p.ns, [binary, "--port", str(BENCH_PORT), "--name", p.name, "--colour", p.colour,
                             "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.dps = [NodeDataPath(lab, n, os.path.join(self.build, "bpfsplit")) for n in lab.nodes]
        for dp in self.dps:
            dp.attach_cgroup()
            dp.attach_snat()
            dp.apply(frontend(BPF_VIP, 80), 70, 30, port=BENCH_PORT, exclude=(self.client,))
        # kube-proxy-style, weighted like the split: slots per pod so that the greens together
        # hold 70% and the oranges 30%. (The client pod is no backend: kube-proxy's rules
        # would need hairpin masquerade for it.)
        backends = [p for p in lab.pods if p is not self.client]
        n_green = sum(1 for p in backends if p.colour == "green")
        n_orange = len(backends) - n_green
        g = math.gcd(70 * n_orange, 30 * n_green)
        targets = [(p, (70 * n_orange if p.colour == "green" else 30 * n_green) // g) for p in backends]
        slots, i = [], 0
        for p, w in targets:
            for _ in range(w):
                slots.append(f"{i} : {p.addr} . {BENCH_PORT}")
                i += 1
        lab.nft(self.node.ns, f"""table ip kubeproxy-bench {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {NFT_VIP} tcp dport 80 dnat to numgen random mod {i} map {{ {", ".join(slots)} }}
  }}
}}
""")
        self.wait_backends()

    def wait_backends(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            if all(v is not None for v in self.stats().values()):
                return
            if time.monotonic() > deadline:
                raise LabError("http_backend did not start in every pod")
            time.sleep(0.1)

    def stats(self):
        pods = [p for p in self.lab.pods if p is not self.client]
        out = self.lab.run_in(self.node.ns, ["/usr/bin/python3", "-c", STATS_PY] + [p.endpoint(BENCH_PORT) for p in pods])
        data = json.loads(out)
        return {p.name: data.get(p.endpoint(BENCH_PORT)) for p in pods}

    def wrk(self, case, duration, connections, fresh):
        url = f"http://{NFT_VIP if case == 'nftables' else BPF_VIP}:80/"
        argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "-s", WRK_LUA]
        if fresh:
            argv += ["-H", "Connection: close"]
        argv.append(url)
        node = self.node if case == "connect-time" else None
        before = self.stats()
        busy0, _ = cpu_times()
        out = self.lab.run_in(self.client.ns, argv, node=node, timeout=duration + 60)
        busy1, _ = cpu_times()
        after = self.stats()
        line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise LabError(f"wrk printed no result: {out[-500:]}")
        w = json.loads(line[len("WRKJSON "):])
        served = {k: (after[k] or 0) - (before[k] or 0) for k in after}
        total = sum(served.values()) or 1
        cpu_s = (busy1 - busy0) / HZ
        return {
            "requests": w["requests"],
            "rate_per_s": w["requests"] / (w["duration_us"] / 1e6),
            "latency_p50_us": w["latency_us"]["p50"],
            "latency_p99_us": w["latency_us"]["p99"],
            "errors": sum(w["errors"].values()),
            "error_detail": w["errors"],
            "cpu_us_per_request": cpu_s * 1e6 / max(1, w["requests"]),
            "served": served,
            "canary_share": sum(v for k, v in served.items() if self.lab.pod_by_name(k).colour == "orange") / total,
        }

    def reasons(self):
        return self.dps[0].reasons()

    def close(self):
        self.lab.close()


def run_cluster(build, repeats=3, duration=3, fresh_conns=32, keepalive_conns=32, log=print):
    bench = ClusterBench(build, log)
    runs = {c: {"fresh": [], "keepalive": []} for c in CASES}
    try:
        bench.setup()
        r0 = bench.reasons()
        for rep in range(repeats):
            order = list(CASES)
            random.shuffle(order)
            for case in order:
                for mode in ("fresh", "keepalive"):
                    r = bench.wrk(case, duration, fresh_conns if mode == "fresh" else keepalive_conns,
                                  mode == "fresh")
                    runs[case][mode].append(r)
                    log(f"cluster {case} {mode} repeat {rep + 1}: {r['rate_per_s']:.0f}/s "
                        f"cpu {r['cpu_us_per_request']:.1f} us/req canary {r['canary_share']:.2f}")
        r1 = bench.reasons()
        paths = {k: r1.get(k, 0) - r0.get(k, 0) for k in ("sock_connect", "snat_new", "snat_reply")}
    finally:
        bench.close()

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if xs else None

    summary = {c: {m: {k: med([r[k] for r in runs[c][m]]) for k in ("rate_per_s", "cpu_us_per_request",
                                                                    "latency_p99_us", "canary_share")}
                   for m in ("fresh", "keepalive")} for c in CASES}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {
        "measured": {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": commit},
        "conditions": {"repeats": repeats, "duration_s": duration, "fresh_connections": fresh_conns,
                       "keepalive_connections": keepalive_conns, "nodes": 3, "backends": 5,
                       "client": "wrk in pod n1o (node 1)"},
        "runs": runs,
        "medians": summary,
        "paths_counted_on_node1": paths,
    }
