#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Run the libFuzzer harnesses of BUILD/fuzz: for each, two tests.

1. replay: every regression input (tests/fuzz/regressions/<harness>/, inputs that once
   crashed it) and every seed runs once; any crash fails.
2. fuzz: libFuzzer mutates from the seeds, the regressions and its own corpus
   (BUILD/fuzz/corpus/<harness>/, kept between runs) for --seconds. A crash fails the
   test, and its input is copied into tests/fuzz/regressions/<harness>/ so that every
   later run replays it: commit it together with the fix.

Seeds: the Kubernetes objects and watch streams of tests/fixtures/k8s (or
$BPFSPLIT_K8S_REFERENCE), tests/fuzz/seeds/<harness>/, and, for the packet parser,
frames built here. The last line is "N passed, N failed".

Usage: run.py BUILD [--seconds N] [harness...]
"""
import argparse
import glob
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "fuzz")
HARNESSES = ["fuzz_k8s_objects", "fuzz_watch_stream", "fuzz_kubeconfig", "fuzz_spec_json", "fuzz_bs_parse"]


def fixtures_dir():
    return os.environ.get("BPFSPLIT_K8S_REFERENCE") or os.path.join(ROOT, "tests", "fixtures", "k8s")


def write_seed(d, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ipv4(proto, l4):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0,
                      bytes([10, 200, 0, 2]), bytes([10, 96, 0, 10]))
    return b"\x08\x00" + hdr + l4


def ipv6(proto, l4):
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, 64,
                      bytes.fromhex("fd000200" + "00" * 11 + "02"), bytes.fromhex("fd000096" + "00" * 11 + "10"))
    return b"\x86\xdd" + hdr + l4


def frames():
    """Frames for the packet parser: IPv4/IPv6, TCP (with options)/UDP, untagged, VLAN,
    QinQ; the two leading bytes are the harness's skb length and GSO choice."""
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x70, 0x02, 64240, 0, 0) + b"\x02\x04\x05\xb4" + b"\x01" * 4
    udp = struct.pack("!HHHH", 40000, 53, 8 + 12, 0) + b"q" * 12
    macs = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    tags = [b"", b"\x81\x00\x00\x2a", b"\x88\xa8\x00\x64\x81\x00\x00\x2a"]
    out = []
    for tag in tags:
        for l3 in (ipv4(6, tcp), ipv4(17, udp), ipv6(6, tcp), ipv6(17, udp)):
            out.append(b"\x00\x00" + macs + tag + l3)
    big = ipv4(6, tcp)
    out.append(b"\xff\x01" + macs + big[:4] + b"\x00\x00" + big[6:])  # BIG TCP: total length 0
    six = ipv6(6, tcp)  # IPv6 BIG TCP: payload length 0, jumbo hop-by-hop header
    jumbo = six[:6] + b"\x00\x00\x00" + six[9:42] + bytes([6, 0, 0xC2, 4]) + struct.pack("!I", 0x12000) + six[42:]
    out.append(b"\xff\x01" + macs + jumbo)
    return out


def make_seeds(name, d):
    os.makedirs(d, exist_ok=True)
    fx = fixtures_dir()
    if name == "fuzz_k8s_objects":
        for path in sorted(glob.glob(os.path.join(fx, "*.json"))):
            write_seed(d, open(path, "rb").read())
        for path in sorted(glob.glob(os.path.join(fx, "*.jsonl"))):
            for line in open(path, "rb").read().splitlines():
                if line.strip():
                    write_seed(d, line)
    elif name == "fuzz_watch_stream":
        # Bytes 0..2: line limit (1 + 4 * b0) and chunking; then the body.
        for path in sorted(glob.glob(os.path.join(fx, "*.jsonl"))):
            body = open(path, "rb").read()
            write_seed(d, b"\xff\x07\x00" + body)
            write_seed(d, b"\x40\x31\x9c" + body.replace(b"\n", b"\r\n"))
    elif name == "fuzz_bs_parse":
        for f in frames():
            write_seed(d, f)
    for path in sorted(glob.glob(os.path.join(HERE, "seeds", name.replace("fuzz_", ""), "*"))):
        write_seed(d, open(path, "rb").read())


