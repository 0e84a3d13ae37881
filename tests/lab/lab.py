#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Network-namespace lab for bpfsplit: library (class Lab) and CLI.

Topology (all names carry a short random lab id, e.g. "3f9a1c"):

    client bsc<id>            node bsn<id>                 backends
    eth0 10.200.0.2/24  <-> to-client 10.200.0.1/24
         fd00:200::2/64          fd00:200::1/64
                              to-g1 10.201.1.1/24   <-> eth0 10.201.1.2/24  bsb<id>g1
                                    fd00:201:1::1/64       fd00:201:1::2/64
                              to-g2 ...  (green = stable, orange = canary)
                              to-o1 10.201.4.1/24   <-> eth0 10.201.4.2/24  bsb<id>o1

The client routes everything (including the frontend VIPs 10.96.0.10 and
fd00:96::10, which no interface carries) to the node; the node forwards
(ip_forward, IPv6 forwarding, rp_filter as asked); backends route back via
the node.  MAC addresses are fixed (02:b5:00:00:<link>:01 node side, :02 far
side) and, by default, every veth neighbour is a permanent entry, so frames
are addressed to the ingress veth's MAC from the first packet and
bpf_fib_lookup never answers NO_NEIGH.

Safety: only namespaces this lab created are touched; nothing in the host
namespace is changed.  Every namespace is marked (alias of its `lo`) with the
lab id and owner PID.  Every exit path removes the lab: the context manager,
exceptions, SIGINT/SIGTERM/SIGHUP, atexit, and a detached "reaper" process
that cleans up if the owner dies even by SIGKILL.  `lab.py down --all-stale`
removes labs whose owner is dead.

CLI:
    lab.py up --state FILE [--id ID] [--green 3] [--orange 1] [--no-ipv6]
              [--rp-filter 0|1|2] [--client-tx-off] [--owner-pid PID] ...
    lab.py down --state FILE
    lab.py down --all-stale
    lab.py list
"""

import argparse
import atexit
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, fields

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.environ.get("BSLAB_PYTHON", "/usr/bin/python3")
SERVER_PY = os.path.join(HERE, "colour_server.py")
CLIENT_PY = os.path.join(HERE, "client.py")
LAB_PY = os.path.abspath(__file__)

NS_PREFIX = "bs"
MARKER = "bpfsplit-lab"
WORKDIR_PREFIX = "bslab-"
VIP4 = "10.96.0.10"
VIP6 = "fd00:96::10"
VIP_PORT = 80
BACKEND_PORT = 8080
COLOURS = {"g": "green", "o": "orange"}


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and stderr."""


# --- running commands -------------------------------------------------------

def run(argv, check=True, input=None, timeout=60, env=None):
    """Run argv, return stdout (str); raise LabError on failure if check."""
    try:
        proc = subprocess.run(argv, input=input, capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timeout after {timeout}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"command failed (rc={proc.returncode}): "
                       f"{' '.join(argv)}\n{proc.stderr.strip()}")
    return proc.stdout


def ns_run(ns, argv, **kw):
    """Run argv inside network namespace ns (ip netns exec)."""
    return run(["ip", "netns", "exec", ns] + list(argv), **kw)


def ip(ns, *args, check=True):
    """Run `ip -n ns ARGS`."""
    return run(["ip", "-n", ns] + [str(a) for a in args], check=check)


def list_namespaces():
    """Names of all named network namespaces (ip netns list)."""
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def mac(link, side):
    """Fixed MAC: link 0 = client link, i = backend i; side 1 node, 2 far."""
    return f"02:b5:00:00:{link:02x}:{side:02x}"


# --- owners and markers -------------------------------------------------------

def proc_start_time(pid):
    """Start time (clock ticks since boot) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if rest[0] == "Z":
        return None
    return rest[19]


def owner_alive(pid, start):
    """True if process pid still runs and is the one recorded (no PID reuse)."""
    if not pid:
        return True  # owner 0: kept until `down --state`
    now = proc_start_time(pid)
    return now is not None and (not start or now == str(start))


def set_marker(ns, values):
    text = " ".join([MARKER] + [f"{k}={v}" for k, v in values.items()])
    ip(ns, "link", "set", "dev", "lo", "alias", text)


def read_marker(ns):
    """The key=value fields of a lab namespace's marker, or None."""
    out = ip(ns, "-j", "link", "show", "dev", "lo", check=False)
    try:
        alias = json.loads(out)[0].get("ifalias", "")
    except (ValueError, IndexError):
        return None
    words = alias.split()
    if not words or words[0] != MARKER:
        return None
    return dict(w.split("=", 1) for w in words[1:] if "=" in w)


