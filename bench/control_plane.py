# SPDX-License-Identifier: BSD-2-Clause
"""Control-plane benchmark: bpfsplit-agent against the test API
server (tests/apiserver/fake_apiserver.py), both on 127.0.0.1, writing a private pin root.

  sync     N HTTPRoutes (mesh pattern: each route's parentRef is its own Service, whose
           ClusterIP:80 is the frontend; backendRefs stable 70 / canary 30, Services with
           EndpointSlices of 3 + 1 ready endpoints) are in the API server before the agent
           starts; time from starting the agent until bs_frontends holds N entries, and the
           agent's RSS then (VmRSS, and VmHWM: the peak).
  weights  then K weight changes of one route through the API server's control API (a
           JSON merge patch, as Argo's Gateway API plugin makes): latency from the patch
           returning until the frontend's split in the maps switches to the new weights,
           seen by `bench_dp cpwatch` polling the pinned maps (CLOCK_MONOTONIC on both
           sides). A change not seen within change_timeout_s counts as lost; the phase stops
           after budget_s. The agent's own event_to_map_us log field (watch event to map
           write) is collected as well.

Run once with the agent's defaults (it writes every route's status back) and once with
--no-status, to tell the agent's own cost from the status-write traffic.

The agent attaches nothing (no --attach / --interfaces): only its maps are written.
"""

import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APISERVER = os.path.join(ROOT, "tests", "apiserver", "fake_apiserver.py")
NS = "bench"
FE0 = "10.97.0.0:80/tcp"


def fe_ip(i):
    return f"10.97.{i >> 8}.{i & 255}"


def objects(n_routes):
    def svc(name, ip):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"], "type": "ClusterIP",
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}}

    def slice_(svc_name, addrs):
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": f"{svc_name}-abcde", "namespace": NS,
                             "labels": {"kubernetes.io/service-name": svc_name}},
                "endpoints": [{"addresses": [a], "conditions": {"ready": True, "serving": True,
                                                                 "terminating": False}} for a in addrs],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}

    items = [svc("stable", "10.100.0.1"), svc("canary", "10.100.0.2"),
             slice_("stable", ["10.201.1.2", "10.201.2.2", "10.201.3.2"]), slice_("canary", ["10.201.4.2"])]
    for i in range(n_routes):
        items.append(svc(f"fe-{i}", fe_ip(i)))
        items.append(route(i, 70, 30))
    return {"apiVersion": "v1", "kind": "List", "items": items}


def rules(w_stable, w_canary):
    return [{"backendRefs": [{"group": "", "kind": "Service", "name": "stable", "port": 80, "weight": w_stable},
                             {"group": "", "kind": "Service", "name": "canary", "port": 80, "weight": w_canary}]}]


def route(i, w_stable, w_canary):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": f"route-{i}", "namespace": NS},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": f"fe-{i}", "port": 80}],
                     "rules": rules(w_stable, w_canary)}}


