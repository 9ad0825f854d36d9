"""POST /api/v1/support/tickets: the support token, JSON arrays and JSON lines, gzip, bounds, every refusal a 4xx."""

from __future__ import annotations

import gzip
import json

import pytest
import sqlalchemy as sa

from collector.config import parse_config
from collector.models import device_table, support_ticket_table
from contract.identity import identity_key
from tests.collector.conftest import make_api
from tests.collector.support.itsm import FIXTURES
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, SUPPORT_TOKEN

SECRET = b"fleet-identity-key-for-tests-0001"

PATH = "/api/v1/support/tickets"
JSON = {"Authorization": f"Bearer {SUPPORT_TOKEN}", "Content-Type": "application/json"}
NDJSON = {**JSON, "Content-Type": "application/x-ndjson"}


@pytest.fixture
def hook(db_engine, db_url, tmp_path):
    key = tmp_path / "identity.key"
    key.write_bytes(SECRET)
    config = parse_config({"support": {"identity_key_file": str(key)}}, env={}, overrides={
        "db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, "support_tokens": [SUPPORT_TOKEN],
        "max_body_bytes": 200_000})
    return make_api(db_engine, config)


def _rows(engine) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        return {(r["source"], r["ticket_id"]): dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}


def test_a_json_array_is_stored_joined_and_idempotent(hook):
    with hook.engine.begin() as conn:
        conn.execute(device_table.insert().values(
            id="dev-0042", first_seen=1.0, last_seen=2.0, os="windows", os_version="10", agent_version="0.1.0",
            site="Paris", department="Sales", spool_dropped_total=0, rejected_total=0, sensor_errors_total=0,
            last_details={}, account_key=identity_key(SECRET, "account", "jdoe")))
    body = (FIXTURES / "generic.json").read_bytes()
    r = hook.client.post(PATH, content=body, headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0, "problems": []}
    rows = _rows(hook.engine)
    assert rows[("webhook", "REQ-1")]["device_id"] == "dev-0042" and rows[("webhook", "2")]["device_id"] is None
    again = hook.client.post(PATH, content=gzip.compress(body), headers={**JSON, "Content-Encoding": "gzip"})
    assert again.json()["unchanged"] == 2
    other = hook.client.post(PATH, params={"source": "sd-emea"}, content=body, headers=JSON)
    assert other.json()["inserted"] == 2 and len(_rows(hook.engine)) == 4


def test_json_lines_name_the_skipped_records(hook):
    body = (FIXTURES / "generic.jsonl").read_bytes()
    for headers in (NDJSON, JSON):  # JSON lines sent as application/json are recognised too
        r = hook.client.post(PATH, content=body, headers=headers)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["skipped"] == 3 and answer["inserted"] + answer["unchanged"] == 2
        assert answer["problems"][0] == {"record": "line 4", "reason": "not valid JSON"}


@pytest.mark.parametrize("headers, body, status, detail", [
    ({"Content-Type": "application/json"}, b"[]", 401, "missing Authorization header"),
    ({**JSON, "Authorization": f"Bearer {AGENT_TOKEN}"}, b"[]", 401, "not a valid support token"),
    ({**JSON, "Authorization": f"Bearer {ADMIN_TOKEN}"}, b"[]", 401, "not a valid support token"),
    ({**JSON, "Content-Type": "text/csv"}, b"id,opened_at\n", 415, "Content-Type must be one of"),
    ({**JSON, "Content-Encoding": "br"}, b"[]", 415, "unsupported Content-Encoding"),
    ({**JSON, "Content-Encoding": "gzip"}, b"[]", 400, "not valid gzip"),
    (JSON, b"", 400, "the body is empty"),
    (JSON, b"[{", 400, "not valid JSON"),
    (JSON, b"[" * 50_000 + b"]" * 50_000, 400, "nested too deeply"),
    (JSON, b"\xff[]", 400, "not UTF-8"),
    (JSON, b"x" * 200_001, 413, "larger than the limit"),
    ({**JSON, "Content-Encoding": "gzip"}, gzip.compress(b" " * 300_000), 413, "decompressed body is larger"),
    (JSON, json.dumps([{"id": str(i), "opened_at": 1796025600} for i in range(1_001)],
                      separators=(",", ":")).encode(), 413, "more than 1000 records"),
    (JSON, b'[{"summary": "no id"}, 5, null, "x", [1]]', 422, "none of the 5 records could be read"),
    (JSON, b'{"id": "a", "opened_at": 1e999}', 422, "none of the 1 records"),
    (JSON, b'[{"id": "a\\u0000b", "opened_at": 1796025600}]', 422, "none of the 1 records"),
    (JSON, b'[{"id": "a", "opened_at": 1' + b"0" * 5000 + b"}]", 400, "Integer value out of range"),
])
def test_refusals_are_4xx_with_a_detail_and_store_nothing(hook, headers, body, status, detail):
    if status == 413 and body.startswith(b"[{"):
        hook.config.collector.max_body_bytes = 5_000_000  # the record bound, not the size bound
    r = hook.client.post(PATH, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert detail in json.dumps(r.json()["detail"]), r.text
    assert _rows(hook.engine) == {}


def test_off_without_support_tokens(api):
    r = api.client.post(PATH, content=b"[]", headers=JSON)
    assert r.status_code == 401 and "support token" in r.json()["detail"]


def test_a_bad_source_name_is_a_400(hook):
    r = hook.client.post(PATH, params={"source": "Not OK"}, content=b"[]", headers=JSON)
    assert r.status_code == 400 and "source must be" in r.json()["detail"]


def test_env_and_token_checks():
    from collector.config import require_tokens

    config = parse_config({}, env={"HINDER_SUPPORT_TOKEN": "s-token-0001, s-token-0002",
                                   "HINDER_AGENT_TOKEN": "a-token-0001", "HINDER_ADMIN_TOKEN": "b-token-0001"})
    assert config.collector.support_tokens == ["s-token-0001", "s-token-0002"]
    require_tokens(config.collector)
    from contract.settings import ConfigError

    for support in (["a-token-0001"], ["short"]):
        config.collector.support_tokens = support
        with pytest.raises(ConfigError):
            require_tokens(config.collector)


def test_serve_refuses_an_unreadable_identity_key_file(tmp_path):
    import subprocess
    import sys

    from contract.settings import EXIT_USAGE
    from tests.conftest import hinder_env

    config = tmp_path / "collector.toml"
    config.write_text(f'[support]\nidentity_key_file = "{tmp_path / "missing.key"}"\n')
    out = subprocess.run([sys.executable, "-m", "hinder", "collector", "serve", "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'h.db'}", "--agent-token", AGENT_TOKEN, "--admin-token", ADMIN_TOKEN],
                         capture_output=True, text=True, env=hinder_env(), timeout=60)
    assert out.returncode == EXIT_USAGE and "support.identity_key_file" in out.stderr, out.stderr
