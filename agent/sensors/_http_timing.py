"""One timed HTTP(S) request: DNS, connect, TLS, time to first byte, total.

DNS is timed with our own ``getaddrinfo`` (skipped when a proxy resolves the
name for us or the host is an IP literal); the other phases come from
httpcore's trace events (``connection.connect_tcp.*``, ``connection.start_tls.*``,
``http11.receive_response_headers.*``). httpcore resolves the name again inside
``connect_tcp``; that second lookup normally hits the resolver's cache, and we
subtract our own DNS time from the connect phase so it is not counted twice.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from agent._http import proxy_for
from agent.tls import system_trust

# Probes and checks run every few seconds: httpx's INFO line per request (full URL included)
# would flood the agent's log. Only quieten it when nobody configured that logger.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)

PHASES = ("dns", "connect", "tls", "ttfb", "transfer")

# httpcore trace step -> our phase
_STEP_PHASE = {
    "connect_tcp": "connect",
    "start_tls": "tls",
    "send_request_headers": "ttfb",
    "send_request_body": "ttfb",
    "receive_response_headers": "ttfb",
    "receive_response_body": "transfer",
}


@dataclass
class Timing:
    """What one request measured. ``error`` is None when the server answered."""

    start: float  # wall clock, Unix seconds
    total_s: float
    phases: dict[str, float] = field(default_factory=dict)
    status: int | None = None
    error: str | None = None  # dns, connect, tls, timeout, http_5xx, protocol
    failed_phase: str | None = None

    @property
    def slowest_phase(self) -> str | None:
        return max(self.phases, key=self.phases.get) if self.phases else None


def probe_client(verify_tls: bool = True, user_agent: str = "hinder-probe/1") -> httpx.Client:
    """An httpx client for probes and checks: a fresh connection per request, no redirects, proxies from the
    environment, and the operating system's trust store (where enterprises install their own CAs), one SSL
    context shared by every probing client of the agent."""
    return httpx.Client(trust_env=True, verify=system_trust() if verify_tls else False, follow_redirects=False,
                        limits=httpx.Limits(max_keepalive_connections=0), headers={"User-Agent": user_agent})


def _needs_dns(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def _caused_by(exc: BaseException | None, kind: type) -> bool:
    """Whether ``kind`` is in the exception's cause/context chain (httpx wraps httpcore wraps the OSError)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class _Trace:
    def __init__(self):
        self.started: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.current: str | None = None

    def __call__(self, event: str, info: dict) -> None:
        _, _, rest = event.partition(".")
        step, _, state = rest.rpartition(".")
        phase = _STEP_PHASE.get(step)
        if phase is None:
            return
        now = time.perf_counter()
        if state == "started":
            self.started.setdefault(phase, now)
            self.current = phase
        elif state == "complete":
            self.done[phase] = now
            if phase == "ttfb" and step == "receive_response_headers":
                self.current = "transfer"


def timed_get(client: httpx.Client, url: str, timeout_s: float) -> Timing:
    """GET ``url`` once on a fresh connection and time each phase; never raises for network errors."""
    wall = time.time()
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    host = urlsplit(url).hostname or ""
    if _needs_dns(host) and proxy_for(url) is None:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return Timing(wall, time.perf_counter() - t0, {"dns": time.perf_counter() - t0}, error="dns", failed_phase="dns")
        phases["dns"] = time.perf_counter() - t0
    trace = _Trace()
    t_req = time.perf_counter()
    status = error = None
    try:
        resp = client.get(url, timeout=timeout_s, extensions={"trace": trace})
        status = resp.status_code
        if status >= 500:
            error = "http_5xx"
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.ConnectError as exc:
        error = "tls" if trace.current == "tls" else "dns" if _caused_by(exc, socket.gaierror) else "connect"
    except httpx.HTTPError:
        error = "protocol"
    end = time.perf_counter()
    for phase in PHASES[1:]:
        if phase in trace.started:
            phases[phase] = trace.done.get(phase, end) - trace.started[phase]
    if "transfer" not in trace.started and "ttfb" in trace.done:
        phases["transfer"] = end - trace.done["ttfb"]
    if "connect" in phases and "dns" in phases:
        phases["connect"] = max(0.0, phases["connect"] - phases["dns"])
    failed = None
    if error == "http_5xx":
        failed = "http_status"
    elif error:
        failed = "dns" if error == "dns" else (trace.current or "connect")
    total = phases.get("dns", 0.0) + (end - t_req)
    return Timing(wall, total, {k: round(v, 6) for k, v in phases.items()}, status, error, failed)
