"""ServiceNow: the ``incident`` table of the Table API (``GET /api/now/table/incident``).

The answer is ``{"result": [...]}`` with a ``Link`` header (``rel="next"``
while more records match) and ``X-Total-Count``. ``sysparm_query`` is an
encoded query (``sys_updated_on>=2026-11-02 08:00:00^ORDERBYsys_updated_on``);
a time written as text there is UTC, and with ``sysparm_display_value=false``
the answer's times are UTC too (``2026-11-02 08:15:00``). ``sysparm_fields``
asks only for the mapped fields, references dot-walked
(``caller_id.user_name``, ``cmdb_ci.name``) so no name or description is ever
fetched; the answer spells those as flat keys with dots, which
:func:`nested` turns back into objects for the mapping. Authenticated with
HTTP Basic, or with an OAuth bearer token when no user is configured.
"""

from __future__ import annotations

from typing import Any, Iterator

from collector.support.sources.base import Connector, Page
from collector.support.sources.changed import Keyset

INCIDENTS = "/api/now/table/incident"


def nested(record: Any) -> Any:
    """A record whose dot-walked keys (``"caller_id.user_name": "jdoe"``) become nested objects; a key that would
    clash with a plain value of the same name stays as it is."""
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {k: v for k, v in record.items() if "." not in k}
    for key, value in record.items():
        if "." not in key:
            continue
        *parents, leaf = key.split(".")
        node = out
        for step in parents:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    return out


class ServiceNowConnector(Connector):
    """ServiceNow incidents, by ``sys_updated_on``."""

    kind = "servicenow"
    fields = {
        "id": "number",
        "opened_at": "opened_at",
        "updated_at": "sys_updated_on",
        "resolved_at": "resolved_at",
        "channel": "contact_type",
        "priority": "priority",
        "category": "category",
        "site": "location.name",
        "department": "caller_id.department.name",
        "host": "cmdb_ci.name",
        "asset": "cmdb_ci.asset_tag",
        "account": "caller_id.user_name",
    }
    # the incident table's contact_type choices (Contact type), as stored
    channels = {
        "phone": "phone", "email": "email", "self-service": "portal", "service_portal": "portal",
        "walk-in": "walk_in", "chat": "chat", "virtual_agent": "chat", "remote": "remote",
    }

    def auth(self) -> dict[str, Any]:
        if self.settings.user:
            return super().auth()
        return {"headers": {"Authorization": f"Bearer {self.settings.secret()}"}}

    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        keys = Keyset.start(cursor, now, self.settings.since_days)
        changed, ticket_id = self.field_map["updated_at"], self.field_map["id"]
        wanted = ",".join(sorted(set(self.field_map.values())))
        while True:
            start, size = keys.window(self.settings.page_size)
            since = keys.moment().strftime("%Y-%m-%d %H:%M:%S")
            response = self.request("GET", INCIDENTS, params={
                "sysparm_query": f"{changed}>={since}^ORDERBY{changed}^ORDERBYsys_id",
                "sysparm_fields": wanted, "sysparm_limit": size, "sysparm_offset": start,
                "sysparm_display_value": "false", "sysparm_exclude_reference_link": "true"})
            records = keys.fresh([nested(r) for r in self.records(response, "result")], changed, ticket_id)
            yield Page(records, keys.cursor())
            if "next" not in response.links or not records:
                return
