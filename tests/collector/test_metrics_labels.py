"""/metrics bounds every label value an agent chooses and shows no group under min_group_size (issue 12, 4 and 5).

Each test sends what one agent, or many, may send (any version string, any
site, department, OS or agent version) through the real ingest path and
counts the series /metrics exports, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates.refresh import refresh
from collector.config import parse_config
from tests.collector.batches import batch, body, event, heartbeat
from tests.collector.conftest import make_api
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, assert_promtool_clean


def _api(db_engine, db_url, data: dict | None = None, **collector):
    overrides = {"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, "max_batches_per_s": 0,
                 **collector}
    return make_api(db_engine, parse_config({"apps": ["firefox"], **(data or {})}, overrides=overrides, env={}))


def _post(api, events=(), heartbeats=(), device_id="device-0001"):
    r = api.post(body(batch(list(events), list(heartbeats), device_id=device_id)))
    assert r.status_code == 200, r.text


def _scrape(api) -> tuple[str, dict[str, list[tuple[dict, float]]]]:
    refresh(api.engine, api.config)
    r = api.client.get("/metrics")
    assert r.status_code == 200
    samples: dict[str, list[tuple[dict, float]]] = defaultdict(list)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    return r.text, samples


def _values(samples, label: str) -> set[str]:
    """Every value of ``label`` in any sample of the database families."""
    return {labels[label] for rows in samples.values() for labels, _v in rows if label in labels}


def test_thousands_of_versions_of_one_app_give_at_most_top_n_plus_other(db_engine, db_url):
    api = _api(db_engine, db_url, {"report": {"min_group_size": 1}}, top_versions=3)
    now = time.time()
    versions = [f"115.{i}" for i in range(2000)]
    for k in range(0, len(versions), 500):
        _post(api, [event("crash", "firefox", now - 60, details={"app_version": v}) for v in versions[k:k + 500]],
              [heartbeat(now)])
    _post(api, [event("crash", "firefox", now - 60, details={"app_version": v})
                for v in ("116.0",) * 5 + ("117.0",) * 3])
    text, m = _scrape(api)
    rows = {labels["version"]: v for labels, v in m["hinder_app_version_disruptions_total"]
            if labels["app"] == "firefox"}
    assert len(rows) == 3 + 1  # was 2,002 series, one per version sent
    assert rows["116.0"] == 5 and rows["117.0"] == 3 and rows["other"] == 2000 - 1  # one of the 115.x is third
    assert sum(rows.values()) == 2008
    folded = {(labels["label"], labels["reason"]): v for labels, v in m["hinder_folded_label_values"]}
    assert folded[("app_version", "unlisted")] == 2002 - 3
    assert_promtool_clean(text)


def test_a_device_moving_between_sites_leaves_one_label_set(db_engine, db_url):
    api = _api(db_engine, db_url, {"report": {"min_group_size": 1}})
    now = time.time()
    for i in range(300):
        t = now - 3000 + i * 10
        _post(api, [event("hang", "firefox", t - 5, duration_s=2.0)],
              [heartbeat(t, site=f"site-{i}", department=f"dept-{i}", os=f"os-{i}", agent_version=f"0.{i}")])
    _text, m = _scrape(api)
    assert _values(m, "site") == {"site-299", "other"}  # was 300 sites, one per move
    assert _values(m, "department") == {"dept-299", "other"}
    assert _values(m, "os") == {"os-299", "other"} and _values(m, "agent_version") == {"0.299"}
    assert sum(v for _l, v in m["hinder_disruptions_total"]) == 300  # nothing lost, only folded
    assert [(labels["site"], v) for labels, v in m["hinder_devices"] if v] == [("site-299", 1.0)]


@pytest.mark.parametrize("configured", [True, False], ids=["lists", "no-lists"])
def test_random_labels_from_many_devices_are_bounded_and_counted(db_engine, db_url, configured):
    data = {"report": {"min_group_size": 1}}
    if configured:
        data |= {"sites": ["Paris", "Lyon"], "departments": ["Sales", "Finance"]}
    api = _api(db_engine, db_url, data, max_label_values=3)
    rng = random.Random(12)
    now = time.time()
    sent: list[tuple[str, str, str, str]] = []
    for d in range(150):
        if d < 60:  # a real fleet: a few common values ...
            labels = (["Paris", "Lyon"][d % 2], ["Sales", "Finance"][d % 2], "linux", "0.1.0")
        else:  # ... and a hostile or broken agent per device inventing all four
            labels = tuple(f"{name}-{rng.getrandbits(40):x}" for name in ("site", "dept", "os", "v"))
        sent.append(labels)
        site, department, os_name, version = labels
        _post(api, [event("crash", "firefox", now - 60)],
              [heartbeat(now, site=site, department=department, os=os_name, agent_version=version)],
              device_id=f"device-{d:04d}")
    text, m = _scrape(api)
    for label in ("site", "department", "os", "agent_version"):
        assert len(_values(m, label)) <= 3 + 1, label  # was 92 values of each, one per inventing device
    assert {"Paris", "Lyon"} <= _values(m, "site") and {"Sales", "Finance"} <= _values(m, "department")
    assert len(m["hinder_devices"]) <= 2 * 4 * 4 * 4 and len(m["hinder_disruptions_total"]) <= 4 * 4 * 4
    assert sum(v for _l, v in m["hinder_disruptions_total"]) == 150
    devices = {(labels["label"], labels["reason"]): v for labels, v in m["hinder_folded_devices"]}
    values = {(labels["label"], labels["reason"]): v for labels, v in m["hinder_folded_label_values"]}
    # every invented value is counted; without lists the third most reported place goes to one invented value
    for label in ("site", "department"):
        assert devices[(label, "unlisted")] == values[(label, "unlisted")] == (90 if configured else 89)
        assert devices[(label, "small_group")] == 0
    assert devices[("os", "unlisted")] == 90 - 2  # the two most reported invented OS fill the top 3 beside linux
    assert_promtool_clean(text)


def test_a_small_department_is_not_exported(db_engine, db_url):
    """Default min_group_size (5): a one-device department and a one-device OS never appear by name."""
    api = _api(db_engine, db_url)
    now = time.time()
    fleet = {f"device-s{i}": ("Paris", "Sales", "windows" if i == 0 else "linux") for i in range(6)}
    fleet |= {f"device-f{i}": ("Lyon", "Finance", "linux") for i in range(5)}
    fleet["device-legal"] = ("Paris", "Legal", "linux")
    for dev, (site, department, os_name) in fleet.items():
        beats = [heartbeat(now - 3600 + 60 * k, site=site, department=department, os=os_name, active_s=60)
                 for k in range(1, 61)]
        _post(api, [event("hang", "firefox", now - 1800, duration_s=120, active_s=120)], beats, device_id=dev)
    text, m = _scrape(api)
    assert "Legal" not in text  # was exported, with Legal's experience score and lost time
    grouped_os = {labels["os"] for rows in m.values() for labels, _v in rows if "site" in labels and "os" in labels}
    assert "windows" not in grouped_os  # beside the agent version only, where no group of people is shown
    scores = {(labels["site"], labels["department"]) for labels, _v in m["hinder_experience_score_ratio"]}
    assert scores == {("Paris", "Sales"), ("Lyon", "Finance"), ("other", "other")}  # other: like the report
    # Paris/Sales shows its OS only as "other": a named "linux" (5) would leave a one-device "other" (windows)
    assert {(labels["site"], labels["department"], labels["os"]): v for labels, v in m["hinder_devices"] if v} == {
        ("Paris", "Sales", "other"): 6, ("Lyon", "Finance", "linux"): 5, ("other", "other", "other"): 1}
    devices = {(labels["label"], labels["reason"]): v for labels, v in m["hinder_folded_devices"]}
    assert devices[("department", "small_group")] == 1 and devices[("os", "small_group")] == 6 + 1
    assert_promtool_clean(text)
