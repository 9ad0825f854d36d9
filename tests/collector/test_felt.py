"""Felt vs measured on the collector: each (answer, event) pair counted once whichever arrives first, /metrics'
pulse families bounded and promtool-clean, the dashboard panel's PromQL on those metrics, the calibration."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import tomllib

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector import calibration, impact
from collector.aggregates import felt, marks
from collector.config import parse_config
from collector.ingest import Ingestor
from collector.models import felt_count_table
from tests.collector.batches import batch, body, event, feedback, heartbeat
from tests.collector.conftest import make_api, make_config
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, ROOT, hinder_env

HOOKS = [marks.on_ingest, felt.on_ingest]


def _counts(engine) -> dict[tuple, tuple]:
    with engine.connect() as conn:
        return {tuple(r[:5]): (r[5], r[6], r[7]) for r in conn.execute(sa.select(felt_count_table))}


# ------------------------------------------------------------------ the model's cost of one event alone

def test_alone_s_is_each_types_rule_with_the_employee_active():
    cfg = impact.ModelConfig(app_crash_recovery_s={"sap": 600.0})
    alone = lambda **kw: impact.alone_s(impact.Disruption(id="e", start=1_000_000.0, **kw), cfg)  # noqa: E731
    assert alone(type="crash", app="firefox") == 180.0  # recovery time
    assert alone(type="crash", app="sap") == 600.0  # per-application recovery
    assert alone(type="unexpected_shutdown", app="") == 600.0
    assert alone(type="abnormal_exit", app="x") == 0.0
    assert alone(type="hang", app="x", duration_s=300.0, active_s=120.0) == pytest.approx(120.0)  # active duration
    assert alone(type="hang", app="x", duration_s=7300.0) == pytest.approx(7300.0)  # no active_s: all of it, hours
    assert alone(type="slow_app", app="x", duration_s=8.0, active_s=4.0, excess_s=6.0) == pytest.approx(3.0)  # excess
    refocus = impact.ModelConfig(refocus_penalty_s=120.0)
    assert impact.alone_s(impact.Disruption("e", "crash", "x", 0.0), refocus) == 300.0  # the penalty counts too


# ------------------------------------------------------------------ counting, exactly once

def test_each_pair_is_counted_once_whichever_arrives_first(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=HOOKS), time.time()
    hb = heartbeat(now - 30, site="Paris", department="Finance")
    first, second, same, orphan, resent = (event(start=now - 600 + i) for i in range(5))
    hang = event("hang", app="firefox", start=now - 500, duration_s=90.0, active_s=60.0)
    sent = [
        batch([first], [hb]),  # the event first ...
        batch(feedback=[feedback(first["id"], "over_15_minutes", now - 10)]),  # ... its answer later
        batch(feedback=[feedback(second["id"], "lost_work", now - 10), feedback(hang["id"], "unanswered", now - 9)]),
        batch([second, hang]),  # the answers first, the events later
        batch([same], feedback=[feedback(same["id"], "none", now - 10)]),  # both in one batch
        batch(feedback=[feedback(orphan["id"], "few_minutes", now - 10)]),  # its event never comes
        batch(feedback=[feedback(resent["id"], "few_minutes", now - 10)]),  # an answer, then resent with its event
        batch([resent], feedback=[feedback(resent["id"], "few_minutes", now - 10)]),
    ]
    for b in sent:
        ingestor.store(b, now=now)
    for b in sent:  # every batch retried: stores nothing, counts nothing
        ingestor.store(b, now=now)
    # another device answering about an event id it never sent is no pair
    ingestor.store(batch(feedback=[feedback(first["id"], "lost_work", now - 5)], device_id="device-0002"), now=now)
    assert _counts(db_engine) == {
        ("crash", "firefox", "Paris", "Finance", "over_15_minutes"): (1, 180.0, 1200.0),
        ("crash", "firefox", "Paris", "Finance", "lost_work"): (1, 180.0, 1800.0),
        ("crash", "firefox", "Paris", "Finance", "none"): (1, 180.0, 0.0),
        ("crash", "firefox", "Paris", "Finance", "few_minutes"): (1, 180.0, 300.0),
        ("hang", "firefox", "Paris", "Finance", "unanswered"): (1, 60.0, 0.0),
    }


def test_labels_are_the_metrics_labels_and_the_model_of_the_moment(db_engine, db_url):
    config = parse_config({"apps": ["sap"], "model": {"crash_recovery_s": 240}},
                          overrides={"db": db_url}, env={})
    ingestor, now = Ingestor(db_engine, config, hooks=HOOKS), time.time()
    crashes = [event(app="sap", start=now - 60), event(app="notepad", start=now - 50)]
    ingestor.store(batch(crashes, [heartbeat(now - 5, site="Lyon", department="Sales")],
                         feedback=[feedback(e["id"], "few_minutes", now - 5) for e in crashes]), now=now)
    assert _counts(db_engine) == {("crash", "sap", "Lyon", "Sales", "few_minutes"): (1, 240.0, 300.0),
                                  ("crash", "other", "Lyon", "Sales", "few_minutes"): (1, 240.0, 300.0)}


# ------------------------------------------------------------------ /metrics

def _api(db_engine, db_url, min_group_size: int):
    overrides = {"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, "max_batches_per_s": 0}
    return make_api(db_engine, parse_config({"apps": ["firefox"], "report": {"min_group_size": min_group_size}},
                                            overrides=overrides, env={}))


def _fleet(api, now: float) -> None:
    """Six devices in Paris/Finance and one in Nice/Legal, each with a crash of firefox and its answer; the
    first two of Paris also a hang nobody answered."""
    answers = ["over_15_minutes", "over_15_minutes", "lost_work", "few_minutes", "none", "over_15_minutes", "lost_work"]
    for i, answer in enumerate(answers):
        site, department = ("Nice", "Legal") if i == 6 else ("Paris", "Finance")
        crash = event(start=now - 600)
        events, answered = [crash], [feedback(crash["id"], answer, now - 60)]
        if i < 2:
            hang = event("hang", start=now - 300, duration_s=100.0, active_s=100.0)
            events.append(hang)
            answered.append(feedback(hang["id"], "unanswered", now - 50))
        # the answers first, their events in a second batch: the collector's own hooks pair them
        r = api.post(body(batch(heartbeats=[heartbeat(now - 30, site=site, department=department)],
                                feedback=answered, device_id=f"device-{i:04d}")))
        assert r.status_code == 200, r.text
        assert api.post(body(batch(events, device_id=f"device-{i:04d}"))).status_code == 200


def _samples(text: str) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("hinder_pulse_") and not s.name.endswith("_created"):
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _by(samples: dict, *labels: str) -> dict:
    return {tuple(dict(k)[name] for name in labels): v for k, v in samples.items()}


def test_metrics_fold_small_groups_and_pass_promtool(db_engine, db_url):
    api, now = _api(db_engine, db_url, 5), time.time()
    _fleet(api, now)
    text = api.client.get("/metrics").text
    m = _samples(text)
    # Nice/Legal has one device: folded to (other, other); Paris/Finance has six
    assert _by(m["hinder_pulse_questions_total"], "type", "app", "site", "department") == {
        ("crash", "firefox", "Paris", "Finance"): 6, ("crash", "firefox", "other", "other"): 1,
        ("hang", "firefox", "Paris", "Finance"): 2}
    paris = {k[0]: v for k, v in _by(m["hinder_pulse_answers_total"], "answer", "type", "site").items()
             if k[1:] == ("crash", "Paris")}
    assert paris == {"over_15_minutes": 3, "lost_work": 1, "few_minutes": 1, "none": 1}
    felt_s = _by(m["hinder_pulse_felt_seconds_total"], "answer", "type", "site")
    assert felt_s[("over_15_minutes", "crash", "Paris")] == 3600.0 and felt_s[("lost_work", "crash", "other")] == 1800.0
    model_s = _by(m["hinder_pulse_model_lost_seconds_total"], "answer", "type", "site")
    assert model_s[("over_15_minutes", "crash", "Paris")] == 540.0 and model_s[("unanswered", "hang", "Paris")] == 200.0
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_name_small_groups_when_the_rule_allows(db_engine, db_url):
    api, now = _api(db_engine, db_url, 1), time.time()
    _fleet(api, now)
    m = _samples(api.client.get("/metrics").text)
    assert ("crash", "Nice", "Legal") in _by(m["hinder_pulse_questions_total"], "type", "site", "department")


# ------------------------------------------------------------------ the dashboard panel's PromQL

def _panel(title: str) -> dict:
    board = json.loads((ROOT / "grafana" / "dashboards" / "executive.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == title]
    return panel


def test_the_felt_vs_measured_panel_computes_shares_and_minutes(db_engine, db_url, tmp_path):
    """The panel's queries evaluated by promtool's PromQL engine on the series this collector exports."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    api, now = _api(db_engine, db_url, 5), time.time()
    _fleet(api, now)
    series = []
    for family in text_string_to_metric_families(api.client.get("/metrics").text):
        for s in family.samples:
            if s.name.startswith("hinder_pulse_") and not s.name.endswith("_created"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, "instance": "c1"}.items()))
                series.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x5"})
    panel = _panel("Felt vs measured, per disruption")
    # Paris/Finance's crashes of firefox: 3 x over 15 minutes, lost work, a few minutes, none; with every site,
    # Nice's lost work (folded into other/other) joins them. The hang nobody answered has no row.
    expected = {"Paris": {"A": 4 / 6, "B": (3 * 1200 + 1800 + 300) / 6, "C": 180.0, "D": 1.0},
                ".*": {"A": 5 / 7, "B": (3 * 1200 + 2 * 1800 + 300) / 7, "C": 180.0, "D": 1.0}}
    tests = [{"expr": target["expr"].replace("$site", site).replace("$department", ".*"), "eval_time": "2m",
              "exp_samples": [{"labels": '{app="firefox", type="crash"}', "value": values[target["refId"]]}]}
             for site, values in expected.items() for target in panel["targets"]]
    spec = {"rule_files": [], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}
    path = tmp_path / "felt_test.yml"
    path.write_text(json.dumps(spec))
    run = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


