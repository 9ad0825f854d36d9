"""`hinder up`: hinder on its embedded default, a collector on SQLite and a local agent.

Everything lives in one directory (default ``./.hinder``): the SQLite database,
the generated tokens and identity key, an editable agent config and the agent's
state. With a demo fleet, its service-desk tickets reach the collector's
webhook with the generated support token and join the simulated devices by
their identity keys. Both
parts run as child processes of this command; Ctrl-C or SIGTERM stops the
agent cleanly first, then the collector.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx

_AGENT_TOML = """\
# Agent configuration written by `hinder up`; edit and restart to change it.
# Reference: docs/agent.md and docs/sensors.md.
[agent]
site = "local"
department = "local"
heartbeat_interval_s = 30
upload_interval_s = 5

# Catalogue your business applications here, for example:
# [[apps]]
# name = "Intranet"
# executables = ["firefox"]
# urls = ["https://intranet.example.com/health"]
# slow_threshold_s = 2.0

# The pulse: after a crash of a catalogued application (or a long hang or outage) ask the employee, with a
# desktop notification, whether it cost them work; at most once a day, never in do-not-disturb (docs/pulse.md).
# [pulse]
# enabled = true
"""


_COLLECTOR_TOML = """\
# Collector configuration written by `hinder up`; edit and restart to change it.
# Reference: docs/collector.md, docs/impact-model.md, docs/report.md.
# Application names allowed as Prometheus labels (others are exported as "other"):
{apps}

[support]
# the fleet's identity key: joins service-desk tickets to devices (docs/support.md)
identity_key_file = "{key}"
"""


def _collector_config(directory: Path, demo_fleet: int) -> Path:
    """Write the collector config on first use; with a demo fleet, catalogue the simulated apps.

    A file someone edited is never overwritten: with a demo fleet whose apps
    it lacks, a hint says what to add.
    """
    from hinder.simulate.fleet import Fleet

    path = directory / "collector.toml"
    key = _identity_key(directory)
    plain, demo = (_COLLECTOR_TOML.format(apps=apps.strip(), key=key) for apps in ("apps = []\n", Fleet.apps_toml()))
    text = path.read_text(encoding="utf-8") if path.exists() else None
    if text is None or (demo_fleet and text in (plain, demo)):
        path.write_text(demo if demo_fleet else plain, encoding="utf-8")
    elif demo_fleet and set(Fleet.app_names()) - set(tomllib.loads(text).get("apps", [])):
        print(f"note: {path} was edited, so it is kept; for the demo fleet's applications to show by name, "
              f"add them to its apps list: {Fleet.apps_toml().strip()}", file=sys.stderr)
    return path


def _command() -> str:
    """How to run `hinder` from a shell: the installed script beside this interpreter, else `python -m hinder`."""
    script = Path(sys.executable).parent / "hinder"
    return str(script) if script.exists() else f"{sys.executable} -m hinder"


def _private(path: Path, text: str) -> None:
    """Write a file only its owner may read (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _tokens(directory: Path) -> dict[str, str]:
    """Read the demo tokens, creating those missing on first use (file mode 0600)."""
    path = directory / "tokens.toml"
    tokens = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = [k for k in ("agent_token", "admin_token", "support_token") if k not in tokens]
    if missing:
        tokens.update({k: secrets.token_urlsafe(24) for k in missing})
        _private(path, "".join(f'{k} = "{v}"\n' for k, v in tokens.items()))
    return tokens


def _identity_key(directory: Path) -> Path:
    """The fleet's identity key file, created on first use (mode 0600)."""
    path = directory / "identity.key"
    if not path.exists():
        _private(path, secrets.token_hex(32) + "\n")
    return path


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the collector exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the collector did not become healthy within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen | None, timeout_s: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(directory: Path, host: str, port: int, seconds: float | None = None, demo_fleet: int = 0) -> int:
    """Start collector and agent, print where to look, and supervise both. Returns an exit code.

    With ``demo_fleet`` > 0, a simulated fleet of that many devices also sends
    two weeks of history, so dashboards and the weekly report have data.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    tokens = _tokens(directory)
    agent_config = directory / "agent.toml"
    if not agent_config.exists():
        agent_config.write_text(_AGENT_TOML, encoding="utf-8")
    collector_config = _collector_config(directory, demo_fleet)
    url = f"http://{host}:{port}"
    env = dict(os.environ, HINDER_AGENT_TOKEN=tokens["agent_token"], HINDER_ADMIN_TOKEN=tokens["admin_token"],
               HINDER_SUPPORT_TOKEN=tokens["support_token"])
    hinder = [sys.executable, "-m", "hinder"]

    stop_requested = False

    def _on_signal(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    collector = agent = None
    try:
        collector = subprocess.Popen(
            hinder + ["collector", "serve", "--host", host, "--port", str(port), "--config", str(collector_config),
                      "--db", f"sqlite:///{directory / 'hinder.db'}"],
            env=env, cwd=directory, start_new_session=True)
        _wait_healthy(url, collector)
        agent = subprocess.Popen(
            hinder + ["agent", "run", "--collector", url, "--state-dir", str(directory / "agent"), "--config", str(agent_config)],
            env=env, cwd=directory, start_new_session=True)
        if demo_fleet:
            print(f"sending two weeks of a simulated fleet of {demo_fleet} devices ...", flush=True)
            subprocess.run(hinder + ["simulate", "--collector", url, "--devices", str(demo_fleet), "--days", "14",
                                     "--identity-key-file", str(_identity_key(directory))],
                           env=env, cwd=directory, check=False)
        db_url = f"sqlite:///{directory / 'hinder.db'}"
        cmd = _command()
        print(
            f"\nhinder is running (data in {directory})\n"
            f"  collector   {url}\n"
            f"  metrics     {url}/metrics\n"
            f"  events      curl -H 'Authorization: Bearer {tokens['admin_token']}' {url}/api/v1/events\n"
            f"  agent       config {agent_config}; `{cmd} agent explain --config {agent_config}` shows what it sends\n"
            f"  report      {cmd} report weekly --db {db_url} --config {collector_config} --format html --out report.html\n"
            f"  tickets     {cmd} support import FILE --db {db_url} --config {collector_config}, or POST them to "
            f"{url}/api/v1/support/tickets with the support token\n"
            f"  tokens      {directory / 'tokens.toml'}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        deadline = None if seconds is None else time.monotonic() + seconds
        while not stop_requested and (deadline is None or time.monotonic() < deadline):
            for name, proc in (("collector", collector), ("agent", agent)):
                if proc.poll() is not None:
                    print(f"hinder up: the {name} exited with status {proc.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"hinder up: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop(agent)
        _stop(collector)
