"""`hinder up`, the README's first command: a collector on SQLite and a local agent."""

import subprocess
import sys
import tomllib

import httpx

from tests.conftest import free_port, hinder_env, wait_until


def test_up_runs_collector_and_agent_and_stops_cleanly(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hinder", "up", "--dir", str(tmp_path / "h"), "--port", str(port),
                             "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=hinder_env())
    try:
        url = f"http://127.0.0.1:{port}"
        tokens = tomllib.loads(wait_until(lambda: (tmp_path / "h" / "tokens.toml").exists()
                                          and (tmp_path / "h" / "tokens.toml").read_text(), what="tokens"))
        admin = {"Authorization": f"Bearer {tokens['admin_token']}"}

        def _agent_reported():
            try:
                devices = httpx.get(f"{url}/api/v1/devices", headers=admin, timeout=2).json()["devices"]
            except (httpx.HTTPError, ValueError, KeyError):
                return None
            return devices

        devices = wait_until(_agent_reported, timeout_s=60, interval_s=0.5, what="the local agent's first heartbeat")
        assert devices[0]["site"] == "local"
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert 'hinder_devices{' in metrics
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/metrics" in out
    assert "stopped cleanly" in out
    run = (tmp_path / "h" / "agent" / "run.json").read_text()
    assert '"clean_stop": true' in run


def test_collector_config_is_written_once_and_edits_are_kept(tmp_path, capsys):
    import tomllib

    from hinder.simulate.fleet import Fleet
    from hinder.up import _collector_config

    apps = lambda: tomllib.loads((tmp_path / "collector.toml").read_text())["apps"]  # noqa: E731
    _collector_config(tmp_path, demo_fleet=0)
    assert apps() == []
    _collector_config(tmp_path, demo_fleet=50)  # untouched: the demo's applications are catalogued
    assert apps() == Fleet.app_names()
    path = tmp_path / "collector.toml"
    path.write_text('apps = ["Intranet"]\n[collector]\nretention_days = 30\n')
    _collector_config(tmp_path, demo_fleet=50)  # edited: kept, with a hint
    assert path.read_text() == 'apps = ["Intranet"]\n[collector]\nretention_days = 30\n'
    assert "was edited, so it is kept" in capsys.readouterr().err
