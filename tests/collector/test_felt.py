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
from collector.models import felt_count_table, felt_device_table
from collector.retention import purge_expired
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
    # who answered where: the device of the counted answers, at its latest; not device-0002 (no pair)
    assert _answering(db_engine) == [("device-0001", "Paris", "Finance", pytest.approx(now - 10))]


def _answering(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(felt_device_table).order_by(felt_device_table.c.device_id))]


def test_an_unanswered_question_marks_no_device_and_a_later_answer_moves_it(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=HOOKS), time.time()
    crashes = [event(start=now - 900 + i) for i in range(3)]
    ingestor.store(batch(crashes, [heartbeat(now - 800, site="Paris", department="Finance")],
                         feedback=[feedback(crashes[0]["id"], "unanswered", now - 700)]), now=now)
    assert _answering(db_engine) == []
    ingestor.store(batch(heartbeats=[heartbeat(now - 600, site="Lyon", department="HR")],
                         feedback=[feedback(crashes[1]["id"], "none", now - 500)]), now=now)
    # an answer older than the latest, counted later (the device in Nice by then), leaves the row to the latest
    ingestor.store(batch(heartbeats=[heartbeat(now - 400, site="Nice", department="Legal")],
                         feedback=[feedback(crashes[2]["id"], "lost_work", now - 650)]), now=now)
    assert ("crash", "firefox", "Nice", "Legal", "lost_work") in _counts(db_engine)
    assert _answering(db_engine) == [("device-0001", "Lyon", "HR", pytest.approx(now - 500))]


def test_retention_purges_devices_whose_latest_answer_expired(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=HOOKS), time.time()
    for i, t in enumerate((now - 20 * 86400, now - 3600)):
        crash = event(start=t - 60)
        ingestor.store(batch([crash], [heartbeat(t)], feedback=[feedback(crash["id"], "none", t)],
                             device_id=f"device-{i:04d}"), now=now)
    assert purge_expired(db_engine, retention_days=10, now=now)["felt_device"] == 1
    assert [row[0] for row in _answering(db_engine)] == ["device-0001"]


def test_labels_are_the_metrics_labels_and_the_model_of_the_moment(db_engine, db_url):
    config = parse_config({"apps": ["sap"], "model": {"crash_recovery_s": 240}},
                          overrides={"db": db_url}, env={})
    ingestor, now = Ingestor(db_engine, config, hooks=HOOKS), time.time()
    crashes = [event(app="sap", start=now - 60), event(app="notepad", start=now - 50)]
    ingestor.store(batch(crashes, [heartbeat(now - 5, site="Lyon", department="Sales")],
                         feedback=[feedback(e["id"], "few_minutes", now - 5) for e in crashes]), now=now)
    assert _counts(db_engine) == {("crash", "sap", "Lyon", "Sales", "few_minutes"): (1, 240.0, 300.0),
                                  # uncatalogued, discovered on arrival (collector.aggregates.discover)
                                  ("crash", "notepad", "Lyon", "Sales", "few_minutes"): (1, 240.0, 300.0)}


# ------------------------------------------------------------------ /metrics

