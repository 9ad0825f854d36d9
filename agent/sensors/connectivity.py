"""Connectivity loss and degradation, checked layer by layer every few seconds.

One check walks the layers from the bottom and stops at the first that fails:
a non-loopback interface with a link (``no_link``), an address on it
(``no_address``), a default route (``no_route``), resolution of the configured
names (``dns_failure``), the internet check URL in the style of NetworkManager's
or Windows NCSI's (``internet_unreachable``; an unexpected answer or a redirect
is a ``captive_portal``), then the configured targets (``target_unreachable``:
no TCP connection to the target's host and port; behind a proxy, no HTTP answer
at all through it, a 5xx still proving it reachable). The check's latency is
the slowest target's connection time.

An outage runs from the first failed check to the first good one; its cause is
the lowest layer that failed during it. Outages shorter than ``min_outage_s``
are blips: counted in the heartbeat (``connectivity_blips_total``), not
reported. Connectivity is *degraded* while good checks are slower than
``degraded_latency_s`` (the slowest target) or while at least
``degraded_failure_ratio`` of the last ``degraded_window`` checks failed
(a flapping link whose blips are each too short to be outages). Each good
check is a sample whose lost share is the larger of ``(t - threshold) / t``
(as for probes) and the failure ratio when that is over its threshold;
``excess_s = sum(width_i * share_i)``. Failed checks leave a degraded interval
open; an outage inside it is reported on its own (the impact model merges
overlaps).
"""

from __future__ import annotations

import collections
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

from agent._http import HTTPError, display_url, proxy_for, request
from agent.sensors._helpers.intervals import Interval, Intervals, Sample, base_details
from agent.sensors.base import Sensor, SensorConfig
from contract.events import CONNECTIVITY_CAUSES, INTERFACE_KIND, WIFI_SIGNAL_DBM
from contract.records import Event
from contract.settings import setting

if sys.platform.startswith("win"):
    from agent.sensors._helpers import net_windows as _net
elif sys.platform == "darwin":
    from agent.sensors._helpers import net_macos as _net
else:
    from agent.sensors._helpers import net_linux as _net

_HEADERS = {"User-Agent": "hinder-connectivity/1"}
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")


@dataclass
class ConnectivityConfig(SensorConfig):
    interval_s: float = setting(5.0, min=0.2, max=3600, doc="seconds between two checks")
    timeout_s: float = setting(3.0, min=0.1, max=60, doc="a DNS lookup or request slower than this has failed")
    targets: list[str] = setting(default_factory=list, url=True,
                                 doc="URLs whose host and port must accept a connection; default: the collector")
    dns_names: list[str] = setting(default_factory=list, doc="names to resolve; default: the targets' host names")
    internet_url: str = setting("", url=True, doc="internet check URL (NCSI style); empty: no internet check")
    internet_expect: str = setting("", doc="text its answer must contain; another answer means a captive portal")
    min_outage_s: float = setting(10.0, min=0, max=3600, doc="shorter outages are counted as blips, not reported")
    degraded_latency_s: float = setting(1.0, min=0.01, max=60, doc="a slower good check means degraded connectivity")
    degraded_failure_ratio: float = setting(0.2, min=0.01, max=1, doc="this share of failed recent checks is degraded")
    degraded_window: int = setting(12, min=2, max=1000, doc="how many recent checks the failure ratio looks at")
    wifi_interval_s: float = setting(60.0, min=1, max=86400, doc="how often the Wi-Fi signal is read")
    split_after_s: float = setting(3600.0, min=60, max=86400, doc="report a long outage in pieces of this length")

    def __post_init__(self) -> None:
        if self.degraded_latency_s >= self.timeout_s:
            raise ValueError(f"degraded_latency_s ({self.degraded_latency_s}) must be below timeout_s ({self.timeout_s})")
        if self.internet_expect and not self.internet_url:
            raise ValueError("internet_expect: set internet_url too")
        for i, name in enumerate(self.dns_names):
            if not _HOSTNAME.match(name):
                raise ValueError(f"dns_names[{i}]: {name!r} is not a host name")


@dataclass
class _Check:
    time: float
    cause: str | None  # None: connectivity is fine
    iface: str | None
    latency_s: float = 0.0
    target: str | None = None


