"""The focus sensor: real X windows of real processes under Xvfb and openbox, focus moved with xdotool.

The windows are those of tests/agent/sensors/_x11_client.py, run by copies of
the Python interpreter named like catalogued (alpha, beta) and uncatalogued
(gamma) executables. The sensor's clock is set by the test so that periods of
15 minutes pass in a second; the employee's activity is marked on the same
clock. The macOS parsers read samples of the real lsappinfo output; the
Windows path's psutil part runs here on real processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psutil
import pytest

from agent.catalogue import App
from agent.config import load_config
from agent.explain import render
from agent.runner import Agent
from agent.sensors import SENSORS
from agent.sensors._helpers import focus_windows, parse_lsappinfo
from agent.sensors.activity import ActivityConfig
from agent.sensors.focus import OTHER, STATE_FILE, FocusConfig, FocusSensor, executable_name, period_start
from contract.check import validate_batch
from contract.records import MIN_USAGE_INTERVAL_S, Usage, make_batch, parse_time
from tests.agent.sensors._xvfb import needs_xvfb, running_xvfb, wait_for_window_manager

ROOT = Path(__file__).resolve().parents[3]
PERIOD_S = 900.0
LAG_S = 2 * ActivityConfig().interval_s  # how long a sample waits for the activity sensor
APPS = [App(name="Alpha", executables=["alpha"]), App(name="Beta", executables=["beta"])]
needs_openbox = pytest.mark.skipif(not (shutil.which("openbox") and shutil.which("xdotool")),
                                   reason="needs openbox and xdotool (Debian packages openbox, xdotool)")


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    """One Xvfb with openbox for the module; yields (display, start_window(exe) -> window id, activate(window))."""
    tmp = tmp_path_factory.mktemp("focus")
    python = os.path.realpath(sys.executable)
    for name in ("alpha", "beta", "gamma"):
        shutil.copy(python, tmp / name)  # a real executable of that name: /proc/PID/exe says so
    env_path = os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])
    with running_xvfb() as (display, _), open(tmp / "openbox.log", "w") as log:
        env = {**os.environ, "DISPLAY": display}
        procs = []
        try:
            for attempt in (1, 2):  # a second start if openbox could not open the display (seen after other tests)
                wm = subprocess.Popen(["openbox", "--sm-disable"], env=env, stdout=log, stderr=log)
                procs.append(wm)
                try:
                    wait_for_window_manager(display, wm, tmp / "openbox.log")
                    break
                except pytest.fail.Exception:
                    if attempt == 2:
                        raise

            def start_window(exe: str) -> int:
                proc = subprocess.Popen([str(tmp / exe), "-m", "tests.agent.sensors._x11_client", display, "ping"],
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                        env={**env, "PYTHONPATH": env_path, "PYTHONHOME": sys.base_prefix})
                procs.append(proc)
                return int(proc.stdout.readline())

            def activate(window: int) -> None:
                subprocess.run(["xdotool", "windowactivate", "--sync", str(window)], env=env, check=True, timeout=20,
                               capture_output=True)

            yield display, start_window, activate
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(10)


@pytest.fixture(scope="module")
def windows(desktop):
    """The windows of alpha, beta and gamma, by executable name."""
    _, start_window, _ = desktop
    return {exe: start_window(exe) for exe in ("alpha", "beta", "gamma")}


class Clock:
    """The sensor's wall clock, moved by the test."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _base() -> float:
    """The start of a period well in the past (the activity tracker keeps a week)."""
    return period_start(time.time(), PERIOD_S) - 4 * PERIOD_S


def _sensor(make_ctx, display, clock, state_dir=None, **config):
    ctx = make_ctx(apps=APPS, state_dir=state_dir)
    sensor = FocusSensor(FocusConfig(display=display, period_s=PERIOD_S, **config), ctx)
    sensor.clock = clock
    sensor.start()
    return sensor


def _run(sensor, clock, until, step=5.0):
    """Poll every ``step`` seconds of the sensor's clock up to ``until``; the records returned."""
    records = []
    while clock.now + step <= until + 1e-9:
        clock.now += step
        records += sensor.poll()
    return records


def _totals(records):
    return {(r.start, r.app): r.focus_s for r in records}


def _wire_ok(records):
    """The records pass the wire contract's full check (as of the clock they were made on)."""
    batch = make_batch("device-0001", [], [], usage=[r.to_wire() for r in records])
    validate_batch(batch, now=max(r.start + r.interval_s for r in records) + 60)


