"""Jira Service Management (Jira Cloud REST API v3): the issues changed since the cursor (docs/support.md).

Issues are read with the enhanced JQL search (``GET /rest/api/3/search/jql``,
paged by ``nextPageToken`` until ``isLast``) for
``updated >= "yyyy-MM-dd HH:mm" ORDER BY updated ASC``. JQL dates have minute
precision and are read in the time zone of the account that searches, so the
connector asks ``/rest/api/3/myself`` for that zone first. The request channel
of a service request is not an issue field: it is learnt per page with one
search per channel (``id in (...) AND request-channel-type = "email"``).
Authentication is HTTP Basic with the account's e-mail (``user``) and an API
token (the secret).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.support.sources.base import Connector, Page, SourceDown
from collector.support.sources.changed import cursor_text, cursor_time, keyset, newest, record_time, start_time

SEARCH = "/rest/api/3/search/jql"
MAX_RESULTS = 100  # Jira Cloud returns at most 100 issues with fields per page
OVERLAP_S = 300.0  # minute precision of JQL dates and the search index's delay
CHANNEL_PATH = "hinder.requestChannel"  # where the channel learnt by request-channel-type is put on a record
_ISSUE_ID = re.compile(r"^[0-9]{1,20}\Z")
_CHANNEL_VALUE = re.compile(r"^[a-z_-]{1,32}\Z")  # a request-channel-type value, as JQL takes it unquoted too


class Jira(Connector):
    """Jira Service Management: issues by JQL, request channel by ``request-channel-type``."""

    kind = "jira"
    fields = {"id": "id", "opened_at": "fields.created", "updated_at": "fields.updated",
              "resolved_at": "fields.resolutiondate", "channel": CHANNEL_PATH, "priority": "fields.priority.name",
              "category": "hinder.component", "account": "fields.reporter.emailAddress"}
    # request-channel-type values; "jira" (typed in by an agent) and "api" stay "other" unless configured
    channels = {"email": "email", "portal": "portal", "anonymousportal": "portal"}

    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        zone = self._zone()
        start = start_time(cursor, now, self.settings.since_days, OVERLAP_S)
        before = cursor_time(cursor)
        updated = self.field_map["updated_at"]
        for records, seen in keyset(lambda bound, token: self._search(bound, token, zone), start, 60.0,
                                    lambda r: record_time(r, updated, now)):
            for record in records:
                if isinstance(record, dict):
                    record["hinder"] = {"component": _first_component(record)}
            if self.field_map["channel"] == CHANNEL_PATH:
                self._learn_channels(records)
            top = newest([seen], before)
            yield Page(records, cursor_text(top) if top is not None else None)

    def _zone(self) -> ZoneInfo:
        """The time zone JQL dates are read in: the searching account's."""
        me = self.answer(self.request("GET", "/rest/api/3/myself"), dict, "myself")
        name = me.get("timeZone")
        try:
            return ZoneInfo(name if isinstance(name, str) and len(name) <= 64 else "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise SourceDown(f"{self.settings.name}: the account's time zone {str(name)[:64]!r} is unknown") from None

    def _search(self, bound: float, token: str | None, zone: ZoneInfo) -> tuple[list, str | None]:
        since = datetime.fromtimestamp(bound, zone).strftime("%Y-%m-%d %H:%M")
        params: dict[str, Any] = {"jql": f'updated >= "{since}" ORDER BY updated ASC',
                                  "maxResults": min(self.settings.page_size, MAX_RESULTS),
                                  "fields": ",".join(self._fields())}
        if token:
            params["nextPageToken"] = token
        body = self.answer(self.request("GET", SEARCH, params=params), dict, "the issue search")
        issues = body.get("issues")
        if not isinstance(issues, list):
            raise SourceDown(f"{self.settings.name}: unexpected answer to the issue search (no issues)")
        following = body.get("nextPageToken")
        if body.get("isLast", True) is True or following is None:
            return issues, None
        if not isinstance(following, str) or not 0 < len(following) <= 4096:
            raise SourceDown(f"{self.settings.name}: unexpected answer to the issue search (nextPageToken)")
        return issues, following

    def _fields(self) -> list[str]:
        """The issue fields asked for: those the field mapping names (``fields.customfield_10050.value``) and the
        category's."""
        return sorted({"components", "labels"} | {p.split(".")[1] for p in self.field_map.values()
                                                  if p.startswith("fields.")})

    def _learn_channels(self, records: list) -> None:
        """Put each service request's channel on its record: one search per channel that is not "other"."""
        by_id = {r["id"]: r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)
                 and _ISSUE_ID.match(r["id"])}
        if not by_id:
            return
        for value in sorted(v for v, channel in self.channel_map.items() if channel != "other"):
            if not _CHANNEL_VALUE.match(value):
                continue
            params = {"jql": f'id in ({",".join(by_id)}) AND request-channel-type = "{value}"',
                      "maxResults": len(by_id), "fields": "id"}
            body = self.answer(self.request("GET", SEARCH, params=params), dict, "the channel search")
            for issue in body.get("issues") or []:
                if isinstance(issue, dict) and issue.get("id") in by_id:
                    by_id[issue["id"]]["hinder"]["requestChannel"] = value


def _first_component(issue: dict) -> str | None:
    """An issue's category: its first component's name, else its first label."""
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    for item in fields.get("components") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            return item["name"]
    labels = fields.get("labels")
    return labels[0] if isinstance(labels, list) and labels and isinstance(labels[0], str) else None
