"""`hinder support import`: a real process storing a file into a real database, idempotent, every refusal said."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa

from collector.db import make_engine
from collector.models import device_table, support_ticket_table
from contract.identity import identity_key
from contract.settings import EXIT_SOURCE, EXIT_USAGE
from tests.collector.support.itsm import FIXTURES
from tests.conftest import hinder_env

SECRET = b"fleet-identity-key-for-tests-0001"


def _hinder(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hinder", "support", *args], cwd=cwd, env=hinder_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def setup(tmp_path, db_url):
    key = tmp_path / "identity.key"
    key.write_bytes(SECRET + b"\n")
    config = tmp_path / "collector.toml"
    config.write_text(f'[support]\nidentity_key_file = "{key}"\n')
    return tmp_path, config, db_url


def _rows(db_url: str) -> dict[str, dict]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {r["ticket_id"]: dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}
    finally:
        engine.dispose()


def test_import_stores_joins_and_is_idempotent(setup):
    tmp_path, config, db_url = setup
    # a device that sent its keys before the import: the ticket naming its host is joined to it
    from collector.migrations import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(device_table.insert().values(
            id="dev-0042", first_seen=1796000000.0, last_seen=1796000000.0, os="windows", os_version="10",
            agent_version="0.1.0", site="Paris-HQ", department="Sales-EMEA", spool_dropped_total=0, rejected_total=0,
            sensor_errors_total=0, last_details={}, host_key=identity_key(SECRET, "host", "PC-0042")))
    engine.dispose()
    csv = tmp_path / "tickets.csv"
    shutil.copy(FIXTURES / "generic.csv", csv)

    first = _hinder("import", str(csv), "--config", str(config), "--db", db_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 inserted, 0 updated, 0 unchanged, 2 skipped" in first.stdout
    assert "skipped row 5: opened_at is not a time" in first.stdout and "skipped row 6: no id" in first.stdout
    assert "columns not read: summary" in first.stdout
    rows = _rows(db_url)
    assert set(rows) == {"INC0010001", "INC0010002", "INC0010003"}
    joined = rows["INC0010001"]
    assert (joined["source"], joined["device_id"], joined["site"], joined["department"]) == (
        "import", "dev-0042", "Paris-HQ", "Sales-EMEA")
    assert rows["INC0010002"]["device_id"] is None and rows["INC0010002"]["site"] == "Lyon"
    # no name in clear reaches the database
    assert "jdoe" not in repr(rows).lower() and "pc-0042" not in repr(rows).lower()

    again = _hinder("import", str(csv), "--config", str(config), "--db", db_url, cwd=tmp_path)
    assert "0 inserted, 0 updated, 3 unchanged, 2 skipped" in again.stdout, again.stdout

    csv.write_text(csv.read_text(encoding="utf-8-sig").replace("2026-11-30 15:00:00,,E-mail",
                                                               "2026-11-30 16:00:00,2026-11-30 16:00:00,E-mail"))
    changed = _hinder("import", str(csv), "--config", str(config), "--db", db_url, cwd=tmp_path)
    assert "0 inserted, 1 updated, 2 unchanged" in changed.stdout, changed.stdout
    assert _rows(db_url)["INC0010002"]["resolved_at"] == 1796054400.0


def test_jsonl_under_another_source(setup):
    tmp_path, config, db_url = setup
    result = _hinder("import", str(FIXTURES / "generic.jsonl"), "--source", "legacy-sd", "--format", "jsonl",
                     "--config", str(config), "--db", db_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 inserted" in result.stdout and "skipped line 4: not valid JSON" in result.stdout
    assert {r["source"] for r in _rows(db_url).values()} == {"legacy-sd"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_refusals_have_exit_codes_and_store_nothing(setup):
    tmp_path, config, db_url = setup
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"summary,when\nx,y\n")
    cases = [
        (("import", str(bad)), EXIT_USAGE, "has no id or opened_at column; "),
        (("import", str(tmp_path / "missing.csv")), EXIT_USAGE, "cannot read"),
        (("import", str(bad), "--format", "xml"), EXIT_USAGE, "--format must be one of"),
        (("import", str(bad), "--source", "Bad Name"), EXIT_USAGE, "--source 'Bad Name'"),
    ]
    for args, code, message in cases:
        result = _hinder(*args, "--config", str(config), "--db", db_url, cwd=tmp_path)
        assert result.returncode == code and message in result.stderr, (args, result.stderr)
    key_missing = tmp_path / "nokey.toml"
    key_missing.write_text(f'[support]\nidentity_key_file = "{tmp_path / "nope.key"}"\n')
    result = _hinder("import", str(FIXTURES / "generic.csv"), "--config", str(key_missing), "--db", db_url,
                     cwd=tmp_path)
    assert result.returncode == EXIT_USAGE and "support.identity_key_file" in result.stderr
    result = _hinder("import", str(FIXTURES / "generic.csv"), "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x",
                     cwd=tmp_path)
    assert result.returncode == EXIT_SOURCE
    assert not (tmp_path / "hinder.db").exists() or not _rows(db_url)


def test_without_identity_key_names_are_not_joined(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    result = _hinder("import", str(FIXTURES / "generic.csv"), "--db", db_url, cwd=tmp_path)
    assert result.returncode == 0 and "2 tickets name a host, asset or account in clear" in result.stdout
    assert all(r["host_key"] is None and r["account_key"] is None for r in _rows(db_url).values())


def test_a_large_file_is_stored_in_chunks(tmp_path):
    import json

    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(json.dumps({"id": f"T{i}", "opened_at": 1796025600 + i, "channel": "chat"})
                             for i in range(2500)))
    result = _hinder("import", str(big), "--db", db_url, cwd=tmp_path)
    assert result.returncode == 0 and "2500 inserted, 0 updated, 0 unchanged, 0 skipped" in result.stdout, result
    assert len(_rows(db_url)) == 2500
