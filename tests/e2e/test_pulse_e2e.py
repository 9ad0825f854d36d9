"""End to end: a catalogued app really crashes, the real agent asks through dunst, the answer reaches the collector.

One scenario per module (``pulse_run``): Xvfb, a private session bus and dunst
(tests/agent/pulse/_desktop.py); a collector on SQLite; a real agent process
with the crash sensor (process connector, root), the activity sensor counting
every hour as working time, and the pulse on; a C program named like the
catalogued app killed by SIGSEGV. The employee's click is an action chosen in
dunst's own context menu. Further tests of what the collector makes of the
answer (report, /metrics) take ``pulse_run``: its collector is still serving.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.sensors import SENSORS
from contract import events
from contract.answers import BY_NAME
from agent.sensors.activity import DAYS
from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor
from tests.agent.pulse._desktop import MISSING, MISSING_REASON, Desktop, running_desktop
from tests.conftest import AGENT_TOKEN, ROOT, CollectorProcess, free_port, hinder_env, wait_until

pytestmark = pytest.mark.slow
ANSWER = "over_15_minutes"


@dataclass
class PulseRun:
    """What the scenario left: the serving collector, its database file, the crash event and the feedback row."""

    collector: CollectorProcess
    db_path: Path
    event: dict  # the crash as GET /api/v1/events returns it
    feedback: dict  # the collector's feedback row (its columns)
    desktop: Desktop
    config: Path  # the collector's config file

    @property
    def collector_url(self) -> str:
        return self.collector.url


def _agent_config(path: Path, crasher: Path) -> None:
    lines = ["[agent]", "upload_interval_s = 1", "heartbeat_interval_s = 5", "backoff_initial_s = 0.2",
             "[[apps]]", 'name = "Crasher"', f"executables = [{json.dumps(crasher.name)}]",
             "[pulse]", "enabled = true", 'working_hours = "00:00-24:00"', f"working_days = {json.dumps(DAYS)}"]
    for name in SENSORS:
        lines += [f"[sensors.{name}]", f"enabled = {'true' if name in ('crash_proc', 'activity') else 'false'}"]
        if name == "activity":  # every hour counts as active: the crash happened while the employee worked
            lines += ["interval_s = 0.5", 'source = "working_hours"', 'working_hours = "00:00-24:00"',
                      f"working_days = {json.dumps(DAYS)}"]
    path.write_text("\n".join(lines) + "\n")


def _feedback_rows(db_path: Path) -> list[dict]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM feedback")]


@pytest.fixture(scope="module")
def pulse_run(tmp_path_factory, test_program):
    reason = CrashProcSensor.unavailable(CrashProcConfig())
    if reason:
        pytest.skip(reason)
    if MISSING:
        pytest.skip(MISSING_REASON)
    base = tmp_path_factory.mktemp("pulse-e2e")
    crasher = test_program("Crasher")
    (base / "collector").mkdir()
    collector_config = base / "collector" / "hinder.toml"
    collector_config.write_text('apps = ["Crasher"]\n[report]\nmin_group_size = 1\n')
    collector = CollectorProcess(port=free_port(), db=f"sqlite:///{base / 'collector' / 'hinder.db'}",
                                 workdir=base / "collector", args=["--config", str(collector_config)])
    with running_desktop(base / "desktop") as desktop:
        collector.start()
        config = base / "agent.toml"
        _agent_config(config, crasher)
        log_path = base / "agent.log"
        env = hinder_env(HINDER_AGENT_TOKEN=AGENT_TOKEN, DISPLAY=desktop.display,
                         DBUS_SESSION_BUS_ADDRESS=desktop.bus)
        env.pop("XDG_SESSION_ID", None)
        with open(log_path, "wb") as log:
            agent = subprocess.Popen([sys.executable, "-m", "hinder", "agent", "run", "--config", str(config),
                                      "--state-dir", str(base / "state"), "--collector", collector.url],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "crash source: process connector" in log_path.read_text(errors="replace"), 60,
                       what="the crash sensor to start")
            time.sleep(1.0)  # the activity sensor's first intervals: the employee was at work before the crash
            assert subprocess.run([str(crasher), "segv"]).returncode == -signal.SIGSEGV

            def shown() -> bool:
                assert agent.poll() is None, log_path.read_text(errors="replace")
                return desktop.displayed() == 1

            wait_until(shown, 15, what=f"the pulse's notification; agent log:\n{log_path.read_text()}")
            desktop.invoke(ANSWER)
            db_path = base / "collector" / "hinder.db"
            (row,) = wait_until(lambda: _feedback_rows(db_path), 15, interval_s=0.2,
                                what="the answer in the collector's feedback table")
            (event,) = [e for e in collector.events() if e["type"] == "crash" and e["app"] == "Crasher"]
            yield PulseRun(collector, db_path, event, row, desktop, collector_config)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            collector.kill()


def test_the_answer_to_a_real_crash_reaches_the_collector(pulse_run):
    row, event = pulse_run.feedback, pulse_run.event
    assert (row["event_id"], row["answer"]) == (event["id"], ANSWER)
    assert row["device_id"] == event["device_id"]  # the same device: joined to its event at read time
    offered = [line for line in pulse_run.desktop.menu() if "(Crasher just closed unexpectedly)" in line]
    assert len(offered) == 4 and any(line.endswith(f",{ANSWER}]") for line in offered)



def _samples(text: str, name: str) -> dict[tuple, float]:
    """The samples of one metric family in an exposition: label pairs -> value."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            out[tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(1))))] = float(m.group(2))
    return out


def test_the_answer_is_counted_on_metrics_beside_the_models_lost_time(pulse_run):
    def counted():
        text = pulse_run.collector.metrics()
        return text if _samples(text, "hinder_pulse_questions_total") else None

    text = wait_until(counted, 30, interval_s=0.5, what="the answer on /metrics")
    questions = _samples(text, "hinder_pulse_questions_total")
    assert {(dict(k)["type"], dict(k)["app"]): v for k, v in questions.items()} == {("crash", "Crasher"): 1.0}
    answers = _samples(text, "hinder_pulse_answers_total")
    assert {dict(k)["answer"]: v for k, v in answers.items()} == {ANSWER: 1.0}
    felt = _samples(text, "hinder_pulse_felt_seconds_total")
    assert list(felt.values()) == [BY_NAME[ANSWER].felt_s]
    model = _samples(text, "hinder_pulse_model_lost_seconds_total")
    assert list(model.values()) == [events.BY_NAME["crash"].recovery_s]  # a crash costs its recovery time
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_the_weekly_report_says_what_the_employee_felt(pulse_run):
    week = datetime.fromtimestamp(pulse_run.feedback["time"], timezone.utc).strftime("%G-W%V")
    r = subprocess.run([sys.executable, "-m", "hinder", "report", "weekly", "--week", week, "--db", pulse_run.collector.db,
                        "--config", str(pulse_run.config), "--format", "json"], cwd=ROOT, env=hinder_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    felt = json.loads(r.stdout)["felt"]
    assert (felt["questions"], felt["answered"], felt["shares"][ANSWER]) == (1, 1, 1.0)
    (row,) = felt["by_app"]
    assert (row["type"], row["app"], row["questions"]) == ("crash", "Crasher", 1)
    assert "Crashes of Crasher" in row["text"] and "More than 15 minutes" in row["text"]
