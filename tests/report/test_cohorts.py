"""The devices section of the weekly report and the cohort families of /metrics from a real collector process fed
heartbeats with cohort fields and boot and sign-in waits (issue 15): exact figures computed from what was sent."""

from __future__ import annotations

import io
import random
import zipfile
import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates import model_name
from collector.report.assemble import memory_class
from tests.collector.batches import batch, event, heartbeat
from tests.conftest import wait_until

THRESHOLD_S = 60.0
GIB = 1 << 30
FLEET = {  # device -> (vendor, model, OS build, memory)
    **{f"device-t{i}": ("LENOVO", "ThinkPad T14 Gen 3", "22631.4460", 16 * GIB - (300 << 20)) for i in range(4)},
    **{f"device-l{i}": ("Dell Inc.", "Latitude 5420", "22631.4460", 8 * GIB) for i in range(3)},
    **{f"device-h{i}": ("HP", "EliteBook 840 G8", "19045.5371", 32 * GIB) for i in range(2)},  # too few: other
}
CONFIG = """
[report]
min_group_size = 3
"""


def _last_week_tuesday() -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday() + 7) + timedelta(days=1, hours=9)


def _send(collector, rng: random.Random) -> dict:
    """Two fully active hours per device, one boot and one sign-in, and a hang of 120 s on the ThinkPads."""
    t0 = _last_week_tuesday().timestamp()
    sent = []  # (device, stage, seconds)
    hangs = {}
    for dev, (vendor, model, build, memory) in FLEET.items():
        beats = [heartbeat(t0 + 60 * k, active_s=60.0, os_build=build, hw_vendor=vendor, hw_model=model,
                           cpu_class="Intel Core i5", memory_bytes=memory) for k in range(1, 121)]
        boot, logon = round(rng.uniform(20, 150), 1), round(rng.uniform(5, 100), 1)
        events = []
        for stage, start, seconds in (("boot", t0 + 300, boot), ("logon", t0 + 300 + boot + 5, logon)):
            excess = max(0.0, seconds - THRESHOLD_S)
            events.append(event(stage, "system", start, duration_s=seconds,
                                details={"excess_s": excess} if excess else {}))
            sent.append((dev, stage, seconds))
        if model.startswith("ThinkPad"):
            events.append(event("hang", "firefox", t0 + 3600, duration_s=120.0, active_s=120.0))
            hangs[dev] = 120.0
        r = httpx.post(f"{collector.url}/api/v1/events", json=batch(events, beats, device_id=dev),
                       headers=collector.agent_headers(), timeout=30)
        assert r.status_code == 200, r.text
    return {"waits": sent, "hangs": hangs, "week": _last_week_tuesday().strftime("%G-W%V")}


def _expected(sent: dict, of) -> dict:
    """Per cohort named by ``of`` (device -> name, already folded): devices, lost seconds, disruptions, waits."""
    rows: dict = defaultdict(lambda: {"devices": set(), "lost": 0.0, "disruptions": 0,
                                      "boot": [], "logon": [], "boot_lost": 0.0})
    for dev in FLEET:
        rows[of(dev)]["devices"].add(dev)
    for dev, stage, seconds in sent["waits"]:
        r = rows[of(dev)]
        r[stage].append(seconds)
        excess = max(0.0, seconds - THRESHOLD_S)
        r["lost"] += excess
        r["disruptions"] += excess > 0
        if stage == "boot":
            r["boot_lost"] += excess
    for dev, lost in sent["hangs"].items():
        rows[of(dev)]["lost"] += lost
        rows[of(dev)]["disruptions"] += 1
    return rows


def _quantiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[-1]


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """A real collector fed the fleet, and its report of that week once the refresher has caught up."""
    from tests.conftest import CollectorProcess, free_port

    workdir = tmp_path_factory.mktemp("cohorts")
    (workdir / "collector.toml").write_text(CONFIG)
    proc = CollectorProcess(port=free_port(), db=f"sqlite:///{workdir / 'hinder.db'}", workdir=workdir,
                            args=["--config", str(workdir / "collector.toml")]).start()
    try:
        sent = _send(proc, random.Random(15))
        report: dict = {}

        def ready() -> bool:
            r = httpx.get(f"{proc.url}/api/v1/reports/weekly", params={"week": sent["week"]},
                          headers=proc.admin_headers(), timeout=60)
            r.raise_for_status()
            report.update(r.json())
            return report["method"]["pending_device_days"] == 0 and report["totals"]["devices"] == len(FLEET)

        wait_until(ready, 60, interval_s=1.0, what="the refresher to compute the week")
        yield proc, sent, report, proc.metrics()
    finally:
        proc.stop()


