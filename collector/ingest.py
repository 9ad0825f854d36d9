"""Ingest: from a request body to committed rows, all or nothing.

``Ingestor.store_body`` decompresses the raw body (gzip allowed, size capped
before and after decompression), decodes and validates it against the wire
contract (compiled fast path first, :mod:`collector.fastwire`; the events come
out as :class:`~collector.columns.Columns`), checks that its device is the
sender's (:mod:`collector.devices`) and stores it in ONE transaction:
upsert the device from its newest heartbeat, insert the events and heartbeats
whose ids are not stored yet (so a retried batch stores nothing twice; see
:func:`_store_new`) in multi-row INSERTs, the pulse's answers not stored yet
for their event, the app focus totals (the largest per device, app and period,
and what of them counts: :func:`_store_usage`), run the ingestor's hooks on
the new records, commit.
Only then does the API acknowledge.

What must stay current with ingest (the impact model's marks and counts,
``collector.aggregates.marks.on_ingest``) is a hook given to the
:class:`Ingestor` by whoever builds it: ``hook(conn, batch: IngestedBatch)``
runs inside the same transaction and sees only records stored for the first
time; ``IngestedBatch.identity_changed`` tells them when a device's identity
keys changed (``collector.support.store.on_ingest`` then joins the tickets
that arrived before it sent them).
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Any, Callable, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import devices, fastwire, impact, quota
from collector.aggregates import DAY, MAX_HEARTBEAT_S, day_start
from collector.columns import Columns, of_batch
from collector.config import CollectorConfig
from collector.db import insert, insert_rows, is_retryable, is_sqlite, prepared, write_transaction
from collector.models import app_usage_table, device_table, event_table, feedback_table, heartbeat_table
from contract.check import ContractError, validate_batch
from contract.records import IDENTITY_KEYS, INVENTORY, SECTIONS, Heartbeat, Kind, Limits, span, time_window


class Rejected(Exception):
    """A batch that is not stored; ``status`` and ``result`` say why (HTTP status, metrics label)."""

    def __init__(self, status: int, result: str, detail: Any, retry_after_s: float | None = None):
        super().__init__(detail if isinstance(detail, str) else detail.get("message", str(detail)))
        self.status = status
        self.result = result
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass
class IngestedBatch:
    """What one committed batch added, as the ingestor's hooks see it."""

    device: dict[str, Any]  # the device row as updated by this batch
    events: Columns  # events stored for the first time (wire-normalised, times as Unix seconds), as columns
    heartbeats: list[dict[str, Any]]  # heartbeats stored for the first time
    config: CollectorConfig
    received_at: float  # collector clock
    identity_changed: bool = False  # the device sent identity keys it had not sent before
    feedback: list[dict[str, Any]] = field(default_factory=list)  # answers stored for the first time
    # (UTC day, app as sent, seconds > 0): the focus this batch made count (:func:`_store_usage`)
    usage_added: list[tuple[float, str, float]] = field(default_factory=list)


@dataclass
class IngestResult:
    """The acknowledgement of a committed batch."""

    events_stored: int
    events_duplicate: int
    heartbeats_stored: int
    heartbeats_duplicate: int
    others_stored: int = 0  # answers and app-time totals stored or updated
    others_duplicate: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.events_stored + self.heartbeats_stored + self.others_stored,
            "duplicates": self.events_duplicate + self.heartbeats_duplicate + self.others_duplicate,
            "events": {"stored": self.events_stored, "duplicate": self.events_duplicate},
            "heartbeats": {"stored": self.heartbeats_stored, "duplicate": self.heartbeats_duplicate},
        }


Hook = Callable[[Connection, IngestedBatch], None]

_RETRY_AFTER_S = 2.0


def inflate(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent before any gzip (Content-Encoding), within ``max_bytes``; else Rejected (400, 413, 415)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, max_bytes)
    elif encoding != "identity":
        raise Rejected(415, "invalid", f"unsupported Content-Encoding {content_encoding!r}; use gzip or none")
    if len(body) > max_bytes:
        raise Rejected(413, "too_large", f"body is larger than the limit of {max_bytes} bytes")
    return body


