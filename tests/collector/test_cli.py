"""`hinder collector` as a real process: serve, restart, SIGTERM, refusals, migrate, token."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.collector.batches import batch, body, event, heartbeat
from tests.conftest import ROOT, hinder_env


def _hinder(*args, env=None, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "hinder", *args], env=hinder_env(**(env or {})), cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_serve_ingests_over_http_and_keeps_data_across_restart(collector):
    b = batch([event("crash"), event("hang", duration_s=3.0)], [heartbeat()])
    r = httpx.post(f"{collector.url}/api/v1/events", content=body(b, compress=True),
                   headers={**collector.agent_headers(), "Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 3
    assert "collector on http://127.0.0.1" in collector.log() and "/metrics" in collector.log()
    assert collector.stop() == 0  # SIGTERM: clean exit
    collector.start()
    assert {e["id"] for e in collector.events()} == {e["id"] for e in b["events"]}
    r = httpx.post(f"{collector.url}/api/v1/events", content=body(b), headers=collector.agent_headers(), timeout=30)
    assert r.json()["duplicates"] == 3
    assert collector.devices()[0]["state"] == "reporting"
    # one device: under the minimum group size, its site, department and OS are "other" on /metrics; firefox,
    # uncatalogued, is discovered at its first crash (collector.aggregates.discover)
    assert 'hinder_disruptions_total{app="firefox",department="other",os="other",site="other",type="crash"} 1.0' \
        in collector.metrics()


@pytest.mark.postgres
def test_serve_on_postgresql(collector_factory, pg_url):
    proc = collector_factory(db=pg_url.replace("postgresql+psycopg://", "postgresql://"))
    r = httpx.post(f"{proc.url}/api/v1/events", content=body(batch([event()], [heartbeat()])),
                   headers=proc.agent_headers(), timeout=30)
    assert r.status_code == 200
    assert len(proc.events()) == 1


def test_oversized_stream_is_refused_by_the_real_server(collector_factory):
    proc = collector_factory(config="[collector]\nmax_body_bytes = 10000\n")

    def chunks():  # chunked transfer encoding, no Content-Length
        for _ in range(50):
            yield b" " * 1000

    r = httpx.post(f"{proc.url}/api/v1/events", content=chunks(), headers=proc.agent_headers(), timeout=30)
    assert r.status_code == 413
    r = httpx.post(f"{proc.url}/api/v1/events", content=b" " * 20000, headers=proc.agent_headers(), timeout=30)
    assert r.status_code == 413 and "20000 bytes" in r.json()["detail"]
    assert httpx.get(f"{proc.url}/healthz", timeout=10).status_code == 200  # still serving
    assert proc.events() == []


@pytest.mark.parametrize("args, needle", [
    ([], "needs an agent token"),
    (["--agent-token", "agent-token-1"], "admin token"),
    (["--agent-token", "same-token-1", "--admin-token", "same-token-1"], "different from every agent token"),
    (["--agent-token", "short", "--admin-token", "admin-token-1"], "at least 8 characters"),
])
def test_serve_refuses_to_start_without_proper_tokens(tmp_path, args, needle):
    r = _hinder("collector", "serve", "--db", f"sqlite:///{tmp_path}/h.db", "--port", "1", *args, cwd=tmp_path)
    assert r.returncode == 2 and needle in r.stderr


def test_config_file_errors_name_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[collector]\nprot = 8000\n")
    r = _hinder("collector", "serve", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 2 and "collector.prot: unknown key (did you mean 'port'?)" in r.stderr


def test_env_tokens_and_flag_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[collector]\nport = 1\ndb = "sqlite:///nowhere/x.db"\n')
    # tokens from the environment satisfy the check; the --db flag wins over the file and the database is reached
    r = _hinder("collector", "serve", "--config", str(cfg), "--db", "sqlite:////nonexistent-dir/h.db",
                env={"HINDER_AGENT_TOKEN": "agent-token-1,agent-token-2", "HINDER_ADMIN_TOKEN": "admin-token-1"},
                cwd=tmp_path)
    assert r.returncode == 3 and "cannot migrate sqlite:////nonexistent-dir/h.db" in r.stderr


def test_migrate_and_token_commands(tmp_path):
    url = f"sqlite:///{tmp_path}/h.db"
    first = _hinder("collector", "migrate", "--db", url)
    assert first.returncode == 0 and "applied migrations 1" in first.stdout
    again = _hinder("collector", "migrate", "--db", url)
    assert again.returncode == 0 and "up to date" in again.stdout
    tok = _hinder("collector", "token")
    assert tok.returncode == 0 and len(tok.stdout.strip()) >= 40
