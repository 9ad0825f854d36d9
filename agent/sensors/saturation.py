"""Resource saturation on every OS (psutil): CPU, memory, swapping, a nearly full system disk.

Each poll takes one sample per resource. A sample over its threshold is bad;
consecutive bad samples form an interval, reported as a ``slow_system`` event
(``details.kind``: cpu_saturation, memory_exhaustion, swapping, disk_full) once
it is over and lasted at least the resource's ``*_sustain_s``. CPU and memory
events name the top consuming processes by executable name only (never
command lines, never PIDs).

Lost time (``details.excess_s``): each sample stands for its poll period
(width) and counts for the share by which it exceeded the threshold, scaled so
that a fully saturated machine loses the whole period:

- cpu: ``width x (usage - threshold) / (1 - threshold)``;
- memory: ``width x (min_available - available) / min_available``;
- swapping: ``width x (rate - threshold) / rate``;
- disk_full: 0; a full disk costs no time by itself, only the failures it
  causes, which other sensors report.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from dataclasses import dataclass

import psutil

from agent.sensors._helpers.intervals import Interval, Intervals, Sample, base_details
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

_KINDS = {"cpu": "cpu_saturation", "memory": "memory_exhaustion", "swap": "swapping", "disk": "disk_full"}


@dataclass
class SaturationConfig(SensorConfig):
    interval_s: float = setting(15.0, min=0.2, max=3600, doc="seconds between two samples")
    cpu_threshold: float = setting(0.85, min=0.01, max=0.999, doc="CPU usage share above which the CPU is saturated")
    cpu_sustain_s: float = setting(120.0, min=0, max=86400, doc="saturation shorter than this is not reported")
    memory_available_min: float = setting(0.05, min=0.001, max=0.999, doc="available memory share below which memory is exhausted")
    memory_sustain_s: float = setting(60.0, min=0, max=86400)
    swap_bytes_per_s: float = setting(10_000_000.0, min=1, doc="swap in+out rate above which the machine is swapping")
    swap_sustain_s: float = setting(60.0, min=0, max=86400)
    disk_free_min: float = setting(0.10, min=0.001, max=0.999, doc="free share of the system disk below which it is nearly full")
    disk_path: str = setting("", doc="the system disk; default: / or %SystemDrive%")
    top_processes: int = setting(5, min=0, max=16, doc="how many top consumers (names only) events name")
    process_scan_s: float = setting(15.0, min=0.1, max=3600, doc="while saturated, how often processes are listed")
    split_after_s: float = setting(3600.0, min=60, max=86400, doc="report a long episode in pieces of this length")


class SaturationSensor(Sensor):
    """Reports sustained CPU saturation, memory exhaustion, heavy swapping and a nearly full system disk."""

    name = "saturation"
    Config = SaturationConfig
    explain = ("Samples processor, memory, swap and system-disk usage. When one stays saturated, sends when, for "
               "how long, how far over the limit, and the names of the programs using the most (names only, never "
               "their command lines or files).")

    def start(self) -> None:
        self._intervals = Intervals(self.config.split_after_s)
        self._disk = self.config.disk_path or (os.environ.get("SystemDrive", "C:") + "\\" if sys.platform == "win32" else "/")
        self._last_time = time.time()
        psutil.cpu_percent(None)  # starts the measurement period
        swap = psutil.swap_memory()
        self._last_swap = swap.sin + swap.sout
        self._proc_cpu: dict[int, tuple[str, float]] = {}
        self._scanned_at = {"cpu": 0.0, "memory": 0.0}
        self._top_cpu: collections.Counter = collections.Counter()
        self._top_rss: dict[str, int] = {}

    def poll(self) -> list[Event]:
        now = time.time()
        period = max(1e-3, now - self._last_time)
        start = self._last_time
        cfg = self.config
        closed: list[Interval] = []

        cpu = psutil.cpu_percent(None) / 100.0
        closed += self._sample("cpu", start, cpu, cpu > cfg.cpu_threshold,
                               (cpu - cfg.cpu_threshold) / (1 - cfg.cpu_threshold), {"usage": cpu})
        if self._scan_due("cpu", now):
            self._collect_cpu()

        mem = psutil.virtual_memory()
        available = mem.available / mem.total
        closed += self._sample("memory", start, available, available < cfg.memory_available_min,
                               (cfg.memory_available_min - available) / cfg.memory_available_min,
                               {"available": available})
        if self._scan_due("memory", now):
            self._collect_rss()

        swap = psutil.swap_memory()
        rate = max(0.0, swap.sin + swap.sout - self._last_swap) / period
        self._last_swap = swap.sin + swap.sout
        closed += self._sample("swap", start, rate, rate > cfg.swap_bytes_per_s,
                               1 - cfg.swap_bytes_per_s / rate if rate else 0.0, {"rate": rate})

        try:
            free = 1 - psutil.disk_usage(self._disk).percent / 100.0
        except OSError:
            free = 1.0
        closed += self._sample("disk", now, free, free < cfg.disk_free_min, 0.0, {"free": free})

        self._last_time = now
        return [self._event(iv) for iv in closed if self._reportable(iv)]

    def close(self) -> list[Event]:
        return [self._event(iv) for iv in self._intervals.stop(time.time()) if self._reportable(iv)]

    def _sample(self, key: str, t: float, value: float, bad: bool, share: float, info: dict) -> list[Interval]:
        if bad:
            info["share"] = min(1.0, max(0.0, share))
            return self._intervals.bad(key, _KINDS[key], Sample(t, value, info))
        closed = self._intervals.good(key, t)
        return [closed] if closed else []

    def _scan_due(self, key: str, now: float) -> bool:
        """Process lists are read when an interval opens, then at most every ``process_scan_s`` while it lasts,
        so that the agent does not add much to a saturated machine's load."""
        if not self._intervals.is_open(key) or now - self._scanned_at[key] < self.config.process_scan_s:
            return False
        self._scanned_at[key] = now
        return True

    def _reportable(self, iv: Interval) -> bool:
        sustain = getattr(self.config, f"{iv.key}_sustain_s", 0.0)
        return iv.duration_s >= sustain or iv.split

    def _collect_cpu(self) -> None:
        """Add each process's CPU seconds since the previous sample to its executable name."""
        seen: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter(["name", "cpu_times"]):
            info = proc.info
            if not info.get("cpu_times") or not info.get("name"):
                continue
            total = info["cpu_times"].user + info["cpu_times"].system
            seen[proc.pid] = (info["name"], total)
            prev = self._proc_cpu.get(proc.pid)
            if prev and prev[0] == info["name"]:
                self._top_cpu[info["name"]] += max(0.0, total - prev[1])
        self._proc_cpu = seen

    def _collect_rss(self) -> None:
        """Resident memory per executable name, keeping the largest seen during the interval."""
        per_name: collections.Counter = collections.Counter()
        for proc in psutil.process_iter(["name", "memory_info"]):
            if proc.info.get("memory_info") and proc.info.get("name"):
                per_name[proc.info["name"]] += proc.info["memory_info"].rss
        for name, rss in per_name.items():
            self._top_rss[name] = max(rss, self._top_rss.get(name, 0))

    def _event(self, iv: Interval) -> Event:
        details = base_details(iv)
        details["kind"] = iv.kind
        details["excess_s"] = round(iv.weighted_excess(lambda s: s.info["share"]), 3)
        n = self.config.top_processes
        if iv.key == "cpu":
            self._collect_cpu()  # the last stretch of the interval
            self._scanned_at["cpu"] = 0.0
            details.update(threshold=self.config.cpu_threshold, worst_usage=round(iv.worst(), 3),
                           median_usage=round(iv.median(), 3))
            details["top_processes"] = [name for name, _ in self._top_cpu.most_common(n)]
            self._top_cpu.clear()
            self._proc_cpu.clear()
        elif iv.key == "memory":
            self._scanned_at["memory"] = 0.0
            details.update(threshold=self.config.memory_available_min, min_available=round(min(iv.values()), 4),
                           median_available=round(iv.median(), 4))
            details["top_processes"] = sorted(self._top_rss, key=self._top_rss.get, reverse=True)[:n]
            self._top_rss.clear()
        elif iv.key == "swap":
            details.update(threshold_bytes_per_s=self.config.swap_bytes_per_s, worst_bytes_per_s=round(iv.worst()),
                           median_bytes_per_s=round(iv.median()))
        else:
            details.update(threshold=self.config.disk_free_min, min_free=round(min(iv.values()), 4))
        return Event(type="slow_system", app="system", start=iv.start, duration_s=round(iv.duration_s, 3),
                     severity="warning", details=details)

    @classmethod
    def examples(cls) -> list[Event]:
        return [Event(type="slow_system", app="system", start=time.time() - 400, duration_s=300.0, severity="warning",
                      details={"kind": "cpu_saturation", "threshold": 0.85, "worst_usage": 1.0, "median_usage": 0.97,
                               "excess_s": 240.0, "samples": 20, "top_processes": ["MsMpEng.exe", "Teams.exe"]})]
