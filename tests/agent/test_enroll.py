"""Enrollment from the agent's side, against a real collector process: the credential is got once, kept 0600
and sent; a revoked device keeps its spool and backs off; an unknown credential is enrolled again; an old
collector without enrollment keeps getting the fleet token."""

from __future__ import annotations

import logging
import stat
import time

import httpx
import pytest

from agent.config import AgentConfig, AgentSettings
from agent.explain import render
from agent.spool import Spool
from agent.state import CREDENTIAL_FILE, load_credential
from agent.uploader import Uploader
from contract.records import Event
from tests.collector.batches import batch, body, event
from tests.conftest import AGENT_TOKEN

DEVICE = "agent-device-0001"


def _settings(url: str, state_dir, **kw) -> AgentSettings:
    base = dict(collector=url, token=AGENT_TOKEN, state_dir=str(state_dir), upload_batch_size=10,
                upload_max_rate=100_000, upload_timeout_s=10, backoff_initial_s=0.05, backoff_max_s=0.2)
    return AgentSettings(**{**base, **kw})


@pytest.fixture
def spool(tmp_path):
    sp = Spool(tmp_path / "spool.db", max_bytes=50_000_000)
    yield sp
    sp.close()


def _events(n: int) -> list[Event]:
    return [Event(type="test", app="test", start=time.time(), severity="info", details={"seq": i}) for i in range(n)]


def _credentials(collector) -> dict[str, str]:
    r = httpx.get(f"{collector.url}/api/v1/devices/credentials", headers=collector.admin_headers(), timeout=30)
    return {d["device_id"]: d["credential"] for d in r.json()["devices"]}


def _explained(settings: AgentSettings) -> str:
    return " ".join(render(AgentConfig(agent=settings)).split())


def test_first_delivery_enrolls_keeps_the_credential_0600_and_sends_with_it(collector, spool, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    spool.put(_events(3))
    settings = _settings(collector.url, tmp_path)
    assert "No device credential is kept yet" in _explained(settings)
    uploader = Uploader(spool, settings, DEVICE)
    assert uploader.send_once().done and spool.count == 0
    path = tmp_path / CREDENTIAL_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credential = load_credential(tmp_path)
    assert credential.startswith(f"hdc1.{DEVICE}.")
    assert _credentials(collector) == {DEVICE: "enrolled"}
    secret = credential.rsplit(".", 1)[1]
    assert "enrolled" in caplog.text and secret not in caplog.text and secret not in collector.log()
    # the next run reads the credential: no second enrollment (it would be refused, 409), batches carry it
    spool.put(_events(2))
    again = Uploader(spool, _settings(collector.url, tmp_path), DEVICE)
    assert again.enrollment.credential == credential
    assert again.send_once().done and spool.count == 0 and again.failures == 0
    # and the fleet token can no longer send for this device
    spoof = httpx.post(f"{collector.url}/api/v1/events", content=body(batch([event()], device_id=DEVICE)),
                       headers=collector.agent_headers(), timeout=30)
    assert spoof.status_code == 403
    explained = _explained(settings)  # `hinder agent explain` says a credential is kept, never what it is
    assert f"device credential kept in {path}" in explained and secret not in explained


def test_a_revoked_device_keeps_its_spool_and_backs_off(collector, spool, tmp_path):
    uploader = Uploader(spool, _settings(collector.url, tmp_path, backoff_initial_s=1, backoff_max_s=300), DEVICE)
    spool.put(_events(1))
    assert uploader.send_once().done and spool.count == 0
    r = httpx.post(f"{collector.url}/api/v1/devices/{DEVICE}/revoke", headers=collector.admin_headers(), timeout=30)
    assert r.status_code == 200
    spool.put(_events(2))
    waits = [uploader.send_once().wait_s for _ in range(8)]
    assert spool.count == 2  # kept, not dropped
    assert "revoked" in uploader.last_error and uploader.failures == 8
    assert max(waits) >= 16  # exponential backoff: a revoked device does not loop fast
    assert load_credential(tmp_path) is not None  # nothing to enroll: a revoked device cannot


def test_a_credential_the_collector_does_not_know_is_enrolled_again(collector_factory, spool, tmp_path):
    first = collector_factory()
    uploader = Uploader(spool, _settings(first.url, tmp_path), DEVICE)
    spool.put(_events(1))
    assert uploader.send_once().done
    old = load_credential(tmp_path)
    first.stop()
    second = collector_factory(port=first.port)  # a new, empty database behind the same address
    spool.put(_events(1))
    refused = uploader.send_once()
    assert refused.wait_s > 0 and "not enrolled" in uploader.last_error and spool.count == 1
    assert uploader.send_once().done and spool.count == 0  # enrolled again, then delivered
    assert load_credential(tmp_path) not in (None, old)
    assert _credentials(second) == {DEVICE: "enrolled"}


def test_a_collector_without_enrollment_gets_the_fleet_token_and_enrollment_is_retried_later(tmp_path, spool):
    from tests.agent.test_uploader import TOKEN, FakeCollector

    fake = FakeCollector()
    try:
        uploader = Uploader(spool, _settings(fake.url, tmp_path, token=TOKEN, enroll_retry_s=1), DEVICE)
        for _ in range(3):
            spool.put(_events(1))
            assert uploader.send_once().done and spool.count == 0
        assert fake.enrollments == 1 and len(fake.stored) == 3  # one try, then the fleet token until the retry
        assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, h, _, _ in fake.requests)
        time.sleep(1.1)
        spool.put(_events(1))
        assert uploader.send_once().done and fake.enrollments == 2
        assert load_credential(tmp_path) is None
    finally:
        fake.close()