def _parse_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)  # the fast path's parser: both paths read JSON alike
    except msgspec.DecodeError as exc:
        raise Rejected(400, "invalid", f"body is not valid JSON: {exc}") from None
    except RecursionError:  # arrays or objects nested thousands deep: no batch is
        raise Rejected(400, "invalid", "body is nested too deeply to be a batch") from None


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    # Decompress at most max_bytes + 1 bytes: a gzip bomb is refused without
    # ever being expanded in memory.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise Rejected(400, "invalid", f"body is not valid gzip: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise Rejected(413, "too_large", f"decompressed body is larger than the limit of {max_bytes} bytes")
    if not inflater.eof:
        raise Rejected(400, "invalid", "body is not valid gzip: truncated stream")
    return out


class Ingestor:
    """Validates and stores batches for one database; safe to call from many threads.

    ``hooks`` run, in order, inside each ingest transaction on the records it
    stored for the first time; the collector passes
    ``[collector.aggregates.marks.on_ingest]`` (with none, no figure is ever
    computed from what is stored).
    """

    def __init__(self, engine: Engine, config: CollectorConfig, *, hooks: Sequence[Hook]):
        self.engine = engine
        self.config = config
        self.hooks = tuple(hooks)
        # On SQLite one process writes at a time anyway; queueing in Python is
        # fairer and cheaper than SQLite's sleep-and-retry busy handler.
        self._write_lock = threading.Lock() if is_sqlite(engine) else None

    def store_body(self, body: bytes, content_encoding: str | None, now: float | None = None, *,
                   device_id: str | None = None) -> IngestResult:
        """Decode, validate and store a request body in one transaction; raise Rejected if not stored.

        A plainly valid body takes the compiled fast path (:mod:`collector.fastwire`);
        anything else is parsed and checked in full, which names each problem.
        ``device_id`` is the device whose credential the request carried: the
        batch must be that device's (else 403). None means the fleet token:
        then the batch's device must be neither enrolled nor revoked (else 403).
        """
        now = time.time() if now is None else now
        settings = self.config.collector
        body = inflate(body, content_encoding, settings.max_body_bytes)
        batch = fastwire.decode(body, now, settings.limits)
        if batch is None:
            batch = self._validate(_parse_json(body), now)
        if device_id is not None and batch["device_id"] != device_id:
            raise Rejected(403, "unauthorized", f"this credential is device {device_id}'s; it cannot send a batch "
                           f"for device {batch['device_id']}")
        return self._commit(_within_window(batch, now, settings.limits), now, fleet=device_id is None)

    def store(self, payload: Any, now: float | None = None) -> IngestResult:
        """Validate a decoded batch and store it in one transaction; raise Rejected if not stored.

        For in-process callers (tests, benchmarks): no sender is checked.
        """
        now = time.time() if now is None else now
        batch = self._validate(payload, now)
        return self._commit(_within_window(batch, now, self.config.collector.limits), now)

    def _validate(self, payload: Any, now: float) -> dict[str, Any]:
        """The full check: the batch normalised, its events as columns; or Rejected, naming each problem.

        Both paths put the record times on the collector's clock, moving a batch
        from a wrong device clock only where :func:`contract.records.clock_correction` says so.
        """
        try:
            return of_batch(validate_batch(payload, now=now, limits=self.config.collector.limits))
        except ContractError as exc:
            status = 413 if _over_count(exc) else 422
            raise Rejected(status, "too_large" if status == 413 else "invalid", _refusal(exc)) from None

    def _commit(self, batch: dict[str, Any], now: float, fleet: bool = False) -> IngestResult:
        settings = self.config.collector
        if self._write_lock and not self._write_lock.acquire(timeout=settings.db_busy_timeout_s):
            raise Rejected(503, "overloaded", "the database is busy; retry later", _RETRY_AFTER_S)
        try:
            try:
                with write_transaction(self.engine) as conn:
                    return self._store(conn, batch, now, fleet, all_new=True)
            except _SomeStored:  # a retried batch: again, looking up which of its records are new
                with write_transaction(self.engine) as conn:
                    return self._store(conn, batch, now, fleet, all_new=False)
        except _ConcurrentInsert:
            raise Rejected(503, "overloaded", "the same records are being stored by another request; retry later",
                           _RETRY_AFTER_S) from None
        except sa.exc.DBAPIError as exc:
            if is_retryable(exc):
                raise Rejected(503, "overloaded", f"the database is busy or unreachable; retry later ({_first_line(exc)})",
                               _RETRY_AFTER_S) from None
            raise
        finally:
            if self._write_lock:
                self._write_lock.release()

    def _store(self, conn: Connection, batch: dict[str, Any], now: float, fleet: bool, all_new: bool) -> IngestResult:
        refusal = devices.fleet_refusal(conn, batch["device_id"]) if fleet else None
        if refusal:  # checked in the transaction that would store the batch
            raise Rejected(403, "unauthorized", refusal)
        device, identity_changed = _upsert_device(conn, batch, now, self.config.collector.limits)
        dev_id, events, heartbeats = batch["device_id"], batch["events"], batch["heartbeats"]
        new_events = _store_new(conn, event_table, EVENT_COLUMNS, events["id"], event_rows(events, dev_id, now),
                                all_new)
        new_heartbeats = _store_new(conn, heartbeat_table, _HEARTBEAT_COLUMNS, [h["id"] for h in heartbeats],
                                    [(h["id"], dev_id, h["time"], h["interval_s"], h["active_s"]) for h in heartbeats],
                                    all_new)
        feedback, usage = batch.get("feedback", []), batch.get("usage", [])
        new_feedback = _new_keys(conn, feedback_table, dev_id, "event_id", [(f["event_id"],) for f in feedback])
        new_usage = _new_keys(conn, app_usage_table, dev_id, "start", [(u["start"], u["app"]) for u in usage])
        try:
            quota.count(conn, dev_id, quota.spans(
                events, range(len(events["id"])) if new_events is None else new_events,
                {"heartbeat": (heartbeats, range(len(heartbeats)) if new_heartbeats is None else new_heartbeats),
                 "feedback": (feedback, new_feedback), "usage": (usage, new_usage)}),
                self.config.collector.max_records_per_device_day)
        except ContractError as exc:  # rolled back with the transaction: nothing of the batch is stored
            raise Rejected(422, "invalid", _refusal(exc)) from None
        if new_events is not None:
            events = events.take(new_events)
        if new_heartbeats is not None:
            heartbeats = [heartbeats[i] for i in new_heartbeats]
        feedback = [feedback[i] for i in new_feedback]
        insert_rows(conn, feedback_table, _FEEDBACK_COLUMNS,
                    [(dev_id, f["event_id"], f["id"], f["time"], f["answer"], now) for f in feedback])
        usage_added = _store_usage(conn, dev_id, usage, heartbeats)
        stored = IngestedBatch(device=device, events=events, heartbeats=heartbeats, config=self.config, received_at=now,
                               identity_changed=identity_changed, feedback=feedback, usage_added=usage_added)
        for hook in self.hooks:
            hook(conn, stored)
        others = len(batch.get("feedback", [])) + len(usage)
        return IngestResult(len(events), len(batch["events"]) - len(events),
                            len(heartbeats), len(batch["heartbeats"]) - len(heartbeats),
                            len(feedback) + len(usage), others - len(feedback) - len(usage))


EVENT_COLUMNS = ("id", "device_id", "type", "app", "start", "duration_s", "end", "severity", "active_s", "details",
                 "received_at")


_json = msgspec.json.Encoder().encode


def event_rows(events: Columns, device_id: str, received_at: float) -> list[tuple]:
    """Normalised wire events as rows of :data:`EVENT_COLUMNS`, in database form (details as JSON text).

    Built a column at a time with ``map`` and ``zip``, whose loops run in C.
    """
    starts, durations = events["start"], events["duration_s"]
    return list(zip(events["id"], repeat(device_id), events["type"], events["app"], starts, durations,
                    map(add, starts, durations), events["severity"], events["active_s"],
                    map(bytes.decode, map(_json, events["details"])), repeat(received_at)))


_HEARTBEAT_COLUMNS = ("id", "device_id", "time", "interval_s", "active_s")
_FEEDBACK_COLUMNS = ("device_id", "event_id", "id", "time", "answer", "received_at")
_ID_CHUNK = 500


class _ConcurrentInsert(Exception):
    """Another transaction stored some of the same records at the same moment."""


class _SomeStored(Exception):
    """A batch assumed new has records that are stored already (its transaction is rolled back)."""


def _within_window(batch: dict[str, Any], now: float, limits: Limits) -> dict[str, Any]:
    """The last guard before storing: every record time is in ``[now - max_age_s, now + max_future_s]``.

    Both paths have checked it already (on the collector's clock, after any
    correction); this says so where the rows are written, whatever changes upstream.
    """
    lo, hi = time_window(now, limits)
    times = [*batch["events"]["start"], *(r[sec.time_field] for sec in SECTIONS[1:] for r in batch.get(sec.field, ()))]
    if times and not (lo <= min(times) and max(times) <= hi):
        problem = (f"a record time is outside the collector's window [now - {limits.max_age_s:.0f} s, "
                   f"now + {limits.max_future_s:.0f} s]")
        raise Rejected(422, "invalid", {"message": problem, "errors_total": 1, "errors": [
            {"kind": "batch", "index": None, "field": "records", "error": problem}]})
    return batch


