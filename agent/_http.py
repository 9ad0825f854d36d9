"""The agent's own small HTTP/1.1 client: uploads, connectivity checks and synthetic probes.

Standard library sockets only. httpx, with what it loads (httpcore, h11,
http.client, email, ssl), cost the running agent about 9 MiB of resident
memory, a third of its 30 MiB budget (docs/sensors-performance.md). TLS
(``ssl`` and the trust store, about 5 MiB) is loaded only when an
https URL is actually requested. ``request(trace=...)`` reports each step as
it starts, which is what the probes time (``agent.sensors._helpers.http_timing``).

One request per connection (``Connection: close``), no redirects followed.
Proxies come from the environment as httpx and curl read them: ``http_proxy``,
``https_proxy``, ``all_proxy`` (lower case first, then upper case) and
``no_proxy``; an http URL goes to the proxy in absolute form, an https URL
through a ``CONNECT`` tunnel. Only ``http://`` proxies are supported.
Timeouts apply to each step (connect, TLS handshake, send, each read), as in httpx.
Failures raise ``HTTPError`` whose ``kind`` says which step failed.
"""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import ssl

MAX_HEAD_LINE = 65536
MAX_HEADERS = 100
MAX_BODY = 1 << 20  # a longer answer is cut here: the agent only reads small answers
_REDIRECTS = (301, 302, 303, 307, 308)


class HTTPError(Exception):
    """A request that got no HTTP answer. ``kind``: dns, connect, tls, timeout or protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Response:
    """A complete answer; header names are in lower case."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def is_redirect(self) -> bool:
        return self.status in _REDIRECTS and "location" in self.headers

    def json(self):
        import json

        return json.loads(self.body)


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to put in an event or a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _env(name: str, env) -> str:
    return env.get(name) or env.get(name.upper()) or ""


