"""A test-only sensor: emits synthetic `test` events so the delivery chain can be exercised."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting


@dataclass
class TestConfig(SensorConfig):
    __test__ = False
    enabled: bool = setting(False)
    interval_s: float = setting(1.0, min=0.05, max=86400)
    events_per_poll: int = setting(1, min=1, max=10000)


class TestSensor(Sensor):
    """Emits `events_per_poll` numbered test events each poll (disabled by default)."""

    __test__ = False  # not a pytest class
    name = "test"
    Config = TestConfig
    explain = "Disabled unless a tester enables it. Sends numbered synthetic 'test' events and nothing about the machine."

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._seq = 0

    def poll(self):
        now = time.time()
        out = []
        for _ in range(self.config.events_per_poll):
            self._seq += 1
            out.append(Event(type="test", app="test", start=now, severity="info", details={"seq": self._seq}))
        return out

    @classmethod
    def examples(cls):
        return [Event(type="test", app="test", start=time.time(), severity="info", details={"seq": 1})]
