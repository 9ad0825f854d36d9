"""Discovered applications (collector.aggregates.discover): uncatalogued executables by name, bounded, with
counters that never go down; a real collector without a catalogue shows a crashing program by name and version."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates import discover, marks
from collector.aggregates.refresh import refresh
from collector.config import parse_config
from collector.db import make_engine
from collector.ingest import Ingestor
from tests.collector.batches import batch, event, heartbeat
from tests.collector.test_aggregates import assert_consistent
from tests.conftest import assert_promtool_clean, wait_until

NOW = time.time()


def _config(db_url: str, apps=(), discovered: int = 2):
    return parse_config({"apps": list(apps), "collector": {"discovered_apps": discovered}}, overrides={"db": db_url},
                        env={})


def _beats(start: float, end: float, step: float = 600.0) -> list[dict]:
    return [heartbeat(start + step * (i + 1), interval_s=step, active_s=step) for i in range(int((end - start) // step))]


def _discovered(engine) -> set[str]:
    with engine.connect() as conn:
        return set(discover.read(conn))


def test_executables_are_admitted_on_arrival_then_replaced_by_a_heavier_one(db_engine, db_url):
    """Room: the first two executables are discovered at their first crash; full: a third that loses far more
    time replaces the lightest at the next refresh. A label is decided once: rollups equal the hourly rows."""
    config = _config(db_url)
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    t0 = NOW - 4 * 3600
    crashes = [event("crash", "alpha", t0 + 600, details={"app_version": "1.2"}),
               event("crash", "beta", t0 + 1200), event("crash", "gamma", t0 + 1800)]
    ingestor.store(batch(crashes, _beats(t0, NOW), device_id="device-0001"), now=NOW)
    assert _discovered(db_engine) == {"alpha", "beta"}  # no room for gamma (equal weights: by name)
    refresh(db_engine, config, now=NOW)
    assert _discovered(db_engine) == {"alpha", "beta"}  # gamma lost as much as each: no turn-taking
    # gamma hangs for 40 minutes: it lost far more than alpha, the lightest (ties by name)
    ingestor.store(batch([event("hang", "gamma", t0 + 3600, duration_s=2400, active_s=2400)], device_id="device-0001"),
                   now=NOW)
    refresh(db_engine, config, now=NOW)  # rolls the hang up (under other: gamma is not discovered yet)
    assert _discovered(db_engine) == {"alpha", "beta"}
    refresh(db_engine, config, now=NOW)  # chooses by the trailing week's lost time
    assert _discovered(db_engine) == {"beta", "gamma"}
    ingestor.store(batch([event("crash", "gamma", t0 + 9000), event("crash", "alpha", t0 + 9600)],
                         device_id="device-0001"), now=NOW)
    refresh(db_engine, config, now=NOW)
    with db_engine.connect() as conn:
        counts = dict(conn.execute(sa.text("SELECT app, SUM(count) FROM disruption_count GROUP BY app")).all())
        labels = {(app, etype, hour): label for app, etype, hour, label in conn.execute(
            sa.text("SELECT app, type, hour, label FROM lost_hourly"))}
        versions = conn.execute(sa.text("SELECT app, version, type, count FROM app_version_count")).all()
    # alpha and beta by name from their first crash; gamma's first crash and its hang stayed other, its latest is
    # its own; alpha's latest, after it left the set, is other
    assert counts == {"alpha": 1, "beta": 1, "gamma": 1, "other": 3}
    assert labels[("gamma", "hang", int(t0 + 3600) // 3600 * 3600)] == "other"
    assert labels[("gamma", "crash", int(t0 + 9000) // 3600 * 3600)] == "gamma"
    assert labels[("alpha", "crash", int(t0 + 600) // 3600 * 3600)] == "alpha"
    assert ("alpha", "1.2", "crash", 1) in versions
    assert_consistent(db_engine, config)


def test_a_catalogued_application_is_never_discovered_under_its_raw_name(db_engine, db_url):
    config = _config(db_url, apps=["outlook"], discovered=5)
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    crashes = [event("crash", app, NOW - 600 + i) for i, app in
               enumerate(["OUTLOOK.EXE", "outlook.exe", "Outlook", "outlook", "other", "unknown", "notepad.exe"])]
    crashes.append(event("connectivity_loss", "gateway", NOW - 500, duration_s=5, details={"cause": "no_link"}))
    ingestor.store(batch(crashes, [heartbeat(NOW - 1)]), now=NOW)
    refresh(db_engine, config, now=NOW)
    assert _discovered(db_engine) == {"notepad.exe"}  # a machine's or network's "app" is no application either
    labels = discover.AppLabels(config, ["notepad.exe", "OUTLOOK.EXE"])  # a stored name catalogued since: dropped
    assert labels.discovered == {"notepad.exe"} and labels.label("crash", "OUTLOOK.EXE") == "other"
    assert labels.label("crash", "outlook") == "outlook" and labels.label("support", "phone") == "phone"


@pytest.mark.postgres
def test_replicas_admitting_and_choosing_at_once_never_exceed_the_bound(pg_url):
    """Four ingesting threads (replicas) and two refreshers race on PostgreSQL: the set never holds more than
    discovered_apps, and every rollup still equals its hourly rows."""
    import threading

    from collector.migrations import upgrade

    engine = make_engine(pg_url)
    upgrade(engine)
    config = _config(pg_url, discovered=3)
    errors, stop, sizes = [], threading.Event(), []
    t0 = NOW - 5 * 3600

    def ingest(k: int) -> None:
        ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])  # its own cache, as a replica's
        try:
            for j in range(6):
                crashes = [event("crash", f"prog{k}-{j}-{i}", t0 + 600 * i + 60 * k) for i in range(4)]
                ingestor.store(batch(crashes, _beats(t0, NOW) if j == 0 else [], device_id=f"device-{k:04d}"),
                               now=NOW)
                sizes.append(len(_discovered(engine)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def refresher() -> None:
        while not stop.is_set():
            try:
                refresh(engine, config, now=NOW)
                sizes.append(len(_discovered(engine)))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    workers = [threading.Thread(target=ingest, args=(k,)) for k in range(4)]
    refreshers = [threading.Thread(target=refresher) for _ in range(2)]
    for t in workers + refreshers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    for t in refreshers:
        t.join()
    assert errors == []
    refresh(engine, config, now=NOW)
    assert max(sizes) <= 3 and len(_discovered(engine)) == 3
    assert_consistent(engine, config)
    engine.dispose()


# ------------------------------------------------------------ a real collector without a catalogue

def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _values(samples: dict, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for n, labels in samples if n == name}


def _post(proc, body: dict) -> None:
    r = httpx.post(f"{proc.url}/api/v1/events", json=body, headers=proc.agent_headers(), timeout=30)
    assert r.status_code == 200, r.text


def _scrape(proc) -> tuple[str, float]:
    t = time.perf_counter()
    text = proc.metrics()
    return text, time.perf_counter() - t


def _report(proc, fmt: str, at: float):
    week = datetime.fromtimestamp(at, timezone.utc).strftime("%G-W%V")
    r = httpx.get(f"{proc.url}/api/v1/reports/weekly", params={"week": week, "format": fmt},
                  headers=proc.admin_headers(), timeout=60)
    assert r.status_code == 200, r.text
    return r.json() if fmt == "json" else r.text


def test_a_crashing_program_shows_by_name_and_version_without_a_catalogue(collector):
    now = time.time()
    t0 = now - 3 * 3600
    for d in range(3):
        crashes = [event("crash", "quux-viewer", t0 + 600 + 900 * i, details={"app_version": "2.4.1"}) for i in range(6)]
        crashes.append(event("crash", "report<tool>", t0 + 700, details={"app_version": "0.9"}))
        _post(collector, batch(crashes, _beats(t0, now), device_id=f"device-{d:04d}"))
    wait_until(lambda: 'app="quux-viewer"' in collector.metrics() and "hinder_lost_seconds_total{app=\"quux-viewer\""
               in collector.metrics(), timeout_s=60, interval_s=0.5, what="the refresher to count the crashes")
    text = collector.metrics()
    m = _samples(text)
    version = ("hinder_app_version_disruptions_total", (("app", "quux-viewer"), ("type", "crash"), ("version", "2.4.1")))
    assert m[version] == 18.0
    assert _values(m, "hinder_lost_seconds_total", "app") == {"quux-viewer", "report<tool>"}
    assert_promtool_clean(text)
    report = _report(collector, "json", t0 + 600)
    apps = {a["app"]: a for a in report["by_app"]}
    assert apps["quux-viewer"]["versions"] == [{"version": "2.4.1", "disruptions": 18}]
    assert any(f["text"].startswith("quux-viewer lost the most time") for f in report["findings"])
    assert not any(f["text"].startswith("other") for f in report["findings"])
    html = _report(collector, "html", t0 + 600)
    assert "report&lt;tool&gt;" in html and "report<tool>" not in html  # an agent's string, escaped


def test_ten_thousand_executables_stay_bounded_and_counters_never_go_down(collector):
    """20 devices each crash 500 distinct executables (10,000; each loses the time until the next crash):
    /metrics names at most discovered_apps (20) and counts the rest; then three executables lose far more time,
    the set changes, and no counter went down."""
    now = time.time()
    n_dev, per_dev, spacing = 20, 500, 30.0
    t0 = now - per_dev * spacing - 1200
    started = time.perf_counter()
    for d in range(n_dev):
        crashes = [event("crash", f"tool{d * per_dev + i:05d}", t0 + 600 + spacing * i,
                         details={"app_version": f"1.{i % 3}"}) for i in range(per_dev)]
        _post(collector, batch(crashes, _beats(t0, now, step=900.0), device_id=f"device-{d:04d}"))
    print(f"\n10,000 crashes of distinct executables ingested in {time.perf_counter() - started:.2f} s")
    folded = ("hinder_folded_label_values", (("label", "app"), ("reason", "unlisted")))
    wait_until(lambda: _samples(collector.metrics()).get(folded) == 10_000 - 20, timeout_s=120, interval_s=1,
               what="the refresher to weigh every executable")
    before_text, scrape_s = _scrape(collector)
    before = _samples(before_text)
    print(f"/metrics after 10,000 executables: {len(before_text) / 1024:.0f} KiB, {len(before)} samples, "
          f"scraped in {scrape_s * 1000:.0f} ms")
    assert_promtool_clean(before_text)
    for name in ("hinder_disruptions_total", "hinder_lost_seconds_total", "hinder_app_version_disruptions_total",
                 "hinder_week_lost_seconds", "hinder_app_experience_score_ratio"):
        named = _values(before, name, "app") - {"other"}
        assert 0 < len(named) <= 20, (name, len(named))
    discovered = _values(before, "hinder_lost_seconds_total", "app") - {"other"}
    assert 0 < len(discovered) <= 20 and _values(before, "hinder_app_version_disruptions_total", "app") <= discovered
    assert scrape_s < 1.0

    # three executables lose 40 minutes each: at the next refreshes they replace three of the members
    big = [event("hang", f"heavy{i}", now - 3 * 3600 + 2700 * i, duration_s=2400, active_s=2400) for i in range(3)]
    _post(collector, batch(big, _beats(now - 3 * 3600 - 600, now), device_id="device-heavy"))

    stored = make_engine(collector.db)  # the set every replica reads
    wait_until(lambda: {"heavy0", "heavy1", "heavy2"} <= _discovered(stored), timeout_s=60, interval_s=1,
               what="the three heavy executables to be discovered")
    stored.dispose()
    # once discovered, their next disruption is counted under their name (once ingest's cache has the set)
    time.sleep(discover.CACHE_S + 0.5)
    _post(collector, batch([event("crash", "heavy0", now - 30, details={"app_version": "7.0"})], device_id="device-heavy"))
    wait_until(lambda: 'app="heavy0"' in collector.metrics(), timeout_s=30, interval_s=0.5, what="heavy0 by name")
    after_text, scrape_s = _scrape(collector)
    after = _samples(after_text)
    print(f"/metrics after the set changed: scraped in {scrape_s * 1000:.0f} ms")
    counters = [key for key in before if key[0].endswith("_total")]
    went_down = {key: (before[key], after[key]) for key in counters if key in after and after[key] < before[key]}
    assert went_down == {}
    evicted = discovered - _values(after, "hinder_lost_seconds_total", "app")
    print(f"{len(counters)} counter series compared, none went down; {len(evicted)} executables left the set "
          f"(their series stopped), folded: {after[folded]:.0f}")
    assert evicted  # the heavy ones took the places of executables that had series: those stopped, not moved
    assert ("hinder_app_version_disruptions_total", (("app", "heavy0"), ("type", "crash"), ("version", "7.0"))) in after
    assert len(_values(after, "hinder_lost_seconds_total", "app") - {"other"}) <= 20
    report = _report(collector, "json", now - 600)
    rows = report["by_app"]
    assert rows[0]["app"] == "heavy0" and rows[-1]["app"] == "other" and rows[-1]["executables"] > 9_000
    assert not any(f["text"].startswith("other") for f in report["findings"])
    md = _report(collector, "md", now - 600)
    assert f"other ({rows[-1]['executables']} executables)" in md


# ------------------------------------------------------------ the report, whatever "other" holds

def test_the_report_names_the_largest_application_and_says_what_other_is():
    """A week where the executables folded into other lost more than any named one: the table lists other last,
    with how many executables it holds, and no finding leads with it."""
    from collector.impact import ModelConfig
    from collector.report.assemble import assemble
    from collector.report.build import model_of
    from collector.report.config import ReportSettings
    from collector.report.render import render
    from tests.report.conftest import PERIOD, synthetic_week

    settings = ReportSettings(company="Example Corp")
    weeks = [synthetic_week(f"2026-W{n}", 1.0, settings) for n in (44, 45, 46, 47)]
    week = weeks[-1]
    week.apps.append(("other", "crash", 40 * 3600.0, 900))  # far more than outlook's 2.2 h
    week.other_apps = 412
    report = assemble(weeks, model_of(ModelConfig(hourly_cost=60.0)), settings, PERIOD, "2026-11-23T06:00:00Z")
    rows = report["by_app"]
    assert rows[-1]["app"] == "other" and rows[-1]["executables"] == 412 and rows[0]["app"] == "outlook"
    texts = [f["text"] for f in report["findings"]]
    assert not any(t.startswith("other") for t in texts)
    app_finding = next(t for t in texts if t.startswith("outlook lost the most time"))
    assert "412 other executables, each losing less, lost 40.0 h together" in app_finding
    assert "other (412 executables)" in render(report, "md").decode()
    assert "other (412 executables)" in render(report, "html").decode()
