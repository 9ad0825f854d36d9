"""The runner: failing sensors are backed off and isolated, events are completed, heartbeats, clean stop."""

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from agent import runner
from agent.config import AgentConfig, AgentSettings
from agent.runner import Agent, os_name
from agent.sensors.base import Sensor, SensorConfig
from contract import __version__
from contract.records import Event
from contract.settings import setting
from tests.agent.test_uploader import TOKEN, FakeCollector


@dataclass
class FastConfig(SensorConfig):
    interval_s: float = setting(0.05)


class GoodSensor(Sensor):
    name = "good"
    Config = FastConfig

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.seq = 0
        self.closed = False

    def poll(self):
        self.seq += 1
        self.ctx.heartbeat_details["good_polls"] = self.seq
        return [Event(type="test", app="good", start=time.time(), severity="info", details={"seq": self.seq})]

    def close(self):
        self.closed = True
        return [Event(type="test", app="good", start=time.time(), severity="info", details={"final": True})]


class FailingSensor(Sensor):
    name = "failing"
    Config = FastConfig
    polls: list = []

    def poll(self):
        FailingSensor.polls.append(time.monotonic())
        raise RuntimeError("cannot read /proc/nothing")


class IntervalSensor(Sensor):
    """Emits one 10 s interval that started 5 s before the first poll, and one with active_s set."""

    name = "interval"
    Config = FastConfig
    t0 = 0.0  # set by the test: when the interval's activity was marked

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.done = False

    def poll(self):
        if self.done:
            return []
        self.done = True
        t0 = self.t0
        return [Event(type="hang", app="editor", start=t0 - 5, duration_s=10, details={"n": 1}),
                Event(type="hang", app="editor", start=t0 - 5, duration_s=10, active_s=1.5, details={"n": 2})]


class BrokenEventSensor(Sensor):
    name = "broken"
    Config = FastConfig

    def poll(self):
        now = time.time()
        return [Event(type="no-such-type", app="x", start=now),
                Event(type="test", app="x", start=now, details={"ratio": float("nan")}),
                Event(type="test", app="x", start=None, id="0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa"),
                Event(type="test", app="x", start=now, details={"ok": True})]


class ExplodingSensor(Sensor):
    name = "exploding"
    Config = FastConfig

    @classmethod
    def unavailable(cls, config):
        raise OSError("cannot even look")


class StuckSensor(Sensor):
    name = "stuck"
    Config = FastConfig
    release = threading.Event()

    def poll(self):
        self.release.wait(60)
        return []


class UnavailableSensor(Sensor):
    name = "unavailable"
    Config = FastConfig

    @classmethod
    def unavailable(cls, config):
        return "needs a kernel from the future"

    def poll(self):  # pragma: no cover - must never run
        raise AssertionError("polled an unavailable sensor")


def _wait(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _config(tmp_path, url="http://127.0.0.1:9", **kw):
    base = dict(collector=url, token=TOKEN, state_dir=str(tmp_path / "state"), site="Paris", department="Finance",
                heartbeat_interval_s=3600, upload_interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2)
    base.update(kw)
    return AgentConfig(agent=AgentSettings(**base))


class Running:
    """An Agent run on a thread; stopping returns its exit code."""

    def __init__(self, agent):
        self.agent = agent
        self.code = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.code = self.agent.run()

    def stop(self):
        self.agent.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "agent did not stop"
        return self.code


def _spooled(agent_or_dir):
    from agent.spool import Spool

    path = agent_or_dir / "spool.sqlite3"
    sp = Spool(path, max_bytes=10**9)
    try:
        return sp.peek(100_000)
    finally:
        sp.close()


def test_failing_sensor_is_backed_off_counted_disabled_and_others_keep_running(tmp_path, monkeypatch, caplog):
    FailingSensor.polls = []
    monkeypatch.setattr(runner, "MAX_CONSECUTIVE_FAILURES", 5)
    agent = Agent(_config(tmp_path), sensors={"good": GoodSensor, "failing": FailingSensor})
    run = Running(agent)
    failing = next(w for w in agent.workers if w.name == "failing") if _wait(lambda: len(agent.workers) == 2) else None
    assert _wait(lambda: failing.disabled, timeout=30)
    good = next(w for w in agent.workers if w.name == "good")
    polls_at_disable = good.sensor.seq
    assert _wait(lambda: good.sensor.seq >= polls_at_disable + 3)  # the good sensor keeps running
    assert run.stop() == 0
    gaps = [b - a for a, b in zip(FailingSensor.polls, FailingSensor.polls[1:])]
    assert len(FailingSensor.polls) == 5
    # waits double: 0.1, 0.2, 0.4, 0.8 s (interval 0.05 * 2**n)
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.8]):
        assert gap >= expected * 0.9, gaps
    assert failing.errors_total == 5 and agent.sensor_errors_total == 5
    assert "sensor failing: disabled after 5 failures" in caplog.text
    assert caplog.text.count("RuntimeError: cannot read /proc/nothing") == 5  # once per failure, not per poll
    assert good.sensor.closed


