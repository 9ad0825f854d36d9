"""Unexpected shutdowns, from the agent's own run record (all OSes).

At start the agent keeps the previous run record (``ctx.run_state.previous``):
the boot it ran on, its last sign of life, and whether it stopped cleanly. If
the machine booted since then and the previous run did not stop cleanly, the
machine went down without a clean shutdown (power loss, freeze, kernel panic,
hard reset): one ``unexpected_shutdown`` event, starting at the last sign of
life, lasting until the current boot (an estimate: the true moment of the
failure lies between the last heartbeat and the next one). The run record is
rewritten at every start, so one failure is reported once. On Windows the
event log sensor reports them instead, enriched with events 41/6008/1001.
"""

from __future__ import annotations

import sys
import time

from agent.sensors.base import Sensor
from contract.records import MAX_DURATION_S, Event, format_time

SOURCE = "run_record"


def boot_time() -> float:
    """Unix time of the current boot."""
    import psutil

    return psutil.boot_time()


def unexpected_shutdown(previous, current_boot_id: str, booted_at: float, source: str = SOURCE) -> Event | None:
    """The event for a previous run that ended with the machine going down uncleanly, or None."""
    if previous is None or previous.clean_stop or previous.boot_id == current_boot_id:
        return None
    downtime = min(max(0.0, booted_at - previous.last_alive), MAX_DURATION_S)
    details = {"source": source, "last_alive": format_time(previous.last_alive), "boot_time": format_time(booted_at),
               "downtime_estimated": True}
    return Event(type="unexpected_shutdown", app="system", start=previous.last_alive, duration_s=downtime,
                 severity="critical", details=details)


class ShutdownSensor(Sensor):
    """Reports once, at start, that the previous run ended with an unclean shutdown."""

    name = "shutdown"
    explain = (
        "At agent start, compares the machine's boot with the agent's last sign of life. Sends one "
        "'unexpected_shutdown' if the machine restarted without a clean shutdown: when the agent was last "
        "alive and when the machine booted again. Nothing else."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._pending: list[Event] = []

    @classmethod
    def unavailable(cls, config):
        if sys.platform == "win32":
            return "on Windows the event log sensor reports unexpected shutdowns (events 41, 6008, 1001)"
        return super().unavailable(config)

    def start(self):
        event = unexpected_shutdown(self.ctx.run_state.previous, self.ctx.run_state.current.boot_id, boot_time())
        if event:
            self.ctx.log.warning("the machine went down uncleanly: last alive %s, booted %s",
                                 event.details["last_alive"], event.details["boot_time"])
            self._pending.append(event)

    def poll(self):
        out, self._pending = self._pending, []
        return out

    @classmethod
    def examples(cls):
        now = time.time()
        return [Event(type="unexpected_shutdown", app="system", start=now - 300, duration_s=240.0, severity="critical",
                      details={"source": SOURCE, "last_alive": format_time(now - 300), "boot_time": format_time(now - 60),
                               "downtime_estimated": True})]
