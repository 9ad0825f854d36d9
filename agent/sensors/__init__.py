"""The sensor registry: the one place where sensors are listed.

One module per sensor, named after the sensor's ``name``, holding one Sensor
subclass and registered in ``_ALL`` here. The private pieces sensors share or
keep per OS live in ``agent/sensors/_helpers/``.
"""

from __future__ import annotations

from agent.sensors.activity import ActivitySensor
from agent.sensors.app_start import AppStartSensor
from agent.sensors.base import Sensor, SensorConfig
from agent.sensors.boot import BootSensor
from agent.sensors.connectivity import ConnectivitySensor
from agent.sensors.crash_coredump import CrashCoredumpSensor
from agent.sensors.crash_proc import CrashProcSensor
from agent.sensors.eventlog import EventLogSensor
from agent.sensors.focus import FocusSensor
from agent.sensors.hang_linux import HangLinuxSensor
from agent.sensors.hang_windows import HangWindowsSensor
from agent.sensors.hang_x11 import HangX11Sensor
from agent.sensors.pressure import PressureSensor
from agent.sensors.probes import ProbesSensor
from agent.sensors.remote_support import RemoteSupportSensor
from agent.sensors.reports_macos import MacReportsSensor
from agent.sensors.saturation import SaturationSensor
from agent.sensors.shutdown import ShutdownSensor
from agent.sensors.test import TestSensor

_ALL: list[type[Sensor]] = [
    TestSensor,
    ProbesSensor,
    ConnectivitySensor,
    PressureSensor,
    SaturationSensor,
    ActivitySensor,
    AppStartSensor,
    CrashProcSensor,
    ShutdownSensor,
    BootSensor,
    HangLinuxSensor,
    HangX11Sensor,
    EventLogSensor,
    HangWindowsSensor,
    MacReportsSensor,
    CrashCoredumpSensor,
    RemoteSupportSensor,
    FocusSensor,
]

SENSORS: dict[str, type[Sensor]] = {cls.name: cls for cls in _ALL}

__all__ = ["SENSORS", "Sensor", "SensorConfig"]
