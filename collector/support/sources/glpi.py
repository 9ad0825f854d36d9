"""GLPI (REST API v1, ``apirest.php``): the tickets changed since the cursor (docs/support.md).

A poll opens a session (``GET /initSession`` with ``Authorization: user_token
...`` and, when the API client has one, ``App-Token``), reads ``GET /Ticket``
newest first (``sort=date_mod&order=DESC``, ``range=a-b`` pages, the total in
the ``Content-Range`` header, 206 Partial Content) with ``expand_dropdowns=true``
so that request type, category, location and entity come as names, stops at
the first ticket older than the cursor (less an overlap), and closes the
session (``GET /killSession``). When tickets are joined to devices, each
ticket's requester login is read too (requesters are kept apart, in
``Ticket_User``). Reading newest first, a ticket changed during
the poll moves to a page already read and shifts the others towards pages not
yet read: nothing is missed; the cursor moves only once the poll is complete.
GLPI writes times in its own time zone, without an offset: hinder reads them
as UTC (docs/support.md, "GLPI").
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import httpx

from collector.support.sources.base import Connector, Page, SourceDown
from collector.support.sources.changed import MAX_PAGES, cursor_text, cursor_time, newest, record_time, start_time

OVERLAP_S = 120.0  # second precision, transactions committed late, clock skew
PRIORITIES = {1: "very low", 2: "low", 3: "medium", 4: "high", 5: "very high", 6: "major"}
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(-?\d+)\s*/\s*(\d+)\s*$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
_EMPTY = ("", "&nbsp;")  # how an expanded dropdown without a value is written
_ID = re.compile(r"^[0-9]{1,18}\Z")
REQUESTER = 1  # Ticket_User.type of a requester (2: assigned, 3: observer)
REQUESTER_PATH = "hinder.requester"  # where a ticket's requester login is put (read only when tickets are joined)


class Glpi(Connector):
    """GLPI: the Ticket list, newest first, with dropdowns expanded to names."""

    kind = "glpi"
    fields = {"id": "id", "opened_at": "date", "updated_at": "date_mod", "resolved_at": "hinder.resolved",
              "channel": "requesttypes_id", "priority": "hinder.priority", "category": "itilcategories_id",
              "site": "locations_id", "department": "entities_id", "account": REQUESTER_PATH}
    # the request types GLPI installs (RequestType); Written and Other stay "other"
    channels = {"helpdesk": "portal", "e-mail": "email", "phone": "phone", "direct": "walk_in"}

    session: str | None = None

    def auth(self) -> dict[str, Any]:
        tokens = self.settings.secret().split()
        headers = {"App-Token": tokens[1]} if len(tokens) > 1 else {}
        if self.session:
            headers["Session-Token"] = self.session
        else:
            headers["Authorization"] = f"user_token {tokens[0] if tokens else ''}"
        return {"headers": headers}

    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        self.session = None
        body = self.answer(self.request("GET", "/initSession"), dict, "initSession")
        token = body.get("session_token")
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise SourceDown(f"{self.settings.name}: initSession answered without a usable session_token")
        self.session = token
        try:
            yield from self._changed(cursor, now)
        finally:
            self._kill()

    def _changed(self, cursor: str | None, now: float) -> Iterator[Page]:
        start = start_time(cursor, now, self.settings.since_days, OVERLAP_S)
        updated = self.field_map["updated_at"]
        offset, seen, logins = 0, cursor_time(cursor), {}
        for _ in range(MAX_PAGES):
            params = {"range": f"{offset}-{offset + self.settings.page_size - 1}", "sort": "date_mod",
                      "order": "DESC", "expand_dropdowns": "true", "get_hateoas": "false"}
            response = self.request("GET", "/Ticket", params=params)
            records = self.answer(response, list, "the Ticket list")
            for record in records:
                if isinstance(record, dict):
                    _derive(record)
            times = [record_time(r, updated, now) for r in records]
            seen = newest(times, seen)
            fresh = [r for r, t in zip(records, times) if t is None or t >= start]
            if self.identity_secret is not None and self.field_map["account"] == REQUESTER_PATH:
                self._requesters(fresh, logins)
            total = _total(response)
            offset += len(records)
            last = (len(fresh) < len(records) or not records
                    or (offset >= total if total is not None else len(records) < self.settings.page_size))
            yield Page(fresh, cursor_text(seen) if last and seen is not None else None)
            if last:
                return

    def _requesters(self, tickets: list, logins: dict[str, str | None]) -> None:
        """Put each ticket's first requester's login on it: GLPI keeps requesters apart from the ticket
        (``/Ticket/:id/Ticket_User``, then ``/User/:id`` once per user and poll; an e-mail requester without an
        account by ``alternative_email``)."""
        for ticket in tickets:
            if not isinstance(ticket, dict) or not _ID.match(str(ticket.get("id"))):
                continue
            links = self.answer(self.request("GET", f"/Ticket/{ticket['id']}/Ticket_User"), list, "Ticket_User")
            link = next((x for x in links if isinstance(x, dict) and str(x.get("type")) == str(REQUESTER)), {})
            user = str(link.get("users_id"))
            if _ID.match(user) and user != "0":
                if user not in logins:
                    found = self.answer(self.request("GET", f"/User/{user}"), dict, "User")
                    logins[user] = found.get("name") if isinstance(found.get("name"), str) else None
                ticket["hinder"]["requester"] = logins[user]
            elif isinstance(link.get("alternative_email"), str) and link["alternative_email"]:
                ticket["hinder"]["requester"] = link["alternative_email"]

    def _kill(self) -> None:
        """Close the session: one attempt, without retries (a session left open expires in GLPI)."""
        try:
            self.client.request("GET", self.settings.url.rstrip("/") + "/killSession", **self.auth())
        except httpx.HTTPError:
            pass
        self.session = None


def _derive(ticket: dict) -> None:
    """Clean a GLPI ticket in place: empty dropdowns as None; the priority's name; solved, else closed, time."""
    for key, value in ticket.items():
        if isinstance(value, str) and value.strip() in _EMPTY:
            ticket[key] = None
    priority = ticket.get("priority")
    if isinstance(priority, str) and priority.isdigit():  # older GLPI versions write numbers as strings
        priority = int(priority)
    ticket["hinder"] = {"priority": PRIORITIES.get(priority) if isinstance(priority, int) else None,
                        "resolved": ticket.get("solvedate") or ticket.get("closedate")}


def _total(response: httpx.Response) -> int | None:
    """The number of tickets the list holds, from ``Content-Range: 0-49/200`` (None without one)."""
    match = _RANGE.match(response.headers.get("content-range", ""))
    return int(match.group(3)) if match else None
