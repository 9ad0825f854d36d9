"""`hinder agent run/status`: configuration errors exit 2 naming the key, SIGTERM stops cleanly with 0."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.spool import Spool

ROOT = Path(__file__).resolve().parents[2]


def _hinder(*args, env=None, **kw):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HINDER_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "hinder", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=60, **kw)


@pytest.mark.parametrize("command", ["run", "explain"])
def test_config_error_exits_2_naming_the_key(tmp_path, command):
    bad = tmp_path / "agent.toml"
    bad.write_text("[agent]\nsiet = 'Paris'\n")
    out = _hinder("agent", command, "--config", str(bad), "--state-dir", str(tmp_path / "s")) if command == "run" \
        else _hinder("agent", command, "--config", str(bad))
    assert out.returncode == 2
    assert "agent.siet: unknown key (did you mean 'site'?)" in out.stderr


def test_bad_flag_value_exits_2_naming_the_key(tmp_path):
    out = _hinder("agent", "run", "--collector", "ftp://nowhere", "--token", "t", "--state-dir", str(tmp_path))
    assert out.returncode == 2 and "agent.collector" in out.stderr


def test_missing_token_exits_2(tmp_path):
    out = _hinder("agent", "run", "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2 and "agent.token: missing" in out.stderr


def test_unusable_state_dir_exits_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = _hinder("agent", "run", "--token", "t", "--state-dir", str(blocker / "state"))
    assert out.returncode == 1 and "cannot use state directory" in out.stderr


def test_status_without_state_exits_1(tmp_path):
    out = _hinder("agent", "status", "--state-dir", str(tmp_path))
    assert out.returncode == 1 and "no agent state" in out.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signal_and_status_reports_the_spool(tmp_path, sig):
    cfg = tmp_path / "agent.toml"
    cfg.write_text("[agent]\nheartbeat_interval_s = 1\nbackoff_initial_s = 1\nsite = 'Nantes'\ndepartment = 'Legal'\n"
                   "[sensors.test]\nenabled = true\ninterval_s = 1\n")
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDER_")}
    env.update(HINDER_AGENT_TOKEN="t", HINDER_SITE="Paris", HINDER_DEPARTMENT="Finance")
    proc = subprocess.Popen([sys.executable, "-m", "hinder", "agent", "run", "--config", str(cfg), "--state-dir",
                             str(state), "--collector", "http://127.0.0.1:9", "--site", "Lyon"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = _hinder("agent", "status", "--state-dir", str(state), "--json")
            if status.returncode == 0 and json.loads(status.stdout)["spool_records"] >= 3:
                break
            time.sleep(0.2)
        if sys.platform.startswith("linux"):  # the exec'd daemon runs with one malloc arena (agent/daemon.py)
            assert b"\0MALLOC_ARENA_MAX=1\0" in b"\0" + Path(f"/proc/{proc.pid}/environ").read_bytes()
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "stopped cleanly" in stderr
    assert stderr.count("\n") < 20, stderr  # one line per notable thing, not per poll
    info = json.loads(_hinder("agent", "status", "--state-dir", str(state), "--json").stdout)
    assert info["spool_records"] >= 4 and info["spool_dropped_total"] == 0 and info["set_aside_records"] == 0
    assert info["last_run"]["clean_stop"] is True
    assert info["device_id"] == (state / "device_id").read_text().strip()
    assert info["device_credential"].startswith("none")  # no collector answered: not enrolled
    sp = Spool(state / "spool.sqlite3", max_bytes=10**8)
    heartbeats = [r.body for r in sp.peek(1000) if r.kind == "heartbeat"]
    sp.close()
    # the flag wins over the environment, which wins over the file
    assert {(h["site"], h["department"]) for h in heartbeats} == {("Lyon", "Finance")}
