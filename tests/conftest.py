"""Shared fixtures: a real PostgreSQL server, database URLs for both backends, collector subprocesses.

- ``pg_server`` (session): a throw-away PostgreSQL cluster (initdb + pg_ctl,
  run as the ``postgres`` user when we are root) on a free loopback port;
  skips with a clear message when PostgreSQL is not installed.
- ``pg_url``: a fresh, empty database on that server for one test.
- ``db_url``: parametrized over ``sqlite`` and ``postgres``; ``db_engine``:
  the same, migrated to the newest schema. Storage tests use these so they
  run on both backends.
- ``collector_factory``: starts ``python -m hinder collector serve`` on a free
  port, waits for /healthz and returns a :class:`CollectorProcess` (URL,
  tokens, database, ``restart()`` on the same port and database, ``stop()``,
  ``kill()``, helpers for authenticated requests); everything it started is
  stopped at the end of the test. ``collector`` is one such process on SQLite.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENT_TOKEN = "test-agent-token-0001"
ADMIN_TOKEN = "test-admin-token-0001"
SUPPORT_TOKEN = "test-support-token-0001"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout_s: float = 30.0, interval_s: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def hinder_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m hinder` subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for key in ("HINDER_AGENT_TOKEN", "HINDER_ADMIN_TOKEN", "HINDER_SUPPORT_TOKEN", "HINDER_DB"):
        env.pop(key, None)
    env.update(extra)
    return env


# ------------------------------------------------------------------ PostgreSQL


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """A running throw-away PostgreSQL cluster."""

    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement in autocommit mode on the maintenance database."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for this test session (skips if PostgreSQL is not installed)."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; scripts/test does it as root)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="hinder-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root but runuser is missing: cannot start PostgreSQL as the postgres user")
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sockets, logfile = base / "data", base / "sock", base / "postgres.log"
    port = free_port()
    try:
        subprocess.run([*as_user, "mkdir", str(sockets)], check=True)
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True)
        opts = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off -c max_connections=200")
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(logfile),
                        "-w", "-t", "60", "start"], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text(errors="replace") if logfile.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}") from None
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    pg_server.admin(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hinder.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory) -> Path:
    """A SQLite file migrated to the newest schema once per session: db_engine's template."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    path = tmp_path_factory.mktemp("migrated") / "hinder.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_engine(request, db_url):
    """An engine on a database migrated to the newest schema (both backends). On SQLite, a copy of a file migrated
    once per session (:func:`sqlite_migrated`). On PostgreSQL the migration runs again: copying a migrated
    template database (CREATE DATABASE ... TEMPLATE) took twice as long here."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    if db_url.startswith("sqlite:///"):
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), db_url.removeprefix("sqlite:///"))
    engine = make_engine(db_url, busy_timeout_s=2.0)
    if not db_url.startswith("sqlite:///"):
        upgrade(engine)
    yield engine
    engine.dispose()


# ------------------------------------------------------------------ collector


@dataclass
class CollectorProcess:
    """A `hinder collector serve` subprocess."""

    port: int
    db: str
    workdir: Path
    args: list[str]
    agent_token: str = AGENT_TOKEN
    admin_token: str = ADMIN_TOKEN
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    starts: int = 0
    tls: ssl.SSLContext | None = None  # serving TLS (--tls-cert in args): what the test's own requests trust

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify`` for the test's own requests to this collector."""
        return self.tls or True

    def start(self, timeout_s: float = 60.0) -> "CollectorProcess":
        """Start (or restart) the process and wait until /healthz answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_path = self.workdir / f"collector-{self.starts}.log"
        cmd = [sys.executable, "-m", "hinder", "collector", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--db", self.db, "--agent-token", self.agent_token, "--admin-token", self.admin_token, *self.args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=hinder_env(**self.env), stdout=log,
                                         stderr=subprocess.STDOUT)

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2.0, verify=self.verify).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout_s, what=f"collector on {self.url} to be healthy")
        return self

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; return the exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        """SIGKILL: the collector dies without any cleanup."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> "CollectorProcess":
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def agent_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agent_token}", "Content-Type": "application/json"}

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def events(self, **params) -> list[dict]:
        """GET /api/v1/events with the admin token."""
        r = httpx.get(f"{self.url}/api/v1/events", params={"limit": 10000, **params}, headers=self.admin_headers(),
                      timeout=30, verify=self.verify)
        r.raise_for_status()
        return r.json()["events"]

    def devices(self) -> list[dict]:
        """GET /api/v1/devices with the admin token."""
        r = httpx.get(f"{self.url}/api/v1/devices", headers=self.admin_headers(), timeout=30, verify=self.verify)
        r.raise_for_status()
        return r.json()["devices"]

    def metrics(self) -> str:
        """The /metrics text."""
        r = httpx.get(f"{self.url}/metrics", timeout=30, verify=self.verify)
        r.raise_for_status()
        return r.text


