"""What every service-desk connector shares: the :class:`Connector` interface, HTTP with retries, field mapping, polling.

A connector knows one ITSM's API: how to ask for the records changed since a
cursor, page by page (:meth:`Connector.pages`), and how its records spell a
ticket's fields (:attr:`Connector.fields`, overridable per source in the
config). :func:`poll` does the rest for all of them: it reads the pages,
turns each record into a :class:`~collector.support.tickets.Ticket` (a record
that cannot be read is counted and skipped with its reason), stores each page
and the cursor after it in one transaction (so a poll cut short resumes where
it stopped, and a page read twice doubles nothing), and records the source's
health in ``support_source``. Requests are retried with backoff on timeouts,
connection errors, 429 and 5xx; a source still down afterwards keeps its
cursor and is tried again at the next poll. No credential reaches a log, an
error message or a process argument.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Iterator

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collector.db import insert, write_transaction
from collector.impact import ModelConfig
from collector.models import support_source_table
from collector.support.config import SourceSettings, SupportSettings
from collector.support.store import Stored, store_tickets
from collector.support.tickets import CHANNELS, MAX_CATEGORY_LEN, Ticket
from contract.identity import identity_key
from contract.records import MAX_LABEL_LEN
from contract.settings import ConfigError

log = logging.getLogger("hinder.collector.support")

RETRY_DELAYS_S = (1.0, 4.0, 15.0)  # waits before the retries of one request
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # an answer beyond it (decompressed) fails: a source cannot exhaust memory
MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is not waited for: the next poll tries again
_MAX_ERROR = 200

# The ticket fields a connector maps from its records (Connector.fields: ticket field -> source field path).
MAPPED = ("id", "opened_at", "updated_at", "resolved_at", "channel", "priority", "category", "site", "department",
          "host", "asset", "account")


class SourceDown(Exception):
    """The source could not be read (after retries). The message names the source and the cause, never a secret."""


class AuthFailed(SourceDown):
    """The source refused the credentials (401/403): not retried."""


@dataclass
class Page:
    """One page of records and the cursor to keep once they are stored (None: keep the one before)."""

    records: list[dict[str, Any]]
    cursor: str | None = None


@dataclass
class Polled:
    """What one :func:`poll` of a source did."""

    source: str
    pages: int = 0
    fetched: int = 0
    stored: Stored = field(default_factory=Stored)
    error: str | None = None


def path_value(record: Any, path: str) -> Any:
    """The value at a dotted path of nested objects (``caller.loginName``), or None where a step is missing."""
    value = record
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def parse_source_time(value: Any) -> float | None:
    """A time as ITSMs write it, as Unix seconds: ISO 8601 with or without ``T``, offset (``Z``, ``+01:00``,
    ``+0000``) or fraction; without an offset, UTC. Unix seconds or milliseconds as numbers, or as text. None when
    empty; ValueError for anything else (a number too large or not finite included)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdecimal():
        value = value.strip()  # Unix seconds (or milliseconds) written as text
        value = float(value) if len(value) <= 20 else math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
        if not math.isfinite(seconds):
            raise ValueError(f"not a time: {str(value)[:40]!r}")
        return seconds / (1000.0 if seconds > 1e11 else 1.0)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {str(value)[:40]!r}")
    text = value.strip().replace(" ", "T", 1)
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text and ":" not in text[-5:]:
        text = f"{text[:-2]}:{text[-2:]}"  # Jira's +0000
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class Connector(ABC):
    """One ITSM's API. Subclasses set :attr:`kind`, :attr:`fields`, :attr:`channels` and implement :meth:`pages`
    (and :meth:`auth` when the source is not authenticated with HTTP Basic)."""

    kind: ClassVar[str]
    fields: ClassVar[dict[str, str]]  # ticket field (MAPPED) -> path of the source field
    channels: ClassVar[dict[str, str]] = {}  # source channel value (lowercase) -> one of CHANNELS

    def __init__(self, settings: SourceSettings, support: SupportSettings, client: httpx.Client | None = None,
                 identity_secret: bytes | None = None):
        self.settings = settings
        self.support = support
        self.identity_secret = identity_secret
        self.field_map = {**self.fields, **settings.fields}
        self.channel_map = {**self.channels, **{k.lower(): v for k, v in settings.channels.items()}}
        bad = sorted(set(self.field_map) - set(MAPPED))
        if bad:
            raise ValueError(f"support.sources.{settings.name}.fields: unknown ticket field {bad[0]!r}")
        bad = sorted(v for v in self.channel_map.values() if v not in CHANNELS)
        if bad:
            raise ValueError(f"support.sources.{settings.name}.channels: {bad[0]!r} is not one of {', '.join(CHANNELS)}")
        self.client = client or httpx.Client(timeout=settings.timeout_s, follow_redirects=False)

    @abstractmethod
    def pages(self, cursor: str | None, now: float) -> Iterator[Page]:
        """The records changed since ``cursor`` (None: since ``settings.since_days`` before ``now``), page by page."""

    def auth(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.request`` that authenticate a request (HTTP Basic by default)."""
        return {"auth": (self.settings.user, self.settings.secret())}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the source, retried with backoff; raises :class:`SourceDown` or :class:`AuthFailed`."""
        url = self.settings.url.rstrip("/") + path
        name = self.settings.name
        try:
            auth = self.auth()
        except ConfigError as exc:  # the secret's file or variable is missing: the message names it, not the secret
            raise SourceDown(str(exc)) from None
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                response = self._exchange(method, url, **auth, **kwargs)
            except httpx.HTTPError as exc:
                cause = f"{type(exc).__name__}"
            else:
                if response.status_code in (401, 403):
                    raise AuthFailed(f"{name}: the source refused the credentials (HTTP {response.status_code})")
                if response.status_code < 400:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    raise SourceDown(f"{name}: HTTP {response.status_code} for {method} {path}")
                cause = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
                if delay is not None and retry_after is not None:
                    if retry_after > MAX_RETRY_AFTER_S:
                        raise SourceDown(f"{name}: HTTP {response.status_code}, asked to retry after {retry_after:.0f} s")
                    delay = max(delay, retry_after)
            if delay is None:
                raise SourceDown(f"{name}: {cause} for {method} {path} after {attempt + 1} attempts")
            log.info("support source %s: %s, retrying in %.0f s", name, cause, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _exchange(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, its answer read to at most :data:`MAX_RESPONSE_BYTES`."""
        with self.client.stream(method, url, **kwargs) as streamed:
            body = bytearray()
            for chunk in streamed.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise SourceDown(f"{self.settings.name}: the answer exceeds {MAX_RESPONSE_BYTES} bytes")
        headers = [(k, v) for k, v in streamed.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]  # the body is decoded already
        return httpx.Response(streamed.status_code, headers=headers, content=bytes(body), request=streamed.request)

    def answer(self, response: httpx.Response, kind: type, what: str) -> Any:
        """The JSON body of a response if it is a ``kind`` (list or dict); SourceDown naming ``what`` otherwise
        (not JSON, nested beyond what the parser follows, or of another shape)."""
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise SourceDown(f"{self.settings.name}: the answer to {what} is not JSON "
                             f"(HTTP {response.status_code})") from None
        if not isinstance(body, kind):
            raise SourceDown(f"{self.settings.name}: unexpected answer to {what} (not a JSON {kind.__name__})")
        return body

    def records(self, response: httpx.Response, key: str | None = None) -> list[Any]:
        """The list of records a response carries (its body, or the body's ``key``); SourceDown if it has none."""
        if key is None:
            return self.answer(response, list, "the record list")
        body = self.answer(response, dict, "the record list").get(key)
        if not isinstance(body, list):
            raise SourceDown(f"{self.settings.name}: its {key!r} is not a list of records")
        return body

    def ticket(self, record: dict[str, Any]) -> Ticket:
        """The ticket a record stands for; ValueError (with a reason) if it has no usable id or opening time."""
        get = {name: path_value(record, path) for name, path in self.field_map.items()}
        ticket_id = get.get("id")
        if ticket_id is None or isinstance(ticket_id, (dict, list, bool)) or str(ticket_id) == "":
            raise ValueError("no ticket id")
        opened = parse_source_time(get.get("opened_at"))
        if opened is None:
            raise ValueError("no opening time")
        updated = parse_source_time(get.get("updated_at")) or opened
        priority, category = _text(get.get("priority")), _text(get.get("category"), MAX_CATEGORY_LEN)
        return Ticket(
            source=self.settings.name, ticket_id=str(ticket_id), opened_at=opened, updated_at=updated,
            resolved_at=parse_source_time(get.get("resolved_at")),
            channel=self.channel_map.get(_text(get.get("channel")).lower(), "other"),
            priority=priority, category=category, work_stopping=self.support.work_stopping(priority, category),
            site=_text(get.get("site")), department=_text(get.get("department")),
            host_key=self._key("host", get.get("host")), asset_key=self._key("asset", get.get("asset")),
            account_key=self._key("account", get.get("account")))

    def _key(self, kind: str, name: Any) -> str | None:
        if self.identity_secret is None or not isinstance(name, str):
            return None
        return identity_key(self.identity_secret, kind, name)


def _text(value: Any, max_len: int = MAX_LABEL_LEN) -> str:
    """A source value as a label: strings and numbers as text, cut to ``max_len`` characters (a long location path
    keeps its ticket); anything else (missing, objects) as ""."""
    if isinstance(value, bool) or value is None:
        return ""
    return str(value).strip()[:max_len].strip() if isinstance(value, (str, int, float)) else ""


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def poll(engine: Engine, connector: Connector, now: float | None = None,
         model: ModelConfig | None = None) -> Polled:
    """Read a source from its cursor on, storing each page with the cursor after it; never raises for the source.

    A source that is down or refuses the credentials is logged and counted in
    ``support_source`` (``failures_total``, ``last_error``); the cursor stays
    where the last stored page left it. ``model`` (the ``[model]`` settings) keeps the device-days marked for
    the impact refresher as narrow as the tickets' spans (see :func:`collector.support.store.store_tickets`).
    """
    now = time.time() if now is None else now
    name = connector.settings.name
    s = support_source_table.c
    with write_transaction(engine) as conn:
        conn.execute(insert(conn, support_source_table).on_conflict_do_nothing(index_elements=["name"]),
                     {"name": name, "failures_total": 0, "fetched_total": 0, "skipped_total": 0})
        cursor = conn.execute(sa.select(s.cursor).where(s.name == name)).scalar_one()
    result = Polled(source=name)
    try:
        for page in connector.pages(cursor, now):
            tickets = []
            reasons: list[str] = []
            for record in page.records:
                try:
                    tickets.append(connector.ticket(record))
                except ValueError as exc:
                    reasons.append(str(exc))
            with write_transaction(engine) as conn:
                stored = store_tickets(conn, tickets, now, model)
                stored.skipped.update(reasons)
                values: dict[str, Any] = {"fetched_total": s.fetched_total + len(page.records),
                                          "skipped_total": s.skipped_total + stored.skipped_total,
                                          "last_attempt": now}
                if page.cursor is not None:
                    values["cursor"] = page.cursor
                conn.execute(support_source_table.update().where(s.name == name).values(**values))
            result.pages += 1
            result.fetched += len(page.records)
            result.stored.add(stored)
    except SourceDown as exc:
        result.error = str(exc)[:_MAX_ERROR]
        log.warning("%s; the cursor is kept, next poll in %.0f s", result.error, connector.settings.poll_interval_s)
        with write_transaction(engine) as conn:
            conn.execute(support_source_table.update().where(s.name == name).values(
                failures_total=s.failures_total + 1, last_error=result.error, last_attempt=now))
        return result
    with write_transaction(engine) as conn:
        conn.execute(support_source_table.update().where(s.name == name).values(
            last_success=now, last_attempt=now, last_error=None))
    if result.stored.skipped:
        log.warning("support source %s: %d records skipped: %s", name, result.stored.skipped_total,
                    "; ".join(f"{n} x {reason}" for reason, n in result.stored.skipped.most_common(5)))
    return result
