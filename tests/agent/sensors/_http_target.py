"""A local HTTP server whose behaviour a test switches at run time: fast, slow, 503, hang."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        mode, delay = self.server.mode
        if mode == "hang":
            self.server.release.wait(delay)
            return
        if delay:
            time.sleep(delay)
        body = b"ok\n" if mode != "error" else b"unavailable\n"
        self.send_response(503 if mode == "error" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpTarget:
    """Serve on 127.0.0.1 (or ``host``) in a thread; ``set(mode, delay)`` changes the answers."""

    def __init__(self, host="127.0.0.1", port=0):
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.mode = ("fast", 0.0)
        self.server.release = threading.Event()
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def set(self, mode: str, delay: float = 0.0) -> None:
        self.server.mode = (mode, delay)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.release.set()
        self.server.shutdown()
        self.server.server_close()