def _api(db_engine, db_url, min_group_size: int, apps: tuple[str, ...] = ("firefox",)):
    overrides = {"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, "max_batches_per_s": 0}
    return make_api(db_engine, parse_config({"apps": list(apps), "report": {"min_group_size": min_group_size}},
                                            overrides=overrides, env={}))


# Ten devices, each with a crash of firefox and its answer: four in Paris/Finance (the first two also a hang nobody
# answered), three in Paris/Sales of which one answered, three in Lyon/HR.
FLEET = [("Paris", "Finance", a) for a in ("over_15_minutes", "over_15_minutes", "lost_work", "few_minutes")] + \
        [("Paris", "Sales", a) for a in ("none", "unanswered", "unanswered")] + \
        [("Lyon", "HR", a) for a in ("lost_work", "over_15_minutes", "none")]


def _fleet(api, now: float) -> None:
    for i, (site, department, answer) in enumerate(FLEET):
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


def _series(m: dict, name: str) -> dict:
    return _by(m.get(name, {}), *(["answer"] if name != "hinder_pulse_questions_total" else []),
               "type", "app", "site", "department")


def test_metrics_fold_pairs_with_too_few_answering_devices_and_pass_promtool(db_engine, db_url):
    api, now = _api(db_engine, db_url, 3), time.time()
    _fleet(api, now)
    text = api.client.get("/metrics").text
    m = _samples(text)
    # Every pair has three devices or more, but Paris/Sales's answers come from one: folded to (other, other).
    # That group would hold one device's answers, so the next smallest, Lyon/HR (three answering), joins it.
    finance, other = ("firefox", "Paris", "Finance"), ("firefox", "other", "other")
    assert _series(m, "hinder_pulse_questions_total") == {("crash", *finance): 4, ("hang", *finance): 2,
                                                          ("crash", *other): 6}
    assert _series(m, "hinder_pulse_answers_total") == {
        ("over_15_minutes", "crash", *finance): 2, ("lost_work", "crash", *finance): 1,
        ("few_minutes", "crash", *finance): 1, ("unanswered", "hang", *finance): 2,
        ("none", "crash", *other): 2, ("unanswered", "crash", *other): 2, ("lost_work", "crash", *other): 1,
        ("over_15_minutes", "crash", *other): 1}
    assert _series(m, "hinder_pulse_felt_seconds_total") == {
        ("over_15_minutes", "crash", *finance): 2400, ("lost_work", "crash", *finance): 1800,
        ("few_minutes", "crash", *finance): 300, ("unanswered", "hang", *finance): 0,
        ("none", "crash", *other): 0, ("unanswered", "crash", *other): 0, ("lost_work", "crash", *other): 1800,
        ("over_15_minutes", "crash", *other): 1200}
    model_s = _series(m, "hinder_pulse_model_lost_seconds_total")
    assert model_s[("over_15_minutes", "crash", *finance)] == 360.0 and model_s[("unanswered", "hang", *finance)] == 200
    assert model_s[("unanswered", "crash", *other)] == 360.0 and len(model_s) == 8
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_count_one_device_for_answers_whose_devices_are_no_longer_known(db_engine, db_url):
    api, now = _api(db_engine, db_url, 3), time.time()
    _fleet(api, now)
    with db_engine.begin() as conn:  # as after retention, or for answers counted before migration 14
        conn.execute(felt_device_table.delete().where(felt_device_table.c.department == "Finance"))
    m = _samples(api.client.get("/metrics").text)
    # Paris/Finance now counts one answering device: with Paris/Sales, two; Lyon/HR joins them
    assert _series(m, "hinder_pulse_questions_total") == {("crash", "firefox", "other", "other"): 10,
                                                          ("hang", "firefox", "other", "other"): 2}
    assert sum(_series(m, "hinder_pulse_answers_total").values()) == 12


def test_metrics_count_a_device_that_answered_in_two_pairs_once(db_engine, db_url):
    api, now = _api(db_engine, db_url, 2), time.time()
    for i, (site, department) in enumerate([("Paris", "Finance")] * 2 + [("Lyon", "HR")] * 2):
        assert api.post(body(batch(heartbeats=[heartbeat(now - 900, site=site, department=department)],
                                   device_id=f"device-{i:04d}"))).status_code == 200
    # device-0000 answers in Paris, then moves to Lyon and answers there
    for start, site, department in ((now - 800, "Paris", "Finance"), (now - 700, "Lyon", "HR")):
        crash = event(start=start)
        r = api.post(body(batch([crash], [heartbeat(start + 1, site=site, department=department)],
                                feedback=[feedback(crash["id"], "lost_work", now - 60)], device_id="device-0000")))
        assert r.status_code == 200, r.text
    m = _samples(api.client.get("/metrics").text)
    # two pairs of two devices each, with answers from one person: nothing tells what that person said
    assert _series(m, "hinder_pulse_questions_total") == {("crash", "firefox", "other", "other"): 2}
    assert [name for name in m if name != "hinder_pulse_questions_total"] == []


def test_metrics_name_small_groups_when_the_rule_allows(db_engine, db_url):
    api, now = _api(db_engine, db_url, 1), time.time()
    _fleet(api, now)
    m = _samples(api.client.get("/metrics").text)
    assert _series(m, "hinder_pulse_answers_total")[("none", "crash", "firefox", "Paris", "Sales")] == 1


def test_metrics_leave_out_answers_the_whole_fleet_gives_from_too_few_devices(db_engine, db_url):
    api, now = _api(db_engine, db_url, 9), time.time()  # eight devices answered
    _fleet(api, now)
    m = _samples(api.client.get("/metrics").text)
    assert _series(m, "hinder_pulse_questions_total") == {("crash", "firefox", "other", "other"): 10,
                                                          ("hang", "firefox", "other", "other"): 2}
    assert [name for name in m if name != "hinder_pulse_questions_total"] == []


def test_metrics_stop_the_pulse_series_of_an_application_no_longer_catalogued(db_engine, db_url):
    """Its counters stop rather than move into other (which would then go down if it came back)."""
    _fleet(_api(db_engine, db_url, 1), time.time())  # counted while firefox was catalogued
    m = _samples(_api(db_engine, db_url, 1, apps=("thunderbird",)).client.get("/metrics").text)
    assert _series(m, "hinder_pulse_questions_total") == {} and _series(m, "hinder_pulse_answers_total") == {}


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
    api, now = _api(db_engine, db_url, 3), time.time()
    _fleet(api, now)
    series = []
    for family in text_string_to_metric_families(api.client.get("/metrics").text):
        for s in family.samples:
            if s.name.startswith("hinder_pulse_") and not s.name.endswith("_created"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, "instance": "c1"}.items()))
                series.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x5"})
    panel = _panel("Felt vs measured, per disruption")
    # Paris/Finance's crashes of firefox: 2 x over 15 minutes, lost work, a few minutes; with every site, the
    # (other, other) group's (Paris/Sales and Lyon/HR): 2 x none, lost work, over 15 minutes, and 2 unanswered.
    # The hang nobody answered has no row.
    expected = {"Paris": {"A": 3 / 4, "B": (2 * 1200 + 1800 + 300) / 4, "C": 180.0, "D": 1.0},
                ".*": {"A": 5 / 8, "B": (3 * 1200 + 2 * 1800 + 300) / 8, "C": 180.0, "D": 8 / 10}}
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
