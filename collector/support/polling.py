"""What runs the connectors: :func:`connectors` builds one per configured source, :func:`start_polling` polls each
in the background of a collector process, every ``poll_interval_s`` (``hinder support poll`` polls them once)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from collector.impact import ModelConfig
from collector.jobs import start_periodic
from collector.support.config import SupportSettings
from collector.support.sources import connector_class
from collector.support.sources.base import Connector, poll
from contract.settings import ConfigError

log = logging.getLogger("hinder.collector.support")


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


def start_polling(engine: Engine, support: SupportSettings, model: ModelConfig) -> list[threading.Event]:
    """Poll every configured source in the background, first at once, then every ``poll_interval_s``; the events
    stop them. A config that cannot be used is logged and polls nothing (the rest of the collector runs)."""
    try:
        built = connectors(support)
    except ConfigError as exc:
        log.error("support sources are not polled: %s", exc)
        return []
    return [start_periodic(f"support poll {c.settings.name}", c.settings.poll_interval_s,
                           lambda c=c: poll(engine, c, model=model), at_start=True) for c in built]