@needs_xvfb
@needs_openbox
def test_focus_seconds_go_to_the_app_in_front_and_to_their_period(desktop, windows, make_ctx):
    display, _, activate = desktop
    p = _base()
    clock = Clock(p + 870)
    sensor = _sensor(make_ctx, display, clock)
    sensor.ctx.activity.mark_active(p, p + 3 * PERIOD_S)  # someone at the keyboard all along
    activate(windows["alpha"])
    records = _run(sensor, clock, p + 880)  # (870, 880]: Alpha
    activate(windows["beta"])
    records += _run(sensor, clock, p + 905)  # (880, 905]: Beta, 20 s before the period's end, 5 s after
    activate(windows["gamma"])
    records += _run(sensor, clock, p + 915)  # (905, 915]: gamma, uncatalogued
    assert records == []  # the period ended at p + 900, but its last samples wait for the activity sensor
    records += _run(sensor, clock, p + 900 + LAG_S + 5)
    assert _totals(records) == {(p, "Alpha"): 10.0, (p, "Beta"): 20.0}
    assert all(r.interval_s == PERIOD_S for r in records)
    _wire_ok(records)

    final = sensor.close()  # the open period's part: same aligned start
    assert _totals(final) == {(p + 900, "Beta"): 5.0, (p + 900, OTHER): clock.now - (p + 905)}
    assert "gamma" not in json.dumps([r.to_wire() for r in records + final])  # never an uncatalogued name
    _wire_ok(final)


@needs_xvfb
@needs_openbox
def test_idle_time_counts_nothing(desktop, windows, make_ctx):
    display, _, activate = desktop
    p = _base() + PERIOD_S
    clock = Clock(p + 10)
    sensor = _sensor(make_ctx, display, clock)
    activate(windows["alpha"])
    sensor.ctx.activity.mark_active(p + 100, p + 160)  # one active minute; the rest nobody at the keyboard
    records = _run(sensor, clock, p + 900 + LAG_S + 5)
    assert _totals(records) == {(p, "Alpha"): 60.0}
    assert sensor.close() == []


@needs_xvfb
@needs_openbox
def test_the_open_period_survives_a_restart_and_a_crash(desktop, windows, make_ctx, tmp_path):
    display, _, activate = desktop
    p = _base() + 2 * PERIOD_S
    state = tmp_path / "state"
    activate(windows["beta"])
    clock = Clock(p + 100)
    first = _sensor(make_ctx, display, clock, state)
    first.ctx.activity.mark_active(p, p + PERIOD_S)
    assert _run(first, clock, p + 200) == []
    stopped = first.close()  # a clean stop sends the totals so far...
    assert _totals(stopped) == {(p, "Beta"): 100.0}
    saved = json.loads((state / "sensors" / STATE_FILE).read_text())
    assert saved == {"start": p, "interval_s": PERIOD_S, "totals": {"Beta": 100.0}}

    clock.now = p + 300  # ... and after the restart they go on
    second = _sensor(make_ctx, display, clock, state)
    second.ctx.activity.mark_active(p, p + PERIOD_S)
    assert _run(second, clock, p + 400) == []
    explained = _explain(state, tmp_path)
    # written at p + 360 (a minute after the start), when the samples up to p + 340 were settled: 100 s + 40 s
    assert "Totals of the period from" in explained and "- Beta: 2.3 min" in explained
    # a crash: no close(); the state file was written within the last minute
    third = _sensor(make_ctx, display, clock, state)
    third.ctx.activity.mark_active(p, p + 2 * PERIOD_S)
    records = _run(third, clock, p + 900 + LAG_S + 5)
    (record,) = [r for r in records if r.start == p]
    # the whole period (the collector keeps the largest total): 100..200 + 300..900, less 340..400 lost with the
    # crash (the state file is written once a minute)
    assert record.app == "Beta" and record.focus_s == 640.0
    assert not [r for r in records if r.start != p]
    assert _stored(tmp_path, stopped + records) == {(p, "Beta"): 640.0}  # sent twice, counted once


