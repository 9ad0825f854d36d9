"""Agent configuration: a TOML file, then environment variables, then flags.

The file has an ``[agent]`` table, an application catalogue (``[[apps]]``),
one ``[sensors.NAME]`` table per sensor and the employee pulse's ``[pulse]``
(agent/pulse/settings.py); each sensor declares its own settings as a
dataclass (``Sensor.Config``), so adding a sensor never touches this module.
Every key is checked: an unknown key, a wrong type or a value out of range
raises ConfigError naming the key, and the agent does not start.

Environment variables: ``HINDER_AGENT_TOKEN``, ``HINDER_COLLECTOR_URL``,
``HINDER_STATE_DIR``, ``HINDER_SITE``, ``HINDER_DEPARTMENT``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

from agent.catalogue import App, Catalogue
from agent.pulse.settings import PulseSettings
from agent.sensors import SENSORS
from agent.tls import check_ca_bundle
from contract.settings import ConfigError, load_section, read_toml, setting


@dataclass
class AgentSettings:
    """The ``[agent]`` table."""

    collector: str = setting("http://127.0.0.1:8739", url=True, doc="collector base URL")
    token: str = setting("", doc="agent token (prefer HINDER_AGENT_TOKEN)")
    state_dir: str = setting("", doc="where the spool, device id and sensor state live")
    site: str = setting("unknown", doc="site label set by IT at deployment")
    department: str = setting("unknown", doc="department label set by IT at deployment")
    heartbeat_interval_s: float = setting(60.0, min=1, max=3600)
    upload_interval_s: float = setting(10.0, min=1, max=3600)
    upload_batch_size: int = setting(500, min=1, max=5000)
    upload_max_rate: float = setting(500.0, min=1, doc="records per second while draining a backlog")
    upload_timeout_s: float = setting(30.0, min=1, max=600)
    backoff_initial_s: float = setting(1.0, min=0.1, max=600)
    backoff_max_s: float = setting(300.0, min=1, max=86400)
    spool_max_bytes: int = setting(50_000_000, min=10_000, doc="spool size bound; oldest records dropped beyond it")
    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    ca_bundle: str = setting("", doc="PEM file of the CAs whose certificates the agent trusts for https, instead of "
                             "the operating system's trust store (default)")
    isolate_after_server_errors: int = setting(3, min=1, max=100, doc="5xx answers in a row to one batch before the "
                                               "uploader splits it to find a record the collector fails on")
    # device credential (agent/enroll.py, docs/security.md)
    enroll_retry_s: float = setting(3600.0, min=1, max=86400, doc="after an enrollment that did not give a "
                                    "credential (a collector that predates them, a refusal), wait this long to retry")
    # identity keys (agent/identity.py, docs/agent.md): keyed hashes that join service-desk tickets to the device
    identity: list[str] = setting(default_factory=list, doc="which keyed hashes heartbeats carry: any of host, "
                                  "asset, account (default none)")
    identity_key_file: str = setting("", doc="file holding the fleet's identity key, the same as the collector's "
                                     "[support] identity_key_file; needed when identity is not empty")


@dataclass
class AgentConfig:
    """The whole agent configuration."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    apps: list[App] = field(default_factory=list)
    sensors: dict[str, Any] = field(default_factory=dict)  # sensor name -> its Config instance
    pulse: PulseSettings = field(default_factory=PulseSettings)

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.apps)


_ENV = {
    "HINDER_AGENT_TOKEN": "token",
    "HINDER_COLLECTOR_URL": "collector",
    "HINDER_STATE_DIR": "state_dir",
    "HINDER_SITE": "site",
    "HINDER_DEPARTMENT": "department",
}


def default_state_dir() -> str:
    """Per-OS default place for the agent's state."""
    if os.name == "nt":
        return os.path.join(os.environ.get("PROGRAMDATA", r"C:\ProgramData"), "hinder")
    if os.geteuid() == 0:
        return "/var/lib/hinder"
    return os.path.join(os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state")), "hinder")


def _check_identity(settings: AgentSettings) -> None:
    from contract.identity import KINDS

    for kind in settings.identity:
        if kind not in KINDS:
            raise ConfigError(f"agent.identity: {kind!r} is not one of {', '.join(KINDS)}")
    if len(set(settings.identity)) != len(settings.identity):
        raise ConfigError("agent.identity: each kind at most once")
    if settings.identity and not settings.identity_key_file:
        raise ConfigError("agent.identity_key_file: needed to send identity keys (agent.identity is not empty)")


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> AgentConfig:
    """Load the agent config: file, then environment, then ``overrides`` (flags)."""
    data = read_toml(path) if path else {}
    for key in data:
        if key not in ("agent", "apps", "sensors", "pulse"):
            raise ConfigError(f"{key}: unknown table (expected agent, apps, sensors or pulse)")
    agent_table = dict(data.get("agent", {}))
    env = os.environ if env is None else env
    for var, key in _ENV.items():
        if env.get(var):
            agent_table[key] = env[var]
    for key, value in (overrides or {}).items():
        if value is not None:
            agent_table[key] = value
    settings = load_section(AgentSettings, agent_table, "agent")
    if settings.ca_bundle:
        check_ca_bundle(settings.ca_bundle)
    _check_identity(settings)
    if not settings.state_dir:
        settings.state_dir = default_state_dir()

    raw_apps = data.get("apps", [])
    if not isinstance(raw_apps, list):
        raise ConfigError("apps: must be an array of tables ([[apps]])")
    apps = [load_section(App, a, f"apps[{i}]") for i, a in enumerate(raw_apps)]
    names = [a.name for a in apps]
    if len(set(names)) != len(names):
        raise ConfigError("apps: application names must be unique")

    raw_sensors = data.get("sensors", {})
    if not isinstance(raw_sensors, dict):
        raise ConfigError("sensors: must be a table")
    for name in raw_sensors:
        if name not in SENSORS:
            close = difflib.get_close_matches(name, SENSORS, n=1)
            raise ConfigError(f"sensors.{name}: unknown sensor" + (f" (did you mean '{close[0]}'?)" if close else "")
                              + f"; known: {', '.join(sorted(SENSORS))}")
    sensors = {name: load_section(cls.Config, raw_sensors.get(name), f"sensors.{name}") for name, cls in SENSORS.items()}
    pulse = load_section(PulseSettings, data.get("pulse"), "pulse")
    return AgentConfig(agent=settings, apps=apps, sensors=sensors, pulse=pulse)
