"""A real forward HTTP proxy on loopback for tests: absolute-form requests and CONNECT tunnels.

It records each request line and its Proxy-Authorization header; ``refuse_connect`` answers 403 to
CONNECT; an unreachable upstream gets 502 Bad Gateway, as squid would answer.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from urllib.parse import urlsplit


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        proxy = self.server.owner
        line = self.rfile.readline().decode("latin-1").strip()
        headers = {}
        while (h := self.rfile.readline().decode("latin-1").strip()):
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        proxy.seen.append((line, headers.get("proxy-authorization")))
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            if proxy.refuse_connect:
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
        else:
            parts = urlsplit(target)
            host, port = parts.hostname, parts.port or 80
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with upstream:
            if method == "CONNECT":
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                forwarded = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()
                                                             if k != "proxy-authorization"]
                upstream.sendall(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1"))
                length = int(headers.get("content-length", 0))
                if length:
                    upstream.sendall(self.rfile.read(length))
            back = threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True)
            back.start()
            if method == "CONNECT":
                _pipe(self.connection, upstream)
            back.join(10)


class ForwardProxy:
    """Run with ``with ForwardProxy() as p:``; ``p.url`` is its http:// address, ``p.seen`` what it was asked."""

    def __init__(self, refuse_connect: bool = False):
        self.refuse_connect = refuse_connect
        self.seen: list[tuple[str, str | None]] = []
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.owner = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