def test_events_are_completed_with_active_seconds(tmp_path, monkeypatch):
    cfg = _config(tmp_path)
    monkeypatch.setattr(IntervalSensor, "t0", time.time())
    agent = Agent(cfg, sensors={"interval": IntervalSensor})
    agent.activity.mark_active(IntervalSensor.t0 - 2, IntervalSensor.t0 + 1)  # 3 s of the 10 s interval were active
    run = Running(agent)
    assert _wait(lambda: agent.spool.count >= 3)  # start heartbeat + 2 events
    assert run.stop() == 0
    events = {r.body["details"]["n"]: r.body for r in _spooled(tmp_path / "state") if r.kind == "event"}
    assert events[1]["active_s"] == pytest.approx(3.0)
    assert events[2]["active_s"] == 1.5  # left as the sensor set it


def test_events_breaking_the_contract_are_counted_not_spooled(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    agent = Agent(_config(tmp_path), sensors={"broken": BrokenEventSensor, "unavailable": UnavailableSensor})
    run = Running(agent)
    assert _wait(lambda: agent.sensor_errors_total >= 9)
    assert run.stop() == 0
    records = _spooled(tmp_path / "state")
    events = [r.body for r in records if r.kind == "event"]
    assert events and all(e["details"] == {"ok": True} for e in events)  # only the good one of each poll
    assert agent.sensor_errors_total == 3 * len(events)
    assert caplog.text.count("breaks the wire contract") == 1
    assert "sensor unavailable: not started: needs a kernel from the future" in caplog.text
    assert [w.name for w in agent.workers] == ["broken"]


class ControlCharacterSensor(Sensor):
    """Names an executable with a newline and sends details with NUL and tab, as a hostile process could."""

    name = "control"
    Config = FastConfig

    def poll(self):
        return [Event(type="crash", app="evil\nname.exe", start=time.time() - 1,
                      details={"signal": "SIG\x00SEGV", "modules": ["a\tb", "c"], "pid": 7})]


def test_control_characters_from_the_os_become_spaces_and_the_event_is_kept(tmp_path):
    agent = Agent(_config(tmp_path), sensors={"control": ControlCharacterSensor})
    run = Running(agent)
    assert _wait(lambda: any(r.kind == "event" for r in _spooled(tmp_path / "state")))
    assert run.stop() == 0
    event = next(r.body for r in _spooled(tmp_path / "state") if r.kind == "event")
    assert event["app"] == "evil name.exe"
    assert event["details"] == {"signal": "SIG SEGV", "modules": ["a b", "c"], "pid": 7}
    assert agent.sensor_errors_total == 0


def test_heartbeat_content(tmp_path):
    agent = Agent(_config(tmp_path), sensors={})
    t0 = agent._last_heartbeat
    agent.activity.mark_active(t0, t0 + 20)
    agent.ctx.heartbeat_details["wifi_signal_dbm"] = -61
    agent.spool.set_aside({})  # counters start at zero
    hb = agent.heartbeat(t0 + 60).to_wire()
    assert hb["interval_s"] == pytest.approx(60) and hb["active_s"] == pytest.approx(20)
    assert (hb["os"], hb["agent_version"], hb["site"], hb["department"]) == (os_name(), __version__, "Paris", "Finance")
    assert hb["os"] == {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, hb["os"])
    assert hb["os_version"]
    assert hb["details"] == {"wifi_signal_dbm": -61, "spool_records": 0, "spool_write_errors_total": 0}
    assert (hb["spool_dropped_total"], hb["rejected_total"], hb["sensor_errors_total"]) == (0, 0, 0)
    agent.spool.close()


def test_os_names():
    assert [os_name(p) for p in ("linux", "win32", "darwin", "freebsd14")] == ["linux", "windows", "macos", "freebsd14"]


def test_clean_stop_delivers_final_events_and_heartbeat_and_writes_run_state(tmp_path):
    collector = FakeCollector()
    try:
        agent = Agent(_config(tmp_path, url=collector.url, heartbeat_interval_s=0.3), sensors={"good": GoodSensor})
        run = Running(agent)
        assert _wait(lambda: sum(len(b["heartbeats"]) for *_, b, s in collector.requests if s == 200) >= 2)
        run_file = tmp_path / "state" / "run.json"
        assert json.loads(run_file.read_text())["clean_stop"] is False
        assert run.stop() == 0
        record = json.loads(run_file.read_text())
        assert record["clean_stop"] is True
        bodies = [b for *_, b, s in collector.requests if s == 200]
        events = [e for b in bodies for e in b["events"]]
        heartbeats = [h for b in bodies for h in b["heartbeats"]]
        assert events[-1]["details"] == {"final": True}  # what close() returned was delivered
        assert len(heartbeats) >= 3  # at start, periodic, at stop
        assert heartbeats[-1]["details"]["good_polls"] >= 1
        assert _spooled(tmp_path / "state") == []
        assert len(collector.stored) == len(set(collector.stored))
    finally:
        collector.close()


def test_stop_is_bounded_when_the_collector_is_down(tmp_path):
    agent = Agent(_config(tmp_path), sensors={"good": GoodSensor})
    run = Running(agent)
    assert _wait(lambda: agent.spool.count >= 3)
    t0 = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - t0 < runner.FINAL_UPLOAD_S + 5
    kinds = [r.kind for r in _spooled(tmp_path / "state")]
    assert kinds[-1] == "heartbeat" and kinds.count("event") >= 3  # nothing lost: it waits for the next run


def test_second_agent_on_the_same_state_dir_is_refused(tmp_path):
    first = Agent(_config(tmp_path), sensors={})
    with pytest.raises(runner.AlreadyRunning, match="already running"):
        Agent(_config(tmp_path), sensors={})
    run = Running(first)
    assert run.stop() == 0
    Running(Agent(_config(tmp_path), sensors={})).stop()  # the lock is released by a clean stop


def test_bad_heartbeat_details_do_not_stop_heartbeats(tmp_path, caplog):
    agent = Agent(_config(tmp_path), sensors={})
    agent.ctx.heartbeat_details.update(signal=float("nan"), x="y" * 10_000)
    agent._spool_heartbeat(time.time())
    agent._spool_heartbeat(time.time())
    hbs = [r.body for r in agent.spool.peek(10)]
    assert len(hbs) == 2 and all(h["details"] == {} for h in hbs)
    agent.ctx.heartbeat_details.clear()
    agent._spool_heartbeat(time.time())
    assert agent.spool.peek(10)[-1].body["details"] == {"spool_records": 2, "spool_write_errors_total": 0}
    assert caplog.text.count("heartbeat details from sensors break the wire contract") == 1
    agent.spool.close()


def test_a_sensor_that_cannot_start_or_hangs_does_not_block_the_others_or_the_stop(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(runner, "SENSOR_STOP_S", 1.0)
    StuckSensor.release.clear()
    agent = Agent(_config(tmp_path), sensors={"exploding": ExplodingSensor, "stuck": StuckSensor, "good": GoodSensor})
    run = Running(agent)
    try:
        assert _wait(lambda: any(w.name == "good" and w.sensor.seq >= 3 for w in agent.workers))
        t0 = time.monotonic()
        assert run.stop() == 0
        assert time.monotonic() - t0 < 1.0 + runner.FINAL_UPLOAD_S + 3
    finally:
        StuckSensor.release.set()
    assert "sensor exploding: not started: availability check failed: OSError: cannot even look" in caplog.text
    assert "sensor stuck: still busy in a poll" in caplog.text
    assert [w.name for w in agent.workers] == ["stuck", "good"]
