# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end benchmarks in the network-namespace lab.

Real HTTP from the lab's client namespace through the node to the backends, with
each splitter set up and torn down in the same lab, runs interleaved (the order of
splitters is shuffled in every repeat):

  direct        the client talks to backend g1 itself (routed through the node): the floor
  bpf-xdp       bpfsplit, XDP entry on the node's client-facing veth + tc egress (reverse NAT)
  bpf-tc        bpfsplit, tc (tcx) ingress entry + tc egress
  iptables      DNAT with -m statistic --mode random, chained like kube-proxy's iptables mode
  nftables      DNAT with numgen random, vmap to one chain per endpoint (kube-proxy nftables mode)
  haproxy-tcp   HAProxy 2.6 in the node namespace, mode tcp, weighted roundrobin, VIP on the node's lo
  haproxy-http  the same in mode http
  bpf-xdp-1be, bpf-tc-1be   the keep-alive control: bpfsplit with one group of one backend
                (g1, weight 100), compared with direct to g1

Splits are 70/30: stable = g1, g2, g3 (70 in total), canary = o1 (30). iptables, nftables
and HAProxy run in the node namespace only (`ip netns exec`); the bpfsplit CLI runs with
`nsenter --net` (bpffs stays visible) into its own pin root under /sys/fs/bpf/bs-bench-*.

Load: wrk in the client namespace. Keep-alive: persistent connections. New connections:
wrk with `-H "Connection: close"` (a fresh TCP connection per request; the backend closes
first). Backends: bench/http_backend (C, epoll) in each backend namespace,
not the lab's Python colour servers, which cap near 4,000 connections/s; one worker
thread per CPU each.
"""

import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from lab import Lab, LabError, run  # noqa: E402
import harness  # noqa: E402

WRK_LUA = os.path.join(HERE, "wrk_report.lua")
FRONTEND4 = "10.96.0.10:80/tcp"
VIP = "10.96.0.10"
HZ = os.sysconf("SC_CLK_TCK")


# ---- measuring -------------------------------------------------------------------------

def cpu_times():
    """(busy, total) jiffies of the whole machine from /proc/stat's cpu line."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


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
        out[target] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    except (OSError, ValueError, IndexError):
        out[target] = None
