"""Synthetic HTTP probes of the catalogued applications' URLs: slow_app and app_unavailable.

Every ``interval_s`` each ``[[apps]] urls`` entry gets one GET on a fresh
connection (proxies from the environment are respected), timed per phase. A
probe slower than the app's ``slow_threshold_s`` opens a ``slow_app`` interval;
a failed probe (timeout, 5xx, DNS, connect or TLS error) opens an
``app_unavailable`` interval. The interval ends at the first good probe (or
when the failure turns into slowness and back: the kind changes, one interval
closes and the other opens).

Lost time (``details.excess_s``) of a slow interval of duration D: each probe
stands for the time until the next probe; an employee working with the app
during that time waited ``t`` per request of which ``t - threshold`` was beyond
the acceptable, so the share lost is ``(t - threshold) / t``. Hence
``excess_s = sum(width_i * (t_i - threshold) / t_i)`` over the probes of the
interval, always between 0 and D. An unavailable app costs its whole duration.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent._http import display_url
from agent.catalogue import App
from agent.sensors._helpers.intervals import Interval, Intervals, Sample, base_details
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

if TYPE_CHECKING:
    from agent.sensors._helpers.http_timing import Timing


@dataclass
class ProbesConfig(SensorConfig):
    interval_s: float = setting(30.0, min=0.2, max=86400, doc="seconds between two probes of each URL")
    timeout_s: float = setting(10.0, min=0.1, max=120, doc="a probe without a full answer after this has failed")
    parallel: int = setting(4, min=1, max=32, doc="probes run at the same time")
    verify_tls: bool = setting(True, doc="check server certificates (a failure is an app_unavailable with error 'tls')")
    split_after_s: float = setting(3600.0, min=60, max=86400, doc="report a long interval in pieces of this length")


class ProbesSensor(Sensor):
    """Probes catalogued URLs; reports slow and unavailable intervals per URL."""

    name = "probes"
    Config = ProbesConfig
    explain = ("Sends one HTTP request to each web address your IT department listed for its applications, "
               "every few seconds, and measures how long the answer takes. Sends the application name, the "
               "configured address without query string, and response times. Nothing about you or your browsing.")

    def start(self) -> None:
        self._targets: list[tuple[App, str]] = [(app, url) for app in self.ctx.catalogue.apps for url in app.urls]
        self._intervals = Intervals(self.config.split_after_s)
        self._tls = self._pool = None
        if not self._targets:
            return
        if any(url.lower().startswith("https:") for _, url in self._targets):
            # an http-only catalogue never does TLS: ssl and the trust store (about 5 MiB) are not even loaded
            from agent.sensors._helpers.http_timing import tls_context

            self._tls = tls_context(self.config.verify_tls)
        workers = min(self.config.parallel, len(self._targets))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="probe") if workers > 1 else None

    def poll(self) -> list[Event]:
        if not self._targets:
            return []
        timings = list(self._pool.map(self._probe, self._targets)) if self._pool else \
            [self._probe(t) for t in self._targets]
        events: list[Event] = []
        for (app, url), timing in zip(self._targets, timings):
            events.extend(self._observe(app, url, timing))
        return events

    def _probe(self, target: tuple[App, str]) -> Timing:
        from agent.sensors._helpers.http_timing import timed_get

        return timed_get(target[1], self.config.timeout_s, self._tls)

    def close(self) -> list[Event]:
        events = [self._event(iv) for iv in self._intervals.stop(time.time())]
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return events

    def _observe(self, app: App, url: str, t: Timing) -> list[Event]:
        key = (app.name, url)
        if t.error:
            kind = "app_unavailable"
        elif t.total_s > app.slow_threshold_s:
            kind = "slow_app"
        else:
            closed = self._intervals.good(key, t.start)
            return [self._event(closed)] if closed else []
        phase = t.failed_phase if t.error else t.slowest_phase
        info = {"threshold_s": app.slow_threshold_s, "phase": phase, "error": t.error, "status": t.status}
        return [self._event(iv) for iv in self._intervals.bad(key, kind, Sample(t.start, t.total_s, info))]

    def _event(self, iv: Interval) -> Event:
        app_name, url = iv.key
        threshold = iv.samples[0].info["threshold_s"]
        details = base_details(iv)
        details.update(kind="probe", url=display_url(url), threshold_s=threshold, worst_s=round(iv.worst(), 3),
                       median_s=round(iv.median(), 3), phase=_most_common(s.info["phase"] for s in iv.samples))
        if iv.kind == "slow_app":
            excess = iv.weighted_excess(lambda s: (s.value - threshold) / s.value)
            details["excess_s"] = round(excess, 3)
            severity = "warning"
        else:
            details["error"] = _most_common(s.info["error"] for s in iv.samples)
            details["timeout_s"] = self.config.timeout_s
            status = [s.info["status"] for s in iv.samples if s.info["status"]]
            if status:
                details["status"] = status[-1]
            severity = "error"
        return Event(type=iv.kind, app=app_name, start=iv.start, duration_s=round(iv.duration_s, 3),
                     severity=severity, details=details)

    @classmethod
    def examples(cls) -> list[Event]:
        now = time.time()
        return [
            Event(type="slow_app", app="CRM", start=now - 95, duration_s=90.0, severity="warning",
                  details={"kind": "probe", "url": "https://crm.example.com/health", "threshold_s": 2.0, "worst_s": 7.9,
                           "median_s": 4.2, "phase": "ttfb", "samples": 3, "excess_s": 47.1}),
            Event(type="app_unavailable", app="CRM", start=now - 40, duration_s=30.0, severity="error",
                  details={"kind": "probe", "url": "https://crm.example.com/health", "threshold_s": 2.0, "worst_s": 10.0,
                           "median_s": 10.0, "phase": "ttfb", "samples": 1, "error": "timeout", "timeout_s": 10.0}),
        ]


def _most_common(values) -> str | None:
    counts = collections.Counter(v for v in values if v)
    return counts.most_common(1)[0][0] if counts else None
