# SPDX-License-Identifier: BSD-2-Clause
"""The DaemonSet's memory limit covers what its configuration costs. The maps' kernel
memory is charged to the memory cgroup of the process that creates them, so the
limit must hold: the maps at the rendered --max-* sizes (measured here: loaded by a
process in a memory cgroup this test creates), their per-CPU counters on a node with
up to SIZED_CPUS CPUs, the frontends in use at the documented scale (measured here
per frontend, by applying frontends shaped like the benchmark's routes), and the
agent's peak RSS at that scale (BENCHMARKS.md, control plane, agent_default).
docs/deploy.md gives the same formula."""

import json
import os
import re
import subprocess
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import podspec  # noqa: E402

BUILD = os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build"))
CLI = os.path.join(BUILD, "bpfsplit")
MEMCG = "/sys/fs/cgroup/memory"
SIZED_CPUS = 32          # docs/deploy.md: the limit is sized for nodes up to this many CPUs
PERCPU_BYTES = 32        # struct bs_counters, per CPU, per frontend and per backend slot
# docs/deploy.md: a connection-health entry in use costs about 80 + 232 bytes per CPU
# (bs_health, per-CPU, allocated when a version of a frontend first sees a connection).
HEALTH_ENTRY_BYTES = 80 + 232 * SIZED_CPUS
HEALTH_ENTRIES_PER_ROUTE = 2  # stable and canary
SAMPLE_FRONTENDS = 500   # frontends applied to measure the cost of one in use


def documented_agent_rss():
    """(routes, peak RSS MiB) of the agent_default row of BENCHMARKS.md."""
    with open(os.path.join(ROOT, "BENCHMARKS.md")) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and cells[0] == "agent_default":
                return int(cells[1].replace(",", "")), float(cells[4])
    raise AssertionError("BENCHMARKS.md has no agent_default row")


@unittest.skipUnless(os.geteuid() == 0 and os.path.ismount("/sys/fs/bpf"), "needs root and bpffs")
@unittest.skipUnless(os.path.isdir(MEMCG), "needs the cgroup v1 memory controller at " + MEMCG)
class MemoryLimitCoversTheSizes(unittest.TestCase):
    def setUp(self):
        self.cg = f"{MEMCG}/bs-sizing-{uuid.uuid4().hex[:8]}"
        os.mkdir(self.cg)
        self.pin_root = f"/sys/fs/bpf/bs-sizing-{uuid.uuid4().hex[:8]}"

    def tearDown(self):
        subprocess.run([CLI, "--pin-root", self.pin_root, "dataplane", "unload"], capture_output=True)
        for _ in range(50):  # the maps' memory leaves the cgroup once they are freed (RCU)
            try:
                os.rmdir(self.cg)
                break
            except OSError:
                time.sleep(0.1)

    def cli_in_cgroup(self, *args, input=None):
        argv = ["sh", "-c", f'echo $$ > {self.cg}/cgroup.procs && exec "$@"', "sh", CLI, "--pin-root",
                self.pin_root] + list(args)
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def usage(self):
        with open(f"{self.cg}/memory.usage_in_bytes") as f:
            return int(f.read())

    def test_rendered_limit_covers_maps_frontends_and_agent(self):
        c = podspec.agent_container(podspec.daemonset(podspec.render()))
        limit = podspec.quantity_bytes(c["resources"]["limits"]["memory"])
        flags = podspec.flag_values(c["args"])
        sizes = [f"--{k}={v}" for k, v in flags.items() if k.startswith("max-")]
        self.assertIn("--max-conns=" + flags.get("max-conns", ""), sizes, "the DaemonSet sets no --max-conns")
        routes, rss_mib = documented_agent_rss()

        before = self.usage()
        self.cli_in_cgroup("dataplane", "load", *sizes)
        maps = self.usage() - before
        fes = []
        for i in range(SAMPLE_FRONTENDS):  # the benchmark's route shape: 3 stable + 1 canary endpoints
            fes.append({"frontend": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}:80/tcp", "groups": [
                {"name": "stable", "weight": 70,
                 "backends": [{"address": f"10.244.{i % 250}.{j}:8080"} for j in (1, 2, 3)]},
                {"name": "canary", "weight": 30, "backends": [{"address": f"10.245.{i % 250}.1:8080"}]}]})
        mid = self.usage()
        self.cli_in_cgroup("frontend", "apply", "-", input=json.dumps({"frontends": fes}))
        per_frontend = (self.usage() - mid) / SAMPLE_FRONTENDS
        ncpus = os.cpu_count()
        percpu_more = max(0, SIZED_CPUS - ncpus) * PERCPU_BYTES * (
            int(flags.get("max-frontends", 65536)) + int(flags.get("max-backends", 65536)))
        health = HEALTH_ENTRIES_PER_ROUTE * HEALTH_ENTRY_BYTES * routes
        need = maps + percpu_more + per_frontend * routes + health + rss_mib * 2**20
        print(f"\nmaps {maps / 2**20:.1f} MiB ({ncpus} CPUs) + per-CPU counters for {SIZED_CPUS} CPUs "
              f"{percpu_more / 2**20:.1f} MiB + {routes} frontends x {per_frontend:.0f} B "
              f"{per_frontend * routes / 2**20:.1f} MiB + health {health / 2**20:.1f} MiB + agent RSS {rss_mib:.0f} MiB = {need / 2**20:.1f} MiB; "
              f"limit {limit / 2**20:.0f} MiB", flush=True)
        self.assertGreater(maps, 296 * int(flags["max-conns"]), "the maps were not charged to the cgroup")
        self.assertGreaterEqual(limit, need)


if __name__ == "__main__":
    unittest.main()
