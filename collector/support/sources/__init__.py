"""The service-desk connectors, one module each, registered here (docs/support.md, "Sources"), and what runs them.

Adding a connector is one module with a :class:`~.base.Connector` subclass and
one line in :data:`CONNECTORS`. :func:`connectors` builds those the
``[support]`` config names; :func:`start_polling` polls each in the background
of a collector process, every ``poll_interval_s``.
"""

from __future__ import annotations

import importlib
import logging
import threading

from sqlalchemy.engine import Engine

from collector.jobs import start_periodic
from collector.support.config import SupportSettings
from collector.support.sources.base import Connector, poll
from contract.settings import ConfigError

log = logging.getLogger("hinder.collector.support")

# kind -> "module:Class", imported when a source of that kind is configured
CONNECTORS: dict[str, str] = {
    "servicenow": "collector.support.sources.servicenow:ServiceNowConnector",
    "topdesk": "collector.support.sources.topdesk:TopdeskConnector",
}
KINDS: tuple[str, ...] = tuple(CONNECTORS)


def connector_class(kind: str) -> type[Connector]:
    """The connector class of a source kind."""
    module, _, name = CONNECTORS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def connectors(support: SupportSettings) -> list[Connector]:
    """A connector for each configured source; ConfigError (naming the key) if one cannot be built."""
    secret = support.identity_secret()
    built = []
    for source in support.sources:
        try:
            built.append(connector_class(source.kind)(source, support, identity_secret=secret))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return built


def start_polling(engine: Engine, support: SupportSettings) -> list[threading.Event]:
    """Poll every configured source in the background, first at once, then every ``poll_interval_s``; the events
    stop them. A config that cannot be used is logged and polls nothing (the rest of the collector runs)."""
    try:
        built = connectors(support)
    except ConfigError as exc:
        log.error("support sources are not polled: %s", exc)
        return []
    return [start_periodic(f"support poll {c.settings.name}", c.settings.poll_interval_s,
                           lambda c=c: poll(engine, c), at_start=True) for c in built]
