"""What runs the connectors: a real collector polling its sources in the background, `hinder support poll` and
`hinder support sources` as processes, and the sources' health on /metrics (promtool-clean)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from prometheus_client.utils import floatToGoString

from collector.config import parse_config
from collector.support.polling import connectors
from collector.support.sources import base
from tests.collector.conftest import make_api
from tests.collector.support.itsm import fixture, serve
from tests.collector.support.itsms import (
    SERVICENOW_PASSWORD, TOPDESK_PASSWORD, TOPDESK_USER, servicenow, shift_times, tickets, topdesk,
)
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, ROOT, hinder_env, wait_until

FIXTURE_DAY = datetime(2026, 11, 5, tzinfo=timezone.utc)
TOPDESK_TIMES = ("callDate", "creationDate", "modificationDate", "completedDate", "closedDate", "responseDate")


def recent_incidents() -> list:
    """The TOPdesk fixture moved so that its last day is yesterday: within since_days of the real clock."""
    records = fixture("topdesk_incidents.json")
    shift_times(records, datetime.now(timezone.utc).replace(microsecond=0) - FIXTURE_DAY - timedelta(days=1),
                TOPDESK_TIMES)
    return records


def config_toml(url: str, db: str, password_env: str = "HINDER_TEST_TD") -> str:
    return f"""
[collector]
db = "{db}"

[[support.sources]]
name = "topdesk-nl"
kind = "topdesk"
url = "{url}"
user = "{TOPDESK_USER}"
secret_env = "{password_env}"
page_size = 3
poll_interval_s = 10

