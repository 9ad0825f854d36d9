"""The whole delivery chain with real processes: agent subprocess -> spool -> HTTP -> collector subprocess.

Every event the agent confirmed to its spool reaches the collector exactly
once, through collector crashes and agent crashes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.sensors import SENSORS
from agent.spool import Spool
from contract.records import Event
from tests._pki import TestCA
from tests.conftest import AGENT_TOKEN, ROOT, hinder_env, wait_until

pytestmark = pytest.mark.slow


class AgentProcess:
    """A `hinder agent run` subprocess with only the test sensor enabled (of the hinder checkout at ``code``)."""

    def __init__(self, workdir: Path, collector_url: str, events_per_poll: int = 1, code: Path = ROOT,
                 **agent_settings):
        self.workdir = workdir
        self.code = code
        self.state_dir = workdir / "state"
        self.collector_url = collector_url
        self.config = workdir / "agent.toml"
        self.configure(events_per_poll, **agent_settings)
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def seed_spool(self, events: list[Event]) -> None:
        """Put records in the spool before the agent starts (as if an earlier run had recorded them)."""
        sp = Spool(self.state_dir / "spool.sqlite3", max_bytes=10**9)
        sp.put(events)
        sp.close()

    def configure(self, events_per_poll: int = 1, **agent_settings) -> None:
        """Write the config for the next start: the test sensor at 1 s, every other sensor off."""
        settings = {"site": "Paris", "department": "Finance", "heartbeat_interval_s": 1, "upload_interval_s": 1,
                    "backoff_initial_s": 0.2, "backoff_max_s": 1, **agent_settings}
        lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        # the sensors of the code that runs (each is a module named after it): an older agent knows fewer
        for name in (n for n in SENSORS if (self.code / "agent" / "sensors" / f"{n}.py").exists()):
            lines.append(f"[sensors.{name}]")
            lines += ["enabled = true", "interval_s = 1", f"events_per_poll = {events_per_poll}"] if name == "test" \
                else ["enabled = false"]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> "AgentProcess":
        self.runs += 1
        self.log_path = self.workdir / f"agent-{self.runs}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hinder", "agent", "run", "--config", str(self.config), "--state-dir",
                 str(self.state_dir), "--collector", self.collector_url],
                cwd=self.code, env=hinder_env(HINDER_AGENT_TOKEN=AGENT_TOKEN, PYTHONPATH=str(self.code)), stdout=log,
                stderr=subprocess.STDOUT)
        return self

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def device_id(self) -> str:
        return (self.state_dir / "device_id").read_text().strip()

    def spooled(self) -> list:
        """The records in the agent's spool (readable while it runs, or after it died)."""
        path = self.state_dir / "spool.sqlite3"
        if not path.exists():
            return []
        sp = Spool(path, max_bytes=10**9)
        try:
            return sp.peek(1_000_000)
        finally:
            sp.close()


@pytest.fixture
def agents(tmp_path):
    started: list[AgentProcess] = []

    def factory(collector_url: str, seed: list[Event] = (), **kw) -> AgentProcess:
        workdir = tmp_path / f"agent-{len(started)}"
        workdir.mkdir()
        agent = AgentProcess(workdir, collector_url, **kw)
        started.append(agent)
        if seed:
            agent.seed_spool(list(seed))
        return agent.start()

    yield factory
    for agent in started:
        if agent.proc and agent.proc.poll() is None:
            agent.kill()


def _test_events(collector) -> list[dict]:
    return collector.events(type="test")


def _runs(events: list[dict]) -> list[list[int]]:
    """Split events (ordered by start) into agent runs, where the test sensor's seq restarts at 1."""
    runs: list[list[int]] = []
    for ev in sorted(events, key=lambda e: (e["start"], e["details"]["seq"])):
        if ev["details"]["seq"] == 1 or not runs:
            runs.append([])
        runs[-1].append(ev["details"]["seq"])
    return runs


def _assert_exactly_once(events: list[dict], runs: int) -> None:
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    seqs = _runs(events)
    assert len(seqs) == runs, f"expected {runs} agent runs, got {[(s[0], s[-1], len(s)) for s in seqs]}"
    for s in seqs:
        assert s == list(range(1, len(s) + 1)), "an event was lost or doubled within a run"


def test_events_arrive_once_with_the_right_fields_and_show_in_metrics(collector, agents):
    agent = agents(collector.url)
    wait_until(lambda: len(_test_events(collector)) >= 4, 60, what="the first test events")
    assert agent.terminate() == 0, agent.log()
    assert agent.spooled() == [], "the clean stop should have delivered everything"
    events = _test_events(collector)
    _assert_exactly_once(events, runs=1)
    for ev in events:
        assert ev["device_id"] == agent.device_id
        assert (ev["type"], ev["app"], ev["severity"], ev["duration_s"]) == ("test", "test", "info", 0.0)
        assert ev["active_s"] == 0.0  # completed by the runner: nobody was active
        assert re.fullmatch(r"[0-9a-f-]{36}", ev["id"])
    device = next(d for d in collector.devices() if d["id"] == agent.device_id)
    assert (device["site"], device["department"], device["os"]) == ("Paris", "Finance", "linux")
    metrics = collector.metrics()
    line = next(m for m in metrics.splitlines() if m.startswith("hinder_disruptions_total{") and 'type="test"' in m)
    assert 'site="other"' in line and float(line.rsplit(" ", 1)[1]) == len(events)  # one device: a group too small
    log = agent.log()
    assert "stopped cleanly; spool empty" in log
    assert "HTTP Request" not in log and len(log.splitlines()) < 15  # notable things only, never per request


