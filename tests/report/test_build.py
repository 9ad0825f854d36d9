"""The report from a real database (SQLite and PostgreSQL) for the hand-computed week of tests/report/dataset.py."""

from __future__ import annotations

import json

import pytest

from collector.report import ReportError
from collector.report.build import build_report
from collector.report.render import render
from tests.report import dataset as ds


def _by(rows: list[dict], key: str, value: str = "lost_seconds") -> dict:
    return {r[key]: r[value] for r in rows}


def test_hand_computed_week(filled, config):
    r = build_report(filled, config, ds.WEEK)
    t, x = r["totals"], ds.EXPECTED
    assert r["week"] == ds.WEEK and r["period"]["start"] == "2026-11-02T00:00:00Z"
    assert t["lost_seconds"] == pytest.approx(x["lost_seconds"])
    assert t["active_seconds"] == pytest.approx(x["active_seconds"])
    assert t["disruptions"] == x["disruptions"]
    assert t["devices"] == x["devices"]
    assert t["cost"] == pytest.approx(x["cost"])
    assert t["experience_score"] == pytest.approx(x["score"])
    assert t["impacted_seconds"] == pytest.approx(x["impacted_seconds"])
    assert t["productivity_loss"] == pytest.approx(100 * 5100 / 79200)
    assert (t["employees_with_issues"], t["employees_scored"]) == (x["employees_with_issues"], 11)
    assert _by(r["by_site"], "site", "experience_score") == pytest.approx(x["score_by_site"])
    assert _by(r["by_department"], "department", "experience_score") == pytest.approx(x["score_by_department"])
    assert _by(r["by_app"], "app", "experience_score") == pytest.approx(x["score_by_app"])
    assert r["previous"]["experience_score"] == pytest.approx(75.0)  # W44: P5's hang, 1 of the 4 active hours
    assert _by(r["by_type"], "type") == pytest.approx(x["by_type"])
    assert _by(r["by_type"], "type", "disruptions") == x["by_type_disruptions"]
    assert _by(r["by_app"], "app") == pytest.approx(x["by_app"])
    assert _by(r["by_site"], "site") == pytest.approx(x["by_site"])
    assert _by(r["by_department"], "department") == pytest.approx(x["by_department"])
    assert r["heatmap"]["lost_seconds"][0][9] == pytest.approx(x["heat_monday"][9])
    assert r["heatmap"]["lost_seconds"][0][10] == pytest.approx(x["heat_monday"][10])
    assert sum(map(sum, r["heatmap"]["lost_seconds"])) == pytest.approx(x["lost_seconds"])
    assert r["previous"]["lost_seconds"] == pytest.approx(x["previous_lost_seconds"])
    assert r["method"]["known_devices"] == x["known_devices"] and r["method"]["silent_devices"] == 1


def test_a_week_in_the_company_time_zone(filled, db_url):
    """Europe/Paris (UTC+1 in November): the week starts an hour earlier and the heat map moves an hour later."""
    from collector.config import parse_config

    paris = parse_config({**ds.CONFIG, "report": {**ds.CONFIG["report"], "timezone": "Europe/Paris"}},
                         overrides={"db": db_url}, env={})
    r = build_report(filled, paris, ds.WEEK)
    assert r["period"]["start"] == "2026-11-01T23:00:00Z" and r["period"]["timezone"] == "Europe/Paris"
    assert r["heatmap"]["lost_seconds"][0][10] == pytest.approx(ds.EXPECTED["heat_monday"][9])
    assert r["heatmap"]["lost_seconds"][0][11] == pytest.approx(ds.EXPECTED["heat_monday"][10])
    assert r["heatmap"]["lost_seconds"][0][9] == 0.0
    assert r["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"])  # nothing near the week's edges
    assert any("Europe/Paris" in note for note in r["method"]["notes"])


def test_an_unknown_time_zone_is_a_config_error(db_url):
    from collector.config import parse_config
    from contract.settings import ConfigError

    with pytest.raises(ConfigError, match="timezone"):
        parse_config({"report": {"timezone": "Mars/Olympus_Mons"}}, overrides={"db": db_url}, env={})


def test_apps_versions_and_connectivity(filled, config):
    r = build_report(filled, config, ds.WEEK)
    outlook = next(a for a in r["by_app"] if a["app"] == "outlook")
    assert outlook["main_cause"] == "crash" and outlook["disruptions"] == 5  # P1 hang + crash, P2, P3, N1
    assert outlook["version"] == "2.0" and outlook["version_share"] == pytest.approx(3 / 4)  # failures: 1.0 crash; 2.0 hang + 2 crashes
    c = r["connectivity"]
    assert (c["outages"], c["outage_seconds"], c["lost_seconds"], c["devices"]) == (6, 4200.0, 4200.0, 6)
    assert [(x["cause"], x["outages"], x["outage_seconds"]) for x in c["by_cause"]] == [("dns_failure", 5, 3000.0), ("no_link", 1, 1200.0)]
    assert [(s["site"], s["lost_seconds_per_device"]) for s in c["worst_sites"]] == [("Lyon", 600.0), ("Paris", 240.0)]


def test_privacy(filled, config):
    r = build_report(filled, config, ds.WEEK)
    # repeat threshold 2: P1 (hang + crash) and P4 (outage + hang)
    assert len(r["repeat_devices"]) == 2 and all(d["device"].startswith("d-") for d in r["repeat_devices"])
    for fmt in ("json", "md", "html"):
        text = render(r, fmt).decode()
        assert not any(dev in text for dev in ds.DEVICES), f"device ids leak into {fmt}"
        assert "Nice" not in text and "Legal" not in text, f"a group under the minimum size is named in {fmt}"


def test_empty_week_every_format(filled, config):
    r = build_report(filled, config, "2026-W30")
    assert r["totals"]["lost_seconds"] == 0 and r["totals"]["devices"] == 0
    assert r["findings"][0]["text"] == "No lost working time was recorded in week 2026-W30."
    for fmt in ("json", "md", "csv", "html"):
        assert render(r, fmt)
    json.loads(render(r, "json"))


def test_bad_week(filled, config):
    with pytest.raises(ReportError, match="ISO week"):
        build_report(filled, config, "2026-47")


def test_building_a_report_reads_only_and_says_what_was_still_pending(db_engine, config):
    """A report (also GET /api/v1/reports/weekly) never writes: what ingest marked and no refresher has computed
    yet stays marked, and the method section says so."""
    import sqlalchemy as sa

    from collector.aggregates import marks, queries
    from collector.aggregates.refresh import refresh
    from collector.ingest import Ingestor

    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    for batch, now in ds.batches():
        ingestor.store(batch, now=now)
    tables = ("impact_dirty", "lost_hourly", "active_hourly", "lost_rollup", "impact_total", "week_state")

    def snapshot():
        with db_engine.connect() as conn:
            return {t: sorted(conn.execute(sa.text(f"SELECT * FROM {t}")).all()) for t in tables}

    before = snapshot()
    with db_engine.connect() as conn:
        pending = queries.pending(conn)
    assert pending > 0
    r = build_report(db_engine, config, ds.WEEK)
    assert snapshot() == before
    assert r["totals"]["lost_seconds"] == 0 and r["method"]["pending_device_days"] == pending
    assert any(f"{pending} device-days" in note for note in r["method"]["notes"])
    refresh(db_engine, config)
    r = build_report(db_engine, config, ds.WEEK)
    assert r["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"])
    assert r["method"]["pending_device_days"] == 0
