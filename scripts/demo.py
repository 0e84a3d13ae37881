#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""make demo: a canary rollout in the kernel.

Builds the lab (client, node with bpfsplit attached, three green stable pods and
three orange canary pods), starts the test API server and bpfsplit-agent watching
it, applies the seed scenario's objects, then plays Argo Rollouts and its Gateway
API plugin step by step. At every step it sends a batch of fresh connections from
the client and prints one line a script can read:

  step 1/6 setWeight=30 observed canary=29.6% (592/2000) green=1408 orange=592

Act 1 rolls orange out (30 -> 60 -> 100, promotion) while one long-lived
connection keeps its colour; act 2 starts another canary and aborts it: every
new connection returns to stable at once. A real Prometheus (Debian's
`prometheus`) scrapes the agent throughout, and after every setWeight step the
shipped AnalysisTemplate (deploy/analysis) is measured through it, as Argo's
analysis would: act 1's healthy canary passes every step; in act 3 the canary's
pods reset every fourth client port, the analysis fails at setWeight=30 and the
rollout is aborted back to 100% stable:

  analysis: canary failure ratio 0.25 > 0.05 at setWeight=30 -> abort

Exit 0 only if every observed share is within 3 binomial standard deviations of
its weight and each analysis decided as it should. Everything is removed at
the end (Ctrl-C included) unless KEEP=1.
"""

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("tests/lab", "tests/e2e", "tests/argo"):
    sys.path.insert(0, os.path.join(ROOT, sub))

from harness import BUILD, DataPath, FRONTEND4  # noqa: E402
from lab import Lab  # noqa: E402
from kube_rest import KubeRest  # noqa: E402
from argo_player import ArgoPlayer, STEPS  # noqa: E402
import analysis  # noqa: E402

N = int(os.environ.get("DEMO_CONNECTIONS", "2000"))
KEEP = os.environ.get("KEEP") == "1"
AGENT = os.path.join(BUILD, "bpfsplit-agent")
APISERVER = os.path.join(ROOT, "tests", "apiserver", "fake_apiserver.py")
STATE_FILE = "/run/bpfsplit-demo.json"
COLOURS = {"green": "\033[32m", "orange": "\033[33m"}
RESET = "\033[0m"


def bar(counts, total, width=50):
    out = ""
    for colour in ("green", "orange"):
        cells = round(width * counts.get(colour, 0) / total) if total else 0
        out += (COLOURS[colour] if sys.stdout.isatty() else "") + ("█" if sys.stdout.isatty() else
                                                                    colour[0]) * cells
    return out + (RESET if sys.stdout.isatty() else "")


class Demo:
    def __init__(self):
        self.procs = []
        self.failures = []
        self.lab = None
        self.dp = None
        self.prom = None
        self.tmp = tempfile.mkdtemp(prefix="bpfsplit-demo-")

    # ---- set-up ----

    def start(self):
        self.lab = Lab(n_green=3, n_orange=3, ipv6=True, tx_off_client=True)
        self.lab.up()
        self.lab.start_backends()
        self.dp = DataPath(self.lab, "xdp", pin_root="/sys/fs/bpf/bpfsplit-demo")
        how = self.dp.attach_node()
        print(f"lab up: client {self.lab.client_ns}, node {self.lab.node_ns} "
              f"({how}: the client's packets arrive as from a wire, with full checksums, so the "
              f"XDP entry point serves them), green {[b.ipv4 for b in self.lab.green]}, orange {[b.ipv4 for b in self.lab.orange]}")

        ready = os.path.join(self.tmp, "apiserver.json")
        self.spawn([sys.executable if sys.executable.startswith("/usr/bin") else "/usr/bin/python3", APISERVER,
                    "--state-dir", os.path.join(self.tmp, "apiserver"), "--port", "0", "--ready-file", ready,
                    "--bookmark-interval", "5"], "apiserver")
        self.api = self.wait_json(ready, 20)
        print(f"test API server: {self.api['server']} (kubeconfig {self.api['kubeconfig']})")
        self.kube = KubeRest(self.api["server"], self.api["ca"], self.api["token_file"])
        self.player = ArgoPlayer(self.kube, {"green": self.lab.green, "orange": self.lab.orange})
        self.player.apply_seed()
        self.metrics_port = analysis.free_port()
        self.spawn([AGENT, "--kubeconfig", self.api["kubeconfig"], "--pin-root", self.dp.pin_root,
                    "--gateway-class", "agentgateway", "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
                    "--ui"], "agent")
        self.wait_weights(100, 0, timeout=20)
        print("bpfsplit-agent: following HTTPRoute argo-rollouts-http-route -> frontend "
              f"{FRONTEND4} (Gateway agentgateway-proxy); live page http://127.0.0.1:{self.metrics_port}/ui")
        self.prom = analysis.Prometheus([f"127.0.0.1:{self.metrics_port}"], workdir=os.path.join(self.tmp, "prom"))
        self.template = analysis.load_template()
        print(f"prometheus: {self.prom.url} scraping the agent every second "
              "(rules: deploy/analysis/prometheusrule.yaml)")

    def spawn(self, argv, name):
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, p, log.name))
        return p

    def wait_json(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path) and os.path.getsize(path):
                with open(path) as f:
                    return json.loads(f.readline())
            self.check_procs()
            time.sleep(0.05)
        raise RuntimeError(f"{path} did not appear in {timeout}s")

    def check_procs(self):
        for name, p, log in self.procs:
            if p.poll() is not None:
                with open(log) as f:
                    tail = f.read()[-2000:]
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")

    def weights(self):
        out = self.dp.cli("frontend", "show", FRONTEND4, json_out=True, check=False)
        if not out:
            return None
        return tuple(g["weight"] for g in out["groups"])

    def wait_weights(self, stable, canary, timeout=10):
        """The maps hold what the agent was told (it logs how long that took)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.weights() == (stable, canary):
                return
            self.check_procs()
            time.sleep(0.01)
        raise RuntimeError(f"maps did not reach {stable}/{canary} in {timeout}s (have {self.weights()})")

    # ---- measuring ----

    def agent_latency_us(self):
        """The agent's own figure for its last map write (its log: event_to_map_us)."""
        log = next(path for name, _, path in self.procs if name == "agent")
        with open(log) as f:
            found = re.findall(r"event_to_map_us=(\d+)", f.read())
        return found[-1] if found else "?"

    def batch(self, label, canary_weight, canary_colour):
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8)
        counts = r["counts"]
        observed = counts.get(canary_colour, 0)
        p = canary_weight / 100
        sd = math.sqrt(N * p * (1 - p))
        ok = r["errors"] == 0 and abs(observed - N * p) <= 3 * sd + 1e-9
        if not ok:
            self.failures.append(label)
        print(f"{label} observed canary={100 * observed / N:.1f}% ({observed}/{N}) "
              f"green={counts.get('green', 0)} orange={counts.get('orange', 0)}"
              f"{'' if r['errors'] == 0 else ' errors=' + str(r['errors'])} {'ok' if ok else 'OUT OF BOUNDS'}")
        print(f"    {bar(counts, N)}")
        return ok

    def analyse(self, step_index, weight, t0, expect_pass):
        """The shipped AnalysisTemplate over the step (since t0), through Prometheus."""
        self.prom.wait_scraped()
        args = {"namespace": "default", "rollout": "rollouts-demo", "window": f"{math.ceil(time.time() - t0)}s"}
        # The player's analysis step aborts the rollout when a measurement fails.
        passed, line, _ = self.player.analysis_step(self.prom, step_index, weight, args, self.template)
        print(line)
        if passed != expect_pass:
            self.failures.append(f"analysis at setWeight={weight}")
        return passed

    def long_lived(self, held, expected):
        r = held.round()
        colours = set(r["connections"][0]["colours"])
        ok = r["errors"] == 0 and colours == {expected}
        if not ok:
            self.failures.append("long-lived connection")
        return colours

    # ---- the story ----

    def act1(self):
        print("\n== act 1: rollout of orange (steps setWeight 30 / pause / 60 / pause / 100 / pause)")
        self.player.start_canary("orange")
        with self.lab.hold(self.lab.url(4), n=1, requests=5) as held:
            first = self.long_lived(held, "green")
            print(f"long-lived connection opened before the rollout answers: {sorted(first)[0]}")
            weight = 0
            for i, step in enumerate(STEPS):
                if "setWeight" in step:
                    weight = step["setWeight"]
                    self.player.scale_canary(weight)
                    self.player.set_route_weights(weight)
                    t0 = time.monotonic()
                    self.wait_weights(100 - weight, weight)
                    took = (time.monotonic() - t0) * 1000
                    self.player.set_rollout_status(i + 1, weight, paused=True)
                    label = f"step {i + 1}/{len(STEPS)} setWeight={weight}"
                    t_step = time.time()
                    self.prom.wait_scraped()
                    self.batch(label, weight, "orange")
                    print(f"    maps held the new weights {took:.0f} ms after the route PUT returned "
                          f"(polled through the CLI); agent: watch event to map write "
                          f"{self.agent_latency_us()} us")
                    self.analyse(i, weight, t_step, expect_pass=True)
                else:
                    self.batch(f"step {i + 1}/{len(STEPS)} pause", weight, "orange")
                colours = self.long_lived(held, "green")
                print(f"    long-lived connection still answered by: {','.join(sorted(colours))}")
            self.player.promote()
            self.wait_weights(100, 0)
            self.batch("promoted: stable=orange", 0, "green")

    def act2(self):
        print("\n== act 2: a new canary (green), aborted at 30%")
        self.player.start_canary("green")
        self.player.set_weight(0, 30)
        self.wait_weights(70, 30)
        self.batch("act 2 step 1/6 setWeight=30", 30, "green")
        self.player.abort(0)
        self.wait_weights(100, 0)
        self.batch("aborted: back to stable", 0, "green")

    def act3(self):
        print("\n== act 3: a canary whose pods reset every fourth client port, caught by the analysis")
        for b in self.lab.green:
            self.lab.backend_args[b.name] = ["--reset-mod", "4"]
            self.lab.stop_backend(b.name)
            self.lab.start_backend(b.name)
        self.player.start_canary("green")
        self.player.set_weight(0, 30)
        self.wait_weights(70, 30)
        t_step = time.time()
        self.prom.wait_scraped()
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8)
        counts = r["counts"]
        print(f"act 3 step 1/6 setWeight=30 green={counts.get('green', 0)} orange={counts.get('orange', 0)} "
              f"reset={r['errors']} (clients saw their connection reset)")
        if not r["errors"]:
            self.failures.append("act 3: no connection was reset")
        if self.analyse(0, 30, t_step, expect_pass=False):
            return
        self.wait_weights(100, 0)
        self.batch("aborted by the analysis: back to stable", 0, "green")

    # ---- teardown ----

    def keep(self):
        state = {"lab": self.lab.to_dict(), "pin_root": self.dp.pin_root, "tmp": self.tmp,
                 "pids": [p.pid for _, p, _ in self.procs] + [self.prom.proc.pid], "kubeconfig": self.api["kubeconfig"]}
        with open(STATE_FILE, "w") as f:
            json.dump(state, f)
        self.lab.detach()
        cli = f"{BUILD}/bpfsplit --pin-root {self.dp.pin_root}"
        print(f"""
KEEP=1: the lab stays up (make demo-clean removes it). Poke it:
  {cli} status
  kubectl --kubeconfig {self.api['kubeconfig']} patch httproute argo-rollouts-http-route --type=merge \\
      -p '{{"spec":{{"rules":[{{"backendRefs":[{{"name":"rollouts-demo-stable","port":80,"weight":50}},{{"name":"rollouts-demo-canary","port":80,"weight":50}}]}}]}}}}'
    (after the abort the canary has no pods: its share is refused at once with a TCP RST,
     never sent elsewhere; scale it first or keep canary at 0)
  ip netns exec {self.lab.client_ns} curl -s http://10.96.0.10/color
  live page: http://127.0.0.1:{self.metrics_port}/ui   Prometheus: {self.prom.url}
  agent log: {self.tmp}/agent.log""")

    def close(self):
        if self.prom:
            self.prom.close()
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        if self.dp:
            self.dp.close()
        if self.lab:
            self.lab.close()
        subprocess.run(["rm", "-rf", self.tmp])


