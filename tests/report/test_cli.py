"""`hinder report weekly` as a subprocess: outputs and the exit codes scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ADMIN_TOKEN, free_port, hinder_env
from tests.report import dataset as ds
from tests.report.conftest import need_chromium


def _run(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "hinder", "report", "weekly", *args], capture_output=True,
                          env=hinder_env(**(env or {})), timeout=timeout)


@pytest.fixture
def db_file(sqlite_filled):
    return sqlite_filled


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "collector.toml"
    model = ds.CONFIG["model"]
    report = ds.CONFIG["report"]
    path.write_text(
        f"apps = {json.dumps(ds.APPS)}\n[model]\ncrash_recovery_s = {model['crash_recovery_s']}\n"
        f"hourly_cost = {model['hourly_cost']}\ndepartment_hourly_cost = {{ Sales = 90.0 }}\n"
        f"[report]\ncompany = \"{report['company']}\"\nrepeat_threshold = 2\n")
    return path


def test_json_to_stdout_and_file(db_file, config_file, tmp_path):
    r = _run("--db", db_file, "--config", str(config_file), "--week", ds.WEEK, "--format", "json")
    assert r.returncode == 0, r.stderr.decode()
    report = json.loads(r.stdout)
    assert report["totals"]["lost_seconds"] == pytest.approx(ds.EXPECTED["lost_seconds"])
    assert report["totals"]["cost"] == pytest.approx(ds.EXPECTED["cost"])
    assert report["model_version"] == "3"
    r = _run("--db", db_file, "--config", str(config_file), "--week", ds.WEEK, "--format", "json", "--model", "1")
    assert r.returncode == 0 and json.loads(r.stdout)["model_version"] == "1"
    out = tmp_path / "week.md"
    r = _run("--db", db_file, "--config", str(config_file), "--week", ds.WEEK, "--format", "md", "--out", str(out))
    assert r.returncode == 0 and out.read_text().startswith("# Example Corp")
    assert b"wrote the md report for 2026-W45" in r.stderr


def test_usage_errors_exit_2(db_file, tmp_path):
    r = _run("--db", db_file, "--week", "2026-47")
    assert r.returncode == 2 and b"expected an ISO week like 2026-W47" in r.stderr
    for week in ("0001-W01", "9999-W52"):  # were tracebacks (OverflowError)
        r = _run("--db", db_file, "--week", week)
        assert r.returncode == 2 and b"year must be from 1970 to 9998" in r.stderr
    r = _run("--db", db_file, "--format", "docx")
    assert r.returncode == 2 and b"expected one of" in r.stderr
    r = _run("--db", db_file, "--model", "4")
    assert r.returncode == 2 and b"--model '4': expected one of 1, 2, 3" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[report]\nmin_group = 3\n")
    r = _run("--db", db_file, "--config", str(bad))
    assert r.returncode == 2 and b"report.min_group: unknown key (did you mean 'min_group_size'?)" in r.stderr
    r = _run("--db", db_file, "--collector", "http://127.0.0.1:9")
    assert r.returncode == 2


def test_source_errors_exit_3(tmp_path):
    r = _run("--db", f"sqlite:///{tmp_path / 'missing.db'}", "--week", ds.WEEK)
    assert r.returncode == 3 and b"no collector database" in r.stderr
    assert not (tmp_path / "missing.db").exists(), "a typo in the path must not create an empty database"
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    r = _run("--db", f"sqlite:///{empty}", "--week", ds.WEEK)
    assert r.returncode == 3 and b"no hinder schema" in r.stderr
    r = _run("--db", f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none", "--week", ds.WEEK, timeout=120)
    assert r.returncode == 3 and b"cannot read the database" in r.stderr
    r = _run("--collector", f"http://127.0.0.1:{free_port()}", "--admin-token", ADMIN_TOKEN, "--week", ds.WEEK)
    assert r.returncode == 3 and b"cannot reach the collector" in r.stderr


def test_output_errors_exit_4(db_file, tmp_path):
    r = _run("--db", db_file, "--week", ds.WEEK, "--format", "pdf", "--out", str(tmp_path / "r.pdf"),
             env={"HINDER_CHROMIUM": "/nonexistent/chromium"})
    assert r.returncode == 4 and b"HINDER_CHROMIUM" in r.stderr
    r = _run("--db", db_file, "--week", ds.WEEK, "--out", str(tmp_path / "missing-dir" / "r.html"))
    assert r.returncode == 4 and b"cannot write" in r.stderr
    r = _run("--db", db_file, "--week", ds.WEEK, "--mail-to", "cio@example.org", "--smtp-host", "127.0.0.1",
             "--smtp-port", str(free_port()), "--no-pdf")
    assert r.returncode == 4 and b"failed" in r.stderr


def test_from_a_running_collector(collector_factory, db_file, tmp_path):
    need_chromium()
    proc = collector_factory(db=db_file)
    r = _run("--collector", proc.url, "--week", ds.WEEK, "--format", "pdf", "--out", str(tmp_path / "r.pdf"),
             env={"HINDER_ADMIN_TOKEN": ADMIN_TOKEN})
    assert r.returncode == 0, r.stderr.decode()
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    r = _run("--collector", proc.url, "--week", ds.WEEK, "--admin-token", "wrong-token-123")
    assert r.returncode == 3 and b"401" in r.stderr
