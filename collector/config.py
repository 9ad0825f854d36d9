"""Collector configuration: a TOML file, then environment variables, then flags.

The file has a ``[collector]`` table, an ``apps`` list (the application names
allowed as Prometheus labels; any other app is exported as ``other``), optional
``sites`` and ``departments`` lists (the only values of those labels /metrics
exports by name; see :mod:`collector.labels`) and one
table per extension registered in :data:`SECTIONS` (``[model]``, ``[report]``
...). Every key is checked with the agent's strict loader: an unknown key, a
wrong type or a value out of range raises ConfigError naming the key.

Environment variables: ``HINDER_AGENT_TOKEN`` and ``HINDER_SUPPORT_TOKEN`` (comma-separated for several),
``HINDER_ADMIN_TOKEN``, ``HINDER_DB``.
"""

from __future__ import annotations

import difflib
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from contract.records import Limits
from contract.settings import ConfigError, load_section, read_toml, setting

# Further top-level tables of the collector config: table name -> dataclass,
# or "module:Class" to import it lazily. Extensions add one line here.
SECTIONS: dict[str, Any] = {
    "report": "collector.report.config:ReportSettings",
    "model": "collector.impact:ModelConfig",
    "support": "collector.support.config:SupportSettings",
    "changes": "collector.aggregates.changes:ChangeSettings",
}

OTHER_APP = "other"


