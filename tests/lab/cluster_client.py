#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Client of the cluster lab: runs in a pod (or the external client's) namespace, and in
a node's cgroup when it plays a pod, and prints JSON.

  fresh --target ADDR:PORT --bind ADDR --ports LO-HI [--udp]
      one new connection (or, with --udp, one datagram from an unconnected socket) per
      source port, bound to ADDR:port; prints a JSON list of
      {"port", "peer" (getpeername / recvfrom source), "colour", "backend", "seen"
       (the source the backend saw), "error"}
  hold --target ADDR:PORT --bind ADDR --port PORT
      one connection held open: every line read on stdin is one request round trip,
      answered by one JSON line on stdout ({"colour", "backend", "seen", "peer"}).
"""

import argparse
import json
import socket
import sys


def split_target(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def parse_answer(line):
    parts = line.decode().split()
    if len(parts) != 3:
        raise ValueError(f"bad answer {line!r}")
    return {"colour": parts[0], "backend": parts[1], "seen": parts[2]}


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def fmt(addr):
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


def one_tcp(target, bind, port, timeout):
    s = socket.socket(family_of(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    try:
        s.bind((bind, port))
        s.connect(target)
        peer = s.getpeername()
        s.sendall(b"?\n")
        rfile = s.makefile("rb")
        out = parse_answer(rfile.readline())
        out["peer"] = fmt(peer)
        rfile.close()
        return out
    finally:
        s.close()


def one_udp(target, bind, port, timeout):
    s = socket.socket(family_of(bind), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.bind((bind, port))
        s.sendto(b"?", target)
        data, peer = s.recvfrom(2048)
        out = parse_answer(data)
        out["peer"] = fmt(peer)
        return out
    finally:
        s.close()


def run_fresh(args):
    target = split_target(args.target)
    lo, hi = (int(x) for x in args.ports.split("-"))
    one = one_udp if args.udp else one_tcp
    results = []
    for port in range(lo, hi + 1):
        try:
            r = one(target, args.bind, port, args.timeout)
        except (OSError, ValueError) as exc:
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r["port"] = port
        results.append(r)
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


def run_hold(args):
    target = split_target(args.target)
    s = socket.socket(family_of(args.bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(args.timeout)
    s.bind((args.bind, args.port))
    s.connect(target)
    rfile = s.makefile("rb")
    print(json.dumps({"connected": True}), flush=True)
    for _ in sys.stdin:
        try:
            peer = s.getpeername()
            s.sendall(b"?\n")
            out = parse_answer(rfile.readline())
            out["peer"] = fmt(peer)
        except (OSError, ValueError) as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)
    s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["fresh", "hold"])
    ap.add_argument("--target", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--ports")
    ap.add_argument("--port", type=int)
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    return run_fresh(args) if args.mode == "fresh" else run_hold(args)


if __name__ == "__main__":
    sys.exit(main())