# ------------------------------------------------------------------ calibration

def _answers(n: int, devices: int, answer: str = "over_15_minutes", app: str = "sap", etype: str = "crash"):
    return [(f"d{i % devices}", etype, app, answer) for i in range(n)]


def test_calibration_proposes_the_mean_felt_time_only_with_enough_answers_and_devices():
    cfg = impact.ModelConfig()
    rows = _answers(15, 5) + _answers(5, 5, "none") + _answers(30, 2, "unanswered")
    (crash, sap) = calibration.propose(rows, cfg.recovery_s, min_devices=5, min_answers=20)
    assert (crash.type, crash.app, crash.recovery_s, crash.current_s, crash.answers, crash.devices) == (
        "crash", None, 900, 180.0, 20, 5)  # (15 x 1200 + 5 x 0) / 20; unanswered left out
    assert (sap.app, sap.setting, sap.recovery_s) == ("sap", "app_crash_recovery_s", 900)
    assert calibration.propose(rows, cfg.recovery_s, min_devices=6, min_answers=20) == []  # too few devices
    assert calibration.propose(rows, cfg.recovery_s, min_devices=5, min_answers=21) == []  # too few answers
    # a duration type is measured, never calibrated; an uncatalogued app only counts for its type
    assert calibration.propose(_answers(40, 8, etype="hang"), cfg.recovery_s, 5) == []
    (only,) = calibration.propose(_answers(40, 8, app="other"), cfg.recovery_s, 5)
    assert only.app is None