def test_report_devices_by_model_os_build_and_memory(fed):
    _proc, sent, report, _metrics = fed
    cohorts = report["cohorts"]
    for table, key, name_of in (
            ("by_model", "hw_model", lambda v: model_name(v[0], v[1]) if not v[1].startswith("EliteBook") else "other"),
            ("by_os_build", "os_build", lambda v: v[2] if v[2] != "19045.5371" else "other"),
            ("by_memory", "memory", lambda v: memory_class(v[3]) if v[3] != 32 * GIB else "other")):
        expected = _expected(sent, lambda dev: name_of(FLEET[dev]))
        rows = {g[key]: g for g in cohorts[table]}
        assert rows.keys() == expected.keys(), table
        for name, e in expected.items():
            g, n = rows[name], len(e["devices"])
            assert g["devices"] == n
            assert g["lost_seconds"] == pytest.approx(e["lost"])
            assert g["lost_seconds_per_device"] == pytest.approx(e["lost"] / n)
            assert g["disruptions"] == e["disruptions"] and g["disruptions_per_device"] == pytest.approx(e["disruptions"] / n)
            for stage in ("boot", "logon"):
                median, p90 = _quantiles(e[stage])
                assert g[stage]["count"] == n
                assert g[stage]["median_seconds"] == pytest.approx(median) and g[stage]["p90_seconds"] == pytest.approx(p90)
                assert g[stage]["slow_share"] == pytest.approx(sum(s > THRESHOLD_S for s in e[stage]) / n)
            assert g["boot"]["lost_seconds"] == pytest.approx(e["boot_lost"])
        per_device = [g["lost_seconds_per_device"] for g in cohorts[table] if g[key] != "other"]
        assert per_device == sorted(per_device, reverse=True) and cohorts[table][-1][key] == "other"
    assert {g["memory"] for g in cohorts["by_memory"]} == {"16-31 GiB", "8-15 GiB", "other"}  # 15.7 GiB is 16
    assert cohorts["by_model"][0]["cpu_class"] == "Intel Core i5"
    # the fleet's waits, and a wait within its threshold is no disruption
    for stage in ("boot", "logon"):
        waits = [s for _d, st, s in sent["waits"] if st == stage]
        w = cohorts["waits"][stage]
        assert (w["count"], w["median_seconds"]) == (len(waits), pytest.approx(statistics.median(waits)))
    by_type = {t["type"]: t["disruptions"] for t in report["by_type"]}
    for stage in ("boot", "logon"):
        assert by_type.get(stage, 0) == sum(s > THRESHOLD_S for _d, st, s in sent["waits"] if st == stage)
    assert "EliteBook" not in str(report) and "19045" not in str(report)


def test_report_renders_the_devices_section(fed):
    proc, sent, _report, _metrics = fed
    for fmt, needle in (("html", "Devices: models, OS builds, boot and sign-in"), ("md", "By OS build:"), ("csv", None)):
        r = httpx.get(f"{proc.url}/api/v1/reports/weekly", params={"week": sent["week"], "format": fmt},
                      headers=proc.admin_headers(), timeout=60)
        assert r.status_code == 200
        if needle is None:  # a zip of CSV files
            with zipfile.ZipFile(io.BytesIO(r.content)) as z:
                text = z.read(f"hinder-report-{sent['week']}/cohorts_by_model.csv").decode()
            assert text.startswith("hw_model,groups,devices,") and "LENOVO ThinkPad T14 Gen 3" in text
        else:
            assert needle in r.text and "LENOVO ThinkPad T14 Gen 3" in r.text


def test_metrics_of_the_real_collector(fed):
    _proc, sent, _report, text = fed
    samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    devices = {(s["hw_model"], s["os_build"]): v for s, v in samples["hinder_cohort_devices"]}
    assert devices == {("LENOVO ThinkPad T14 Gen 3", "22631.4460"): 4, ("Dell Inc. Latitude 5420", "22631.4460"): 3,
                       ("other", "other"): 2}
    counts = defaultdict(float)
    for s, v in samples["hinder_startup_duration_seconds_count"]:
        counts[s["stage"]] += v
    assert counts == {"boot": len(FLEET), "logon": len(FLEET)}
    slow = defaultdict(float)
    for s, v in samples["hinder_startup_slow_total"]:
        slow[s["stage"]] += v
    disruptions = defaultdict(float)
    for s, v in samples["hinder_disruptions_total"]:
        disruptions[s["type"]] += v
    for stage in ("boot", "logon"):
        n = sum(s > THRESHOLD_S for _d, st, s in sent["waits"] if st == stage)
        assert slow[stage] == disruptions[stage] == n


def test_a_model_that_stands_out_is_a_finding_and_a_small_one_is_not_named():
    from collector.impact import ModelConfig
    from collector.report.assemble import assemble
    from collector.report.build import model_of
    from collector.report.config import ReportSettings
    from tests.report.conftest import PERIOD, synthetic_week

    settings = ReportSettings(company="Example Corp")
    week = synthetic_week("2026-W47", settings=settings)
    devices = sorted(week.devices)
    for i, dev in enumerate(devices):  # 6 slow-booting devices of one model, 6 of another, one of a third
        model = "Acme Brick 9" if i < 6 else "Acme Feather 2" if i < 12 else "Acme Lonely 1"
        week.cohorts[dev] = (model, "22631.4460", "Intel Core i5", 16 * GIB)
        if i < 6:
            week.lost.append((dev, "boot", 3600.0))
            week.waits.append((dev, "boot", 3660.0, 3600.0))
    week.derived.clear()  # the per-device sums synthetic_week computed before the boots were added
    report = assemble([week], model_of(ModelConfig()), settings, PERIOD, "2026-11-23T06:00:00Z")
    rows = {g["hw_model"]: g for g in report["cohorts"]["by_model"]}
    assert set(rows) == {"Acme Brick 9", "Acme Feather 2", "other"} and rows["other"]["devices"] == 1
    assert report["cohorts"]["by_model"][0]["hw_model"] == "Acme Brick 9"  # the worst per device first
    found = [f["text"] for f in report["findings"] if f["kind"] == "cohort"]
    assert len(found) == 1 and found[0].startswith("Devices of model Acme Brick 9 lost")
    assert "Lonely" not in str(report)