@dataclass
class CollectorSettings:
    """The ``[collector]`` table."""

    db: str = setting("sqlite:///hinder.db", doc="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
    host: str = setting("127.0.0.1", doc="listen address")
    port: int = setting(8739, min=1, max=65535, doc="listen port")
    agent_tokens: list[str] = setting(default_factory=list, doc="tokens agents may ingest with (prefer HINDER_AGENT_TOKEN)")
    admin_token: str = setting("", doc="token for reading events and devices (prefer HINDER_ADMIN_TOKEN)")
    support_tokens: list[str] = setting(default_factory=list, doc="tokens a service desk may send tickets with "
                                        "(POST /api/v1/support/tickets; prefer HINDER_SUPPORT_TOKEN); none: off")
    max_body_bytes: int = setting(5_000_000, min=1_000, max=500_000_000, doc="request body limit, compressed and decompressed")
    max_events: int = setting(Limits.max_events, min=1, max=100_000, doc="events per batch")
    max_heartbeats: int = setting(Limits.max_heartbeats, min=1, max=10_000, doc="heartbeats per batch")
    max_future_s: float = setting(Limits.max_future_s, min=0, max=86400, doc="how far ahead of the collector a record may be")
    max_age_s: float = setting(Limits.max_age_s, min=60, max=400 * 86400, doc="how old a record may be")
    max_skew_s: float = setting(Limits.max_skew_s, min=0, max=400 * 86400,
                                doc="a device clock off by at most this much is corrected (docs/security.md, Clocks)")
    max_batches_per_s: float = setting(200.0, min=0, doc="per-process ingest rate bound (0: unbounded); beyond it 429")
    silent_after_s: float = setting(180.0, min=1, max=30 * 86400, doc="a device without heartbeat for this long is silent")
    retention_days: float = setting(90.0, min=1, max=3650,
                                    doc="per-device data (events, heartbeats, their hourly figures) older than this is deleted")
    db_busy_timeout_s: float = setting(5.0, min=0, max=600, doc="SQLite: how long a write waits for a lock before 503")
    max_query_limit: int = setting(10_000, min=1, max=1_000_000, doc="largest `limit` of GET /api/v1/events")
    background_jobs: bool = setting(True, doc="run retention, the impact refresh and the support sources' polling "
                                    "in this process; replicas that only ingest may turn it off if another replica "
                                    "keeps it on")
    log_level: str = setting("info", choices=("debug", "info", "warning", "error"))
    tls_cert: str = setting("", doc="PEM certificate (chain) to serve HTTPS with, beside tls_key; empty: plain HTTP")
    tls_key: str = setting("", doc="PEM private key of tls_cert")
    trusted_proxies: list[str] = setting(default_factory=list, doc="addresses or networks (CIDR) of reverse proxies "
                                         "whose X-Forwarded-For and X-Forwarded-Proto are believed; default none")
    api_docs: bool = setting(False, doc="serve the API's description (/openapi.json) and Swagger UI (/docs, from a "
                             "CDN); off in production: docs/security.md")
    # Labels an agent chooses (collector.labels): how many values /metrics exports by name.
    max_label_values: int = setting(50, min=1, max=10_000,
                                    doc="sites, departments (when not listed), OS and agent versions exported by "
                                    "name: those reported by the most devices; the rest as 'other'")
    top_versions: int = setting(5, min=1, max=1_000, doc="versions of each catalogued or discovered application "
                                "exported by name: those with the most disruptions; the rest as 'other'")
    discovered_apps: int = setting(20, min=0, max=200, doc="uncatalogued executables exported by name "
                                   "(collector.aggregates.discover): those that lost the most time in the trailing "
                                   "week; the rest as 'other' (0: none)")
    # device credentials (docs/security.md)
    require_enrollment: bool = setting(False, doc="refuse batches sent with the fleet token: it is then good only "
                                       "for enrolling (false lets agents that predate enrollment keep delivering)")
    max_batches_per_device_per_s: float = setting(5.0, min=0, doc="per enrolled device ingest rate bound "
                                                  "(0: unbounded); beyond it 429, before the per-process bound")
    max_records_per_device_day: int = setting(5_000, min=100, max=1_000_000,
                                              doc="events, and heartbeats, of one device that may overlap one UTC "
                                              "day; a record beyond it is refused (422, named): collector.quota")

    @property
    def limits(self) -> Limits:
        """The wire-contract limits this collector enforces."""
        return Limits(max_events=self.max_events, max_heartbeats=self.max_heartbeats,
                      max_future_s=self.max_future_s, max_age_s=self.max_age_s, max_skew_s=self.max_skew_s)


@dataclass
class CollectorConfig:
    """The whole collector configuration."""

    collector: CollectorSettings = field(default_factory=CollectorSettings)
    apps: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # empty: the max_label_values sites with the most devices
    departments: list[str] = field(default_factory=list)  # likewise
    sections: dict[str, Any] = field(default_factory=dict)  # table name -> its dataclass instance

    def __post_init__(self) -> None:
        self._apps = frozenset(self.apps)

    def app_label(self, app: str) -> str:
        """The Prometheus label for an application: its name if catalogued, else ``other``."""
        return app if app in self._apps else OTHER_APP

    def section(self, name: str) -> Any:
        """The settings of an extension table, e.g. ``config.section("model")``."""
        return self.sections[name]


_ENV = {"HINDER_ADMIN_TOKEN": "admin_token", "HINDER_DB": "db"}


def _section_class(name: str) -> type:
    target = SECTIONS[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> CollectorConfig:
    """Load the collector config: file, then environment, then ``overrides`` (flags; None means unset)."""
    return parse_config(read_toml(path) if path else {}, overrides, env)


def parse_config(data: dict[str, Any], overrides: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> CollectorConfig:
    """Build the config from parsed TOML ``data``, then environment, then ``overrides``."""
    known = ("collector", *_LISTS, *SECTIONS)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise ConfigError(f"{key}: unknown table" + (f" (did you mean '{close[0]}'?)" if close else "")
                              + f"; known: {', '.join(known)}")
    table = dict(data.get("collector", {}))
    env = os.environ if env is None else env
    for var, key in _ENV.items():
        if env.get(var):
            table[key] = env[var]
    for var, key in (("HINDER_AGENT_TOKEN", "agent_tokens"), ("HINDER_SUPPORT_TOKEN", "support_tokens")):
        if env.get(var):
            table[key] = [t.strip() for t in env[var].split(",") if t.strip()]
    for key, value in (overrides or {}).items():
        if value is not None:
            table[key] = value
    settings = load_section(CollectorSettings, table, "collector")

    lists = {name: _label_list(name, data.get(name, []), example) for name, example in _LISTS.items()}
    sections = {name: load_section(_section_class(name), data.get(name), name) for name in SECTIONS}
    return CollectorConfig(collector=settings, **lists, sections=sections)


# The top-level lists of label values /metrics exports by name, with an example for the error message.
_LISTS = {"apps": '"firefox", "outlook"', "sites": '"Paris", "Lyon"', "departments": '"Finance", "Sales"'}


def _label_list(name: str, values: Any, example: str) -> list[str]:
    """A configured list of label values: non-empty names, ``other`` reserved for what is folded."""
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{name}: must be a list of names, e.g. {name} = [{example}]")
    if OTHER_APP in values:
        raise ConfigError(f"{name}: '{OTHER_APP}' is reserved for the values not listed")
    return list(values)


def require_tokens(settings: CollectorSettings) -> None:
    """Refuse to serve without an agent token and an admin token, saying how to set them."""
    missing = []
    if not settings.agent_tokens:
        missing.append("an agent token (--agent-token, HINDER_AGENT_TOKEN or collector.agent_tokens)")
    if not settings.admin_token:
        missing.append("an admin token (--admin-token, HINDER_ADMIN_TOKEN or collector.admin_token)")
    if settings.admin_token and settings.admin_token in settings.agent_tokens:
        missing.append("an admin token different from every agent token")
    if set(settings.support_tokens) & {*settings.agent_tokens, settings.admin_token}:
        missing.append("support tokens different from the agent and admin tokens")
    if any(len(t) < 8 for t in [*settings.agent_tokens, settings.admin_token, *settings.support_tokens] if t):
        missing.append("tokens of at least 8 characters (`hinder collector token` prints a good one)")
    if missing:
        raise ConfigError("the collector needs " + " and ".join(missing))


def check_transport(settings: CollectorSettings) -> None:
    """Refuse to serve with TLS files that cannot be used or a trusted proxy that is not an address or network."""
    import ipaddress

    for i, proxy in enumerate(settings.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"collector.trusted_proxies[{i}]: {proxy!r} is not an IP address or network "
                              "(e.g. 10.0.0.5 or 10.0.0.0/24)") from None
    if not settings.tls_cert and not settings.tls_key:
        return
    if not settings.tls_cert or not settings.tls_key:
        raise ConfigError("collector.tls_cert and collector.tls_key (--tls-cert, --tls-key) go together: "
                          "set both or neither")
    for key in ("tls_cert", "tls_key"):
        path = getattr(settings, key)
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"collector.{key}: cannot read {path}: {exc.strerror or exc}") from None
    import ssl

    try:
        # an empty password: an encrypted key fails here instead of asking for a pass phrase on the terminal
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.tls_cert, settings.tls_key, password=lambda: "")
    except ssl.SSLError as exc:
        why = ("the key does not belong to the certificate" if "KEY_VALUES_MISMATCH" in str(exc)
               else f"not a PEM certificate and its unencrypted PEM key ({exc.reason or exc})")
        raise ConfigError(f"collector.tls_cert {settings.tls_cert} and collector.tls_key {settings.tls_key}: "
                          f"{why}") from None