print(json.dumps(out))
"""


def backend_stats(lab):
    """{backend name: requests served} read from each http_backend (from the node)."""
    targets = [f"{b.ipv4}:{b.port}" for b in lab.backends]
    out = lab.ns_exec(lab.node_ns, ["/usr/bin/python3", "-c", STATS_PY] + targets, timeout=30)
    data = json.loads(out)
    return {b.name: (data.get(f"{b.ipv4}:{b.port}") or {}).get("requests") for b in lab.backends}


def wrk(lab, url, duration, connections, threads, fresh):
    argv = ["ip", "netns", "exec", lab.client_ns, "wrk", "-t", str(threads), "-c", str(connections),
            "-d", f"{duration}s", "--timeout", "5s", "-s", WRK_LUA]
    if fresh:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    before = backend_stats(lab)
    busy0, total0 = cpu_times()
    t0 = time.monotonic()
    out = run(argv, timeout=duration + 60)
    elapsed = time.monotonic() - t0
    busy1, total1 = cpu_times()
    after = backend_stats(lab)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise LabError(f"wrk printed no result: {out[-500:]}")
    w = json.loads(line[len("WRKJSON "):])
    served = {k: (after[k] or 0) - (before[k] or 0) for k in after}
    total_served = sum(served.values()) or 1
    cpu_s = (busy1 - busy0) / HZ
    errors = sum(w["errors"].values())
    return {
        "requests": w["requests"],
        "duration_s": w["duration_us"] / 1e6,
        "rate_per_s": w["requests"] / (w["duration_us"] / 1e6),
        "latency_p50_us": w["latency_us"]["p50"],
        "latency_p99_us": w["latency_us"]["p99"],
        "latency_mean_us": w["latency_us"]["mean"],
        "errors": errors,
        "error_detail": w["errors"],
        "cpu_s": cpu_s,
        "cpu_busy_fraction": (busy1 - busy0) / max(1, total1 - total0),
        "cpu_us_per_request": cpu_s * 1e6 / max(1, w["requests"]),
        "wall_s": elapsed,
        "served": served,
        "canary_share": served.get("o1", 0) / total_served,
        "g1_share": served.get("g1", 0) / total_served,
    }


# ---- backends -----------------------------------------------------------------------------

def start_fast_backends(lab, binary, threads):
    for b in lab.backends:
        if b.process is not None and b.process.poll() is None:
            continue
        log = open(os.path.join(lab.workdir, f"{b.name}.log"), "ab")
        with log:
            b.process = subprocess.Popen(
                ["ip", "netns", "exec", b.ns, binary, "--port", str(b.port), "--name", b.name,
                 "--colour", b.colour, "--threads", str(threads)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        b.pid = b.process.pid
    lab.wait_backends(lab.backends)


# ---- splitters -----------------------------------------------------------------------------

class Splitter:
    name = "?"
    modes = ("fresh", "keepalive")
    expect = "split"  # "split": canary share ~0.30; "g1": everything to g1

    def url(self, lab):
        return f"http://{VIP}:80/color"

    def setup(self, lab):
        pass

    def teardown(self, lab):
        pass


class Direct(Splitter):
    name = "direct"
    expect = "g1"

    def url(self, lab):
        return lab.backend_url(lab.green[0])


class Bpfsplit(Splitter):
    def __init__(self, entry, one_backend=False, pin_prefix="/sys/fs/bpf/bs-bench-e2e"):
        self.entry = entry
        self.one_backend = one_backend
        self.name = ("bpf-xdp" if entry == "xdp" else "bpf-tc") + ("-1be" if one_backend else "")
        if one_backend:
            self.modes = ("keepalive",)
            self.expect = "g1"
        self.pin_prefix = pin_prefix
        self.seq = 0
        self.dp = None
        self.how = None

    def setup(self, lab):
        self.seq += 1
        pin_root = f"{self.pin_prefix}-{self.name}-{self.seq}"
        self.dp = harness.DataPath(lab, self.entry, pin_root=pin_root, max_conns=262144)
        deadline = time.monotonic() + 15
        while True:  # a detach just before may still be finishing (EBUSY): docs/datapath-notes.md
            try:
                self.how = self.dp.attach(lab.node_client_if, self.entry)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.dp.attach(lab.node_client_if, "tc-egress")
        if self.one_backend:
            g1 = lab.green[0]
            self.dp.apply(FRONTEND4, [{"name": "stable", "weight": 100,
                                       "backends": [{"address": f"{g1.ipv4}:{g1.port}", "state": "ready"}]}])
        else:
            self.dp.split(70, 30)

    def teardown(self, lab):
        if self.dp is not None:
            self.dp.close()
            self.dp = None


IPTABLES_RULES = """*nat
:BSBENCH-SVC - [0:0]
:BSBENCH-SEP-G1 - [0:0]
:BSBENCH-SEP-G2 - [0:0]
:BSBENCH-SEP-G3 - [0:0]
:BSBENCH-SEP-O1 - [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j BSBENCH-SVC
-A BSBENCH-SVC -m statistic --mode random --probability 0.23333333349 -j BSBENCH-SEP-G1
-A BSBENCH-SVC -m statistic --mode random --probability 0.30434782617 -j BSBENCH-SEP-G2
-A BSBENCH-SVC -m statistic --mode random --probability 0.43750000000 -j BSBENCH-SEP-G3
-A BSBENCH-SVC -j BSBENCH-SEP-O1
-A BSBENCH-SEP-G1 -p tcp -m tcp -j DNAT --to-destination 10.201.1.2:8080
-A BSBENCH-SEP-G2 -p tcp -m tcp -j DNAT --to-destination 10.201.2.2:8080
-A BSBENCH-SEP-G3 -p tcp -m tcp -j DNAT --to-destination 10.201.3.2:8080
-A BSBENCH-SEP-O1 -p tcp -m tcp -j DNAT --to-destination 10.201.4.2:8080
COMMIT
"""
# g1: 70/3 % = 0.2333; g2: (70/3)/(100-70/3) = 0.3043; g3: (70/3)/(100-140/3) = 0.4375; o1: the rest (30%).

NFT_RULES = """table ip bsbench {
  chain ep-g1 {
    meta l4proto tcp dnat to 10.201.1.2:8080
  }
  chain ep-g2 {
    meta l4proto tcp dnat to 10.201.2.2:8080
  }
  chain ep-g3 {
    meta l4proto tcp dnat to 10.201.3.2:8080
  }
  chain ep-o1 {
    meta l4proto tcp dnat to 10.201.4.2:8080
  }
  chain svc {
    numgen random mod 300 vmap { 0-69 : goto ep-g1, 70-139 : goto ep-g2, 140-209 : goto ep-g3, 210-299 : goto ep-o1 }
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.96.0.10 tcp dport 80 goto svc
  }
}
"""


class Iptables(Splitter):
    name = "iptables"

    def setup(self, lab):
        lab.ns_exec(lab.node_ns, ["iptables-restore", "--noflush"], input=IPTABLES_RULES)

    def teardown(self, lab):
        # iptables here is iptables-nft: flushing the node namespace's ruleset removes the
        # nat table and its hooks (a bare `iptables -F` would leave them registered).
        lab.ns_exec(lab.node_ns, ["nft", "flush", "ruleset"])


class Nftables(Splitter):
    name = "nftables"

    def setup(self, lab):
        lab.ns_exec(lab.node_ns, ["nft", "-f", "-"], input=NFT_RULES)

    def teardown(self, lab):
        lab.ns_exec(lab.node_ns, ["nft", "flush", "ruleset"])


HAPROXY_CFG = """global
    maxconn 8000
    nbthread {threads}
    tune.maxaccept 64

defaults
    mode {mode}
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option dontlognull

frontend fe
    bind {vip}:80
    default_backend be

backend be
    balance roundrobin
    server g1 10.201.1.2:8080 weight 70
    server g2 10.201.2.2:8080 weight 70
    server g3 10.201.3.2:8080 weight 70
    server o1 10.201.4.2:8080 weight 90
"""


class Haproxy(Splitter):
    def __init__(self, mode):
        self.mode = mode
        self.name = f"haproxy-{mode}"
        self.proc = None
        self.threads = os.cpu_count() or 2

    def setup(self, lab):
        cfg = os.path.join(lab.workdir, f"{self.name}.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(mode=self.mode, vip=VIP, threads=self.threads))
        # The VIP must be local to the node for a proxy to accept it: on the node's lo.
        lab.ns_exec(lab.node_ns, ["ip", "addr", "add", f"{VIP}/32", "dev", "lo"])
        log = open(os.path.join(lab.workdir, f"{self.name}.log"), "ab")
        with log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", lab.node_ns, "haproxy", "-f", cfg, "-db"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            out = lab.ns_exec(lab.client_ns, ["/usr/bin/python3", os.path.join(ROOT, "tests", "lab", "lab.py"),
                                              "_probe", "--timeout", "1", f"{VIP}:80"], check=False)
            if not json.loads(out or '{"failed": [1]}').get("failed"):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                try:
                    with open(os.path.join(lab.workdir, f"{self.name}.log")) as f:
                        tail = f.read()[-800:]
                except OSError:
                    tail = ""
                raise LabError(f"{self.name} did not come up: {tail}")

    def teardown(self, lab):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        lab.ns_exec(lab.node_ns, ["ip", "addr", "del", f"{VIP}/32", "dev", "lo"], check=False)


def all_splitters(pin_prefix):
    return [Direct(), Bpfsplit("xdp", pin_prefix=pin_prefix), Bpfsplit("tc-ingress", pin_prefix=pin_prefix),
            Iptables(), Nftables(), Haproxy("tcp"), Haproxy("http"),
            Bpfsplit("xdp", one_backend=True, pin_prefix=pin_prefix),
            Bpfsplit("tc-ingress", one_backend=True, pin_prefix=pin_prefix)]


# ---- the benchmark ---------------------------------------------------------------------------

def conntrack_count(lab):
    out = lab.ns_exec(lab.node_ns, ["cat", "/proc/sys/net/netfilter/nf_conntrack_count"], check=False)
    return int(out.strip()) if out.strip().isdigit() else None


def run_e2e(build, repeats=3, duration=5, fresh_conns=32, keepalive_conns=32, threads=1, log=print,
            only=None, pin_prefix=None, backend_threads=None):
    """Run every splitter `repeats` times, interleaved; return the e2e section of latest.json."""
    backend_bin = os.path.join(build, "bench", "http_backend")
    backend_threads = backend_threads or os.cpu_count() or 2
    harness.CLI = os.path.join(build, "bpfsplit")
    pin_prefix = pin_prefix or f"/sys/fs/bpf/bs-bench-{os.getpid()}-e2e"
    splitters = [s for s in all_splitters(pin_prefix) if not only or s.name in only]
    results = {s.name: {"fresh": [], "keepalive": []} for s in splitters}
    notes = {}
    t_start = time.monotonic()
    # Client transmit checksum offload off for every case (full checksums, as from a wire):
    # the XDP entry point requires it (docs/datapath-notes.md), and every splitter gets the same client.
    with Lab(n_green=3, n_orange=1, ipv6=False, tx_off_client=True) as lab:
        lab_id = lab.id
        start_fast_backends(lab, backend_bin, backend_threads)
        for rep in range(repeats):
            order = list(splitters)
            random.shuffle(order)
            for s in order:
                csum0 = lab.csum_errors()
                s.setup(lab)
                try:
                    modes = list(s.modes)
                    random.shuffle(modes)
                    for mode in modes:
                        conns = fresh_conns if mode == "fresh" else keepalive_conns
                        r = wrk(lab, s.url(lab), duration, conns, threads, fresh=(mode == "fresh"))
                        r["repeat"] = rep
                        results[s.name][mode].append(r)
                        log(f"e2e rep {rep + 1}/{repeats} {s.name:13s} {mode:9s} {r['rate_per_s']:9.0f}/s "
                            f"p50 {r['latency_p50_us']}us p99 {r['latency_p99_us']}us "
                            f"cpu {r['cpu_us_per_request']:.1f}us/req canary {r['canary_share']:.3f} "
                            f"err {r['errors']}")
                finally:
                    s.teardown(lab)
                csum1 = lab.csum_errors()
                moved = {ns: {k: v - csum0[ns].get(k, 0) for k, v in c.items() if v != csum0[ns].get(k, 0)}
                         for ns, c in csum1.items()}
                moved = {ns: c for ns, c in moved.items() if c}
                if moved:
                    notes.setdefault(s.name, []).append({"repeat": rep, "csum_errors": moved})
            log(f"e2e repeat {rep + 1}/{repeats} done; node conntrack entries: {conntrack_count(lab)}")
        how = {s.name: s.how for s in splitters if isinstance(s, Bpfsplit) and s.how}
    return {
        "conditions": {
            "repeats": repeats,
            "duration_s": duration,
            "load_generator": f"wrk 4.1 in the client namespace, {threads} thread(s); keep-alive: "
                              f"{keepalive_conns} persistent connections; new connections: "
                              f"{fresh_conns} connections with -H 'Connection: close' (one TCP "
                              f"connection per request, backend closes first)",
            "backends": f"bench/http_backend (C, epoll, {backend_threads} worker threads with "
                        f"SO_REUSEPORT listeners, as many as CPUs, so that one backend alone is not held "
                        f"to one core) in each of 4 backend namespaces (g1, g2, g3 stable; o1 canary)",
            "split": "70/30: stable g1+g2+g3 (70), canary o1 (30); direct: g1 only",
            "lab": "tests/lab Lab(n_green=3, n_orange=1, ipv6=False, tx_off_client=True): client tx "
                   "checksum offload off (full checksums, as from a wire), node backend- and client-side "
                   "veths tx offload off (lab default); static neighbours; 2 vCPUs shared by client, "
                   "node, backends and load generator",
            "cpu": "machine-wide busy time (all CPUs, /proc/stat: total - idle - iowait) over the wrk run "
                   "divided by requests; includes everything else running on the machine",
            "interleaving": "each repeat shuffles the order of splitters; each splitter is set up, "
                            "measured in both modes (shuffled) and torn down before the next",
            "attach": how,
            "elapsed_s": round(time.monotonic() - t_start, 1),
            "lab_id": lab_id,
            "pin_prefix": pin_prefix,
        },
        "runs": results,
        "anomalies": notes,
    }
