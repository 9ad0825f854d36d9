"""End to end, with no application catalogue anywhere: a packaged executable crashes on this machine, and it is named,
with the version its package database gives, on /metrics, in the weekly report and on the drill-down dashboard
(a real agent, a real collector, a real Prometheus)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor
from tests.conftest import crash_agent, wait_until
from tests.grafana.test_dashboards import GRAFANA, _Prometheus

pytestmark = pytest.mark.slow
SLEEP = Path("/usr/bin/sleep")


def _package_version(path: Path) -> str | None:
    """The version dpkg gives the package owning ``path`` (what the agent must send), None without dpkg."""
    if shutil.which("dpkg-query") is None:
        return None
    spellings = [str(path), str(path).removeprefix("/usr")]  # merged /usr: dpkg may know /bin/sleep only
    owner = subprocess.run(["dpkg-query", "-S", *spellings], capture_output=True, text=True)
    if not owner.stdout:
        return None
    package = owner.stdout.split(":")[0]
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True).stdout


def _crash_sleep() -> None:
    proc = subprocess.Popen([str(SLEEP), "60"])
    time.sleep(0.2)
    proc.send_signal(signal.SIGSEGV)
    assert proc.wait(10) == -signal.SIGSEGV


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_an_uncatalogued_crash_is_named_with_its_version_everywhere(collector, tmp_path):
    reason = CrashProcSensor.unavailable(CrashProcConfig())
    if reason:
        pytest.skip(reason)
    version = _package_version(SLEEP)
    if not version:
        pytest.skip(f"{SLEEP} is not owned by a dpkg package here")
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; scripts/test does it as root)")
    prometheus = None
    with crash_agent(tmp_path, collector.url):  # no [[apps]]: nothing is catalogued
        try:
            _crash_sleep()
            (event, *more) = wait_until(lambda: [e for e in collector.events() if e["type"] == "crash"
                                                 and e["app"] == "sleep"],
                                        15, interval_s=0.2, what="the crash of sleep in GET /api/v1/events")
            assert event["details"]["app_version"] == version, (event, more)
            assert not more, more

            # /metrics: the executable is discovered on arrival, so its first crash is counted under its name
            def counted():
                metrics = collector.metrics()
                return metrics if _sample(metrics, "hinder_disruptions_total", app="sleep") else None

            metrics = wait_until(counted, 15, interval_s=0.2, what="the crash on /metrics")
            assert _sample(metrics, "hinder_disruptions_total", type="crash", app="sleep") == 1
            assert _sample(metrics, "hinder_app_version_disruptions_total", app="sleep", version=version,
                           type="crash") == 1
            assert _sample(metrics, "hinder_folded_label_values", label="app", reason="unlisted") == 0

            # the drill-down dashboard, against a real Prometheus that has seen the counters move
            prometheus = _Prometheus(tmp_path, f"127.0.0.1:{collector.port}")
            wait_until(lambda: prometheus.query('count_over_time(up{job="hinder"}[1m]) >= 2'), 60, interval_s=0.5,
                       what="two scrapes")
            _crash_sleep()
            wait_until(lambda: _sample(collector.metrics(), "hinder_disruptions_total", type="crash", app="sleep") == 2,
                       15, interval_s=0.2, what="the second crash on /metrics")
            board = json.loads((GRAFANA / "dashboards" / "applications.json").read_text())
            app_var = next(v for v in board["templating"]["list"] if v["name"] == "app")
            metric = re.fullmatch(r"label_values\((.+),\s*app\)", app_var["query"]["query"]).group(1)
            assert "sleep" in prometheus.label_values("app", metric)
            panel = next(p for p in board["panels"] if p["title"] == "Crashes and hangs by version (range)")
            expr = panel["targets"][0]["expr"].replace("$app", "sleep").replace("$__range", "5m")

            def by_version():
                return {r["metric"]["version"]: float(r["value"][1]) for r in prometheus.query(expr)}

            assert wait_until(lambda: by_version().get(version, 0) > 0, 30, interval_s=0.5,
                              what="the version panel to show the second crash")

            # the weekly report of this week names it, with its version, once the refresher has computed both crashes
            week = datetime.fromtimestamp(time.time(), timezone.utc).strftime("%G-W%V")

            def reported():
                r = httpx.get(f"{collector.url}/api/v1/reports/weekly", params={"week": week, "format": "json"},
                              headers=collector.admin_headers(), timeout=60)
                r.raise_for_status()
                report = r.json()
                rows = [a for a in report["by_app"] if a["app"] == "sleep" and a["disruptions"] == 2]
                return (report, rows[0]) if rows else None

            report, row = wait_until(reported, 30, interval_s=1, what="both crashes in the weekly report")
            assert row["versions"] == [{"version": version, "disruptions": 2}]
            assert not report["findings"][0]["text"].startswith("other")
        finally:
            if prometheus:
                prometheus.stop()
