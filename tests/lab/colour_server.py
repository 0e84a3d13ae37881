#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Backend HTTP server of the bpfsplit lab: answers with its colour.

Runs inside a backend network namespace (started by lab.py) and listens
dual-stack on [::]:PORT.  HTTP/1.1 with keep-alive, one thread per
connection, no per-request logging.  Every response carries the headers
`X-Backend: <name>` and `X-Colour: <colour>`.

    GET /color, /colour  -> text/plain body "<colour>"
    GET /                -> a tiny HTML page showing the colour
    GET /whoami          -> JSON {backend, colour, client_addr, client_port,
                                  server_addr, server_port}
    GET /healthz         -> "ok"

Usage: colour_server.py --name g1 --colour green [--port 8080]
                        [--bind ::] [--ready-file PATH] [--reset-mod M]

--reset-mod M makes an unhealthy version: every connection whose client port is a
multiple of M (1: every connection) is reset as soon as it is accepted, before a
byte is read or sent (SO_LINGER 0, then close: a RST whose sequence number is the
SYN-ACK's plus one). Which connections fail is thus known in advance.
"""

import argparse
import html
import json
import os
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html>
<html><head><title>{name}: {colour}</title></head>
<body style="background:{colour};font:3em sans-serif;text-align:center">
<p>{colour}</p><p style="font-size:50%">backend {name}</p>
</body></html>
"""


def plain_addr(addr):
    """Return an IPv4-mapped IPv6 address ('::ffff:1.2.3.4') as plain IPv4."""
    if addr.startswith("::ffff:") and "." in addr:
        return addr[len("::ffff:"):]
    return addr


class ColourHandler(BaseHTTPRequestHandler):
    """Serves the few lab endpoints; every response is one write."""

    protocol_version = "HTTP/1.1"
    server_version = "bslab-colour"
    disable_nagle_algorithm = True  # one write per response, no 40 ms stalls

    def do_GET(self):
        self._dispatch(send_body=True)

    def do_HEAD(self):
        self._dispatch(send_body=False)

    def _dispatch(self, send_body):
        path = self.path.split("?", 1)[0]
        srv = self.server
        if path in ("/color", "/colour"):
            self._reply(200, "text/plain", srv.colour_body, send_body)
        elif path == "/":
            self._reply(200, "text/html; charset=utf-8", srv.page_body, send_body)
        elif path == "/whoami":
            self._reply(200, "application/json", self._whoami(), send_body)
        elif path == "/healthz":
            self._reply(200, "text/plain", b"ok\n", send_body)
        else:
            self._reply(404, "text/plain", b"not found\n", send_body)

    def _whoami(self):
        local = self.connection.getsockname()
        info = {
            "backend": self.server.backend_name,
            "colour": self.server.colour,
            "client_addr": plain_addr(self.client_address[0]),
            "client_port": self.client_address[1],
            "server_addr": plain_addr(local[0]),
            "server_port": local[1],
        }
        return (json.dumps(info) + "\n").encode()

    def _reply(self, status, ctype, body, send_body):
        reason = self.responses.get(status, ("",))[0]
        conn = "close" if self.close_connection else "keep-alive"
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Content-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Backend: {self.server.backend_name}\r\n"
            f"X-Colour: {self.server.colour}\r\n"
            f"Connection: {conn}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body if send_body else head)

    def log_message(self, format, *args):  # noqa: A002 - quiet server
        pass


class ColourServer(ThreadingHTTPServer):
    """Dual-stack threading HTTP server with a large backlog."""

    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 4096

    def __init__(self, addr, name, colour, reset_mod=0):
        self.reset_mod = reset_mod
        self.backend_name = name
        self.colour = colour
        self.colour_body = colour.encode()
        esc_name, esc_colour = html.escape(name), html.escape(colour)
        self.page_body = PAGE.format(name=esc_name, colour=esc_colour).encode()
        super().__init__(addr, ColourHandler)

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def verify_request(self, request, client_address):
        if self.reset_mod and client_address[1] % self.reset_mod == 0:
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()  # RST now; shutdown_request() then finds it closed
            return False
        return True

    def handle_error(self, request, client_address):
        # Resets and timeouts are normal in a load test: stay quiet, but do
        # report anything that looks like a bug in this server.
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="bpfsplit lab colour server")
    p.add_argument("--name", required=True, help="backend name (X-Backend)")
    p.add_argument("--colour", "--color", required=True)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--bind", default="::", help="IPv6 address (dual-stack)")
    p.add_argument("--ready-file", help="created once the socket listens")
    p.add_argument("--reset-mod", type=int, default=0,
                   help="reset connections from client ports that are multiples of this (0: none)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    server = ColourServer((args.bind, args.port), args.name, args.colour, args.reset_mod)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(args.ready_file + ".tmp", args.ready_file)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