@needs_xvfb
@needs_openbox
def test_the_agent_delivers_the_open_periods_totals_at_a_clean_stop(desktop, windows, tmp_path):
    """The real runner, spool and uploader, against a local collector that checks batches with the contract."""
    from tests.agent.test_runner import Running, _config
    from tests.agent.test_uploader import FakeCollector

    display, _, activate = desktop
    activate(windows["alpha"])
    collector = FakeCollector()
    try:
        config = dataclasses.replace(_config(tmp_path, url=collector.url), apps=APPS,
                                     sensors={"focus": FocusConfig(display=display, interval_s=1)})
        agent = Agent(config, sensors={"focus": FocusSensor})
        agent.activity.mark_active(time.time() - 60, time.time() + 600)
        run = Running(agent)
        time.sleep(1.5)
        assert run.stop() == 0
        usage = [u for *_, b, status in collector.requests if status == 200 for u in b.get("usage", [])]
        assert {u["app"] for u in usage} == {"Alpha"}
        assert all(u["interval_s"] == 3600 and parse_time(u["start"]) % 3600 == 0 for u in usage)
        assert 0.5 <= sum(u["focus_s"] for u in usage) <= 2.5  # the agent's life, about 1.5 s, all of it in Alpha
    finally:
        collector.close()


@needs_xvfb
@needs_openbox
def test_a_clock_set_back_sends_the_open_period_and_counts_the_time_again_once(desktop, windows, make_ctx, tmp_path):
    display, _, activate = desktop
    p = _base() + 2 * PERIOD_S
    activate(windows["alpha"])
    clock = Clock(p + 10)
    sensor = _sensor(make_ctx, display, clock)
    sensor.ctx.activity.mark_active(p - 5 * PERIOD_S, p + PERIOD_S)
    records = _run(sensor, clock, p + 600)
    assert records == []
    clock.now -= 4 * PERIOD_S  # set back an hour: p - 3000
    (sent,) = _run(sensor, clock, clock.now + 5)  # the open period, as it is: p + 10 .. p + 580 (settled)
    assert (sent.start, sent.focus_s) == (p, 570.0)
    records = [sent] + _run(sensor, clock, p + 300) + sensor.close()
    # the hour again, period by period (the first poll after the jump only notes the time), then p + 300 once more
    assert _totals(records) == {(p, "Alpha"): 300.0, (p - 4 * PERIOD_S, "Alpha"): 295.0,
                                **{(p - k * PERIOD_S, "Alpha"): PERIOD_S for k in (1, 2, 3)}}
    assert _stored(tmp_path, records) == {(p, "Alpha"): 570.0, (p - 4 * PERIOD_S, "Alpha"): 295.0,
                                          **{(p - k * PERIOD_S, "Alpha"): PERIOD_S for k in (1, 2, 3)}}


def _stored(tmp_path: Path, records) -> dict:
    """What a real collector (SQLite) keeps of these records: (start, app) -> focus_s."""
    from collector.aggregates import marks
    from collector.db import make_engine
    from collector.ingest import Ingestor
    from collector.migrations import upgrade
    from collector.models import app_usage_table
    from tests.collector.batches import batch
    from tests.collector.conftest import make_config

    url = f"sqlite:///{tmp_path / 'collector.db'}"
    engine = make_engine(url, busy_timeout_s=2.0)
    try:
        upgrade(engine)
        ingestor = Ingestor(engine, make_config(url), hooks=[marks.on_ingest])
        for record in records:  # one batch each, in the order the agent sends them
            ingestor.store(batch(usage=[record.to_wire()]), now=time.time())
        with engine.connect() as conn:
            rows = conn.execute(app_usage_table.select()).mappings().all()
        return {(r["start"], r["app"]): r["focus_s"] for r in rows}
    finally:
        engine.dispose()


@needs_xvfb
@needs_openbox
def test_a_period_that_ended_while_the_agent_was_stopped_is_sent_at_the_first_poll(desktop, windows, make_ctx,
                                                                                     tmp_path):
    display, _, activate = desktop
    p = _base()
    state = tmp_path / "state"
    (state / "sensors").mkdir(parents=True)
    (state / "sensors" / STATE_FILE).write_text(json.dumps(
        {"start": p, "interval_s": PERIOD_S, "totals": {"Alpha": 300.0, OTHER: 42.5}}))
    clock = Clock(p + 3 * PERIOD_S + 10)
    sensor = _sensor(make_ctx, display, clock, state)
    assert _totals(sensor.poll()) == {(p, "Alpha"): 300.0, (p, OTHER): 42.5}
    assert sensor.poll() == []
    sensor.close()