@pytest.fixture
def collector_factory(tmp_path):
    """Start collector subprocesses: ``factory(db=None, port=None, config=None, args=(), env=None, tls=None)``.

    ``db`` defaults to a SQLite file in the test's tmp dir, ``config`` is TOML
    text written to a file passed with --config; ``tls``: the collector serves
    TLS (``--tls-cert`` in ``args`` or the config) and the test's own requests
    verify it with this SSL context. All are stopped at teardown.
    """
    started: list[CollectorProcess] = []

    def factory(db: str | None = None, port: int | None = None, config: str | None = None,
                args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                tls: ssl.SSLContext | None = None) -> CollectorProcess:
        workdir = tmp_path / f"collector-{len(started)}"
        workdir.mkdir()
        extra = list(args)
        if config is not None:
            (workdir / "collector.toml").write_text(config)
            extra += ["--config", str(workdir / "collector.toml")]
        proc = CollectorProcess(port=port or free_port(), db=db or f"sqlite:///{workdir / 'hinder.db'}",
                                workdir=workdir, args=extra, env=env or {}, tls=tls)
        started.append(proc)
        return proc.start()

    yield factory
    for proc in started:
        proc.kill()


@pytest.fixture
def collector(collector_factory) -> CollectorProcess:
    """A running collector on a fresh SQLite database."""
    return collector_factory()


@pytest.fixture(scope="session")
def test_program(tmp_path_factory):
    """Build the C test program (tests/agent/sensors/fixtures/linux/crasher.c: crashes by a chosen signal,
    exits with a chosen status or waits in D state) under a given executable name; skips without gcc."""

    def _build(name: str) -> Path:
        if not shutil.which("gcc"):
            pytest.skip("gcc is needed to build the C test program (apt-get install gcc)")
        path = tmp_path_factory.mktemp("bin") / f"{name}{os.getpid()}"
        subprocess.run(["gcc", "-O0", "-o", str(path), str(ROOT / "tests/agent/sensors/fixtures/linux/crasher.c")],
                       check=True)
        return path

    return _build


@contextlib.contextmanager
def crash_agent(workdir: Path, collector_url: str, apps_toml: str = ""):
    """A real `hinder agent run` with only its crash_proc sensor on, sending to ``collector_url`` (``apps_toml``: its
    ``[[apps]]`` tables, if any); yields once the sensor listens to the process connector, stops it after."""
    from agent.sensors import SENSORS

    lines = ["[agent]", "upload_interval_s = 1", "heartbeat_interval_s = 5", "backoff_initial_s = 0.2", apps_toml]
    for name in SENSORS:
        lines += [f"[sensors.{name}]", f"enabled = {'true' if name == 'crash_proc' else 'false'}"]
    config, log_path = workdir / "agent.toml", workdir / "agent.log"
    config.write_text("\n".join(lines) + "\n")
    with open(log_path, "wb") as log:
        agent = subprocess.Popen([sys.executable, "-m", "hinder", "agent", "run", "--config", str(config),
                                  "--state-dir", str(workdir / "state"), "--collector", collector_url],
                                 cwd=ROOT, env=hinder_env(HINDER_AGENT_TOKEN=AGENT_TOKEN),
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "crash source: process connector" in log_path.read_text(errors="replace"), 60,
                   what="the crash sensor to start")
        yield agent
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)


# Tests that share what a machine has one of (its processes, seen by the process connector; network namespaces and
# interfaces; X displays and D-Bus; CPU figures of the benchmarks) run on one xdist worker, one after the other;
# the others (databases, collectors, reports, Prometheus on their own ports and files) spread over the workers a
# module at a time, so that a module's fixtures (a simulated fleet behind a real Prometheus) are built once.
_MACHINE_WIDE = ("agent", "e2e", "bench")


def pytest_collection_modifyitems(config, items):
    """Give each test its xdist group (``--dist loadgroup``): ``machine`` for :data:`_MACHINE_WIDE`, else its
    module."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        item.add_marker(pytest.mark.xdist_group("machine" if parts[0] in _MACHINE_WIDE else "/".join(parts)))


def assert_promtool_clean(text: str) -> None:
    """Prometheus's own linter (`promtool check metrics`) finds nothing in an exposition: no error, no warning.

    Skips, naming the package, where promtool is not installed (CI installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/test installs it as root)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr
