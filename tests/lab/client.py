#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Traffic generator of the bpfsplit lab; run inside the client namespace.

    ip netns exec bsc<id> /usr/bin/python3 client.py fresh --url URL -n N ...
    ip netns exec bsc<id> /usr/bin/python3 client.py hold  --url URL -n K ...

`fresh` opens N new TCP connections, one request each (Connection: close),
and prints ONE JSON object:
    {"mode": "fresh", "n": N, "ok": ..., "errors": k, "error_samples": [...],
     "counts": {"green": ..., "orange": ...}, "backends": {"g1": ...},
     "source_ports_distinct": ..., "elapsed_s": ..., "rate_per_s": ...,
     "by_source": {"10.200.0.3": {"g1": ...}}   # only with several --local-addr
    }
`--bind-port P` / `--source-ports P1,P2` bind every connection to one of
the given source ports (SO_REUSEADDR); each port is used by one worker at a
time, so the same 4-tuple comes back again and again.  `--local-addr A[,B..]`
chooses the source address(es), round robin.

`hold` opens K keep-alive connections, prints {"ready": true, ...} and then
reads commands, one a line, from stdin or a FIFO (--control):
    round [R]  -> every connection makes R requests (default --requests);
                  answers one JSON line {"round": i, "connections": [
                  {"id", "local_port", "alive", "requests", "colours": {..},
                   "backends": {..}, "errors", "error_samples"}], "errors": ..}
    quit / EOF -> close the connections, print {"closed": true, ...}, exit.
A broken connection is reported and never reopened: a test that changes the
weights between rounds can check that each connection keeps its backend.
"""

import argparse
import itertools
import json
import socket
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

MAX_ERROR_SAMPLES = 10


class HttpError(Exception):
    """A response that is not a well-formed HTTP/1.x answer."""


# --- HTTP on a raw socket ----------------------------------------------------

class Target:
    """Where requests go: parsed once from --url."""

    def __init__(self, url):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"unsupported URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        host_hdr = f"[{self.host}]" if self.family == socket.AF_INET6 else self.host
        if parts.port:
            host_hdr += f":{parts.port}"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        self.close_request = self._request(path, host_hdr, "close")
        self.keepalive_request = self._request(path, host_hdr, "keep-alive")

    @staticmethod
    def _request(path, host, connection):
        return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"User-Agent: bslab-client\r\nConnection: {connection}\r\n\r\n"
                ).encode()


def open_socket(target, timeout, local_addr=None, local_port=0, linger0=False):
    """Return a connected socket, bound to (local_addr, local_port) if given."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if linger0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b"\x01\x00\x00\x00\x00\x00\x00\x00")
        if local_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if local_addr or local_port:
            sock.bind((local_addr or "", local_port))
        sock.connect((target.host, target.port))
        return sock
    except BaseException:
        sock.close()
        raise


def read_response(rfile):
    """Read one response from a buffered socket file: (status, headers, body)."""
    status_line = rfile.readline(65537)
    if not status_line:
        raise HttpError("connection closed before response")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(f"bad status line {status_line[:60]!r}")
    headers = {}
    while True:
        line = rfile.readline(65537)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise HttpError("connection closed in headers")
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    length = headers.get("content-length")
    if length is not None:
        body = rfile.read(int(length))
        if len(body) != int(length):
            raise HttpError("short body")
    else:
        body = rfile.read()
    return int(parts[1]), headers, body


def request_on(sock, rfile, payload):
    """Send one request, read its response; return (colour, backend)."""
    sock.sendall(payload)
    status, headers, body = read_response(rfile)
    if status != 200:
        raise HttpError(f"HTTP status {status}")
    colour = headers.get("x-colour") or body.decode(errors="replace").strip()
    return colour, headers.get("x-backend", "?"), headers


def describe(exc):
    return f"{type(exc).__name__}: {exc}"


class Tally:
    """Thread-safe counts of colours, backends and errors."""

    def __init__(self):
        self.lock = threading.Lock()
        self.colours = Counter()
        self.backends = Counter()
        self.by_source = {}
        self.ports = set()
        self.errors = 0
        self.samples = []

    def ok(self, colour, backend, source=None, port=None):
        with self.lock:
            self.colours[colour] += 1
            self.backends[backend] += 1
            if source is not None:
                self.by_source.setdefault(source, Counter())[backend] += 1
            if port is not None:
                self.ports.add(port)

    def error(self, exc):
        with self.lock:
            self.errors += 1
            text = describe(exc)
            if len(self.samples) < MAX_ERROR_SAMPLES and text not in self.samples:
                self.samples.append(text)


# --- fresh: one request per connection ----------------------------------------

def one_fresh(target, args, tally, local_addr, local_port):
    """One connection, one request; retries while a bound port is still busy."""
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            sock = open_socket(target, args.timeout, local_addr, local_port,
                               args.linger0)
            break
        except OSError as exc:
            busy = exc.errno in (98, 99)  # EADDRINUSE, EADDRNOTAVAIL
            if local_port and busy and time.monotonic() < deadline:
                time.sleep(0.01)
                continue
            tally.error(exc)
            return
    try:
        port = sock.getsockname()[1]
        with sock.makefile("rb") as rfile:
            colour, backend, _ = request_on(sock, rfile, target.close_request)
            # Let the server close first: it keeps the TIME_WAIT, so the
            # client's port is free again at once.
            rfile.read()
        source = local_addr if args.multi_source else None
        tally.ok(colour, backend, source, port)
    except (OSError, HttpError, ValueError) as exc:
        tally.error(exc)
    finally:
        sock.close()


def plan_fresh(args):
    """Split the N connections into per-worker lists of (local_addr, port).

    With source ports, connection i uses port ports[i % P] and every port
    belongs to exactly one worker, so a port is never used twice at once.
    """
    addrs = args.local_addr or [None]
    ports = args.source_ports or [0]
    workers = max(1, min(args.concurrency, len(ports) if ports != [0] else args.n))
    plan = [[] for _ in range(workers)]
    for i in range(args.n):
        slot = i % len(ports)
        owner = slot % workers if ports != [0] else i % workers
        plan[owner].append((addrs[i % len(addrs)], ports[slot]))
    return plan