class ConnectivitySensor(Sensor):
    """Layered connectivity checks; reports outages with their cause, and degraded periods."""

    name = "connectivity"
    Config = ConnectivityConfig
    explain = ("Every few seconds checks that this device has a network link, an address, a route, working name "
               "resolution and can reach the addresses your IT department configured. Sends when and why "
               "connectivity was lost, the kind of interface (wired, Wi-Fi, VPN) and the Wi-Fi signal strength. "
               "Nothing about what you do on the network.")

    def start(self) -> None:
        cfg = self.config
        self._targets = list(cfg.targets) or [self.ctx.collector_url]
        hosts = [urlsplit(u).hostname or "" for u in self._targets + ([cfg.internet_url] if cfg.internet_url else [])]
        self._dns_names = list(cfg.dns_names) or sorted({h for h in hosts if h and not _is_ip(h)})
        self._resolver = ThreadPoolExecutor(2, thread_name_prefix="dns-check")
        self._intervals = Intervals(cfg.split_after_s)
        self._blips = 0
        self._wifi_at = 0.0
        self._wifi_dbm: float | None = None
        self._last_iface: str | None = None  # the interface in use before the link went away
        self._recent: collections.deque[bool] = collections.deque(maxlen=cfg.degraded_window)  # True: failed

    def poll(self) -> list[Event]:
        check = self._check()
        check.iface = check.iface or self._last_iface
        self._last_iface = check.iface
        self._update_wifi(check)
        self._recent.append(bool(check.cause))
        if check.cause:
            sample = Sample(check.time, 0.0, {"cause": check.cause, "iface": check.iface, "target": check.target})
            return self._events(self._intervals.bad("loss", "connectivity_loss", sample))
        out = [iv for iv in [self._intervals.good("loss", check.time)] if iv]
        if out and out[0].duration_s >= self.config.min_outage_s:
            self._recent.clear()  # the failures of a reported outage are not flapping
            self._recent.append(False)
        share = self._degraded_share(check.latency_s)
        if share is None:
            out += [iv for iv in [self._intervals.good("degraded", check.time)] if iv]
        else:
            info = {"iface": check.iface, "share": share, "failure_ratio": self._failure_ratio()}
            out += self._intervals.bad("degraded", "connectivity_degraded", Sample(check.time, check.latency_s, info))
        return self._events(out)

    def _failure_ratio(self) -> float:
        return sum(self._recent) / len(self._recent) if self._recent else 0.0

    def _degraded_share(self, latency_s: float) -> float | None:
        """The share of a good check's period lost to degradation, or None when connectivity is fine."""
        cfg = self.config
        slow = latency_s > cfg.degraded_latency_s
        ratio = self._failure_ratio()
        flapping = len(self._recent) >= 2 and ratio >= cfg.degraded_failure_ratio
        if not (slow or flapping):
            return None
        return max((latency_s - cfg.degraded_latency_s) / latency_s if slow else 0.0, ratio if flapping else 0.0)

    def close(self) -> list[Event]:
        events = self._events(self._intervals.stop(time.time()))
        self._resolver.shutdown(wait=False, cancel_futures=True)
        return events

    # ------------------------------------------------------------- checks

    def _check(self) -> _Check:
        now = time.time()
        stats = psutil.net_if_stats()
        addrs = psutil.net_if_addrs()
        up = [n for n, s in stats.items() if s.isup and not _loopback(n, s, addrs) and _net.link_ok(n)]
        if not up:
            return _Check(now, "no_link", None)
        with_address = [n for n in up if any(_usable(a) for a in addrs.get(n, []))]
        if not with_address:
            return _Check(now, "no_address", up[0])
        route = _net.default_route_interface()
        if route is None:
            return _Check(now, "no_route", with_address[0])
        iface = route or with_address[0]
        for name in self._dns_names:
            if not self._resolves(name):
                return _Check(now, "dns_failure", iface)
        if self.config.internet_url:
            cause = self._internet()
            if cause:
                return _Check(now, cause, iface, target=display_url(self.config.internet_url))
        latency = 0.0
        for url in self._targets:
            cause, seconds = self._reach(url)
            if cause:
                return _Check(now, cause, iface, target=display_url(url))
            latency = max(latency, seconds)
        return _Check(now, None, iface, latency)

    def _reach(self, url: str) -> tuple[str | None, float]:
        """(failure cause or None, seconds): a TCP connection to the target, or an HTTP request through a proxy."""
        t0 = time.perf_counter()
        if proxy_for(url):
            try:
                self._get(url)  # any answer, even a 5xx, proves the target reachable through the proxy
            except HTTPError as exc:
                return "dns_failure" if exc.kind == "dns" else "target_unreachable", time.perf_counter() - t0
            return None, time.perf_counter() - t0
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=self.config.timeout_s).close()
        except socket.gaierror:
            return "dns_failure", time.perf_counter() - t0
        except OSError:
            return "target_unreachable", time.perf_counter() - t0
        return None, time.perf_counter() - t0

    def _resolves(self, name: str) -> bool:
        future = self._resolver.submit(socket.getaddrinfo, name, None, type=socket.SOCK_STREAM)
        try:
            return bool(future.result(timeout=self.config.timeout_s))
        except (OSError, FutureTimeout):
            return False

    def _get(self, url: str):
        return request("GET", url, headers=_HEADERS, timeout_s=self.config.timeout_s)

    def _internet(self) -> str | None:
        try:
            resp = self._get(self.config.internet_url)
        except HTTPError:
            return "internet_unreachable"
        if resp.is_redirect or resp.status >= 400:
            return "captive_portal"
        if self.config.internet_expect and self.config.internet_expect not in resp.text:
            return "captive_portal"
        return None

    def _update_wifi(self, check: _Check) -> None:
        if check.time - self._wifi_at < self.config.wifi_interval_s:
            return
        self._wifi_at = check.time
        self._wifi_dbm = _net.wifi_signal_dbm(check.iface)
        hb = self.ctx.heartbeat_details
        if self._wifi_dbm is None:
            hb.pop(WIFI_SIGNAL_DBM, None)
        else:
            hb[WIFI_SIGNAL_DBM] = self._wifi_dbm

    # ------------------------------------------------------------- events

    def _events(self, intervals: list[Interval]) -> list[Event]:
        events = []
        for iv in intervals:
            if iv.kind == "connectivity_loss" and iv.duration_s < self.config.min_outage_s and not iv.open_at_stop:
                self._blips += 1
                self.ctx.heartbeat_details["connectivity_blips_total"] = self._blips
                continue
            events.append(self._event(iv))
        return events

    def _event(self, iv: Interval) -> Event:
        details = base_details(iv)
        iface = next((s.info["iface"] for s in iv.samples if s.info.get("iface")), None)
        details[INTERFACE_KIND] = _net.interface_kind(iface) if iface else "unknown"
        if self._wifi_dbm is not None:
            details[WIFI_SIGNAL_DBM] = self._wifi_dbm
        if iv.kind == "connectivity_loss":
            causes = list(dict.fromkeys(s.info["cause"] for s in iv.samples))
            details["cause"] = min(causes, key=CONNECTIVITY_CAUSES.index)
            details["causes"] = causes
            target = next((s.info["target"] for s in iv.samples if s.info.get("target")), None)
            if target:
                details["target"] = target
            severity = "error"
        else:
            details.update(threshold_s=self.config.degraded_latency_s, worst_s=round(iv.worst(), 3),
                           median_s=round(iv.median(), 3),
                           worst_failure_ratio=round(max(s.info["failure_ratio"] for s in iv.samples), 3),
                           excess_s=round(iv.weighted_excess(lambda s: s.info["share"]), 3))
            severity = "warning"
        return Event(type=iv.kind, app="network", start=iv.start, duration_s=round(iv.duration_s, 3),
                     severity=severity, details=details)

    @classmethod
    def examples(cls) -> list[Event]:
        now = time.time()
        return [
            Event(type="connectivity_loss", app="network", start=now - 200, duration_s=185.0,
                  details={"cause": "dns_failure", "causes": ["dns_failure"], "interface_kind": "wifi",
                           "wifi_signal_dbm": -71.0, "samples": 37}),
            Event(type="connectivity_degraded", app="network", start=now - 600, duration_s=120.0, severity="warning",
                  details={"interface_kind": "wifi", "wifi_signal_dbm": -79.0, "threshold_s": 1.0, "worst_s": 3.2,
                           "median_s": 1.8, "worst_failure_ratio": 0.08, "excess_s": 51.0, "samples": 24}),
        ]


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def _loopback(name: str, stats, addrs) -> bool:
    if "loopback" in getattr(stats, "flags", ""):
        return True
    ips = [a.address for a in addrs.get(name, []) if a.family in (socket.AF_INET, socket.AF_INET6)]
    return bool(ips) and all(ip.startswith("127.") or ip == "::1" for ip in ips)


def _usable(addr) -> bool:
    """An address that can reach beyond the link: not loopback, not link-local."""
    if addr.family == socket.AF_INET:
        return not addr.address.startswith(("127.", "169.254."))
    if addr.family == socket.AF_INET6:
        return not addr.address.lower().startswith(("fe80", "::1"))
    return False
