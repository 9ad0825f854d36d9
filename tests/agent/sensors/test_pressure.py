"""Pressure stall information: parsing real and recorded files, intervals and kernel-measured stall time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.sensors.pressure import PressureConfig, PressureSensor, parse_psi

REAL = Path("/proc/pressure")
needs_psi = pytest.mark.skipif(not (REAL / "cpu").exists(), reason="this kernel has no /proc/pressure (CONFIG_PSI)")


@needs_psi
@pytest.mark.parametrize("resource", ["cpu", "memory", "io"])
def test_parses_this_machines_files(resource):
    psi = parse_psi((REAL / resource).read_text())
    assert psi["some"]["total"] >= 0 and 0 <= psi["some"]["avg10"] <= 100
    assert set(psi["some"]) == {"avg10", "avg60", "avg300", "total"}


def test_parses_fixtures(fixtures_dir):
    linux = fixtures_dir / "linux"
    io = parse_psi((linux / "pressure_io.txt").read_text())
    assert io["full"]["total"] == 8203306 and io["some"]["avg300"] == 0.69
    assert parse_psi((linux / "pressure_memory.txt").read_text())["full"]["total"] == 0
    old = parse_psi((linux / "pressure_cpu_before_5_13.txt").read_text())
    assert "full" not in old and old["some"]["total"] == 0
    with pytest.raises(ValueError, match="unexpected PSI line"):
        parse_psi("garbage avg10=1\n")
    with pytest.raises(ValueError, match="without total"):
        parse_psi("some avg10=0.00\n")


def _write(d: Path, some: dict, full: dict):
    for r in ("cpu", "memory", "io"):
        (d / r).write_text(f"some avg10=0.00 avg60=0.00 avg300=0.00 total={some[r]}\n"
                           f"full avg10=0.00 avg60=0.00 avg300=0.00 total={full[r]}\n")


def test_interval_and_excess_from_counters(tmp_path, make_ctx):
    some = {"cpu": 0, "memory": 0, "io": 0}
    full = dict(some)
    _write(tmp_path, some, full)
    sensor = PressureSensor(PressureConfig(pressure_dir=str(tmp_path), min_duration_s=0, memory_threshold=0.3),
                            make_ctx())
    sensor.start()
    events = []
    for stall_some, stall_full in ((450_000, 300_000), (400_000, 250_000), (0, 0)):
        time.sleep(0.5)
        some["memory"] += stall_some
        full["memory"] += stall_full
        _write(tmp_path, some, full)
        events += sensor.poll()
    assert sensor.close() == []
    (event,) = events
    d = event.details
    assert event.type == "slow_system" and d["kind"] == "memory_pressure"
    assert event.duration_s == pytest.approx(1.0, abs=0.3)
    assert (d["stall_some_s"], d["stall_full_s"]) == (0.85, 0.55)
    assert d["excess_s"] == 0.55 and d["excess_basis"] == "full"
    assert 0.3 < d["median_share"] <= d["worst_share"] <= 1.0


def test_short_episodes_are_not_reported(tmp_path, make_ctx):
    some = {"cpu": 0, "memory": 0, "io": 0}
    _write(tmp_path, some, some)
    sensor = PressureSensor(PressureConfig(pressure_dir=str(tmp_path), min_duration_s=60), make_ctx())
    sensor.start()
    time.sleep(0.3)
    some = {**some, "io": 290_000}
    _write(tmp_path, some, some)
    assert sensor.poll() == []
    time.sleep(0.3)
    assert sensor.poll() == [] and sensor.close() == []


@needs_psi
@pytest.mark.slow
def test_cpu_burners_raise_real_cpu_pressure(make_ctx):
    """More runnable burners than CPUs: the kernel counts tasks waiting for a CPU, we report it."""
    burners = [subprocess.Popen([sys.executable, str(Path(__file__).with_name("_burner.py"))])
               for _ in range((os.cpu_count() or 1) + 2)]
    sensor = PressureSensor(PressureConfig(interval_s=0.5, cpu_threshold=0.3, min_duration_s=1.0), make_ctx())
    sensor.start()
    try:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            time.sleep(0.5)
            sensor.poll()
    finally:
        for b in burners:
            b.kill()
            b.wait()
    events = sensor.close()
    cpu = [e for e in events if e.details["kind"] == "cpu_pressure"]
    assert cpu, events
    d = cpu[0].details
    assert d["open_at_stop"] is True and d["excess_basis"] == "some"
    assert 0.3 * cpu[0].duration_s < d["excess_s"] <= cpu[0].duration_s


def test_unavailable_without_psi(tmp_path):
    why = PressureSensor.unavailable(PressureConfig(pressure_dir=str(tmp_path)))
    assert why and "CONFIG_PSI" in why


def test_config_errors_name_the_key(config_error):
    assert "sensors.pressure.cpu_threshold: 2.0 is above the maximum 1" in config_error("[sensors.pressure]\ncpu_threshold = 2\n")