def run_fresh(args):
    target = Target(args.url)
    tally = Tally()
    args.multi_source = len(args.local_addr or []) > 1
    start = time.monotonic()
    if args.duration:
        run_fresh_for(target, args, tally)
    else:
        threads = [threading.Thread(target=worker_fresh,
                                    args=(target, args, tally, jobs))
                   for jobs in plan_fresh(args)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - start
    done = sum(tally.backends.values())
    result = {
        "mode": "fresh", "url": args.url, "n": done + tally.errors, "ok": done,
        "counts": dict(tally.colours), "backends": dict(tally.backends),
        "errors": tally.errors, "error_samples": tally.samples,
        "source_ports_distinct": len(tally.ports),
        "elapsed_s": round(elapsed, 3),
        "rate_per_s": round(done / elapsed, 1) if elapsed > 0 else None,
    }
    if args.multi_source:
        result["by_source"] = {k: dict(v) for k, v in tally.by_source.items()}
    return result


def worker_fresh(target, args, tally, jobs):
    for local_addr, local_port in jobs:
        one_fresh(target, args, tally, local_addr, local_port)


def run_fresh_for(target, args, tally):
    """--duration: every worker opens connections until the time is up."""
    stop = time.monotonic() + args.duration
    addrs = args.local_addr or [None]

    def loop(w):
        for i in itertools.count(w, args.concurrency):
            if time.monotonic() >= stop:
                return
            one_fresh(target, args, tally, addrs[i % len(addrs)], 0)

    threads = [threading.Thread(target=loop, args=(w,))
               for w in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- hold: long-lived keep-alive connections ----------------------------------

class HeldConnection:
    """One keep-alive connection and the results of its current round."""

    def __init__(self, ident, target, args, local_addr):
        self.id = ident
        self.target = target
        self.sock = None
        self.rfile = None
        self.local_port = None
        self.alive = False
        self.open_error = None
        self._reset_round()
        try:
            self.sock = open_socket(target, args.timeout, local_addr)
            self.rfile = self.sock.makefile("rb")
            self.local_port = self.sock.getsockname()[1]
            self.alive = True
        except OSError as exc:
            self.open_error = describe(exc)

    def _reset_round(self):
        self.colours = Counter()
        self.backends = Counter()
        self.errors = 0
        self.samples = []
        self.requests = 0

    def run_round(self, requests):
        self._reset_round()
        for _ in range(requests):
            if not self.alive:
                self._fail("connection is closed")
                continue
            self.requests += 1
            try:
                colour, backend, headers = request_on(
                    self.sock, self.rfile, self.target.keepalive_request)
                self.colours[colour] += 1
                self.backends[backend] += 1
                if headers.get("connection", "").lower() == "close":
                    self.close()
            except (OSError, HttpError, ValueError) as exc:
                self._fail(describe(exc))
                self.close()

    def _fail(self, text):
        self.errors += 1
        if len(self.samples) < MAX_ERROR_SAMPLES and text not in self.samples:
            self.samples.append(text)

    def report(self):
        return {"id": self.id, "local_port": self.local_port,
                "alive": self.alive, "requests": self.requests,
                "colours": dict(self.colours), "backends": dict(self.backends),
                "errors": self.errors, "error_samples": self.samples}

    def close(self):
        self.alive = False
        for obj in (self.rfile, self.sock):
            if obj is not None:
                try:
                    obj.close()
                except OSError:
                    pass


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_hold(args):
    target = Target(args.url)
    addrs = args.local_addr or [None]
    conns = [HeldConnection(i, target, args, addrs[i % len(addrs)])
             for i in range(args.n)]
    emit({"ready": True, "connections": len(conns),
          "alive": sum(c.alive for c in conns),
          "local_ports": [c.local_port for c in conns],
          "open_errors": [c.open_error for c in conns if c.open_error]})
    control = sys.stdin if args.control == "-" else open(args.control)
    rounds = 0
    try:
        for line in control:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] != "round":
                emit({"error": f"unknown command {words[0]!r}"})
                continue
            requests = int(words[1]) if len(words) > 1 else args.requests
            rounds += 1
            emit(hold_round(conns, requests, rounds))
    finally:
        for c in conns:
            c.close()
        if control is not sys.stdin:
            control.close()
    return {"closed": True, "rounds": rounds}


def hold_round(conns, requests, number):
    threads = [threading.Thread(target=c.run_round, args=(requests,))
               for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reports = [c.report() for c in conns]
    return {"round": number, "connections": reports,
            "alive": sum(c.alive for c in conns),
            "errors": sum(r["errors"] for r in reports)}


# --- command line --------------------------------------------------------------

def int_list(text):
    return [int(x) for x in text.split(",") if x]


def str_list(text):
    return [x for x in text.split(",") if x]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="bpfsplit lab traffic generator")
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("fresh", "hold"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True)
        s.add_argument("-n", type=int, default=100,
                       help="connections (fresh: total, hold: kept open)")
        s.add_argument("--timeout", type=float, default=5.0)
        s.add_argument("--local-addr", type=str_list,
                       help="source address(es), comma-separated, round robin")
    f = sub.choices["fresh"]
    f.add_argument("--concurrency", type=int, default=8)
    f.add_argument("--duration", type=float,
                   help="run for this many seconds instead of -n connections")
    f.add_argument("--bind-port", type=int, help="one fixed source port")
    f.add_argument("--source-ports", type=int_list,
                   help="comma-separated fixed source ports")
    f.add_argument("--linger0", action="store_true",
                   help="close with RST (SO_LINGER 0) instead of FIN")
    h = sub.choices["hold"]
    h.add_argument("--requests", type=int, default=100,
                   help="requests per connection per round")
    h.add_argument("--control", default="-",
                   help="FIFO to read commands from ('-' = stdin)")
    args = p.parse_args(argv)
    if args.mode == "fresh":
        if args.bind_port:
            args.source_ports = [args.bind_port] + (args.source_ports or [])
        if args.duration and args.source_ports:
            p.error("--duration cannot be combined with fixed source ports")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.mode == "fresh":
        emit(run_fresh(args))
    else:
        emit(run_hold(args))


if __name__ == "__main__":
    main()
