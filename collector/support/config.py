"""The ``[support]`` table of the collector config: the service-desk sources and how tickets are read."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from contract.identity import read_secret
from contract.settings import ConfigError, setting

SOURCE_NAME = r"^[a-z][a-z0-9_-]{0,31}\Z"


@dataclass
class SourceSettings:
    """One ``[[support.sources]]`` entry: an ITSM the collector polls for tickets."""

    name: str = setting(doc="the source's name, unique, e.g. servicenow-emea (stored with each ticket)")
    kind: str = setting(doc="which connector: one of collector.support.sources.KINDS")
    url: str = setting(url=True, doc="base URL of the ITSM instance, e.g. https://example.service-now.com")
    user: str = setting("", doc="user name, for sources authenticated with user and password")
    secret_env: str = setting("", doc="environment variable holding the password or API token")
    secret_file: str = setting("", doc="file holding the password or API token (else secret_env)")
    poll_interval_s: float = setting(300.0, min=10, max=86400, doc="how often the source is polled")
    page_size: int = setting(100, min=1, max=1000, doc="records asked for per request")
    timeout_s: float = setting(30.0, min=1, max=600, doc="per request")
    since_days: float = setting(35.0, min=0, max=400, doc="on the first poll, tickets changed this long ago are read")
    fields: dict[str, str] = setting(default_factory=dict, doc="overrides of the connector's field mapping: "
                                     "ticket field -> source field (dotted for nested objects)")
    channels: dict[str, str] = setting(default_factory=dict, doc="source channel value -> phone, email, portal, "
                                       "chat, walk_in, remote or other (added to the connector's defaults)")

    def secret(self) -> str:
        """The password or token, from ``secret_file`` or ``secret_env`` (never from the config file itself)."""
        if self.secret_file:
            try:
                with open(self.secret_file, encoding="utf-8") as f:
                    return f.read().strip()
            except OSError as exc:
                raise ConfigError(f"support.sources.{self.name}.secret_file: {exc.strerror}") from None
        if self.secret_env:
            value = os.environ.get(self.secret_env, "")
            if not value:
                raise ConfigError(f"support.sources.{self.name}.secret_env: {self.secret_env} is not set")
            return value
        return ""


@dataclass
class SupportSettings:
    """How the collector reads service-desk tickets and joins them to devices."""

    identity_key_file: str = setting("", doc="file holding the fleet's identity key (contract.identity); the "
                                     "agents' [agent] identity_key_file holds the same key. Empty: no joining")
    work_stopping_priorities: list[str] = setting(
        default_factory=lambda: ["1", "critical", "p1", "urgent", "very high", "highest"],
        doc="ticket priorities (case-insensitive) that mean the caller could not work until resolution")
    work_stopping_categories: list[str] = setting(
        default_factory=list, doc="ticket categories (case-insensitive) that mean the same, whatever the priority")
    sources: list[SourceSettings] = setting(default_factory=list, doc="the ITSMs polled ([[support.sources]])")
    ticket_after_disruption_s: float = setting(
        4 * 3600.0, min=0, max=7 * 86400,
        doc="a ticket follows a measured disruption when its device lost time to one this long before it was "
            "opened (the report's and /metrics' iceberg figures, to the hour)")

    def __post_init__(self) -> None:
        self._stopping_priorities = {p.strip().lower() for p in self.work_stopping_priorities}
        self._stopping_categories = {c.strip().lower() for c in self.work_stopping_categories}
        names = [s.name for s in self.sources]
        for name in names:
            if not re.match(SOURCE_NAME, name):
                raise ValueError(f"sources: name {name!r} must be lowercase letters, digits, '-' or '_' (at most 32)")
        if len(set(names)) != len(names):
            raise ValueError("sources: names must be unique")
        from collector.support.sources import KINDS  # the connectors import this module's settings

        for s in self.sources:
            if s.kind not in KINDS:
                raise ValueError(f"sources.{s.name}.kind: {s.kind!r} is not one of {', '.join(KINDS)}")

    def identity_secret(self) -> bytes | None:
        """The fleet's identity key, or None when tickets are not joined to devices."""
        if not self.identity_key_file:
            return None
        try:
            return read_secret(self.identity_key_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"support.identity_key_file: {exc}") from None

    def work_stopping(self, priority: str, category: str) -> bool:
        """Whether a ticket of this priority and category stopped its caller's work (the configured mapping)."""
        return (priority.strip().lower() in self._stopping_priorities
                or category.strip().lower() in self._stopping_categories)