[[support.sources]]
name = "servicenow-emea"
kind = "servicenow"
url = "{url}/nowhere"
user = "hinder.integration"
secret_env = "{password_env}"
"""


def _hinder(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hinder", *args], env=hinder_env(**(env or {})), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_running_collector_polls_its_sources_in_the_background(collector_factory, tmp_path):
    with serve(topdesk(recent_incidents())) as itsm:
        db = f"sqlite:///{tmp_path / 'hinder.db'}"
        proc = collector_factory(db=db, config=config_toml(itsm.url, db),
                                 env={"HINDER_TEST_TD": TOPDESK_PASSWORD})

        def polled() -> str | None:
            text = proc.metrics()
            return text if 'hinder_support_records_fetched_total{source="topdesk-nl"} 7.0' in text else None

        text = wait_until(polled, timeout_s=60, what="the first background poll")
    assert 'hinder_support_source_up{source="topdesk-nl"} 1.0' in text
    assert 'hinder_support_source_up{source="servicenow-emea"} 0.0' in text  # its URL answers 404
    assert 'hinder_support_source_failures_total{source="servicenow-emea"} 1.0' in text
    assert re.search(r'hinder_support_source_last_success_timestamp_seconds\{source="topdesk-nl"\} \d', text)
    engine = sa.create_engine(db)
    assert len(tickets(engine)) == 7
    engine.dispose()
    assert TOPDESK_PASSWORD not in proc.log()


def test_support_poll_and_sources_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 'hinder.db'}"
    with serve(topdesk(recent_incidents())) as itsm:
        cfg = tmp_path / "collector.toml"
        cfg.write_text(config_toml(itsm.url, db))
        env = {"HINDER_TEST_TD": TOPDESK_PASSWORD}
        first = _hinder("support", "poll", "--source", "topdesk-nl", "--config", str(cfg), env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("topdesk-nl: 3 pages, 7 records: 7 new, 0 updated, 0 unchanged, 0 skipped")
        again = _hinder("support", "poll", "--config", str(cfg), env=env)  # both: servicenow-emea answers 404
        assert again.returncode == 3
        assert "topdesk-nl: 1 pages, 1 records: 0 new, 0 updated, 1 unchanged, 0 skipped" in again.stdout
        assert "servicenow-emea: FAILED: servicenow-emea: HTTP 404 for GET /api/now/table/incident" in again.stderr
        unknown = _hinder("support", "poll", "--source", "jira", "--config", str(cfg), env=env)
        assert unknown.returncode == 2 and "--source 'jira': not configured" in unknown.stderr
        missing = _hinder("support", "poll", "--config", str(cfg), "--source", "topdesk-nl")
        assert missing.returncode == 3 and "HINDER_TEST_TD is not set" in missing.stderr
    shown = _hinder("support", "sources", "--config", str(cfg))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("topdesk-nl (topdesk): DOWN; last success 20")  # the last poll lacked the secret
    assert "1 failures, 8 records read, 0 skipped; cursor 20" in lines[0]
    assert "last error: support.sources.topdesk-nl.secret_env: HINDER_TEST_TD is not set" in lines[1]
    assert lines[2].startswith("servicenow-emea (servicenow): DOWN; last success never")
    for out in (first, again, unknown, missing, shown):
        assert TOPDESK_PASSWORD not in out.stdout + out.stderr


@pytest.mark.parametrize("configured", [True, False])
def test_source_health_on_metrics_only_for_configured_sources(db_engine, db_url, monkeypatch, configured):
    monkeypatch.setattr(base, "RETRY_DELAYS_S", (0.01,))
    monkeypatch.setenv("HINDER_TEST_TD", TOPDESK_PASSWORD)
    monkeypatch.setenv("HINDER_TEST_SN", "wrong")
    sources = [{"name": "topdesk-nl", "kind": "topdesk", "url": "http://127.0.0.1:9", "user": TOPDESK_USER,
                "secret_env": "HINDER_TEST_TD"},
               {"name": "servicenow-emea", "kind": "servicenow", "url": "http://127.0.0.1:9",
                "user": "hinder.integration", "secret_env": "HINDER_TEST_SN"}]
    polled = parse_config({"support": {"sources": sources}}, overrides={"db": db_url}, env={})
    with serve(topdesk(fixture("topdesk_incidents.json"))) as td, serve(servicenow([], password=SERVICENOW_PASSWORD)) as sn:
        for connector, url in zip(connectors(polled.section("support")), (td.url, sn.url)):
            connector.settings.url = url
            base.poll(db_engine, connector, FIXTURE_DAY.timestamp())
    shown = parse_config({"support": {"sources": sources if configured else sources[:1]}},
                         overrides={"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN}, env={})
    text = make_api(db_engine, shown).client.get("/metrics").text
    assert 'hinder_support_source_up{source="topdesk-nl"} 1.0' in text
    assert 'hinder_support_records_fetched_total{source="topdesk-nl"} 7.0' in text
    assert 'hinder_support_records_skipped_total{source="topdesk-nl"} 0.0' in text
    last = floatToGoString(FIXTURE_DAY.timestamp())
    assert f'hinder_support_source_last_success_timestamp_seconds{{source="topdesk-nl"}} {last}' in text
    assert ('hinder_support_source_failures_total{source="servicenow-emea"} 1.0' in text) is configured
    assert ('hinder_support_source_up{source="servicenow-emea"} 0.0' in text) is configured
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_a_configured_source_never_polled_is_down_with_zero_counts(db_engine, db_url):
    sources = [{"name": "topdesk-nl", "kind": "topdesk", "url": "http://127.0.0.1:9"}]
    cfg = parse_config({"support": {"sources": sources}},
                       overrides={"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN}, env={})
    text = make_api(db_engine, cfg).client.get("/metrics").text
    assert 'hinder_support_source_up{source="topdesk-nl"} 0.0' in text
    assert 'hinder_support_source_failures_total{source="topdesk-nl"} 0.0' in text
    assert "hinder_support_source_last_success_timestamp_seconds{" not in text


def test_an_unusable_support_config_is_logged_and_polls_nothing(db_engine, tmp_path, caplog):
    from collector.support.polling import start_polling

    sources = [{"name": "topdesk-nl", "kind": "topdesk", "url": "http://127.0.0.1:9"}]
    cfg = parse_config({"support": {"identity_key_file": str(tmp_path / "missing.key"), "sources": sources}}, env={})
    assert start_polling(db_engine, cfg.section("support"), cfg.section("model")) == []
    assert "support sources are not polled: support.identity_key_file:" in caplog.text
