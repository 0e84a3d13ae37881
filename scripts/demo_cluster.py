#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""make demo CLUSTER=1: the canary rollout on a cluster of three nodes.

Builds the cluster lab (tests/lab/cluster.py: three nodes, two pods each, pod CIDRs
routed between nodes, an external client behind an ECMP router), runs one bpfsplit per
node (its own pin root; socket hooks on the node's cgroup for pods, tc entry points with
SNAT for traffic from outside), and plays the seed scenario's canary steps (setWeight 30
/ pause / 60 / pause / 100 / pause, then promotion) by writing the same weights on every
node, as each node's agent does. At every step, 2000 fresh connections come from a pod
on every node (to the Service cluster IP, chosen at connect()) and from the external
client (to the Gateway address, through whichever node ECMP picks). One line per step
and source:

  step 1/6 setWeight=30 source=pod@node2 observed canary=30.1% (602/2000) exact=2000/2000 ok

exact counts the connections that reached precisely the backend the data path's own
hash and tables predict for their source port (`bpfsplit flow predict`); a line is ok
when all did and none failed. A long-lived connection from a pod and one from outside
are checked at every step: they keep their backend. Exit 0 only if every line is ok.
"""

import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from cluster import (CLUSTER_IP, EXTERNAL_ADDR, FRONTEND_PORT, GATEWAY_VIP, ClusterLab,  # noqa: E402
                     NodeDataPath, frontend)

BUILD = os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build"))
CLI = os.path.join(BUILD, "bpfsplit")
N = int(os.environ.get("DEMO_CONNECTIONS", "2000"))
STEPS = [{"setWeight": 30}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}, {"setWeight": 100}, {"pause": {}}]
FE_EW = frontend(CLUSTER_IP, FRONTEND_PORT)
FE_NS = frontend(GATEWAY_VIP, FRONTEND_PORT)


class ClusterDemo:
    def __init__(self):
        self.failures = []
        self.port_base = 20000
        self.lab = ClusterLab(n_nodes=3, pods_per_node=2)

    def start(self):
        self.lab.up()
        self.dps = [NodeDataPath(self.lab, n, CLI) for n in self.lab.nodes]
        for dp in self.dps:
            dp.attach_cgroup()
            dp.attach_snat()
        print(f"cluster lab up: {len(self.lab.nodes)} nodes ({', '.join(n.addr for n in self.lab.nodes)}), "
              f"pods {', '.join(p.name + '=' + p.addr for p in self.lab.pods)}")
        print(f"bpfsplit on every node: socket hooks on its cgroup (pods -> {CLUSTER_IP}), tc-ingress with "
              f"SNAT on eth0 and cni0 (outside -> {GATEWAY_VIP} over ECMP)")

    def set_weights(self, stable, canary, stable_colour="green"):
        for dp in self.dps:
            for fe in (FE_EW, FE_NS):
                if stable_colour == "green":
                    dp.apply(fe, stable, canary)
                else:  # promoted: orange is stable now, no canary
                    dp.apply(fe, canary, stable)

    def sources(self):
        for node in self.lab.nodes:
            yield f"pod@{node.name}", node.pods[0], f"{CLUSTER_IP}:{FRONTEND_PORT}", FE_EW, node.i - 1
        yield "external", None, f"{GATEWAY_VIP}:{FRONTEND_PORT}", FE_NS, 0

    def batch(self, label, weight, canary_colour):
        for name, pod, target, fe, dp_i in self.sources():
            lo = self.port_base
            hi = lo + N - 1
            results = self.lab.fresh(pod, target, (lo, hi))
            want = self.dps[dp_i].predict(fe, pod.addr if pod else EXTERNAL_ADDR, (lo, hi))
            errors = sum(1 for r in results if "error" in r)
            exact = sum(1 for r in results if "error" not in r
                        and self.lab.pod_by_name(r["backend"]).endpoint() == want[r["port"]])
            observed = sum(1 for r in results if r.get("colour") == canary_colour)
            ok = errors == 0 and exact == N
            p = weight / 100
            sd = math.sqrt(N * p * (1 - p))
            within = abs(observed - N * p) <= 3 * sd + 1e-9
            if not ok:
                self.failures.append(f"{label} source={name}")
            print(f"{label} source={name} observed canary={100 * observed / N:.1f}% ({observed}/{N}) "
                  f"exact={exact}/{N}{'' if not errors else ' errors=' + str(errors)} "
                  f"{'ok' if ok else 'FAILED'}{'' if within else ' (share beyond 3 sd)'}", flush=True)
        self.port_base += N

    def check_held(self, held):
        for name, conn, first in held:
            now = conn.round()
            if now != first:
                self.failures.append(f"long-lived {name}")
                print(f"    long-lived connection from {name} moved: {first} -> {now}")
        print(f"    long-lived connections still answered by: "
              + ", ".join(f"{name}={first['backend']}" for name, _, first in held))

    def run(self):
        print("\n== cluster act: rollout of orange (steps setWeight 30 / pause / 60 / pause / 100 / pause)")
        self.set_weights(100, 0)
        held = []
        pod = self.lab.nodes[1].pods[0]
        for name, p, target in (("pod@node2", pod, f"{CLUSTER_IP}:{FRONTEND_PORT}"),
                                ("external", None, f"{GATEWAY_VIP}:{FRONTEND_PORT}")):
            conn = self.lab.hold(p, target, 19000)
            held.append((name, conn, conn.round()))
        print("long-lived connections opened before the rollout: "
              + ", ".join(f"{n}={f['colour']}" for n, _, f in held))
        weight = 0
        for i, step in enumerate(STEPS):
            if "setWeight" in step:
                weight = step["setWeight"]
                t0 = time.monotonic()
                self.set_weights(100 - weight, weight)
                print(f"    weights written on {len(self.dps)} nodes in {(time.monotonic() - t0) * 1000:.0f} ms")
                self.batch(f"step {i + 1}/{len(STEPS)} setWeight={weight}", weight, "orange")
            else:
                self.batch(f"step {i + 1}/{len(STEPS)} pause", weight, "orange")
            self.check_held(held)
        self.set_weights(100, 0, stable_colour="orange")
        self.batch("promoted: stable=orange", 0, "green")
        for _, conn, _ in held:
            conn.close()


def main():
    demo = ClusterDemo()
    try:
        t0 = time.monotonic()
        demo.start()
        demo.run()
        print(f"\ncluster demo finished in {time.monotonic() - t0:.0f}s: "
              + ("every connection reached its predicted backend" if not demo.failures
                 else f"FAILED: {', '.join(demo.failures)}"))
        return 1 if demo.failures else 0
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up")
        return 130
    finally:
        demo.lab.close()


if __name__ == "__main__":
    sys.exit(main())
