"""Agent configuration: a TOML file, then environment variables, then flags.

The file has an ``[agent]`` table, an application catalogue (``[[apps]]``)
and one ``[sensors.NAME]`` table per sensor; each sensor declares its own
settings as a dataclass (``Sensor.Config``), so adding a sensor never touches
this module. Every key is checked: an unknown key, a wrong type or a value out
of range raises ConfigError naming the key, and the agent does not start.

Environment variables: ``HINDER_AGENT_TOKEN``, ``HINDER_COLLECTOR_URL``,
``HINDER_STATE_DIR``, ``HINDER_SITE``, ``HINDER_DEPARTMENT``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ntpath
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration problem, with the dotted key it concerns."""


# Exit codes of the agent's commands that scripts and service managers rely on (0 is success).
EXIT_FAILURE = 1  # the agent could not run (state directory unusable or taken)
EXIT_CONFIG = 2  # configuration or usage error; the message names the key


def setting(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None,
            choices: tuple | None = None, url: bool = False, doc: str = "", default_factory: Any = dataclasses.MISSING):
    """A dataclass field with bounds checked by :func:`load_section`."""
    meta = {"min": min, "max": max, "choices": choices, "url": url, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _check_url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {value!r} is not an http(s) URL")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list, got {type(value).__name__}")
        (inner,) = typing.get_args(hint)[:1] or (Any,)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: must be a table, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return load_section(hint, value, key)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    return value


def load_section(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking every key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{prefix}.{key}: unknown key{hint}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing")
            continue
        v = _coerce(data[name], hints[name], key)
        meta = f.metadata
        if meta.get("min") is not None and v is not None and v < meta["min"]:
            raise ConfigError(f"{key}: {v!r} is below the minimum {meta['min']}")
        if meta.get("max") is not None and v is not None and v > meta["max"]:
            raise ConfigError(f"{key}: {v!r} is above the maximum {meta['max']}")
        if meta.get("choices") and v not in meta["choices"]:
            raise ConfigError(f"{key}: {v!r} is not one of {', '.join(map(str, meta['choices']))}")
        if meta.get("url") and v:
            for i, u in enumerate(v if isinstance(v, list) else [v]):
                _check_url(u, key if not isinstance(v, list) else f"{key}[{i}]")
        values[name] = v
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{prefix}: {exc}") from None


@dataclass
class App:
    """One catalogued application: its name, executables, web front ends, thresholds."""

    name: str
    executables: list[str] = setting(default_factory=list, doc="executable base names, e.g. 'firefox' or 'OUTLOOK.EXE'")
    urls: list[str] = setting(default_factory=list, url=True, doc="web front ends or health endpoints to probe")
    slow_threshold_s: float = setting(2.0, min=0.01, max=600, doc="a probe slower than this is a slow response")
    start_threshold_s: float = setting(10.0, min=0.1, max=600, doc="a start slower than this is a slow start")
    hang_threshold_s: float = setting(10.0, min=1, max=3600, doc="a process stuck this long is hung")


class Catalogue:
    """Maps executables to catalogued application names."""

    def __init__(self, apps: list[App]):
        self.apps = apps
        self._by_exe = {exe.lower(): app for app in apps for exe in app.executables}

    @property
    def names_executables(self) -> bool:
        """Whether some catalogued app names its executables (else there are no processes to watch)."""
        return bool(self._by_exe)

    def lookup(self, exe: str | None) -> App | None:
        """The catalogued app owning this executable (path or base name), if any."""
        if not exe:
            return None
        base = ntpath.basename(exe.replace("/", "\\")).lower()
        return self._by_exe.get(base) or self._by_exe.get(base.removesuffix(".exe"))

    def app_name(self, exe: str | None) -> str:
        """The application name for an executable: catalogued name, else its base name."""
        app = self.lookup(exe)
        if app:
            return app.name
        return ntpath.basename((exe or "unknown").replace("/", "\\")) or "unknown"


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


@dataclass
class AgentConfig:
    """The whole agent configuration."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    apps: list[App] = field(default_factory=list)
    sensors: dict[str, Any] = field(default_factory=dict)  # sensor name -> its Config instance

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


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> AgentConfig:
    """Load the agent config: file, then environment, then ``overrides`` (flags)."""
    from agent.sensors import SENSORS  # the registry; imported here to avoid a cycle

    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in ("agent", "apps", "sensors"):
            raise ConfigError(f"{key}: unknown table (expected agent, apps or sensors)")
    agent_table = dict(data.get("agent", {}))
    env = os.environ if env is None else env
    for var, key in _ENV.items():
        if env.get(var):
            agent_table[key] = env[var]
    for key, value in (overrides or {}).items():
        if value is not None:
            agent_table[key] = value
    settings = load_section(AgentSettings, agent_table, "agent")
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
    return AgentConfig(agent=settings, apps=apps, sensors=sensors)