def _refusal(exc: ContractError) -> dict[str, Any]:
    """The ``detail`` of a 422 (or 413): the message, the first problems, how many there are."""
    return {"message": str(exc), "errors": exc.errors, "errors_total": exc.total}


_SECTION_FIELDS = tuple(sec.field for sec in SECTIONS)


def _over_count(exc: ContractError) -> bool:
    return any(e["kind"] == "batch" and e["field"] in _SECTION_FIELDS and "limit" in e["error"]
               for e in exc.errors)


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]


_INVENTORY = tuple(rule.name for rule in INVENTORY)  # kept on the device row from its newest heartbeat
_UNKNOWN_INVENTORY = {rule.name: None if rule.nullable else "unknown" if rule.kind is Kind.TEXT else 0
                      for rule in INVENTORY}


MAX_RECORDED_SKEW_S = 100 * 365.25 * 86400  # device.clock_skew_s is kept within a century either way


def _upsert_device(conn: Connection, batch: dict[str, Any], now: float,
                   limits: Limits) -> tuple[dict[str, Any], bool]:
    """Create the device if new, then update it from the batch's newest heartbeat; return its row and whether
    it sent identity keys it had not sent before."""
    dev_id = batch["device_id"]
    conn.execute(prepared(conn, _new_device), {
        "id": dev_id, "first_seen": now, "last_seen": None, "last_heartbeat": None,
        **_UNKNOWN_INVENTORY,
        "clock_skew_s": None, "last_details": {},
    })
    row = dict(conn.execute(prepared(conn, _device_row), {"dev": dev_id}).mappings().one())
    changes: dict[str, Any] = {}
    if batch["sent_at"] is not None:  # as sent, corrected or not: what the device's clock says (bounded)
        changes["clock_skew_s"] = min(max(batch["sent_at"] - now, -MAX_RECORDED_SKEW_S), MAX_RECORDED_SKEW_S)
    if batch["heartbeats"]:
        changes["last_seen"] = now
        newest = max(batch["heartbeats"], key=lambda h: h["time"])
        last = row["last_heartbeat"]
        # A stored time beyond any record's reach (stored before the window was enforced) pins nothing.
        if last is None or newest["time"] >= last or last > now + limits.max_future_s:
            changes.update({k: newest[k] for k in _INVENTORY})
            changes["last_heartbeat"] = newest["time"]
            changes["last_details"] = newest["details"]
    new_keys = any(changes.get(k) and changes[k] != row[k] for k in IDENTITY_KEYS)
    if changes:
        conn.execute(prepared(conn, _device_update), {"dev": dev_id, **changes})
        row.update(changes)
    return row, new_keys


