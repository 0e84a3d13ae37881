#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Cluster lab for bpfsplit: several nodes in network namespaces, as a Kubernetes cluster
with a host-gateway CNI (flannel host-gw, Calico BGP) lays them out. Library (class
ClusterLab), reused by tests, the demo and the benchmarks.

Topology (names carry a short random lab id; i = node 1..N, j = pod 0..P-1):

    external client bsk<id>x          router bsk<id>r                 node bsk<id>n<i>
    eth0 192.168.100.2/24 <-> x0 192.168.100.1/24
                                  br0 10.0.0.254/24 (underlay) <-> n<i> | eth0 10.0.0.1<i>/24
                                  routes: 10.244.<i>.0/24 via node i     cni0 10.244.<i>.1/24 (bridge)
                                  GATEWAY_VIP/32 ECMP over every node    p<j> <-> pod bsk<id>n<i>p<j>
                                                                          eth0 10.244.<i>.<10+j>/24

Pod CIDRs are routed between nodes over the underlay without encapsulation; the router
reaches the Gateway address over equal-cost routes to every node (L4 multipath hash), as
MetalLB BGP or a cloud load balancer would. Pod j=0 of every node serves green (stable),
pod 1 orange (canary), over TCP (8080) and UDP (5353), answering its colour and the peer
address it saw (cluster_server.py). Each node has a child cgroup of the unified hierarchy
(/sys/fs/cgroup/unified/bsk<id>-n<i>) that stands for the node's cgroup root: processes
that play the node's pods run in it (spawn/run with node=...).

