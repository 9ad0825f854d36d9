"""The service-desk connectors, one module each, registered here (docs/support.md, "Sources").

Adding a connector is one module with a :class:`~.base.Connector` subclass and
one line in :data:`CONNECTORS`.
"""

from __future__ import annotations

import importlib

# kind -> "module:Class", imported when a source of that kind is configured
CONNECTORS: dict[str, str] = {
    "glpi": "collector.support.sources.glpi:Glpi",
    "jira": "collector.support.sources.jira:Jira",
    "servicenow": "collector.support.sources.servicenow:ServiceNowConnector",
    "topdesk": "collector.support.sources.topdesk:TopdeskConnector",
    "zammad": "collector.support.sources.zammad:Zammad",
}
KINDS: tuple[str, ...] = tuple(CONNECTORS)


def connector_class(kind: str) -> type:
    """The connector class (a ``base.Connector``) of a source kind. This module imports no connector, so that the
    ``[support]`` settings can check a kind without importing what the connectors import."""
    module, _, name = CONNECTORS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
