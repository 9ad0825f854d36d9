"""`hinder simulate`: refuses bad input, prints the app catalogue, sends history then live rounds."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from hinder.simulate.fleet import APPS, Fleet
from tests.conftest import hinder_env


@pytest.mark.parametrize("args, complaint", [
    (["--days", "40"], "--days"),
    (["--end", "2026-13-01"], "--end"),
    (["--end", "2999-01-01T00:00:00Z"], "future"),
    ([], "token"),
])
def test_cli_refuses_bad_input_with_exit_code_2(args, complaint):
    env = hinder_env()
    out = subprocess.run([sys.executable, "-m", "hinder", "simulate", "--devices", "2", "--days", "1", *args]
                         + (["--token", "t"] if args else []), capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert complaint in out.stderr


def test_cli_prints_the_app_catalogue_for_the_collector():
    out = subprocess.run([sys.executable, "-m", "hinder", "simulate", "--apps"], capture_output=True, text=True,
                         env=hinder_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert tomllib.loads(out.stdout)["apps"] == [a.name for a in APPS]


def test_cli_sends_history_then_live_rounds(real_collector):
    collector = real_collector
    out = subprocess.run(
        [sys.executable, "-m", "hinder", "simulate", "--collector", collector.url, "--devices", "12", "--days", "0.5",
         "--seed", "9", "--live", "2", "--live-interval", "1"],
        capture_output=True, text=True, env=hinder_env(HINDER_AGENT_TOKEN=collector.agent_token), timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"sent \d+ batches: \d+ events, \d+ heartbeats, \d+ answers, \d+ app-time totals \(\d+ accepted, 0 duplicates", out.stdout), out.stdout
    devices = [d for d in collector.devices() if d["id"].startswith("sim-9-")]
    assert len(devices) == 12
    live = [d for d in Fleet(12, 0.5, seed=9).devices if d.silent_from is None]
    assert sum(d["state"] == "reporting" for d in devices) == len(live) >= 10