bpfsplit runs once per node, as a DaemonSet would: its own pin root, its own attachments
(NodeDataPath). Safety: only namespaces, cgroups and pin roots this lab created are
touched; nothing in the host namespace changes; every exit path removes the lab (context
manager, exceptions, signals, atexit via lab.py's hooks).
"""

import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as _lab  # noqa: E402
from lab import LabError, destroy_namespaces, ip, kill_pids, run, set_marker, proc_start_time  # noqa: E402

PYTHON = os.environ.get("BSLAB_PYTHON", "/usr/bin/python3")
SERVER_PY = os.path.join(HERE, "cluster_server.py")
CLIENT_PY = os.path.join(HERE, "cluster_client.py")
CGROUP_ROOT = "/sys/fs/cgroup/unified"

CLUSTER_IP = "10.96.0.10"       # the frontend's Service cluster IP (east-west)
OTHER_CLUSTER_IP = "10.96.0.20"  # a Service that only kube-proxy-style rules serve
GATEWAY_VIP = "10.100.0.10"     # the Gateway's address (north-south)
FRONTEND_PORT = 80
UDP_FRONTEND_PORT = 53
TCP_PORT = 8080
UDP_PORT = 5353
EXTERNAL_ADDR = "192.168.100.2"
# IPv6 (dual stack): the same plan under fd00::/8.
CLUSTER_IP6 = "fd00:96::10"
GATEWAY_VIP6 = "fd00:100::10"
EXTERNAL_ADDR6 = "fd00:192::2"
COLOURS = ("green", "orange")


class Pod:
    def __init__(self, node, j, lab_id):
        self.node = node
        self.j = j
        self.ns = f"bsk{lab_id}n{node.i}p{j}"
        self.host_if = f"p{j}"
        self.addr = f"10.244.{node.i}.{10 + j}"
        self.addr6 = f"fd00:244:{node.i}::{10 + j}"
        self.colour = COLOURS[j % 2]
        self.name = f"n{node.i}{self.colour[0]}{j // 2 or ''}"
        self.proc = None

    # The attributes a lab Backend has, so that tools written for the single-node lab
    # (the Argo player) take pods too.
    @property
    def ipv4(self):
        return self.addr

    @property
    def ipv6(self):
        return self.addr6

    @property
    def port(self):
        return TCP_PORT

    def endpoint(self, port=TCP_PORT, family=4):
        return f"{self.addr}:{port}" if family == 4 else f"[{self.addr6}]:{port}"


class Node:
    def __init__(self, i, lab_id, n_pods):
        self.i = i
        self.name = f"node{i}"
        self.ns = f"bsk{lab_id}n{i}"
        self.addr = f"10.0.0.{10 + i}"
        self.cidr = f"10.244.{i}.0/24"
        self.gw = f"10.244.{i}.1"
        self.addr6 = f"fd00:10::{10 + i}"
        self.cidr6 = f"fd00:244:{i}::/64"
        self.gw6 = f"fd00:244:{i}::1"
        self.cgroup = f"{CGROUP_ROOT}/bsk{lab_id}-n{i}"
        self.pods = [Pod(self, j, lab_id) for j in range(n_pods)]


class ClusterLab:
    def __init__(self, n_nodes=3, pods_per_node=2, lab_id=None, backend_tx_off=True):
        if n_nodes > 9 or pods_per_node > 9:
            raise ValueError("at most 9 nodes and 9 pods per node")
        self.id = lab_id or secrets.token_hex(3)
        self.router_ns = f"bsk{self.id}r"
        self.ext_ns = f"bsk{self.id}x"
        self.nodes = [Node(i, self.id, pods_per_node) for i in range(1, n_nodes + 1)]
        self.backend_tx_off = backend_tx_off
        self.workdir = None
        self.created_ns = []
        self.created_cgroups = []
        self.procs = []
        self.datapaths = []
        self.closed = False

    # --- views --------------------------------------------------------------

    @property
    def pods(self):
        return [p for n in self.nodes for p in n.pods]

    @property
    def green(self):
        return [p for p in self.pods if p.colour == "green"]

    @property
    def orange(self):
        return [p for p in self.pods if p.colour == "orange"]

    def pod_by_name(self, name):
        return next(p for p in self.pods if p.name == name)

    def pod_by_addr(self, addr):
        addr = addr.strip("[]")
        return next((p for p in self.pods if addr in (p.addr, p.addr6)), None)

    # --- life cycle ---------------------------------------------------------

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def up(self):
        _lab._install_exit_hooks()
        _lab._live_labs.append(self)
        self.workdir = tempfile.mkdtemp(prefix=_lab.WORKDIR_PREFIX)
        try:
            self._build()
            self.start_servers()
        except BaseException:
            self.close()
            raise
        return self

    def _add_ns(self, ns):
        run(["ip", "netns", "add", ns])
        self.created_ns.append(ns)
        ip(ns, "link", "set", "lo", "up")
        set_marker(ns, {"id": self.id, "pid": os.getpid(), "start": proc_start_time(os.getpid()) or 0,
                        "dir": self.workdir})

    def _sysctls(self, ns, pairs):
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w"] + [f"{k}={v}" for k, v in pairs])

    def _build(self):
        r = self.router_ns
        self._add_ns(r)
        ip(r, "link", "add", "br0", "type", "bridge")
        ip(r, "addr", "add", "10.0.0.254/24", "dev", "br0")
        ip(r, "addr", "add", "fd00:10::254/64", "dev", "br0", "nodad")
        ip(r, "link", "set", "br0", "up")
        self._sysctls(r, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 0),
                          ("net.ipv4.conf.default.rp_filter", 0), ("net.ipv4.fib_multipath_hash_policy", 1),
                          ("net.ipv6.conf.all.forwarding", 1), ("net.ipv6.fib_multipath_hash_policy", 1)])
        # External client behind the router.
        x = self.ext_ns
        self._add_ns(x)
        ip(r, "link", "add", "x0", "type", "veth", "peer", "name", "eth0", "netns", x)
        ip(r, "addr", "add", "192.168.100.1/24", "dev", "x0")
        ip(r, "addr", "add", "fd00:192::1/64", "dev", "x0", "nodad")
        ip(r, "link", "set", "x0", "up")
        if self.backend_tx_off:
            # Replies towards the external client get software checksums too (as on a wire).
            run(["ip", "netns", "exec", r, "ethtool", "-K", "x0", "tx", "off"])
        ip(x, "addr", "add", f"{EXTERNAL_ADDR}/24", "dev", "eth0")
        ip(x, "addr", "add", f"{EXTERNAL_ADDR6}/64", "dev", "eth0", "nodad")
        ip(x, "link", "set", "eth0", "up")
        ip(x, "route", "add", "default", "via", "192.168.100.1")
        ip(x, "-6", "route", "add", "default", "via", "fd00:192::1")
        for n in self.nodes:
            self._build_node(n)
        nexthops, nexthops6 = [], []
        for n in self.nodes:
            ip(r, "route", "add", n.cidr, "via", n.addr)
            ip(r, "-6", "route", "add", n.cidr6, "via", n.addr6)
            nexthops += ["nexthop", "via", n.addr, "weight", "1"]
            nexthops6 += ["nexthop", "via", n.addr6, "weight", "1"]
        ip(r, "route", "add", f"{GATEWAY_VIP}/32", *nexthops)
        ip(r, "-6", "route", "add", f"{GATEWAY_VIP6}/128", *nexthops6)
        for n in self.nodes:
            for m in self.nodes:
                if m is not n:
                    ip(n.ns, "route", "add", m.cidr, "via", m.addr)
                    ip(n.ns, "-6", "route", "add", m.cidr6, "via", m.addr6)

    def _build_node(self, n):
        self._add_ns(n.ns)
        ip(self.router_ns, "link", "add", f"n{n.i}", "type", "veth", "peer", "name", "eth0", "netns", n.ns)
        ip(self.router_ns, "link", "set", f"n{n.i}", "master", "br0", "up")
        ip(n.ns, "addr", "add", f"{n.addr}/24", "dev", "eth0")
        ip(n.ns, "addr", "add", f"{n.addr6}/64", "dev", "eth0", "nodad")
        ip(n.ns, "link", "set", "eth0", "up")
        ip(n.ns, "route", "add", "default", "via", "10.0.0.254")
        ip(n.ns, "-6", "route", "add", "default", "via", "fd00:10::254")
        ip(n.ns, "link", "add", "cni0", "type", "bridge")
        ip(n.ns, "addr", "add", f"{n.gw}/24", "dev", "cni0")
        ip(n.ns, "addr", "add", f"{n.gw6}/64", "dev", "cni0", "nodad")
        ip(n.ns, "link", "set", "cni0", "up")
        # A node forwards with strict reverse-path filtering, as many distributions set it.
        self._sysctls(n.ns, [("net.ipv4.ip_forward", 1), ("net.ipv4.conf.all.rp_filter", 1),
                             ("net.ipv4.conf.default.rp_filter", 1), ("net.ipv6.conf.all.forwarding", 1)])
        # kube-proxy with a bridge CNI needs bridged traffic to pass netfilter (br_netfilter),
        # or a pod's connection to a Service backed by a pod on the same bridge never gets
        # its reply un-NATed. Set when the host has the module; bpfsplit does not need it.
        self.br_netfilter = os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if self.br_netfilter:
            self._sysctls(n.ns, [("net.bridge.bridge-nf-call-iptables", 1)])
        for p in n.pods:
            self._add_ns(p.ns)
            ip(n.ns, "link", "add", p.host_if, "type", "veth", "peer", "name", "eth0", "netns", p.ns)
            ip(n.ns, "link", "set", p.host_if, "master", "cni0", "up")
            ip(p.ns, "addr", "add", f"{p.addr}/24", "dev", "eth0")
            ip(p.ns, "addr", "add", f"{p.addr6}/64", "dev", "eth0", "nodad")
            ip(p.ns, "link", "set", "eth0", "up")
            ip(p.ns, "route", "add", "default", "via", n.gw)
            ip(p.ns, "-6", "route", "add", "default", "via", n.gw6)
            if self.backend_tx_off:
                # Checksums towards backends computed in software, so that a wrong one
                # shows in the backend's TcpInCsumErrors.
                run(["ip", "netns", "exec", n.ns, "ethtool", "-K", p.host_if, "tx", "off"])
        os.mkdir(n.cgroup)
        self.created_cgroups.append(n.cgroup)

    def start_servers(self, timeout=10.0):
        for p in self.pods:
            ready = os.path.join(self.workdir, f"{p.name}.ready")
            log = open(os.path.join(self.workdir, f"{p.name}.log"), "w")
            p.proc = self.spawn(p.ns, [PYTHON, SERVER_PY, "--name", p.name, "--colour", p.colour,
                                       "--ready-file", ready], node=p.node, stdout=log, stderr=log)
            log.close()
        deadline = time.monotonic() + timeout
        for p in self.pods:
            ready = os.path.join(self.workdir, f"{p.name}.ready")
            while not os.path.exists(ready):
                if p.proc.poll() is not None or time.monotonic() > deadline:
                    raise LabError(f"server {p.name} in {p.ns} did not start: "
                                   f"{open(os.path.join(self.workdir, p.name + '.log')).read()[-400:]}")
                time.sleep(0.05)

    def close(self):
        if self.closed:
            return
        self.closed = True
        with _lab._Cleaning():
            for dp in list(self.datapaths):
                dp.close()
            for proc in self.procs:
                if proc.poll() is None:
                    proc.kill()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
            for cg in self.created_cgroups:
                try:
                    with open(os.path.join(cg, "cgroup.procs")) as f:
                        pids = [int(x) for x in f.read().split()]
                except OSError:
                    pids = []
                if pids:
                    kill_pids(pids)
            destroy_namespaces(list(reversed(self.created_ns)))
            for cg in self.created_cgroups:
                for _ in range(50):
                    try:
                        os.rmdir(cg)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)
            if self.workdir and os.path.basename(self.workdir).startswith(_lab.WORKDIR_PREFIX):
                shutil.rmtree(self.workdir, ignore_errors=True)
            if self in _lab._live_labs:
                _lab._live_labs.remove(self)

    # --- running things -----------------------------------------------------

    def argv_in(self, ns, argv, node=None):
        """argv run in network namespace ns and, with node, in that node's cgroup (the
        process moves itself there before exec, so all it does happens inside)."""
        inner = ["nsenter", f"--net=/run/netns/{ns}"] + list(argv)
        if node is None:
            return inner
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', os.path.join(node.cgroup, "cgroup.procs")] + inner

    def spawn(self, ns, argv, node=None, **kw):
        proc = subprocess.Popen(self.argv_in(ns, argv, node), **kw)
        self.procs.append(proc)
        return proc

    def run_in(self, ns, argv, node=None, timeout=300, input=None):
        proc = subprocess.run(self.argv_in(ns, argv, node), capture_output=True, text=True, timeout=timeout,
                              input=input)
        if proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {ns} exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
        return proc.stdout

    def fresh(self, pod, target, ports, udp=False, in_cgroup=True, family=4, timeout=5.0):
        """One new connection (or UDP datagram) per source port from pod (a Pod, or None
        for the external client); returns the client's JSON list."""
        lo, hi = ports
        if pod is None:
            ns, bind, node = self.ext_ns, EXTERNAL_ADDR if family == 4 else EXTERNAL_ADDR6, None
        else:
            ns, bind, node = pod.ns, pod.addr if family == 4 else pod.addr6, pod.node if in_cgroup else None
        argv = [PYTHON, CLIENT_PY, "fresh", "--target", target, "--bind", bind, "--ports", f"{lo}-{hi}",
                "--timeout", str(timeout)]
        if udp:
            argv.append("--udp")
        return json.loads(self.run_in(ns, argv, node))

    def hold(self, pod, target, port, in_cgroup=True):
        """A connection held open (HoldConn) from pod (None: the external client)."""
        if pod is None:
            ns, bind, node = self.ext_ns, EXTERNAL_ADDR, None
        else:
            ns, bind, node = pod.ns, pod.addr, pod.node if in_cgroup else None
        proc = self.spawn(ns, [PYTHON, CLIENT_PY, "hold", "--target", target, "--bind", bind, "--port", str(port)],
                          node=node, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return HoldConn(proc)

    def nstat(self, ns, names=("TcpInCsumErrors", "TcpOutRsts", "UdpInCsumErrors", "TcpActiveOpens")):
        """{counter: value} of a namespace (absolute values)."""
        out = run(["ip", "netns", "exec", ns, "nstat", "-asz", "--json"])
        doc = json.loads(out)
        table = next(iter(doc.values())) if doc else {}
        return {n: int(table.get(n, 0)) for n in names}

    def nft(self, ns, script):
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script)

    def install_kube_proxy_rules(self, services):
        """kube-proxy-style nftables rules in every node namespace: for each
        (name, vip, port, pods) a DNAT to one of pods chosen at random, in prerouting
        (pods) and output (the node), and a forward rule dropping conntrack-INVALID
        packets, as kube-proxy installs them."""
        rules = []
        for name, vip, port, pods in services:
            targets = ", ".join(f"{i} : {p.addr} . {TCP_PORT}" for i, p in enumerate(pods))
            rules.append(f'ip daddr {vip} tcp dport {port} counter dnat to numgen random mod {len(pods)} '
                         f'map {{ {targets} }} comment "{name}"')
        body = "\n    ".join(rules)
        script = f"""table ip kubeproxy-lab {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    {body}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    {body}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ct state invalid counter drop comment "invalid"
  }}
}}
"""
        for n in self.nodes:
            self.nft(n.ns, script)

    def nft_counters(self, ns):
        """{rule comment: packets} of the kube-proxy-style table (prerouting and output
        rules of one service add up)."""
        doc = json.loads(run(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", "ip", "kubeproxy-lab"]))
        out = {}
        for obj in doc.get("nftables", []):
            rule = obj.get("rule")
            if not rule or "comment" not in rule:
                continue
            packets = sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
            out[rule["comment"]] = out.get(rule["comment"], 0) + packets
        return out


class HoldConn:
    """A long-lived connection in a client process: round() sends one request on it."""

    def __init__(self, proc):
        self.proc = proc
        line = proc.stdout.readline()
        if not line or not json.loads(line).get("connected"):
            proc.kill()
            raise LabError(f"held connection did not open: {line!r}")

    def round(self):
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class NodeDataPath:
    """bpfsplit on one node, as its DaemonSet pod would run it: a pin root of its own,
    the socket hooks on the node's cgroup, and (for north-south) the tc entry points on
    the node's uplink and pod bridge with SNAT."""

    def __init__(self, lab, node, cli, max_conns=65536):
        self.lab, self.node, self.cli_path = lab, node, cli
        self.pin_root = f"/sys/fs/bpf/bsk{lab.id}-n{node.i}"
        lab.datapaths.append(self)
        self.cli("dataplane", "load", "--max-conns", str(max_conns), "--max-frontends", "1024",
                 "--max-backends", "1024", "--max-tables", "1024")

    def cli(self, *args, netns=None, input=None, json_out=False, check=True):
        argv = [self.cli_path, "--pin-root", self.pin_root] + (["-j"] if json_out else []) + list(args)
        if netns:
            argv = ["nsenter", f"--net=/run/netns/{netns}"] + argv
        proc = subprocess.run(argv, input=input, text=True, capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        if json_out:
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc

    def attach_cgroup(self):
        return self.cli("cgroup", "attach", self.node.cgroup).stdout.strip()

    def attach_snat(self, ports="32768-65535"):
        """tc ingress on the uplink and on the pod bridge (replies from local backends
        enter there), SNAT with the node's addresses. The node's own ephemeral ports are
        moved below the SNAT range, so that SNAT has 32,768 ports per backend: with the
        default 60 s hold of a closed flow's port, about 546 new flows/s per backend."""
        lo = int(ports.split("-")[0])
        self.lab._sysctls(self.node.ns, [("net.ipv4.ip_local_port_range", f"20000 {lo - 1}")])
        for ifname in ("eth0", "cni0"):
            self.cli("dataplane", "attach", ifname, "--entry", "tc-ingress", netns=self.node.ns)
        self.cli("node", "set", "--nat", "snat", "--node-addr", self.node.addr, "--node-addr", self.node.addr6,
                 "--snat-ports", ports)

    def apply(self, frontend, w_stable, w_canary, port=TCP_PORT, exclude=(), family=4):
        """Greens as group "stable", oranges as "canary" (but the pods in exclude)."""
        def members(pods):
            return [{"address": p.endpoint(port, family), "state": "ready"} for p in pods if p not in exclude]
        doc = {"frontend": frontend, "groups": [
            {"name": "stable", "weight": w_stable, "backends": members(self.lab.green)},
            {"name": "canary", "weight": w_canary, "backends": members(self.lab.orange)}]}
        self.cli("frontend", "apply", "-", input=json.dumps(doc))

    def predict(self, frontend, client, ports):
        """{port: backend "addr:port" or "refused"} for new flows from client."""
        out = self.cli("flow", "predict", frontend, "--client", client, "--ports", f"{ports[0]}-{ports[1]}",
                       json_out=True)
        return {o["port"]: o["backend"] for o in out}

    def reasons(self):
        return self.cli("stats", json_out=True)["reasons"]

    def close(self):
        if self in self.lab.datapaths:
            self.lab.datapaths.remove(self)
        subprocess.run([self.cli_path, "--pin-root", self.pin_root, "dataplane", "unload"], capture_output=True,
                       timeout=60)


def binomial_bound(n, p, sigmas=3.0):
    """(low, high) counts within `sigmas` binomial standard deviations of n*p."""
    sd = math.sqrt(n * p * (1 - p))
    return n * p - sigmas * sd, n * p + sigmas * sd


def frontend(addr, port, proto="tcp"):
    return f"{addr}:{port}/{proto}"