def threshold(w_stable, w_canary):
    return (w_stable << 32) // (w_stable + w_canary)


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def _rss(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def _cpu_s(pid):
    """utime + stime of a process, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _post(url, doc, timeout=30):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


class _Lines:
    """Lines of a child's stdout, read by a thread, with a timeout per line."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.t.start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.q.put(line.strip())
        self.q.put(None)

    def get(self, timeout):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None


def run_control_plane(build, n_routes=10000, flips=100, pin_root=None, log=print, status_writes=True,
                      budget_s=60, change_timeout_s=10):
    agent = os.path.join(build, "bpfsplit-agent")
    cli = os.path.join(build, "bpfsplit")
    pin_root = pin_root or f"/sys/fs/bpf/bs-bench-{os.getpid()}-cp"
    tmp = tempfile.mkdtemp(prefix="bs-bench-cp-")
    procs = []

    def spawn(argv, name, stdout=None, stdin=None):
        logf = open(os.path.join(tmp, f"{name}.log"), "w")
        p = subprocess.Popen(argv, stdout=stdout or logf, stderr=logf, stdin=stdin or subprocess.DEVNULL,
                             text=True, start_new_session=True)
        procs.append(p)
        return p

    try:
        with open(os.path.join(tmp, "objects.json"), "w") as f:
            json.dump(objects(n_routes), f)
        ready = os.path.join(tmp, "ready.json")
        api = spawn(["/usr/bin/python3", APISERVER, "--state-dir", os.path.join(tmp, "api"), "--port", "0",
                     "--ready-file", ready, "--load", os.path.join(tmp, "objects.json"),
                     "--bookmark-interval", "5"], "apiserver")
        deadline = time.monotonic() + 120
        while not (os.path.exists(ready) and os.path.getsize(ready)):
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("test API server did not start: "
                                   + open(os.path.join(tmp, "apiserver.log")).read()[-1000:])
            time.sleep(0.05)
        with open(ready) as f:
            info = json.loads(f.readline())

        watch = spawn([os.path.join(build, "bench", "bench_dp"), "cpwatch", "--pin-root", pin_root,
                       "--frontend", FE0, "--count", str(n_routes), "--timeout", "120"], "cpwatch",
                      stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        lines = _Lines(watch)
        t_start = time.monotonic_ns()
        ag = spawn([agent, "--kubeconfig", info["kubeconfig"], "--pin-root", pin_root,
                    "--metrics-addr", "127.0.0.1:0"] + ([] if status_writes else ["--no-status"]), "agent")
        synced_ns = None
        switches = []
        deadline = time.monotonic() + 120
        while synced_ns is None and time.monotonic() < deadline:
            line = lines.get(timeout=1)
            if line is None:
                if ag.poll() is not None:
                    raise RuntimeError("agent exited: " + open(os.path.join(tmp, "agent.log")).read()[-1500:])
                continue
            parts = line.split()
            if parts[0] == "synced":
                synced_ns = int(parts[1])
            elif parts[0] == "switch":
                switches.append((int(parts[1]), int(parts[3])))
        if synced_ns is None:
            raise RuntimeError(f"the maps did not reach {n_routes} frontends in 120 s")
        rss_sync = _rss(ag.pid)
        sync_s = (synced_ns - t_start) / 1e9
        log(f"control plane ({'status writes on' if status_writes else '--no-status'}): {n_routes} routes in "
            f"the maps {sync_s:.2f} s after the agent started, RSS {rss_sync.get('VmRSS', 0) / 1024:.1f} MiB")
        time.sleep(1.0)  # let status writes and the initial burst settle
        while lines.get(timeout=0.01) is not None:
            pass

        latencies = []
        patch_ms = []
        patch_failed = 0
        lost = 0
        attempted = 0
        cpu0 = {"agent": _cpu_s(ag.pid), "apiserver": _cpu_s(api.pid)}
        t_phase = time.monotonic()
        t_budget = time.monotonic() + budget_s
        for k in range(flips):
            if time.monotonic() > t_budget:
                break
            attempted += 1
            w_canary = 1 + (k * 37) % 99
            want = threshold(100 - w_canary, w_canary)
            t_send = time.monotonic_ns()
            try:
                _post(info["control_url"] + "/patch", {"kind": "httproute", "namespace": NS, "name": "route-0",
                                                       "patch": {"spec": {"rules": rules(100 - w_canary, w_canary)}}},
                      timeout=change_timeout_s)
            except OSError:  # the API server did not even take the patch in time (timeouts are OSErrors)
                patch_ms.append((time.monotonic_ns() - t_send) / 1e6)
                patch_failed += 1
                lost += 1
                continue
            t_done = time.monotonic_ns()
            patch_ms.append((t_done - t_send) / 1e6)
            got = None
            deadline = time.monotonic() + change_timeout_s
            while got is None and time.monotonic() < deadline:
                line = lines.get(timeout=0.5)
                if line and line.startswith("switch") and int(line.split()[3]) == want:
                    got = int(line.split()[1])
            if got is None:
                lost += 1
                continue
            latencies.append({"from_patch_sent_ms": (got - t_send) / 1e6, "from_patch_done_ms": (got - t_done) / 1e6})
            time.sleep(0.02)
        rss_end = _rss(ag.pid)
        phase_s = time.monotonic() - t_phase
        cpu1 = {"agent": _cpu_s(ag.pid), "apiserver": _cpu_s(api.pid)}
        busy = {k: (cpu1[k] - cpu0[k]) / phase_s if cpu0[k] is not None and cpu1[k] is not None else None
                for k in cpu0}
        with open(os.path.join(tmp, "agent.log")) as f:
            ev = [int(m) for m in re.findall(r"event_to_map_us=(\d+)", f.read())]
        ev_flips = ev[-len(latencies):] if latencies else []
        done = [x["from_patch_done_ms"] for x in latencies]
        sent = [x["from_patch_sent_ms"] for x in latencies]
        return {
            "status": "measured",
            "method": "bpfsplit-agent and the test API server (Python, tests/apiserver) on 127.0.0.1; "
                      f"{n_routes} HTTPRoutes in the mesh pattern (parentRef = own Service, 70/30 over "
                      "Services stable (3 endpoints) and canary (1)); sync = agent start until bs_frontends "
                      f"holds {n_routes} entries (bench_dp cpwatch polling the pins); weight changes = merge "
                      "patch of one route's rules through the API server's control API, latency until that "
                      "frontend's split in the maps switches to the new thresholds",
            "routes": n_routes,
            "agent_status_writes": status_writes,
            "sync_s": sync_s,
            "rss_mib_at_sync": rss_sync.get("VmRSS", 0) / 1024,
            "rss_peak_mib": max(rss_sync.get("VmHWM", 0), rss_end.get("VmHWM", 0)) / 1024,
            "rss_mib_at_end": rss_end.get("VmRSS", 0) / 1024,
            "weight_changes": attempted,
            "weight_changes_planned": flips,
            "change_timeout_s": change_timeout_s,
            "weight_changes_seen": len(latencies),
            "weight_changes_lost": lost,
            "latency_ms_p50": percentile(done, 50),
            "latency_ms_p99": percentile(done, 99),
            "latency_ms_max": max(done) if done else None,
            "latency_from_send_ms_p50": percentile(sent, 50),
            "latency_from_send_ms_p99": percentile(sent, 99),
            "agent_event_to_map_us_p50": percentile(ev_flips, 50),
            "agent_event_to_map_us_p99": percentile(ev_flips, 99),
            "latencies_ms": [round(x, 3) for x in done],
            "patch_call_ms_p50": percentile(patch_ms, 50),
            "patch_call_ms_max": max(patch_ms) if patch_ms else None,
            "patch_calls_timed_out": patch_failed,
            "cpu_busy_during_changes": busy,
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                if p.stdin:
                    try:
                        p.stdin.close()
                    except OSError:
                        pass
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.path.exists(pin_root):
            subprocess.run([cli, "--pin-root", pin_root, "dataplane", "unload"], capture_output=True, timeout=60)
            shutil.rmtree(pin_root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
