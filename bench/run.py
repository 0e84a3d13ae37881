#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""bpfsplit benchmarks: run everything, write bench/results/latest.json, print
the table and regenerate BENCHMARKS.md.

    bench/run.py [BUILD]                 full run (about 10 minutes)
    BENCH_QUICK=1 bench/run.py [BUILD]   fewer rounds and repeats (about 3-4 minutes)
    bench/run.py --tiny --out FILE --no-markdown [BUILD]
                                         seconds-long smoke configuration (tests/bench)

Sections: per_packet (BPF_PROG_TEST_RUN against floor programs), scale (1 .. 65,536
frontends, 1M flows), e2e (real HTTP in the network-namespace lab against direct,
iptables, nftables and HAProxy), accuracy (canary share), control_plane (bpfsplit-agent
against the test API server, when build/bpfsplit-agent exists), memory.
Needs root, bpffs, and the project built (make). Safety: network namespaces made by
tests/lab only; iptables, nft and HAProxy only inside the lab's node namespace; pins
only under /sys/fs/bpf/bs-bench-<pid>*, removed on every exit path of this process.
"""

import argparse
import atexit
import datetime
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import report  # noqa: E402

PIN_PREFIX = f"/sys/fs/bpf/bs-bench-{os.getpid()}"
_children = []

PROFILES = {
    "full": {
        "pkt": ["--frontends", "1,1000,10000,65536", "--fill", "1000000", "--rounds", "11", "--batch", "2000",
                "--loop-repeat", "20000"],
        "accuracy": ["--flows", "100000", "--weights", "1,30,50,99"],
        "memory": ["--frontends", "1000", "--flows", "10000"],
        "apply": ["--flips", "1000", "--frontends", "10000"],
        "open": ["--frontends", "65536", "--rounds", "5"],
        "agent": {"routes": 10000, "flips": 100, "budget_s": 60},
        "e2e": {"repeats": 8, "duration": 3},
    },
    "quick": {
        "pkt": ["--frontends", "1,1000,10000,65536", "--fill", "1000000", "--rounds", "5", "--batch", "1000",
                "--loop-repeat", "10000"],
        "accuracy": ["--flows", "100000", "--weights", "1,30,50,99"],
        "memory": ["--frontends", "1000", "--flows", "10000"],
        "apply": ["--flips", "300", "--frontends", "10000"],
        "open": ["--frontends", "65536", "--rounds", "3"],
        "agent": {"routes": 10000, "flips": 30, "budget_s": 30},
        "e2e": {"repeats": 3, "duration": 2},
    },
    "tiny": {
        "pkt": ["--frontends", "1,10", "--fill", "5000", "--rounds", "2", "--batch", "100", "--loop-repeat",
                "1000", "--max-conns", "65536"],
        "accuracy": ["--flows", "2000", "--weights", "1,30,50,99"],
        "memory": ["--frontends", "10", "--flows", "100"],
        "apply": ["--flips", "20", "--frontends", "100"],
        "open": ["--frontends", "200", "--rounds", "2"],
        "agent": {"routes": 50, "flips": 5, "budget_s": 10},
        "e2e": {"repeats": 1, "duration": 1},
    },
}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---- building ------------------------------------------------------------------------------

def _stale(target, sources):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in sources if os.path.exists(s))


def build_bench(build):
    """Compile the benchmark's own binaries into BUILD/bench when their sources changed."""
    out = os.path.join(build, "bench")
    os.makedirs(out, exist_ok=True)
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    cflags = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-parameter",
              "-Wno-missing-field-initializers", "-Werror", "-D_GNU_SOURCE"]
    hdrs = glob.glob(os.path.join(ROOT, "bpf", "*.h")) + glob.glob(os.path.join(ROOT, "include", "bpfsplit", "*.h"))
    lib = os.path.join(build, "libbpfsplit.a")
    for need in (lib, os.path.join(build, "bpfsplit")):
        if not os.path.exists(need):
            raise SystemExit(f"bench: {need} is missing: build the project first (make)")
    jobs = [
        (os.path.join(out, "floor.bpf.o"), [os.path.join(HERE, "floor.bpf.c")] + hdrs,
         ["clang", "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", "-Iinclude", "-Ibpf"]
         + ([f"-I/usr/include/{multiarch}"] if multiarch else [])
         + ["-Wall", "-Werror", "-c", "bench/floor.bpf.c", "-o", os.path.join(out, "floor.bpf.o")]),
        (os.path.join(out, "bench_dp"),
         [os.path.join(HERE, "bench_dp.c"), lib, os.path.join(ROOT, "tests", "bpf", "pktgen.h")] + hdrs,
         ["gcc"] + cflags + ["-Iinclude", "-Ilib", f"-I{build}", "-Itests/bpf", "-o", os.path.join(out, "bench_dp"),
                             "bench/bench_dp.c", lib, "-lbpf", "-lelf", "-lz", "-lm"]),
        (os.path.join(out, "http_backend"), [os.path.join(HERE, "http_backend.c")],
         ["gcc"] + cflags + ["-pthread", "-o", os.path.join(out, "http_backend"), "bench/http_backend.c"]),
    ]
    for target, sources, argv in jobs:
        if _stale(target, sources):
            log(f"build {os.path.relpath(target, ROOT)}")
            subprocess.run(argv, cwd=ROOT, check=True)


# ---- cleanup ---------------------------------------------------------------------------------

