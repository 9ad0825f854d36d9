"""TOPdesk: the incidents of its REST API (``GET /tas/api/incidents``), read with an operator's application password.

TOPdesk answers a list of incidents as a JSON array: ``206 Partial Content``
while more match the query than the page held, ``200`` for the last page,
``204 No Content`` when none match. The query is FIQL
(``modificationDate=ge=2026-11-02T08:00:00Z``), the order ``sort``, the page
``pageStart`` and ``pageSize`` (ties broken by ``id``, one of the fields TOPdesk
sorts fast), and ``fields`` keeps the answer to the fields
the mapping reads (a caller's name comes inside the caller object but is
never kept). Times are ISO 8601 with an offset (``2026-11-02T08:15:00.000+0000``).
"""

from __future__ import annotations

from typing import Iterator

from collector.support.sources.base import Connector, Page
from collector.support.sources.changed import Keyset

INCIDENTS = "/tas/api/incidents"


class TopdeskConnector(Connector):
    """TOPdesk incidents, by modification time; HTTP Basic with the operator's login and application password."""

    kind = "topdesk"
    fields = {
        "id": "number",
        "opened_at": "callDate",
        "updated_at": "modificationDate",
        "resolved_at": "completedDate",  # closing a call completes it too
        "channel": "entryType.name",
        "priority": "priority.name",
        "category": "category.name",
        "site": "callerBranch.name",
        "department": "caller.department.name",
        "host": "object.name",  # the configuration item: a host name or an asset tag, so both keys are made
        "asset": "object.name",
        "account": "caller.email",  # its user part is the account (contract.identity.normalize)
    }
    # TOPdesk's entry types are a searchlist each installation names; these are the usual English and Dutch names.
    channels = {
        "telephone": "phone", "phone": "phone", "by telephone": "phone", "telefoon": "phone", "telefonisch": "phone",
        "e-mail": "email", "email": "email", "mail": "email", "by e-mail": "email",
        "self-service desk": "portal", "self service desk": "portal", "ssd": "portal", "self-service portal": "portal",
        "portal": "portal", "selfservicedesk": "portal", "web": "portal",
        "walk-in": "walk_in", "walk in": "walk_in", "in person": "walk_in", "desk": "walk_in", "balie": "walk_in",
        "persoonlijk": "walk_in",
        "chat": "chat", "live chat": "chat",
        "remote": "remote", "remote support": "remote", "remote session": "remote",
    }

    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        keys = Keyset.start(cursor, now, self.settings.since_days)
        changed, ticket_id = self.field_map["updated_at"], self.field_map["id"]
        wanted = ",".join(sorted({path.split(".", 1)[0] for path in self.field_map.values()}))
        while True:
            start, size = keys.window(self.settings.page_size)
            response = self.request("GET", INCIDENTS, params={
                "query": f"{changed}=ge={keys.cursor()}", "sort": f"{changed}:asc,id:asc",
                "pageStart": start, "pageSize": size, "fields": wanted})
            if response.status_code == 204:
                return
            records = keys.fresh(self.records(response), changed, ticket_id)
            yield Page(records, keys.cursor())
            if response.status_code != 206 or not records:
                return