def _new_device(bind: Connection):
    return insert(bind, device_table).on_conflict_do_nothing(index_elements=["id"])


def _device_row(bind: Connection):
    select = sa.select(device_table).where(device_table.c.id == sa.bindparam("dev"))
    return select if is_sqlite(bind) else select.with_for_update()  # replicas updating one device take turns


def _device_update(_bind: Connection):
    return device_table.update().where(device_table.c.id == sa.bindparam("dev"))  # SET: the parameters given


def _store_new(conn: Connection, table: sa.Table, columns: tuple[str, ...], ids: list[str],
               rows: list[tuple], all_new: bool) -> list[int] | None:
    """Insert the rows whose ids are not stored yet, each id once; return the indices of the rows stored, None if all.

    With ``all_new`` (the usual case: a batch sent once) insert them all and
    raise :class:`_SomeStored` if any was stored already; the caller rolls the
    transaction back and stores the batch again without ``all_new``, which
    looks up the stored ids first and inserts the others. (A savepoint around
    the first try would cost every batch for the sake of the few retried ones.)
    """
    if not rows:
        return None
    once = _first_copies(ids)
    if all_new and once is None:
        if insert_rows(conn, table, columns, rows) == len(rows):
            return None
        raise _SomeStored(table.name)
    once = range(len(ids)) if once is None else once
    stored: set[str] = set()
    unique = [ids[i] for i in once]
    for at in range(0, len(unique), _ID_CHUNK):
        stored.update(conn.execute(sa.select(table.c.id).where(table.c.id.in_(unique[at:at + _ID_CHUNK]))).scalars())
    fresh = [i for i in once if ids[i] not in stored]
    # On SQLite the write lock is held from the start, so the lookup is exact; on
    # PostgreSQL a concurrent transaction may have stored some of them meanwhile,
    # and the hooks must see each record exactly once: then give up (retryable).
    if insert_rows(conn, table, columns, [rows[i] for i in fresh]) != len(fresh):
        raise _ConcurrentInsert(table.name)
    return fresh


def _first_copies(ids: Sequence[str]) -> list[int] | None:
    """The index of each id's first copy, in order; None if no id repeats (the same record sent twice in a batch)."""
    if len(set(ids)) == len(ids):
        return None
    first: dict[str, int] = {}
    for i, record_id in enumerate(ids):
        first.setdefault(record_id, i)
    return sorted(first.values())


def _new_keys(conn: Connection, table: sa.Table, device_id: str, first: str, keys: list[tuple]) -> list[int]:
    """The indices of the records whose key (``keys[i]``: the device's key columns, ``first`` one first) the device
    has not stored yet, each key's first copy only: the records a batch adds (its retry adds none)."""
    firsts: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        firsts.setdefault(key, i)
    if not firsts:
        return []
    columns = [c for c in table.primary_key.columns if c.name != "device_id"]
    columns.sort(key=lambda c: c.name != first)  # the key tuples' order: ``first``, then the other
    values = sorted({key[0] for key in firsts})
    stored: set[tuple] = set()
    for at in range(0, len(values), _ID_CHUNK):
        stored.update(map(tuple, conn.execute(sa.select(*columns).where(
            table.c.device_id == device_id, table.c[first].in_(values[at:at + _ID_CHUNK])))))
    return sorted(i for key, i in firsts.items() if key not in stored)


