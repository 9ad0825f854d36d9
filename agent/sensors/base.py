"""The sensor interface: every detector on the endpoint implements this.

A sensor is polled by the agent on its own thread every ``config.interval_s``
seconds and returns the events it saw since the last poll (or other wire
records a sensor makes: the focus sensor's app-time totals, ``Usage``). A sensor that
raises is logged, counted and backed off by the runner, never fatal. Sensors
that need a blocking source (a netlink socket, an event log subscription) read
it without blocking inside ``poll`` or keep their own thread and hand events
over on the next poll.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterable

from contract.records import Event
from contract.settings import setting

if TYPE_CHECKING:
    from agent.context import SensorContext


@dataclass
class SensorConfig:
    """Settings every sensor has; a sensor extends this with its own."""

    enabled: bool = setting(True)
    interval_s: float = setting(5.0, min=1, max=86400, doc="how often the sensor is polled")


class Sensor:
    """Base class of all sensors."""

    name: ClassVar[str]
    Config: ClassVar[type[SensorConfig]] = SensorConfig
    platforms: ClassVar[tuple[str, ...]] = ("linux", "win32", "darwin")
    # Shown to the employee by `hinder agent explain`: what it reads and what it sends.
    explain: ClassVar[str] = ""

    def __init__(self, config: SensorConfig, ctx: "SensorContext"):
        self.config = config
        self.ctx = ctx

    @classmethod
    def unavailable(cls, config: SensorConfig) -> str | None:
        """Why this sensor cannot run on this machine, or None if it can."""
        if not any(sys.platform.startswith(p) for p in cls.platforms):
            return f"not supported on {sys.platform}"
        return None

    def start(self) -> None:
        """Open sources (sockets, bookmarks). Called once before the first poll."""

    def poll(self) -> Iterable[Event]:
        """Return the events observed since the last poll."""
        return ()

    def close(self) -> Iterable[Event] | None:
        """Release sources and persist state. Called once on a clean stop.

        May return final events (e.g. intervals still open at stop, with
        ``details.open_at_stop``); the runner spools them like poll results.
        """

    @classmethod
    def watching(cls, config: SensorConfig) -> list[str]:
        """What this configuration makes the sensor watch, one line each, for `hinder agent explain` (may be none)."""
        return []

    @classmethod
    def examples(cls) -> list[Event]:
        """Example events, for `hinder agent explain`."""
        return []
