#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Run every test suite of bpfsplit and print one summary line.

Suites: C unit tests and BPF tests (cmocka binaries under BUILD/tests), the CLI
test script, the fuzzers (tests/fuzz/run.py, a bounded time each), and the Python suites (lab self-test, test API server, end to end).
Each suite's own output is shown; its counts are read from its closing lines.
The last line is "N passed, N failed, N skipped"; the exit status is 1 if any
test failed or any suite could not report.
"""
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"


def cmocka_counts(out):
    passed = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
    failed = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
    skipped = sum(int(n) for n in re.findall(r"\[  SKIPPED \] (\d+) test", out))
    return passed, failed, skipped


def unittest_counts(out):
    m = re.search(r"^Ran (\d+) tests?", out, re.M)
    if not m:
        return None
    ran = int(m.group(1))
    failed = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", out))
    skipped = sum(int(n) for n in re.findall(r"skipped=(\d+)", out))
    return ran - failed - skipped, failed, skipped


def plain_counts(out):
    m = re.findall(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", out, re.M)
    if not m:
        return None
    p, f, s = m[-1]
    return int(p), int(f), int(s or 0)


def suites(build):
    for path in sorted(glob.glob(os.path.join(build, "tests", "unit", "test_*"))) + sorted(
        glob.glob(os.path.join(build, "tests", "bpf", "test_*"))
    ):
        if os.access(path, os.X_OK) and not path.endswith(".o"):
            yield os.path.relpath(path, ROOT), [path], cmocka_counts
    for script in sorted(glob.glob(os.path.join(ROOT, "tests", "cli", "test_*.sh"))):
        yield os.path.relpath(script, ROOT), ["bash", script, build], plain_counts
    # The unit and BPF tests again, built with ASan and UBSan (make check-asan).
    if os.path.exists(os.path.join(ROOT, "tests", "check-asan.mk")):
        yield "tests/asan (make check-asan)", ["make", "-s", "--no-print-directory", f"BUILD={build}",
                                               "check-asan"], plain_counts
    # libFuzzer harnesses: regression inputs replayed, then each fuzzed for a bounded time.
    if os.path.exists(os.path.join(ROOT, "tests", "fuzz", "run.py")):
        yield "tests/fuzz", [PY, os.path.join(ROOT, "tests", "fuzz", "run.py"), build], plain_counts
    for suite in ("repo", "lab", "apiserver", "agent", "e2e", "bench", "image"):
        d = os.path.join(ROOT, "tests", suite)
        if glob.glob(os.path.join(d, "test_*.py")):
            yield "tests/" + suite, [PY, "-m", "unittest", "discover", "-s", d, "-v"], unittest_counts
    # The data-path end-to-end suite again with tc entry points forced onto the classic
    # clsact + cls_bpf attach, the path kernels older than 6.6 (no tcx links) take.
    d = os.path.join(ROOT, "tests", "e2e")
    if os.path.exists(os.path.join(d, "test_dataplane_e2e.py")):
        yield ("tests/e2e/test_dataplane_e2e.py (BPFSPLIT_TC_ATTACH=classic)",
               ["env", "BPFSPLIT_TC_ATTACH=classic", PY, "-m", "unittest", "discover", "-s", d, "-p",
                "test_dataplane_e2e.py", "-v"], unittest_counts)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    only = sys.argv[2:]
    env = dict(os.environ, BPFSPLIT_BUILD=build, CMOCKA_MESSAGE_OUTPUT="stdout", PYTHONUNBUFFERED="1")
    total = [0, 0, 0]
    broken = []
    for name, argv, counter in suites(build):
        if only and not any(o in name for o in only):
            continue
        print(f"=== {name}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        counts = counter(proc.stdout)
        if counts is None or (proc.returncode != 0 and counts[1] == 0):
            broken.append(f"{name} (exit {proc.returncode})")
            counts = (counts or (0, 0, 0))[0], max((counts or (0, 0, 0))[1], 1), (counts or (0, 0, 0))[2]
        for i in range(3):
            total[i] += counts[i]
        print(f"--- {name}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped "
              f"in {time.monotonic() - t0:.1f}s", flush=True)
    if broken:
        print("suites that failed to report or exited non-zero: " + ", ".join(broken))
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] or broken else 0


if __name__ == "__main__":
    sys.exit(main())
