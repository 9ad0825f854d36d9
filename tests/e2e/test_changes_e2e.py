"""A real collector receives a fleet rolling out two application versions: SAP GUI 7.70 crashes twice as often
as 7.60, Teams 1.1 as often as 1.0. /metrics shows both changes, SAP GUI's with a significant ratio near 2; the
weekly report of the rollout's week says SAP GUI got worse and Teams did not clearly change."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from collector.report.week import last_complete_week, parse_week
from tests.collector.batches import body
from tests.collector.changes_fleet import HOUR, Rollout, by_device, fleet_batches
from tests.conftest import wait_until

NOW = time.time()
WEEK = last_complete_week(datetime.fromtimestamp(NOW, timezone.utc))
INSTALL = datetime.combine(parse_week(WEEK), datetime.min.time(), timezone.utc).timestamp() + 8 * HOUR  # Monday
SAP = Rollout("sap-gui", "7.60", "7.70", 0.1, 0.2)
TEAMS = Rollout("teams", "1.0", "1.1", 0.1, 0.1)
CONFIG = 'apps = ["sap-gui", "teams"]\n[changes]\nscore_every_s = 1\n'


@pytest.fixture(scope="module")
def rolled_out(tmp_path_factory):
    from tests.conftest import CollectorProcess, free_port

    workdir = tmp_path_factory.mktemp("changes-e2e")
    (workdir / "collector.toml").write_text(CONFIG)
    collector = CollectorProcess(port=free_port(), db=f"sqlite:///{workdir / 'hinder.db'}", workdir=workdir,
                                 args=["--config", str(workdir / "collector.toml")])
    collector.start()
    try:
        with httpx.Client(base_url=collector.url, headers=collector.agent_headers(), timeout=30) as client:
            for b in by_device(fleet_batches(10, INSTALL, [SAP, TEAMS], until=NOW - HOUR)):  # two weeks' backlog
                r = client.post("/api/v1/events", content=body(b))
                assert r.status_code == 200, r.text
        yield collector
    finally:
        collector.kill()


def _samples(collector, name: str) -> dict[str, float]:
    return {labels: float(v) for labels, v in re.findall(rf"^{name}(\{{.*\}}) (\S+)$", collector.metrics(), re.M)}


def test_metrics_show_the_regression(rolled_out):
    sap = '{kind="app_version",subject="sap-gui",version="7.70"}'
    teams = '{kind="app_version",subject="teams",version="1.1"}'
    wait_until(lambda: _samples(rolled_out, "hinder_change_significant").get(sap) == 1, 60, interval_s=0.5,
               what="the SAP GUI change to be scored")
    assert _samples(rolled_out, "hinder_change_devices") == {sap: 10, teams: 10}
    ratios = _samples(rolled_out, "hinder_change_disruption_rate_ratio")
    assert ratios[sap] == pytest.approx(2.0, rel=0.2) and ratios[teams] == pytest.approx(1.0, abs=0.1)
    assert _samples(rolled_out, "hinder_change_significant")[teams] == 0
    first = _samples(rolled_out, "hinder_change_first_seen_timestamp_seconds")[sap]
    assert INSTALL <= first < INSTALL + timedelta(days=1).total_seconds()


def test_the_weekly_report_says_what_the_changes_did(rolled_out):
    wait_until(lambda: _samples(rolled_out, "hinder_change_significant"), 60, interval_s=0.5, what="scoring")
    r = httpx.get(f"{rolled_out.url}/api/v1/reports/weekly", params={"week": WEEK, "format": "json"},
                  headers=rolled_out.admin_headers(), timeout=60)
    assert r.status_code == 200, r.text
    report = json.loads(r.text)
    rows = {c["subject"]: c for c in report["changes"]["rows"]}
    assert rows["sap-gui"]["verdict"] == "worse" and rows["teams"]["verdict"] == "unclear"
    assert "Failures of sap-gui per 100 active hours" in rows["sap-gui"]["text"]
    assert "before 7.70" in rows["sap-gui"]["text"] and "worse, not noise" in rows["sap-gui"]["text"]
    assert "no clear change" in rows["teams"]["text"]
    assert any(f["kind"] == "change" and "sap-gui 7.70" in f["text"] for f in report["findings"])
    md = httpx.get(f"{rolled_out.url}/api/v1/reports/weekly", params={"week": WEEK, "format": "md"},
                   headers=rolled_out.admin_headers(), timeout=60).text
    assert "## Changes this week and what they did" in md and "worse, not noise" in md
