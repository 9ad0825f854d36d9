"""Zammad (REST API v1): the tickets changed since the cursor (docs/support.md).

Tickets are read with the ticket search (``GET /api/v1/tickets/search``) for
``updated_at:[<time> TO *]``, sorted by ``updated_at`` ascending, paged by
``page``/``per_page`` (at most 200), with ``expand=true`` so that priority,
group, organization, customer and the first article's type come as names. The
search runs on Zammad's search index, which lags a few seconds behind: the
cursor re-reads an overlap. Authentication is an access token
(``Authorization: Token token=...``), or HTTP Basic when ``user`` is set.
"""

from __future__ import annotations

from typing import Any, Iterator

from collector.support.sources.base import Connector, Page
from collector.support.sources.changed import (cursor_text, cursor_time, keyset, newest, record_time,
                                               start_time)

SEARCH = "/api/v1/tickets/search"
MAX_PER_PAGE = 200  # Zammad's limit for the search
OVERLAP_S = 300.0  # the search index's delay and clock skew


class Zammad(Connector):
    """Zammad: ticket search by ``updated_at``, expanded to names."""

    kind = "zammad"
    fields = {"id": "id", "opened_at": "created_at", "updated_at": "updated_at", "resolved_at": "close_at",
              "channel": "create_article_type", "priority": "priority", "category": "group",
              "department": "organization", "account": "customer"}
    # create_article_type names (Ticket::Article::Type); note (typed in by an agent), sms, fax... stay "other"
    channels = {"phone": "phone", "email": "email", "web": "portal", "chat": "chat", "teams chat message": "chat",
                "telegram personal-message": "chat", "whatsapp message": "chat"}

    def auth(self) -> dict[str, Any]:
        if self.settings.user:
            return super().auth()
        return {"headers": {"Authorization": f"Token token={self.settings.secret()}"}}

    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        before = cursor_time(cursor)
        start = start_time(cursor, now, self.settings.since_days, OVERLAP_S)
        updated = self.field_map["updated_at"]
        for records, seen in keyset(self._search, start, 0.001, lambda r: record_time(r, updated, now)):
            top = newest([seen], before)
            yield Page(records, cursor_text(top) if top is not None else None)

    def _search(self, bound: float, page: int | None) -> tuple[list, int | None]:
        page = page or 1
        per_page = min(self.settings.page_size, MAX_PER_PAGE)
        params = {"query": f"updated_at:[{cursor_text(bound)} TO *]", "sort_by": "updated_at", "order_by": "asc",
                  "page": page, "per_page": per_page, "expand": "true"}
        tickets = self.answer(self.request("GET", SEARCH, params=params), list, "the ticket search")
        return tickets, page + 1 if len(tickets) >= per_page else None
