"""One timed HTTP(S) request: DNS, connect, TLS, time to first byte, transfer.

The request goes through the agent's own client (:mod:`agent._http`: a fresh
connection, no redirects, proxies from the environment), which reports each
step as it starts; a phase lasts until the next step starts. DNS is timed
with our own ``getaddrinfo`` first (skipped when a proxy resolves the name for
us or the host is an IP literal); the client resolves the name again when it
connects, which normally hits the resolver's cache, and our DNS time is
subtracted from the connect phase so it is not counted twice.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agent._http import HTTPError, proxy_for, request

if TYPE_CHECKING:
    import ssl

PHASES = ("dns", "connect", "tls", "ttfb", "transfer")
_STEP_PHASE = {"connect": "connect", "tls": "tls", "request": "ttfb", "body": "transfer"}  # agent._http's steps
USER_AGENT = "hinder-probe/1"


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


def tls_context(verify: bool) -> ssl.SSLContext:
    """The agent's shared context (the system trust store or ``agent.ca_bundle``); or, with ``verify`` off, a
    context that accepts any certificate (the handshake is still timed)."""
    if verify:
        from agent.tls import shared_context

        return shared_context()
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _needs_dns(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def timed_get(url: str, timeout_s: float, tls: ssl.SSLContext | None = None) -> Timing:
    """GET ``url`` once on a fresh connection and time each phase; never raises for network errors.

    ``tls`` is the context for https URLs (default: the system trust store).
    """
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
    steps: list[tuple[str, float]] = []
    t_req = time.perf_counter()
    status = error = None
    try:
        resp = request("GET", url, headers={"User-Agent": USER_AGENT}, timeout_s=timeout_s, tls=tls,
                       trace=lambda step: steps.append((_STEP_PHASE[step], time.perf_counter())))
        status = resp.status
        if status >= 500:
            error = "http_5xx"
    except HTTPError as exc:
        error = exc.kind  # dns (of a proxy), connect, tls, timeout, protocol
    end = time.perf_counter()
    for (phase, began), (_next, ended) in zip(steps, [*steps[1:], (None, end)]):
        phases[phase] = ended - began
    if "connect" in phases and "dns" in phases:
        phases["connect"] = max(0.0, phases["connect"] - phases["dns"])
    failed = None
    if error == "http_5xx":
        failed = "http_status"
    elif error:
        failed = "dns" if error == "dns" else (steps[-1][0] if steps else "connect")
    total = phases.get("dns", 0.0) + (end - t_req)
    return Timing(wall, total, {k: round(v, 6) for k, v in phases.items()}, status, error, failed)