def test_collector_killed_and_restarted_every_event_arrives_exactly_once(collector, agents):
    agent = agents(collector.url)
    wait_until(lambda: len(_test_events(collector)) >= 2, 60, what="the first test events")
    collector.kill()
    # the agent keeps producing into its spool while the collector is dead
    wait_until(lambda: sum(r.kind == "event" for r in agent.spooled()) >= 4, 60, what="a backlog in the spool")
    collector.start()
    backlog = {r.id for r in agent.spooled() if r.kind == "event"}
    wait_until(lambda: backlog <= {e["id"] for e in _test_events(collector)}, 60, what="the backlog to arrive")
    assert agent.terminate() == 0, agent.log()
    assert agent.spooled() == []
    events = _test_events(collector)
    _assert_exactly_once(events, runs=1)
    assert max(e["details"]["seq"] for e in events) >= 6
    assert "delivering to" in agent.log()  # it noticed the outage and the recovery


def test_agent_killed_during_upload_loses_and_doubles_nothing(collector, agents):
    # 40 events a second, uploaded 10 at a time at up to 20 records/s: the uploader is always busy
    agent = agents(collector.url, events_per_poll=40, upload_batch_size=10, upload_max_rate=20)
    wait_until(lambda: len(_test_events(collector)) >= 40, 60, what="uploads to be under way")
    # freeze the collector so the agent's next request is surely in flight, then freeze the agent
    collector.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.5)  # the rate bound lets the next batch go within 0.5 s; it now waits for an answer
        agent.proc.send_signal(signal.SIGSTOP)
    finally:
        collector.proc.send_signal(signal.SIGCONT)
    waiting = {r.id for r in agent.spooled() if r.kind == "event"}
    assert waiting, "the frozen agent should have a backlog"
    # the collector reads and commits the batch in flight, then the agent dies before it sees the answer
    wait_until(lambda: waiting & {e["id"] for e in _test_events(collector)}, 30, what="the in-flight batch")
    agent.kill()
    confirmed = waiting | {e["id"] for e in _test_events(collector)}  # all the first run confirmed to its spool
    agent.configure(events_per_poll=1, upload_max_rate=1000)
    agent.start()  # resends the in-flight batch too: the collector must store it once
    wait_until(lambda: confirmed <= {e["id"] for e in _test_events(collector)}, 90, what="the backlog to arrive")
    assert agent.terminate() == 0, agent.log()
    assert agent.spooled() == []
    events = _test_events(collector)
    _assert_exactly_once(events, runs=2)
    assert len([e for e in events if e["id"] in confirmed]) == len(confirmed)
    dup = re.search(r'^hinder_ingest_records_total\{kind="event",result="duplicate"\} (\S+)$', collector.metrics(), re.M)
    assert dup and float(dup.group(1)) >= 1, "the resent in-flight batch should have been seen as duplicates"


def test_records_the_collector_refuses_are_dropped_counted_and_reported(collector, agents):
    now = time.time()
    too_old = Event(type="crash", app="editor", start=now - 40 * 86400, details={"signal": "SIGSEGV"})
    fine = Event(type="crash", app="editor", start=now - 60, active_s=0.0, details={"signal": "SIGABRT"})
    agent = agents(collector.url, seed=[too_old, fine])
    wait_until(lambda: len(collector.events(type="crash")) == 1 and len(_test_events(collector)) >= 2, 60,
               what="the valid seeded event and test events")
    assert collector.events(type="crash")[0]["id"] == fine.id
    # the next heartbeat tells the collector about the rejected record
    wait_until(lambda: next(d for d in collector.devices() if d["id"] == agent.device_id)["rejected_total"] == 1,
               60, what="rejected_total in a heartbeat")
    assert agent.terminate() == 0
    assert agent.spooled() == []
    assert f"event {too_old.id}: start: older than 35 days" in agent.log()


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


def test_delivers_over_tls_trusting_the_configured_ca_bundle(collector_factory, agents, ca):
    cert, key = ca.issue()
    collector = collector_factory(args=("--tls-cert", cert, "--tls-key", key), tls=ca.client_context())
    agent = agents(collector.url, ca_bundle=str(ca.pem))
    wait_until(lambda: len(_test_events(collector)) >= 2, 60, what="events over TLS")
    assert agent.terminate() == 0, agent.log()
    assert agent.spooled() == []
    _assert_exactly_once(_test_events(collector), runs=1)
    assert "tls:" not in agent.log()


@pytest.mark.parametrize("problem", ["another CA", "a certificate for another name"])
def test_an_untrusted_certificate_is_refused_with_one_clear_line_and_backoff(collector_factory, agents, ca, tmp_path,
                                                                             problem):
    if problem == "another CA":
        other = TestCA(tmp_path / "other", name="an attacker's CA")
        (cert, key), trust = other.issue(), other.client_context()
        needle = "unable to get local issuer certificate"
    else:
        (cert, key), trust = ca.issue("collector.example.org", san="DNS:collector.example.org"), \
            ca.client_context(check_hostname=False)
        needle = "address mismatch, certificate is not valid for '127.0.0.1'"
    collector = collector_factory(args=("--tls-cert", cert, "--tls-key", key), tls=trust)
    agent = agents(collector.url, ca_bundle=str(ca.pem), backoff_initial_s=0.5, backoff_max_s=1)
    wait_until(lambda: needle in agent.log(), 30, what="the TLS failure in the agent's log")
    time.sleep(3)  # several retries, backed off
    assert agent.terminate() == 0
    lines = [line for line in agent.log().splitlines() if needle in line]
    assert len(lines) <= 2, lines  # the first failure, then every tenth: no retry storm in the log
    assert f"certificates are checked against the CA bundle {ca.pem}" in lines[0]
    assert any(r.kind == "event" for r in agent.spooled())  # kept for when the certificate is fixed
