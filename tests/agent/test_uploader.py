"""The uploader against a real HTTP server that answers like the collector (200/401/413/422/429/503)."""

import gzip
import json
import os
import shutil
import ssl
import subprocess
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.config import AgentSettings
from agent.spool import Spool
from agent.uploader import Uploader, _parse_retry_after, backoff_delay
from contract.check import ContractError, validate_batch
from contract.records import SECTIONS, Event, Feedback, Heartbeat, Usage

TOKEN = "agent-secret"
ROOT = Path(__file__).resolve().parents[2]


class FakeCollector:
    """Validates batches with the real contract and stores ids; ``script`` overrides the next answers."""

    def __init__(self, tls: tuple[str, str] | None = None):
        self.requests = []  # (monotonic time, headers, batch or None, status)
        self.stored = []
        self.script = []  # callables(batch) -> (status, headers, body) or None to answer normally
        self.poison: set[str] = set()  # a collector bug: 500 to any batch holding one of these record ids
        self.outage: tuple[int, dict] | None = None  # (status, headers) answered to every batch meanwhile
        self.hang_s = 0.0
        self.enrollments = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/api/v1/enroll":  # like a collector that predates device credentials
                    owner.enrollments += 1
                    return self.send_error(404)
                try:
                    owner._handle(self, raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (flush timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = self.url.replace("http:", "https:")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, batch):
        if self.headers_ok is False:
            return 401, {}, {"detail": "bad token"}
        while self.script:
            answer = self.script.pop(0)(batch)
            if answer is not None:
                return answer
        if self.outage:
            return *self.outage, {"detail": "outage"}
        if self.poison & {r["id"] for r in batch["events"] + batch["heartbeats"]}:
            return 500, {}, {"detail": "internal error (DataError); nothing was stored, see the collector log"}
        try:
            valid = validate_batch(batch)
        except ContractError as exc:
            return 422, {}, {"detail": {"errors": exc.errors}}
        ids = [r["id"] for sec in SECTIONS for r in valid[sec.field]]
        dup = sum(1 for i in ids if i in self.stored)
        self.stored += [i for i in ids if i not in self.stored]
        return 200, {}, {"accepted": len(ids) - dup, "duplicates": dup}

    def _handle(self, handler, raw):
        if self.hang_s:
            time.sleep(self.hang_s)
        assert handler.headers["Content-Encoding"] == "gzip"
        batch = json.loads(gzip.decompress(raw))
        self.headers_ok = handler.headers.get("Authorization") == f"Bearer {TOKEN}"
        status, headers, body = self._answer(batch)
        self.requests.append((time.monotonic(), dict(handler.headers), batch, status))
        data = json.dumps(body).encode()
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    c = FakeCollector()
    yield c
    c.close()


def _settings(url, **kw):
    base = dict(collector=url, token=TOKEN, upload_interval_s=0.05, upload_batch_size=10, upload_max_rate=100_000,
                upload_timeout_s=10, backoff_initial_s=0.05, backoff_max_s=0.2)
    base.update(kw)
    return AgentSettings(**base)


def _events(n, **kw):
    now = time.time()
    return [Event(type="test", app="test", start=now, severity="info", details={"seq": i}, **kw) for i in range(n)]


def _wait(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def spool(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=50_000_000)
    yield sp
    sp.close()


def _run(spool, settings, cond, timeout=20.0):
    up = Uploader(spool, settings, device_id="device-0001")
    up.start()
    try:
        assert _wait(cond, timeout), "condition not reached"
    finally:
        up.stop()
    return up


def test_delivers_everything_once_in_batches_gzip_with_token(collector, spool):
    evs = _events(25)
    hb = Heartbeat(time=time.time(), interval_s=1, active_s=0, os="linux", os_version="6", agent_version="0.1.0",
                   site="s", department="d")
    spool.put(evs + [hb])
    up = _run(spool, _settings(collector.url), lambda: spool.count == 0)
    assert sorted(collector.stored) == sorted([e.id for e in evs] + [hb.id])
    assert [len(b["events"]) + len(b["heartbeats"]) for _, _, b, _ in collector.requests] == [10, 10, 6]
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, h, _, _ in collector.requests)
    assert collector.requests[-1][2]["heartbeats"][0]["id"] == hb.id
    assert up.uploaded_total == 26 and up.failures == 0


def test_delivers_through_the_proxy_from_the_environment(collector, spool, monkeypatch):
    from tests.agent._proxy import ForwardProxy

    for name in ("no_proxy", "NO_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    evs = _events(3)
    spool.put(evs)
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        _run(spool, _settings(collector.url), lambda: spool.count == 0)
    assert sorted(collector.stored) == sorted(e.id for e in evs)
    assert [seen[0] for seen in proxy.seen[:2]] == [f"POST {collector.url}/api/v1/enroll HTTP/1.1",
                                                    f"POST {collector.url}/api/v1/events HTTP/1.1"]


def test_retry_after_is_honoured(collector, spool):
    spool.put(_events(3))
    collector.script = [lambda b: (429, {"Retry-After": "1"}, {"detail": "slow down"}),
                        lambda b: (503, {"Retry-After": "1"}, {"detail": "database locked"})]
    _run(spool, _settings(collector.url), lambda: spool.count == 0)
    times = [t for t, *_ in collector.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
    assert len(collector.stored) == 3


def test_server_errors_back_off_within_bounds_and_lose_nothing(collector, spool):
    spool.put(_events(4))
    collector.script = [lambda b: (500, {}, {"detail": "boom"})] * 4 + [lambda b: (503, {}, {"detail": "no retry-after"})]
    _run(spool, _settings(collector.url, backoff_initial_s=0.1, backoff_max_s=0.3, isolate_after_server_errors=10),
         lambda: spool.count == 0)
    times = [t for t, *_ in collector.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 5
    caps = [0.1, 0.2, 0.3, 0.3, 0.3]
    for gap, cap in zip(gaps, caps):
        assert 0.09 <= gap <= cap + 0.5, gaps  # generous upper slack for a loaded machine
    assert len(collector.stored) == 4


def _delivered(collector) -> list[str]:
    """Every record id in the batches the collector accepted, as often as it was accepted."""
    return [r["id"] for *_, b, status in collector.requests if status == 200 for r in b["events"] + b["heartbeats"]]


@pytest.mark.parametrize("poisoned", [[17], [3, 4, 30]], ids=["one", "three, two of them adjacent"])
def test_records_the_collector_fails_on_are_set_aside_and_the_rest_delivered_once(collector, spool, caplog, poisoned):
    evs = _events(40)
    spool.put(evs)
    collector.poison = {evs[i].id for i in poisoned}
    up = _run(spool, _settings(collector.url, backoff_initial_s=0.01, backoff_max_s=0.05), lambda: spool.count == 0,
              timeout=60)
    delivered = _delivered(collector)
    assert sorted(delivered) == sorted(e.id for i, e in enumerate(evs) if i not in poisoned)  # each exactly once
    assert spool.rejected_total == len(poisoned)
    aside = spool.set_aside_records()
    assert [rid for rid, _, _ in aside] == [evs[i].id for i in poisoned]
    assert all("HTTP 500: " in why and "while the collector stored other records" in why for _, _, why in aside)
    assert caplog.text.count("record set aside") == len(poisoned)  # logged once each
    # restored at the uploader's next look at the spool once the failing batch is sorted out (the spool may have
    # drained before that look)
    assert up.send_once().done and up.batch_size == 10
    # isolating took a bounded number of attempts, not a retry storm
    assert len(collector.requests) < 25 * len(poisoned) + 10


def test_an_outage_sets_nothing_aside(collector, spool):
    """Every batch failing (500, then 502, then 503 busy) is the collector's trouble, not a record's: nothing lost."""
    evs = _events(30)
    spool.put(evs)
    up = Uploader(spool, _settings(collector.url, backoff_initial_s=0.01, backoff_max_s=0.05), device_id="device-0001")
    up.start()
    try:
        for answer in [(500, {}), (502, {}), (503, {"Retry-After": "1"})]:
            collector.outage = answer
            assert _wait(lambda: sum(s == answer[0] for *_, s in collector.requests) >= 30 if answer[0] != 503
                         else collector.requests[-1][3] == 503)
        assert up._suspects, "the outage should have made some records suspects"
        collector.outage = None
        assert _wait(lambda: spool.count == 0, 30)
    finally:
        up.stop()
    assert sorted(_delivered(collector)) == sorted(e.id for e in evs)
    assert spool.rejected_total == 0 and spool.set_aside_records() == []


def test_backoff_delay_bounds():
    for failures in range(1, 30):
        cap = min(60.0, 0.5 * 2 ** (failures - 1))
        values = [backoff_delay(failures, 0.5, 60.0) for _ in range(200)]
        assert all(0.5 <= v <= cap for v in values)
        if cap > 1:
            assert max(values) - min(values) > cap / 10  # jittered, not constant


def test_bad_token_keeps_everything_and_retries(collector, spool):
    spool.put(_events(2))
    up = Uploader(spool, _settings(collector.url, token="wrong"), device_id="device-0001")
    up.start()
    try:
        assert _wait(lambda: len(collector.requests) >= 3)
    finally:
        up.stop()
    assert all(status == 401 for *_, status in collector.requests)
    assert spool.count == 2 and collector.stored == [] and up.failures >= 3 and "401" in up.last_error


def test_413_halves_the_batch(collector, spool):
    spool.put(_events(20))
    collector.script = [lambda b: (413, {}, {"detail": "too large"}) if len(b["events"]) > 4 else None] * 3
    up = _run(spool, _settings(collector.url, upload_batch_size=16), lambda: spool.count == 0)
    sizes = [len(b["events"]) for *_, b, s in collector.requests]
    assert sizes[:3] == [16, 8, 4] and up.batch_size == 4
    assert len(collector.stored) == 20 and spool.rejected_total == 0


def test_413_on_a_single_record_rejects_it(collector, spool):
    evs = _events(3)
    spool.put(evs)
    collector.script = [lambda b: (413, {}, {"detail": "too large"}) if b["events"][0]["id"] == evs[0].id else None] * 3
    _run(spool, _settings(collector.url, upload_batch_size=1), lambda: spool.count == 0)
    assert sorted(collector.stored) == sorted(e.id for e in evs[1:])
    assert spool.rejected_total == 1


def test_422_drops_only_the_named_records_and_resends_the_rest(collector, spool):
    good = _events(4)
    bad = [Event(type="bogus", app="test", start=time.time()), Event(type="test", app="", start=time.time())]
    spool.put([good[0], bad[0], good[1], good[2], bad[1], good[3]])
    up = _run(spool, _settings(collector.url), lambda: spool.count == 0)
    assert [s for *_, s in collector.requests] == [422, 200]
    assert collector.requests[1][0] - collector.requests[0][0] < 1.0  # resent at once, not after a backoff
    assert sorted(collector.stored) == sorted(e.id for e in good)
    assert spool.rejected_total == 2 and up.failures == 0


def test_answers_and_app_time_travel_beside_events_and_a_bad_one_is_set_aside_by_its_own_index(collector, spool):
    crash = _events(1)[0]
    hour = time.time() // 3600 * 3600 - 3600
    answer = Feedback(time=time.time(), event_id=crash.id, answer="lost_work")
    totals = [Usage(start=hour, interval_s=3600, app="excel", focus_s=60), Usage(start=hour, interval_s=3600, app="sap",
                                                                                focus_s=30)]
    per_minute = Usage(start=hour, interval_s=60, app="sap", focus_s=30)  # refused: never per minute
    spool.put([totals[0], crash, per_minute, answer, totals[1]])
    _run(spool, _settings(collector.url), lambda: spool.count == 0)
    assert [s for *_, s in collector.requests] == [422, 200]
    assert collector.requests[0][2]["usage"][1]["id"] == per_minute.id  # the 422 named usage[1]
    assert sorted(collector.stored) == sorted([crash.id, answer.id, totals[0].id, totals[1].id])
    assert spool.rejected_total == 1


def test_422_for_the_envelope_backs_off_and_keeps_records(collector, spool):
    spool.put(_events(2))
    up = Uploader(spool, _settings(collector.url), device_id="bad id!")  # invalid device id: the batch, not a record
    up.start()
    try:
        assert _wait(lambda: len(collector.requests) >= 2)
    finally:
        up.stop()
    assert spool.count == 2 and spool.rejected_total == 0 and "422" in up.last_error


def test_backlog_drains_at_the_bounded_rate(collector, spool):
    spool.put(_events(300))
    rate = 200.0
    _run(spool, _settings(collector.url, upload_batch_size=50, upload_max_rate=rate), lambda: spool.count == 0)
    times = [t for t, *_ in collector.requests]
    assert len(times) == 6
    # after each batch of 50 the next may start only 50/rate = 0.25 s later
    assert times[-1] - times[0] >= (300 - 50) / rate * 0.95
    assert len(collector.stored) == 300


def test_unreachable_collector_keeps_spool_and_stop_is_prompt(spool):
    spool.put(_events(3))
    up = Uploader(spool, _settings("http://127.0.0.1:9", upload_interval_s=3600, backoff_initial_s=3600,
                                   backoff_max_s=3600), device_id="device-0001")
    up.start()
    assert _wait(lambda: up.failures >= 1)
    t0 = time.monotonic()
    up.stop()
    assert time.monotonic() - t0 < 2.0
    assert spool.count == 3 and up.last_error.startswith("connect: cannot connect to 127.0.0.1:9")


def test_flush_is_bounded_in_time(collector, spool):
    spool.put(_events(3))
    collector.hang_s = 5.0
    up = Uploader(spool, _settings(collector.url), device_id="device-0001")
    t0 = time.monotonic()
    assert up.flush(1.0) is False
    assert time.monotonic() - t0 < 3.0
    assert spool.count == 3


def test_flush_delivers_when_the_collector_answers(collector, spool):
    spool.put(_events(30))
    up = Uploader(spool, _settings(collector.url), device_id="device-0001")
    assert up.flush(10.0) is True
    assert len(collector.stored) == 30


def test_parse_retry_after():
    assert _parse_retry_after("7") == 7.0
    assert _parse_retry_after(None) is None and _parse_retry_after("soon") is None
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 55 <= _parse_retry_after(in_a_minute) <= 61


def test_spool_locked_while_acknowledging_does_not_kill_the_thread(collector, tmp_path):
    import sqlite3

    db = tmp_path / "locked.db"
    spool = Spool(db, max_bytes=50_000_000, busy_timeout_s=0.05)
    evs = _events(5)
    spool.put(evs)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # readers still read (WAL); the uploader's delete fails
    up = Uploader(spool, _settings(collector.url), device_id="device-0001")
    up.start()
    try:
        assert _wait(lambda: len(collector.requests) >= 2 and up.failures >= 1)
        assert spool.count == 5 and "locked" in up.last_error
        blocker.execute("ROLLBACK")
        assert _wait(lambda: spool.count == 0)
    finally:
        up.stop()
        blocker.close()
        spool.close()
    assert sorted(collector.stored) == sorted(e.id for e in evs)  # resent, stored once


_FLUSH = """
import sys
from agent.config import AgentSettings
from agent.spool import Spool
from agent.uploader import Uploader
sp = Spool(sys.argv[1], max_bytes=10**8)
up = Uploader(sp, AgentSettings(collector=sys.argv[2], token=sys.argv[3]), device_id="device-0001")
print("delivered" if up.flush(10.0) else f"failed: {up.last_error}")
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare for a private mount namespace")
def test_https_trusts_the_system_store_where_enterprises_install_their_ca(enterprise_ca, tmp_path):
    """The enterprise CA is put in the system store (/etc/ssl/certs, bind-mounted in a private mount namespace)."""
    ca, server_cert = enterprise_ca
    system_bundle = ssl.get_default_verify_paths().cafile
    if not system_bundle or not os.path.exists(system_bundle):
        pytest.skip("no system CA bundle file")
    collector = FakeCollector(tls=server_cert)
    db = tmp_path / "spool.db"
    sp = Spool(db, max_bytes=10**8)
    sp.put(_events(3))
    sp.close()
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["PYTHONPATH"] = str(ROOT)

    def flush(with_enterprise_ca):
        mount = f"mount --bind {ca} {system_bundle} && " if with_enterprise_ca else ""
        cmd = f"{mount}exec {sys.executable} -c '{_FLUSH}' {db} {collector.url} {TOKEN}"
        out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", cmd], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        return out.stdout.strip() + out.stderr[-500:]

    try:
        assert "CERTIFICATE_VERIFY_FAILED" in flush(with_enterprise_ca=False)
        assert flush(with_enterprise_ca=True) == "delivered"
        assert len(collector.stored) == 3
    finally:
        collector.close()


def test_a_record_of_a_kind_this_agent_does_not_know_is_set_aside_and_the_rest_delivered(collector, tmp_path):
    """A newer agent spooled a kind of record this one cannot send, then was rolled back."""
    path = tmp_path / "spool.db"
    Spool(path, max_bytes=50_000_000).close()
    evs = _events(3)
    with sqlite3.connect(path) as db:  # as the newer agent left it: an unknown kind between two known records
        db.execute("INSERT INTO records (id, kind, body, size) VALUES (?, 'survey', '{\"id\": \"x\"}', 13)",
                   ("future-0001",))
    spool = Spool(path, max_bytes=50_000_000)
    try:
        spool.put(evs)
        _run(spool, _settings(collector.url), lambda: spool.count == 0)
        assert sorted(_delivered(collector)) == sorted(e.id for e in evs)
        (aside,) = spool.set_aside_records()
        assert aside[0] == "future-0001" and "survey future-0001: a kind of record this agent" in aside[2]
    finally:
        spool.close()
