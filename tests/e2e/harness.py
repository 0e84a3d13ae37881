# SPDX-License-Identifier: BSD-2-Clause
"""Shared set-up of the end-to-end tests: a lab (tests/lab) with bpfsplit's data path
loaded into a private pin root and attached in the node namespace, and helpers to
write frontends through the `bpfsplit` CLI and read its JSON back."""

import json
import os
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from lab import Lab  # noqa: E402

BUILD = os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build"))
CLI = os.path.join(BUILD, "bpfsplit")
XDP_PASS_OBJ = os.path.join(BUILD, "bpf", "xdp_pass.bpf.o")

FRONTEND4 = "10.96.0.10:80/tcp"
FRONTEND6 = "[fd00:96::10]:80/tcp"


FLOW_GROUP = os.path.join(BUILD, "tests", "tools", "flow_group")

# Source ports the tests choose for their connections: below the client's ephemeral range
# (32768..), so that they never collide with connections the kernel numbers (held ones).
PORT_LOW, PORT_HIGH = 10000, 32000
_next_port = [PORT_LOW]


def source_ports(n):
    """n distinct source ports, a fresh range on every call (wrapping around)."""
    if _next_port[0] + n > PORT_HIGH:
        _next_port[0] = PORT_LOW
    start = _next_port[0]
    _next_port[0] += n
    return list(range(start, start + n))


def predict_groups(hash_key, weights, flows, affinity="connection"):
    """The group index (None: every weight 0) the data path picks for each flow
    (saddr, sport, daddr, dport, proto), computed by tests/tools/flow_group with the
    data path's own shared C: the keyed flow hash and the weight thresholds."""
    lines = "".join(f"{a} {sp} {d} {dp} {pr}\n" for a, sp, d, dp, pr in flows)
    out = subprocess.run([FLOW_GROUP, "--key", hash_key, "--weights", ",".join(map(str, weights)),
                          "--affinity", affinity], input=lines, text=True, capture_output=True,
                         check=True, timeout=60).stdout.split()
    if len(out) != len(flows):
        raise AssertionError(f"flow_group answered {len(out)} lines for {len(flows)} flows")
    return [None if g == "none" else int(g) for g in out]


def expected_colours(lab, dp, weights, colours, ports, family=4, affinity="connection", client=None):
    """{colour: count} that connections from `client` (default: the lab's client) on the
    given source ports to the lab's frontend must give, group i answering colours[i]."""
    client = client or (lab.client_ipv6 if family == 6 else lab.client_ipv4)
    vip = lab.vip6 if family == 6 else lab.vip4
    groups = predict_groups(dp.hash_key(), weights, [(client, p, vip, lab.vip_port, "tcp") for p in ports],
                            affinity)
    counts = {}
    for g in groups:
        if g is not None:
            counts[colours[g]] = counts.get(colours[g], 0) + 1
    return counts


class DataPath:
    """bpfsplit loaded into its own pin root and attached to a lab's node."""

    def __init__(self, lab, entry, pin_root=None, max_conns=65536):
        self.lab = lab
        self.entry = entry  # "xdp" or "tc-ingress"
        self.pin_root = pin_root or f"/sys/fs/bpf/bs-e2e-{uuid.uuid4().hex[:8]}"
        self.attached = []
        self.cli("dataplane", "load", "--max-conns", str(max_conns))

    def cli(self, *args, netns=None, input=None, check=True, json_out=False):
        argv = [CLI, "--pin-root", self.pin_root] + (["-j"] if json_out else []) + list(args)
        # nsenter keeps the mount namespace (and so bpffs); `ip netns exec` would hide it.
        if netns:
            argv = ["nsenter", f"--net=/run/netns/{netns}"] + argv
        proc = subprocess.run(argv, input=input, text=True, capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        if json_out:
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc

    def attach(self, ifname, entry):
        out = self.cli("dataplane", "attach", ifname, "--entry", entry, netns=self.lab.node_ns)
        self.attached.append((ifname, entry))
        # BPFSPLIT_TC_ATTACH=classic|tcx forces how tc entry points attach: make sure it did.
        forced = os.environ.get("BPFSPLIT_TC_ATTACH")
        if forced in ("classic", "tcx") and entry != "xdp":
            want = "(tc-classic)" if forced == "classic" else "(tcx)"
            if want not in out.stdout:
                raise AssertionError(f"BPFSPLIT_TC_ATTACH={forced} but: {out.stdout.strip()}")
        return out.stdout.strip()

    def attach_node(self):
        """Ingress entry point and reverse NAT on the node's client-facing veth."""
        how = self.attach(self.lab.node_client_if, self.entry)
        self.attach(self.lab.node_client_if, "tc-egress")
        if self.entry == "xdp":
            # XDP_TX (the RST refusing a SYN) is delivered by a veth only when its peer
            # runs an XDP program (docs/datapath-notes.md); a wire needs nothing of the kind.
            self.lab.ns_exec(self.lab.client_ns, ["ip", "link", "set", "dev", self.lab.client_if,
                                                  "xdp", "obj", XDP_PASS_OBJ, "sec", "xdp"])
        return how

    def apply(self, frontend, groups, affinity="connection"):
        doc = {"frontend": frontend, "affinity": affinity, "groups": groups}
        self.cli("frontend", "apply", "-", input=json.dumps(doc))

    def split(self, w_stable, w_canary, family=4, affinity="connection", draining=()):
        """The lab's greens as group "stable", its oranges as "canary"."""
        def members(backends):
            out = []
            for b in backends:
                addr = f"{b.ipv4}:{b.port}" if family == 4 else f"[{b.ipv6}]:{b.port}"
                out.append({"address": addr, "state": "draining" if b.name in draining else "ready"})
            return out
        self.apply(FRONTEND4 if family == 4 else FRONTEND6, [
            {"name": "stable", "weight": w_stable, "backends": members(self.lab.green)},
            {"name": "canary", "weight": w_canary, "backends": members(self.lab.orange)},
        ], affinity)

    def reasons(self):
        return self.cli("stats", json_out=True)["reasons"]

    def hash_key(self):
        """The flow-hash key in force (32 hex digits), as the data path reports it."""
        return self.cli("dataplane", "show", json_out=True)["settings"]["hash_key"]

    def close(self):
        subprocess.run([CLI, "--pin-root", self.pin_root, "dataplane", "unload"], capture_output=True, timeout=60)
