"""A local HTTP server standing in for an ITSM in the connector tests: serves fixtures with the source's real
paging and auth schemes (each test module gives the handler), records the requests, and can be taken down."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str):
    """A JSON fixture of tests/collector/support/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lowercase names
    body: bytes


@dataclass
class Reply:
    """What the handler answers: a status, headers and a JSON-ready body (or bytes)."""

    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Itsm:
    """The running server: its base ``url``, the ``requests`` it got, ``down`` (answers 503 while set) and
    ``failures`` (the next that many requests get 503, then it recovers)."""

    url: str
    requests: list[Request]
    down: bool = False
    failures: int = 0


def serve(handler: Callable[[Request], Reply]):
    """Start a server answering with ``handler``; a context manager yielding an :class:`Itsm`."""
    from contextlib import contextmanager

    @contextmanager
    def running():
        state = Itsm(url="", requests=[])

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                state.requests.append(req)
                if state.down or state.failures > 0:
                    state.failures = max(0, state.failures - 1)
                    reply = Reply(503, {"error": "unavailable"})
                else:
                    reply = handler(req)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        state.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            server.shutdown()
            server.server_close()

    return running()
