#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Colour server of the cluster lab: runs in a pod namespace and answers, over TCP and
UDP, one line "<colour> <name> <peer address>:<peer port>" per request, so that a test
sees which backend answered and which source address that backend saw.

TCP: every line received ("?") gets one answer line; the connection stays open until
the client closes it. UDP: every datagram gets one answer datagram.

Usage: cluster_server.py --name n1g --colour green [--tcp-port 8080] [--udp-port 5353]
                         [--ready-file PATH]
"""

import argparse
import os
import socket
import socketserver
import sys
import threading


def answer(srv, peer):
    host = peer[0][len("::ffff:"):] if peer[0].startswith("::ffff:") and "." in peer[0] else peer[0]
    where = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return f"{srv.colour} {srv.name} {where}\n".encode()


class TcpHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                line = self.rfile.readline()
            except OSError:
                return
            if not line:
                return
            try:
                self.wfile.write(answer(self.server, self.client_address))
            except OSError:
                return


class TcpServer(socketserver.ThreadingTCPServer):
    """Dual stack: [::] with IPV6_V6ONLY off also takes IPv4 (as ::ffff:a.b.c.d)."""
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve_udp(sock, srv):
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(answer(srv, peer), peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--colour", required=True)
    ap.add_argument("--tcp-port", type=int, default=8080)
    ap.add_argument("--udp-port", type=int, default=5353)
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    tcp = TcpServer(("::", args.tcp_port), TcpHandler)
    tcp.colour, tcp.name = args.colour, args.name
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    udp.bind(("::", args.udp_port))
    threading.Thread(target=serve_udp, args=(udp, tcp), daemon=True).start()
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, args.ready_file)
    try:
        tcp.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