def clean():
    """make demo-clean: remove what KEEP=1 left."""
    if os.path.exists(STATE_FILE):
        with open(STATE_FILE) as f:
            state = json.load(f)
        for pid in state["pids"]:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        subprocess.run([os.path.join(BUILD, "bpfsplit"), "--pin-root", state["pin_root"], "dataplane", "unload"])
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "lab", "lab.py"), "down", "--all-stale",
                        "--id", state["lab"]["id"]])
        subprocess.run(["rm", "-rf", state["tmp"]])
        os.unlink(STATE_FILE)
        print("demo lab removed")
    else:
        print("no demo lab left running")


def main():
    if sys.argv[1:] == ["clean"]:
        clean()
        return 0
    demo = Demo()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    keep = False
    try:
        t0 = time.monotonic()
        demo.start()
        demo.act1()
        demo.act2()
        demo.act3()
        print(f"\ndemo finished in {time.monotonic() - t0:.0f}s: "
              + ("every step within 3 standard deviations of its weight, every analysis as expected"
                 if not demo.failures
                 else f"FAILED: {', '.join(demo.failures)}"))
        keep = KEEP
        if keep:
            demo.keep()
        return 1 if demo.failures else 0
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up")
        return 130
    finally:
        if not keep:
            demo.close()


if __name__ == "__main__":
    sys.exit(main())
