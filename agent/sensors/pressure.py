"""Linux pressure stall information (/proc/pressure): slow_system intervals measured by the kernel.

Each poll reads the ``total`` stall counters (microseconds) of cpu, memory
and io. Over one poll period, ``delta(some.total) / delta(wall time)`` is the
share of time in which at least one task waited for that resource. A period
whose share is over the resource's threshold is a bad sample; consecutive bad
periods form an interval, reported once it is over (and lasted at least
``min_duration_s``).

Lost time (``details.excess_s``) is the stall time the kernel counted during
the interval: ``full`` for memory and io (every non-idle task was stalled, so
nothing the employee ran made progress: a conservative measure that does not
count a background task waiting while the foreground one runs), ``some`` for
cpu (the kernel does not define ``full`` for cpu at system level; a runnable
task waiting for a CPU is time an interactive task can lose as well).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from agent.sensors._helpers.intervals import Interval, Intervals, Sample, base_details
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

RESOURCES = ("cpu", "memory", "io")
_EXCESS_BASIS = {"cpu": "some", "memory": "full", "io": "full"}


def parse_psi(text: str) -> dict[str, dict[str, float]]:
    """Parse one /proc/pressure file into ``{"some": {"avg10": .., "total": ..}, "full": {...}}``."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind not in ("some", "full"):
            raise ValueError(f"unexpected PSI line: {line!r}")
        values = {}
        for field in fields:
            key, _, value = field.partition("=")
            values[key] = float(value)
        if "total" not in values:
            raise ValueError(f"PSI line without total: {line!r}")
        out[kind] = values
    if "some" not in out:
        raise ValueError("PSI file without a 'some' line")
    return out


@dataclass
class PressureConfig(SensorConfig):
    interval_s: float = setting(10.0, min=0.2, max=3600, doc="seconds between two readings")
    cpu_threshold: float = setting(0.5, min=0.001, max=1, doc="share of time with tasks waiting for a CPU")
    memory_threshold: float = setting(0.1, min=0.001, max=1, doc="share of time with tasks stalled on memory")
    io_threshold: float = setting(0.2, min=0.001, max=1, doc="share of time with tasks stalled on I/O")
    min_duration_s: float = setting(30.0, min=0, max=3600, doc="shorter episodes are not reported")
    pressure_dir: str = setting("/proc/pressure", doc="where the PSI files are (tests point elsewhere)")
    split_after_s: float = setting(3600.0, min=60, max=86400, doc="report a long episode in pieces of this length")


class PressureSensor(Sensor):
    """Reports periods when the kernel measured tasks stalled on CPU, memory or I/O."""

    name = "pressure"
    Config = PressureConfig
    platforms = ("linux",)
    explain = ("Reads the Linux kernel's pressure counters (/proc/pressure) to see when programs had to wait for "
               "the processor, memory or disk. Sends when this happened, for how long, and how much time was lost. "
               "Nothing about which programs you use.")

    @classmethod
    def unavailable(cls, config: PressureConfig) -> str | None:
        why = super().unavailable(config)
        if why:
            return why
        if not (Path(config.pressure_dir) / "cpu").exists():
            return f"{config.pressure_dir} is missing (kernel without CONFIG_PSI, or booted with psi=0)"
        return None

    def start(self) -> None:
        self._intervals = Intervals(self.config.split_after_s)
        self._last = self._read()
        self._last_time = time.time()

    def poll(self) -> list[Event]:
        now, current = time.time(), self._read()
        wall_us = max(1.0, (now - self._last_time) * 1e6)
        closed: list[Interval] = []
        for resource, totals in current.items():
            before = self._last.get(resource)
            if before is None:
                continue
            some_us = max(0.0, totals["some"] - before["some"])
            full_us = max(0.0, totals.get("full", 0.0) - before.get("full", 0.0))
            share = min(1.0, some_us / wall_us)
            threshold = getattr(self.config, f"{resource}_threshold")
            if share > threshold:
                sample = Sample(self._last_time, share, {"some_us": some_us, "full_us": full_us, "threshold": threshold})
                closed += self._intervals.bad(resource, f"{resource}_pressure", sample)
            else:
                closed += [iv for iv in [self._intervals.good(resource, self._last_time)] if iv]
        self._last, self._last_time = current, now
        return [self._event(iv) for iv in closed if iv.duration_s >= self.config.min_duration_s or iv.split]

    def close(self) -> list[Event]:
        return [self._event(iv) for iv in self._intervals.stop(self._last_time)
                if iv.duration_s >= self.config.min_duration_s]

    def _read(self) -> dict[str, dict[str, float]]:
        out = {}
        for resource in RESOURCES:
            try:
                psi = parse_psi((Path(self.config.pressure_dir) / resource).read_text())
            except OSError:
                continue
            out[resource] = {kind: values["total"] for kind, values in psi.items()}
        return out

    def _event(self, iv: Interval) -> Event:
        resource = iv.key
        some_s = sum(s.info["some_us"] for s in iv.samples) / 1e6
        full_s = sum(s.info["full_us"] for s in iv.samples) / 1e6
        basis = _EXCESS_BASIS[resource]
        details = base_details(iv)
        details.update(kind=iv.kind, threshold=iv.samples[0].info["threshold"], worst_share=round(iv.worst(), 4),
                       median_share=round(iv.median(), 4), stall_some_s=round(some_s, 3),
                       stall_full_s=round(full_s, 3), excess_basis=basis,
                       excess_s=round(min(iv.duration_s, some_s if basis == "some" else full_s), 3))
        return Event(type="slow_system", app="system", start=iv.start, duration_s=round(iv.duration_s, 3),
                     severity="warning", details=details)

    @classmethod
    def examples(cls) -> list[Event]:
        return [Event(type="slow_system", app="system", start=time.time() - 300, duration_s=240.0,
                      severity="warning",
                      details={"kind": "memory_pressure", "threshold": 0.1, "worst_share": 0.62, "median_share": 0.35,
                               "stall_some_s": 84.2, "stall_full_s": 51.7, "excess_basis": "full",
                               "excess_s": 51.7, "samples": 24})]