@needs_xvfb
def test_no_window_manager_no_focus_a_lost_display_and_a_broken_state_file(make_ctx, tmp_path):
    with running_xvfb() as (display, server):
        state = tmp_path / "state"
        (state / "sensors").mkdir(parents=True)
        (state / "sensors" / STATE_FILE).write_text('{"start": 1, "interval_s": 10, "totals": {}}')
        p = _base()
        clock = Clock(p)
        sensor = _sensor(make_ctx, display, clock, state)  # the damaged state file: logged, totals from zero
        sensor.ctx.activity.mark_active(p, p + PERIOD_S + 60)
        assert _run(sensor, clock, p + 300) == []  # no _NET_ACTIVE_WINDOW: no app in front
        server.terminate()
        server.wait(10)
        assert _run(sensor, clock, p + PERIOD_S + LAG_S + 5) == []  # the display is gone: no app, no crash
        assert sensor.close() == []


@pytest.mark.parametrize("period_s, problem", [(600, "sensors.focus.period_s"), (1000, "must divide a day")])
def test_periods_shorter_than_the_contract_allows_or_not_aligned_are_refused(config_error, period_s, problem):
    assert problem in config_error(f"[sensors.focus]\nperiod_s = {period_s}\n")
    assert MIN_USAGE_INTERVAL_S == 900


def test_a_record_shorter_than_the_minimum_period_breaks_the_contract():
    with pytest.raises(Exception, match="interval_s"):
        _wire_ok([Usage(start=_base(), interval_s=600.0, app="Alpha", focus_s=10.0)])


def test_explain_shows_what_is_sent_and_the_open_period(tmp_path):
    state = tmp_path / "state"
    (state / "sensors").mkdir(parents=True)
    start = period_start(time.time(), 3600)
    (state / "sensors" / STATE_FILE).write_text(json.dumps(
        {"start": start, "interval_s": 3600, "totals": {"Alpha": 750.0, OTHER: 90.0}}))
    text = _explain(state, tmp_path, display=":4242")
    assert 'Applications it totals: Alpha, Beta, "other" (every other program, together)' in text
    assert "- Alpha: 12.5 min" in text and "- other: 1.5 min" in text
    assert "focus: cannot open X11 display ':4242'" in text  # not possible here, yet its totals are shown


def _explain(state: Path, tmp_path: Path, display: str = "") -> str:
    cfg = tmp_path / "agent.toml"
    apps = "".join(f'[[apps]]\nname = "{a.name}"\nexecutables = {json.dumps(a.executables)}\n' for a in APPS)
    cfg.write_text(f'[agent]\nstate_dir = "{state}"\n{apps}[sensors.focus]\ndisplay = "{display}"\n')
    return render(load_config(cfg, env={}))


def test_lsappinfo_samples_parse(fixtures_dir):
    macos = fixtures_dir / "macos"
    assert parse_lsappinfo.front_asn((macos / "lsappinfo_front.txt").read_text()) == "ASN:0x0-0x1b01b:"
    assert parse_lsappinfo.front_asn((macos / "lsappinfo_front_none.txt").read_text()) is None
    assert parse_lsappinfo.pid((macos / "lsappinfo_info_only_pid.txt").read_text()) == 1999
    assert parse_lsappinfo.pid((macos / "lsappinfo_info_record.txt").read_text()) == 2785  # -only ignored
    for text in ("", "[ NULL ]\n", '"pid"=0\n', '"pid"=99999999999\n', 'parentASN="pid = 12"\n', "pid = x\n"):
        assert parse_lsappinfo.pid(text) is None, text


def test_the_windows_path_names_the_process_through_psutil_and_refuses_session_0(make_ctx):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        exe = executable_name(proc.pid)
        assert exe == os.path.basename(psutil.Process(proc.pid).exe())
        catalogue = make_ctx(apps=[App(name="Py", executables=[exe])]).catalogue
        assert catalogue.lookup(f"C:\\Program Files\\Py\\{exe.upper()}.EXE").name == "Py"  # as Windows names it
    finally:
        proc.kill()
        proc.wait(10)
    assert executable_name(proc.pid) == ""  # gone
    assert focus_windows.session_problem(0) == focus_windows.SESSION_0
    assert focus_windows.session_problem(1) is None
    assert SENSORS["focus"] is FocusSensor


def test_examples_are_valid_usage_records():
    records = FocusSensor.examples()
    assert {r.app for r in records} == {"Outlook", OTHER}
    _wire_ok(records)