def test_calibration_lines_are_toml_the_model_accepts():
    cfg = impact.ModelConfig(app_crash_recovery_s={"SAP GUI": 600.0})
    rows = (_answers(20, 5, "lost_work", app="SAP GUI") + _answers(20, 5, "few_minutes", app="excel")
            + _answers(20, 6, "few_minutes", etype="unexpected_shutdown", app=""))
    lines = calibration.toml_lines(calibration.propose(rows, cfg.recovery_s, 5), "weeks 45 to 48")
    parsed = tomllib.loads("\n".join(lines))["model"]
    assert parsed == {"crash_recovery_s": 1050, "app_crash_recovery_s": {"SAP GUI": 1800, "excel": 300},
                      "unexpected_shutdown_recovery_s": 300}
    assert impact.ModelConfig(**parsed).recovery_s("crash", "SAP GUI") == 1800.0
    assert any("600 s now" in line and "SAP GUI" in line for line in lines)
    assert calibration.toml_lines([], "weeks 45 to 48") == []


@pytest.fixture(scope="module")
def answered_db(tmp_path_factory) -> tuple[str, str]:
    """A SQLite database where five devices answered 'more than 15 minutes' about four crashes of sap each; and
    its collector config file."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    path = tmp_path_factory.mktemp("calibrate")
    url = f"sqlite:///{path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ingestor, now = Ingestor(engine, make_config(url, apps=("sap",)), hooks=HOOKS), time.time()
    for d in range(5):
        crashes = [event(app="sap", start=now - 3600 - i) for i in range(4)]
        ingestor.store(batch(crashes, [heartbeat(now - 60)], device_id=f"device-{d:04d}",
                             feedback=[feedback(c["id"], "over_15_minutes", now - 120) for c in crashes]), now=now)
    engine.dispose()
    (path / "collector.toml").write_text('apps = ["sap"]\n')
    return url, str(path / "collector.toml")


def _calibrate(answered_db, *args: str) -> subprocess.CompletedProcess:
    url, config = answered_db
    return subprocess.run([sys.executable, "-m", "hinder", "model", "calibrate", *args, "--config", config,
                           "--db", url], capture_output=True, text=True, timeout=60, env=hinder_env())


def test_the_calibrate_command_prints_the_proposal(answered_db):
    run = _calibrate(answered_db, "--weeks", "1")
    assert run.returncode == 0, run.stderr
    assert tomllib.loads(run.stdout)["model"] == {"crash_recovery_s": 1200, "app_crash_recovery_s": {"sap": 1200}}


def test_the_calibrate_command_says_when_answers_are_too_few(answered_db):
    run = _calibrate(answered_db, "--min-answers", "21")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# no proposal") and "20 answers in all" in run.stdout