# --- tearing down -----------------------------------------------------------------

def ns_pids(ns):
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]


def kill_pids(pids, grace=2.0):
    """SIGTERM the pids, then SIGKILL whatever is left after grace seconds."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if all(proc_start_time(p) is None for p in pids):
            return
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def destroy_namespaces(names):
    """Kill every process in the given namespaces, then delete them.

    Only names that exist and start with NS_PREFIX are touched.  Returns
    the names deleted.
    """
    existing = set(list_namespaces())
    targets = [n for n in names if n in existing and n.startswith(NS_PREFIX)]
    pids = sorted({p for ns in targets for p in ns_pids(ns)})
    if pids:
        kill_pids(pids)
    for ns in targets:
        run(["ip", "netns", "del", ns], check=False)
    return targets


def remove_workdir(path):
    if path and os.path.basename(path).startswith(WORKDIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def lab_namespaces():
    """{name: marker} for every namespace named bs* (marker may be None)."""
    return {n: read_marker(n) for n in list_namespaces()
            if n.startswith(NS_PREFIX)}


def reap_stale(only_id=None):
    """Remove the namespaces of labs whose owner is dead (only lab only_id
    if given); return their names."""
    stale = {}
    for ns, marker in lab_namespaces().items():
        if marker is None:
            continue  # not ours to judge
        if only_id and marker.get("id") != only_id:
            continue
        if owner_alive(int(marker.get("pid", 0)), marker.get("start")):
            continue
        stale.setdefault(marker.get("id"), []).append((ns, marker.get("dir")))
    removed = []
    for entries in stale.values():
        removed += destroy_namespaces([ns for ns, _ in entries])
        for _, workdir in entries:
            remove_workdir(workdir)
    return removed


# --- exit paths -----------------------------------------------------------------

_live_labs = []
_cleanup_depth = 0
_pending_signal = None
_hooks_installed = False


def _on_signal(signum, frame):
    """Turn SIGTERM/SIGHUP/SIGINT into exceptions, deferred during cleanup."""
    global _pending_signal
    if _cleanup_depth:
        _pending_signal = signum
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _close_all_labs():
    for lab in list(_live_labs):
        lab.close()


def _install_exit_hooks():
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_close_all_labs)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)


class _Cleaning:
    """Context in which signals are deferred; re-raised when it ends."""

    def __enter__(self):
        global _cleanup_depth
        _cleanup_depth += 1

    def __exit__(self, *exc):
        global _cleanup_depth, _pending_signal
        _cleanup_depth -= 1
        if _cleanup_depth == 0 and _pending_signal and exc[0] is None:
            signum, _pending_signal = _pending_signal, None
            _on_signal(signum, None)
        return False


# --- topology objects -----------------------------------------------------------

@dataclass
class Backend:
    """One backend namespace and its veth to the node."""
    name: str          # g1, g2, g3, o1, ... (also X-Backend)
    colour: str        # green (stable) or orange (canary)
    index: int         # 1-based over all backends: 10.201.<index>.0/24
    ns: str
    ipv4: str
    ipv6: str
    port: int
    node_if: str       # node-side interface, e.g. to-g1
    ifname: str        # backend-side interface (eth0)
    mac: str
    node_mac: str
    node_ipv4: str
    node_ipv6: str
    pid: int = 0
    process: object = field(default=None, repr=False, compare=False)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "process"}


class HoldSession:
    """A running `client.py hold`: long-lived keep-alive connections.

        with lab.hold(n=8, requests=50) as h:
            first = h.round()       # dict, one per round
            lab-side change ...
            second = h.round()
    """

    def __init__(self, argv, timeout=60):
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self._lines = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        try:
            self.ready = self._read()
        except BaseException:
            self.close()
            raise

    def _pump(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read(self):
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise LabError("hold client did not answer in time") from None
        if line is None:
            self.proc.wait()
            raise LabError(f"hold client exited: {self.proc.stderr.read().strip()}")
        return json.loads(line)

    def round(self, requests=None):
        cmd = "round" if requests is None else f"round {int(requests)}"
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        """Ask the client to quit; return its last JSON line (or None)."""
        result = None
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                result = self._read()
                self.proc.wait(timeout=10)
            except (OSError, LabError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._pump_thread.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# --- the lab ----------------------------------------------------------------------

class Lab:
    """A client, a node and green/orange backends in network namespaces.

    Use as a context manager (`with Lab() as lab:`) or call up()/close().
    Attributes: id, client_ns, node_ns, client_if, node_client_if,
    client_ipv4/6, node_client_ipv4/6, client_mac, node_client_mac,
    vip4, vip6, vip_port, backends (list of Backend), client_addresses.
    """

    def __init__(self, n_green=3, n_orange=1, ipv6=True, lab_id=None,
                 rp_filter=0, tx_off_backends=True, tx_off_node_client=True,
                 tx_off_client=False, tcp_tw_reuse=1, static_neighbours=True,
                 gro_peers=False, client_addresses=0, owner_pid=None,
                 reaper=True):
        if n_green + n_orange > 250:
            raise ValueError("at most 250 backends")
        self.id = lab_id or secrets.token_hex(3)
        if not re.fullmatch(r"[a-z0-9]{1,8}", self.id):
            raise ValueError("lab id: 1-8 characters [a-z0-9]")
        self.ipv6 = ipv6
        self.rp_filter = rp_filter
        self.tx_off_backends = tx_off_backends
        self.tx_off_node_client = tx_off_node_client
        self.tx_off_client = tx_off_client
        self.tcp_tw_reuse = tcp_tw_reuse
        self.static_neighbours = static_neighbours
        self.gro_peers = gro_peers
        self.n_client_addresses = client_addresses
        self.owner_pid = os.getpid() if owner_pid is None else owner_pid
        self.owner_start = proc_start_time(self.owner_pid) if self.owner_pid else ""
        self.use_reaper = reaper

        self.client_ns = f"bsc{self.id}"
        self.node_ns = f"bsn{self.id}"
        self.client_if = "eth0"
        self.node_client_if = "to-client"
        self.client_ipv4, self.node_client_ipv4 = "10.200.0.2", "10.200.0.1"
        self.client_ipv6, self.node_client_ipv6 = "fd00:200::2", "fd00:200::1"
        self.client_mac, self.node_client_mac = mac(0, 2), mac(0, 1)
        self.vip4, self.vip6, self.vip_port = VIP4, VIP6, VIP_PORT
        self.backends = self._plan_backends(n_green, n_orange)
        self.backend_args = {}       # backend name -> extra colour_server arguments
        self.client_addresses = []   # extra client source addresses (v4)
        self.client_addresses6 = []
        self.workdir = None
        self.owned = True            # False when attached from a state file
        self._created = []           # namespaces this object created
        self._reaper = None
        self._closed = False
        self._pid = os.getpid()      # a forked child must not tear down

    def _plan_backends(self, n_green, n_orange):
        backends = []
        names = [f"g{k}" for k in range(1, n_green + 1)] + \
                [f"o{k}" for k in range(1, n_orange + 1)]
        for i, name in enumerate(names, start=1):
            backends.append(Backend(
                name=name, colour=COLOURS[name[0]], index=i,
                ns=f"bsb{self.id}{name}", ipv4=f"10.201.{i}.2",
                ipv6=f"fd00:201:{i}::2", port=BACKEND_PORT,
                node_if=f"to-{name}", ifname="eth0", mac=mac(i, 2),
                node_mac=mac(i, 1), node_ipv4=f"10.201.{i}.1",
                node_ipv6=f"fd00:201:{i}::1"))
        return backends

    # -- convenience views

    @property
    def namespaces(self):
        return [self.client_ns, self.node_ns] + [b.ns for b in self.backends]

    @property
    def green(self):
        return [b for b in self.backends if b.colour == "green"]

    @property
    def orange(self):
        return [b for b in self.backends if b.colour == "orange"]

    def backend(self, name):
        for b in self.backends:
            if b.name == name or b.ns == name:
                return b
        raise KeyError(name)

    def url(self, family=4, path="/color", host=None, port=None):
        """URL of the frontend VIP (or of host) for client.py."""
        host = host or (self.vip6 if family == 6 else self.vip4)
        port = port or self.vip_port
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{path}"

    def backend_url(self, backend, family=4, path="/color"):
        b = backend if isinstance(backend, Backend) else self.backend(backend)
        return self.url(host=b.ipv6 if family == 6 else b.ipv4, port=b.port,
                        path=path)

    # -- context manager

    def __enter__(self):
        if not self._created:
            self.up()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- building

    def up(self):
        """Create the namespaces, links, addresses, routes and settings."""
        taken = set(list_namespaces())
        clash = [n for n in self.namespaces if n in taken]
        if clash:
            raise LabError(f"namespaces already exist: {clash}")
        self.workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{self.id}-")
        _live_labs.append(self)
        _install_exit_hooks()
        try:
            if self.use_reaper:
                self._start_reaper()
            for ns in self.namespaces:
                self._add_namespace(ns)
            self._link_client()
            for b in self.backends:
                self._link_backend(b)
            self._configure_node()
            self.set_sysctls(self.client_ns,
                             {"net.ipv4.tcp_tw_reuse": self.tcp_tw_reuse})
            self._apply_offloads()
            if self.static_neighbours:
                self._add_static_neighbours()
            if self.n_client_addresses:
                self.add_client_addresses(self.n_client_addresses)
        except BaseException:
            self.close()
            raise
        return self

    def _add_namespace(self, ns):
        run(["ip", "netns", "add", ns])
        self._created.append(ns)
        set_marker(ns, self._marker_fields())
        ip(ns, "link", "set", "lo", "up")
        settings = {}
        if self.ipv6:
            settings.update({"net.ipv6.conf.all.disable_ipv6": 0,
                             "net.ipv6.conf.default.disable_ipv6": 0,
                             "net.ipv6.conf.all.accept_dad": 0,
                             "net.ipv6.conf.default.accept_dad": 0})
        if settings:
            self.set_sysctls(ns, settings)

    def _marker_fields(self):
        marker = {"id": self.id, "pid": self.owner_pid,
                  "start": self.owner_start or 0}
        if self.workdir and " " not in self.workdir:
            marker["dir"] = self.workdir
        return marker

    def _veth(self, node_if, node_mac, peer_ns, peer_if, peer_mac):
        ip(self.node_ns, "link", "add", "name", node_if, "address", node_mac,
           "type", "veth", "peer", "name", peer_if, "address", peer_mac,
           "netns", peer_ns)

    def _addresses(self, ns, ifname, v4, v6):
        ip(ns, "addr", "add", f"{v4}/24", "dev", ifname)
        if self.ipv6:
            ip(ns, "-6", "addr", "add", f"{v6}/64", "dev", ifname, "nodad")
        ip(ns, "link", "set", ifname, "up")

    def _default_routes(self, ns, ifname, gw4, gw6):
        ip(ns, "route", "add", "default", "via", gw4, "dev", ifname)
        if self.ipv6:
            ip(ns, "-6", "route", "add", "default", "via", gw6, "dev", ifname)

    def _link_client(self):
        self._veth(self.node_client_if, self.node_client_mac, self.client_ns,
                   self.client_if, self.client_mac)
        self._addresses(self.node_ns, self.node_client_if,
                        self.node_client_ipv4, self.node_client_ipv6)
        self._addresses(self.client_ns, self.client_if,
                        self.client_ipv4, self.client_ipv6)
        self._default_routes(self.client_ns, self.client_if,
                             self.node_client_ipv4, self.node_client_ipv6)

    def _link_backend(self, b):
        self._veth(b.node_if, b.node_mac, b.ns, b.ifname, b.mac)
        self._addresses(self.node_ns, b.node_if, b.node_ipv4, b.node_ipv6)
        self._addresses(b.ns, b.ifname, b.ipv4, b.ipv6)
        self._default_routes(b.ns, b.ifname, b.node_ipv4, b.node_ipv6)

    def _configure_node(self):
        settings = {"net.ipv4.ip_forward": 1}
        if self.ipv6:
            settings["net.ipv6.conf.all.forwarding"] = 1
        self.set_sysctls(self.node_ns, settings)
        self.set_rp_filter(self.rp_filter)

    def _apply_offloads(self):
        if self.tx_off_backends:
            for b in self.backends:
                self.set_tx_offload(self.node_ns, b.node_if, False)
        if self.tx_off_node_client:
            self.set_tx_offload(self.node_ns, self.node_client_if, False)
        if self.tx_off_client:
            self.set_tx_offload(self.client_ns, self.client_if, False)
        if self.gro_peers:
            self.ethtool_k(self.client_ns, self.client_if, gro="on")
            for b in self.backends:
                self.ethtool_k(b.ns, b.ifname, gro="on")

    def _add_static_neighbours(self):
        pairs = [(self.client_ns, self.client_if, self.node_client_ipv4,
                  self.node_client_ipv6, self.node_client_mac),
                 (self.node_ns, self.node_client_if, self.client_ipv4,
                  self.client_ipv6, self.client_mac)]
        for b in self.backends:
            pairs.append((b.ns, b.ifname, b.node_ipv4, b.node_ipv6, b.node_mac))
            pairs.append((self.node_ns, b.node_if, b.ipv4, b.ipv6, b.mac))
        for ns, ifname, v4, v6, lladdr in pairs:
            self.add_neighbour(ns, ifname, v4, lladdr)
            if self.ipv6:
                self.add_neighbour(ns, ifname, v6, lladdr)

    def add_neighbour(self, ns, ifname, addr, lladdr):
        """Permanent neighbour entry addr -> lladdr on ifname in ns."""
        ip(ns, "neigh", "replace", addr, "lladdr", lladdr, "dev", ifname,
           "nud", "permanent")

    def flush_neighbours(self, ns=None):
        """Drop all neighbour entries (ns, or every lab namespace)."""
        for name in [ns] if ns else self.namespaces:
            ip(name, "neigh", "flush", "all", check=False)

    # -- settings and helpers used by tests

    def ns_exec(self, ns, argv, check=True, input=None, timeout=60, env=None):
        """Run argv inside namespace ns; return its stdout as str."""
        return ns_run(ns, argv, check=check, input=input, timeout=timeout,
                      env=env)

    def set_sysctls(self, ns, settings):
        """Write {key: value} sysctls inside ns (never in the host)."""
        args = [f"{k}={v}" for k, v in settings.items()]
        self.ns_exec(ns, ["sysctl", "-qw"] + args)

    def sysctl(self, ns, key):
        return self.ns_exec(ns, ["sysctl", "-n", key]).strip()

    def set_rp_filter(self, mode):
        """Set rp_filter (0 off, 1 strict, 2 loose) on the node: all, default
        and every interface, so that the effective value is `mode`."""
        if mode not in (0, 1, 2):
            raise ValueError("rp_filter is 0, 1 or 2")
        ifaces = ["all", "default", self.node_client_if] + \
                 [b.node_if for b in self.backends]
        self.set_sysctls(self.node_ns, {f"net.ipv4.conf.{i}.rp_filter": mode
                                        for i in ifaces})
        self.rp_filter = mode

    def ethtool_k(self, ns, ifname, **features):
        """ethtool -K ifname feature on|off ... inside ns."""
        args = []
        for name, value in features.items():
            args += [name.replace("_", "-"), value]
        self.ns_exec(ns, ["ethtool", "-K", ifname] + args)

    def set_tx_offload(self, ns, ifname, enabled):
        """Turn tx checksum offload on/off.  Off means checksums are
        completed in software on transmit, so a wrong one is detected."""
        self.ethtool_k(ns, ifname, tx="on" if enabled else "off")

    def tx_offload(self, ns, ifname):
        """Current tx-checksumming state (True = offloaded)."""
        out = self.ns_exec(ns, ["ethtool", "-k", ifname])
        for line in out.splitlines():
            if line.startswith("tx-checksumming:"):
                return line.split(":")[1].split()[0] == "on"
        raise LabError(f"no tx-checksumming line for {ifname}")

    def add_client_addresses(self, n):
        """Add client source addresses 10.200.0.3.. (and fd00:200::3..) on
        the client veth; return the list of all extra IPv4 addresses."""
        start = 3 + len(self.client_addresses)
        if start + n - 1 > 254:
            raise ValueError("too many client addresses")
        for k in range(start, start + n):
            v4, v6 = f"10.200.0.{k}", f"fd00:200::{k}"
            ip(self.client_ns, "addr", "add", f"{v4}/24", "dev", self.client_if)
            if self.static_neighbours:
                self.add_neighbour(self.node_ns, self.node_client_if, v4,
                                   self.client_mac)
            if self.ipv6:
                ip(self.client_ns, "-6", "addr", "add", f"{v6}/64", "dev",
                   self.client_if, "nodad")
                if self.static_neighbours:
                    self.add_neighbour(self.node_ns, self.node_client_if, v6,
                                       self.client_mac)
                self.client_addresses6.append(v6)
            self.client_addresses.append(v4)
        return list(self.client_addresses)

    def nstat_csum_errors(self, ns):
        """Absolute checksum-error counters in ns (nstat -asz):
        {"TcpInCsumErrors": n, "UdpInCsumErrors": n, "Udp6InCsumErrors": n,
         "IpExtInCsumErrors": n, ...}."""
        env = dict(os.environ, NSTAT_HISTORY="/dev/null")
        out = self.ns_exec(ns, ["nstat", "-asz"], env=env)
        counters = {"TcpInCsumErrors": 0, "UdpInCsumErrors": 0}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and "CsumErr" in parts[0]:
                counters[parts[0]] = int(parts[1])
        return counters

    def csum_errors(self, namespaces=None):
        """{ns: nstat_csum_errors(ns)} for the client and every backend
        (or the given namespaces)."""
        names = namespaces or [self.client_ns] + [b.ns for b in self.backends]
        return {ns: self.nstat_csum_errors(ns) for ns in names}

    # -- backends

    def start_backends(self, timeout=10.0):
        """Start colour_server in every backend namespace and wait until
        each answers on IPv4 (and IPv6) from the node namespace."""
        for b in self.backends:
            if b.process is None or b.process.poll() is not None:
                self._spawn_backend(b)
        self.wait_backends(self.backends, timeout)

    def start_backend(self, name, timeout=10.0):
        b = self.backend(name)
        if b.process is None or b.process.poll() is not None:
            self._spawn_backend(b)
        self.wait_backends([b], timeout)

    def _spawn_backend(self, b):
        log = open(os.path.join(self.workdir, f"{b.name}.log"), "ab")
        argv = ["ip", "netns", "exec", b.ns, PYTHON, SERVER_PY,
                "--name", b.name, "--colour", b.colour, "--port", str(b.port)]
        argv += [str(a) for a in self.backend_args.get(b.name, ())]
        with log:
            b.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         start_new_session=True)
        b.pid = b.process.pid

    def wait_backends(self, backends, timeout=10.0):
        """Block until every given backend answers /healthz (from the node)."""
        targets = [f"{b.ipv4}:{b.port}" for b in backends]
        if self.ipv6:
            targets += [f"[{b.ipv6}]:{b.port}" for b in backends]
        out = self.ns_exec(self.node_ns, [PYTHON, LAB_PY, "_probe",
                                          "--timeout", str(timeout)] + targets,
                           check=False, timeout=timeout + 10)
        failed = json.loads(out or "{}").get("failed", ["probe did not run"])
        if failed:
            logs = {b.name: self._tail_log(b) for b in backends}
            raise LabError(f"backends not answering: {failed}; logs: {logs}")

    def _tail_log(self, b):
        try:
            with open(os.path.join(self.workdir, f"{b.name}.log")) as f:
                return f.read()[-500:]
        except OSError:
            return ""

    def stop_backend(self, name, timeout=5.0):
        """Stop one backend's server (SIGTERM, then SIGKILL)."""
        b = self.backend(name)
        if b.process is not None:
            stop_process(b.process, timeout)
        elif b.pid and b.pid in ns_pids(b.ns):  # attached lab: check the ns
            kill_pids([b.pid])
        b.process, b.pid = None, 0

    def stop_backends(self):
        for b in self.backends:
            self.stop_backend(b.name)

    # -- client traffic

    def client_argv(self, mode, url, *args):
        return ["ip", "netns", "exec", self.client_ns, PYTHON, CLIENT_PY,
                mode, "--url", url] + [str(a) for a in args]

    def fresh(self, url=None, n=100, concurrency=8, timeout=5.0,
              local_addr=None, source_ports=None, duration=None,
              linger0=False, extra=()):
        """Run `client.py fresh` in the client namespace; return its JSON."""
        args = ["-n", n, "--concurrency", concurrency, "--timeout", timeout]
        if local_addr:
            args += ["--local-addr", _comma(local_addr)]
        if source_ports:
            args += ["--source-ports", _comma(source_ports)]
        if duration:
            args += ["--duration", duration]
        if linger0:
            args.append("--linger0")
        argv = self.client_argv("fresh", url or self.url(), *args, *extra)
        limit = (duration or 0) + timeout * max(1, n) + 30
        return json.loads(run(argv, timeout=limit))

    def hold(self, url=None, n=4, requests=100, local_addr=None, timeout=5.0):
        """Start `client.py hold` in the client namespace: a HoldSession."""
        args = ["-n", n, "--requests", requests, "--timeout", timeout]
        if local_addr:
            args += ["--local-addr", _comma(local_addr)]
        return HoldSession(self.client_argv("hold", url or self.url(), *args),
                           timeout=max(60, timeout * n))

    # -- reaper, teardown, state

    def _start_reaper(self):
        argv = [PYTHON, LAB_PY, "_reap", "--id", self.id,
                "--workdir", self.workdir] + self.namespaces
        self._reaper = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL,
                                        start_new_session=True)

    def _stop_reaper(self):
        if self._reaper is None:
            return
        try:
            self._reaper.stdin.write(b"detach\n")
            self._reaper.stdin.close()
        except OSError:
            pass
        try:
            self._reaper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._reaper.kill()
            self._reaper.wait()
        self._reaper = None

    def close(self):
        """Remove everything this lab created.  Idempotent."""
        if self._closed or not self.owned or os.getpid() != self._pid:
            return
        self._closed = True
        with _Cleaning():
            try:
                for b in self.backends:
                    if b.process is not None:
                        stop_process(b.process, 2.0)
                        b.process = None
                destroy_namespaces(self._created)
            finally:
                self._stop_reaper()
                remove_workdir(self.workdir)
                if self in _live_labs:
                    _live_labs.remove(self)

    def detach(self):
        """Leave the lab running after this process exits (lab.py up)."""
        self._stop_reaper()
        self.owned = False
        for b in self.backends:
            b.process = None  # keep running; pids stay in the state
        if self in _live_labs:
            _live_labs.remove(self)

    def to_dict(self):
        return {
            "id": self.id, "owner_pid": self.owner_pid,
            "owner_start": self.owner_start, "workdir": self.workdir,
            "ipv6": self.ipv6, "rp_filter": self.rp_filter,
            "namespaces": self.namespaces,
            "client": {"ns": self.client_ns, "if": self.client_if,
                       "ipv4": self.client_ipv4, "ipv6": self.client_ipv6,
                       "mac": self.client_mac,
                       "extra_ipv4": self.client_addresses,
                       "extra_ipv6": self.client_addresses6},
            "node": {"ns": self.node_ns, "client_if": self.node_client_if,
                     "ipv4": self.node_client_ipv4,
                     "ipv6": self.node_client_ipv6,
                     "mac": self.node_client_mac},
            "vip": {"ipv4": self.vip4, "ipv6": self.vip6,
                    "port": self.vip_port},
            "backends": [b.to_dict() for b in self.backends],
            "offloads": {"tx_off_backends": self.tx_off_backends,
                         "tx_off_node_client": self.tx_off_node_client,
                         "tx_off_client": self.tx_off_client},
        }

    @classmethod
    def attach(cls, state):
        """A Lab object for a running lab described by a state file/dict.
        It does not own the lab: close() leaves it alone."""
        if isinstance(state, str):
            with open(state) as f:
                state = json.load(f)
        lab = cls(n_green=0, n_orange=0, ipv6=state["ipv6"],
                  lab_id=state["id"], rp_filter=state["rp_filter"],
                  owner_pid=state["owner_pid"], reaper=False)
        lab.backends = [Backend(**b) for b in state["backends"]]
        lab.client_addresses = state["client"]["extra_ipv4"]
        lab.client_addresses6 = state["client"]["extra_ipv6"]
        lab.workdir = state["workdir"]
        lab.owner_start = state["owner_start"]
        lab.owned = False
        return lab