def _store_usage(conn: Connection, device_id: str, usage: list[dict[str, Any]],
                 heartbeats: list[dict[str, Any]]) -> list[tuple[float, str, float]]:
    """Keep, per app and period, the largest focus total the device sent: a period sent again after a restart or a
    retry replaces the smaller total, never adds to it (``contract.records.Usage``). Then count what of it fits, and
    return what that added: (UTC day, app, seconds > 0).

    What counts is bounded per device and UTC day by the active seconds the device's heartbeats show in the day
    (:func:`collector.impact.active_seconds`): each day has that budget, and a total counts the part of it not yet
    counted while budget is left (shared in proportion among the totals counted together). So a device claiming
    overlapping periods, or more focus than time, counts at most its active day; what counted once is never taken
    back (the counters on /metrics only grow, under the labels of the moment it counted); and a day recounts when
    its totals or new heartbeats arrive, whichever comes first. A recount reads one device-day's rows.
    """
    largest: dict[tuple, dict[str, Any]] = {}
    for u in usage:
        key = (u["app"], u["start"])
        if key not in largest or u["focus_s"] > largest[key]["focus_s"]:
            largest[key] = u
    if largest:
        conn.execute(prepared(conn, _usage_upsert), [
            {"device_id": device_id, "app": app, "start": start, "interval_s": u["interval_s"],
             "end": start + u["interval_s"], "focus_s": u["focus_s"]}
            for (app, start), u in sorted(largest.items())])
    days = {day_start(start) for _app, start in largest}
    for first, last in (span(Heartbeat, h) for h in heartbeats):  # the days a new heartbeat reaches (at most 32)
        days.update(range(day_start(first), int(last) + 1, DAY))
    return [added for day in sorted(days) for added in _count_usage(conn, device_id, float(day))]


def _count_usage(conn: Connection, device_id: str, day: float) -> list[tuple[float, str, float]]:
    """Count what fits of one device-day's totals not counted yet; return (day, app, seconds added) where it did."""
    rows = conn.execute(prepared(conn, _usage_rows), {"dev": device_id, "lo": day, "hi": day + DAY}).all()
    pending = [(app, start, focus_s - counted_s) for app, start, focus_s, counted_s in rows if focus_s > counted_s]
    if not pending:
        return []
    beats = [impact.Interval(*hb) for hb in conn.execute(prepared(conn, _day_heartbeats), {
        "dev": device_id, "lo": day, "hi": day + DAY + MAX_HEARTBEAT_S})]
    (active,) = impact.active_seconds(beats, [(day, day + DAY)])
    budget = active - sum(r[3] for r in rows)
    wanted = sum(p[2] for p in pending)
    share = min(1.0, budget / wanted) if budget > 0 else 0.0
    added = [(app, start, left * share) for app, start, left in pending if left * share > 0]
    if added:
        conn.execute(prepared(conn, _usage_counted), [{"dev": device_id, "app_": app, "start_": start, "add": s}
                                                      for app, start, s in added])
    return [(day, app, s) for app, _start, s in added]


def _usage_upsert(bind: Connection):
    new = insert(bind, app_usage_table)
    larger = sa.func.max if is_sqlite(bind) else sa.func.greatest  # SQLite's two-argument max() is a scalar
    return new.on_conflict_do_update(index_elements=["device_id", "app", "start"], set_={
        "focus_s": larger(app_usage_table.c.focus_s, new.excluded.focus_s),
        "interval_s": larger(app_usage_table.c.interval_s, new.excluded.interval_s),
        "end": larger(app_usage_table.c.end, new.excluded.end)})


def _usage_rows(_bind: Connection):
    """A device-day's totals: periods are aligned and divide a day (``contract.records.relation_problem``), so each
    lies in the day of its start; the index on (device_id, end) finds them."""
    u = app_usage_table.c
    return sa.select(u.app, u.start, u.focus_s, u.counted_s).where(
        u.device_id == sa.bindparam("dev"), u.end > sa.bindparam("lo"), u.end <= sa.bindparam("hi"),
        u.start >= sa.bindparam("lo")).order_by(u.start, u.app)


def _day_heartbeats(_bind: Connection):
    h = heartbeat_table.c
    return sa.select(h.time, h.interval_s, h.active_s).where(
        h.device_id == sa.bindparam("dev"), h.time > sa.bindparam("lo"), h.time < sa.bindparam("hi"))


def _usage_counted(_bind: Connection):
    u = app_usage_table.c
    return app_usage_table.update().where(
        u.device_id == sa.bindparam("dev"), u.app == sa.bindparam("app_"), u.start == sa.bindparam("start_")
    ).values(counted_s=u.counted_s + sa.bindparam("add"))