def make_dict(name, seeds, path):
    """A libFuzzer dictionary of the words the seeds are made of (JSON and YAML keys,
    short string values), so that mutations reach the parsers' deeper fields. None for
    the packet parser."""
    if name == "fuzz_bs_parse":
        return None
    words = set()
    for f in inputs(seeds):
        text = open(f, "rb").read().decode("utf-8", "replace")
        words.update(re.findall(r'"([A-Za-z0-9_./:-]{1,40})"', text))
        words.update(re.findall(r'^\s*-?\s*([A-Za-z0-9_-]{1,40}):', text, re.M))
    with open(path, "w") as out:
        for w in sorted(words):
            out.write('"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"\n')
            out.write('"\\"' + w + '\\""\n')
    return path


def inputs(*dirs):
    files = []
    for d in dirs:
        files += sorted(p for p in glob.glob(os.path.join(d, "*")) if os.path.isfile(p))
    return files


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS_TEST", "10")))
    ap.add_argument("only", nargs="*")
    args = ap.parse_intermixed_args()
    build = os.path.abspath(args.build)
    passed = failed = 0

    for name in HARNESSES:
        if args.only and name not in args.only:
            continue
        binary = os.path.join(build, "fuzz", name)
        seeds = os.path.join(build, "fuzz", "seeds", name)
        corpus = os.path.join(build, "fuzz", "corpus", name)
        artifacts = os.path.join(build, "fuzz", "artifacts", name) + "/"
        regressions = os.path.join(HERE, "regressions", name)
        if not os.access(binary, os.X_OK):
            print(f"FAIL {name}: {binary} not built (make fuzz-build)")
            failed += 2
            continue
        shutil.rmtree(seeds, ignore_errors=True)
        make_seeds(name, seeds)
        os.makedirs(corpus, exist_ok=True)
        shutil.rmtree(artifacts, ignore_errors=True)
        os.makedirs(artifacts)

        # 1. Replay: each regression input and seed once.
        files = inputs(regressions, seeds)
        proc = subprocess.run([binary, "-runs=1"] + files, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        if proc.returncode == 0:
            print(f"PASS {name} replay: {len(inputs(regressions))} regression inputs, "
                  f"{len(inputs(seeds))} seeds")
            passed += 1
        else:
            print(f"FAIL {name} replay (exit {proc.returncode}):\n{tail(proc.stdout)}")
            failed += 1

        # 2. Fuzz for a bounded time.
        dictionary = make_dict(name, seeds, os.path.join(build, "fuzz", name + ".dict"))
        t0 = time.monotonic()
        proc = subprocess.run([binary, f"-max_total_time={args.seconds}", "-timeout=10", "-rss_limit_mb=2048",
                               "-max_len=16384", "-print_final_stats=1", f"-artifact_prefix={artifacts}"]
                              + ([f"-dict={dictionary}"] if dictionary else []) + [corpus, seeds] + ([regressions] if os.path.isdir(regressions) else []),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        runs = [l for l in proc.stdout.splitlines() if l.startswith("stat::number_of_executed_units")]
        runs = runs[-1].split(":")[-1].strip() if runs else "?"
        if proc.returncode == 0:
            print(f"PASS {name} fuzz: {runs} inputs in {time.monotonic() - t0:.0f}s, "
                  f"corpus {len(inputs(corpus))}")
            passed += 1
        else:
            found = inputs(artifacts)
            os.makedirs(regressions, exist_ok=True)
            kept = []
            for path in found:
                dest = os.path.join(regressions, os.path.basename(path))
                shutil.copy(path, dest)
                kept.append(os.path.relpath(dest, ROOT))
            print(f"FAIL {name} fuzz (exit {proc.returncode}):\n{tail(proc.stdout)}")
            print(f"new regression inputs (fix the bug, commit them): {', '.join(kept) or 'none written'}")
            failed += 1
        sys.stdout.flush()

    print(f"fuzz: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