def _comma(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def stop_process(proc, timeout):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- hidden subcommands: probe (runs in the node ns) and reaper ------------------

def probe(targets, timeout):
    """Wait until each host:port answers GET /healthz; return the failures."""
    import socket
    deadline = time.monotonic() + timeout
    failed = []
    for target in targets:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        while True:
            try:
                with socket.create_connection((host, int(port)), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                failed.append(target)
                break
            time.sleep(0.05)
    return failed


def reaper(lab_id, workdir, names):
    """Wait for the owner to go away (stdin EOF), then remove its lab.
    A "detach" line means the owner cleaned up or detached: do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for line in sys.stdin:
        if line.strip() == "detach":
            return
    mine = [ns for ns in names
            if (read_marker(ns) or {}).get("id") == lab_id]
    destroy_namespaces(mine)
    remove_workdir(workdir)


# --- CLI ---------------------------------------------------------------------------

def cmd_up(args):
    owner = os.getppid() if args.owner_pid is None else args.owner_pid
    lab = Lab(n_green=args.green, n_orange=args.orange, ipv6=not args.no_ipv6,
              lab_id=args.id, rp_filter=args.rp_filter,
              tx_off_backends=not args.no_backend_tx_off,
              tx_off_node_client=not args.no_node_client_tx_off,
              tx_off_client=args.client_tx_off, tcp_tw_reuse=args.tw_reuse,
              static_neighbours=not args.dynamic_neighbours,
              gro_peers=args.gro, client_addresses=args.client_addresses,
              owner_pid=owner)
    with lab:
        if not args.no_backends:
            lab.start_backends()
        state = lab.to_dict()
        tmp = args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=2)
        os.rename(tmp, args.state)
        lab.detach()
    print(json.dumps(state, indent=2))


def cmd_down(args):
    if args.all_stale:
        removed = reap_stale(args.id)
        print(json.dumps({"removed": removed}))
        return
    with open(args.state) as f:
        state = json.load(f)
    names = [ns for ns in state["namespaces"] if ns.startswith(NS_PREFIX)]
    mine = [ns for ns in names
            if (read_marker(ns) or {"id": state["id"]}).get("id") == state["id"]]
    removed = destroy_namespaces(mine)
    remove_workdir(state.get("workdir"))
    os.unlink(args.state)
    print(json.dumps({"removed": removed}))


def cmd_list(args):
    rows = []
    for ns, marker in sorted(lab_namespaces().items()):
        m = marker or {}
        alive = owner_alive(int(m.get("pid", 0)), m.get("start")) \
            if marker else None
        rows.append({"ns": ns, "id": m.get("id"), "owner_pid": m.get("pid"),
                     "owner_alive": alive, "marked": marker is not None})
    print(json.dumps(rows, indent=2))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="bpfsplit network-namespace lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create a lab and leave it running")
    up.add_argument("--state", required=True, help="JSON description to write")
    up.add_argument("--id", help="lab id (default: random)")
    up.add_argument("--green", type=int, default=3)
    up.add_argument("--orange", type=int, default=1)
    up.add_argument("--no-ipv6", action="store_true")
    up.add_argument("--rp-filter", type=int, default=0, choices=(0, 1, 2))
    up.add_argument("--client-tx-off", action="store_true",
                    help="software checksums on the client (simulate a wire)")
    up.add_argument("--no-backend-tx-off", action="store_true")
    up.add_argument("--no-node-client-tx-off", action="store_true")
    up.add_argument("--tw-reuse", type=int, default=1)
    up.add_argument("--dynamic-neighbours", action="store_true")
    up.add_argument("--gro", action="store_true",
                    help="GRO on the client/backend veths (NAPI for redirect)")
    up.add_argument("--client-addresses", type=int, default=0)
    up.add_argument("--no-backends", action="store_true",
                    help="do not start the colour servers")
    up.add_argument("--owner-pid", type=int,
                    help="lab is stale once this PID is gone (default: the "
                         "parent process; 0: never stale)")
    down = sub.add_parser("down", help="remove a lab")
    g = down.add_mutually_exclusive_group(required=True)
    g.add_argument("--state")
    g.add_argument("--all-stale", action="store_true",
                   help="remove every lab whose owner process is dead")
    down.add_argument("--id", help="with --all-stale: only this lab id")
    sub.add_parser("list", help="list bs* namespaces and their owners")
    pr = sub.add_parser("_probe")
    pr.add_argument("--timeout", type=float, default=10)
    pr.add_argument("targets", nargs="+")
    rp = sub.add_parser("_reap")
    rp.add_argument("--id", required=True)
    rp.add_argument("--workdir")
    rp.add_argument("names", nargs="+")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.cmd == "up":
        cmd_up(args)
    elif args.cmd == "down":
        cmd_down(args)
    elif args.cmd == "list":
        cmd_list(args)
    elif args.cmd == "_probe":
        print(json.dumps({"failed": probe(args.targets, args.timeout)}))
    elif args.cmd == "_reap":
        reaper(args.id, args.workdir, args.names)


if __name__ == "__main__":
    main()