def cleanup_pins(build):
    """Remove every pin root of this process (unloading it first: links detach)."""
    cli = os.path.join(build, "bpfsplit")
    for path in sorted(glob.glob(PIN_PREFIX + "*")):
        if os.path.exists(cli):
            subprocess.run([cli, "--pin-root", path, "dataplane", "unload"], capture_output=True, timeout=60)
        shutil.rmtree(path, ignore_errors=True)


def stop_children():
    for proc in list(_children):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _children.remove(proc)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---- sections ------------------------------------------------------------------------------------

def bench_dp(build, args):
    argv = [os.path.join(build, "bench", "bench_dp"), "--pin-prefix", f"{PIN_PREFIX}-{args[0]}"] + list(args)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    _children.append(proc)
    out, _ = proc.communicate()
    _children.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return json.loads(out)


def control_plane(build, apply_result, prof):
    """The agent against the test API server (bench/control_plane.py), when it is built."""
    agent = os.path.join(build, "bpfsplit-agent")
    section = {"library_write_path": apply_result, "agent_present": os.path.exists(agent)}
    if not os.path.exists(agent):
        section["status"] = "not measured yet: the agent is being written"
        return section
    import control_plane as cp
    section["status"] = "measured"
    for name, status_writes in (("agent_default", True), ("agent_no_status", False)):
        log(f"control plane: agent with {'its defaults' if status_writes else '--no-status'}, "
            f"{prof['routes']} routes")
        try:
            r = cp.run_control_plane(build, n_routes=prof["routes"], flips=prof["flips"], log=log,
                                     pin_root=f"{PIN_PREFIX}-cp-{name}", status_writes=status_writes,
                                     budget_s=prof["budget_s"])
        except RuntimeError as exc:
            r = {"status": f"failed: {exc}"}
        section[name] = r
    return section


def _first_line(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def machine_info():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / (1 << 20), 1),
        "clocksource": open("/sys/devices/system/clocksource/clocksource0/current_clocksource").read().strip(),
        "loadavg_at_start": load,
        "git_commit": git,
        "git_dirty": dirty,
        "tools": {
            "clang": _first_line(["clang", "--version"]),
            "bpftool": _first_line(["bpftool", "version"]),
            "wrk": _first_line(["wrk", "-v"]),
            "haproxy": _first_line(["haproxy", "-v"]),
            "nft": _first_line(["nft", "-v"]),
            "iptables": _first_line(["iptables", "-V"]),
        },
    }


# ---- main ----------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default=os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--tiny", action="store_true", help="seconds-long smoke configuration")
    ap.add_argument("--quick", action="store_true", help="same as BENCH_QUICK=1")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--no-markdown", action="store_true", help="do not regenerate BENCHMARKS.md")
    ap.add_argument("--sections", default="per_packet,accuracy,memory,open,control_plane,e2e",
                    help="comma-separated subset (for development)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (BPF, bpffs, network namespaces)")
    build = os.path.abspath(args.build)
    profile = "tiny" if args.tiny else "quick" if (args.quick or os.environ.get("BENCH_QUICK") == "1") else "full"
    prof = PROFILES[profile]
    sections = set(args.sections.split(","))

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    atexit.register(cleanup_pins, build)
    atexit.register(stop_children)

    t0 = time.monotonic()
    build_bench(build)
    result = {
        "schema": 1,
        "generated_by": "bench/run.py",
        "profile": profile,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "pin_prefix": PIN_PREFIX,
    }
    failures = {}

    def section(name, fn):
        """Run one section; a failure is recorded and the other sections still run."""
        if name not in sections:
            return
        try:
            result[name] = fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the JSON, the table and the exit status
            log(f"section {name} failed: {exc!r}")
            failures[name] = repr(exc)

    def e2e_section():
        import e2e
        log(f"end to end in the lab: {prof['e2e']['repeats']} repeats of {prof['e2e']['duration']} s per case")
        return e2e.run_e2e(build, repeats=prof["e2e"]["repeats"], duration=prof["e2e"]["duration"], log=log,
                           pin_prefix=f"{PIN_PREFIX}-e2e")

    try:
        log("per-packet and scale: BPF_PROG_TEST_RUN (loading 5 data paths, 65,536 frontends take a while)")
        section("per_packet", lambda: bench_dp(build, ["pkt"] + prof["pkt"]
                                               + ["--floor", os.path.join(build, "bench", "floor.bpf.o")]))
        section("accuracy", lambda: bench_dp(build, ["accuracy"] + prof["accuracy"]))
        section("memory", lambda: bench_dp(build, ["memory"] + prof["memory"]))
        log("opening the pins: read-only and as a writer")
        section("open", lambda: bench_dp(build, ["open"] + prof["open"]))
        section("e2e", e2e_section)
        log("control plane: library write path, then the agent")
        section("control_plane", lambda: control_plane(build, bench_dp(build, ["apply"] + prof["apply"]),
                                                       prof["agent"]))
    finally:
        stop_children()
        cleanup_pins(build)
    if failures:
        result["failures"] = failures
    result["elapsed_s"] = round(time.monotonic() - t0, 1)
    result["summary"] = report.summarise(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, args.out)
    print(report.table(result))
    if not args.no_markdown:
        md = os.path.join(ROOT, "BENCHMARKS.md")
        with open(md, "w") as f:
            f.write(report.markdown(result, os.path.relpath(args.out, ROOT)))
        log(f"wrote {os.path.relpath(args.out, ROOT)} and BENCHMARKS.md in {result['elapsed_s']} s")
    else:
        log(f"wrote {args.out} in {result['elapsed_s']} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