def proxy_for(url: str, env=None) -> str | None:
    """The proxy URL from the environment that applies to ``url``, or None for a direct connection."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    proxy = _env(f"{parts.scheme}_proxy", env) or _env("all_proxy", env)
    if not proxy or _bypassed(parts.hostname or "", parts.port, _env("no_proxy", env)):
        return None
    return proxy if "://" in proxy else "http://" + proxy


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma-separated host names, domain suffixes, ``host:port``, ``*``) names ``host``."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def request(method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
            timeout_s: float = 10.0, tls: ssl.SSLContext | None = None,
            trace: Callable[[str], None] | None = None) -> Response:
    """Send one request and read the whole answer (at most ``MAX_BODY`` bytes of body).

    ``tls``: the context for https (default: the agent's shared one, ``agent.tls.shared_context``).
    ``trace`` is called with each step as it starts: ``connect`` (name resolution included), ``tls``
    (https only), ``request`` (sending it and waiting for the answer) and ``body`` (the answer's head is in).
    """
    step = trace or _no_trace
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {display_url(url)}")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    proxy = proxy_for(url)
    step("connect")
    sock = _connect(proxy, host, port, timeout_s)
    try:
        if parts.scheme == "https":
            if proxy:
                _tunnel(sock, proxy, authority)
            step("tls")
            sock = _start_tls(sock, host, tls)
        elif proxy:
            target = urlunsplit(("http", authority, parts.path or "/", parts.query, ""))
        head = {"Host": authority, "Connection": "close", "Accept-Encoding": "identity"}
        if proxy and parts.scheme == "http":
            head.update(_proxy_auth(proxy))
        head.update(headers or {})
        if body or method in ("POST", "PUT"):
            head["Content-Length"] = str(len(body))
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
        step("request")
        _io(sock.sendall, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        with sock.makefile("rb") as fh:
            return _read_response(fh, method, step)
    finally:
        sock.close()


def _no_trace(_step: str) -> None:
    pass


def _io(call, *args):
    """One socket operation, its errors as HTTPError."""
    try:
        return call(*args)
    except socket.timeout:
        raise HTTPError("timeout", "timed out waiting for the server") from None
    except OSError as exc:
        raise HTTPError("protocol", f"connection broken: {exc}") from exc


def _connect(proxy: str | None, host: str, port: int, timeout_s: float) -> socket.socket:
    if proxy:
        p = urlsplit(proxy)
        if p.scheme != "http" or not p.hostname:
            raise HTTPError("connect", f"unsupported proxy {display_url(proxy)}: only http:// proxies are supported")
        host, port = p.hostname, p.port or 80
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        raise HTTPError("dns", f"cannot resolve {host}: {exc}") from exc
    except socket.timeout:
        raise HTTPError("timeout", f"no connection to {host}:{port} within {timeout_s:g} s") from None
    except OSError as exc:
        raise HTTPError("connect", f"cannot connect to {host}:{port}: {exc}") from exc
    sock.settimeout(timeout_s)
    return sock


def _proxy_auth(proxy: str) -> dict[str, str]:
    p = urlsplit(proxy)
    if p.username is None:
        return {}
    token = base64.b64encode(f"{unquote(p.username)}:{unquote(p.password or '')}".encode()).decode()
    return {"Proxy-Authorization": f"Basic {token}"}


def _tunnel(sock: socket.socket, proxy: str, authority: str) -> None:
    """Ask the proxy for a tunnel to ``authority``; read its answer byte-exact (TLS follows on the socket)."""
    head = {"Host": authority, **_proxy_auth(proxy)}
    lines = [f"CONNECT {authority} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
    _io(sock.sendall, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):
        byte = _io(sock.recv, 1)  # byte by byte: nothing of the tunnel may be read into a buffer
        if not byte or len(answer) > MAX_HEAD_LINE:
            raise HTTPError("connect", f"proxy {display_url(proxy)} closed the connection during CONNECT")
        answer += byte
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(None, 2)
    if len(fields) < 2 or not fields[1].isdigit() or not 200 <= int(fields[1]) < 300:
        raise HTTPError("connect", f"proxy {display_url(proxy)} refused the tunnel to {authority}: {status_line}")


def _start_tls(sock: socket.socket, host: str, tls: ssl.SSLContext | None) -> socket.socket:
    import ssl

    if tls is None:
        from agent.tls import shared_context, trust_source

        try:
            tls = shared_context()
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise HTTPError("tls", f"cannot load {trust_source()}: {exc}") from exc
    try:
        return tls.wrap_socket(sock, server_hostname=host)
    except socket.timeout:
        sock.close()
        raise HTTPError("timeout", f"TLS handshake with {host} timed out") from None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        sock.close()
        raise HTTPError("tls", f"TLS with {host} failed: {exc}") from exc
    except OSError as exc:
        sock.close()
        raise HTTPError("tls", f"connection lost during the TLS handshake with {host}: {exc}") from exc


def _line(fh) -> bytes:
    line = _io(fh.readline, MAX_HEAD_LINE + 1)
    if len(line) > MAX_HEAD_LINE:
        raise HTTPError("protocol", "answer line too long")
    return line


def _read_response(fh, method: str, step: Callable[[str], None]) -> Response:
    while True:
        line = _line(fh)
        fields = line.decode("latin-1").split(None, 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not (fields[1].isdigit() and len(fields[1]) == 3):
            raise HTTPError("protocol", f"not an HTTP/1.x answer: {line[:80]!r}" if line else "no answer")
        status, headers = int(fields[1]), _read_headers(fh)
        if not 100 <= status < 200:  # interim answers (100 Continue) come before the real one
            break
    step("body")
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(status, headers, _read_chunked(fh))
    length = headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise HTTPError("protocol", f"bad Content-Length: {length!r}")
        want = int(length)
        data = _io(fh.read, min(want, MAX_BODY))
        if len(data) < min(want, MAX_BODY):
            raise HTTPError("protocol", f"answer cut short: {len(data)} of {want} bytes")
        return Response(status, headers, data)
    return Response(status, headers, _io(fh.read, MAX_BODY))  # delimited by the end of the connection


def _read_headers(fh) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(fh).decode("latin-1").rstrip("\r\n")
        if not line:
            return headers
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HTTPError("protocol", f"bad header line: {line[:80]!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise HTTPError("protocol", f"more than {MAX_HEADERS} header lines")


def _read_chunked(fh) -> bytes:
    body = b""
    while True:
        size_field = _line(fh).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise HTTPError("protocol", f"bad chunk size: {size_field[:20]!r}") from None
        if size == 0:
            _read_headers(fh)  # trailers
            return body
        chunk = _io(fh.read, size)
        if len(chunk) < size:
            raise HTTPError("protocol", "answer cut short inside a chunk")
        body += chunk
        if len(body) >= MAX_BODY:
            return body[:MAX_BODY]
        _line(fh)  # the CRLF after the chunk
